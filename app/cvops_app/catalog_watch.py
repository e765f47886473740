"""Following changes other processes make to the catalog (the CLI, a pipeline watch, a second workbench).

SQLite's ``PRAGMA data_version`` on a connection changes when another connection commits to the database file, and
reading it costs a few microseconds: a timer on the GUI thread reads it on the workspace's connection about once a
second and announces a change. The app's own edits (same connection) do not count; commits by the app's background
jobs (their own connections) are announced by those jobs when they end, so the watcher waits while a job runs and
looks again afterwards (a change made meanwhile by another process is then announced once).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QObject, QTimer, Signal

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace
    from cvops_app.jobs import JobManager

INTERVAL_MS = 1000


def data_version(ws: "Workspace") -> Optional[int]:
    """The catalog connection's ``PRAGMA data_version``, or None when it cannot be read (closed, locked)."""
    try:
        row = ws.db.execute("PRAGMA data_version").fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else None


class CatalogWatcher(QObject):
    """Polls the workspace's ``data_version`` every ``interval_ms`` while none of ``jobs`` runs; :attr:`changed`
    when another connection has committed since the last look."""

    changed = Signal()

    def __init__(self, jobs: "JobManager", parent: Optional[QObject] = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.ws: Optional["Workspace"] = None
        self.version: Optional[int] = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """Watch ``ws`` from its state now (None: stop watching)."""
        self.ws = ws
        self.version = data_version(ws) if ws is not None else None
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
        if version is None or version == self.version:
            return False
        self.version = version
        self.changed.emit()
        return True
