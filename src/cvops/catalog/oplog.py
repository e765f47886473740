"""The operation log: every edit is an operation recorded in the catalog, giving unlimited undo and redo that
survive closing and reopening the workspace, and an audit trail.

An operation is a list of row changes on the editable tables::

    {"table": "annotations", "op": "insert", "row": {...}}
    {"table": "annotations", "op": "delete", "row": {...}}          # the full row, so undo can restore it
    {"table": "images", "op": "update", "id": 7, "before": {...}, "after": {...}}
    {"table": "annotations", "op": "insert_rows", "columns": [...], "rows": [[...], ...]}   # bulk, ids included
    {"table": "annotations", "op": "delete_rows", "columns": [...], "rows": [[...], ...]}

Undo applies the inverse changes in reverse order; redo applies the changes again. History is linear: a new
operation after an undo discards the redo tail (its rows stay in the log, marked ``discarded``, for the audit).
The log lives in the catalog, so two processes editing one workspace share one history.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Optional

from cvops.catalog.db import Database, transaction

EDITABLE_TABLES = ("annotations", "images", "classes", "tags", "image_tags")

Change = dict[str, Any]


@dataclass(frozen=True)
class Operation:
    """One recorded operation."""

    id: int
    at: float
    action: str
    description: str
    state: str
    change_count: int


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail: when an operation was done, undone or redone."""

    at: float
    operation_id: int
    event: str
    description: str


def _apply(conn: sqlite3.Connection, change: Change) -> Change:
    """Apply one change; return it completed (an insert gets the id the database assigned)."""
    table = change["table"]
    if table not in EDITABLE_TABLES:
        raise ValueError(f"table {table!r} is not editable through the operation log")
    op = change["op"]
    if op == "insert":
        row = dict(change["row"])
        cols = list(row)
        cur = conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", [row[c] for c in cols]
        )
        if row.get("id") is None:
            row["id"] = cur.lastrowid
        return {"table": table, "op": "insert", "row": row}
    if op == "delete":
        conn.execute(f"DELETE FROM {table} WHERE id = ?", [change["row"]["id"]])
        return change
    if op == "insert_rows":
        cols = change["columns"]
        if "id" not in cols:
            raise ValueError("bulk inserts carry their ids (see OperationLog.next_ids)")
        conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                         change["rows"])
        return change
    if op == "delete_rows":
        at = change["columns"].index("id")
        conn.executemany(f"DELETE FROM {table} WHERE id = ?", [(row[at],) for row in change["rows"]])
        return change
    if op == "update":
        after = change["after"]
        sets = ", ".join(f"{c} = ?" for c in after)
        conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*after.values(), change["id"]])
        return change
    raise ValueError(f"unknown change kind {op!r}")


_OPPOSITE = {"insert": "delete", "delete": "insert", "insert_rows": "delete_rows", "delete_rows": "insert_rows"}


def _inverse(change: Change) -> Change:
    op = change["op"]
    if op in ("insert_rows", "delete_rows"):
        return {**change, "op": _OPPOSITE[op]}
    if op == "insert":
        return {"table": change["table"], "op": "delete", "row": change["row"]}
    if op == "delete":
        return {"table": change["table"], "op": "insert", "row": change["row"]}
    return {"table": change["table"], "op": "update", "id": change["id"], "before": change["after"],
            "after": change["before"]}


def row_dict(conn: sqlite3.Connection, table: str, row_id: int) -> Optional[dict[str, Any]]:
    """A full row of an editable table as a dict, or None."""
    cur = conn.execute(f"SELECT * FROM {table} WHERE id = ?", [row_id])
    values = cur.fetchone()
    if values is None:
        return None
    return dict(zip([d[0] for d in cur.description], values))


