"""The catalog's schema steps of the CVOps loop (migrations 13-17: benchmark sets, pipelines, champion history, the
labeling queue, field files pulled from devices) and after it (18: the image tag vocabulary; 19: tuning studies),
registered in
:data:`cvops.catalog.migrations.MIGRATIONS`. Never edit a released step; append a new one."""

from __future__ import annotations

from typing import Callable

from cvops.catalog.db import Database


def _m13_benchmarks(db: Database) -> None:
    """Benchmark sets: a named, frozen set of version states (images with their annotations) taken from one split of
    a version; later versions leave their images out. Evaluations on a benchmark name it (``benchmark_id``)."""
    db.execute(
        """CREATE TABLE benchmarks (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            message TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            version_id INTEGER NOT NULL REFERENCES versions(id),
            split TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            images INTEGER NOT NULL,
            stats TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE benchmark_members (
            benchmark_id INTEGER NOT NULL REFERENCES benchmarks(id) ON DELETE CASCADE,
            image_id INTEGER NOT NULL,
            state_hash TEXT NOT NULL REFERENCES version_states(hash),
            sha256 TEXT NOT NULL,
            PRIMARY KEY (benchmark_id, image_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX idx_benchmark_members_image ON benchmark_members(image_id)")
    db.execute("CREATE INDEX idx_benchmark_members_sha ON benchmark_members(sha256)")
    db.execute("ALTER TABLE evaluations ADD COLUMN benchmark_id INTEGER REFERENCES benchmarks(id)")
    db.execute("CREATE INDEX idx_evaluations_benchmark ON evaluations(benchmark_id, model_id)")


def _m14_pipelines(db: Database) -> None:
    """Pipeline runs and their steps: each step's input hash (the cache key), outputs, timings, log and decision."""
    db.execute(
        """CREATE TABLE pipeline_runs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            file_hash TEXT NOT NULL,
            trigger TEXT NOT NULL DEFAULT 'manual',
            state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'cancelled')),
            started_at REAL NOT NULL,
            finished_at REAL,
            error TEXT,
            pid INTEGER
        )"""
    )
    db.execute("CREATE INDEX idx_pipeline_runs_path ON pipeline_runs(path, id)")
    db.execute(
        """CREATE TABLE pipeline_steps (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
            step_index INTEGER NOT NULL,
            kind TEXT NOT NULL,
            input_hash TEXT,
            inputs TEXT NOT NULL DEFAULT '{}',
            outputs TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL CHECK (state IN ('running', 'done', 'cached', 'failed', 'cancelled', 'skipped')),
            started_at REAL,
            finished_at REAL,
            seconds REAL,
            log TEXT NOT NULL DEFAULT '',
            decision TEXT,
            UNIQUE (run_id, step_index)
        )"""
    )
    db.execute("CREATE INDEX idx_pipeline_steps_cache ON pipeline_steps(kind, step_index, input_hash)")


def _m15_champion_history(db: Database) -> None:
    """Every promotion: which model became the champion, when and by what (the champion's timeline)."""
    db.execute(
        """CREATE TABLE champion_history (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            promoted_at REAL NOT NULL,
            by TEXT NOT NULL DEFAULT 'manual'
        )"""
    )
    db.execute("INSERT INTO champion_history (model_id, promoted_at, by) "
               "SELECT id, created_at, 'before the timeline was recorded' FROM models WHERE champion = 1")


def _m16_label_queue(db: Database) -> None:
    """The labeling queue (active learning): images ranked for annotation, by which strategy and model, and when.
    Whether an entry is done is not stored: it is labelled when its image has manual annotations now."""
    db.execute(
        """CREATE TABLE label_queue (
            image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL UNIQUE,
            score REAL NOT NULL,
            strategy TEXT NOT NULL,
            model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
            built_at REAL NOT NULL
        )"""
    )


def _m17_field_files(db: Database) -> None:
    """The pull manifest of ``cvops monitor pull``: every file copied from a device's field folder (its log files and
    captured images), its checksum and, for a capture, the catalog image it became."""
    db.execute(
        """CREATE TABLE field_files (
            id INTEGER PRIMARY KEY,
            device TEXT NOT NULL,
            relpath TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('log', 'capture')),
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            source TEXT NOT NULL,
            source_size INTEGER NOT NULL,
            source_mtime_ns INTEGER NOT NULL,
            pulled_at REAL NOT NULL,
            captured_at REAL,
            image_id INTEGER REFERENCES images(id) ON DELETE SET NULL,
            batch_id INTEGER REFERENCES batches(id) ON DELETE SET NULL,
            UNIQUE (device, relpath)
        )"""
    )
    db.execute("CREATE INDEX idx_field_files_image ON field_files(image_id)")


def _m18_image_tags(db: Database) -> None:
    """Image tags as their own vocabulary (``tags``: a name unique case-insensitively, an optional colour, a
    position) and the link of images to tags (``image_tags``, one row per tagged image, with its own id so that the
    operation log can insert and delete links). Tags are workspace metadata for finding and organising images: no
    class, no export, no version sees them.

    Existing data is left as it is. Annotations of kind ``tag`` are image-level *class labels*: the CVAT (``<tag>``),
    COCO (annotations without geometry) and labelme (``flags``) readers create them, the labelme writer writes them
    back, and versions freeze them with the other annotations, so they cannot be told apart from a classification
    dataset's labels and are not moved. A class that only ever served as a tag can be turned into a
    vocabulary tag on request (``cvops tags from-class``, one undo step)."""
    db.execute(
        """CREATE TABLE tags (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            color TEXT,
            position INTEGER NOT NULL,
            created_at REAL NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE image_tags (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            UNIQUE (image_id, tag_id)
        )"""
    )
    db.execute("CREATE INDEX idx_image_tags_tag ON image_tags(tag_id, image_id)")


def _m19_tuning_studies(db: Database) -> None:
    """Tuning studies (``cvops tune``): one row per Optuna study of the workspace, whose trials live in Optuna's own
    storage (``tuning/studies.db``); ``settings`` holds what the study was started with (pruner, epochs, preset,
    search space, ...), ``summary`` its trial counts and best trial after each trial, ``best_model_id`` the model
    its best trial registered."""
    db.execute(
        """CREATE TABLE tuning_studies (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            version_id INTEGER NOT NULL REFERENCES versions(id),
            metric TEXT NOT NULL,
            direction TEXT NOT NULL,
            state TEXT NOT NULL,
            settings TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            best_model_id INTEGER REFERENCES models(id) ON DELETE SET NULL
        )"""
    )


LOOP_MIGRATIONS: list[tuple[int, str, Callable[[Database], None]]] = [
    (13, "benchmark sets: frozen members taken from a version's split; evaluations.benchmark_id", _m13_benchmarks),
    (14, "pipeline runs and steps: input hashes, outputs, timings, logs and gate decisions", _m14_pipelines),
    (15, "champion history: every promotion, when and by what", _m15_champion_history),
    (16, "labeling queue: images ranked for annotation by the champion (active learning)", _m16_label_queue),
    (17, "field files pulled from devices: logs and captured images, checksums, the images they became",
     _m17_field_files),
    (18, "image tag vocabulary: tags and the images they are on (tag annotations stay class labels)", _m18_image_tags),
    (19, "tuning studies: version, metric, settings, state and best model of each Optuna study", _m19_tuning_studies),
]
