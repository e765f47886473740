"""The Annotate page driven like a user: real mouse and key events on the canvas, every edit committed to the
workspace at once (one undo step each), navigation, review, tags, classes, reopening the workspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from helpers import make_image
from timing_testing import WAIT_MS
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolButton

from cvops import Workspace
from cvops.samples.demo import run_demo
from cvops.data.ingest import import_paths
from cvops.catalog.settings import Settings
from cvops_app.context import AppContext
from cvops_app.pages.annotate import CANVAS_ACTIONS, GESTURES, AnnotatePage
from cvops_app.shortcuts import SHORTCUTS

LEFT = Qt.MouseButton.LeftButton
NONE, CTRL, SHIFT = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier, \
    Qt.KeyboardModifier.ShiftModifier


@dataclass
class Annotator:
    """The Annotate page on a real application context (the page's only link to the app), with the notifications
    the context sent."""

    ctx: AppContext
    page: AnnotatePage
    messages: list[str] = field(default_factory=list)

    @property
    def ws(self) -> Optional[Workspace]:
        return self.ctx.ws

    def undo(self) -> None:
        self.ctx.undo()

    def redo(self) -> None:
        self.ctx.redo()

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A 12-image demo workspace: 9 done, 1 needs review, 2 new; 3 classes; boxes on every image."""
    run_demo(tmp_path / "ws", count=12)
    return tmp_path / "ws"


def start(qtbot: Any, root: Path) -> Annotator:
    ctx = AppContext(Settings())
    window = Annotator(ctx, AnnotatePage(ctx))
    ctx.message.connect(lambda text, msecs: window.messages.append(text))
    qtbot.addWidget(window.page)
    ctx.set_workspace(Workspace.open(root))  # the page follows the context
    window.page.resize(1200, 800)
    window.page.show()
    window.page.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window.page)
    return window


@pytest.fixture
def window(qtbot: Any, demo: Path) -> Iterator[Annotator]:
    win = start(qtbot, demo)
    yield win
    if win.ws is not None:
        win.ws.close()


def show(qtbot: Any, window: Annotator, index: int = 0) -> list[int]:
    assert window.ws is not None
    ids = list(window.ws.images.ids())
    window.page.show_image(ids[index], ids)
    qtbot.waitUntil(window.page.settled, timeout=WAIT_MS)
    window.page.canvas.setFocus()
    return ids


def at(window: Annotator, x: float, y: float) -> QPoint:
    return window.page.canvas.mapFromScene(QPointF(x, y))


def drag(window: Annotator, a: tuple[float, float], b: tuple[float, float]) -> None:
    port, start_at, end_at = window.page.canvas.viewport(), at(window, *a), at(window, *b)
    QTest.mousePress(port, LEFT, NONE, start_at)
    for i in range(1, 5):
        QTest.mouseMove(port, start_at + (end_at - start_at) * (i / 4))
    QTest.mouseRelease(port, LEFT, NONE, end_at)


def click(window: Annotator, x: float, y: float, modifiers: Qt.KeyboardModifier = NONE) -> None:
    QTest.mouseClick(window.page.canvas.viewport(), LEFT, modifiers, at(window, x, y))


def key(window: Annotator, k: Qt.Key, modifiers: Qt.KeyboardModifier = NONE) -> None:
    QTest.keyClick(window.page.canvas, k, modifiers)


def shapes(window: Annotator, kind: Optional[str] = None) -> list:
    assert window.ws is not None and window.page.image is not None
    return [a for a in window.ws.annotations.for_image(window.page.image.id) if kind is None or a.kind == kind]


