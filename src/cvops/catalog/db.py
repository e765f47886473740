"""The SQLite catalog: connection settings and transactions.

Every connection runs in WAL mode with foreign keys on and a busy timeout, so the GUI and CLI processes can use one
workspace at the same time. :class:`Database` is a thin typed wrapper over the ``sqlite3`` connection (the catalog
needs no more). Writes happen in ``BEGIN IMMEDIATE`` transactions (:func:`transaction`), so a change is either fully
in the catalog or not at all; a nested :func:`transaction` is a ``SAVEPOINT``. The schema and its migrations are
:mod:`cvops.catalog.migrations`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, Union

from cvops.common.errors import WorkspaceError

BUSY_TIMEOUT_MS = 30_000

ANNOTATION_KINDS = ("box", "polygon", "tag")
SOURCES = ("manual", "model")


Params = Union[Sequence[Any], Mapping[str, Any]]


class Database:
    """The catalog's SQLite connection (autocommit: statements outside :func:`transaction` commit one by one)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._savepoints = 0

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one SQL statement with ``?`` (sequence) or ``:name`` (mapping) parameters; returns its cursor."""
        return self.conn.execute(sql, params)


def connect(path: Path) -> Database:
    """Open the catalog with the project's connection settings (autocommit; explicit transactions)."""
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise WorkspaceError(f"cannot open catalog {path}: {exc}") from exc
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA recursive_triggers = ON")  # REPLACE fires delete triggers (the status counts rely on it)
    return Database(conn)


@contextlib.contextmanager
def transaction(db: Database) -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction; commit on success, roll back on any exception.

    Nested use is a ``SAVEPOINT`` inside the outer transaction: on an exception the block's writes are rolled back
    (to the savepoint) and the exception goes on, so an outer block that catches it keeps its own writes; on success
    the savepoint is released and the outermost block commits.
    """
    conn = db.conn
    if conn.in_transaction:
        db._savepoints += 1
        name = f"cvops_sp{db._savepoints}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        else:
            conn.execute(f"RELEASE {name}")
        finally:
            db._savepoints -= 1
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
