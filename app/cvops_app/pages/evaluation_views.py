"""The evaluation view's image side: a gallery of the listed images (thumbnails and file names) and a preview that
draws an image's manual labels, the model's predictions and missed objects, with one error highlighted.

:class:`ErrorGallery` is the false-positive / missed-object gallery (and the list of a confusion-matrix cell): one
tile per image with its thumbnail (made off the GUI thread by :class:`cvops_app.gallery.ThumbnailLoader`), its file
name and how many of the listed errors it holds. :class:`PredictionPreview` paints the chosen image with its manual
labels as thin grey outlines, every stored review row of the evaluation
(:func:`cvops.models.evaluation_store.image_predictions`) in its outcome's colour — predictions solid with their
class and confidence, missed ground-truth objects dashed — and the highlighted row thick, with a halo.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from PIL import ImageOps
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QSizePolicy, QWidget

from cvops.common.imageio import open_image
from cvops_app.canvas.prediction_overlay import OUTCOME_COLORS, OUTCOME_NAMES
from cvops_app.gallery import ThumbnailLoader

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

ID_ROLE = Qt.ItemDataRole.UserRole
THUMB = 96
REQUEST_AHEAD = 64  # thumbnails asked for when a list is shown; the others when scrolled into view
PREVIEW_MAX = 1024  # the preview decodes the image at most this large


class ErrorGallery(QListWidget):
    """Thumbnails with file names of the images an evaluation lists (most errors first); ``ID_ROLE`` holds each
    tile's image id."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("evaluation-images")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 28, THUMB + 40))
        self.setSpacing(2)
        self.loader = ThumbnailLoader(self)
        self.loader.ready.connect(self._thumbnail)
        self._items: dict[int, QListWidgetItem] = {}
        self._records: dict[int, Any] = {}  # image id -> ImageRecord of the tiles without a thumbnail yet
        self.verticalScrollBar().valueChanged.connect(lambda _: self.request_visible())
        blank = QPixmap(THUMB, THUMB)
        blank.fill(QColor("#d5d8dc"))
        self._placeholder = QIcon(blank)

    def open(self, ws: "Workspace") -> None:
        """Read thumbnails of ``ws``."""
        self.loader.open(ws, QSize(THUMB, THUMB))

    def close_loader(self) -> None:
        """Stop making thumbnails (the dialog closes)."""
        self.loader.close()

    def set_images(self, ws: "Workspace", rows: Sequence[tuple[int, Optional[int]]]) -> None:
        """Show ``(image_id, count)`` rows (count None: not shown) as tiles, in order."""
        self.clear()
        self._items = {}
        records = {r.id: r for r in ws.images.many([image_id for image_id, _ in rows])}
        self._records = dict(records)
        for image_id, count in rows:
            record = records.get(image_id)
            name = record.file_name if record is not None else f"image {image_id} (gone)"
            item = QListWidgetItem(self._placeholder, name + (f"  ×{count}" if count and count > 1 else ""), self)
            item.setData(ID_ROLE, image_id)
            item.setToolTip(f"{name} (image {image_id})" + (f": {count} listed" if count is not None else ""))
            item.setSizeHint(self.gridSize())
            self._items[image_id] = item
        self._request([image_id for image_id, _ in rows[:REQUEST_AHEAD]])

    def _request(self, ids: Sequence[int]) -> None:
        """Ask for the thumbnails of ``ids``, the first last: the loader makes the newest request first."""
        for image_id in reversed(ids):
            record = self._records.get(image_id)
            if record is not None:
                self.loader.request(record)

    def request_visible(self) -> None:
        """Ask for the thumbnails of the tiles in view that have none yet (after a scroll)."""
        view = self.viewport().rect()
        self._request([self.item(row).data(ID_ROLE) for row in range(self.count())
                       if self.visualItemRect(self.item(row)).intersects(view)
                       and self.item(row).data(ID_ROLE) in self._records])

    def _thumbnail(self, image_id: int, image: QImage) -> None:
        item = self._items.get(image_id)
        self._records.pop(image_id, None)
        if item is not None and not image.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def has_thumbnail(self, row: int) -> bool:
        """True once the tile of ``row`` shows its image (for tests)."""
        item = self.item(row)
        return item is not None and item.icon().cacheKey() != self._placeholder.cacheKey()