def test_every_annotator_shortcut_of_the_table_is_bound(window: Annotator) -> None:
    bound = window.page.actions_by_id
    for shortcut in SHORTCUTS:
        if shortcut.context != "Annotator" or shortcut.action in GESTURES:
            continue
        if shortcut.action == "class_1_9":
            assert [bound[f"class_{n}"].shortcut().toString() for n in range(1, 10)] == list(shortcut.keys)
            continue
        action = bound[shortcut.action]
        assert action.shortcuts() == [QKeySequence(k) for k in shortcut.keys]
        owner = window.page.canvas if shortcut.action in CANVAS_ACTIONS else window.page
        assert action in owner.actions()
    assert not {"undo", "redo", "help"} & set(bound)  # window-level actions are not bound twice


def test_draw_a_box_then_undo_and_redo(qtbot: Any, window: Annotator) -> None:
    show(qtbot, window)
    before = len(shapes(window, "box"))
    key(window, Qt.Key.Key_W)
    assert window.page.canvas.tool.name == "box" and window.page.tool_buttons["box"].isChecked()
    drag(window, (20, 20), (80, 60))
    boxes = shapes(window, "box")
    assert len(boxes) == before + 1
    new = boxes[-1]
    assert new.box == pytest.approx((20, 20, 60, 40), abs=0.5)
    assert new.class_id == window.page.classes[0].id
    assert window.page.canvas.model().get(new.id) is not None and window.page.canvas.selected_ids() == [new.id]
    window.undo()
    assert len(shapes(window, "box")) == before and window.page.canvas.model().get(new.id) is None
    assert window.page.canvas.selected_ids() == []
    assert window.messages[-1] == f"Undid: added a box on image {new.image_id}"
    window.redo()
    assert window.page.canvas.model().get(new.id) is not None
    assert window.page.canvas.selected_ids() == [new.id]  # the restored box is selected
    assert window.messages[-1] == f"Redid: added a box on image {new.image_id}"
    window.page.canvas.select([])
    key(window, Qt.Key.Key_Escape)
    window.page.canvas.select([new.id])
    key(window, Qt.Key.Key_Delete)
    assert window.page.canvas.model().get(new.id) is None
    window.undo()  # undoing a delete selects the box it brought back
    assert window.page.canvas.selected_ids() == [new.id]
    assert window.messages[-1] == "Undid: deleted 1 annotation"


def test_draw_and_edit_a_polygon(qtbot: Any, window: Annotator) -> None:
    show(qtbot, window)
    ws = window.ws
    assert ws is not None
    key(window, Qt.Key.Key_P)
    for x, y in ((40, 200), (120, 200), (120, 240), (40, 240)):
        click(window, x, y)
    key(window, Qt.Key.Key_Return)
    (poly,) = shapes(window, "polygon")
    assert len(poly.points) == 4
    key(window, Qt.Key.Key_V)
    click(window, 80, 220)
    assert window.page.canvas.selected_ids() == [poly.id]
    ops = len(ws.log.history(1000))
    drag(window, (40, 200), (30, 190))  # drag a vertex
    assert ws.annotations.get(poly.id).points[0] == pytest.approx([30, 190], abs=0.5)
    click(window, 80, 240, CTRL)  # insert a vertex on the bottom edge
    assert len(ws.annotations.get(poly.id).points) == 5
    QTest.mouseMove(window.page.canvas.viewport(), at(window, 120, 200))  # hover a vertex and delete it
    key(window, Qt.Key.Key_Delete)
    points = ws.annotations.get(poly.id).points
    assert len(points) == 4 and [120, 200] not in points
    assert len(ws.log.history(1000)) == ops + 3  # one undo step each
    window.undo()
    assert len(ws.annotations.get(poly.id).points) == 5
    assert len(window.page.canvas.item(poly.id).points()) == 5  # the canvas follows
    key(window, Qt.Key.Key_Delete)  # nothing hovered: the selected shape goes
    assert ws.annotations.for_image(poly.image_id) and not shapes(window, "polygon")


