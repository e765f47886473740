"""The main window: workspace lifecycle, page navigation, menus, and the status-bar job area.

Start-up builds only the Images page; each other page (and what it imports: charts, the annotation canvas, the
training code) is built the first time it is shown or asked for (:class:`Pages`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMainWindow, QMessageBox, QPushButton,
    QStackedWidget, QVBoxLayout, QWidget,
)

from cvops.catalog import settings as settings_mod
from cvops.common.errors import CvopsError
from cvops.catalog.settings import Settings
from cvops.data.workspace import Workspace
from cvops_app.jobs import JobFn, JobManager, JobsWidget
from cvops_app.pages import Page

APP_NAME = "CVOps Workbench"
# the pages in navigation order: name -> (module, class, title)
PAGES = {
    "images": ("cvops_app.pages.images", "ImagesPage", "Images"),
    "annotate": ("cvops_app.pages.annotate", "AnnotatePage", "Annotate"),
    "versions": ("cvops_app.pages.versions", "VersionsPage", "Versions"),
    "train": ("cvops_app.pages.train", "TrainPage", "Train"),
    "models": ("cvops_app.pages.models", "ModelsPage", "Models"),
}


class Pages(Mapping[str, Page]):
    """The main window's pages by name, each built on first use: ``pages[name]`` builds it (it joins the page
    stack and gets the open workspace). :meth:`built` lists those built so far, which are the ones that workspace
    changes and refreshes go to (a page built later reads the workspace as it is then)."""

    def __init__(self, window: "MainWindow") -> None:
        self.window = window
        self._built: dict[str, Page] = {}

    def __getitem__(self, name: str) -> Page:
        page = self._built.get(name)
        if page is None:
            module, cls, _ = PAGES[name]
            page = getattr(importlib.import_module(module), cls)(self.window)
            self._built[name] = page
            self.window.stack.addWidget(page)
            if self.window.ws is not None:
                page.set_workspace(self.window.ws)
        return page

    def __iter__(self) -> Iterator[str]:
        return iter(PAGES)

    def __len__(self) -> int:
        return len(PAGES)

    def built(self) -> list[Page]:
        """The pages built so far, in navigation order."""
        return [self._built[name] for name in PAGES if name in self._built]


class WelcomePage(QWidget):
    """Shown while no workspace is open: create, open, or pick a recent one."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel(f"<h1>{APP_NAME}</h1><p>Open a workspace folder, or create a new one.</p>", self)
        layout.addWidget(title)
        for text, slot in (("Create workspace…", window.new_workspace), ("Open workspace…", window.open_workspace)):
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            layout.addWidget(button)
        self.recent = QListWidget(self)
        self.recent.itemActivated.connect(lambda item: window.load_workspace(Path(item.text())))
        layout.addWidget(QLabel("Recent workspaces:", self))
        layout.addWidget(self.recent)
        self.update_recent(window.settings.recent_workspaces)

    def update_recent(self, paths: Sequence[str]) -> None:
        """Show the recent-workspace list."""
        self.recent.clear()
        self.recent.addItems(list(paths))


