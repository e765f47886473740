"""The catalog connection: nested transactions are savepoints; the runtime path does not load sqlite_utils/click."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cvops.catalog.db import transaction
from cvops.data.workspace import Workspace


class Boom(Exception):
    pass


def _add(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("INSERT INTO classes (name, color, position, created_at) VALUES (?, '#ff0000', 0, 0)", [name])


def _names(ws: Workspace) -> list[str]:
    return [r[0] for r in ws.db.execute("SELECT name FROM classes ORDER BY id")]


def test_a_failed_nested_transaction_rolls_back_only_its_own_writes(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    with transaction(ws.db) as conn:
        _add(conn, "outer")
        with pytest.raises(Boom):
            with transaction(ws.db) as inner:
                _add(inner, "inner")
                assert _names(ws) == ["outer", "inner"]
                raise Boom
        assert conn.in_transaction  # the outer transaction goes on
        _add(conn, "after")
    assert not ws.db.conn.in_transaction
    ws.close()
    reopened = Workspace.open(tmp_path / "ws")
    assert _names(reopened) == ["outer", "after"]
    reopened.close()


def test_a_nested_transaction_that_succeeds_is_committed_with_the_outer_one(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    with pytest.raises(Boom):
        with transaction(ws.db) as conn:
            _add(conn, "outer")
            for depth in ("a", "b"):
                with transaction(ws.db) as inner:
                    _add(inner, depth)
                    with transaction(ws.db) as innermost:
                        _add(innermost, depth + "2")
            assert _names(ws) == ["outer", "a", "a2", "b", "b2"]
            raise Boom  # the outermost rolls everything back
    assert _names(ws) == []
    with transaction(ws.db):
        with transaction(ws.db) as inner:
            _add(inner, "kept")
    ws.close()
    reopened = Workspace.open(tmp_path / "ws")
    assert _names(reopened) == ["kept"]
    reopened.close()


def test_opening_a_workspace_loads_neither_sqlite_utils_nor_click(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "ws").close()
    code = ("import sys; from cvops.data.workspace import Workspace; ws = Workspace.open(sys.argv[1]); "
            "ws.images.counts_by_status(); ws.close(); "
            "print(sorted(m for m in ('click', 'sqlite_utils') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws")], capture_output=True, text=True,
                         check=True, env=None)
    assert out.stdout.strip() == "[]"