class OperationLog:
    """Records, undoes and redoes operations on one catalog."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, action: str, description: str, changes: list[Change]) -> tuple[int, list[Change]]:
        """Apply ``changes`` and record them as one operation, in one transaction.

        Returns the operation id and the applied changes (inserts carry the ids the database assigned).

        Call inside :func:`cvops.catalog.db.transaction` when the changes were computed from rows read in the same
        transaction (this joins it).
        """
        with transaction(self.db) as conn:
            done = [_apply(conn, c) for c in changes]
            now = time.time()
            conn.execute("UPDATE operations SET state = 'discarded' WHERE state = 'undone'")
            cur = conn.execute(
                "INSERT INTO operations (at, action, description, changes, state) VALUES (?, ?, ?, ?, 'done')",
                [now, action, description, json.dumps(done, separators=(",", ":"))],
            )
            op_id = int(cur.lastrowid)
            conn.execute(
                "INSERT INTO audit (at, operation_id, event, description) VALUES (?, ?, 'do', ?)",
                [now, op_id, description],
            )
        return op_id, done

    def next_ids(self, table: str, count: int) -> range:
        """Ids for a bulk insert into an AUTOINCREMENT table (call inside the write transaction that inserts)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [table]).fetchone()
        top = max(row[0] if row else 0, self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])
        return range(top + 1, top + 1 + count)

    def undo(self) -> Optional[Operation]:
        """Undo the most recent operation still done; return it, or None when there is nothing to undo."""
        with transaction(self.db) as conn:
            row = conn.execute(
                "SELECT id, changes FROM operations WHERE state = 'done' ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            for change in reversed(json.loads(row[1])):
                _apply(conn, _inverse(change))
            return self._mark(conn, row[0], "undone", "undo")

    def redo(self) -> Optional[Operation]:
        """Redo the oldest undone operation; return it, or None when there is nothing to redo."""
        with transaction(self.db) as conn:
            row = conn.execute(
                "SELECT id, changes FROM operations WHERE state = 'undone' ORDER BY id ASC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            for change in json.loads(row[1]):
                _apply(conn, change)
            return self._mark(conn, row[0], "done", "redo")

    def _mark(self, conn: sqlite3.Connection, op_id: int, state: str, event: str) -> Operation:
        conn.execute("UPDATE operations SET state = ? WHERE id = ?", [state, op_id])
        op = self.get(op_id)
        conn.execute(
            "INSERT INTO audit (at, operation_id, event, description) VALUES (?, ?, ?, ?)",
            [time.time(), op_id, event, op.description],
        )
        return op

    def can_undo(self) -> bool:
        """True when an operation can be undone."""
        return self.db.execute("SELECT 1 FROM operations WHERE state = 'done' LIMIT 1").fetchone() is not None

    def can_redo(self) -> bool:
        """True when an undone operation can be redone."""
        return self.db.execute("SELECT 1 FROM operations WHERE state = 'undone' LIMIT 1").fetchone() is not None

    def get(self, op_id: int) -> Operation:
        """One operation by id."""
        row = self.db.execute(
            "SELECT id, at, action, description, state, json_array_length(changes) FROM operations WHERE id = ?",
            [op_id],
        ).fetchone()
        if row is None:
            raise KeyError(op_id)
        return Operation(*row)

    def history(self, limit: int = 50) -> list[Operation]:
        """The most recent operations, newest first."""
        rows = self.db.execute(
            "SELECT id, at, action, description, state, json_array_length(changes) FROM operations "
            "ORDER BY id DESC LIMIT ?",
            [limit],
        ).fetchall()
        return [Operation(*r) for r in rows]

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The most recent audit entries (do, undo, redo), newest first."""
        rows = self.db.execute(
            "SELECT at, operation_id, event, description FROM audit ORDER BY id DESC LIMIT ?", [limit]
        ).fetchall()
        return [AuditEntry(*r) for r in rows]

    def row_ids(self, op_id: int, table: str) -> list[int]:
        """The ids of the ``table`` rows an operation inserts, updates or deletes, in its order (the GUI selects the
        shapes an undo or redo brought back)."""
        row = self.db.execute("SELECT changes FROM operations WHERE id = ?", [op_id]).fetchone()
        if row is None:
            raise KeyError(op_id)
        ids: list[int] = []
        for change in json.loads(row[0]):
            if change["table"] != table:
                continue
            if change["op"] in ("insert_rows", "delete_rows"):
                at = change["columns"].index("id")
                ids += [r[at] for r in change["rows"]]
            elif change["op"] == "update":
                ids.append(change["id"])
            elif change["row"].get("id") is not None:
                ids.append(change["row"]["id"])
        return list(dict.fromkeys(ids))
