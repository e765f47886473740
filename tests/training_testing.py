"""Trained models for tests: the shared trained demo workspace, copies of it, and checkpoints registered in the
``models`` table without the registry.

The test session trains once (:func:`build_trained_workspace`, through the ``trained_workspace`` fixture of
``tests/conftest.py``): a demo workspace of :data:`COUNT` images with two finished tiny runs on ``v1``, models ``m1``
(:data:`RUNS` [0]) and ``m2`` (:data:`RUNS` [1]), at :data:`IMGSZ` px on the CPU. Tests that write get a copy
(:func:`copy_workspace`, the ``trained_workspace_copy`` fixture); a module that needs more (a promoted model, pseudo
labels, an export) copies it once into its own module-scoped workspace and adds that there, without training.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any, Optional

from cvops.catalog.db import transaction
from cvops.catalog.store import sha256_file
from cvops.versions.create import get_version, version_classes
from cvops.data.workspace import CATALOG_NAME, Workspace

COUNT = 40  # demo images: v1 splits 80/10/10, enough validation images for the evaluation and export gate tests
IMGSZ = 96
BATCH = 8
# (epochs, seed) of the runs that make m1 and m2. m1, the model most tests use, gets 3 epochs: the export gate on its
# own boxes (test_export) passed for 5 of 5 seeds at 3 epochs, but failed for 2 of 4 at 2 epochs (an unsure model's
# detections flip at the confidence floor between PyTorch and ONNX).
RUNS = ((3, 0), (2, 1))


def build_trained_workspace(root: Path) -> Path:
    """A demo workspace at ``root`` (:data:`COUNT` images, version ``v1``) with models m1 and m2 (:data:`RUNS`)."""
    from cvops.samples.demo import run_demo
    from cvops.training import train

    run_demo(root, count=COUNT)
    with Workspace.open(root) as ws:
        for epochs, seed in RUNS:
            result = train(ws, "v1", epochs=epochs, seed=seed, imgsz=IMGSZ, batch=BATCH, device="cpu")
            assert result.state == "finished", result.error
    return root


def copy_workspace(src: Path, dest: Path) -> Path:
    """Copy the workspace folder ``src`` to ``dest``: its files, and its catalog through SQLite's backup API (a
    consistent copy even where a connection left a write-ahead log behind)."""
    from cvops.catalog.db import Database
    from cvops.catalog.migrations import backup

    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(f"{CATALOG_NAME}*"))
    source = sqlite3.connect(str(src / CATALOG_NAME))
    try:
        backup(Database(source), dest / CATALOG_NAME)
    finally:
        source.close()
    return dest


def catalog_digest(root: Path) -> str:
    """sha256 of the catalog's SQL dump: equal digests, equal contents."""
    conn = sqlite3.connect(str(root / CATALOG_NAME))
    try:
        digest = hashlib.sha256()
        for line in conn.iterdump():
            digest.update(line.encode())
        return digest.hexdigest()
    finally:
        conn.close()


def make_model(ws: Workspace, checkpoint: Path, version: str = "v1", name: Optional[str] = None,
               task: str = "detect", champion: bool = False, run_id: Optional[int] = None,
               classes: Optional[list[dict[str, Any]]] = None) -> int:
    """Insert a ``models`` row for ``checkpoint`` trained on ``version``; return its id.

    ``classes`` defaults to the version's classes in order (index = the model's class index).
    """
    info = get_version(ws, version)
    if classes is None:
        classes = [{"class_id": c["id"], "name": c["name"], "color": c["color"]} for c in version_classes(ws, info.id)]
    with transaction(ws.db):
        if name is None:
            name = f"m{int(ws.db.execute('SELECT COUNT(*) FROM models').fetchone()[0]) + 1}"
        cur = ws.db.execute(
            "INSERT INTO models (name, run_id, task, created_at, version_id, version_hash, classes, architecture, "
            "params, seed, environment, metrics, weights, weights_sha256, champion) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, run_id, task, time.time(), info.id, info.content_hash, json.dumps(classes), "yolo11n.yaml",
             json.dumps({}), 0, json.dumps({}), json.dumps({}), str(Path(checkpoint).resolve()),
             sha256_file(checkpoint), int(champion)])
        return int(cur.lastrowid or 0)


def open_window(qtbot: Any, tmp_path: Path, trained: Path, monkeypatch: Any, page: str) -> Any:
    """A shown MainWindow (1400x860) on a copy of the workspace ``trained``, with settings in ``tmp_path``."""
    from cvops_app.mainwindow import MainWindow
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("CVOPS_CONFIG_DIR", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    root = tmp_path / "ws"
    copy_workspace(trained, root)
    main = MainWindow(settings_path=tmp_path / "config" / "settings.yaml")
    qtbot.addWidget(main)
    main.resize(1400, 860)
    main.show()
    assert main.load_workspace(root)
    main.show_page(page)
    return main


def make_checkpoint(folder: Path) -> Path:
    """An untrained yolo11n detection checkpoint (80 classes) saved as Ultralytics saves models, built offline."""
    from cvops.models.offline import make_offline

    folder.mkdir(parents=True, exist_ok=True)
    make_offline(folder / "ultralytics", block_network=False)
    from ultralytics import YOLO

    path = folder / "yolo11n.pt"
    YOLO("yolo11n.yaml").save(str(path))
    return path


def add_photo_version(ws: Workspace, folder: Path, count: int = 12, seed: int = 7) -> str:
    """Import ``count`` labelled images from ``folder`` — an ordinary folder, so they count as real photographs, not
    as the demo's generated shapes — mark every image done and freeze a version; return its name."""
    from cvops.data.annotations import NewAnnotation
    from cvops.data.ingest import import_paths
    from cvops.samples import shapes
    from cvops.versions.create import create_version

    samples = {s.path.name: s for s in shapes.generate(folder, count=count, seed=seed, ext=".jpg")}
    import_paths(ws, [folder])
    known = {c.name for c in ws.classes.list()}
    for name in shapes.CLASSES:
        if name not in known:
            ws.classes.add(name)
    images = [im for im in ws.images.page(limit=100_000) if Path(im.original_path).parent == folder.resolve()]
    ws.annotations.add_many([NewAnnotation(im.id, sh.label, "box", box=sh.box)
                             for im in images for sh in samples[im.file_name].shapes], description="photo labels")
    ws.annotations.set_status([im.id for im in ws.images.page(limit=100_000)], "done")
    return create_version(ws, "photos", ratios="80/10/10", statuses=("done",)).name
