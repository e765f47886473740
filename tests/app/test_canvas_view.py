"""The canvas widget on its own: zoom and pan, drawing and editing with real mouse events (the edits come out as
signals), hit tests and level of detail with 10,000 shapes."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from cvops.data.annotations import Annotation
from cvops.data.classes import ClassInfo
from cvops_app.canvas.shapes import DIRECT_LIMIT, ShapeModel, distance_to_edges
from cvops_app.canvas.view import CanvasView

LEFT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton
NONE, CTRL, SHIFT = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier, \
    Qt.KeyboardModifier.ShiftModifier
CLASSES = [ClassInfo(1, "car", "#e6194b", 0, ""), ClassInfo(2, "person", "#3cb44b", 1, "")]


def box(aid: int, x: float, y: float, w: float, h: float, class_id: int = 1) -> Annotation:
    return Annotation(aid, 1, class_id, "box", (x, y, w, h), None)


def polygon(aid: int, points: list[list[float]], class_id: int = 2) -> Annotation:
    return Annotation(aid, 1, class_id, "polygon", None, points)


@pytest.fixture
def view(qtbot: Any) -> CanvasView:
    canvas = CanvasView()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.set_classes(CLASSES)
    canvas.current_class = 1
    canvas.set_image(None, 400, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.zoom_to(2.0, QPointF(canvas.viewport().rect().center()))
    canvas.centerOn(200, 150)
    return canvas


def at(view: CanvasView, x: float, y: float) -> QPoint:
    """Viewport position of a scene point."""
    return view.mapFromScene(QPointF(x, y))


def drag(view: CanvasView, a: tuple[float, float], b: tuple[float, float], button: Qt.MouseButton = LEFT,
         modifiers: Qt.KeyboardModifier = NONE) -> None:
    port, start, end = view.viewport(), at(view, *a), at(view, *b)
    QTest.mousePress(port, button, modifiers, start)
    for i in range(1, 5):
        QTest.mouseMove(port, start + (end - start) * (i / 4))
    QTest.mouseRelease(port, button, modifiers, end)


def click(view: CanvasView, x: float, y: float, modifiers: Qt.KeyboardModifier = NONE) -> None:
    QTest.mouseClick(view.viewport(), LEFT, modifiers, at(view, x, y))


def test_box_tool_emits_a_box_in_image_pixels(view: CanvasView) -> None:
    drawn: list[tuple] = []
    view.box_drawn.connect(drawn.append)
    view.set_tool("box")
    drag(view, (100, 50), (160, 90))
    assert len(drawn) == 1
    assert drawn[0] == pytest.approx((100, 50, 60, 40), abs=0.6)
    drag(view, (10, 10), (10.5, 10.5))  # a click is not a box
    drag(view, (390, 290), (500, 400))  # clamped to the image
    assert drawn[1][0] + drawn[1][2] == pytest.approx(400) and drawn[1][1] + drawn[1][3] == pytest.approx(300)
    assert len(drawn) == 2 and not view.scene().items(QRectF(0, 0, 400, 300)) == []


def test_polygon_tool_closes_on_enter_double_click_or_first_vertex(view: CanvasView) -> None:
    drawn: list[list] = []
    view.polygon_drawn.connect(drawn.append)
    view.set_tool("polygon")
    for x, y in ((10, 10), (60, 10), (60, 50)):
        click(view, x, y)
    assert view.tool.drawing()
    view.tool.finish()
    click(view, 100, 100)
    click(view, 150, 100)
    click(view, 150, 150)  # a real double-click: press, release, double-click, release
    QTest.mouseDClick(view.viewport(), LEFT, NONE, at(view, 150, 150))
    for x, y in ((200, 200), (250, 200), (250, 250), (200, 200)):
        click(view, x, y)
    assert [len(p) for p in drawn] == [3, 3, 3]
    assert sum(drawn[0], []) == pytest.approx([10, 10, 60, 10, 60, 50], abs=0.6)
    click(view, 10, 10)
    click(view, 20, 10)
    assert view.tool.remove_last() and view.tool.cancel() and not view.tool.drawing()


def test_select_move_resize_and_vertex_edits(view: CanvasView) -> None:
    shapes = {1: box(1, 100, 100, 40, 20), 2: polygon(2, [[200, 100], [260, 100], [260, 160], [200, 160]])}
    edits: list[tuple[list, str]] = []

    def commit(changes: list, description: str) -> None:  # what the page does: store, then reload the shapes
        edits.append((changes, description))
        for e in changes:
            shapes[e.annotation_id] = replace(shapes[e.annotation_id], box=e.box or shapes[e.annotation_id].box,
                                              points=e.points or shapes[e.annotation_id].points)
        view.set_shapes(list(shapes.values()))

    view.set_shapes(list(shapes.values()))
    view.edited.connect(commit)
    click(view, 120, 110)
    assert view.selected_ids() == [1]
    drag(view, (120, 110), (130, 115))  # move
    drag(view, (150, 125), (160, 135))  # bottom-right handle (moved box is at 110, 105, 40, 20)
    assert [d for _, d in edits] == ["moved 1 shape", "edited a box"]
    assert edits[0][0][0].box == pytest.approx((110, 105, 40, 20), abs=0.6)
    assert edits[1][0][0].box == pytest.approx((110, 105, 50, 30), abs=0.6)
    click(view, 230, 130, SHIFT)
    assert view.selected_ids() == [1, 2]
    click(view, 230, 130)  # a click on a selected shape keeps the selection
    assert view.selected_ids() == [1, 2]
    click(view, 350, 250)  # empty space clears it
    click(view, 230, 130)
    drag(view, (200, 100), (200, 90))  # drag vertex 0
    QTest.mouseClick(view.viewport(), LEFT, CTRL, at(view, 230, 95))  # insert on edge 0-1
    assert [d for _, d in edits[2:]] == ["edited a polygon", "inserted a vertex"]
    assert edits[2][0][0].points[0] == pytest.approx([200, 90], abs=0.6)
    assert len(edits[3][0][0].points) == 5
    QTest.mouseMove(view.viewport(), at(view, 260, 160))
    assert view.delete_vertex() and len(edits[4][0][0].points) == 4
    assert [260, 160] not in edits[4][0][0].points  # the hovered vertex went
    QTest.mouseDClick(view.viewport(), LEFT, NONE, at(view, 230, 130))  # on the edge (260, 100)-(200, 160)
    assert edits[-1][1] == "inserted a vertex" and len(edits[-1][0][0].points) == 5


def test_rubber_band_and_escape(view: CanvasView) -> None:
    view.set_shapes([box(1, 100, 100, 10, 10), box(2, 120, 100, 10, 10), box(3, 300, 200, 10, 10)])
    drag(view, (90, 90), (140, 120))
    assert view.selected_ids() == [1, 2]
    drag(view, (290, 190), (320, 220), modifiers=SHIFT)
    assert view.selected_ids() == [1, 2, 3]
    port = view.viewport()
    QTest.mousePress(port, LEFT, NONE, at(view, 105, 105))
    QTest.mouseMove(port, at(view, 150, 150))
    assert view.tool.cancel()  # Esc during a drag puts the shapes back
    QTest.mouseRelease(port, LEFT, NONE, at(view, 150, 150))
    assert view.item(1).geometry() == (100, 100, 10, 10)


def test_zoom_pan_fit_and_actual_size(view: CanvasView, qtbot: Any) -> None:
    port = view.viewport()
    anchor = QPointF(300, 200)
    before = view.mapToScene(anchor.toPoint())
    wheel = QWheelEvent(anchor, view.mapToGlobal(anchor), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
                        NONE, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(port, wheel)
    assert view.zoom() == pytest.approx(2.5)
    after = view.mapToScene(anchor.toPoint())
    assert math.hypot(after.x() - before.x(), after.y() - before.y()) < 1.0
    centre = view.mapToScene(port.rect().center())
    drag(view, (200, 150), (180, 140), button=MIDDLE)
    moved = view.mapToScene(port.rect().center())
    assert moved.x() - centre.x() == pytest.approx(20, abs=1) and moved.y() - centre.y() == pytest.approx(10, abs=1)
    QTest.keyPress(view, Qt.Key.Key_Space)
    drag(view, (200, 150), (220, 150))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert view.mapToScene(port.rect().center()).x() == pytest.approx(moved.x() - 20, abs=1)
    assert view.selected_ids() == []
    view.fit()
    visible = view.mapToScene(port.rect()).boundingRect()
    assert visible.contains(QRectF(0, 0, 400, 300)) and view.zoom() == pytest.approx(view.fit_zoom())
    view.actual_size()
    assert view.zoom() == 1.0


def test_shape_model_hit_tests() -> None:
    model = ShapeModel([box(1, 0, 0, 100, 100), box(2, 40, 40, 10, 10),
                        polygon(3, [[200, 0], [300, 0], [200, 100]]),
                        Annotation(4, 1, 1, "tag", None, None)])
    assert len(model) == 3 and model.get(4) is None
    assert model.hit(QPointF(45, 45), 1) == 2  # the smaller box wins
    assert model.hit(QPointF(10, 10), 1) == 1
    assert model.hit(QPointF(290, 90), 1) is None  # inside the bounds, outside the triangle
    assert model.hit(QPointF(220, 20), 1) == 3
    assert model.hit(QPointF(251, 51), 2) == 3  # near the diagonal edge
    assert model.inside(QRectF(30, 30, 30, 30)) == [2]
    distance, edge, point = distance_to_edges([[0, 0], [10, 0], [10, 10]], 5, -3)
    assert (distance, edge) == (3, 0) and (point.x(), point.y()) == (5, 0)


def test_level_of_detail_with_10000_shapes(view: CanvasView) -> None:
    shapes = [box(i + 1, (i % 100) * 4, (i // 100) * 3, 3, 2, 1 + i % 2) for i in range(10_000)]
    view.set_shapes(shapes)
    view.fit()
    view.viewport().repaint()
    layer = view.shape_layer
    assert layer.last_mode == "raster"
    view.zoom_to(16, QPointF(0, 0))
    view.viewport().repaint()
    assert layer.last_mode == "direct"
    assert int(layer.model.mask(view.mapToScene(view.viewport().rect()).boundingRect()).sum()) <= DIRECT_LIMIT
    view.select([1, 2, 3])
    assert len(view.selected_items()) == 3 and not layer._shown[:3].any() and layer._shown[3:].all()


def _painted(layer: Any, size: tuple[int, int] = (400, 300)) -> Any:
    """The shape layer drawn (directly, with fills) into a transparent image of the scene's size."""
    import numpy as np
    from PySide6.QtGui import QImage, QPainter

    image = QImage(size[0], size[1], QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    layer.draw(painter, np.arange(len(layer.model)), cheap=False, fill=True)
    painter.end()
    return image


def test_multi_part_polygon_is_drawn_hit_and_moved_as_one_object(view: CanvasView) -> None:
    parts = Annotation(1, 1, 2, "polygon", None, [[20, 20], [80, 20], [80, 80], [20, 80], [200, 20], [260, 20],
                                                  [260, 80], [200, 80]], attributes={"polygon_parts": [4, 4]})
    shapes = {1: parts}
    view.set_shapes([parts])
    model = view.model()
    assert model.bounds[0].tolist() == [20, 20, 260, 80]  # the box is the extent of every part
    painted = _painted(view.shape_layer)
    assert painted.pixelColor(50, 50).alpha() > 0 and painted.pixelColor(230, 50).alpha() > 0  # both parts
    assert painted.pixelColor(140, 50).alpha() == 0  # nothing is drawn between the parts
    assert model.hit(QPointF(230, 50), 1) == 1 and model.hit(QPointF(140, 50), 1) is None
    edits: list = []
    view.edited.connect(lambda changes, description: edits.append((changes, description)))
    click(view, 230, 50)
    assert view.selected_ids() == [1]
    item = view.item(1)
    assert item is not None and item.handle_points() == []  # moved and deleted as one, vertices not editable
    drag(view, (230, 50), (240, 60))
    assert [d for _, d in edits] == ["moved 1 shape"]
    moved = edits[0][0][0].points
    assert len(moved) == 8 and sum(moved, []) == pytest.approx([v + 10 for p in parts.points for v in p], abs=0.6)
    assert not view.delete_vertex()
    shapes[1] = replace(parts, points=moved)
    view.set_shapes(list(shapes.values()))
    assert view.model().bounds[0].tolist() == pytest.approx([30, 30, 270, 90], abs=0.6)


def test_crowd_region_is_drawn_hatched(view: CanvasView) -> None:
    crowd = Annotation(1, 1, 1, "box", (20, 20, 100, 100), None, attributes={"iscrowd": 1})
    plain = Annotation(2, 1, 1, "box", (200, 20, 100, 100), None)
    view.set_shapes([crowd, plain])
    painted = _painted(view.shape_layer)

    def coverage(x0: int) -> float:
        inside = [painted.pixelColor(x, y).alpha() > 0 for x in range(x0 + 10, x0 + 90) for y in range(30, 110)]
        return sum(inside) / len(inside)

    assert coverage(200) == 1.0  # an object: filled
    assert 0.02 < coverage(20) < 0.6  # an ignore region: hatched lines, gaps between them
    import numpy as np
    from PySide6.QtGui import QImage, QPainter, QTransform

    tab_image = QImage(400, 300, QImage.Format.Format_ARGB32)
    painter = QPainter(tab_image)
    view.shape_layer._draw_labels(painter, np.arange(2), QTransform(), 1.0)
    painter.end()
    tabs = [key for key in view.shape_layer._labels if isinstance(key, tuple)]  # label tabs with their own text
    assert [text.endswith(" · crowd (ignored)") for _, text in tabs] == [True]  # the crowd region's, not the box's
    click(view, 70, 70)
    assert view.item(1) is not None and view.item(1).brush().style() == Qt.BrushStyle.BDiagPattern
