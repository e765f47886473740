"""The Images page's gallery: a model whose rows are an array of image ids, a background thumbnail loader and the
item delegate and view.

Scale: a million rows cost the id array (8 MB); image records are fetched by id for the rows that are painted, in
pages of :data:`PAGE_SIZE` kept in an LRU; thumbnails are read or made off the GUI thread for painted rows only,
newest request first, and kept as pixmaps in an LRU.

Two choices come from measurements at 1,000,000 rows (2-core machine, offscreen):

* The model derives from ``QStandardItemModel`` (no item is ever created) instead of ``QAbstractListModel``: the
  view's layout calls ``rowCount()`` two to four times per row, and a Python ``rowCount`` costs 3 s per layout,
  where the C++ one costs ~0.1 s. ``data()`` is the only Python method the view calls, for painted rows only.
* The view is a ``QListView`` in list mode with left-to-right flow and wrapping, a grid of icons that looks the same
  as ``IconMode`` with static movement: ``IconMode`` keeps a position per item and lays out 1M rows in ~0.4 s after
  every reset or resize, list mode in ~0.12 s.
"""

from __future__ import annotations

import io
import sqlite3
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

from PIL import Image
from PySide6.QtCore import (
    QModelIndex, QObject, QPersistentModelIndex, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal,
)
from PySide6.QtGui import (
    QColor, QImage, QKeyEvent, QPainter, QPaintEvent, QPalette, QPen, QPixmap, QStandardItemModel,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from cvops.common.jobs import CancelToken, Progress
from cvops.data.images import ImageRecord
from cvops.data.thumbnails import ThumbnailCache
from cvops_app.jobs import JobManager
from cvops_app.theme import is_dark

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

ID_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
ANNOTATIONS_ROLE = Qt.ItemDataRole.UserRole + 3

PAGE_SIZE = 64  # records fetched per catalog query (~0.5 ms at 1M rows: a scroll frame can afford two)
MAX_PAGES = 256  # records kept: 16k rows
MAX_PIXMAPS = 1000  # thumbnails kept on the GUI side (~75 MB at 160 px)
MAX_WANTED = 256  # thumbnail requests kept; older ones are dropped when the user scrolls on
LOADER_THREADS = 2
WORKERS = "thumbnail workers"  # the job key of the loader's workers
SCROLL_PAUSE_MS = 150  # thumbnail work waits until the view has been still this long
PAD = 6
CHIP = 14  # status chip diameter
BADGE = 16  # annotation count badge height
SELECTED = QStyle.StateFlag.State_Selected.value
HAS_FOCUS = QStyle.StateFlag.State_HasFocus.value

STATUS_COLORS = {
    "new": QColor("#9e9e9e"), "in_progress": QColor("#1e88e5"), "done": QColor("#43a047"),
    "needs_review": QColor("#fb8c00"), "approved": QColor("#00897b"), "rejected": QColor("#e53935"),
}
TILE = QColor("#d8d8d8")
DARK_TILE = QColor("#3c3c3c")  # the placeholder on a dark palette


def status_label(status: str) -> str:
    """A review status as shown to people ("needs_review" -> "needs review")."""
    return status.replace("_", " ")


def human_bytes(size: int) -> str:
    """A byte count in KB or MB."""
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} KB"


def relocate(old_ids: Sequence[int], ranges: Sequence[tuple[int, int]],
             new_ids: Sequence[int]) -> list[tuple[int, int]]:
    """Where the images of rows ``ranges`` (inclusive ``(first, last)`` rows of ``old_ids``) are in ``new_ids``, as
    inclusive row runs; images that left are left out. Runs in the background for big selections."""
    keep: set[int] = set()
    for first, last in ranges:
        keep.update(old_ids[first:last + 1])
    runs: list[tuple[int, int]] = []
    if not keep:
        return runs
    for row, image_id in enumerate(new_ids):
        if image_id in keep:
            if runs and runs[-1][1] == row - 1:
                runs[-1] = (runs[-1][0], row)
            else:
                runs.append((row, row))
    return runs


