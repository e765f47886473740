"""The model's predictions over the annotator's canvas, when an image is opened from the evaluation view: a read-only
layer that is never part of the image's annotations.

The evaluation view opens the annotator with a :class:`PredictionReview` (the evaluation, the kind of error its list
shows, the images listed and the row picked there). While the annotator shows one of those images, the
:class:`PredictionReviewer` draws the stored review of the image (:func:`cvops.models.evaluation_store.image_review`)
as a :class:`PredictionOverlay`: every prediction dash-dotted in its outcome's colour with class and confidence below
the box, every missed object dotted, and the error the image was listed for (the focus) thick, with a halo; the view
is centred on it, and a bar above the canvas says what it is ("False positive: 'circle' 0.62, no matching label")
with a toggle to hide the overlay. Moving to an image the evaluation did not list (or opening one from elsewhere)
drops the overlay.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import (
    QFrame, QGraphicsObject, QHBoxLayout, QLabel, QStyleOptionGraphicsItem, QToolButton, QWidget,
)

from cvops.common.errors import CvopsError
from cvops_app.canvas.label_layout import place_labels
from cvops_app.canvas.shapes import label_font

if TYPE_CHECKING:
    from cvops.models.evaluation_store import ImageReview
    from cvops_app.canvas.view import CanvasView
    from cvops_app.context import AppContext

OUTCOME_COLORS = {"tp": "#1e8449", "fp": "#c0392b", "fn": "#d68910", "poor_loc": "#8e44ad", "wrong_class": "#2e86c1"}
OUTCOME_NAMES = {"tp": "correct", "fp": "false positive", "fn": "missed", "poor_loc": "poor localisation",
                 "wrong_class": "wrong class"}
OVERLAY_Z = 1.5  # above the shape layer (1), below the selected shapes' items (2)
PEN_WIDTH = 2.0  # device pixels
FOCUS_WIDTH = 4.0
HALO_WIDTH = 9.0


@dataclass(frozen=True)
class PredictionReview:
    """What the evaluation view opens the annotator with: evaluation ``evaluation_id``, the ``outcomes`` its list
    shows, the ``image_ids`` listed (the overlay follows while the annotator stays on them) and ``chosen``: the review
    row picked in the view, by image id."""

    evaluation_id: int
    outcomes: tuple[str, ...]
    image_ids: frozenset[int]
    chosen: dict[int, int] = field(default_factory=dict)


def describe(row: dict[str, Any]) -> str:
    """What a review row is, in words: ``False positive: 'circle' 0.62, no matching label``."""
    name, conf, outcome = row.get("name", "?"), row.get("confidence"), row["outcome"]
    score = f" {conf:.2f}" if conf is not None else ""
    if outcome == "fn":
        return f"Missed: '{name}' not detected"
    if outcome == "fp":
        return f"False positive: '{name}'{score}, no matching label"
    if outcome == "poor_loc":
        iou = f" (IoU {row['iou']:.2f})" if row.get("iou") is not None else ""
        return f"Poor localisation: '{name}'{score} overlaps its label too little{iou}"
    if outcome == "wrong_class":
        return f"Wrong class: '{name}'{score} on an object labelled with another class"
    return f"Correct: '{name}'{score}"


def row_text(row: dict[str, Any]) -> str:
    """A row's tab on the canvas: class and confidence of a prediction, ``missed`` and the class of a miss."""
    if row["outcome"] == "fn":
        return f"missed: {row.get('name', '?')}"
    conf = row.get("confidence")
    return f"{row.get('name', '?')} {conf:.2f}" if conf is not None else str(row.get("name", "?"))


def _pen(color: QColor, width: float, style: Qt.PenStyle) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    return pen


