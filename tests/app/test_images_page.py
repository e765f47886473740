"""The Images page: rows equal the core's ids for every filter and sort, thumbnails arrive after a placeholder,
search is debounced, bulk status / tag / trash through the real actions undo with the operation log, counts update,
a double-click or Enter opens the image; and once through the real main window."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QVBoxLayout, QWidget

from cvops.samples.demo import run_demo
from cvops.data.images import ImageFilter
from cvops.catalog.settings import Settings
from cvops.data.workspace import Workspace
from cvops_app.gallery import ANNOTATIONS_ROLE, ID_ROLE, STATUS_ROLE, relocate
from cvops_app.context import AppContext
from cvops_app.pages import images as images_mod
from cvops_app.pages.images import ImagesPage

WAIT_MS = 60_000  # generous: a busy machine only makes the wait longer


class Gallery(QWidget):
    """The Images page on a real application context, with the notifications the context sent."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.ctx = AppContext(settings, parent=self)
        self.jobs = self.ctx.jobs
        self.messages: list[str] = []
        self.ctx.message.connect(lambda text, msecs: self.messages.append(text))
        self.page = ImagesPage(self.ctx)
        QVBoxLayout(self).addWidget(self.page)

    @property
    def ws(self) -> Optional[Workspace]:
        return self.ctx.ws

    def changed(self, *what: str) -> None:
        self.ctx.changed(*what)


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gallery") / "ws"
    run_demo(root, count=24)
    return root


@pytest.fixture
def window(qtbot, demo_source: Path, tmp_path: Path) -> Iterator[Gallery]:  # noqa: ANN001
    shutil.copytree(demo_source, tmp_path / "ws")
    win = Gallery(Settings(gallery_icon_size=96))
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    win.ctx.set_workspace(Workspace.open(tmp_path / "ws"))  # the page follows the context
    qtbot.waitUntil(win.page.settled, timeout=WAIT_MS)
    yield win
    win.jobs.wait()
    win.ctx.close_workspace()


def rows(page: ImagesPage) -> list[int]:
    return [page.model.index(r, 0).data(ID_ROLE) for r in range(page.model.rowCount())]


def choose(box: Any, data: Any) -> None:
    box.setCurrentIndex(next(i for i in range(box.count()) if box.itemData(i) == data))


def select_rows(page: ImagesPage, *row_numbers: int) -> None:
    selection = QItemSelection()
    for row in row_numbers:
        selection.select(page.model.index(row, 0), page.model.index(row, 0))
    page.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)


def test_relocate_maps_selected_rows_to_runs_in_the_new_order() -> None:
    assert relocate([5, 6, 7, 8], [(0, 1), (3, 3)], [8, 1, 5, 6, 2]) == [(0, 0), (2, 3)]
    assert relocate([5, 6], [], [5, 6]) == []


def test_rows_equal_the_core_ids_for_every_filter_and_sort(window: Gallery, qtbot) -> None:  # noqa: ANN001
    page, ws = window.page, window.ws
    assert rows(page) == list(ws.images.ids()) and len(rows(page)) == 24
    circle = ws.classes.get("circle").id
    ws.tags.tag(rows(page)[:3], "night", create=True)
    window.changed("tags")
    night = ws.tags.get("night").id
    assert list(page.tag_filter.tag_actions) == [night]
    cases: list[tuple[Callable[[], None], ImageFilter]] = [
        (lambda: choose(page.status_box, "needs_review"), ImageFilter(status="needs_review")),
        (lambda: choose(page.status_box, None), ImageFilter()),
        (lambda: choose(page.class_box, circle), ImageFilter(class_id=circle)),
        (lambda: choose(page.class_box, None), ImageFilter()),
        (lambda: page.tag_filter.set_selection([night]), ImageFilter(tag_ids=(night,))),
        (lambda: page.tag_filter.set_selection([], untagged=True), ImageFilter(untagged=True)),
        (lambda: page.tag_filter.set_selection([]), ImageFilter()),
        (lambda: choose(page.annotated_box, True), ImageFilter(annotated=True)),
        (lambda: choose(page.annotated_box, False), ImageFilter(annotated=False)),
        (lambda: choose(page.annotated_box, None), ImageFilter()),
    ]
    for apply, expected in cases:
        apply()
        qtbot.waitUntil(page.settled, timeout=WAIT_MS)
        assert page.current_filter() == expected
        assert rows(page) == list(ws.images.ids(expected)) == list(page.current_ids())
    assert rows(page) and page.model.rowCount() == len(ws.images.ids())
    for order in ("file_name", "-created", "status", "id"):
        choose(page.sort_box, order)
        qtbot.waitUntil(page.settled, timeout=WAIT_MS)
        assert rows(page) == list(ws.images.ids(order=order))
    first = ws.images.get(rows(page)[0])
    index = page.model.index(0, 0)
    assert index.data() == first.file_name and index.data(STATUS_ROLE) == first.status
    assert first.file_name in index.data(Qt.ItemDataRole.ToolTipRole)
    assert index.data(ANNOTATIONS_ROLE) == len(ws.annotations.for_image(first.id))


