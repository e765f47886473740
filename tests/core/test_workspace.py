"""Workspace creation, opening, schema migrations and multi-process use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cvops import NewerSchemaError, Workspace, WorkspaceError
from cvops import catalog


def test_create_lays_out_folders_and_catalog(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "w")
    try:
        for sub in ("store", "tmp", "backups"):
            assert (ws.root / sub).is_dir()
        assert ws.catalog_path.is_file()
        assert ws.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ws.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert ws.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert catalog.schema_version(ws.db) == catalog.SCHEMA_VERSION
        versions = [r[0] for r in ws.db.execute("SELECT version FROM migrations ORDER BY version")]
        assert versions == [m[0] for m in catalog.MIGRATIONS]
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
    ws.db.execute(f"PRAGMA user_version = {catalog.SCHEMA_VERSION + 5}")
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
    catalog.migrate(db, target=1)
    db.execute("INSERT INTO classes (name, color, position, created_at) VALUES ('cat', '#ff0000', 0, 0)")
    db.conn.close()

    ws = Workspace.open(root)
    try:
        assert ws.migrated_from == 1
        assert catalog.schema_version(ws.db) == catalog.SCHEMA_VERSION
        assert ws.classes.get("cat").color == "#ff0000"
        backups = list((root / "backups").glob("cvops-schema1-*.db"))
        assert len(backups) == 1
        old = catalog.connect(backups[0])
        assert catalog.schema_version(old) == 1
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
