"""The annotator without classes: the class panel says so with "Add classes…" (the Classes dialog), and a box or
polygon drawn then is kept while a popup names its class — the class is created and the shape gets it; Esc drops
both; Ctrl+Z undoes the shape, then the class."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from helpers import make_image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QGraphicsPolygonItem
from timing_testing import WAIT_MS

from cvops.catalog.settings import Settings
from cvops.data.ingest import import_paths
from cvops.data.workspace import Workspace
from cvops_app.context import AppContext
from cvops_app.pages.annotate import AnnotatePage

LEFT, NONE = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


@pytest.fixture
def page(qtbot: Any, tmp_path: Path) -> Iterator[AnnotatePage]:
    """The Annotate page on a workspace of two images and no class, showing the first image."""
    make_image(tmp_path / "in" / "a.jpg", (120, 90))
    make_image(tmp_path / "in" / "b.jpg", (120, 90), seed=1)
    ws = Workspace.create(tmp_path / "ws")
    import_paths(ws, [tmp_path / "in"])
    ws.close()
    ctx = AppContext(Settings())
    annotate = AnnotatePage(ctx)
    qtbot.addWidget(annotate)
    ctx.set_workspace(Workspace.open(tmp_path / "ws"))
    annotate.resize(1100, 700)
    annotate.show()
    annotate.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is annotate)
    ids = list(ctx.ws.images.ids())
    annotate.show_image(ids[0], ids)
    qtbot.waitUntil(annotate.settled, timeout=WAIT_MS)
    yield annotate
    ctx.close_workspace()


def drag(page: AnnotatePage, a: tuple[float, float], b: tuple[float, float]) -> None:
    port = page.canvas.viewport()
    start, end = page.canvas.mapFromScene(QPointF(*a)), page.canvas.mapFromScene(QPointF(*b))
    QTest.mousePress(port, LEFT, NONE, start)
    for i in range(1, 5):
        QTest.mouseMove(port, start + (end - start) * (i / 4))
    QTest.mouseRelease(port, LEFT, NONE, end)


def pending(page: AnnotatePage) -> list[QGraphicsPolygonItem]:
    return [i for i in page.canvas.scene().items() if isinstance(i, QGraphicsPolygonItem) and i.zValue() >= 1e6]


def test_the_empty_class_panel_leads_to_the_classes_dialog(qtbot: Any, page: AnnotatePage) -> None:
    palette = page.palette_
    assert palette.empty.isVisible() and palette.add_button.isVisible()
    assert not palette.list.isVisible() and "No classes yet" in palette.empty.text()
    palette.add_button.click()
    dialogs = [d for d in page.findChildren(QDialog) if d.isVisible()]
    assert [d.windowTitle() for d in dialogs] == ["Classes"]
    page.ctx.edit(lambda: page.ctx.ws.classes.add("car"), "classes")  # as the dialog's Add… does
    assert palette.list.isVisible() and palette.list.count() == 1 and not palette.add_button.isVisible()
    assert page.current_class == page.ctx.ws.classes.list()[0].id
    dialogs[0].reject()


def test_a_box_without_classes_names_its_class(qtbot: Any, page: AnnotatePage) -> None:
    ws = page.ctx.ws
    image = page.image.id
    QTest.keyClick(page.canvas, Qt.Key.Key_W)
    drag(page, (10, 10), (70, 50))
    popup = page.class_popup
    assert popup is not None and popup.isVisible()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is popup.name)  # typing goes to the name at once
    assert len(pending(page)) == 1  # the box stays on the canvas, dashed
    assert pending(page)[0].polygon().boundingRect().getRect() == pytest.approx((10, 10, 60, 40), abs=0.5)
    assert not popup.create.isEnabled()  # a name first
    QTest.keyClicks(popup.name, "car")
    QTest.keyClick(popup.name, Qt.Key.Key_Return)
    assert not popup.isVisible() and pending(page) == []
    [car] = ws.classes.list()
    [box] = ws.annotations.for_image(image)
    assert car.name == "car" and box.class_id == car.id and box.box == pytest.approx((10, 10, 60, 40), abs=0.5)
    assert page.canvas.selected_ids() == [box.id] and page.current_class == car.id
    assert page.palette_.list.count() == 1 and not page.palette_.add_button.isVisible()
    page.ctx.undo()
    assert ws.annotations.for_image(image) == [] and ws.classes.list() == [car]
    page.ctx.undo()
    assert ws.classes.list() == [] and page.palette_.add_button.isVisible()


def test_escape_drops_the_shape_and_names_nothing(qtbot: Any, page: AnnotatePage) -> None:
    ws = page.ctx.ws
    QTest.keyClick(page.canvas, Qt.Key.Key_P)  # a polygon, closed with Return
    for x, y in ((20, 20), (60, 20), (40, 60)):
        QTest.mouseClick(page.canvas.viewport(), LEFT, NONE, page.canvas.mapFromScene(QPointF(x, y)))
    QTest.keySequence(page.canvas, QKeySequence(Qt.Key.Key_Return))
    popup = page.class_popup
    qtbot.waitUntil(lambda: QApplication.focusWidget() is popup.name)
    assert popup is not None and popup.isVisible() and "polygon" in popup.prompt.text()
    QTest.keyClicks(popup.name, "tree")
    QTest.keyClick(popup.name, Qt.Key.Key_Escape)
    assert not popup.isVisible() and pending(page) == []
    assert ws.classes.list() == [] and ws.annotations.for_image(page.image.id) == []
    assert popup.pos() != QPoint(0, 0)  # placed by the shape