def test_thumbnails_arrive_after_the_placeholder(window: Gallery, qtbot) -> None:  # noqa: ANN001
    page = window.page
    page.model.set_workspace(window.ws)  # forget the pixmaps the first paint made
    page.model.set_ids(window.ws.images.ids())
    index = page.model.index(5, 0)
    first: QPixmap = index.data(Qt.ItemDataRole.DecorationRole)
    assert first.cacheKey() == page.model.placeholder.cacheKey()
    assert not page.settled()
    qtbot.waitUntil(lambda: index.data(Qt.ItemDataRole.DecorationRole).cacheKey() != first.cacheKey(),
                    timeout=WAIT_MS)
    thumb = index.data(Qt.ItemDataRole.DecorationRole)
    assert max(thumb.deviceIndependentSize().width(), thumb.deviceIndependentSize().height()) == 96
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)


def test_search_is_debounced(window: Gallery, qtbot) -> None:  # noqa: ANN001
    page = window.page
    for text in ("shapes_0001", "shapes_00012"):
        page.search.setText(text)
    assert page.search_timer.isActive() and page.model.rowCount() == 24 and not page.settled()
    qtbot.wait(100)
    assert page.model.rowCount() == 24
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert [page.model.index(r, 0).data() for r in range(page.model.rowCount())] == ["shapes_00012.png"]


def test_bulk_status_updates_counts_and_undoes(window: Gallery, qtbot) -> None:  # noqa: ANN001
    page, ws = window.page, window.ws
    assert "approved" not in page.counts.text() and page.counts.text().startswith("24 images")
    assert not page.trash_action.isEnabled()
    select_rows(page, 0, 1, 2)
    assert page.trash_action.isEnabled()
    chosen = page.selected_ids()
    before = {i: ws.images.get(i).status for i in chosen}
    page.status_actions["approved"].trigger()
    assert {ws.images.get(i).status for i in chosen} == {"approved"}
    assert window.messages[-1] == "3 images marked approved — Ctrl+Z to undo"
    qtbot.waitUntil(lambda: "approved 3" in page.counts.text(), timeout=WAIT_MS)
    assert page.selected_ids() == chosen  # the refresh kept the selection
    ws.log.undo()
    window.changed("status")
    assert {i: ws.images.get(i).status for i in chosen} == before
    qtbot.waitUntil(lambda: "approved" not in page.counts.text(), timeout=WAIT_MS)


def test_status_filter_and_refresh_keep_selection_of_rows_still_shown(window: Gallery,
                                                                      qtbot) -> None:  # noqa: ANN001
    page, ws = window.page, window.ws
    choose(page.status_box, "done")
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    done = rows(page)
    select_rows(page, 0, 1)
    page.status_actions["needs_review"].trigger()
    qtbot.waitUntil(lambda: page.settled() and rows(page) == done[2:], timeout=WAIT_MS)
    assert page.selected_ids() == [] and page.counts.text().startswith(f"{len(done) - 2} images of 24")
    ws.log.undo()
    window.changed("status")
    qtbot.waitUntil(lambda: page.settled() and rows(page) == done, timeout=WAIT_MS)