def decode_thumbnail(data: bytes, size: QSize) -> QImage:
    """A cached JPEG thumbnail decoded and shrunk to fit ``size``. Pillow lets other threads run while it decodes;
    ``QImage.fromData`` holds the GIL throughout and stalls the GUI thread for tens of milliseconds."""
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (size.width(), size.height()))
        rgb = im.convert("RGB")
    rgb.thumbnail((size.width(), size.height()), Image.Resampling.BICUBIC)
    return QImage(rgb.tobytes(), rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


class ThumbnailLoader(QObject):
    """Reads or makes thumbnails on its own worker threads, newest request first, and hands them to the GUI thread
    as ``QImage``s that fit the icon size (``QPixmap`` must be made on the GUI thread).

    It opens its own :class:`ThumbnailCache` (own connection) and never touches the catalog: the model passes image
    records, and ``ImageQueries.path`` finds a file from the record alone. While the user scrolls (:meth:`pause`) no
    new work starts and older requests are dropped: the GUI thread gets the processor, and only the tiles painted
    after the scroll are made. The workers are jobs of the loader's own job runner, streaming thumbnails as partial
    results; :meth:`close` supersedes them, so no thumbnail of a closed workspace arrives.
    """

    ready = Signal(int, QImage)  # image id, thumbnail (a null image when the file cannot be decoded)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.jobs = JobManager(self, threads=LOADER_THREADS)
        self._lock = threading.Lock()
        self._wanted: OrderedDict[int, ImageRecord] = OrderedDict()  # newest last
        self._busy: set[int] = set()
        self._workers = 0
        self._paused = False
        self._cache: Optional[ThumbnailCache] = None
        self._locate: Callable[[ImageRecord], Path] = Path
        self._size = QSize(160, 160)
        self._resume = QTimer(self)
        self._resume.setSingleShot(True)
        self._resume.setInterval(SCROLL_PAUSE_MS)
        self._resume.timeout.connect(self._start)

    def open(self, ws: "Workspace", size: QSize) -> None:
        """Serve thumbnails of ``ws`` that fit ``size`` (device pixels)."""
        self.close()
        with self._lock:
            self._cache = ThumbnailCache(ws)
            self._locate = ws.images.path  # computed from the record alone: no catalog access
            self._size = size

    def close(self) -> None:
        """Drop the requests, wait for the workers, close the cache."""
        self._resume.stop()
        with self._lock:
            self._wanted.clear()
            self._paused = False
        self.jobs.supersede(WORKERS)
        self.jobs.wait()
        with self._lock:
            self._workers = 0  # none runs now (a worker superseded before it started never ran)
            self._busy.clear()
            if self._cache is not None:
                self._cache.close()
            self._cache = None

    def request(self, image: ImageRecord) -> None:
        """Ask for an image's thumbnail; a repeated request moves it to the front of the queue."""
        with self._lock:
            if self._cache is None or image.id in self._busy:
                return
            self._wanted[image.id] = image
            self._wanted.move_to_end(image.id)
            while len(self._wanted) > MAX_WANTED:
                self._wanted.popitem(last=False)
        self._start()

    def pause(self) -> None:
        """The view scrolls: drop the waiting requests (tiles painted from now on ask again) and start nothing new
        until it has been still for ``SCROLL_PAUSE_MS``."""
        with self._lock:
            self._paused = True
            self._wanted.clear()
        self._resume.start()

    def pending(self) -> bool:
        """True while requests wait or are being made."""
        with self._lock:
            return bool(self._wanted or self._busy or self._workers)

    def _start(self) -> None:
        with self._lock:
            if self._resume.isActive():
                return
            self._paused = False
            count = min(LOADER_THREADS - self._workers, len(self._wanted))
            self._workers += count
        for _ in range(count):
            self.jobs.start("thumbnails", self._drain, key=WORKERS, replace=False, on_partial=self._deliver)

    def _drain(self, progress: Progress, cancel: CancelToken) -> Iterator[tuple[int, QImage]]:
        """A worker thread: make thumbnails until no request is left (or the loader closes), yielding each."""
        while True:
            with self._lock:
                if cancel.cancelled or not self._wanted or self._cache is None or self._paused:
                    self._workers -= 1
                    return
                image_id, record = self._wanted.popitem(last=True)
                self._busy.add(image_id)
                cache, locate, size = self._cache, self._locate, self._size
            image = QImage()
            try:
                data = cache.ensure(record.sha256, locate(record))
                if data:
                    image = decode_thumbnail(data, size)
            except sqlite3.Error:
                continue  # the cache is busy or closed: the tile stays a placeholder and asks again
            except (OSError, ValueError):
                pass  # a damaged cache entry: shown as undecodable
            finally:
                with self._lock:
                    self._busy.discard(image_id)
            yield image_id, image

    def _deliver(self, made: tuple[int, QImage]) -> None:
        self.ready.emit(*made)


@dataclass
class _Page:
    """Records of ``PAGE_SIZE`` consecutive rows (None: gone from the catalog) and their annotation counts."""

    records: list[Optional[ImageRecord]]
    counts: dict[int, int]


def _tile(size: int, broken: bool) -> QPixmap:
    """The neutral placeholder tile (with a cross for an image that cannot be decoded)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(TILE)
    if broken:
        painter = QPainter(pixmap)
        painter.setPen(QPen(QColor("#9e9e9e"), 2))
        painter.drawLine(size // 3, size // 3, 2 * size // 3, 2 * size // 3)
        painter.drawLine(2 * size // 3, size // 3, size // 3, 2 * size // 3)
        painter.end()
    return pixmap


class GalleryModel(QStandardItemModel):
    """One row per image id of the current filter and order; see the module docstring for the base class."""

    def __init__(self, parent: Optional[QObject] = None, icon_size: int = 160, ratio: float = 1.0) -> None:
        super().__init__(parent)
        self.setColumnCount(1)
        self.ws: Optional["Workspace"] = None
        self.icon_size = icon_size
        self.ratio = ratio
        self._ids: Sequence[int] = array("q")
        self._pages: OrderedDict[int, _Page] = OrderedDict()
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._failed: set[int] = set()
        self._rows: dict[int, int] = {}  # image id -> row, for thumbnails on their way
        self.placeholder = _tile(icon_size, broken=False)
        self.broken = _tile(icon_size, broken=True)
        self.loader = ThumbnailLoader(self)
        self.loader.ready.connect(self._thumbnail_ready)

    # -- contents -----------------------------------------------------------------------------------------------------
    @property
    def ids(self) -> Sequence[int]:
        """The image ids, one per row (replaced, never changed in place)."""
        return self._ids

    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """Show nothing of ``ws`` yet (rows come with :meth:`set_ids`); thumbnails come from its cache."""
        self.loader.close()
        self.ws = ws
        self._pixmaps.clear()
        self._failed.clear()
        self.set_ids(array("q"))
        if ws is not None:
            side = round(self.icon_size * self.ratio)
            self.loader.open(ws, QSize(side, side))

    def set_ids(self, ids: Sequence[int]) -> None:
        """Show these image ids (one model reset; records are fetched again, thumbnails are kept)."""
        self.beginResetModel()
        self.blockSignals(True)  # the row count changes inside the reset, with no row signals of its own
        try:
            self.setRowCount(len(ids))
        finally:
            self.blockSignals(False)
        self._ids = ids
        self._pages.clear()
        self._rows.clear()
        self.endResetModel()

    def prefetch(self, first: int, last: int) -> None:
        """Fetch the records of rows ``first..last`` now (between frames) unless they are kept already."""
        if self.ws is None:
            return
        for number in range(max(0, first) // PAGE_SIZE, min(last, len(self._ids) - 1) // PAGE_SIZE + 1):
            if number not in self._pages:
                self._page(number)

    def settled(self) -> bool:
        """True when no thumbnail is waiting or being made."""
        return not self.loader.pending()

    # -- rows ---------------------------------------------------------------------------------------------------------
    def _page(self, number: int) -> _Page:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        assert self.ws is not None
        wanted = list(self._ids[number * PAGE_SIZE:(number + 1) * PAGE_SIZE])
        found = {r.id: r for r in self.ws.images.many(wanted)}
        page = _Page([found.get(i) for i in wanted], self.ws.images.annotation_counts(wanted))
        self._pages[number] = page
        if len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    def record(self, row: int) -> Optional[ImageRecord]:
        """The image of a row, or None (out of range, or gone from the catalog since the ids were loaded)."""
        if not 0 <= row < len(self._ids) or self.ws is None:
            return None
        return self._page(row // PAGE_SIZE).records[row % PAGE_SIZE]

    def annotation_count(self, row: int) -> int:
        """Annotations (tags included) of a row's image."""
        if not 0 <= row < len(self._ids) or self.ws is None:
            return 0
        return self._page(row // PAGE_SIZE).counts.get(self._ids[row], 0)

    def thumbnail(self, row: int) -> QPixmap:
        """The row's thumbnail, or the placeholder while it is being made."""
        return self.tile(row)[1]

    def tile(self, row: int) -> tuple[Optional[ImageRecord], QPixmap, int]:
        """What a tile shows, in one lookup: image, thumbnail (or placeholder: the thumbnail is asked for here) and
        annotation count."""
        if not 0 <= row < len(self._ids) or self.ws is None:
            return None, self.placeholder, 0
        page = self._page(row // PAGE_SIZE)
        image = page.records[row % PAGE_SIZE]
        if image is None:
            return None, self.placeholder, 0
        count = page.counts.get(image.id, 0)
        pixmap = self._pixmaps.get(image.id)
        if pixmap is not None:
            self._pixmaps.move_to_end(image.id)
            return image, pixmap, count
        if image.id in self._failed:
            return image, self.broken, count
        self._rows[image.id] = row
        if len(self._rows) > 4 * MAX_WANTED:
            self._rows.clear()
        self.loader.request(image)
        return image, self.placeholder, count

    def _thumbnail_ready(self, image_id: int, image: QImage) -> None:
        if image.isNull():
            self._failed.add(image_id)
        else:
            image.setDevicePixelRatio(self.ratio)
            self._pixmaps[image_id] = QPixmap.fromImage(image)
            if len(self._pixmaps) > MAX_PIXMAPS:
                self._pixmaps.popitem(last=False)
        row = self._rows.pop(image_id, None)
        if row is not None and row < len(self._ids) and self._ids[row] == image_id:
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    # -- Qt model -----------------------------------------------------------------------------------------------------
    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """File name, tooltip, thumbnail, id, status and annotation count of a row."""
        row = index.row()
        if not index.isValid() or not 0 <= row < len(self._ids):
            return None
        if role == ID_ROLE:
            return self._ids[row]
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(row)
        if role == ANNOTATIONS_ROLE:
            return self.annotation_count(row)
        image = self.record(row)
        if image is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return image.file_name
        if role == STATUS_ROLE:
            return image.status
        if role == Qt.ItemDataRole.ToolTipRole:
            count = self.annotation_count(row)
            return (f"{image.file_name}\n{image.width} × {image.height} px · {human_bytes(image.byte_size)}\n"
                    f"{status_label(image.status)} · {count} annotation{'s' if count != 1 else ''} · id {image.id}")
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,  # noqa: N802 (Qt)
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        """Read-only (edits go through the core API). ``flags()`` is not overridden: a Python override would run
        for every painted tile, and the view neither edits nor drags."""
        return False


class GalleryDelegate(QStyledItemDelegate):
    """Paints a tile: thumbnail (or placeholder), a status chip, the annotation count and the elided file name.

    Painting runs for every visible tile on every scroll step, so it calls the model directly (no QVariant round
    trips), draws chips and badges from small cached pixmaps and caches elided names.
    """

    def __init__(self, model: GalleryModel, cell: QSize, view: QWidget) -> None:
        super().__init__(view)
        self.model = model
        self.cell = cell
        self.metrics = view.fontMetrics()
        self.ratio = model.ratio
        self._chips: dict[str, QPixmap] = {}
        self._badges: dict[str, QPixmap] = {}
        self._names: dict[str, str] = {}  # file name -> elided
        self._tile_color = (-1, TILE)  # (palette cacheKey, placeholder colour): is_dark once per palette, not per tile

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        """Every tile has the grid's size."""
        return self.cell

    def _placeholder(self, palette: QPalette) -> QColor:
        key = palette.cacheKey()
        if self._tile_color[0] != key:
            self._tile_color = (key, DARK_TILE if is_dark(palette) else TILE)
        return self._tile_color[1]

    def _pixmap(self, width: int, height: int) -> QPixmap:
        pixmap = QPixmap(round(width * self.ratio), round(height * self.ratio))
        pixmap.setDevicePixelRatio(self.ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        return pixmap

    def _chip(self, status: str) -> QPixmap:
        chip = self._chips.get(status)
        if chip is None:
            chip = self._chips[status] = self._pixmap(CHIP, CHIP)
            painter = QPainter(chip)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor("white"), 1.5))
            painter.setBrush(STATUS_COLORS.get(status, TILE))
            painter.drawEllipse(QRectF(1, 1, CHIP - 2, CHIP - 2))
            painter.end()
        return chip

    def _badge(self, count: int) -> QPixmap:
        text = str(count) if count < 1000 else "999+"
        badge = self._badges.get(text)
        if badge is None:
            width = self.metrics.horizontalAdvance(text) + 8
            badge = self._badges[text] = self._pixmap(width, BADGE)
            painter = QPainter(badge)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 160))
            painter.drawRoundedRect(QRectF(0, 0, width, BADGE), BADGE / 2, BADGE / 2)
            painter.setPen(QColor("white"))
            painter.drawText(QRect(0, 0, width, BADGE), Qt.AlignmentFlag.AlignCenter, text)
            painter.end()
        return badge

    def _name(self, file_name: str) -> str:
        name = self._names.get(file_name)
        if name is None:
            if len(self._names) > 8192:
                self._names.clear()
            name = self._names[file_name] = self.metrics.elidedText(
                file_name, Qt.TextElideMode.ElideMiddle, self.cell.width() - 2 * PAD)
        return name

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        """Draw one tile."""
        row = index.row()
        model = self.model
        rect: QRect = option.rect  # type: ignore[attr-defined]
        state = option.state.value  # type: ignore[attr-defined]
        x, y = rect.x(), rect.y()
        selected = state & SELECTED
        if selected or state & HAS_FOCUS:
            palette = option.palette  # type: ignore[attr-defined]
            if selected:
                painter.fillRect(rect.adjusted(2, 2, -2, -2), palette.highlight())
            if state & HAS_FOCUS:
                painter.setPen(QPen(palette.highlight().color(), 1, Qt.PenStyle.DotLine))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(rect.adjusted(2, 2, -3, -3))
        side = model.icon_size
        image, pixmap, count = model.tile(row)
        if pixmap is model.placeholder:
            width = height = side
            left, top = x + (rect.width() - side) // 2, y + PAD
            painter.fillRect(left, top, side, side, self._placeholder(option.palette))  # type: ignore[attr-defined]
        else:
            width, height = round(pixmap.width() / self.ratio), round(pixmap.height() / self.ratio)
            left, top = x + (rect.width() - width) // 2, y + PAD + (side - height) // 2
            painter.drawPixmap(left, top, pixmap)
        if image is None:
            return
        painter.drawPixmap(left + 3, top + 3, self._chip(image.status))
        if count:
            badge = self._badge(count)
            painter.drawPixmap(left + width - 3 - round(badge.width() / self.ratio), top + 3, badge)
        text = self._name(image.file_name)
        if selected:
            painter.setPen(option.palette.highlightedText().color())  # type: ignore[attr-defined]
        else:
            painter.setPen(option.palette.text().color())  # type: ignore[attr-defined]
        painter.drawText(QRect(x + PAD, y + PAD + side + PAD // 2, rect.width() - 2 * PAD, self.metrics.height()),
                         Qt.AlignmentFlag.AlignHCenter, text)


class GalleryView(QListView):
    """The icon grid: uniform tiles, static layout, extended selection; Enter or a double-click opens an image."""

    open_requested = Signal(QModelIndex)

    def __init__(self, model: GalleryModel, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragDropMode(QAbstractItemView.DragDropMode.NoDragDrop)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        side = model.icon_size
        cell = QSize(side + 2 * PAD, side + self.fontMetrics().height() + 2 * PAD)
        self.setGridSize(cell)
        self.gallery = model
        self.setModel(model)
        self.setItemDelegate(GalleryDelegate(model, cell, self))
        self.verticalScrollBar().setSingleStep(cell.height() // 3)
        self.doubleClicked.connect(self.open_requested)
        self.verticalScrollBar().valueChanged.connect(model.loader.pause)
        self._prefetch = QTimer(self)
        self._prefetch.setSingleShot(True)
        self._prefetch.timeout.connect(self._fetch_around)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt)
        """Paint, then (once the frame is out) fetch the records a screen above and below."""
        super().paintEvent(event)
        self._prefetch.start(0)

    def _fetch_around(self) -> None:
        if not self.isVisible():
            return
        first = self.indexAt(QPoint(PAD, PAD)).row()
        grid, viewport = self.gridSize(), self.viewport()
        screen = max(1, viewport.width() // grid.width()) * (viewport.height() // grid.height() + 2)
        if first >= 0:
            self.gallery.prefetch(first - screen, first + 2 * screen)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt)
        """Enter or Return opens the current image; other keys as usual."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.open_requested.emit(self.currentIndex())
            return
        super().keyPressEvent(event)
