"""Background jobs in the GUI: a core job function runs in a QThreadPool worker; progress, results and errors come
back to the GUI thread as signals; the status-bar job area shows every running job with a progress bar and Cancel.

A job function has the core's shape ``fn(progress, cancel) -> result``. It runs in another thread, so it must open
its own :class:`~cvops.data.workspace.Workspace` handle (``ws.reopen()``) rather than use the GUI's.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from cvops.common.jobs import CancelToken, Cancelled, Progress

JobFn = Callable[[Progress, CancelToken], Any]
PROGRESS_INTERVAL_S = 0.05  # at most 20 progress signals a second per job


class _Signals(QObject):
    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()


class Job(QRunnable):
    """One background job. Connect to ``signals`` before starting it through :class:`JobManager`."""

    def __init__(self, title: str, fn: JobFn) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.title = title
        self.fn = fn
        self.cancel = CancelToken()
        self.signals = _Signals()
        self.done = False
        self._last = 0.0

    def _progress(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL_S or fraction >= 1.0:
            self._last = now
            self.signals.progress.emit(float(fraction), message)

    def run(self) -> None:  # noqa: D102 (QRunnable)
        try:
            result = self.fn(self._progress, self.cancel)
        except Cancelled:
            self.done = True
            self.signals.cancelled.emit()
            return
        except Exception as exc:  # a job's failure is shown to the user, never raised into Qt
            self.done = True
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.signals.failed.emit(detail)
            return
        self.done = True
        if self.cancel.cancelled:
            self.signals.cancelled.emit()
        else:
            self.signals.finished.emit(result)


class JobManager(QObject):
    """Starts jobs on a thread pool and keeps track of the running ones."""

    started = Signal(object)  # Job
    ended = Signal(object)  # Job

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.running: list[Job] = []

    def start(self, title: str, fn: JobFn, on_done: Optional[Callable[[Any], None]] = None,
              on_error: Optional[Callable[[str], None]] = None,
              on_cancel: Optional[Callable[[], None]] = None) -> Job:
        """Run ``fn(progress, cancel)`` in the background; the callbacks run on the GUI thread."""
        job = Job(title, fn)
        if on_done:
            job.signals.finished.connect(on_done, Qt.ConnectionType.QueuedConnection)
        if on_error:
            job.signals.failed.connect(on_error, Qt.ConnectionType.QueuedConnection)
        if on_cancel:
            job.signals.cancelled.connect(on_cancel, Qt.ConnectionType.QueuedConnection)
        for signal in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            signal.connect(lambda *_, j=job: self._end(j), Qt.ConnectionType.QueuedConnection)
        self.running.append(job)
        self.started.emit(job)
        self.pool.start(job)
        return job

    def _end(self, job: Job) -> None:
        if job in self.running:
            self.running.remove(job)
            self.ended.emit(job)

    def cancel_all(self) -> None:
        """Ask every running job to stop."""
        for job in self.running:
            job.cancel.cancel()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the pool is idle (for shutdown and tests); True when it is."""
        return self.pool.waitForDone(msecs)


class JobsWidget(QWidget):
    """The status-bar job area: one row (title, progress bar, Cancel) per running job."""

    def __init__(self, manager: JobManager, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.rows: dict[int, QWidget] = {}
        self.setLayout(QHBoxLayout())
        self.layout().setContentsMargins(0, 0, 0, 0)
        manager.started.connect(self._add)
        manager.ended.connect(self._remove)

    def _add(self, job: Job) -> None:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(4, 0, 4, 0)
        label = QLabel(job.title, row)
        bar = QProgressBar(row)
        bar.setRange(0, 1000)
        bar.setFixedWidth(160)
        bar.setTextVisible(False)
        cancel = QPushButton("Cancel", row)
        cancel.setObjectName(f"cancel-job-{id(job)}")
        cancel.clicked.connect(job.cancel.cancel)
        cancel.clicked.connect(lambda: (cancel.setEnabled(False), label.setText(f"{job.title}: cancelling…")))
        job.signals.progress.connect(lambda f, m: (bar.setValue(int(f * 1000)), label.setText(f"{job.title}: {m}")))
        cancel.setFixedWidth(cancel.sizeHint().width())
        label.setMinimumWidth(220)
        layout.addWidget(label, 1)
        layout.addWidget(bar)
        layout.addWidget(cancel)
        row.setToolTip(job.title)
        self.layout().addWidget(row)
        self.rows[id(job)] = row

    def _remove(self, job: Job) -> None:
        row = self.rows.pop(id(job), None)
        if row is not None:
            row.deleteLater()
