"""The catalog's schema: an ordered registry of migrations, recorded in the ``migrations`` table and in
``PRAGMA user_version``. Never edit a released step; append a new one. A catalog is backed up (SQLite's backup API)
before it is migrated (:class:`~cvops.data.workspace.Workspace` does both when it opens an older catalog)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

from cvops.catalog.db import ANNOTATION_KINDS, SOURCES, Database, transaction
from cvops.catalog.migrations_loop import LOOP_MIGRATIONS
from cvops.catalog.statuses import STATUSES
from cvops.common.errors import NewerSchemaError
def _m1_core(db: Database) -> None:
    db.execute(
        """CREATE TABLE batches (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            finished_at REAL,
            mode TEXT NOT NULL CHECK (mode IN ('copy', 'in_place')),
            sources TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'cancelled', 'interrupted')),
            imported INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            pid INTEGER,
            host TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE videos (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            path TEXT NOT NULL,
            fps REAL,
            frame_count INTEGER,
            width INTEGER,
            height INTEGER,
            batch_id INTEGER REFERENCES batches(id)
        )"""
    )
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    db.execute(
        f"""CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            file_name TEXT NOT NULL,
            original_path TEXT NOT NULL,
            in_place INTEGER NOT NULL DEFAULT 0,
            format TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            byte_size INTEGER NOT NULL,
            file_mtime_ns INTEGER,
            batch_id INTEGER REFERENCES batches(id),
            video_id INTEGER REFERENCES videos(id),
            frame_index INTEGER,
            timestamp_ms REAL,
            status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ({statuses})),
            comment TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX idx_images_status ON images(status, id)")
    db.execute("CREATE INDEX idx_images_file_name ON images(file_name)")
    db.execute("CREATE INDEX idx_images_video ON images(video_id, frame_index)")
    db.execute(
        """CREATE TABLE classes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            color TEXT NOT NULL,
            position INTEGER NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        )"""
    )
    kinds = ", ".join(f"'{k}'" for k in ANNOTATION_KINDS)
    sources = ", ".join(f"'{s}'" for s in SOURCES)
    db.execute(
        f"""CREATE TABLE annotations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            class_id INTEGER NOT NULL REFERENCES classes(id),
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            x REAL, y REAL, w REAL, h REAL,
            points TEXT,
            source TEXT NOT NULL DEFAULT 'manual' CHECK (source IN ({sources})),
            model_id TEXT,
            confidence REAL,
            attributes TEXT NOT NULL DEFAULT '{{}}',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX idx_annotations_image ON annotations(image_id)")
    db.execute("CREATE INDEX idx_annotations_class ON annotations(class_id, image_id)")


def _m2_operation_log(db: Database) -> None:
    db.execute(
        """CREATE TABLE operations (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            action TEXT NOT NULL,
            description TEXT NOT NULL,
            changes TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'done' CHECK (state IN ('done', 'undone', 'discarded'))
        )"""
    )
    db.execute("CREATE INDEX idx_operations_state ON operations(state, id)")
    db.execute(
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            operation_id INTEGER NOT NULL REFERENCES operations(id),
            event TEXT NOT NULL CHECK (event IN ('do', 'undo', 'redo')),
            description TEXT NOT NULL
        )"""
    )


def _m3_split_hints(db: Database) -> None:
    db.execute(
        """CREATE TABLE split_hints (
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            split TEXT NOT NULL,
            recorded_at REAL NOT NULL,
            PRIMARY KEY (image_id, source)
        )"""
    )


def _m4_trash(db: Database) -> None:
    db.execute("ALTER TABLE images ADD COLUMN trashed_at REAL")
    db.execute("CREATE INDEX idx_images_trashed ON images(trashed_at) WHERE trashed_at IS NOT NULL")


