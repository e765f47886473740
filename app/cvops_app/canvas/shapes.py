"""The shapes of the image on the canvas: a model with a bounding-box index (culling, hit tests) and one layer item
that paints every shape that is not being edited.

One item paints them all, batched by class, because a scene item per shape costs too much once thousands are on
screen (10,000 rectangle items take ~50 ms a frame on a 2-core machine, even in C++). Level of detail:

* at most ``DIRECT_LIMIT`` shapes in view (a polygon counts as one box per 4 vertices): drawn directly each frame
  (2 px outlines, translucent fill unless the fills would overlap into more than ``FILL_BUDGET`` views' worth of
  blending), with class-name labels when at most ``LABEL_LIMIT`` are in view and labels are on;
* more: drawn from a cached raster of the shapes (1 px outlines, no fill, no labels), so a pan or zoom frame is one
  image blit. While zooming the raster is stretched; it is redrawn sharp once zooming pauses.

A multi-part polygon is drawn as all its outlines (one path) and selected, moved and deleted as one object; a crowd
(ignore) region is drawn hatched in its class color instead of filled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import (QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen, QPolygonF,
                           QTransform)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QStyleOptionGraphicsItem, QWidget

from cvops.data.annotations import Annotation
from cvops.data.classes import ClassInfo
from cvops_app.canvas.label_layout import place_labels
from cvops_app.canvas.style import dashed, suggestion_text

DIRECT_LIMIT = 600  # in box equivalents (see ShapeModel.costs)
POINTS_PER_BOX = 4
LABEL_LIMIT = 300
CACHE_MAX_PIXELS = 16_000_000
IDLE_MS = 150  # the view is resting when no frame was painted for this long
FILL_ALPHA = 40
FILL_BUDGET = 1.5  # fills are left out when they would cover the view more than this many times over
HATCH = Qt.BrushStyle.BDiagPattern  # crowd (ignore) regions
Geometry = Union[QRectF, QPolygonF, QPainterPath]
NO_SHAPES = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ClassStyle:
    """How the shapes of one class look."""

    name: str
    color: QColor
    pen: QPen  # 2 px cosmetic outline
    thin_pen: QPen  # 1 px, for the zoomed-out raster
    brush: QBrush  # translucent fill
    label_brush: QBrush
    text_color: QColor
    hatch: QBrush  # crowd (ignore) regions


    @classmethod
    def of(cls, name: str, color: str) -> "ClassStyle":
        """The style for a class name and ``#rrggbb`` color."""
        base = QColor(color)
        pen, thin = QPen(base, 2), QPen(base, 1)
        for p in (pen, thin):
            p.setCosmetic(True)
            p.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        fill = QColor(base)
        fill.setAlpha(FILL_ALPHA)
        label = QColor(base)
        label.setAlpha(220)
        dark_text = base.lightnessF() > 0.6
        return cls(name, base, pen, thin, QBrush(fill), QBrush(label),
                   QColor(Qt.GlobalColor.black if dark_text else Qt.GlobalColor.white), QBrush(base, HATCH))


UNKNOWN_STYLE = ClassStyle.of("?", "#808080")


def styles_for(classes: Sequence[ClassInfo]) -> dict[int, ClassStyle]:
    """Styles by class id."""
    return {c.id: ClassStyle.of(c.name, c.color) for c in classes}


