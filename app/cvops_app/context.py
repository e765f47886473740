"""The application context: what pages, dialogs and the canvas share, without knowing the main window.

It holds the open workspace, the settings and the job runner, and carries the app's messages as signals:
notifications (status-bar text), failed jobs, data changes (the app's own, and those another process commits to the
catalog: :mod:`cvops_app.catalog_watch`), and navigation requests (open images in the annotator,
show a page, export a model). The main window creates the context and connects these signals to its status bar,
page stack and dialogs; tests build a real context on a workspace and watch the same signals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Hashable, Optional, Sequence

from PySide6.QtCore import QObject, Signal

from cvops.catalog import settings as settings_mod
from cvops.catalog.settings import Settings
from cvops.common.errors import CvopsError
from cvops.data.workspace import Workspace
from cvops_app.catalog_watch import CatalogWatcher
from cvops_app.jobs import Job, JobFn, JobManager

ALL_DATA = frozenset({"images", "annotations", "classes", "status", "tags"})


class AppContext(QObject):
    """The open workspace (GUI thread), settings, the job runner and the app-wide signals."""

    workspace_changed = Signal(object)  # the Workspace just opened, or None when it closed
    data_changed = Signal(object)  # set of "images", "annotations", "classes", "status", "models", "runs", ...
    message = Signal(str, int)  # a notification for the status bar: text, milliseconds shown
    job_failed = Signal(str, str)  # a background job failed: title, detail
    open_images = Signal(int, object)  # show this image in the annotator; the id order to walk (None: the gallery's)
    open_review = Signal(int, object, object)  # open_images, with the model's predictions over it (a PredictionReview)
    image_shown = Signal(int)  # the annotator shows this image now (the gallery's current image follows)
    page_requested = Signal(str)  # show this page
    export_model_requested = Signal(object)  # open the export wizard on this model id (None: the champion)
    train_requested = Signal(object)  # fill the Train page with these start_run options (best_train_options)
    history_applied = Signal(object)  # after an undo or redo (and its data_changed): the annotation ids it touched

    def __init__(self, settings: Optional[Settings] = None, settings_path: Optional[Path] = None,
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.settings_path = settings_path
        self.settings = settings if settings is not None else settings_mod.load(settings_path)
        self.jobs = JobManager(self)
        self._ws: Optional[Workspace] = None
        self.watcher = CatalogWatcher(self.jobs, self)  # changes by other processes reach the pages as data_changed
        self.watcher.changed.connect(lambda kinds: self.changed(*sorted(kinds)))

    # -- workspace ----------------------------------------------------------------------------------------------------
    @property
    def ws(self) -> Optional[Workspace]:
        """The open workspace (for the GUI thread only; jobs open their own handle), or None."""
        return self._ws

    def set_workspace(self, ws: Optional[Workspace]) -> None:
        """Make ``ws`` the open workspace (the previous one is closed first) and announce it."""
        self.close_workspace()
        if ws is not None:
            self._ws = ws
            self.watcher.set_workspace(ws)
            self.workspace_changed.emit(ws)

    def close_workspace(self) -> None:
        """Stop background work, let every view drop its handles (``workspace_changed(None)``), close the
        workspace."""
        if self._ws is None:
            return
        self.jobs.cancel_all()
        self.jobs.wait()
        ws, self._ws = self._ws, None
        self.watcher.set_workspace(None)
        self.workspace_changed.emit(None)
        ws.close()

    def save_settings(self) -> None:
        """Write the settings file; a failure is a notification, never an exception."""
        try:
            settings_mod.save(self.settings, self.settings_path)
        except OSError as exc:
            self.notify(f"cannot save settings: {exc}")

    # -- edits and messages -------------------------------------------------------------------------------------------
    def changed(self, *what: str) -> None:
        """Tell every view that data changed (after an edit); no argument means images, annotations, classes,
        status and tags."""
        self.data_changed.emit(set(what) or set(ALL_DATA))

    def edit(self, fn: Callable[[], Any], *what: str) -> Any:
        """Run one core edit on the GUI thread and return its result. On success announce ``what`` changed; on a
        :class:`CvopsError` show why, still announce ``what`` (views re-read the unchanged data, dropping what
        they showed of the failed edit) and return None."""
        try:
            result = fn()
        except CvopsError as exc:
            self.notify(str(exc))
            self.changed(*what)
            return None
        self.changed(*what)
        return result

    def undo(self) -> None:
        """Undo the last edit in the workspace (operation log); the annotator selects the shapes it brought back."""
        if self._ws is not None:
            op = self._ws.log.undo()
            self.notify(f"Undid: {op.description}" if op else "Nothing to undo")
            if op:
                self.changed()
                self.history_applied.emit(self._ws.log.row_ids(op.id, "annotations"))

    def redo(self) -> None:
        """Redo the last undone edit; the annotator selects the shapes it brought back."""
        if self._ws is not None:
            op = self._ws.log.redo()
            self.notify(f"Redid: {op.description}" if op else "Nothing to redo")
            if op:
                self.changed()
                self.history_applied.emit(self._ws.log.row_ids(op.id, "annotations"))

    def notify(self, text: str, msecs: int = 6000) -> None:
        """A transient status-bar message."""
        self.message.emit(text, msecs)

    # -- background jobs ----------------------------------------------------------------------------------------------
    def run_job(self, title: str, fn: JobFn, on_done: Optional[Callable[[Any], None]] = None, *,
                key: Optional[Hashable] = None) -> Job:
        """Run a core job in the background with progress and Cancel in the status bar; a failure is announced
        (``job_failed`` and a notification), a cancellation notified. A ``key`` supersedes the job of that key
        still running (see :mod:`cvops_app.jobs`)."""
        def failed(detail: str) -> None:
            self.notify(f"{title} failed: {detail}", 15_000)
            self.job_failed.emit(title, detail)

        return self.jobs.start(title, fn, on_done=on_done, on_error=failed,
                               on_cancel=lambda: self.notify(f"{title} cancelled"), key=key)

    # -- navigation requests ------------------------------------------------------------------------------------------
    def open_annotator(self, image_id: int, sequence: Optional[Sequence[int]] = None, review: Any = None) -> None:
        """Ask to show one image in the annotator; ``sequence`` is the id order previous / next walk through (None:
        the gallery's current order); ``review``: the evaluation whose predictions to draw over the images it lists
        (a :class:`~cvops_app.canvas.prediction_overlay.PredictionReview`)."""
        if review is None:
            self.open_images.emit(int(image_id), sequence)
        else:
            self.open_review.emit(int(image_id), sequence, review)

    def show_page(self, name: str) -> None:
        """Ask to show a page by name."""
        self.page_requested.emit(name)

    def export_model(self, model_id: Optional[int] = None) -> None:
        """Ask for the export wizard on ``model_id`` (None: the champion)."""
        self.export_model_requested.emit(model_id)