def test_refresh_keeps_the_scroll_position(window: Gallery, qtbot) -> None:  # noqa: ANN001
    page, ws = window.page, window.ws
    window.resize(500, 360)
    bar = page.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 100, timeout=WAIT_MS)
    bar.setValue(bar.maximum() - 10)
    position = bar.value()
    ws.annotations.set_status([rows(page)[0]], "approved")
    window.changed("status")
    qtbot.waitUntil(lambda: page.settled() and "approved 1" in page.counts.text(), timeout=WAIT_MS)
    assert bar.value() == position
    choose(page.sort_box, "-created")  # a new order starts at the top...
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert bar.value() == 0
    select_rows(page, 0)
    choose(page.sort_box, "id")  # ...or shows the selection
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert page.view.viewport().rect().contains(page.view.visualRect(page.view.selectedIndexes()[0]).center())
    assert bar.value() > 0


def test_tag_menu_uses_the_tag_vocabulary_never_the_classes(window: Gallery, qtbot,  # noqa: ANN001
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    page, ws = window.page, window.ws
    classes = [c.name for c in ws.classes.list()]
    select_rows(page, 3, 4)
    chosen = page.selected_ids()
    assert page.tag_menu.tag_actions == {} and page.tag_menu.menuAction().isEnabled()
    assert [a.text() for a in page.tag_menu.actions()] == ["New tag…", "Remove tag"]
    monkeypatch.setattr(images_mod, "ask_tag_name", lambda parent: "night")
    page.tag_menu.new_action.trigger()  # "New tag…": create it and tag the selection, one undo step
    night = ws.tags.get("night").id
    assert list(ws.images.ids(ImageFilter(tag_ids=(night,)))) == chosen
    assert [c.name for c in ws.classes.list()] == classes and ws.stats()["by_kind"]["tag"] == 0
    assert list(page.tag_menu.tag_actions) == [night] and night in page.tag_filter.tag_actions
    assert window.messages[-1].startswith("2 images tagged night")
    page.tag_menu.tag_actions[night].trigger()
    assert window.messages[-1].startswith("0 images tagged night")
    select_rows(page, 4)
    page.tag_menu.untag_actions[night].trigger()
    assert list(ws.images.ids(ImageFilter(tag_ids=(night,)))) == chosen[:1]
    ws.log.undo()
    assert list(ws.images.ids(ImageFilter(tag_ids=(night,)))) == chosen
    ws.log.undo()  # the tag itself goes with the step that created it
    assert ws.tags.list() == []
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: warned.append(text))
    monkeypatch.setattr(images_mod, "ask_tag_name", lambda parent: "a\x07b")
    page.tag_menu.new_action.trigger()
    assert warned and "control character" in warned[0] and ws.tags.list() == []


def test_tag_filter_follows_tag_changes_made_elsewhere(window: Gallery, qtbot) -> None:  # noqa: ANN001
    page, ws = window.page, window.ws
    ws.tags.tag(rows(page)[:2], "night", create=True)  # e.g. the CLI, in another process
    window.changed("tags")
    page.tag_filter.set_selection([ws.tags.get("night").id])
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert len(rows(page)) == 2
    ws.tags.rename("night", "dark")
    window.changed("tags")
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert page.tag_filter.text() == "Tags: dark" and len(rows(page)) == 2
    ws.tags.delete("dark")
    window.changed("tags")
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert page.tag_filter.tag_ids() == () and rows(page) == list(ws.images.ids())
    assert page.tag_menu.tag_actions == {}


