"""File ▸ Open recent and the welcome page's recent list: which recent folders still hold a workspace (a module of
its own, light, so that the main window's menus need not import the welcome page at start-up)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtWidgets import QMenu

from cvops.data.workspace import CATALOG_NAME
from cvops_app.icons import icon


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
