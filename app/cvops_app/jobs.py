"""Background jobs in the GUI: one job runner for the whole app.

A job function has the core's shape ``fn(progress, cancel) -> result``; it runs in a :class:`JobManager`'s
QThreadPool and its progress, result or error come back to the GUI thread, where the job's ``signals`` are emitted
(so every slot runs on the GUI thread). A job function that returns a generator streams: each value it yields
reaches ``on_partial`` (``signals.partial``) as it comes, and its return value is the result.

Jobs may have a *key*. Starting a job with a key supersedes the running or waiting jobs of that key: a waiting one
never starts, a running one has its cancel token triggered, and neither delivers anything any more (no result,
error, progress or partial result of a superseded job reaches the UI). ``replace=False`` adds a job to its key's
group instead (several tiles of one image); :meth:`JobManager.supersede` drops a key's group on demand. This is the
app's single stale-result guard: views that load in the background key their jobs rather than counting
generations by hand.

A job runs in another thread, so it must open its own :class:`~cvops.data.workspace.Workspace` handle
(``ws.reopen()``) rather than use the GUI's. The status-bar job area (:class:`JobsWidget`) shows the jobs of the
application context's manager; views with private background work (thumbnails, catalog queries, image tiles) own a
manager of their own, with its own threads.
"""

from __future__ import annotations

import inspect
import time
import traceback
from typing import Any, Callable, Hashable, Optional

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from cvops.common.jobs import CancelToken, Cancelled, Progress

JobFn = Callable[[Progress, CancelToken], Any]
PROGRESS_INTERVAL_S = 0.05  # at most 20 progress signals a second per job


class _Signals(QObject):
    progress = Signal(float, str)
    partial = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()


class Job(QRunnable):
    """One background job, started by :meth:`JobManager.start`. ``signals`` (progress, partial, finished, failed,
    cancelled) are emitted on the GUI thread, never for a superseded job."""

    def __init__(self, title: str, fn: JobFn, key: Optional[Hashable] = None) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.title = title
        self.fn = fn
        self.key = key
        self.cancel = CancelToken()
        self.signals = _Signals()  # emitted on the GUI thread by the manager
        self.relay = _Signals()  # emitted by the worker thread
        self.done = False  # the function has returned (or raised)
        self.superseded = False
        self.error: Optional[BaseException] = None
        self._last = 0.0

    def _progress(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL_S or fraction >= 1.0:
            self._last = now
            self.relay.progress.emit(float(fraction), message)

    def _call(self) -> Any:
        result = self.fn(self._progress, self.cancel)
        if not inspect.isgenerator(result):
            return result
        while True:
            try:
                value = next(result)
            except StopIteration as stop:
                return stop.value
            if not self.superseded:
                self.relay.partial.emit(value)

    def run(self) -> None:  # noqa: D102 (QRunnable)
        try:
            result = self._call()
        except Cancelled:
            self.done = True
            self.relay.cancelled.emit()
            return
        except Exception as exc:  # a job's failure is shown to the user, never raised into Qt
            self.done = True
            self.error = exc
            self.relay.failed.emit("".join(traceback.format_exception_only(type(exc), exc)).strip())
            return
        self.done = True
        if self.cancel.cancelled:
            self.relay.cancelled.emit()
        else:
            self.relay.finished.emit(result)


class JobManager(QObject):
    """Starts jobs on its own thread pool and keeps track of the running (and waiting) ones."""

    started = Signal(object)  # Job
    ended = Signal(object)  # Job: it finished, failed, was cancelled or was superseded

    def __init__(self, parent: Optional[QObject] = None, threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self.running: list[Job] = []

    def start(self, title: str, fn: JobFn, on_done: Optional[Callable[[Any], None]] = None,
              on_error: Optional[Callable[[str], None]] = None,
              on_cancel: Optional[Callable[[], None]] = None, *, key: Optional[Hashable] = None,
              replace: bool = True, on_partial: Optional[Callable[[Any], None]] = None) -> Job:
        """Run ``fn(progress, cancel)`` in the background; the callbacks run on the GUI thread. With a ``key``, the
        running and waiting jobs of that key are superseded first (unless ``replace`` is False)."""
        if key is not None and replace:
            self.supersede(key)
        job = Job(title, fn, key)
        for signal, callback in ((job.signals.finished, on_done), (job.signals.failed, on_error),
                                 (job.signals.cancelled, on_cancel), (job.signals.partial, on_partial)):
            if callback is not None:
                signal.connect(callback)
        queued = Qt.ConnectionType.QueuedConnection
        job.relay.progress.connect(lambda f, m, j=job: self._deliver(j, j.signals.progress, f, m), queued)
        job.relay.partial.connect(lambda v, j=job: self._deliver(j, j.signals.partial, v), queued)
        job.relay.finished.connect(lambda r, j=job: self._deliver(j, j.signals.finished, r, end=True), queued)
        job.relay.failed.connect(lambda d, j=job: self._deliver(j, j.signals.failed, d, end=True), queued)
        job.relay.cancelled.connect(lambda j=job: self._deliver(j, j.signals.cancelled, end=True), queued)
        self.running.append(job)
        self.started.emit(job)
        self.pool.start(job)
        return job

    def _deliver(self, job: Job, signal: Any, *args: Any, end: bool = False) -> None:
        if job.superseded:
            return  # a stale result: it never reaches the UI
        signal.emit(*args)
        if end:
            self._end(job)

    def _end(self, job: Job) -> None:
        if job in self.running:
            self.running.remove(job)
            self.ended.emit(job)

    def supersede(self, key: Hashable) -> list[Job]:
        """Drop the running and waiting jobs of ``key``: a waiting one never starts, a running one is asked to
        stop, and neither delivers anything any more. Returns the jobs dropped."""
        dropped = [job for job in self.running if job.key == key]
        for job in dropped:
            job.superseded = True
            job.cancel.cancel()
            self.pool.tryTake(job)
            self._end(job)
        return dropped

    def supersede_all(self) -> None:
        """Drop every job (their results are no longer wanted, e.g. the view shows another workspace)."""
        for key in {job.key for job in self.running}:
            self.supersede(key)

    def cancel_all(self) -> None:
        """Ask every running job to stop (each still reports that it was cancelled)."""
        for job in self.running:
            job.cancel.cancel()

    def busy(self) -> bool:
        """True while a job runs or waits (superseded ones that still run in the background do not count)."""
        return bool(self.running)

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