class PredictionOverlay(QGraphicsObject):
    """Paints an image's review rows in scene coordinates (image pixels); takes no mouse input and holds no
    annotations."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        self.rows: list[dict[str, Any]] = []
        self.focus: Optional[int] = None  # a row id
        self.bounds = QRectF()
        self.label_rects: list[QRectF] = []  # where the last frame drew the tabs, in view pixels (for tests)
        self.obstacles: Callable[[], list[QRectF]] = list  # labels drawn before the tabs (view pixels): kept clear

    def set_rows(self, rows: list[dict[str, Any]], focus: Optional[int], bounds: QRectF) -> None:
        """Draw ``rows`` (``box`` as ``[x, y, w, h]``), row ``focus`` highlighted, within ``bounds``."""
        self.prepareGeometryChange()
        self.rows, self.focus, self.bounds = list(rows), focus, QRectF(bounds)
        self.update()

    def focus_row(self) -> Optional[dict[str, Any]]:
        """The highlighted row, if any."""
        return next((r for r in self.rows if r["id"] == self.focus), None)

    @staticmethod
    def rect(row: dict[str, Any]) -> QRectF:
        """A row's box in scene coordinates."""
        return QRectF(*row["box"])

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt)
        """The scene rectangle of the image shown."""
        return self.bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: Optional[QWidget] = None) -> None:
        """The boxes (the focus last, on top), then their tabs in view pixels, apart from each other."""
        if not self.rows:
            self.label_rects = []
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        ordered = sorted(self.rows, key=lambda r: r["id"] == self.focus)
        for row in ordered:
            color = QColor(OUTCOME_COLORS.get(row["outcome"], "#ffffff"))
            rect = self.rect(row)
            if row["id"] == self.focus:
                painter.setPen(_pen(QColor(255, 255, 255, 200), HALO_WIDTH, Qt.PenStyle.SolidLine))
                painter.drawRect(rect)
                painter.setPen(_pen(color, FOCUS_WIDTH, Qt.PenStyle.SolidLine))
            else:
                style = Qt.PenStyle.DotLine if row["outcome"] == "fn" else Qt.PenStyle.DashDotLine
                painter.setPen(_pen(color, PEN_WIDTH, style))
            painter.drawRect(rect)
        self._draw_tabs(painter, [r for r in ordered[::-1]])
        painter.restore()

    def _draw_tabs(self, painter: QPainter, rows: list[dict[str, Any]]) -> None:
        """Each row's tab just below its box's bottom-left corner (the manual labels sit at the top-left), moved
        down until it covers no other tab and none of the :attr:`obstacles` (the shape labels drawn this frame)."""
        transform = painter.worldTransform()
        font = label_font()
        metrics = QFontMetricsF(font)
        texts = [row_text(r) for r in rows]
        sizes = np.array([(metrics.horizontalAdvance(t) + 6, metrics.height() + 2) for t in texts]).reshape(-1, 2)
        anchors = np.array([(p.x(), p.y()) for p in (transform.map(self.rect(r).bottomLeft()) for r in rows)],
                           dtype=float).reshape(-1, 2) + (0.0, 2.0)
        taken = self.obstacles()
        fixed = np.array([(r.x(), r.y(), r.width(), r.height()) for r in taken], dtype=float).reshape(-1, 4)
        first = 1 if rows and rows[0]["id"] == self.focus else 0  # the focus's tab is placed first, nearest its box
        for part in (slice(0, first), slice(first, len(rows))):
            spots = place_labels(np.r_[fixed[:, :2], anchors[part]], np.r_[fixed[:, 2:], sizes[part]], len(fixed))
            fixed = np.r_[fixed, np.c_[spots[len(fixed):], sizes[part]]]
        spots = fixed[len(taken):, :2]
        painter.resetTransform()
        painter.setFont(font)
        self.label_rects = []
        for row, text, (x, y), (w, h) in zip(rows, texts, spots, sizes):
            box = QRectF(x, y, w, h)
            color = QColor(OUTCOME_COLORS.get(row["outcome"], "#808080"))
            painter.setPen(_pen(color, 1, Qt.PenStyle.SolidLine))
            painter.setBrush(QColor(20, 20, 20, 210))  # dark tabs: the class-coloured ones are the labels'
            painter.drawRect(box)
            painter.setPen(color.lighter(150))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            self.label_rects.append(box)


