"""Workbench pages. Each page is a QWidget with ``name``, ``title``, ``set_workspace(ws)`` and ``refresh(what)``; it
gets the :class:`~cvops_app.context.AppContext`, never the main window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from PySide6.QtWidgets import QWidget

from cvops_app.context import AppContext

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


class Page(QWidget):
    """Base class of the pages in the main window's navigation. A page follows the context: a workspace opened or
    closed reaches :meth:`set_workspace`, a data change :meth:`refresh`. The workspace open when the page is built
    is given by whoever builds it (``page.set_workspace(ctx.ws)``), once the page is in place."""

    name = ""
    title = ""

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ws: Optional["Workspace"] = None
        ctx.workspace_changed.connect(self.set_workspace)
        ctx.data_changed.connect(self.refresh)

    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """A workspace was opened (or closed, with None)."""
        self.ws = ws

    def refresh(self, what: set[str]) -> None:
        """Data changed elsewhere: ``what`` holds some of "images", "annotations", "classes", "status"."""
