"""Editable shape items: the selected shapes are lifted out of the shape layer into these, with a label and handles
(box corners and edge midpoints, polygon vertices) that stay the same size on screen at every zoom.

A multi-part polygon is one :class:`MultiPolygonItem`: all its outlines, moved (and deleted) as one object; its
vertices cannot be edited on the canvas (no handles)."""

from __future__ import annotations

from typing import Optional, Sequence, Union

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen, QPolygonF, QTransform
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsPolygonItem, QGraphicsRectItem,
                               QGraphicsSimpleTextItem)

from cvops_app.canvas.shapes import ClassStyle, label_font, rings_path
from cvops_app.canvas.style import dashed, suggestion_text

HANDLE_SIZE = 8  # device pixels
HANDLE_REACH = 7  # device pixels: how close the pointer must be to grab a handle
SELECTED_ALPHA = 70
IGNORES_TRANSFORMATIONS = QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations
# Box handles: corners clockwise from the top left, then edge midpoints (top, right, bottom, left). Each moves the
# named sides: (left, top, right, bottom).
BOX_HANDLE_SIDES = ((1, 1, 0, 0), (0, 1, 1, 0), (0, 0, 1, 1), (1, 0, 0, 1),
                    (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (1, 0, 0, 0))
BOX_HANDLE_CURSORS = (Qt.CursorShape.SizeFDiagCursor, Qt.CursorShape.SizeBDiagCursor) * 2 + \
    (Qt.CursorShape.SizeVerCursor, Qt.CursorShape.SizeHorCursor) * 2


class Handle(QGraphicsRectItem):
    """A square grip of fixed screen size."""

    def __init__(self, parent: QGraphicsItem, color: QColor) -> None:
        half = HANDLE_SIZE / 2
        super().__init__(QRectF(-half, -half, HANDLE_SIZE, HANDLE_SIZE), parent)
        self.setFlag(IGNORES_TRANSFORMATIONS)
        pen = QPen(color, 1)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setBrush(QBrush(Qt.GlobalColor.white))

    def set_hot(self, hot: bool) -> None:
        """Highlight the handle under the pointer."""
        self.setBrush(QBrush(self.pen().color() if hot else Qt.GlobalColor.white))


class Label(QGraphicsRectItem):
    """The class name on a colored tab, of fixed screen size, at the shape's top-left corner."""

    def __init__(self, parent: QGraphicsItem, style: ClassStyle, text: Optional[str] = None) -> None:
        super().__init__(parent)
        self.setFlag(IGNORES_TRANSFORMATIONS)
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.setBrush(style.label_brush)
        self.text = QGraphicsSimpleTextItem(style.name if text is None else text, self)
        self.text.setFont(label_font())
        self.text.setBrush(QBrush(style.text_color))
        bounds = self.text.boundingRect()
        self.size = (bounds.width() + 6, bounds.height() + 2)
        self.offset = 0.0
        self.set_offset(0.0)

    def set_offset(self, dy: float) -> None:
        """Draw the tab ``dy`` screen pixels below the shape's corner (clear of another selected shape's tab)."""
        self.offset = dy
        self.setRect(QRectF(0, dy, *self.size))
        self.text.setPos(3, 1 + dy)


def clamp(point: QPointF, bounds: QRectF) -> QPointF:
    """``point`` moved into ``bounds``."""
    return QPointF(min(max(point.x(), bounds.left()), bounds.right()),
                   min(max(point.y(), bounds.top()), bounds.bottom()))


def _outline(style: ClassStyle, suggested: bool = False) -> tuple[QPen, QBrush]:
    pen = QPen(style.color, 3)
    pen.setCosmetic(True)
    pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
    if suggested:
        pen = dashed(pen)
    fill = QColor(style.color)
    fill.setAlpha(SELECTED_ALPHA)
    return pen, QBrush(fill)


def _selected_shape(item: "BoxItem | MultiPolygonItem", annotation_id: int, style: ClassStyle, labels: bool,
                    suggested: bool, confidence: Optional[float]) -> None:
    """What every selected shape item starts with: its annotation id, outline, fill and class label."""
    item.annotation_id = annotation_id
    item.suggested = suggested
    item.setZValue(2)
    pen, brush = _outline(style, suggested)
    item.setPen(pen)
    item.setBrush(brush)
    item.label = Label(item, style, suggestion_text(style.name, confidence) if suggested else None)
    item.label.setVisible(labels)


class BoxItem(QGraphicsRectItem):
    """A selected box; item coordinates are scene coordinates."""

    kind = "box"

    def __init__(self, annotation_id: int, box: Sequence[float], style: ClassStyle, labels: bool,
                 suggested: bool = False, confidence: Optional[float] = None) -> None:
        super().__init__()
        _selected_shape(self, annotation_id, style, labels, suggested, confidence)
        self.handles = [Handle(self, style.color) for _ in BOX_HANDLE_SIDES]
        self.set_box(QRectF(*box))
        self._start = QRectF(self.rect())

    def set_box(self, rect: QRectF) -> None:
        """Move or resize the box (normalized)."""
        rect = rect.normalized()
        self.setRect(rect)
        self.label.setPos(rect.topLeft())
        for handle, point in zip(self.handles, self.handle_points()):
            handle.setPos(point)

    def handle_points(self) -> list[QPointF]:
        """Scene positions of the handles, in ``BOX_HANDLE_SIDES`` order."""
        r = self.rect()
        c = r.center()
        return [r.topLeft(), r.topRight(), r.bottomRight(), r.bottomLeft(),
                QPointF(c.x(), r.top()), QPointF(r.right(), c.y()), QPointF(c.x(), r.bottom()),
                QPointF(r.left(), c.y())]

    def begin(self) -> None:
        """Remember the geometry a drag starts from."""
        self._start = QRectF(self.rect())

    def changed(self) -> bool:
        """True when the geometry differs from where the drag began."""
        return self.rect() != self._start

    def drag_handle(self, index: int, delta: QPointF, bounds: QRectF) -> None:
        """Resize from the drag start by moving handle ``index`` by ``delta``, kept inside ``bounds``."""
        start = self._start
        moves = BOX_HANDLE_SIDES[index]
        moved = clamp(QPointF(start.topLeft() + delta), bounds), clamp(QPointF(start.bottomRight() + delta), bounds)
        left = moved[0].x() if moves[0] else start.left()
        top = moved[0].y() if moves[1] else start.top()
        right = moved[1].x() if moves[2] else start.right()
        bottom = moved[1].y() if moves[3] else start.bottom()
        self.set_box(QRectF(QPointF(left, top), QPointF(right, bottom)))

    def translate_by(self, delta: QPointF) -> None:
        """Move to the drag start shifted by ``delta``."""
        self.set_box(self._start.translated(delta))

    def geometry(self) -> tuple[float, float, float, float]:
        """``(x, y, w, h)`` as the core stores it."""
        r = self.rect()
        return (r.x(), r.y(), r.width(), r.height())

    def bounds(self) -> QRectF:
        """The shape's bounding rectangle in scene coordinates."""
        return self.rect()


class PolygonItem(QGraphicsPolygonItem):
    """A selected polygon; item coordinates are scene coordinates. Vertex handles are in point order."""

    kind = "polygon"

    def __init__(self, annotation_id: int, points: Sequence[Sequence[float]], style: ClassStyle,
                 labels: bool, suggested: bool = False, confidence: Optional[float] = None) -> None:
        super().__init__()
        self.annotation_id = annotation_id
        self.suggested = suggested
        self.setZValue(2)
        self.class_style = style
        pen, brush = _outline(style, suggested)
        self.setPen(pen)
        self.setBrush(brush)
        self.setFillRule(Qt.FillRule.OddEvenFill)
        self.label = Label(self, style, suggestion_text(style.name, confidence) if suggested else None)
        self.label.setVisible(labels)
        self.handles: list[Handle] = []
        self.set_points([QPointF(x, y) for x, y in points])
        self._start = self.points()

    def set_points(self, points: Sequence[QPointF]) -> None:
        """Replace the vertices (handles follow)."""
        self.setPolygon(QPolygonF(list(points)))
        while len(self.handles) < len(points):
            self.handles.append(Handle(self, self.class_style.color))
        while len(self.handles) > len(points):
            handle = self.handles.pop()
            handle.setParentItem(None)
            if handle.scene() is not None:
                handle.scene().removeItem(handle)
        for handle, point in zip(self.handles, points):
            handle.setPos(point)
        self.label.setPos(self.polygon().boundingRect().topLeft())

    def points(self) -> list[QPointF]:
        """The vertices."""
        return list(self.polygon())

    def handle_points(self) -> list[QPointF]:
        """Scene positions of the vertex handles."""
        return self.points()

    def begin(self) -> None:
        """Remember the geometry a drag starts from."""
        self._start = self.points()

    def changed(self) -> bool:
        """True when the geometry differs from where the drag began."""
        return self.points() != self._start

    def drag_handle(self, index: int, delta: QPointF, bounds: QRectF) -> None:
        """Move vertex ``index`` from its drag-start position by ``delta``, kept inside ``bounds``."""
        points = list(self._start)
        points[index] = clamp(points[index] + delta, bounds)
        self.set_points(points)

    def translate_by(self, delta: QPointF) -> None:
        """Move to the drag start shifted by ``delta``."""
        self.set_points([p + delta for p in self._start])

    def geometry(self) -> list[list[float]]:
        """``[[x, y], ...]`` as the core stores it."""
        return [[p.x(), p.y()] for p in self.polygon()]

    def bounds(self) -> QRectF:
        """The shape's bounding rectangle in scene coordinates."""
        return self.polygon().boundingRect()


class MultiPolygonItem(QGraphicsPathItem):
    """A selected multi-part polygon: every outline drawn, moved as one; no vertex handles."""

    kind = "polygon"

    def __init__(self, annotation_id: int, rings: Sequence[Sequence[Sequence[float]]], style: ClassStyle,
                 labels: bool, suggested: bool = False, confidence: Optional[float] = None) -> None:
        super().__init__()
        _selected_shape(self, annotation_id, style, labels, suggested, confidence)
        self.handles: list[Handle] = []
        self.rings = [[QPointF(x, y) for x, y in ring] for ring in rings]
        self._start = [list(r) for r in self.rings]
        self._show()

    def _show(self) -> None:
        self.setPath(rings_path([[(p.x(), p.y()) for p in ring] for ring in self.rings]))
        self.label.setPos(self.path().boundingRect().topLeft())

    def handle_points(self) -> list[QPointF]:
        """No handles: a multi-part polygon's vertices are not edited on the canvas."""
        return []

    def begin(self) -> None:
        """Remember the geometry a drag starts from."""
        self._start = [list(r) for r in self.rings]

    def changed(self) -> bool:
        """True when the geometry differs from where the drag began."""
        return self.rings != self._start

    def drag_handle(self, index: int, delta: QPointF, bounds: QRectF) -> None:
        """Nothing to drag (there are no handles)."""

    def translate_by(self, delta: QPointF) -> None:
        """Move every part to its drag start shifted by ``delta``."""
        self.rings = [[p + delta for p in ring] for ring in self._start]
        self._show()

    def contains_point(self, pos: QPointF) -> bool:
        """True when ``pos`` lies inside one of the parts."""
        return self.path().contains(pos)

    def geometry(self) -> list[list[float]]:
        """The parts' points one after the other, as the core stores them (``polygon_parts`` unchanged)."""
        return [[p.x(), p.y()] for ring in self.rings for p in ring]

    def bounds(self) -> QRectF:
        """The extent of all parts in scene coordinates."""
        return self.path().boundingRect()


ShapeItem = Union[BoxItem, PolygonItem, MultiPolygonItem]


def handle_at(item: ShapeItem, view_pos: QPointF, to_view: QTransform) -> Optional[int]:
    """The index of the handle of ``item`` within reach of ``view_pos`` (viewport coordinates), nearest first."""
    best: Optional[int] = None
    best_distance = float(HANDLE_REACH)
    for i, point in enumerate(item.handle_points()):
        d = to_view.map(point) - view_pos
        distance = max(abs(d.x()), abs(d.y()))
        if distance <= best_distance:
            best, best_distance = i, distance
    return best