def test_view_keys_escape_and_a_refused_edit(qtbot: Any, window: Annotator) -> None:
    show(qtbot, window)
    page, canvas, ws = window.page, window.page.canvas, window.ws
    assert ws is not None
    key(window, Qt.Key.Key_H)
    assert not canvas.labels_visible and not canvas.shape_layer.labels
    key(window, Qt.Key.Key_H)
    assert canvas.labels_visible
    canvas.zoom_to(canvas.fit_zoom() * 3, QPointF(100, 100))
    key(window, Qt.Key.Key_F)
    assert canvas.zoom() == pytest.approx(canvas.fit_zoom())
    key(window, Qt.Key.Key_0, CTRL)
    assert canvas.zoom() == 1.0 and page.info.text().endswith("100%")
    key(window, Qt.Key.Key_F)
    key(window, Qt.Key.Key_P)
    click(window, 40, 200)
    click(window, 120, 200)
    key(window, Qt.Key.Key_Escape)
    assert not canvas.tool.drawing() and not shapes(window, "polygon")
    for x, y in ((40, -2), (120, -2), (80, 40)):  # clicks off the image are clamped to its edge
        click(window, x, y)
    key(window, Qt.Key.Key_Return)
    (triangle,) = shapes(window, "polygon")
    assert triangle.points[0][1] == triangle.points[1][1] == 0
    key(window, Qt.Key.Key_V)
    click(window, 80, 15)
    ops = len(ws.log.history(1000))
    drag(window, (80, 40), (80, -2))  # flattened onto the top edge: zero area, refused by the core
    assert "zero area" in window.messages[-1] and len(ws.log.history(1000)) == ops
    assert ws.annotations.get(triangle.id).points == triangle.points
    assert canvas.item(triangle.id).geometry() == triangle.points  # the canvas shows the stored shape again
    key(window, Qt.Key.Key_Escape)
    assert canvas.selected_ids() == []


def test_class_hotkeys_picker_and_merge(qtbot: Any, window: Annotator) -> None:
    show(qtbot, window)
    ws, page = window.ws, window.page
    assert ws is not None
    target = shapes(window, "box")[0]
    x, y, w, h = target.box
    click(window, x + w / 2, y + h / 2)
    assert page.canvas.selected_ids() == [target.id]
    key(window, Qt.Key.Key_3)
    assert ws.annotations.get(target.id).class_id == page.classes[2].id == page.current_class
    key(window, Qt.Key.Key_C)
    assert page.palette_.search.hasFocus()
    QTest.keyClicks(page.palette_.search, "squ")
    QTest.keyClick(page.palette_.search, Qt.Key.Key_Return)
    square = ws.classes.find("square")
    assert square is not None and ws.annotations.get(target.id).class_id == square.id
    assert page.canvas.hasFocus()
    ws.classes.merge("square", "circle")
    window.ctx.changed("classes")
    circle = ws.classes.get("circle")
    assert page.canvas.model().get(target.id).class_id == circle.id
    item = page.canvas.item(target.id)
    assert item is not None and item.label.text.text() == "circle" and item.pen().color() == QColor(circle.color)
    page.canvas.select([])
    page.canvas.viewport().repaint()
    shot = page.canvas.viewport().grab().toImage()
    edge = page.canvas.mapFromScene(QPointF(x, y + h / 2))
    assert shot.pixelColor(edge) == QColor(circle.color)  # the outline is drawn in the merged class's color
    assert [page.palette_.list.item(r).text().split()[-1] for r in range(page.palette_.list.count())] == \
        ["circle", "triangle"]