def load_preview(path: Path) -> QImage:
    """The image at ``path`` in its EXIF orientation, at most :data:`PREVIEW_MAX` px on its long side; a null image
    when it cannot be read."""
    try:
        with open_image(path) as im:
            im.draft("RGB", (PREVIEW_MAX, PREVIEW_MAX))
            rgb = ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, ValueError):
        return QImage()
    rgb.thumbnail((PREVIEW_MAX, PREVIEW_MAX))
    return QImage(rgb.tobytes(), rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


class PredictionPreview(QWidget):
    """One image with its manual labels, the evaluation's rows for it, and one row highlighted."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("evaluation-preview")
        self.setMinimumSize(200, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image = QImage()
        self.size_px: tuple[int, int] = (1, 1)  # the image's oriented size, the frame the boxes are in
        self.labels: list[tuple[float, float, float, float]] = []
        self.rows: list[dict[str, Any]] = []
        self.names: dict[Optional[int], str] = {}
        self.highlighted: Optional[int] = None  # a row's ``id``
        self.message = "Pick an image to see the model's predictions on it."

    def show_image(self, image: QImage, size: tuple[int, int], labels: list[tuple[float, float, float, float]],
                   rows: list[dict[str, Any]], names: dict[Optional[int], str],
                   highlight: Optional[int] = None) -> None:
        """Draw ``image`` (oriented size ``size``) with manual label boxes, review ``rows`` and ``highlight``."""
        self.image, self.size_px, self.labels, self.rows, self.names = image, size, labels, rows, names
        self.highlighted = highlight
        self.message = "" if not image.isNull() else "The image file cannot be read."
        self.update()

    def clear_image(self, message: str) -> None:
        """Show nothing but ``message``."""
        self.image, self.rows, self.labels, self.highlighted, self.message = QImage(), [], [], None, message
        self.update()

    def highlight(self, row_id: Optional[int]) -> None:
        """Highlight the review row ``row_id`` (None: none)."""
        self.highlighted = row_id
        self.update()

    def highlighted_row(self) -> Optional[dict[str, Any]]:
        """The highlighted review row, if any."""
        return next((r for r in self.rows if r["id"] == self.highlighted), None)

    def _frame(self) -> tuple[QRectF, float]:
        """Where the image is drawn, and the scale from image pixels to widget pixels."""
        width, height = self.size_px
        scale = min(self.width() / max(width, 1), self.height() / max(height, 1))
        w, h = width * scale, height * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h), scale

    def row_rect(self, row: dict[str, Any]) -> QRectF:
        """A review row's box in widget coordinates."""
        frame, scale = self._frame()
        x, y, w, h = row["box"]
        return QRectF(frame.x() + x * scale, frame.y() + y * scale, w * scale, h * scale)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt)
        """The image, the manual labels, the rows (the highlighted one last, on top)."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2c3e50"))
        if self.image.isNull():
            painter.setPen(QColor("#ecf0f1"))
            painter.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.message)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame, scale = self._frame()
        painter.drawImage(frame, self.image)
        painter.setPen(QPen(QColor(236, 240, 241, 200), 1, Qt.PenStyle.SolidLine))
        for x, y, w, h in self.labels:
            painter.drawRect(QRectF(frame.x() + x * scale, frame.y() + y * scale, w * scale, h * scale))
        ordered = sorted(self.rows, key=lambda r: r["id"] == self.highlighted)
        for row in ordered:
            chosen = row["id"] == self.highlighted
            color = QColor(OUTCOME_COLORS.get(row["outcome"], "#ffffff"))
            rect = self.row_rect(row)
            if chosen:
                painter.setPen(QPen(QColor(255, 255, 255, 220), 7))
                painter.drawRect(rect)
            style = Qt.PenStyle.DashLine if row["outcome"] == "fn" else Qt.PenStyle.SolidLine
            painter.setPen(QPen(color, 3.5 if chosen else 1.6, style))
            painter.drawRect(rect)
            if chosen or len(self.rows) <= 3:  # more labels would cover each other: the table names them
                self._tag(painter, rect, row, color, chosen)

    def _tag(self, painter: QPainter, rect: QRectF, row: dict[str, Any], color: QColor, chosen: bool) -> None:
        """A small label above the box: outcome, class and confidence."""
        class_id = row["class_id"] if row["outcome"] != "fn" else row["gt_class_id"]
        text = f"{OUTCOME_NAMES.get(row['outcome'], row['outcome'])}: {self.names.get(class_id, class_id)}"
        if row.get("confidence") is not None:
            text += f" {row['confidence']:.2f}"
        font = painter.font()
        font.setBold(chosen)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        box = QRectF(rect.x(), rect.y() - metrics.height() - 2, metrics.horizontalAdvance(text) + 6,
                     metrics.height() + 2)
        if box.y() < 0:
            box.moveTop(rect.y())
        box.moveLeft(min(max(box.x(), 0.0), max(self.width() - box.width(), 0.0)))
        painter.fillRect(box, color)
        painter.setPen(QColor("white"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
