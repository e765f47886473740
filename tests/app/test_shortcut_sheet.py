"""The F1 sheet: every shortcut the workbench binds is in the table and on the sheet, and at its default size the
sheet shows every row and every action in full (nothing to scroll, nothing clipped, nothing elided)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QKeySequence, QShortcut

from cvops.catalog.settings import Settings
from cvops_app.dialogs.shortcuts import ShortcutsDialog, keys_text
from cvops_app.mainwindow import PAGES, MainWindow
from cvops_app.shortcuts import SHORTCUTS


def bound_keys(window: MainWindow) -> set[str]:
    """Every key sequence bound in the window: menu actions, page actions and shortcuts."""
    keys: set[str] = set()
    for action in window.findChildren(QAction):
        keys.update(k.toString(QKeySequence.SequenceFormat.PortableText) for k in action.shortcuts())
    for shortcut in window.findChildren(QShortcut):
        keys.add(shortcut.key().toString(QKeySequence.SequenceFormat.PortableText))
    return keys - {""}


def test_every_bound_shortcut_is_in_the_table_and_on_the_sheet(qtbot, tmp_path: Path) -> None:
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    window = MainWindow(settings=Settings(), settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(window)
    assert window.load_workspace(tmp_path / "ws", create=True)
    for name in PAGES:
        window.pages[name]  # noqa: B018 (build every page: their actions join the window)
    table = {QKeySequence(k).toString(QKeySequence.SequenceFormat.PortableText) for s in SHORTCUTS for k in s.keys}
    bound = bound_keys(window)
    assert {f"Ctrl+{n}" for n in range(1, len(PAGES) + 1)} <= bound
    assert bound - table == set(), "bound but missing from the shortcut table"
    sheet = ShortcutsDialog(window)
    qtbot.addWidget(sheet)
    rows = {(tree.topLevelItem(g).child(c).text(0), tree.topLevelItem(g).child(c).text(1))
            for tree in sheet.trees for g in range(tree.topLevelItemCount())
            for c in range(tree.topLevelItem(g).childCount())}
    assert {(keys_text(s), s.description) for s in SHORTCUTS} == rows
    window.close()


def test_the_sheet_shows_every_row_in_full_at_its_default_size(qtbot) -> None:
    sheet = ShortcutsDialog()
    qtbot.addWidget(sheet)
    sheet.show()
    qtbot.waitExposed(sheet)
    assert len(sheet.visible_actions()) == len(SHORTCUTS)
    for tree in sheet.trees:
        assert tree.verticalScrollBar().maximum() == 0, "the sheet scrolls"
        viewport = tree.viewport().rect()
        for g in range(tree.topLevelItemCount()):
            group = tree.topLevelItem(g)
            for item in [group] + [group.child(c) for c in range(group.childCount())]:
                rect = tree.visualItemRect(item)
                assert viewport.contains(rect.bottomLeft()), f"row {item.text(1)!r} is cut off"
        for column in (0, 1):
            assert tree.columnWidth(column) >= tree.sizeHintForColumn(column), "an action is elided"
        assert tree.columnWidth(0) + tree.columnWidth(1) <= viewport.width()
    assert all(sheet.rect().contains(tree.geometry()) for tree in sheet.trees)


def test_the_sheet_groups_and_searches(qtbot) -> None:
    sheet = ShortcutsDialog()
    qtbot.addWidget(sheet)
    assert sheet.groups() == list(dict.fromkeys(s.context for s in SHORTCUTS))
    sheet.search.setText("POLYGON")
    shown = sheet.visible_actions()
    assert shown and all("olygon" in s for s in shown)
    sheet.search.setText("ctrl+shift+z")
    assert sheet.visible_actions() == ["Redo"]
    sheet.search.setText("")
    assert len(sheet.visible_actions()) == len(SHORTCUTS)