def test_navigation_done_and_review(qtbot: Any, window: Annotator) -> None:
    ids = show(qtbot, window)
    page, ws = window.page, window.ws
    assert ws is not None
    key(window, Qt.Key.Key_D)
    assert page.image.id == ids[1] and f"2/{len(ids)}" in page.info.text()
    key(window, Qt.Key.Key_A)
    key(window, Qt.Key.Key_A)
    assert page.image.id == ids[0] and window.messages[-1] == "first image"
    key(window, Qt.Key.Key_R)
    assert page.image.id == ids[9] and page.image.status == "needs_review"
    page.show_image(ids[10], ids)
    key(window, Qt.Key.Key_Return, CTRL)
    assert ws.images.get(ids[10]).status == "done" and page.image.id == ids[11]
    key(window, Qt.Key.Key_A, CTRL | SHIFT)
    assert ws.images.get(ids[11]).status == "approved" == page.review.status.currentData()
    key(window, Qt.Key.Key_R, CTRL | SHIFT)
    assert ws.images.get(ids[11]).status == "rejected"
    page.review.buttons["approved"].click()
    assert ws.images.get(ids[11]).status == "approved"
    ws.annotations.set_status([ids[9]], "approved")
    window.ctx.changed("status")
    key(window, Qt.Key.Key_R)
    assert window.messages[-1] == "no image needs review"
    key(window, Qt.Key.Key_N, CTRL | SHIFT)
    assert ws.images.get(ids[11]).status == "needs_review"
    page.show_image(ids[0], ids[:3])  # R looks beyond the gallery's filter when needed
    key(window, Qt.Key.Key_R)
    assert page.image.id == ids[11] and list(page.sequence) == [ids[11]]


def test_copy_paste_and_paste_previous(qtbot: Any, window: Annotator) -> None:
    ids = show(qtbot, window)
    ws, page = window.ws, window.page
    assert ws is not None
    first = shapes(window, "box")
    click(window, first[0].box[0] + 2, first[0].box[1] + 2)
    key(window, Qt.Key.Key_C, CTRL)
    key(window, Qt.Key.Key_D)
    count = len(shapes(window))
    key(window, Qt.Key.Key_V, CTRL)
    assert len(shapes(window)) == count + 1 and len(page.canvas.selected_ids()) == 1
    key(window, Qt.Key.Key_V, CTRL | SHIFT)
    assert len(shapes(window)) == count + 1 + len(first)
    window.undo()
    assert len(shapes(window)) == count + 1 and page.image.id == ids[1]


def test_tags_and_comment(qtbot: Any, window: Annotator) -> None:
    show(qtbot, window)
    ws, page = window.ws, window.page
    assert ws is not None
    classes = [c.name for c in ws.classes.list()]
    assert page.tags.list.count() == 0  # the vocabulary, not the classes
    page.tags.new.setFocus()
    QTest.keyClicks(page.tags.new, "dusk 1d")  # typed, not shortcuts
    QTest.keyClick(page.tags.new, Qt.Key.Key_Return)  # creates the tag and puts it on the image, one undo step
    ws.tags.create("night")
    window.ctx.changed("tags")
    assert [page.tags.list.item(r).text() for r in range(2)] == ["dusk 1d", "night"]
    assert [t.name for t in ws.tags.of_image(page.image.id)] == ["dusk 1d"] and page.position == 0
    page.tags.list.item(1).setCheckState(Qt.CheckState.Checked)
    assert [t.name for t in ws.tags.of_image(page.image.id)] == ["dusk 1d", "night"]
    page.tags.list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert [t.name for t in ws.tags.of_image(page.image.id)] == ["night"]
    assert not shapes(window, "tag") and [c.name for c in ws.classes.list()] == classes  # no class, no annotation
    window.undo()
    assert page.tags.list.item(0).checkState() == Qt.CheckState.Checked
    ws.annotations.add_tag(page.image.id, classes[1])  # an image-level class label (a CVAT or COCO import's)
    window.ctx.changed("annotations")
    label = page.tags.list.item(2)
    assert label.text() == f"{classes[1]} (class label)" and label.checkState() == Qt.CheckState.Checked
    label.setCheckState(Qt.CheckState.Unchecked)
    assert not shapes(window, "tag") and page.tags.list.count() == 2
    page.review.comment.setFocus()
    QTest.keyClicks(page.review.comment, "blurry; d and 1 are typed, not shortcuts")
    QTest.keyClick(page.review.comment, Qt.Key.Key_Return)
    assert ws.images.get(page.image.id).comment == "blurry; d and 1 are typed, not shortcuts"
    assert page.position == 0
    page.review.comment.setFocus()
    QTest.keyClicks(page.review.comment, "!")
    key(window, Qt.Key.Key_D)  # leaving the image commits the comment being typed
    assert ws.images.get(list(ws.images.ids())[0]).comment.endswith("shortcuts!")


