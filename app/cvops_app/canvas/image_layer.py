"""The image under the shapes: an overview decoded in the background first, then full-resolution tiles for the
visible region once the view is zoomed in beyond the overview's resolution.

Geometry is in pixels of the oriented image (the catalog's width x height); the overview (a reduced decode, with a
pyramid of halvings for zoomed-out views) is stretched to that rectangle. The full image is decoded once, in a
worker, the first time tiles are needed; tiles are cut from it in workers and kept in a least-recently-used cache.
The image's jobs share a key: showing another image supersedes them, so results for an image that is no longer
shown never arrive.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Optional

import cv2
import numpy as np
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QStyleOptionGraphicsItem, QWidget

from cvops.data.pixels import load_pixels, overview_reduction
from cvops_app.jobs import Job, JobManager

TILE = 1024
TILE_CACHE_BYTES = 256 * 1024 * 1024
SMALLEST_LEVEL = 256  # the pyramid stops halving below this many pixels on the longer side
UPSCALE_SLACK = 1.25  # tiles are requested once the overview would be magnified by more than this
PLACEHOLDER = QColor(48, 48, 48)


class ArrayImage(QImage):
    """An RGB32 QImage over a numpy BGRA buffer, which it keeps alive (no copy)."""

    def __init__(self, bgra: np.ndarray) -> None:
        super().__init__(bgra.data, bgra.shape[1], bgra.shape[0], bgra.strides[0], QImage.Format.Format_RGB32)
        self.array = bgra


def to_qimage(pixels: np.ndarray) -> QImage:
    """A QImage of a ``(h, w, 3)`` BGR array (a slice is fine). The conversion runs in OpenCV, which releases the
    GIL, so workers making images do not stall the GUI thread."""
    return ArrayImage(cv2.cvtColor(pixels, cv2.COLOR_BGR2BGRA))


def _load_overview(path: Path, reduction: int) -> list[QImage]:
    """The overview and its successive halvings (area-averaged), largest first."""
    levels = [load_pixels(path, reduction)]
    while max(levels[-1].shape[:2]) > 2 * SMALLEST_LEVEL:
        h, w = levels[-1].shape[:2]
        levels.append(cv2.resize(levels[-1], (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA))
    return [to_qimage(level) for level in levels]


def _cut_tiles(pixels: np.ndarray, keys: list[tuple[int, int]]) -> dict[tuple[int, int], QImage]:
    return {(c, r): to_qimage(pixels[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE]) for c, r in keys}


class ImageLayer(QGraphicsObject):
    """The image at z = 0, spanning ``(0, 0, width, height)`` in scene coordinates."""

    failed = Signal(str)  # why the image cannot be shown
    progressed = Signal()  # something new to show (overview or tiles), or the work settled

    def __init__(self, jobs: JobManager) -> None:
        super().__init__()
        self.setZValue(0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.jobs = jobs
        self.key = ("image", id(self))  # the jobs of the image shown: a new image supersedes them
        self.path: Optional[Path] = None
        self.width = self.height = 1
        self.levels: list[QImage] = []
        self.full_resolution = False  # the first level is the whole image at full resolution
        self.error: Optional[str] = None
        self.pixels: Optional[np.ndarray] = None
        self.tiles: OrderedDict[tuple[int, int], QImage] = OrderedDict()
        self.pending: set[tuple[int, int]] = set()
        self.busy = 0  # jobs running for the current image
        self.decoding = False

    # -- loading ------------------------------------------------------------------------------------------------------
    def load(self, path: Optional[Path], width: int, height: int) -> None:
        """Show another image (``path`` None clears); the previous image's work is dropped (see
        :meth:`JobManager.supersede`: its results never arrive)."""
        self.jobs.supersede(self.key)
        self.prepareGeometryChange()
        self.path, self.width, self.height = path, max(1, width), max(1, height)
        self.levels, self.full_resolution, self.error = [], False, None
        self.pixels, self.decoding, self.busy = None, False, 0
        self.tiles.clear()
        self.pending.clear()
        self.update()
        if path is not None:
            reduction = overview_reduction(width, height)
            self.full_resolution = reduction == 1
            self._start(lambda: _load_overview(path, reduction), self._overview_done)

    def _start(self, fn: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        """Run ``fn()`` as one of the current image's jobs (they run side by side); only the current image's
        results arrive."""
        self.busy += 1
        job = self.jobs.start("image", lambda progress, cancel: fn(), on_done=on_done, key=self.key, replace=False)
        job.signals.failed.connect(lambda _detail, j=job: self._task_failed(j))

    def _overview_done(self, levels: list[QImage]) -> None:
        self.busy -= 1
        self.levels = levels
        self.update()
        self.progressed.emit()

    def _task_failed(self, job: Job) -> None:
        self.busy -= 1
        reason = str(job.error) or type(job.error).__name__  # a decode failure is shown in the view
        self.decoding = False
        self.pending.clear()
        self.error = reason  # also stops tile requests when the overview is shown but the full decode failed
        if not self.levels:
            self.failed.emit(reason)
        self.progressed.emit()

    def _pixels_done(self, pixels: np.ndarray) -> None:
        self.busy -= 1
        self.pixels = pixels
        self.decoding = False
        self._cut(sorted(self.pending))

    def _tiles_done(self, tiles: dict[tuple[int, int], QImage]) -> None:
        self.busy -= 1
        for key, image in tiles.items():
            self.pending.discard(key)
            self.tiles[key] = image
            rect = self._tile_rect(*key)
            self.update(rect)
        while len(self.tiles) * TILE * TILE * 4 > TILE_CACHE_BYTES:
            self.tiles.popitem(last=False)
        self.progressed.emit()

    def _request(self, keys: list[tuple[int, int]]) -> None:
        """Ask for tiles: decode the full image first when that has not been done."""
        self.pending.update(keys)
        if self.pixels is not None:
            self._cut(keys)
        elif not self.decoding and self.path is not None:
            self.decoding = True
            path = self.path
            self._start(lambda: load_pixels(path), self._pixels_done)

    def _cut(self, keys: list[tuple[int, int]]) -> None:
        pixels = self.pixels
        for start in range(0, len(keys), 2):  # small batches: the first tiles show early
            batch = keys[start:start + 2]
            self._start(lambda b=batch: _cut_tiles(pixels, b), self._tiles_done)

    # -- state --------------------------------------------------------------------------------------------------------
    def settled(self) -> bool:
        """True when the overview is shown (or failed) and no work is pending for the current image."""
        return (self.path is None or bool(self.levels) or self.error is not None) and self.busy == 0 \
            and not self.pending

    def overview_scale(self) -> float:
        """Overview pixels per image pixel (0 before the overview is loaded)."""
        return self.levels[0].width() / self.width if self.levels else 0.0

    # -- painting -----------------------------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt)
        """The image rectangle."""
        return QRectF(0, 0, self.width, self.height)

    def _tile_rect(self, col: int, row: int) -> QRectF:
        return QRectF(col * TILE, row * TILE, min(TILE, self.width - col * TILE), min(TILE, self.height - row * TILE))

    def _draw_overview(self, painter: QPainter, area: QRectF, lod: float) -> None:
        """Draw ``area`` from the smallest overview level that still has ``lod`` pixels per image pixel."""
        level = self.levels[0]
        for candidate in self.levels:
            if candidate.width() / self.width >= lod:
                level = candidate
        sx, sy = level.width() / self.width, level.height() / self.height
        painter.drawImage(area, level, QRectF(area.x() * sx, area.y() * sy, area.width() * sx, area.height() * sy))

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: Optional[QWidget] = None) -> None:
        """Draw the overview level that suits the zoom, or full-resolution tiles where the zoom calls for them (the
        overview stands in for tiles still loading)."""
        exposed = option.exposedRect.intersected(self.boundingRect())  # type: ignore[attr-defined]
        if exposed.isEmpty():
            return
        if not self.levels:
            if self.path is not None:
                painter.fillRect(exposed, PLACEHOLDER)
            return
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        if self.full_resolution or lod <= self.overview_scale() * UPSCALE_SLACK or self.error is not None:
            self._draw_overview(painter, exposed, lod)
            return
        missing = []
        for row in range(int(exposed.top()) // TILE, math.ceil(exposed.bottom() / TILE)):
            for col in range(int(exposed.left()) // TILE, math.ceil(exposed.right() / TILE)):
                target = self._tile_rect(col, row).intersected(exposed)
                tile = self.tiles.get((col, row))
                if tile is None:
                    self._draw_overview(painter, target, lod)
                    if (col, row) not in self.pending:
                        missing.append((col, row))
                    continue
                self.tiles.move_to_end((col, row))
                painter.drawImage(target, tile, target.translated(-col * TILE, -row * TILE))
        if missing:
            self._request(missing)