class ReviewBar(QFrame):
    """The line above the canvas that says which error is shown, with the toggle that hides the overlay."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("prediction-review-bar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel(self)
        self.text.setObjectName("prediction-review-text")
        self.text.setWordWrap(True)
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("prediction-review-toggle")
        self.toggle.setText("Predictions")
        self.toggle.setCheckable(True)
        self.toggle.setChecked(True)
        self.toggle.setToolTip("Show or hide the model's predictions (read-only: never saved as annotations)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.toggle)


class PredictionReviewer:
    """The overlay, its bar and what they show: set by :meth:`open` (from the evaluation view), followed by
    :meth:`show_for` each time the annotator shows an image."""

    def __init__(self, ctx: "AppContext", canvas: "CanvasView", parent: QWidget) -> None:
        self.ctx = ctx
        self.canvas = canvas
        self.layer = PredictionOverlay()
        self.layer.obstacles = self._shape_labels
        canvas.scene().addItem(self.layer)
        self.bar = ReviewBar(parent)
        self.bar.toggle.toggled.connect(self.set_visible)
        self.bar.hide()
        self.review: Optional[PredictionReview] = None
        self.shown: Optional["ImageReview"] = None  # the image's review on the canvas now

    def open(self, review: Optional[PredictionReview]) -> None:
        """Follow the images of ``review`` from now on (None: no evaluation; the overlay goes)."""
        self.review = review

    def show_for(self, image_id: Optional[int]) -> None:
        """The annotator shows ``image_id``: draw its predictions when the evaluation listed it, else drop the
        overlay (and the evaluation it followed)."""
        review = self.review
        if review is None or image_id is None or image_id not in review.image_ids or self.ctx.ws is None:
            self.clear()
            return
        from cvops.models.evaluation_store import image_review

        try:
            shown = image_review(self.ctx.ws, review.evaluation_id, image_id, review.outcomes,
                                 review.chosen.get(image_id))
        except CvopsError as exc:  # the evaluation was deleted meanwhile
            self.clear()
            self.ctx.notify(f"cannot show the model's predictions: {exc}")
            return
        self.shown = shown
        focus = shown.focus
        self.layer.set_rows(shown.rows, focus["id"] if focus else None, self.canvas.sceneRect())
        counts = (f"{len(shown.predictions)} prediction{'s' if len(shown.predictions) != 1 else ''}, "
                  f"{len(shown.false_positives)} false positive{'s' if len(shown.false_positives) != 1 else ''}, "
                  f"{len(shown.missed)} missed")
        headline = describe(focus) if focus else "The model's predictions"
        self.bar.text.setText(f"<b>{html.escape(headline, quote=False)}</b> — evaluation #{shown.evaluation_id} of "
                              f"{html.escape(shown.model_name, quote=False)}: {counts} on this image (read-only, not saved)")
        self.bar.toggle.setChecked(True)
        self.layer.setVisible(True)
        self.bar.show()
        if focus is not None:
            self.canvas.focus_on(self.layer.rect(focus))

    def _shape_labels(self) -> list[QRectF]:
        """Where the canvas draws shape labels now, in view pixels: the shape layer's and the selected shapes'."""
        canvas, layer = self.canvas, self.canvas.shape_layer
        if not canvas.labels_visible:
            return []
        rects = list(layer.label_rects) if len(layer.model) and layer.last_mode == "direct" else []
        to_view = canvas.viewportTransform()
        return rects + [item.label.rect().translated(to_view.map(item.label.scenePos()))
                        for item in canvas.selected_items()]

    def set_visible(self, visible: bool) -> None:
        """Show or hide the overlay (the bar's toggle)."""
        self.layer.setVisible(visible and self.shown is not None)

    def clear(self) -> None:
        """No overlay, no bar, no evaluation followed."""
        self.review = self.shown = None
        self.layer.set_rows([], None, QRectF())
        self.layer.setVisible(False)
        self.bar.hide()