def test_everything_is_there_after_reopening(qtbot: Any, demo: Path) -> None:
    window = start(qtbot, demo)
    ids = show(qtbot, window)
    key(window, Qt.Key.Key_W)
    drag(window, (10, 10), (50, 30))
    window.page.review.comment.setText("check the left edge")
    window.page.review.comment.editingFinished.emit()
    assert window.ws is not None
    boxes = len(shapes(window, "box"))
    window.ws.close()
    window.close()
    again = start(qtbot, demo)
    show(qtbot, again)
    assert again.page.image.id == ids[0] and len(shapes(again, "box")) == boxes
    assert len(again.page.canvas.model()) == boxes and again.page.review.comment.text() == "check the left edge"
    again.undo()  # the log survives the restart
    again.undo()
    assert len(shapes(again, "box")) == boxes - 1 and len(again.page.canvas.model()) == boxes - 1
    assert again.ws is not None
    again.ws.close()


def test_exif_rotated_image_and_missing_file(qtbot: Any, tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "rotated.jpg", (60, 40), orientation=6)
    make_image(tmp_path / "in" / "plain.jpg", (50, 50), seed=2)
    ws = Workspace.create(tmp_path / "ws")
    import_paths(ws, [tmp_path / "in"])
    ws.classes.add("car")
    rotated, plain = sorted(ws.images.page(), key=lambda im: im.file_name)[1], \
        sorted(ws.images.page(), key=lambda im: im.file_name)[0]
    assert (rotated.width, rotated.height) == (40, 60)
    ws.annotations.add_box(rotated.id, "car", (5, 30, 20, 25))
    ws.close()
    window = start(qtbot, tmp_path / "ws")
    assert window.ws is not None
    window.page.show_image(rotated.id, [rotated.id, plain.id])
    qtbot.waitUntil(window.page.settled, timeout=WAIT_MS)
    level = window.page.canvas.image_layer.levels[0]
    assert (level.width(), level.height()) == (40, 60)
    assert window.page.canvas.image_rect().size().toTuple() == (40, 60)
    assert window.page.canvas.model().shapes[0].box == (5, 30, 20, 25)
    assert "40×60" in window.page.info.text()
    window.ws.images.path(plain).unlink()
    key(window, Qt.Key.Key_D)
    qtbot.waitUntil(window.page.settled, timeout=WAIT_MS)
    assert "not found" in window.page.canvas.message
    window.page.canvas.viewport().repaint()
    key(window, Qt.Key.Key_W)  # the shapes can still be edited
    drag(window, (5, 5), (30, 30))
    assert len(window.ws.annotations.for_image(plain.id)) == 1
    window.ws.close()