def _m5_versions(db: Database) -> None:
    db.execute(
        """CREATE TABLE version_states (
            hash TEXT PRIMARY KEY,
            image_id INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            file_name TEXT NOT NULL,
            split TEXT NOT NULL,
            annotations TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX idx_version_states_image ON version_states(image_id)")
    db.execute(
        """CREATE TABLE versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            message TEXT NOT NULL,
            created_at REAL NOT NULL,
            content_hash TEXT NOT NULL UNIQUE,
            seed INTEGER NOT NULL,
            ratios TEXT NOT NULL,
            filter TEXT NOT NULL,
            parent_id INTEGER REFERENCES versions(id),
            last_audit_id INTEGER NOT NULL,
            stats TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE version_members (
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            image_id INTEGER NOT NULL,
            state_hash TEXT NOT NULL REFERENCES version_states(hash),
            PRIMARY KEY (version_id, image_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE version_classes (
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            class_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            color TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (version_id, class_id)
        )"""
    )
    db.execute("CREATE TABLE image_phash (image_id INTEGER PRIMARY KEY, phash INTEGER NOT NULL)")


def _m6_training_runs(db: Database) -> None:
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            version_id INTEGER NOT NULL REFERENCES versions(id),
            version_hash TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'finished', 'failed', 'cancelled')),
            preset TEXT,
            model TEXT NOT NULL,
            params TEXT NOT NULL,
            seed INTEGER NOT NULL,
            device TEXT NOT NULL,
            run_dir TEXT,
            pid INTEGER,
            started_at REAL,
            finished_at REAL,
            error TEXT,
            log_tail TEXT,
            best_checkpoint TEXT,
            last_checkpoint TEXT,
            epochs_done INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX idx_runs_state ON runs(state, id)")
    db.execute(
        """CREATE TABLE run_epochs (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            metrics TEXT NOT NULL,
            PRIMARY KEY (run_id, epoch)
        )"""
    )


def _m7_models(db: Database) -> None:
    db.execute(
        """CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            run_id INTEGER UNIQUE REFERENCES runs(id),
            task TEXT NOT NULL CHECK (task IN ('detect', 'segment')),
            created_at REAL NOT NULL,
            version_id INTEGER NOT NULL REFERENCES versions(id),
            version_hash TEXT NOT NULL,
            classes TEXT NOT NULL,
            preset TEXT,
            architecture TEXT NOT NULL,
            base_weights TEXT,
            base_weights_sha256 TEXT,
            parent_model_id INTEGER REFERENCES models(id),
            params TEXT NOT NULL,
            seed INTEGER NOT NULL,
            environment TEXT NOT NULL,
            metrics TEXT NOT NULL,
            weights TEXT NOT NULL,
            weights_sha256 TEXT NOT NULL,
            champion INTEGER NOT NULL DEFAULT 0 CHECK (champion IN (0, 1)),
            notes TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE UNIQUE INDEX idx_models_champion ON models(champion) WHERE champion = 1")
    db.execute("ALTER TABLE runs ADD COLUMN task TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN environment TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN resolved_params TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN base_weights TEXT")


def _m8_evaluations(db: Database) -> None:
    db.execute(
        """CREATE TABLE evaluations (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            version_id INTEGER NOT NULL REFERENCES versions(id),
            version_hash TEXT NOT NULL,
            split TEXT NOT NULL,
            created_at REAL NOT NULL,
            conf REAL NOT NULL,
            iou REAL NOT NULL,
            images INTEGER NOT NULL,
            duration_s REAL NOT NULL,
            metrics TEXT NOT NULL,
            per_class TEXT NOT NULL,
            confusion TEXT NOT NULL,
            pr_curve TEXT NOT NULL,
            unknown_classes TEXT NOT NULL DEFAULT '[]',
            params TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX idx_evaluations_model ON evaluations(model_id, id)")
    db.execute(
        """CREATE TABLE eval_images (
            evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
            image_id INTEGER NOT NULL,
            tp INTEGER NOT NULL,
            fp INTEGER NOT NULL,
            fn INTEGER NOT NULL,
            poor_loc INTEGER NOT NULL,
            wrong_class INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (evaluation_id, image_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE eval_predictions (
            id INTEGER PRIMARY KEY,
            evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
            image_id INTEGER NOT NULL,
            class_id INTEGER,
            gt_class_id INTEGER,
            x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,
            confidence REAL,
            outcome TEXT NOT NULL CHECK (outcome IN ('tp', 'fp', 'fn', 'poor_loc', 'wrong_class')),
            iou REAL
        )"""
    )
    db.execute("CREATE INDEX idx_eval_predictions_image ON eval_predictions(evaluation_id, image_id)")


def _m9_exports(db: Database) -> None:
    db.execute(
        """CREATE TABLE exports (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            format TEXT NOT NULL,
            precision TEXT NOT NULL CHECK (precision IN ('fp32', 'fp16', 'int8')),
            imgsz INTEGER NOT NULL,
            dynamic INTEGER NOT NULL DEFAULT 0,
            opset INTEGER,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            verify TEXT,
            verified_at REAL,
            passed INTEGER
        )"""
    )
    db.execute("CREATE INDEX idx_exports_model ON exports(model_id, id)")
    db.execute(
        """CREATE TABLE deployments (
            id INTEGER PRIMARY KEY,
            export_id INTEGER REFERENCES exports(id),
            bundle TEXT NOT NULL,
            target TEXT NOT NULL,
            created_at REAL NOT NULL,
            ok INTEGER NOT NULL,
            report TEXT NOT NULL
        )"""
    )


def _m10_class_coco_ids(db: Database) -> None:
    db.execute("ALTER TABLE classes ADD COLUMN coco_id INTEGER")


def _m11_weights_library(db: Database) -> None:
    db.execute(
        """CREATE TABLE weights (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL UNIQUE,
            size_bytes INTEGER NOT NULL,
            architecture TEXT NOT NULL,
            task TEXT NOT NULL,
            classes TEXT NOT NULL,
            imgsz INTEGER,
            source TEXT NOT NULL,
            lineage TEXT NOT NULL DEFAULT '{}',
            added_at REAL NOT NULL
        )"""
    )
    db.execute("ALTER TABLE runs ADD COLUMN weights_name TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE runs ADD COLUMN progress TEXT")


STATUS_COUNT_TRIGGERS = ("trg_images_counts_insert", "trg_images_counts_delete", "trg_images_counts_update")


def _m12_live_images(db: Database) -> None:
    """Fast reads of the images outside the trash, which every gallery query and count is about.

    * ``image_status_counts``: images per status, kept by triggers on every insert, delete and change of status or
      trash state, so counts by status read 6 rows instead of a million (about 1.2 s on 1,000,000 rows before,
      several times that with the database not in the OS page cache).
    * partial indexes: the gallery's default id list scans the ``(id)`` index instead of the whole table, a status
      filter reads the ``(status)`` one. ``trashed_at`` (always NULL there) is in their keys so that SQLite counts
      them as covering.

    Idempotent and self-contained: it does not depend on the order of the other migrations. A later rebuild of the
    ``images`` table (which would drop the triggers) is detected by :func:`status_counts_maintained`.
    """
    db.execute("CREATE INDEX IF NOT EXISTS idx_images_live_status ON images(status, trashed_at) "
               "WHERE trashed_at IS NULL")
    db.execute("CREATE INDEX IF NOT EXISTS idx_images_live_id ON images(id, trashed_at) WHERE trashed_at IS NULL")
    db.execute("CREATE TABLE IF NOT EXISTS image_status_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) "
               "WITHOUT ROWID")
    db.execute("DELETE FROM image_status_counts")
    db.execute("INSERT INTO image_status_counts (status, n) "
               "SELECT status, COUNT(*) FROM images WHERE trashed_at IS NULL GROUP BY status")
    for name in STATUS_COUNT_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    add = ("INSERT OR IGNORE INTO image_status_counts (status, n) VALUES (NEW.status, 0); "
           "UPDATE image_status_counts SET n = n + 1 WHERE status = NEW.status;")
    remove = "UPDATE image_status_counts SET n = n - 1 WHERE status = OLD.status;"
    db.execute(f"CREATE TRIGGER trg_images_counts_insert AFTER INSERT ON images WHEN NEW.trashed_at IS NULL "
               f"BEGIN {add} END")
    db.execute(f"CREATE TRIGGER trg_images_counts_delete AFTER DELETE ON images WHEN OLD.trashed_at IS NULL "
               f"BEGIN {remove} END")
    db.execute(
        "CREATE TRIGGER trg_images_counts_update AFTER UPDATE OF status, trashed_at ON images "
        "WHEN OLD.status IS NOT NEW.status OR (OLD.trashed_at IS NULL) != (NEW.trashed_at IS NULL) BEGIN "
        "UPDATE image_status_counts SET n = n - 1 WHERE status = OLD.status AND OLD.trashed_at IS NULL; "
        "INSERT OR IGNORE INTO image_status_counts (status, n) SELECT NEW.status, 0 WHERE NEW.trashed_at IS NULL; "
        "UPDATE image_status_counts SET n = n + 1 WHERE status = NEW.status AND NEW.trashed_at IS NULL; END")


def status_counts_maintained(db: Database) -> bool:
    """True when ``image_status_counts`` is kept up to date by its triggers (migration 12, not undone since)."""
    names = ", ".join("?" * len(STATUS_COUNT_TRIGGERS))
    found = db.execute(f"SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'images' "
                       f"AND name IN ({names})", list(STATUS_COUNT_TRIGGERS)).fetchone()[0]
    return int(found) == len(STATUS_COUNT_TRIGGERS)


MIGRATIONS: list[tuple[int, str, Callable[[Database], None]]] = [
    (1, "core tables: batches, videos, images, classes, annotations", _m1_core),
    (2, "operation log with undo/redo state and audit trail", _m2_operation_log),
    (3, "split hints recorded by dataset imports", _m3_split_hints),
    (4, "trash: images.trashed_at", _m4_trash),
    (5, "dataset versions: frozen image states, members, class schemas; perceptual hash cache", _m5_versions),
    (6, "training runs supervised by the core and their per-epoch metrics", _m6_training_runs),
    (7, "model registry with lineage; task, environment and resolved hyperparameters of runs", _m7_models),
    (8, "evaluations: metrics, per-class results, confusion matrix, per-image outcomes and predictions", _m8_evaluations),
    (9, "model exports with their verification results, and deployments", _m9_exports),
    (10, "classes.coco_id: the category id a class was imported with, written back by COCO exports",
     _m10_class_coco_ids),
    (11, "weights library; runs: library weights name, start warnings, live batch progress", _m11_weights_library),
    (12, "images outside the trash: counts per status kept by triggers; partial indexes for the gallery's id lists",
     _m12_live_images),
    *LOOP_MIGRATIONS,
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(db: Database) -> int:
    """The catalog's schema version (0 for an empty database)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply pending migrations up to ``target``, each in its own transaction; return the versions applied."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"catalog schema version {current} is newer than this CVOps Workbench supports ({SCHEMA_VERSION}); "
            "upgrade CVOps Workbench to open this workspace"
        )
    applied = []
    for version, name, step in MIGRATIONS:
        if version <= current or version > target:
            continue
        with transaction(db):
            if version == 1:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "applied_at REAL NOT NULL)"
                )
            step(db)
            db.execute("INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)", [version, name, time.time()])
            db.execute(f"PRAGMA user_version = {version}")
        applied.append(version)
    return applied


def backup(db: Database, dest: Path) -> Path:
    """Write a consistent copy of the catalog to ``dest`` with SQLite's online backup API."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    target = sqlite3.connect(str(dest))
    try:
        db.conn.backup(target)
    finally:
        target.close()
    return dest
