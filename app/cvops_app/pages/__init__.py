"""Workbench pages. Each page is a QWidget with ``name``, ``title``, ``set_workspace(ws)`` and ``refresh(what)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace
    from cvops_app.mainwindow import MainWindow


class Page(QWidget):
    """Base class of the pages in the main window's navigation."""

    name = ""
    title = ""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window_ = window
        self.ws: Optional["Workspace"] = None

    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """A workspace was opened (or closed, with None)."""
        self.ws = ws

    def refresh(self, what: set[str]) -> None:
        """Data changed elsewhere: ``what`` holds some of "images", "annotations", "classes", "status"."""
