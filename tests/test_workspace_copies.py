"""The helpers behind the shared workspace fixtures (``tests/training_testing.py``): a copy holds what an open
connection has written even while it sits in the write-ahead log, and is independent of its source; the catalog
digest that guards the read-only fixtures changes with the content and only with it."""

from __future__ import annotations

from pathlib import Path

from training_testing import catalog_digest, copy_workspace

from cvops.data.workspace import CATALOG_NAME, Workspace


def test_a_copy_holds_what_is_still_in_the_write_ahead_log(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "src")
    try:
        ws.db.execute("PRAGMA wal_autocheckpoint = 0")  # keep every write in the log
        ws.classes.add("cat")
        assert (tmp_path / "src" / f"{CATALOG_NAME}-wal").stat().st_size > 0
        copy = copy_workspace(tmp_path / "src", tmp_path / "copy")
    finally:
        ws.close()
    assert not (copy / f"{CATALOG_NAME}-wal").exists() or (copy / f"{CATALOG_NAME}-wal").stat().st_size == 0
    with Workspace.open(copy) as opened:
        assert [c.name for c in opened.classes.list()] == ["cat"]
        opened.classes.add("dog")
    with Workspace.open(tmp_path / "src") as source:
        assert [c.name for c in source.classes.list()] == ["cat"]  # the copy is its own


def test_the_digest_follows_the_content_not_the_opening(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "ws").close()
    before = catalog_digest(tmp_path / "ws")
    with Workspace.open(tmp_path / "ws") as ws:
        ws.classes.list()
    assert catalog_digest(tmp_path / "ws") == before
    with Workspace.open(tmp_path / "ws") as ws:
        ws.classes.add("cat")
    assert catalog_digest(tmp_path / "ws") != before
