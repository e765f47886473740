"""Following changes other processes make to the catalog (the CLI, a pipeline watch, a second workbench).

SQLite's ``PRAGMA data_version`` on a connection changes when another connection commits to the database file, and
reading it costs a few microseconds: a timer on the GUI thread reads it on the workspace's connection about once a
second. When it changed, one query of a few indexed aggregates (:data:`SIGNATURE`) says what: edits through the
operation log, images, versions, models, runs, field files; the watcher announces the kinds of data whose signature
moved (a training run's progress updates every batch do not reload the gallery). The app's own edits (same
connection) do not count; commits by the app's background jobs (their own connections) are announced by those jobs
when they end, so the watcher waits while a job runs and looks again afterwards (a change made meanwhile by another
process is then announced once).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, Optional

from PySide6.QtCore import QObject, QTimer, Signal

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace
    from cvops_app.jobs import JobManager

INTERVAL_MS = 1000
EDITS = ("images", "annotations", "classes", "status", "tags")  # what an operation-log edit (or its undo) may touch
# kind(s) of data -> the aggregate that changes when another process changes that data
SIGNATURE: tuple[tuple[tuple[str, ...], str], ...] = (
    (EDITS, "SELECT MAX(rowid) FROM audit"),
    # imports add rows, emptying the trash drops trashed ones (a partial index counts those); no full-table count:
    # a million images would cost 100 ms
    (("images",), "SELECT MAX(rowid) || ':' || (SELECT COUNT(*) FROM images WHERE trashed_at IS NOT NULL) "
                  "FROM images"),
    (("versions",), "SELECT MAX(rowid) || ':' || COUNT(*) FROM versions"),
    (("models", "evaluations"), "SELECT MAX(rowid) || ':' || COUNT(*) || ':' || TOTAL(champion * rowid) FROM models"),
    (("models", "evaluations"), "SELECT MAX(rowid) FROM evaluations"),
    (("models",), "SELECT MAX(rowid) FROM exports"),
    (("models",), "SELECT MAX(rowid) FROM deployments"),
    (("runs",), "SELECT MAX(rowid) || ':' || TOTAL(epochs_done) || ':' || COUNT(finished_at) FROM runs"),
    (("runs",), "SELECT MAX(rowid) || ':' || COUNT(finished_at) FROM pipeline_runs"),
    (("monitor", "images"), "SELECT MAX(rowid) FROM field_files"),
)
EVERYTHING = frozenset(kind for kinds, _ in SIGNATURE for kind in kinds)


def signature(ws: "Workspace") -> Optional[tuple[Any, ...]]:
    """The :data:`SIGNATURE` aggregates, in one query (None when the catalog cannot be read: say everything)."""
    sql = "SELECT " + ", ".join(f"({query})" for _, query in SIGNATURE)
    try:
        row = ws.db.execute(sql).fetchone()
    except sqlite3.Error:
        return None
    return tuple(row)


def changed_kinds(before: Optional[tuple[Any, ...]], after: Optional[tuple[Any, ...]]) -> set[str]:
    """The kinds of data whose aggregates differ (everything when either side is unknown)."""
    if before is None or after is None:
        return set(EVERYTHING)
    return {kind for (kinds, _), a, b in zip(SIGNATURE, before, after) if a != b for kind in kinds}


def data_version(ws: "Workspace") -> Optional[int]:
    """The catalog connection's ``PRAGMA data_version``, or None when it cannot be read (closed, locked)."""
    try:
        row = ws.db.execute("PRAGMA data_version").fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else None


class CatalogWatcher(QObject):
    """Polls the workspace's ``data_version`` every ``interval_ms`` while none of ``jobs`` runs; :attr:`changed`
    with the kinds of data (``"images"``, ``"versions"``, ...) another connection changed since the last look."""

    changed = Signal(object)  # set of kinds

    def __init__(self, jobs: "JobManager", parent: Optional[QObject] = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.ws: Optional["Workspace"] = None
        self.version: Optional[int] = None
        self.signature: Optional[tuple[Any, ...]] = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """Watch ``ws`` from its state now (None: stop watching)."""
        self.ws = ws
        self.version = data_version(ws) if ws is not None else None
        self.signature = None  # read at the first look, after the pages showed the workspace
        if ws is None:
            self.timer.stop()
        else:
            self.timer.start()

    def poll(self) -> bool:
        """Look once (the timer calls this); True when a change was announced."""
        ws = self.ws
        if ws is None or self.jobs.busy():
            return False
        version = data_version(ws)
        if version is None:
            return False
        if self.signature is None:  # the first look takes the baseline; a commit since the opening: everything
            self.signature = signature(ws)
            if version == self.version:
                return False
            self.version = version
            kinds = set(EVERYTHING)
        else:
            if version == self.version:
                return False
            self.version = version
            now = signature(ws)
            kinds = changed_kinds(self.signature, now)
            self.signature = now
        if kinds:
            self.changed.emit(kinds)
        return bool(kinds)
