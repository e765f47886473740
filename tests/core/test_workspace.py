"""Workspace creation, opening, schema migrations and multi-process use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cvops import NewerSchemaError, Workspace, WorkspaceError
from cvops.catalog import db as catalog, migrations


def test_create_lays_out_folders_and_catalog(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "w")
    try:
        for sub in ("store", "tmp", "backups"):
            assert (ws.root / sub).is_dir()
        assert ws.catalog_path.is_file()
        assert ws.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ws.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert ws.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert migrations.schema_version(ws.db) == migrations.SCHEMA_VERSION
        versions = [r[0] for r in ws.db.execute("SELECT version FROM migrations ORDER BY version")]
        assert versions == [m[0] for m in migrations.MIGRATIONS]
    finally:
        ws.close()


def test_create_twice_is_refused(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "w").close()
    with pytest.raises(WorkspaceError, match="already holds a workspace"):
        Workspace.create(tmp_path / "w")


def test_open_a_folder_without_catalog_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a CVOps workspace"):
        Workspace.open(tmp_path)


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "w")
    ws.db.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION + 5}")
    ws.close()
    before = (tmp_path / "w" / "cvops.db").read_bytes()
    with pytest.raises(NewerSchemaError, match="newer than this CVOps Workbench supports"):
        Workspace.open(tmp_path / "w")
    assert (tmp_path / "w" / "cvops.db").read_bytes() == before


def test_older_schema_is_backed_up_then_migrated(tmp_path: Path) -> None:
    root = tmp_path / "w"
    for sub in ("store", "tmp", "backups"):
        (root / sub).mkdir(parents=True)
    db = catalog.connect(root / "cvops.db")
    migrations.migrate(db, target=1)
    db.execute("INSERT INTO classes (name, color, position, created_at) VALUES ('cat', '#ff0000', 0, 0)")
    db.conn.close()

    ws = Workspace.open(root)
    try:
        assert ws.migrated_from == 1
        assert migrations.schema_version(ws.db) == migrations.SCHEMA_VERSION
        assert ws.classes.get("cat").color == "#ff0000"
        backups = list((root / "backups").glob("cvops-schema1-*.db"))
        assert len(backups) == 1
        old = catalog.connect(backups[0])
        assert migrations.schema_version(old) == 1
        assert old.execute("SELECT name FROM classes").fetchall() == [("cat",)]
        old.conn.close()
        # The new tables work.
        ws.classes.rename("cat", "kitten")
        assert ws.log.undo() is not None
        assert ws.classes.get("cat")
    finally:
        ws.close()


def test_two_processes_edit_one_workspace(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "w")
    try:
        ws.classes.add("a")
        script = (
            "import sys; from cvops import Workspace\n"
            "ws = Workspace.open(sys.argv[1])\n"
            "for i in range(50):\n"
            "    ws.classes.add(f'p{i}')\n"
            "ws.close()\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", script, str(ws.root)])
        for i in range(50):
            ws.classes.add(f"q{i}")
        assert proc.wait(timeout=120) == 0
        names = {c.name for c in ws.classes.list()}
        assert {f"p{i}" for i in range(50)} <= names and {f"q{i}" for i in range(50)} <= names
        assert len(ws.log.history(limit=500)) == 101
    finally:
        ws.close()


# -- gc, the workspace lock and abandoned import batches ---------------------------------------------------------------


def _photos(folder: Path, n: int) -> Path:
    from helpers import make_image

    for i in range(n):
        make_image(folder / f"{i:03d}.jpg", seed=i)
    return folder


def _running_batch(ws: Workspace, host: str, started_at: float, pid: int = 999_999) -> int:
    cur = ws.db.execute("INSERT INTO batches (started_at, mode, sources, state, pid, host) "
                        "VALUES (?, 'copy', '[]', 'running', ?, ?)", [started_at, pid, host])
    return int(cur.lastrowid)


def _state(ws: Workspace, batch_id: int) -> str:
    return ws.db.execute("SELECT state FROM batches WHERE id = ?", [batch_id]).fetchone()[0]


def test_gc_during_an_import_leaves_its_uncommitted_blobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc runs after the import has put its first chunk's blobs in the store and before it commits their rows."""
    import threading

    from cvops.data.ingest import import_paths
    from cvops.catalog.maintenance import doctor, gc
    from cvops.catalog.store import ImageStore

    src = _photos(tmp_path / "src", 5)
    ws = Workspace.create(tmp_path / "w")
    published, resume = threading.Event(), threading.Event()
    real_publish = ImageStore.publish

    def publish_then_pause(self, staged):  # type: ignore[no-untyped-def]
        created = real_publish(self, staged)
        published.set()
        assert resume.wait(60)
        return created

    monkeypatch.setattr(ImageStore, "publish", publish_then_pause)
    reports = []

    def run_import() -> None:
        with ws.reopen() as other:
            reports.append(import_paths(other, [src]))

    importer = threading.Thread(target=run_import)
    importer.start()
    try:
        assert published.wait(60)
        blobs = sorted(p for _, p in ws.store.iter_blobs())
        assert len(blobs) == 5 and ws.images.count() == 0  # orphans until the commit
        collected = gc(ws)
        assert collected.orphan_blobs == 0 and collected.interrupted_batches == 0
        assert "an import is running" in collected.skipped[0]
        assert all(p.exists() for p in blobs)
    finally:
        resume.set()
        importer.join(60)
    assert reports[0].imported == 5 and ws.images.count() == 5
    assert doctor(ws).ok
    ws.close()