def test_move_to_trash_confirms_and_undo_restores(window: Gallery, qtbot,  # noqa: ANN001
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    page, ws = window.page, window.ws
    asked: list[str] = []

    def answer(parent: QWidget, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.No if len(asked) == 1 else QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    select_rows(page, 1, 2)
    chosen = page.selected_ids()
    page.view.setFocus()
    page.trash_action.trigger()
    assert asked == ["Move 2 images to the trash?\nCtrl+Z brings them back."] and len(ws.images.ids()) == 24
    QTest.keyClick(page.view, Qt.Key.Key_Delete)  # the action's key
    assert len(asked) == 2
    assert window.messages[-1] == "2 images moved to the trash — Ctrl+Z to undo"
    assert not set(chosen) & set(ws.images.ids())
    qtbot.waitUntil(lambda: page.model.rowCount() == 22 and page.counts.text().startswith("22 images"),
                    timeout=WAIT_MS)
    ws.log.undo()
    window.changed("images")
    qtbot.waitUntil(lambda: rows(page) == list(ws.images.ids()) and len(rows(page)) == 24, timeout=WAIT_MS)


def test_a_big_selection_is_edited_in_a_background_job(window: Gallery, qtbot,  # noqa: ANN001
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_mod, "INLINE_EDIT_MAX", 2)
    page, ws = window.page, window.ws
    page.view.selectAll()
    with qtbot.waitSignal(window.jobs.ended, timeout=WAIT_MS):
        page.status_actions["rejected"].trigger()
    qtbot.waitUntil(lambda: window.messages and "24 images marked rejected" in window.messages[-1],
                    timeout=WAIT_MS)
    assert ws.images.counts_by_status()["rejected"] == 24
    qtbot.waitUntil(lambda: "rejected 24" in page.counts.text(), timeout=WAIT_MS)


def test_double_click_and_enter_open_the_image(window: Gallery, qtbot) -> None:  # noqa: ANN001
    page = window.page
    index = page.model.index(4, 0)
    rect = page.view.visualRect(index)
    # QTest's first double-click on a view arrives as a press only: click first, as a person does.
    QTest.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(page.open_image, timeout=WAIT_MS) as opened:
        QTest.mouseDClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [page.current_ids()[4]]
    page.view.setCurrentIndex(page.model.index(7, 0))
    with qtbot.waitSignal(page.open_image, timeout=WAIT_MS) as opened:
        QTest.keyClick(page.view, Qt.Key.Key_Return)
    assert opened.args == [page.current_ids()[7]]


def test_through_the_main_window(qtbot, demo_source: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from cvops_app.mainwindow import MainWindow

    shutil.copytree(demo_source, tmp_path / "ws")
    window = MainWindow(settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    assert window.load_workspace(tmp_path / "ws")
    page = window.pages["images"]
    assert isinstance(page, ImagesPage)
    qtbot.waitUntil(lambda: page.settled() and page.model.rowCount() == 24, timeout=WAIT_MS)
    assert list(page.current_ids()) == list(window.ws.images.ids())
    select_rows(page, 0)
    page.status_actions["rejected"].trigger()
    qtbot.waitUntil(lambda: "rejected 1" in page.counts.text(), timeout=WAIT_MS)
    window.undo()
    qtbot.waitUntil(lambda: "rejected" not in page.counts.text(), timeout=WAIT_MS)
    rect = page.view.visualRect(page.model.index(2, 0))
    QTest.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.stack.currentWidget() is window.pages["annotate"]
    window.close()


def test_first_rows_show_while_the_whole_list_loads(qtbot, demo_source: Path, tmp_path: Path,  # noqa: ANN001
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from cvops.data.images import ImageQueries

    release = threading.Event()
    real_ids = ImageQueries.ids

    def slow_whole_list(self: ImageQueries, flt: ImageFilter = ImageFilter(), order: str = "id",
                        limit: Optional[int] = None) -> Any:
        if limit is None:
            release.wait(WAIT_MS / 1000)  # the whole list takes long: a million rows
        return real_ids(self, flt, order, limit)

    monkeypatch.setattr(ImageQueries, "ids", slow_whole_list)
    monkeypatch.setattr(images_mod, "HEAD_ROWS", 10)
    shutil.copytree(demo_source, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    win = Gallery(Settings(gallery_icon_size=96))
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    page = win.page
    try:
        win.ctx.set_workspace(ws)
        qtbot.waitUntil(lambda: page.model.rowCount() == 10, timeout=WAIT_MS)
        every = list(real_ids(ws.images))  # the real query: the patched one waits for the release below
        assert rows(page) == every[:10] and not page.settled() and "loading images" in page.counts.text()
        select_rows(page, 3, 4)
        page.view.selectionModel().setCurrentIndex(page.model.index(4, 0), QItemSelectionModel.SelectionFlag.NoUpdate)
        release.set()
        qtbot.waitUntil(lambda: page.settled() and page.model.rowCount() == 24, timeout=WAIT_MS)
        assert rows(page) == every and page.selected_ids() == every[3:5]  # what the user did meanwhile is kept
        assert page.view.currentIndex().row() == 4 and page.counts.text().startswith("24 images")
    finally:
        release.set()
        win.jobs.wait()
        win.ctx.close_workspace()
