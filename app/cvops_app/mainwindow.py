"""The main window: workspace lifecycle, page navigation, menus, and the status-bar job area.

It creates the :class:`~cvops_app.context.AppContext` that pages and dialogs get (they never see the window) and
connects the context's signals: notifications to the status bar, failed jobs to a message box, navigation requests to
the page stack, export requests to the export wizard.

Start-up builds only the Images page (the welcome page only when the window shows without a workspace); each other
page (and what it imports: charts, the annotation canvas, the
training code) is built the first time it is shown or asked for (:class:`Pages`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QListWidget, QListWidgetItem, QMainWindow, QMessageBox, QPushButton, QStackedWidget,
    QWidget,
)

from cvops.catalog.settings import Settings
from cvops.common.errors import CvopsError
from cvops.data.workspace import Workspace
from cvops_app.context import AppContext
from cvops_app.icons import icon
from cvops_app.jobs import Job, JobFn, JobManager, JobsWidget
from cvops_app.pages import Page
from cvops_app.pages.recent import fill_recent_menu
from cvops_app.theme import Theme, app_icon, theme_menu

if TYPE_CHECKING:
    from cvops_app.pages.welcome import WelcomePage

APP_NAME = "CVOps Workbench"
# the pages in navigation order: name -> (module, class, title)
PAGES = {
    "images": ("cvops_app.pages.images", "ImagesPage", "Images"),
    "annotate": ("cvops_app.pages.annotate", "AnnotatePage", "Annotate"),
    "versions": ("cvops_app.pages.versions", "VersionsPage", "Versions"),
    "train": ("cvops_app.pages.train", "TrainPage", "Train"),
    "tune": ("cvops_app.pages.tune", "TunePage", "Tune"),
    "models": ("cvops_app.pages.models", "ModelsPage", "Models"),
    "automation": ("cvops_app.pages.automation", "AutomationPage", "Automation"),
    "monitor": ("cvops_app.pages.monitor", "MonitorPage", "Monitor"),
}


class Pages(Mapping[str, Page]):
    """The main window's pages by name, each built on first use: ``pages[name]`` builds it (it joins the page
    stack and gets the open workspace). :meth:`built` lists those built so far; each follows the context's workspace
    and data changes from then on (a page built later reads the workspace as it is then)."""

    def __init__(self, window: "MainWindow") -> None:
        self.window = window
        self._built: dict[str, Page] = {}

    def __getitem__(self, name: str) -> Page:
        page = self._built.get(name)
        if page is None:
            module, cls, _ = PAGES[name]
            page = getattr(importlib.import_module(module), cls)(self.window.ctx, self.window)
            self._built[name] = page
            self.window.stack.addWidget(page)
            if self.window.ctx.ws is not None:
                page.set_workspace(self.window.ctx.ws)
        return page

    def __iter__(self) -> Iterator[str]:
        return iter(PAGES)

    def __len__(self) -> int:
        return len(PAGES)

    def built(self) -> list[Page]:
        """The pages built so far, in navigation order."""
        return [self._built[name] for name in PAGES if name in self._built]


class MainWindow(QMainWindow):
    """Holds the application context and the pages. Pages and dialogs talk to the core through the context
    (``ctx.ws`` on the GUI thread, ``ctx.run_job`` in the background, ``ctx.changed`` after an edit)."""

    def __init__(self, settings: Optional[Settings] = None, settings_path: Optional[Path] = None) -> None:
        super().__init__()
        self.ctx = AppContext(settings, settings_path, self)
        self.export_wizard: Optional[QWidget] = None  # the last export wizard opened
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.theme = Theme(self.settings.theme, self)
        self.nav = QListWidget(self)
        self.nav.setObjectName("navigation")
        self.nav.setIconSize(QSize(18, 18))
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.nav.setStyleSheet("QListWidget#navigation { font-size: 12pt; padding-top: 8px; border: none; "
                               "background: palette(window); } "
                               "QListWidget#navigation::item { padding: 10px 6px; }")
        self.stack = QStackedWidget(self)
        self._welcome: Optional["WelcomePage"] = None  # built when first needed: not on a start-up with a workspace
        self.pages = Pages(self)
        for name, (_, _, title) in PAGES.items():
            item = QListWidgetItem(icon(name), title, self.nav)
            item.setData(Qt.ItemDataRole.UserRole, name)
        # wide enough for the longest title beside its icon (fonts differ between platforms)
        self.nav.setFixedWidth(max(136, self.nav.sizeHintForColumn(0) + 2))
        self.nav.currentItemChanged.connect(
            lambda item, _: item is not None and self.show_page(item.data(Qt.ItemDataRole.UserRole)))
        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.jobs_widget = JobsWidget(self.ctx.jobs, self)
        self.statusBar().addPermanentWidget(self.jobs_widget)
        # reserve a job row's height: a job starting must not resize (and so repaint) the whole page above
        self.jobs_widget.setMinimumHeight(QPushButton("Cancel").sizeHint().height())
        self._build_menus()
        self.pages["images"].open_image.connect(self.open_annotator)
        self.ctx.message.connect(self.statusBar().showMessage)
        self.ctx.job_failed.connect(
            lambda title, detail: QMessageBox.warning(self, APP_NAME, f"{title} failed:\n{detail}"))
        self.ctx.open_images.connect(self.open_annotator)
        self.ctx.open_review.connect(self.open_annotator)
        self.ctx.page_requested.connect(self.show_page)
        self.ctx.export_model_requested.connect(self.export_model)
        self.ctx.train_requested.connect(self.train_with)
        self._set_enabled(False)
        geometry = QSettings("CVOps", "Workbench").value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        for problem in self.settings.problems:
            self.statusBar().showMessage(problem, 10_000)

    # -- the context's parts, for scripts and tests -------------------------------------------------------------------
    @property
    def ws(self) -> Optional[Workspace]:
        """The open workspace (``ctx.ws``)."""
        return self.ctx.ws

    @property
    def settings(self) -> Settings:
        """The settings (``ctx.settings``)."""
        return self.ctx.settings

    @property
    def jobs(self) -> JobManager:
        """The job runner (``ctx.jobs``)."""
        return self.ctx.jobs

    # -- menus --------------------------------------------------------------------------------------------------------
    def _action(self, menu: Any, text: str, slot: Callable, shortcut: Optional[Any] = None,
                icon_name: Optional[str] = None) -> QAction:
        action = QAction(icon(icon_name), text, self) if icon_name else QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _dialog(self, name: str) -> Callable[[], Any]:
        """A slot that opens ``cvops_app.dialogs.<module>.<class>`` (``name``: "module.Class") on the context, modal;
        the module is imported then, not at start-up (the import and export dialogs bring the format readers)."""
        module, cls = name.split(".")

        def open_dialog() -> Any:
            return getattr(importlib.import_module(f"cvops_app.dialogs.{module}"), cls)(self.ctx, parent=self).exec()

        return open_dialog

    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        self._action(file, "&New workspace…", self.new_workspace, QKeySequence.StandardKey.New, "new")
        self._action(file, "&Open workspace…", self.open_workspace, QKeySequence.StandardKey.Open, "open")
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)  # a folder may have gone since
        self._fill_recent()
        file.addSeparator()
        self.workspace_actions = [
            self._action(file, "&Import images…", self._dialog("importing.ImportImagesDialog"), "Ctrl+I",
                         "import-images"),
            self._action(file, "Import &dataset…", self._dialog("importing.ImportDatasetDialog"), "Ctrl+Shift+I",
                         "import"),
            self._action(file, "&Export dataset…", self._dialog("exporting.ExportDatasetDialog"), "Ctrl+E", "export"),
            self._action(file, "Export &model…", lambda: self.export_model(), icon_name="export-model"),
        ]
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = self.menuBar().addMenu("&Edit")
        self.workspace_actions += [
            self._action(edit, "&Undo", self.undo, QKeySequence.StandardKey.Undo, "undo"),
            self._action(edit, "&Redo", self.redo, "Ctrl+Shift+Z", "redo"),
            self._action(edit, "&Classes…", self._dialog("classes.ClassesDialog"), "Ctrl+K", "classes"),
            self._action(edit, "&Tags…", self._tags_dialog, icon_name="tag"),
            self._action(edit, "&Pre-label…", self.prelabel, icon_name="prelabel"),
        ]
        view = self.menuBar().addMenu("&View")
        for n, (name, (_, _, title)) in enumerate(PAGES.items(), start=1):
            self.workspace_actions.append(
                self._action(view, title, lambda checked=False, p=name: self.show_page(p), f"Ctrl+{n}", name))
        view.addSeparator()
        theme_menu(view, self.settings.theme, self.set_theme)
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self.show_shortcuts, "F1", "keyboard")
        self._action(help_menu, "&About", lambda: QMessageBox.about(
            self, APP_NAME, f"<b>{APP_NAME}</b><br>Offline computer-vision workbench.<br>AGPL-3.0-or-later."))

    def _fill_recent(self) -> None:
        fill_recent_menu(self.recent_menu, self.settings.recent_workspaces, self.load_workspace, self.clear_recent)

    def clear_recent(self) -> None:
        """Empty the recent workspaces (File ▸ Open recent ▸ Clear recent; the folders stay)."""
        self.settings.recent_workspaces = []
        self.ctx.save_settings()
        self._fill_recent()
        self._update_welcome()

    def _tags_dialog(self) -> None:
        from cvops_app.dialogs.tags_dialog import open_tags_dialog

        open_tags_dialog(self.ctx, self)

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
            self._update_welcome()  # a recent folder may be gone
            return False
        self.ctx.set_workspace(ws)  # the built pages follow
        self.settings.remember(ws.root)
        self.ctx.save_settings()
        self._fill_recent()
        self._update_welcome()
        self.setWindowTitle(f"{APP_NAME} — {ws.root}")
        self._set_enabled(True)
        self.show_page("images")
        if ws.migrated_from is not None:
            self.notify(f"catalog migrated from schema {ws.migrated_from}; a backup is in {ws.root / 'backups'}")
        return True

    @property
    def welcome(self) -> "WelcomePage":
        """The welcome page (the stack's first widget, current while no workspace is open), built on first use."""
        if self._welcome is None:
            from cvops_app.pages.welcome import WelcomePage

            self._welcome = WelcomePage(self.ctx, self)
            self._welcome.recent_changed.connect(self._fill_recent)
            self.stack.insertWidget(0, self._welcome)
            if self.ws is None:
                self.stack.setCurrentWidget(self._welcome)
        return self._welcome

    def _update_welcome(self) -> None:
        if self._welcome is not None:  # else it reads the list when it is built
            self._welcome.update_recent(self.settings.recent_workspaces)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Shown without a workspace: the welcome page."""
        if self.ws is None:
            self.stack.setCurrentWidget(self.welcome)
        super().showEvent(event)

    # -- navigation and shared actions --------------------------------------------------------------------------------
    def show_page(self, name: str) -> None:
        """Switch to a page by name."""
        page = self.pages[name]
        self.stack.setCurrentWidget(page)
        for row in range(self.nav.count()):
            if self.nav.item(row).data(Qt.ItemDataRole.UserRole) == name and self.nav.currentRow() != row:
                self.nav.setCurrentRow(row)
        page.setFocus()

    def open_annotator(self, image_id: int, sequence: Optional[Sequence[int]] = None, review: Any = None) -> None:
        """Show one image in the annotator; ``sequence`` is the gallery's id order for previous/next; ``review``: the
        evaluation whose predictions to draw (``ctx.open_annotator``)."""
        page = self.pages["annotate"]
        if sequence is None:
            sequence = self.pages["images"].current_ids()
        page.show_image(image_id, sequence, review)
        self.show_page("annotate")

    def changed(self, *what: str) -> None:
        """Tell every page that data changed (``ctx.changed``)."""
        self.ctx.changed(*what)

    def train_with(self, options: dict[str, Any]) -> None:
        """Show the Train page with its settings filled from ``options`` (the Tune page's best parameters)."""
        self.pages["train"].use_options(options)
        self.show_page("train")

    def prelabel(self) -> None:
        """Edit ▸ Pre-label…: model suggestions for the unlabeled (or the selected) images."""
        from cvops_app.dialogs.prelabel import PrelabelDialog

        if self.ws is not None:
            PrelabelDialog(self.ctx, self.pages["images"].selected_ids(), self).exec()

    def export_model(self, model_id: Optional[int] = None) -> Any:
        """File ▸ Export model… (and the Models page's Export…): the export → verify → bundle → deploy wizard for
        ``model_id`` (default: the champion)."""
        from cvops_app.dialogs.export_wizard import open_export_wizard

        previous = self.export_wizard
        if previous is not None and getattr(previous, "job", None) is None:
            previous.deleteLater()  # closed, with nothing running any more
        self.export_wizard = open_export_wizard(self.ctx, self, model_id)
        return self.export_wizard

    def show_shortcuts(self) -> None:
        """Help ▸ Keyboard shortcuts (F1)."""
        from cvops_app.dialogs.shortcuts import ShortcutsDialog

        ShortcutsDialog(self).exec()

    def set_theme(self, mode: str) -> None:
        """View ▸ Theme: follow the system, or always light or dark; remembered in the settings."""
        self.settings.theme = mode
        self.ctx.save_settings()
        self.theme.apply(mode)

    def undo(self) -> None:
        """Undo the last edit in the workspace (``ctx.undo``)."""
        self.ctx.undo()

    def redo(self) -> None:
        """Redo the last undone edit (``ctx.redo``)."""
        self.ctx.redo()

    def notify(self, message: str, msecs: int = 6000) -> None:
        """A transient status-bar message (``ctx.notify``)."""
        self.ctx.notify(message, msecs)

    def run_job(self, title: str, fn: JobFn, on_done: Optional[Callable[[Any], None]] = None) -> Job:
        """Run a core job in the background (``ctx.run_job``)."""
        return self.ctx.run_job(title, fn, on_done)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt)
        """Stop jobs, remember the geometry, close the workspace."""
        QSettings("CVOps", "Workbench").setValue("geometry", self.saveGeometry())
        self.ctx.jobs.cancel_all()  # a job without a workspace too (the demo being built)
        self._close_workspace()
        super().closeEvent(event)

    def _close_workspace(self) -> None:
        """Stop background work, let pages drop their handles and threads, close the workspace."""
        self.ctx.close_workspace()
