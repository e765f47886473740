"""The welcome page, shown while no workspace is open: create a workspace, open one, open the demo in one click, or
pick a recent workspace (missing folders are greyed and can be removed from the list).

The demo is built by the core's :func:`cvops.samples.demo.run_demo` (what ``cvops demo`` runs) as a background job
with progress and Cancel, into a folder next to where it ends up; only a finished demo is moved into place, so a
cancelled or failed build leaves nothing behind, and the next click starts afresh. A demo that exists is opened.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMenu, QMessageBox, QPushButton,
    QVBoxLayout, QWidget,
)

from cvops.common.jobs import CancelToken, Progress
from cvops.data.workspace import CATALOG_NAME
from cvops_app.context import AppContext
from cvops_app.icons import icon, set_icon

if TYPE_CHECKING:
    from cvops_app.jobs import Job

APP_NAME = "CVOps Workbench"
DEMO_FOLDER = "CVOps demo"
DEMO_IMAGES = 128  # as `cvops demo`: a few seconds on a laptop
PATH_ROLE = Qt.ItemDataRole.UserRole
MISSING_ROLE = Qt.ItemDataRole.UserRole + 1


def default_demo_path() -> Path:
    """Where the one-click demo goes: ``Documents/CVOps demo``, else the application's data folder, else the home
    folder."""
    for location in (QStandardPaths.StandardLocation.DocumentsLocation,
                     QStandardPaths.StandardLocation.AppDataLocation):
        folder = QStandardPaths.writableLocation(location)
        if folder:
            return Path(folder) / DEMO_FOLDER
    return Path.home() / DEMO_FOLDER


def is_workspace(path: Path) -> bool:
    """True when ``path`` holds a workspace catalog."""
    return (path / CATALOG_NAME).is_file()


def fill_recent_menu(menu: QMenu, paths: Sequence[str], open_path: Callable[[Path], object],
                     clear: Callable[[], object]) -> None:
    """File ▸ Open recent: one entry per recent workspace (a folder that is gone, or no workspace any more, greyed
    as on the welcome page, with a tooltip saying so), then "Clear recent"; the menu is disabled when empty."""
    menu.clear()
    menu.setToolTipsVisible(True)
    for path in paths:
        action = menu.addAction(path)
        action.setData(path)
        if is_workspace(Path(path)):
            action.setToolTip(f"Open {path}")
            action.triggered.connect(lambda checked=False, p=path: open_path(Path(p)))
        else:
            action.setEnabled(False)
            action.setToolTip(f"Folder not found: {path}" if not Path(path).is_dir() else
                              f"No workspace in {path} any more")
    if paths:
        menu.addSeparator()
        clear_action = menu.addAction(icon("clear-filter"), "Clear recent")
        clear_action.setObjectName("clear-recent")
        clear_action.triggered.connect(lambda checked=False: clear())
    menu.setEnabled(bool(paths))


def build_demo(path: Path, progress: Progress, cancel: CancelToken, count: int = DEMO_IMAGES) -> Path:
    """Build the demo workspace at ``path`` (a background job): in ``<path>.building`` first, moved into place when
    finished, so an interrupted build never leaves a half demo at ``path``."""
    from cvops.samples.demo import run_demo

    staging = path.with_name(path.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        run_demo(staging, count=count, progress=progress, cancel=cancel)
        cancel.raise_if_cancelled()
        if path.is_dir():
            path.rmdir()  # an empty folder (checked before the job started) gives way
        staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


class WelcomePage(QWidget):
    """Create, open, the demo, recent workspaces. It calls back into the main window (``window``) for the actions
    that open a workspace."""

    recent_changed = Signal()  # the recent list was edited here (the File menu follows)

    def __init__(self, ctx: AppContext, window: Any) -> None:
        super().__init__(window)
        self.ctx = ctx
        self.window_ = window
        self.demo_path = default_demo_path()
        self.demo_images = DEMO_IMAGES
        self.demo_job: Optional["Job"] = None
        self.setObjectName("welcome")
        title = QLabel(f"<h1>{APP_NAME}</h1><p>Label images, version datasets, train and deploy detection models — "
                       "offline, on this computer.</p>", self)
        title.setWordWrap(True)
        self.new_button = self._button("new-workspace", "New workspace…",
                                       "Create a workspace in an empty folder, then import your images (Ctrl+I).",
                                       window.new_workspace)
        self.open_button = self._button("open-workspace", "Open workspace…",
                                        "Open a workspace folder made here or with the cvops command.",
                                        window.open_workspace)
        self.demo_button = self._button("open-demo", "Open the demo",
                                        f"A ready-made workspace of {DEMO_IMAGES} labelled synthetic images (circles, "
                                        "squares, triangles) to try everything on: one click.", self.open_demo)
        for button, name in ((self.new_button, "new"), (self.open_button, "open"), (self.demo_button, "demo")):
            set_icon(button, name)
        self.demo_status = QLabel(self)
        self.demo_status.setObjectName("demo-status")
        self.demo_status.setWordWrap(True)
        self.recent = QListWidget(self)
        self.recent.setObjectName("recent-workspaces")
        self.recent.setSpacing(3)
        self.recent.itemActivated.connect(self._activated)
        self.recent.currentItemChanged.connect(lambda *_: self._update_remove())
        self.remove_button = QPushButton(icon("remove"), "Remove from list", self)
        self.remove_button.setObjectName("remove-recent")
        self.remove_button.clicked.connect(self.remove_current)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.recent, self.remove_current,
                  context=Qt.ShortcutContext.WidgetShortcut)
        self.recent_label = QLabel("<b>Recent workspaces</b>", self)

        font = self.demo_button.font()
        font.setBold(True)
        self.demo_button.setFont(font)
        actions = QGridLayout()
        actions.setHorizontalSpacing(16)
        for row, button in enumerate((self.demo_button, self.new_button, self.open_button)):
            hint = QLabel(button.toolTip(), self)
            hint.setWordWrap(True)
            actions.addWidget(button, row, 0)
            actions.addWidget(hint, row, 1)
        actions.setColumnStretch(1, 1)
        column = QVBoxLayout()
        column.setSpacing(10)
        column.addWidget(title)
        column.addLayout(actions)
        column.addWidget(self.demo_status)
        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        column.addWidget(line)
        column.addWidget(self.recent_label)
        column.addWidget(self.recent, 1)
        remove_row = QHBoxLayout()
        remove_row.addStretch(1)
        remove_row.addWidget(self.remove_button)
        column.addLayout(remove_row)
        box = QWidget(self)
        box.setLayout(column)
        box.setMaximumWidth(640)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(box, 3)
        outer.addStretch(1)
        self.update_recent(ctx.settings.recent_workspaces)

    def _button(self, name: str, text: str, tip: str, slot: Any) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.setMinimumHeight(button.sizeHint().height() + 12)
        button.setMinimumWidth(190)
        button.clicked.connect(lambda _=False: slot())
        return button

    # -- recent workspaces --------------------------------------------------------------------------------------------
    def update_recent(self, paths: Sequence[str]) -> None:
        """Show the recent workspaces: name and folder; a folder that is gone (or no workspace any more) greyed."""
        self.recent.clear()
        grey = self.palette().color(self.palette().ColorGroup.Disabled, self.palette().ColorRole.Text)
        for path in paths:
            missing = not is_workspace(Path(path))
            name = Path(path).name or path
            item = QListWidgetItem(f"{name}\n{path}" + ("  — not found" if missing else ""), self.recent)
            item.setData(PATH_ROLE, path)
            item.setData(MISSING_ROLE, missing)
            if missing:
                item.setForeground(grey)
                item.setToolTip(f"{path} is not found (moved or deleted?). Del removes it from the list.")
            else:
                item.setToolTip(f"Open {path}")
        self.recent_label.setText("<b>Recent workspaces</b>" if paths else
                                  "<b>Recent workspaces</b> — none yet: the workspaces you open are listed here.")
        self._update_remove()

    def _update_remove(self) -> None:
        self.remove_button.setEnabled(self.recent.currentItem() is not None)

    def _activated(self, item: QListWidgetItem) -> None:
        path = str(item.data(PATH_ROLE))
        if item.data(MISSING_ROLE) and not is_workspace(Path(path)):
            answer = QMessageBox.question(self, APP_NAME, f"{path} is not found: it was moved or deleted.\n"
                                          "Remove it from the recent workspaces?")
            if answer == QMessageBox.StandardButton.Yes:
                self.forget(path)
            return
        self.window_.load_workspace(Path(path))

    def remove_current(self) -> None:
        """Remove the selected entry from the recent workspaces (the folder itself stays)."""
        item = self.recent.currentItem()
        if item is not None:
            self.forget(str(item.data(PATH_ROLE)))

    def forget(self, path: str) -> None:
        """Drop ``path`` from the recent workspaces and save the settings."""
        settings = self.ctx.settings
        settings.recent_workspaces = [p for p in settings.recent_workspaces if p != path]
        self.ctx.save_settings()
        self.update_recent(settings.recent_workspaces)
        self.recent_changed.emit()

    def clear_recent(self) -> None:
        """Empty the recent workspaces (File ▸ Open recent ▸ Clear recent; the folders stay)."""
        self.ctx.settings.recent_workspaces = []
        self.ctx.save_settings()
        self.update_recent([])
        self.recent_changed.emit()

    # -- the demo -----------------------------------------------------------------------------------------------------
    def open_demo(self) -> Optional["Job"]:
        """Open the demo workspace, building it first (a background job) when it is not there yet; returns that
        job, or None."""
        path = self.demo_path
        if is_workspace(path):
            self.window_.load_workspace(path)
            return None
        if self.demo_job is not None:
            return self.demo_job
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            QMessageBox.warning(self, APP_NAME, f"{path} exists and is not a workspace: move it away to build the "
                                "demo there.")
            return None
        self.demo_button.setEnabled(False)
        self.demo_status.setText(f"Building the demo in {path}…")
        count = self.demo_images
        job = self.ctx.run_job("Build the demo workspace",
                               lambda progress, cancel: build_demo(path, progress, cancel, count),
                               on_done=self._demo_built)
        job.signals.progress.connect(
            lambda fraction, message: self.demo_status.setText(f"Building the demo in {path}: {message} "
                                                               f"({fraction:.0%}) — Cancel in the status bar"))
        job.signals.cancelled.connect(lambda: self._demo_ended("Demo cancelled: nothing was kept."))
        job.signals.failed.connect(lambda detail: self._demo_ended(f"The demo could not be built: {detail}"))
        self.demo_job = job
        return job

    def _demo_built(self, path: Path) -> None:
        self._demo_ended("")
        if self.ctx.ws is None:
            self.window_.load_workspace(path)
            return
        self.ctx.settings.remember(path)  # another workspace was opened meanwhile: it stays open
        self.ctx.save_settings()
        self.update_recent(self.ctx.settings.recent_workspaces)
        self.recent_changed.emit()
        self.ctx.notify(f"The demo is ready in {path}: File ▸ Open recent", 15_000)

    def _demo_ended(self, text: str) -> None:
        self.demo_job = None
        self.demo_button.setEnabled(True)
        self.demo_status.setText(text)
