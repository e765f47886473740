"""Mouse tools of the canvas: select / move / resize / edit vertices, draw a box, draw a polygon.

A tool gets scene positions (image pixels) and viewport positions (for screen-size tolerances) from the view. It
edits items live and hands finished work to the view (``commit``, ``box_drawn``, ``polygon_drawn``); nothing reaches
the workspace before the mouse is released.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem

from cvops.common.text import counted
from cvops_app.canvas.items import (
    BOX_HANDLE_CURSORS, HANDLE_REACH, BoxItem, PolygonItem, ShapeItem, clamp, handle_at,
)
from cvops_app.canvas.shapes import distance_to_edges

if TYPE_CHECKING:
    from cvops_app.canvas.view import CanvasView

Modifiers = Qt.KeyboardModifier
ADDITIVE = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
PREVIEW_Z = 3


def _dashed(color: QColor, width: int = 2) -> QPen:
    pen = QPen(color, width, Qt.PenStyle.DashLine)
    pen.setCosmetic(True)
    return pen


class Tool:
    """A mouse mode. Positions: ``pos`` in scene coordinates, ``at`` in viewport coordinates."""

    name = ""
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, view: "CanvasView") -> None:
        self.view = view

    def press(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        """Left button down."""

    def move(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        """Pointer moved (button down or not)."""

    def release(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        """Left button up."""

    def double_click(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        """Left double-click (after its first press and release)."""

    def drawing(self) -> bool:
        """True while a shape is being drawn."""
        return False

    def cancel(self) -> bool:
        """Drop the work in progress; True when there was some."""
        return False

    def finish(self) -> None:
        """Complete the shape being drawn (Enter)."""

    def remove_last(self) -> bool:
        """Remove the last point drawn; True when there was one."""
        return False

    def reach(self) -> float:
        """The handle reach in scene units at the current zoom."""
        return HANDLE_REACH / max(self.view.zoom(), 1e-9)


class SelectTool(Tool):
    """Click to select (Shift/Ctrl adds), drag to move, drag handles to resize or move vertices, drag on empty
    space for a rubber band. Ctrl+click or double-click on a selected polygon's edge inserts a vertex."""

    name = "select"

    def __init__(self, view: "CanvasView") -> None:
        super().__init__(view)
        self.mode: Optional[str] = None  # "move", "handle" or "band"
        self.origin = QPointF()
        self.handle: Optional[tuple[ShapeItem, int]] = None
        self.hot: Optional[tuple[int, int]] = None  # the handle under the pointer: (annotation id, index)
        self.vertex: Optional[tuple[int, int]] = None  # the polygon vertex last grabbed: (annotation id, index)
        self.band: Optional[QGraphicsRectItem] = None
        self.extent = QRectF()
        self.inserted = False
        self.previous: list[int] = []

    def press(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        view = self.view
        self.origin, self.inserted = pos, False
        to_view = view.viewportTransform()
        for item in view.selected_items():
            index = handle_at(item, at, to_view)
            if index is not None:
                self._grab(item, index)
                return
        if modifiers & Qt.KeyboardModifier.ControlModifier and self._insert_vertex(pos):
            return
        hit = view.shape_at(pos)
        selected = view.selected_ids()
        if hit is not None:
            if modifiers & ADDITIVE:
                view.select([i for i in selected if i != hit] if hit in selected else [*selected, hit])
                if hit not in view.selected_ids():
                    return
            elif hit not in selected:
                view.select([hit])
            self.mode = "move"
            self.extent = QRectF()
            for item in view.selected_items():
                item.begin()
                self.extent = item.bounds() if self.extent.isNull() else self.extent.united(item.bounds())
            return
        self.previous = selected if modifiers & ADDITIVE else []
        if not modifiers & ADDITIVE:
            view.select([])
        self.mode = "band"
        self.band = QGraphicsRectItem(QRectF(pos, pos))
        self.band.setPen(_dashed(QColor(255, 255, 255), 1))
        self.band.setBrush(QBrush(QColor(255, 255, 255, 30)))
        self.band.setZValue(PREVIEW_Z)
        view.scene().addItem(self.band)

    def _grab(self, item: ShapeItem, index: int) -> None:
        self.mode = "handle"
        self.handle = (item, index)
        item.begin()
        if isinstance(item, PolygonItem):
            self.vertex = (item.annotation_id, index)

    def _insert_vertex(self, pos: QPointF) -> bool:
        """Insert a vertex on the selected polygon edge nearest ``pos`` (within reach) and grab it."""
        for item in self.view.selected_items():
            if isinstance(item, PolygonItem):
                distance, edge, point = distance_to_edges(item.geometry(), pos.x(), pos.y())
                if distance <= self.reach():
                    points = item.points()
                    points.insert(edge + 1, point)
                    item.set_points(points)
                    self._grab(item, edge + 1)
                    self.origin, self.inserted = point, True
                    return True
        return False

    def move(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        view = self.view
        if self.mode is None:
            self._hover(at)
        elif self.mode == "band" and self.band is not None:
            self.band.setRect(QRectF(self.origin, pos).normalized())
        elif self.mode == "handle" and self.handle is not None:
            item, index = self.handle
            item.drag_handle(index, pos - self.origin, view.image_rect())
        elif self.mode == "move":
            area, extent, d = view.image_rect(), self.extent, pos - self.origin
            delta = QPointF(min(max(d.x(), area.left() - extent.left()), area.right() - extent.right()),
                            min(max(d.y(), area.top() - extent.top()), area.bottom() - extent.bottom()))
            for item in view.selected_items():
                item.translate_by(delta)

    def _hover(self, at: QPointF) -> None:
        to_view = self.view.viewportTransform()
        hot, cursor = None, self.cursor
        for item in self.view.selected_items():
            index = handle_at(item, at, to_view)
            if index is not None:
                hot = (item.annotation_id, index)
                cursor = BOX_HANDLE_CURSORS[index] if isinstance(item, BoxItem) else Qt.CursorShape.CrossCursor
                break
        if hot != self.hot:
            for key, on in ((self.hot, False), (hot, True)):
                item = self.view.item(key[0]) if key is not None else None
                if item is not None and key is not None and key[1] < len(item.handles):
                    item.handles[key[1]].set_hot(on)
            self.hot = hot
        self.view.viewport().setCursor(cursor)

    def release(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        view, mode = self.view, self.mode
        self.mode = None
        if mode == "band" and self.band is not None:
            rect = self.band.rect()
            view.scene().removeItem(self.band)
            self.band = None
            view.select([*self.previous, *(i for i in view.model().inside(rect) if i not in self.previous)])
        elif mode == "handle" and self.handle is not None:
            item = self.handle[0]
            self.handle = None
            if self.inserted or item.changed():
                view.commit([item], "inserted a vertex" if self.inserted else f"edited a {item.kind}")
        elif mode == "move":
            items = [i for i in view.selected_items() if i.changed()]
            if items:
                view.commit(items, f"moved {counted(len(items), 'shape')}")

    def double_click(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        to_view = self.view.viewportTransform()
        if any(handle_at(item, at, to_view) is not None for item in self.view.selected_items()):
            return
        if self._insert_vertex(pos):
            self.mode = None
            item = self.handle[0] if self.handle else None
            self.handle = None
            if item is not None:
                self.view.commit([item], "inserted a vertex")

    def vertex_target(self) -> Optional[tuple[int, int]]:
        """The polygon vertex Del removes, ``(annotation id, index)``: the one under the pointer, else the one last
        grabbed, if its polygon is still selected."""
        for key in (self.hot, self.vertex):
            item = self.view.item(key[0]) if key is not None else None
            if key is not None and isinstance(item, PolygonItem) and key[1] < len(item.points()):
                return key
        return None

    def cancel(self) -> bool:
        mode = self.mode
        self.mode, self.handle = None, None
        if mode == "band" and self.band is not None:
            self.view.scene().removeItem(self.band)
            self.band = None
        elif mode in ("move", "handle"):
            self.view.reset_items()
        return mode is not None


class BoxTool(Tool):
    """Drag a rectangle; on release it becomes a box of the current class."""

    name = "box"
    cursor = Qt.CursorShape.CrossCursor
    MIN_SIZE = 3  # device pixels: smaller drags are clicks, not boxes

    def __init__(self, view: "CanvasView") -> None:
        super().__init__(view)
        self.origin: Optional[QPointF] = None
        self.preview: Optional[QGraphicsRectItem] = None

    def press(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        self.cancel()
        self.origin = clamp(pos, self.view.image_rect())
        self.preview = QGraphicsRectItem(QRectF(self.origin, self.origin))
        color = self.view.draw_style().color
        self.preview.setPen(_dashed(color))
        fill = QColor(color)
        fill.setAlpha(40)
        self.preview.setBrush(QBrush(fill))
        self.preview.setZValue(PREVIEW_Z)
        self.view.scene().addItem(self.preview)

    def move(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        if self.origin is not None and self.preview is not None:
            self.preview.setRect(QRectF(self.origin, clamp(pos, self.view.image_rect())).normalized())

    def release(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        if self.origin is None:
            return
        rect = QRectF(self.origin, clamp(pos, self.view.image_rect())).normalized()
        self.cancel()
        zoom = self.view.zoom()
        if rect.width() * zoom >= self.MIN_SIZE and rect.height() * zoom >= self.MIN_SIZE:
            self.view.box_drawn.emit((rect.x(), rect.y(), rect.width(), rect.height()))

    def drawing(self) -> bool:
        return self.origin is not None

    def cancel(self) -> bool:
        had = self.origin is not None
        if self.preview is not None:
            self.view.scene().removeItem(self.preview)
        self.origin, self.preview = None, None
        return had


class PolygonTool(Tool):
    """Click vertices; Enter, a double-click or a click on the first vertex closes the polygon (3 points or more).
    Backspace removes the last vertex, Esc drops the polygon."""

    name = "polygon"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, view: "CanvasView") -> None:
        super().__init__(view)
        self.points: list[QPointF] = []
        self.pointer: Optional[QPointF] = None
        self.preview: Optional[QGraphicsPathItem] = None

    def press(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        p = clamp(pos, self.view.image_rect())
        to_view = self.view.viewportTransform()
        if len(self.points) >= 3:
            d = to_view.map(self.points[0]) - at
            if max(abs(d.x()), abs(d.y())) <= HANDLE_REACH:
                self.finish()
                return
        if self.points:
            d = to_view.map(self.points[-1]) - at
            if max(abs(d.x()), abs(d.y())) < 1:
                return
        self.points.append(p)
        self._update()

    def move(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        if self.points:
            self.pointer = clamp(pos, self.view.image_rect())
            self._update()

    def double_click(self, pos: QPointF, at: QPointF, modifiers: Modifiers) -> None:
        self.press(pos, at, modifiers)  # a no-op when the double-click's first press added this vertex
        self.finish()

    def _update(self) -> None:
        if self.preview is None:
            self.preview = QGraphicsPathItem()
            self.preview.setPen(_dashed(self.view.draw_style().color))
            self.preview.setZValue(PREVIEW_Z)
            self.view.scene().addItem(self.preview)
        path = QPainterPath(self.points[0])
        for p in self.points[1:]:
            path.lineTo(p)
        if self.pointer is not None:
            path.lineTo(self.pointer)
        self.preview.setPath(path)

    def drawing(self) -> bool:
        return bool(self.points)

    def finish(self) -> None:
        if len(self.points) < 3:
            return
        points = [[p.x(), p.y()] for p in self.points]
        self.cancel()
        self.view.polygon_drawn.emit(points)

    def remove_last(self) -> bool:
        if not self.points:
            return False
        self.points.pop()
        if self.points:
            self._update()
        else:
            self.cancel()
        return True

    def cancel(self) -> bool:
        had = bool(self.points)
        if self.preview is not None:
            self.view.scene().removeItem(self.preview)
        self.points, self.pointer, self.preview = [], None, None
        return had