def rings_path(rings: Sequence[Sequence[Sequence[float]]]) -> QPainterPath:
    """The outlines of a multi-part polygon as one path of closed subpaths (odd-even fill)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for ring in rings:
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in ring]))
        path.closeSubpath()
    return path


def label_font() -> QFont:
    """The font of shape labels."""
    font = QFont()
    font.setPixelSize(12)
    return font


def label_image(style: ClassStyle, ratio: float = 1.0, text: Optional[str] = None) -> QImage:
    """A class's label tab (name, or ``text``, on its color), for ``ratio`` device pixels per logical pixel."""
    font = label_font()
    metrics = QFontMetricsF(font)
    text = style.name if text is None else text
    width, height = metrics.horizontalAdvance(text) + 6, metrics.height() + 2
    image = QImage(math.ceil(width * ratio), math.ceil(height * ratio), QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(ratio)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.fillRect(QRectF(0, 0, width, height), style.label_brush)
    painter.setFont(font)
    painter.setPen(style.text_color)
    painter.drawText(QRectF(0, 0, width, height), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return image


class ShapeModel:
    """The boxes and polygons of one image, with numpy bounds for culling and hit tests. Tags are left out."""

    def __init__(self, annotations: Sequence[Annotation] = ()) -> None:
        self.shapes = [a for a in annotations if (a.kind == "box" and a.box) or (a.kind == "polygon" and a.points)]
        self.index = {a.id: i for i, a in enumerate(self.shapes)}
        n = len(self.shapes)
        self.bounds = np.zeros((n, 4))
        for i, a in enumerate(self.shapes):
            if a.box is not None:
                x, y, w, h = a.box
                self.bounds[i] = (x, y, x + w, y + h)
            else:
                pts = np.asarray(a.points, dtype=float)
                self.bounds[i, :2], self.bounds[i, 2:] = pts.min(axis=0), pts.max(axis=0)
        self.class_ids = np.array([a.class_id for a in self.shapes], dtype=np.int64)
        self.suggested = np.array([a.source == "model" for a in self.shapes], dtype=bool)  # drawn dashed
        self.crowd = np.array([a.crowd for a in self.shapes], dtype=bool)  # drawn hatched
        self.areas = (self.bounds[:, 2] - self.bounds[:, 0]) * (self.bounds[:, 3] - self.bounds[:, 1])
        # Drawing cost relative to a box: a polygon costs about one box per POINTS_PER_BOX vertices.
        self.costs = np.array([1.0 if a.box is not None else max(1.0, len(a.points or ()) / POINTS_PER_BOX)
                               for a in self.shapes])
        self._geometry: list[Optional[Geometry]] = [None] * n

    def __len__(self) -> int:
        return len(self.shapes)

    def get(self, annotation_id: int) -> Optional[Annotation]:
        """The shape with this annotation id, or None."""
        i = self.index.get(annotation_id)
        return None if i is None else self.shapes[i]

    def geometry(self, i: int) -> Geometry:
        """The Qt geometry of shape ``i`` (made on first use)."""
        geom = self._geometry[i]
        if geom is None:
            a = self.shapes[i]
            rings = a.rings
            if a.box is not None:
                geom = QRectF(*a.box)
            elif len(rings) > 1:
                geom = rings_path(rings)
            else:
                geom = QPolygonF([QPointF(x, y) for x, y in a.points or ()])
            self._geometry[i] = geom
        return geom

    def mask(self, rect: QRectF) -> np.ndarray:
        """Which shapes' bounds intersect ``rect``."""
        b = self.bounds
        return (b[:, 2] >= rect.left()) & (b[:, 0] <= rect.right()) & (b[:, 3] >= rect.top()) & \
            (b[:, 1] <= rect.bottom())

    def inside(self, rect: QRectF) -> list[int]:
        """Ids of the shapes lying entirely inside ``rect``."""
        b = self.bounds
        hit = (b[:, 0] >= rect.left()) & (b[:, 2] <= rect.right()) & (b[:, 1] >= rect.top()) & \
            (b[:, 3] <= rect.bottom())
        return [self.shapes[i].id for i in np.flatnonzero(hit)]

    def hit(self, pos: QPointF, tolerance: float) -> Optional[int]:
        """The id of the smallest shape at ``pos`` (edges count within ``tolerance`` scene units), or None."""
        b, x, y = self.bounds, pos.x(), pos.y()
        near = (b[:, 0] - tolerance <= x) & (x <= b[:, 2] + tolerance) & (b[:, 1] - tolerance <= y) & \
            (y <= b[:, 3] + tolerance)
        for i in sorted(np.flatnonzero(near), key=lambda k: self.areas[k]):
            a = self.shapes[i]
            if a.box is not None or any(self._on_polygon(r, x, y, tolerance) for r in a.rings):
                return a.id
        return None

    def _on_polygon(self, points: list[list[float]], x: float, y: float, tolerance: float) -> bool:
        poly = QPolygonF([QPointF(px, py) for px, py in points])
        if poly.containsPoint(QPointF(x, y), Qt.FillRule.OddEvenFill):
            return True
        return distance_to_edges(points, x, y)[0] <= tolerance


def distance_to_edges(points: Sequence[Sequence[float]], x: float, y: float) -> tuple[float, int, QPointF]:
    """Distance from ``(x, y)`` to a closed polygon's outline: ``(distance, edge index, nearest point)``, where edge
    ``i`` runs from point ``i`` to point ``i + 1``."""
    p = np.asarray(points, dtype=float)
    q = np.roll(p, -1, axis=0)
    d = q - p
    length2 = np.maximum((d ** 2).sum(axis=1), 1e-12)
    t = np.clip(((x - p[:, 0]) * d[:, 0] + (y - p[:, 1]) * d[:, 1]) / length2, 0.0, 1.0)
    nearest = p + d * t[:, None]
    dist = np.hypot(nearest[:, 0] - x, nearest[:, 1] - y)
    i = int(np.argmin(dist))
    return float(dist[i]), i, QPointF(float(nearest[i, 0]), float(nearest[i, 1]))


@dataclass
class Raster:
    """Shapes drawn into an image, for zoomed-out frames."""

    image: QImage
    rect: QRectF  # scene area it covers
    scale: float  # device pixels per scene unit it was drawn at
    version: int


class ShapeLayer(QGraphicsObject):
    """Paints the shapes of a :class:`ShapeModel`, except the ``hidden`` ones (being edited as items).

    Two rasters serve the zoomed-out frames: the *overview* (every shape at the view's fit scale, made ahead while
    idle) and the *detail* (the current scale, made once zooming pauses). A frame draws the detail raster when it
    matches the view, else the overview stretched; only content changes make a frame render synchronously.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(1)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.model = ShapeModel()
        self.styles: dict[int, ClassStyle] = {}
        self.labels = True
        self.bounds = QRectF()
        self.overview_scale = 1.0  # the view's fit scale
        self._labels: dict[object, QImage] = {}  # label tabs by class id (suggestions: by class and text)
        self._dashed: dict[int, QPen] = {}  # dashed pens of suggestions, by id of the solid pen
        self._shown = np.zeros(0, dtype=bool)
        self._version = 0
        self._overview: Optional[Raster] = None
        self._detail: Optional[Raster] = None
        self._view: tuple[float, QRectF] = (1.0, QRectF())  # scale and visible area of the last raster frame
        self._refine_due = False  # the last frame stretched a raster: redraw it sharp once idle
        self._overview_due = False  # many shapes are near: have the overview raster ready for zooming out
        self._idle = QTimer(self)  # restarted by every frame: raster work waits until the view rests
        self._idle.setSingleShot(True)
        self._idle.setInterval(IDLE_MS)
        self._idle.timeout.connect(self._when_idle)
        self.last_mode = "direct"  # "direct" or "raster": how the last frame was drawn (for tests and benchmarks)
        self.label_rects: list[QRectF] = []  # where the last frame drew labels, in view pixels (for tests)
        self._label_offsets: Optional[tuple[tuple, np.ndarray]] = None  # the last label layout, by what it depends on
        self.item_label_offsets: dict[int, float] = {}  # how far down the selected shapes' label items were moved

    # -- content ------------------------------------------------------------------------------------------------------
    def set_bounds(self, rect: QRectF, overview_scale: float) -> None:
        """The area the layer may paint in (the scene rectangle) and the view's fit scale."""
        self.prepareGeometryChange()
        self.bounds = QRectF(rect)
        self.overview_scale = overview_scale
        self.invalidate()

    def set_overview_scale(self, scale: float) -> None:
        """The view's fit scale changed (the view was resized)."""
        if not math.isclose(scale, self.overview_scale, rel_tol=0.01):
            self.overview_scale = scale
            self._overview = None
            self.update()

    def set_model(self, model: ShapeModel, hidden: Sequence[int] = ()) -> None:
        """Show these shapes; ``hidden`` ids are drawn elsewhere."""
        self.model = model
        self.set_hidden(hidden)

    def set_hidden(self, hidden: Sequence[int]) -> None:
        """Leave these annotation ids out (the selected shapes, drawn as editable items)."""
        self._shown = np.ones(len(self.model), dtype=bool)
        for aid in hidden:
            i = self.model.index.get(aid)
            if i is not None:
                self._shown[i] = False
        self.invalidate()

    def set_styles(self, styles: dict[int, ClassStyle]) -> None:
        """Class styles by class id."""
        self.styles = styles
        self._labels, self._dashed = {}, {}
        self.invalidate()

    def set_label_offsets(self, offsets: dict[int, float]) -> None:
        """How far down (view pixels) the selected shapes' labels were moved, by annotation id (the rest: 0)."""
        if offsets != self.item_label_offsets:
            self.item_label_offsets = offsets
            self.update()

    def set_labels(self, visible: bool) -> None:
        """Show or hide class-name labels."""
        self.labels = visible
        self.update()

    def invalidate(self) -> None:
        """Content changed: drop the rasters and repaint."""
        self._version += 1
        self._overview = self._detail = None
        self.update()

    def _when_idle(self) -> None:
        """No frame for a while: make the rasters the next frames will want."""
        if self._refine_due and self.last_mode == "raster":
            self._detail = self.render(*self._view)
            self.update()
        if self._overview_due and (self._overview is None or self._overview.version != self._version):
            self._overview = self.render(self.overview_scale, self.bounds)
        self._refine_due = self._overview_due = False

    # -- painting -----------------------------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt)
        """The scene rectangle."""
        return self.bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: Optional[QWidget] = None) -> None:
        """Draw directly, or from a raster when many shapes are in view."""
        if not len(self.model):
            return
        transform = painter.worldTransform()
        exposed = option.exposedRect  # type: ignore[attr-defined]
        in_view = transform.inverted()[0].mapRect(QRectF(widget.rect())) if widget is not None else exposed
        in_sight = np.flatnonzero(self.model.mask(in_view) & self._shown)
        count = len(in_sight)
        cost = float(self.model.costs[in_sight].sum())
        if cost <= DIRECT_LIMIT:
            self.last_mode = "direct"
            painter.save()
            fill = self._fill_area(in_sight, in_view) <= FILL_BUDGET  # decided for the whole view: strips agree
            self.draw(painter, np.flatnonzero(self.model.mask(exposed) & self._shown), cheap=False, fill=fill)
            if self.labels and count <= LABEL_LIMIT:
                selected = np.flatnonzero(self.model.mask(in_view) & ~self._shown)  # their items draw their labels
                self._draw_labels(painter, in_sight, transform, widget.devicePixelRatioF() if widget else 1.0,
                                  selected)
            else:
                self.label_rects = []
            painter.restore()
            self._refine_due, self._overview_due = False, cost > DIRECT_LIMIT // 3
            self._idle.start()
            return
        self.last_mode = "raster"
        scale = QStyleOptionGraphicsItem.levelOfDetailFromTransform(transform)
        self._view = (scale, in_view)
        detail, overview = self._detail, self._overview
        self._refine_due, self._overview_due = True, True
        if detail is not None and detail.version == self._version and \
                math.isclose(detail.scale, scale, rel_tol=0.01) and detail.rect.contains(in_view & self.bounds):
            raster, self._refine_due = detail, False
        elif overview is not None and overview.version == self._version:
            raster = overview  # stretched until the view rests
        elif math.isclose(scale, self.overview_scale, rel_tol=0.01):
            raster = self._overview = self.render(scale, self.bounds)
            self._refine_due = False
        else:
            raster = self._detail = self.render(scale, in_view)
            self._refine_due = False
        self._idle.start()
        target = exposed & raster.rect
        source = QRectF((target.x() - raster.rect.x()) * raster.scale, (target.y() - raster.rect.y()) * raster.scale,
                        target.width() * raster.scale, target.height() * raster.scale)
        painter.drawImage(target, raster.image, source)

    def _fill_area(self, indices: np.ndarray, in_view: QRectF) -> float:
        """How many times over the fills of these shapes would cover the view (an estimate from their bounds)."""
        b = self.model.bounds[indices]
        w = np.clip(b[:, 2], in_view.left(), in_view.right()) - np.clip(b[:, 0], in_view.left(), in_view.right())
        h = np.clip(b[:, 3], in_view.top(), in_view.bottom()) - np.clip(b[:, 1], in_view.top(), in_view.bottom())
        return float((w * h).sum()) / max(in_view.width() * in_view.height(), 1e-9)

    def draw(self, painter: QPainter, indices: np.ndarray, cheap: bool, fill: bool = True) -> None:
        """Draw shapes ``indices`` batched by class (suggestions apart: dashed, unfilled; crowd regions apart:
        hatched); ``cheap``: 1 px outlines, no fill (the zoomed-out raster)."""
        if not len(indices):
            return
        keys = self.model.class_ids[indices] * 4 + self.model.crowd[indices] * 2 + self.model.suggested[indices]
        order = np.argsort(keys, kind="stable")
        indices, keys = indices[order], keys[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(indices)]
        geometry = self.model.geometry
        for start, end in zip(starts, ends):
            style = self.styles.get(int(keys[start]) // 4, UNKNOWN_STYLE)
            suggested, crowd = bool(keys[start] % 2), bool(keys[start] // 2 % 2)
            painter.setPen(self._pen(style, cheap, suggested))
            painter.setBrush(style.hatch if crowd and not cheap else
                             style.brush if fill and not cheap and not suggested else Qt.BrushStyle.NoBrush)
            shapes = [geometry(int(i)) for i in indices[start:end]]
            rects = [g for g in shapes if isinstance(g, QRectF)]
            if rects:
                painter.drawRects(rects)
            if len(rects) != len(shapes):
                for g in shapes:
                    if isinstance(g, QPolygonF):
                        painter.drawPolygon(g)
                    elif isinstance(g, QPainterPath):
                        painter.drawPath(g)

    def _pen(self, style: ClassStyle, cheap: bool, suggested: bool) -> QPen:
        pen = style.thin_pen if cheap else style.pen
        if not suggested:
            return pen
        if id(pen) not in self._dashed:
            self._dashed[id(pen)] = dashed(pen)
        return self._dashed[id(pen)]

    def pen_for(self, annotation_id: int) -> Optional[QPen]:
        """The pen a shape is drawn with when not selected (suggestions: dashed), or None."""
        i = self.model.index.get(annotation_id)
        if i is None:
            return None
        return self._pen(self.styles.get(int(self.model.class_ids[i]), UNKNOWN_STYLE), False,
                         bool(self.model.suggested[i]))

    def _label(self, i: int, ratio: float) -> QImage:
        """Shape ``i``'s label tab (rendered once per class; for suggestions per class and confidence)."""
        class_id = int(self.model.class_ids[i])
        style = self.styles.get(class_id, UNKNOWN_STYLE)
        text = (suggestion_text(style.name, self.model.shapes[i].confidence) if self.model.suggested[i] else
                f"{style.name} · crowd (ignored)" if self.model.crowd[i] else None)
        key = class_id if text is None else (class_id, text)
        image = self._labels.get(key)
        if image is None or image.devicePixelRatio() != ratio:
            image = self._labels[key] = label_image(style, ratio, text)
        return image

    def _draw_labels(self, painter: QPainter, indices: np.ndarray, transform: QTransform, ratio: float,
                     selected: np.ndarray = NO_SHAPES) -> None:
        """Blit each shape's label tab at its top-left corner in view pixels, moved down below the labels it would
        cover (:func:`~cvops_app.canvas.label_layout.place_labels`; the selected shapes' labels stay put)."""
        every = np.r_[selected, indices].astype(int)
        scaled = self.model.bounds[every, :2] * (transform.m11(), transform.m22())
        moved = self.item_label_offsets
        if moved:
            scaled[:len(selected), 1] += [moved.get(self.model.shapes[int(i)].id, 0.0) for i in selected]
        images = [self._label(int(i), ratio) for i in every]
        sizes = np.array([(image.width() / ratio, image.height() / ratio) for image in images]).reshape(-1, 2)
        key = (self._version, transform.m11(), transform.m22(), ratio, every.tobytes(),
               scaled[:len(selected)].tobytes())
        if self._label_offsets is None or self._label_offsets[0] != key:  # a pan moves every label alike
            self._label_offsets = (key, place_labels(scaled, sizes, fixed=len(selected)) - scaled)
        spots = scaled + self._label_offsets[1] + (transform.dx(), transform.dy())
        painter.resetTransform()
        self.label_rects = []
        for image, (x, y), (w, h) in zip(images[len(selected):], spots[len(selected):], sizes[len(selected):]):
            painter.drawImage(QPointF(x, y), image)
            self.label_rects.append(QRectF(x, y, w, h))

    def render(self, scale: float, in_view: QRectF) -> Raster:
        """Draw the shapes into an image at ``scale``: the whole layer when small enough, else the view and a margin
        of half a view on each side."""
        region = QRectF(self.bounds)
        if region.width() * region.height() * scale * scale > CACHE_MAX_PIXELS:
            dx, dy = in_view.width() / 2, in_view.height() / 2
            region = in_view.adjusted(-dx, -dy, dx, dy).intersected(self.bounds)
        width, height = max(1, math.ceil(region.width() * scale)), max(1, math.ceil(region.height() * scale))
        image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.scale(scale, scale)
        painter.translate(-region.x(), -region.y())
        self.draw(painter, np.flatnonzero(self.model.mask(region) & self._shown), cheap=True)
        painter.end()
        return Raster(image, QRectF(region.x(), region.y(), width / scale, height / scale), scale, self._version)