class MainWindow(QMainWindow):
    """Holds the open workspace and the pages. Pages and dialogs talk to the core through ``self.ws`` (GUI thread)
    and :meth:`run_job` (background); after an edit they call :meth:`changed` so the other pages refresh."""

    workspace_changed = Signal(object)
    data_changed = Signal(object)  # set of "images", "annotations", "classes", "status", "models", "runs", ...

    def __init__(self, settings: Optional[Settings] = None, settings_path: Optional[Path] = None) -> None:
        super().__init__()
        self.settings_path = settings_path
        self.settings = settings or settings_mod.load(settings_path)
        self.ws: Optional[Workspace] = None
        self.jobs = JobManager(self)
        self.export_wizard: Optional[QWidget] = None  # the last export wizard opened
        self.setWindowTitle(APP_NAME)
        self.nav = QListWidget(self)
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(120)
        self.nav.setStyleSheet("QListWidget#navigation { font-size: 13pt; padding-top: 8px; border: none; "
                               "background: palette(window); } "
                               "QListWidget#navigation::item { padding: 10px 12px; }")
        self.stack = QStackedWidget(self)
        self.welcome = WelcomePage(self)
        self.stack.addWidget(self.welcome)
        self.pages = Pages(self)
        for name, (_, _, title) in PAGES.items():
            item = QListWidgetItem(title, self.nav)
            item.setData(Qt.ItemDataRole.UserRole, name)
        self.nav.currentItemChanged.connect(
            lambda item, _: item is not None and self.show_page(item.data(Qt.ItemDataRole.UserRole)))
        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.jobs_widget = JobsWidget(self.jobs, self)
        self.statusBar().addPermanentWidget(self.jobs_widget)
        # reserve a job row's height: a job starting must not resize (and so repaint) the whole page above
        self.jobs_widget.setMinimumHeight(QPushButton("Cancel").sizeHint().height())
        self._build_menus()
        self.pages["images"].open_image.connect(self.open_annotator)
        self._set_enabled(False)
        geometry = QSettings("CVOps", "Workbench").value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        for problem in self.settings.problems:
            self.statusBar().showMessage(problem, 10_000)

    # -- menus --------------------------------------------------------------------------------------------------------
    def _action(self, menu: Any, text: str, slot: Callable, shortcut: Optional[Any] = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        from cvops_app.dialogs import classes, exporting, importing, shortcuts

        file = self.menuBar().addMenu("&File")
        self._action(file, "&New workspace…", self.new_workspace, QKeySequence.StandardKey.New)
        self._action(file, "&Open workspace…", self.open_workspace, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &recent")
        self._fill_recent()
        file.addSeparator()
        self.workspace_actions = [
            self._action(file, "&Import images…", lambda: importing.ImportImagesDialog(self).exec(), "Ctrl+I"),
            self._action(file, "Import &dataset…", lambda: importing.ImportDatasetDialog(self).exec(), "Ctrl+Shift+I"),
            self._action(file, "&Export dataset…", lambda: exporting.ExportDatasetDialog(self).exec(), "Ctrl+E"),
            self._action(file, "Export &model…", lambda: self.export_model()),
        ]
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = self.menuBar().addMenu("&Edit")
        self.workspace_actions += [
            self._action(edit, "&Undo", self.undo, QKeySequence.StandardKey.Undo),
            self._action(edit, "&Redo", self.redo, "Ctrl+Shift+Z"),
            self._action(edit, "&Classes…", lambda: classes.ClassesDialog(self).exec(), "Ctrl+K"),
            self._action(edit, "&Pre-label…", self.prelabel),
        ]
        view = self.menuBar().addMenu("&View")
        for n, (name, (_, _, title)) in enumerate(PAGES.items(), start=1):
            self.workspace_actions.append(
                self._action(view, title, lambda checked=False, p=name: self.show_page(p), f"Ctrl+{n}"))
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", lambda: shortcuts.ShortcutsDialog(self).exec(), "F1")
        self._action(help_menu, "&About", lambda: QMessageBox.about(
            self, APP_NAME, f"<b>{APP_NAME}</b><br>Offline computer-vision workbench.<br>AGPL-3.0-or-later."))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_workspaces:
            self._action(self.recent_menu, path, lambda checked=False, p=path: self.load_workspace(Path(p)))
        self.recent_menu.setEnabled(bool(self.settings.recent_workspaces))

    def _set_enabled(self, enabled: bool) -> None:
        for action in getattr(self, "workspace_actions", []):
            action.setEnabled(enabled)
        self.nav.setEnabled(enabled)

    # -- workspace ----------------------------------------------------------------------------------------------------
    def new_workspace(self) -> None:
        """Ask for an empty folder and create a workspace there."""
        folder = QFileDialog.getExistingDirectory(self, "Create a workspace in folder")
        if folder:
            self.load_workspace(Path(folder), create=True)

    def open_workspace(self) -> None:
        """Ask for a workspace folder and open it."""
        folder = QFileDialog.getExistingDirectory(self, "Open workspace folder")
        if folder:
            self.load_workspace(Path(folder))

    def load_workspace(self, path: Path, create: bool = False) -> bool:
        """Open (or create) a workspace and show its images; errors are shown, never raised."""
        try:
            ws = Workspace.create(path) if create else Workspace.open(path)
        except CvopsError as exc:
            QMessageBox.warning(self, APP_NAME, str(exc))
            return False
        self._close_workspace()
        self.ws = ws
        self.settings.remember(ws.root)
        self._save_settings()
        self._fill_recent()
        self.welcome.update_recent(self.settings.recent_workspaces)
        self.setWindowTitle(f"{APP_NAME} — {ws.root}")
        for page in self.pages.built():
            page.set_workspace(ws)
        self._set_enabled(True)
        self.workspace_changed.emit(ws)
        self.show_page("images")
        if ws.migrated_from is not None:
            self.notify(f"catalog migrated from schema {ws.migrated_from}; a backup is in {ws.root / 'backups'}")
        return True

    def _save_settings(self) -> None:
        try:
            settings_mod.save(self.settings, self.settings_path)
        except OSError as exc:
            self.notify(f"cannot save settings: {exc}")

    # -- navigation and shared actions --------------------------------------------------------------------------------
    def show_page(self, name: str) -> None:
        """Switch to a page by name."""
        page = self.pages[name]
        self.stack.setCurrentWidget(page)
        for row in range(self.nav.count()):
            if self.nav.item(row).data(Qt.ItemDataRole.UserRole) == name and self.nav.currentRow() != row:
                self.nav.setCurrentRow(row)
        page.setFocus()

    def open_annotator(self, image_id: int, sequence: Optional[Sequence[int]] = None) -> None:
        """Show one image in the annotator; ``sequence`` is the gallery's id order for previous/next."""
        page = self.pages["annotate"]
        if sequence is None:
            sequence = self.pages["images"].current_ids()
        page.show_image(image_id, sequence)
        self.show_page("annotate")

    def changed(self, *what: str) -> None:
        """Tell every page that data changed (after an edit)."""
        kinds = set(what) or {"images", "annotations", "classes", "status"}
        for page in self.pages.built():
            page.refresh(kinds)
        self.data_changed.emit(kinds)

    def prelabel(self) -> None:
        """Edit ▸ Pre-label…: model suggestions for the unlabeled (or the selected) images."""
        from cvops_app.dialogs.prelabel import PrelabelDialog

        if self.ws is not None:
            PrelabelDialog(self, self.pages["images"].selected_ids()).exec()

    def export_model(self, model_id: Optional[int] = None) -> Any:
        """File ▸ Export model… (and the Models page's Export…): the export → verify → bundle → deploy wizard for
        ``model_id`` (default: the champion)."""
        from cvops_app.dialogs.export_wizard import open_export_wizard

        previous = self.export_wizard
        if previous is not None and getattr(previous, "job", None) is None:
            previous.deleteLater()  # closed, with nothing running any more
        self.export_wizard = open_export_wizard(self, model_id)
        return self.export_wizard

    def undo(self) -> None:
        """Undo the last edit in the workspace (operation log)."""
        if self.ws is not None:
            op = self.ws.log.undo()
            self.notify(f"undid: {op.description}" if op else "nothing to undo")
            if op:
                self.changed()

    def redo(self) -> None:
        """Redo the last undone edit."""
        if self.ws is not None:
            op = self.ws.log.redo()
            self.notify(f"redid: {op.description}" if op else "nothing to redo")
            if op:
                self.changed()

    def notify(self, message: str, msecs: int = 6000) -> None:
        """A transient status-bar message."""
        self.statusBar().showMessage(message, msecs)

    def run_job(self, title: str, fn: JobFn, on_done: Optional[Callable[[Any], None]] = None) -> Any:
        """Run a core job in the background with progress and Cancel in the status bar; failures are shown."""
        def failed(detail: str) -> None:
            self.notify(f"{title} failed: {detail}", 15_000)
            QMessageBox.warning(self, APP_NAME, f"{title} failed:\n{detail}")

        return self.jobs.start(title, fn, on_done=on_done, on_error=failed,
                               on_cancel=lambda: self.notify(f"{title} cancelled"))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt)
        """Stop jobs, remember the geometry, close the workspace."""
        QSettings("CVOps", "Workbench").setValue("geometry", self.saveGeometry())
        self._close_workspace()
        super().closeEvent(event)

    def _close_workspace(self) -> None:
        """Stop background work, let pages drop their handles and threads, close the workspace."""
        if self.ws is None:
            return
        self.jobs.cancel_all()
        self.jobs.wait()
        for page in self.pages.built():
            page.set_workspace(None)
        self.ws.close()
        self.ws = None
