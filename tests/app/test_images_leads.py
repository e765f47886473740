"""The Images page leads: a filter with no matches says so with Clear filters and disables every bulk action, an
empty workspace offers Import images…, the selection count is shown next to the bulk actions, the menu buttons draw
a real arrow (not Fusion's corner underscore), and the gallery's current image follows the annotator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog, QMessageBox, QPushButton
from timing_testing import WAIT_MS

from cvops.catalog.settings import Settings
from cvops.data.workspace import Workspace
from cvops.samples.demo import run_demo
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.images import ImagesPage


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("leads") / "ws"
    run_demo(root, count=12)
    return root


def open_window(qtbot: Any, root: Path, tmp_path: Path) -> MainWindow:
    window = MainWindow(settings=Settings(gallery_icon_size=64), settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    assert window.load_workspace(root)
    qtbot.waitUntil(window.pages["images"].settled, timeout=WAIT_MS)
    return window


@pytest.fixture
def window(qtbot: Any, demo_source: Path, tmp_path: Path) -> Iterator[MainWindow]:
    shutil.copytree(demo_source, tmp_path / "ws")
    win = open_window(qtbot, tmp_path / "ws", tmp_path)
    yield win
    win.ctx.close_workspace()


def select(page: ImagesPage, first: int, last: int) -> None:
    selection = QItemSelection(page.model.index(first, 0), page.model.index(last, 0))
    page.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)


def bulk_enabled(page: ImagesPage) -> list[bool]:
    return [b.isEnabled() for b in page.buttons] + [page.trash_action.isEnabled()]


def test_no_matches_leads_back_and_disables_bulk_actions(qtbot: Any, window: MainWindow,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    page = window.pages["images"]
    assert page.empty.message() is None
    select(page, 0, 2)
    assert bulk_enabled(page) == [True, True, True, True]
    assert page.selection_count.text() == "3 of 12 selected"
    page.search.setText("no-such-file")
    qtbot.waitUntil(lambda: page.settled() and page.model.rowCount() == 0, timeout=WAIT_MS)
    assert page.empty.message() == "No images match these filters." and page.empty.isVisible()
    assert page.empty.button.text() == "Clear filters"
    assert bulk_enabled(page) == [False, False, False, False]  # nothing left to act on
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append("trash") or QMessageBox.StandardButton.Yes)
    page.view.setFocus()
    QTest.keyClick(page.view, Qt.Key.Key_Delete)
    assert asked == []
    page.status_box.setCurrentIndex(page.status_box.findData("rejected"))
    qtbot.waitUntil(lambda: page.settled() and page.shown_filter.status == "rejected", timeout=WAIT_MS)
    assert page.empty.message() is not None
    page.empty.button.click()
    qtbot.waitUntil(lambda: page.settled() and page.model.rowCount() == 12, timeout=WAIT_MS)
    assert page.search.text() == "" and page.status_box.currentData() is None and page.empty.message() is None
    assert page.selection_count.text() == "None selected" and bulk_enabled(page) == [False, False, False, False]
    page.view.selectAll()
    assert page.selection_count.text() == "All 12 selected" and all(bulk_enabled(page))


def test_an_empty_workspace_offers_import(qtbot: Any, tmp_path: Path) -> None:
    Workspace.create(tmp_path / "empty").close()
    window = open_window(qtbot, tmp_path / "empty", tmp_path)
    page = window.pages["images"]
    qtbot.waitUntil(lambda: page.empty.message() is not None, timeout=WAIT_MS)
    assert "No images" in page.empty.message() and page.empty.button.text() == "Import images…"
    assert page.selection_count.text() == ""
    page.empty.button.click()
    dialogs = [d for d in page.findChildren(QDialog) if d.isVisible()]
    assert [d.windowTitle() for d in dialogs] == ["Import images"]
    dialogs[0].reject()
    window.ctx.close_workspace()


def arrow_box(button: QPushButton) -> tuple[int, int, int, int]:
    """The bounding box (left, top, right, bottom) of the rightmost dark mark inside the button's frame."""
    image = button.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    width, height = image.width(), image.height()
    dark = [[image.pixelColor(x, y).value() < 170 for x in range(width)] for y in range(height)]
    columns = [x for x in range(3, width - 3) if any(dark[y][x] for y in range(3, height - 3))]
    assert columns, "nothing drawn inside the button"
    right = columns[-1]
    left = right
    while left - 1 in columns:
        left -= 1
    rows = [y for y in range(3, height - 3) if any(dark[y][x] for x in range(left, right + 1))]
    return left, rows[0], right, rows[-1]


def test_menu_buttons_draw_a_real_arrow(window: MainWindow) -> None:
    page = window.pages["images"]
    select(page, 0, 0)
    for button in page.buttons[:2]:
        assert button.menu() is not None and button.isEnabled()
        left, top, right, bottom = arrow_box(button)
        height = button.height()
        assert bottom - top >= 2 and right - left >= 3, (button.text(), left, top, right, bottom)  # a triangle
        assert 0.3 * height <= (top + bottom) / 2 <= 0.7 * height, (button.text(), top, bottom, height)  # centred
        assert left > button.fontMetrics().horizontalAdvance(button.text())  # after the text, not in it


def test_the_gallery_follows_the_annotator(qtbot: Any, window: MainWindow) -> None:
    page = window.pages["images"]
    ids = list(page.current_ids())
    select(page, 0, 2)
    page.view.selectionModel().setCurrentIndex(page.model.index(0, 0), QItemSelectionModel.SelectionFlag.NoUpdate)
    QTest.keyClick(page.view, Qt.Key.Key_Return)  # open the current image: the selection of three stays
    annotate = window.pages["annotate"]
    qtbot.waitUntil(annotate.settled, timeout=WAIT_MS)
    assert annotate.image.id == ids[0] and page.selected_ids() == ids[:3]
    annotate.actions_by_id["next_image"].trigger()  # D
    annotate.actions_by_id["next_image"].trigger()
    assert page.view.currentIndex().row() == 2 and page.selected_ids() == [ids[2]]
    annotate.actions_by_id["previous_image"].trigger()  # A
    assert page.selected_ids() == [ids[1]]
    window.show_page("images")
    assert page.view.currentIndex().row() == 1 and page.selection_count.text() == "1 of 12 selected"
    window.open_annotator(ids[7], [ids[7], ids[3]])  # an order of its own (the queue): the gallery still follows
    annotate.actions_by_id["next_image"].trigger()
    assert page.selected_ids() == [ids[3]]