def test_through_the_main_window(qtbot: Any, demo: Path) -> None:
    from cvops_app.mainwindow import MainWindow

    window = MainWindow(settings=Settings(), settings_path=demo.parent / "settings.yaml")
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    assert window.load_workspace(demo)
    ids = list(window.ws.images.ids())
    window.open_annotator(ids[0], ids)
    page = window.pages["annotate"]
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert window.stack.currentWidget() is page and page.canvas.hasFocus()
    before = len(window.ws.annotations.for_image(ids[0]))
    QTest.keyClick(page.canvas, Qt.Key.Key_W)
    port = page.canvas.viewport()
    start_at, end_at = page.canvas.mapFromScene(QPointF(10, 10)), page.canvas.mapFromScene(QPointF(60, 40))
    QTest.mousePress(port, LEFT, NONE, start_at)
    QTest.mouseMove(port, end_at)
    QTest.mouseRelease(port, LEFT, NONE, end_at)
    assert len(window.ws.annotations.for_image(ids[0])) == before + 1
    QTest.keyClick(page.canvas, Qt.Key.Key_Z, CTRL)  # the window's Edit ▸ Undo
    assert len(page.canvas.model()) == before == len(window.ws.annotations.for_image(ids[0]))
    QTest.keyClick(page.canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    assert len(page.canvas.model()) == before + 1
    QTest.keyClick(page.canvas, Qt.Key.Key_D)
    assert page.image.id == ids[1]
    window.close()


def test_next_from_queue_walks_the_unlabelled_queue_with_its_suggestions(qtbot: Any, tmp_path: Path) -> None:
    """Q opens the next queued image not labelled yet (its suggestions shown dashed), skips what gets labelled,
    and says when the queue is empty or done."""
    from cvops.data.annotations import NewAnnotation
    from cvops.monitoring.queue import save_queue

    run_demo(tmp_path / "ws", count=4)
    with Workspace.open(tmp_path / "ws") as ws:
        for n in range(3):
            make_image(tmp_path / "field" / f"capture{n}.jpg", (320, 240), seed=10 + n)
        import_paths(ws, [tmp_path / "field"])
        new = [i for i in ws.images.ids() if not ws.annotations.for_image(i)]
        assert len(new) == 3
        ws.annotations.add_many([NewAnnotation(new[2], ws.classes.list()[0].id, "box", box=(20, 30, 80, 60),
                                               source="model", model_id="m1", confidence=0.6)])
    window = start(qtbot, tmp_path / "ws")
    try:
        page, ws = window.page, window.ws
        assert ws is not None
        page.next_from_queue()
        assert window.messages[-1] == "The labeling queue is empty — build one with cvops queue build"
        assert page.image is None
        save_queue(ws, [(new[2], 0.9), (new[0], 0.5), (new[1], 0.1)], "uncertainty")
        qtbot.keyClick(page.canvas, Qt.Key.Key_Q)  # the shortcut, from the canvas
        assert page.image is not None and page.image.id == new[2]
        assert list(page.sequence) == [new[2], new[0], new[1]]
        qtbot.waitUntil(page.settled, timeout=WAIT_MS)
        suggested = [a for a in ws.annotations.for_image(new[2]) if a.source == "model"]
        assert len(suggested) == 1 and page.suggestions.on_image() == [(0.6, suggested[0].id)]
        assert page.canvas.shape_layer.pen_for(suggested[0].id).style() == Qt.PenStyle.DashLine
        assert window.messages[-1] == "Queue: 0 of 3 labelled, 3 to go"
        ws.annotations.add_box(new[0], ws.classes.list()[0].id, (5, 5, 40, 40))  # labelled elsewhere: skipped
        key(window, Qt.Key.Key_Q)
        assert page.image.id == new[1] and window.messages[-1] == "Queue: 1 of 3 labelled, 2 to go"
        key(window, Qt.Key.Key_Return, CTRL)  # done with nothing to label (Ctrl+Enter): labelled as empty
        assert ws.images.get(new[1]).status == "done"
        key(window, Qt.Key.Key_Q)  # wraps to the first
        assert page.image.id == new[2]
        key(window, Qt.Key.Key_Q)
        assert page.image.id == new[2] and window.messages[-1] == "This is the last image of the queue still to label"
        page.suggestions.panel.accept_button.click()  # accepting the suggestion (0.6 ≥ 0.5) labels the image
        key(window, Qt.Key.Key_Q)
        assert window.messages[-1] == "Queue done: 3 of 3 labelled — build a new one with cvops queue build"
        button = next(b for b in page.findChildren(QToolButton) if b.text() == "Next from queue")
        assert "(Q)" in button.toolTip()
    finally:
        if window.ws is not None:
            window.ws.close()
