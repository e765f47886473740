"""The annotation canvas: a QGraphicsView over the image layer (z 0), the shape layer (z 1) and the selected shapes
as editable items (z 2). Zoom with the wheel around the pointer, pan with the middle button or Space + drag, fit,
1:1. Mouse work goes to the current tool; finished edits leave as signals for the page to commit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush, QColor, QKeyEvent, QKeySequence, QMouseEvent, QPainter, QResizeEvent, QTransform, QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QWidget

from cvops.data.annotations import Annotation, AnnotationEdit
from cvops.data.classes import ClassInfo
from cvops_app.canvas.image_layer import ImageLayer
from cvops_app.canvas.items import BoxItem, MultiPolygonItem, PolygonItem, ShapeItem
from cvops_app.canvas.label_layout import place_labels
from cvops_app.canvas.shapes import LABEL_LIMIT, UNKNOWN_STYLE, ClassStyle, ShapeLayer, ShapeModel, styles_for
from cvops_app.canvas.tools import BoxTool, PolygonTool, SelectTool, Tool
from cvops_app.jobs import JobManager
from cvops_app.shortcuts import by_action

MAX_ZOOM = 32.0
WHEEL_STEP = 1.25  # zoom factor per wheel notch
SCENE_MARGIN = 0.1  # empty space around the image, as a fraction of its longer side
HIT_TOLERANCE = 4  # device pixels
FIT_PADDING = 8  # device pixels around a fitted image
FOCUS_SHARE = 0.25  # focus_on zooms until the box fills this share of the view ...
FOCUS_MAX_ZOOM = 2.0  # ... but no more than this many times the fit zoom
BACKGROUND = QColor(32, 32, 32)


def pan_key() -> int:
    """The key held to pan with the left button (the shortcut table's "pan" gesture, e.g. "Space+drag")."""
    return QKeySequence(by_action("pan").keys[0].split("+")[0])[0].key().value


class CanvasView(QGraphicsView):
    """Shows one image and its shapes; emits what the user drew or edited."""

    box_drawn = Signal(object)  # (x, y, w, h)
    polygon_drawn = Signal(object)  # [[x, y], ...]
    edited = Signal(object, str)  # list[AnnotationEdit], description
    selection_changed = Signal(object)  # list of annotation ids
    view_changed = Signal()  # zoom or scroll position
    tool_changed = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        scene = QGraphicsScene(self)
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.setScene(scene)
        # the image's own job runner; it leaves a core to the GUI
        self.jobs = JobManager(self, threads=max(1, min(2, (os.cpu_count() or 2) - 1)))
        self.image_layer = ImageLayer(self.jobs)
        self.shape_layer = ShapeLayer()
        scene.addItem(self.image_layer)
        scene.addItem(self.shape_layer)
        self.image_layer.failed.connect(self.set_message)
        self.image_layer.progressed.connect(self.view_changed)
        self.styles: dict[int, ClassStyle] = {}
        self.current_class: Optional[int] = None
        self.labels_visible = True
        self.message = ""
        self._items: dict[int, ShapeItem] = {}
        self._selected: list[int] = []
        self._pan_from: Optional[QPointF] = None
        self._pan_key_down = False
        self._pan_key = pan_key()
        self.select_tool = SelectTool(self)
        self.tools: dict[str, Tool] = {t.name: t for t in (self.select_tool, BoxTool(self), PolygonTool(self))}
        self.tool: Tool = self.tools["select"]
        self.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState
                                  | QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setBackgroundBrush(QBrush(BACKGROUND))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)
        self.horizontalScrollBar().valueChanged.connect(self.view_changed)
        self.verticalScrollBar().valueChanged.connect(self.view_changed)
        self._fit_pending = True
        self._focus: Optional[QRectF] = None  # the area focus_on keeps in view until the user zooms or pans
        self._labels_zoom = 0.0  # the zoom the selected shapes' labels were laid out at
        self.view_changed.connect(self._zoom_changed)
        self.set_image(None, 1, 1)

    # -- content ------------------------------------------------------------------------------------------------------
    def set_image(self, path: Optional[Path], width: int, height: int) -> None:
        """Show another image (``path`` None: none); the view fits it. Shapes are set separately."""
        for tool in self.tools.values():
            tool.cancel()
        self.select([])
        self.message = ""
        self.image_layer.load(path, width, height)
        margin = SCENE_MARGIN * max(width, height)
        rect = QRectF(0, 0, width, height).adjusted(-margin, -margin, margin, margin)
        self.scene().setSceneRect(rect)
        self.shape_layer.set_bounds(rect, self.fit_zoom())
        self.fit()

    def image_rect(self) -> QRectF:
        """The image in scene coordinates: ``(0, 0, width, height)``."""
        return self.image_layer.boundingRect()

    def set_classes(self, classes: Sequence[ClassInfo]) -> None:
        """The label schema (colors and names of the shapes)."""
        self.styles = styles_for(classes)
        self.shape_layer.set_styles(self.styles)
        self.reset_items()

    def set_shapes(self, annotations: Sequence[Annotation]) -> None:
        """The shapes of the image (tags are ignored); the selection is kept where its shapes still exist."""
        model = ShapeModel(annotations)
        kept = [i for i in self._selected if i in model.index]
        changed = kept != self._selected
        self._selected = kept
        self.shape_layer.set_model(model, kept)
        self.reset_items()
        if changed:
            self.selection_changed.emit(list(kept))

    def model(self) -> ShapeModel:
        """The shapes shown."""
        return self.shape_layer.model

    def draw_style(self) -> ClassStyle:
        """The style of the class new shapes get."""
        return self.styles.get(self.current_class or -1, UNKNOWN_STYLE)

    def set_labels(self, visible: bool) -> None:
        """Show or hide the class-name labels."""
        self.labels_visible = visible
        self.shape_layer.set_labels(visible)
        for item in self._items.values():
            item.label.setVisible(visible)

    def set_message(self, text: str) -> None:
        """A message over the middle of the view (why the image cannot be shown); empty hides it."""
        self.message = text
        self.viewport().update()

    def settled(self) -> bool:
        """True when the image (or its failure) is shown and no tile work is pending."""
        return self.image_layer.settled()

    # -- selection and editable items ---------------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        """Annotation ids of the selected shapes."""
        return list(self._selected)

    def selected_items(self) -> list[ShapeItem]:
        """The editable items of the selected shapes."""
        return [self._items[i] for i in self._selected if i in self._items]

    def item(self, annotation_id: int) -> Optional[ShapeItem]:
        """The editable item of a selected shape."""
        return self._items.get(annotation_id)

    def select(self, ids: Sequence[int]) -> None:
        """Select these shapes (unknown ids are ignored)."""
        model = self.model()
        wanted = [i for i in dict.fromkeys(ids) if i in model.index]
        if wanted == self._selected:
            return
        self._selected = wanted
        self.shape_layer.set_hidden(wanted)
        self.reset_items()
        self.selection_changed.emit(list(wanted))

    def reset_items(self) -> None:
        """Rebuild the editable items of the selection from the model (drops uncommitted changes)."""
        scene = self.scene()
        for item in self._items.values():
            scene.removeItem(item)
        self._items = {}
        for aid in self._selected:
            shape = self.model().get(aid)
            if shape is None:
                continue
            style = self.styles.get(shape.class_id, UNKNOWN_STYLE)
            suggested = shape.source == "model"  # a model's suggestion: dashed, confidence in the label
            rings = shape.rings
            item: ShapeItem
            if shape.box is not None:
                item = BoxItem(aid, shape.box, style, self.labels_visible, suggested, shape.confidence)
            elif len(rings) > 1:
                item = MultiPolygonItem(aid, rings, style, self.labels_visible, suggested, shape.confidence)
            else:
                item = PolygonItem(aid, shape.points or [], style, self.labels_visible, suggested, shape.confidence)
            if shape.crowd:  # an ignore region stays hatched while selected
                item.setBrush(style.hatch)
            scene.addItem(item)
            self._items[aid] = item
        self.layout_item_labels()

    def layout_item_labels(self) -> None:
        """Move the selected shapes' labels (stacked suggestions selected together) down below each other where
        they would overlap (:func:`~cvops_app.canvas.label_layout.place_labels`, in view pixels); the shape layer
        keeps its labels clear of them where they are."""
        items = self.selected_items()
        self._labels_zoom = self.zoom()
        offsets = np.zeros(len(items))
        if 1 < len(items) <= LABEL_LIMIT:
            to_view = self.viewportTransform()
            anchors = np.array([[p.x(), p.y()] for p in (to_view.map(item.label.pos()) for item in items)])
            sizes = np.array([item.label.size for item in items])
            offsets = place_labels(anchors, sizes)[:, 1] - anchors[:, 1]
        for item, dy in zip(items, offsets):
            item.label.set_offset(float(dy))
        self.shape_layer.set_label_offsets({item.annotation_id: float(dy) for item, dy in zip(items, offsets) if dy})

    def _zoom_changed(self) -> None:
        """Zooming changes which labels would overlap (a pan does not)."""
        if len(self._items) > 1 and self.zoom() != self._labels_zoom:
            self.layout_item_labels()

    def shape_at(self, pos: QPointF) -> Optional[int]:
        """The shape under a scene position: a selected one first, else the smallest one there."""
        tolerance = HIT_TOLERANCE / max(self.zoom(), 1e-9)
        for item in self.selected_items():
            if item.bounds().adjusted(-tolerance, -tolerance, tolerance, tolerance).contains(pos) and (
                    isinstance(item, BoxItem) or (item.contains_point(pos) if isinstance(item, MultiPolygonItem)
                                                  else item.polygon().containsPoint(pos, Qt.FillRule.OddEvenFill))):
                return item.annotation_id
        return self.model().hit(pos, tolerance)

    def commit(self, items: Sequence[ShapeItem], description: str) -> None:
        """Hand the geometry of edited items to the page (one undo step)."""
        edits = [AnnotationEdit(item.annotation_id, box=item.geometry()) if isinstance(item, BoxItem)
                 else AnnotationEdit(item.annotation_id, points=item.geometry()) for item in items]
        self.edited.emit(edits, description)

    # -- tools --------------------------------------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        """Switch tools ("select", "box", "polygon"); work in progress is dropped."""
        self.tool.cancel()
        self.tool = self.tools[name]
        self.viewport().setCursor(self.tool.cursor)
        self.tool_changed.emit(name)

    def delete_vertex(self) -> bool:
        """Remove the targeted polygon vertex (hovered or last grabbed) when 4 or more remain; True if done."""
        target = self.select_tool.vertex_target()
        item = self.item(target[0]) if target else None
        if target is None or not isinstance(item, PolygonItem) or len(item.points()) <= 3:
            return False
        points = item.points()
        del points[target[1]]
        item.set_points(points)
        self.select_tool.hot = self.select_tool.vertex = None
        self.commit([item], "deleted a vertex")
        return True

    # -- zoom and pan -------------------------------------------------------------------------------------------------
    def zoom(self) -> float:
        """Device pixels per image pixel."""
        return self.transform().m11()

    def fit_zoom(self) -> float:
        """The zoom at which the whole image fits the view."""
        rect, port = self.image_rect(), self.viewport().rect().adjusted(FIT_PADDING, FIT_PADDING, -FIT_PADDING,
                                                                         -FIT_PADDING)
        return max(min(port.width() / rect.width(), port.height() / rect.height()), 1e-6)

    def fit(self) -> None:
        """Fit the image in the view (F)."""
        self._fit_pending, self._focus = True, None
        self.setTransform(QTransform.fromScale(self.fit_zoom(), self.fit_zoom()))
        self.centerOn(self.image_rect().center())
        self.view_changed.emit()

    def focus_on(self, rect: QRectF) -> None:
        """Centre the view on ``rect`` (scene coordinates), zoomed in until it fills :data:`FOCUS_SHARE` of the view
        (between the fit zoom and :data:`FOCUS_MAX_ZOOM` times it); kept across resizes until the user zooms or pans."""
        port = self.viewport().rect()
        fit = self.fit_zoom()
        zoom = min(port.width() * FOCUS_SHARE / max(rect.width(), 1.0),
                   port.height() * FOCUS_SHARE / max(rect.height(), 1.0), fit * FOCUS_MAX_ZOOM, MAX_ZOOM)
        self._fit_pending, self._focus = False, QRectF(rect)
        self.setTransform(QTransform.fromScale(max(zoom, fit), max(zoom, fit)))
        self.centerOn(rect.center())
        self.view_changed.emit()

    def actual_size(self) -> None:
        """Zoom to 1:1 around the middle of the view (Ctrl+0)."""
        self.zoom_to(1.0, QPointF(self.viewport().rect().center()))

    def zoom_to(self, zoom: float, anchor: QPointF) -> None:
        """Zoom keeping the image point under ``anchor`` (viewport coordinates) in place."""
        self._fit_pending, self._focus = False, None
        zoom = min(max(zoom, min(self.fit_zoom() / 2, 1.0)), MAX_ZOOM)
        target = self.viewportTransform().inverted()[0].map(anchor)
        port = self.viewport()
        port.setUpdatesEnabled(False)  # the scroll bars would scroll pixels about to be repainted anyway
        self.setTransform(QTransform.fromScale(zoom, zoom))
        moved = self.viewportTransform().map(target) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(moved.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(moved.y()))
        port.setUpdatesEnabled(True)
        port.update()
        self.view_changed.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt)
        """Zoom around the pointer."""
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_to(self.zoom() * WHEEL_STEP ** steps, event.position())
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt)
        """Keep the image fitted until the user zooms or pans."""
        super().resizeEvent(event)
        self.shape_layer.set_overview_scale(self.fit_zoom())
        if self._fit_pending:
            self.fit()
        elif self._focus is not None:
            self.focus_on(self._focus)

    def _pan(self, at: QPointF) -> None:
        if self._pan_from is None:
            return
        delta = at - self._pan_from
        self._pan_from = at
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))

    # -- events -------------------------------------------------------------------------------------------------------
    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        return self.viewportTransform().inverted()[0].map(event.position())

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt)
        """Middle button or Space + left pans; left goes to the tool."""
        self.setFocus()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._pan_key_down):
            self._pan_from, self._focus = event.position(), None
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif button == Qt.MouseButton.LeftButton:
            self._fit_pending, self._focus = False, None
            self.tool.press(self._scene_pos(event), event.position(), event.modifiers())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt)
        """Pan, or let the tool drag or hover."""
        if self._pan_from is not None:
            self._pan(event.position())
        else:
            self.tool.move(self._scene_pos(event), event.position(), event.modifiers())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt)
        """End a pan or the tool's drag."""
        if self._pan_from is not None:
            self._pan(event.position())
            self._pan_from = None
            self._fit_pending = False
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._pan_key_down else self.tool.cursor)
        elif event.button() == Qt.MouseButton.LeftButton:
            self.tool.release(self._scene_pos(event), event.position(), event.modifiers())
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt)
        """A double-click goes to the tool (closes a polygon, inserts a vertex)."""
        if event.button() == Qt.MouseButton.LeftButton and self._pan_from is None:
            self.tool.double_click(self._scene_pos(event), event.position(), event.modifiers())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt)
        """Holding the pan key arms panning with the left button."""
        if event.key() == self._pan_key:
            if not event.isAutoRepeat():
                self._pan_key_down = True
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt)
        """Releasing the pan key disarms panning."""
        if event.key() == self._pan_key and not event.isAutoRepeat():
            self._pan_key_down = False
            if self._pan_from is None:
                self.viewport().setCursor(self.tool.cursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 (Qt)
        """The message box, in screen coordinates."""
        if not self.message:
            return
        painter.save()
        painter.resetTransform()
        area = QRectF(self.viewport().rect()).adjusted(40, 40, -40, -40)
        box = painter.boundingRect(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
        box.adjust(-16, -12, 16, 12)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 200))
        painter.drawRoundedRect(box, 8, 8)
        painter.setPen(QColor(255, 220, 120))
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
        painter.restore()