def test_an_import_that_starts_while_gc_removes_files_waits_for_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import cvops.catalog.maintenance as maintenance
    from cvops.data.ingest import import_paths
    from cvops.catalog.maintenance import doctor, gc

    src = _photos(tmp_path / "src", 3)
    ws = Workspace.create(tmp_path / "w")
    orphan, _ = ws.store.add_bytes(b"left over by a killed import", ".jpg")
    removing, go_on = threading.Event(), threading.Event()
    real_remove = maintenance._remove_files

    def remove_slowly(*args):  # type: ignore[no-untyped-def]
        removing.set()
        assert go_on.wait(60), "the import did not wait for gc"
        real_remove(*args)

    monkeypatch.setattr(maintenance, "_remove_files", remove_slowly)
    collected = []

    def run_gc() -> None:
        with ws.reopen() as other:
            collected.append(gc(other))

    collector = threading.Thread(target=run_gc)
    collector.start()
    assert removing.wait(60)
    messages: list[str] = []

    def progress(fraction: float, message: str) -> None:
        messages.append(message)
        if message.startswith("waiting for `cvops gc`"):
            go_on.set()  # the import is blocked on the lock: now let gc remove files

    report = import_paths(ws, [src], progress=progress)
    collector.join(60)
    assert go_on.is_set() and "waiting for `cvops gc` to finish" in messages
    assert collected[0].orphan_blobs == 1 and ws.store.find(orphan) is None
    assert report.imported == 3 and doctor(ws).ok
    ws.close()


def test_a_running_batch_from_another_host_does_not_block_gc_forever(tmp_path: Path) -> None:
    import os
    import time

    from cvops.catalog.locks import heartbeat_path, lock_dir
    from cvops.catalog.maintenance import doctor, gc

    ws = Workspace.create(tmp_path / "w")
    now = time.time()
    moved_disk = _running_batch(ws, "old-laptop", now - 3 * 3600)  # no heartbeat file (an older version)
    renamed = _running_batch(ws, "renamed-host", now - 60)
    lock_dir(ws.root)
    heartbeat_path(ws.root, renamed).touch()
    os.utime(heartbeat_path(ws.root, renamed), (now - 3600, now - 3600))  # last beat an hour ago
    live = _running_batch(ws, "build-server", now - 3 * 3600)
    heartbeat_path(ws.root, live).touch()  # beating now: an import over a network share
    sha, _ = ws.store.add_bytes(b"orphan", ".jpg")

    kinds = [w.get("batch_id") for w in doctor(ws).warnings if w["kind"] == "interrupted_import"]
    assert kinds == [moved_disk, renamed]
    first = gc(ws)
    assert first.interrupted_batches == 2
    assert (_state(ws, moved_disk), _state(ws, renamed), _state(ws, live)) == ("interrupted", "interrupted",
                                                                               "running")
    assert first.orphan_blobs == 0 and "build-server" in first.skipped[0]  # a live import elsewhere: files kept
    assert ws.store.find(sha) is not None

    os.utime(heartbeat_path(ws.root, live), (now - 3600, now - 3600))  # that import died an hour ago
    second = gc(ws)
    assert second.interrupted_batches == 1 and _state(ws, live) == "interrupted"
    assert second.orphan_blobs == 1 and ws.store.find(sha) is None and not second.skipped
    assert list((ws.root / "locks").glob("batch-*")) == []
    ws.close()


def test_a_batch_of_a_dead_process_on_this_host_is_interrupted_at_once(tmp_path: Path) -> None:
    import socket
    import time

    from cvops.catalog.maintenance import gc

    ws = Workspace.create(tmp_path / "w")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = _running_batch(ws, socket.gethostname(), time.time(), pid=proc.pid)
    assert gc(ws).interrupted_batches == 1 and _state(ws, dead) == "interrupted"
    ws.close()


def test_a_cancelled_demo_raises_cancelled(tmp_path: Path) -> None:
    """Cancelling the demo (the GUI's Cancel, Ctrl+C) stops it with Cancelled, not a confusing later error."""
    from cvops.common.jobs import CancelToken, Cancelled
    from cvops.samples.demo import run_demo

    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        run_demo(tmp_path / "demo", count=4, cancel=cancel)
