"""The canvas's image layer: overview first, full-resolution tiles when zoomed in, EXIF orientation, stale loads
dropped, and a message instead of an exception for missing or undecodable files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from helpers import make_image
from timing_testing import WAIT_MS
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from cvops_app.canvas.image_layer import TILE
from cvops_app.canvas.view import CanvasView


@pytest.fixture
def view(qtbot: Any) -> CanvasView:
    canvas = CanvasView()
    qtbot.addWidget(canvas)
    canvas.resize(640, 480)
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def blocks(path: Path, width: int, height: int, block: int = 64, seed: int = 0) -> np.ndarray:
    """A JPEG of flat colored blocks (exact colors survive compression away from block edges); returns BGR."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // block + 1, width // block + 1, 3), dtype=np.uint8)
    pixels = np.ascontiguousarray(np.repeat(np.repeat(small, block, 0), block, 1)[:height, :width])
    cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return pixels


def close_to(color: QColor, bgr: np.ndarray, tolerance: int = 12) -> bool:
    return max(abs(color.red() - int(bgr[2])), abs(color.green() - int(bgr[1])),
               abs(color.blue() - int(bgr[0]))) <= tolerance


def test_large_image_overview_then_tiles(view: CanvasView, qtbot: Any, tmp_path: Path) -> None:
    pixels = blocks(tmp_path / "large.jpg", 5000, 3600)
    layer = view.image_layer
    view.set_image(tmp_path / "large.jpg", 5000, 3600)
    assert not view.settled()
    qtbot.waitUntil(view.settled, timeout=WAIT_MS)
    assert layer.levels[0].width() == 2500 and not layer.full_resolution and not layer.tiles
    assert layer.pixels is None  # the full image is decoded only when tiles are needed
    view.zoom_to(1.0, QPointF(320, 240))
    view.centerOn(3100, 2100)  # a spot spanning tile boundaries
    view.viewport().repaint()
    assert layer.pending and not view.settled()
    qtbot.waitUntil(view.settled, timeout=WAIT_MS)
    assert layer.tiles and layer.pixels is not None
    assert all(image.width() <= TILE for image in layer.tiles.values())
    shot = view.viewport().grab().toImage()
    for x, y in ((3100 + 32, 2100 + 32), (2968, 2015), (3200, 2200)):
        at = view.mapFromScene(QPointF(x + 0.5, y + 0.5))
        assert close_to(shot.pixelColor(at), pixels[y, x]), (x, y)


def test_exif_orientation_is_applied(view: CanvasView, qtbot: Any, tmp_path: Path) -> None:
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10, :10] = (0, 0, 255)  # red block at the stored top-left
    path = tmp_path / "rotated.jpg"
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    Image.fromarray(stored[:, :, ::-1]).save(path, quality=95, exif=exif)
    view.set_image(path, 40, 60)
    qtbot.waitUntil(view.settled, timeout=WAIT_MS)
    level = view.image_layer.levels[0]
    assert (level.width(), level.height()) == (40, 60) and view.image_layer.full_resolution
    assert level.pixelColor(35, 4).red() > 200 and level.pixelColor(4, 4).red() < 60  # now at the top right


def test_missing_and_corrupt_files_show_a_message(view: CanvasView, qtbot: Any, tmp_path: Path) -> None:
    view.set_image(tmp_path / "gone.jpg", 100, 80)
    qtbot.waitUntil(view.settled, timeout=WAIT_MS)
    assert "not found" in view.message and view.image_layer.error
    view.viewport().repaint()  # paints the placeholder and the message
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really" * 20)
    view.set_image(tmp_path / "junk.png", 100, 80)
    assert view.message == ""
    qtbot.waitUntil(view.settled, timeout=WAIT_MS)
    assert view.message
    make_image(tmp_path / "fine.png", (100, 80), fmt="PNG")
    view.set_image(tmp_path / "fine.png", 100, 80)
    qtbot.waitUntil(view.settled, timeout=WAIT_MS)
    assert view.message == "" and view.image_layer.levels


def test_switching_fast_drops_stale_results(view: CanvasView, qtbot: Any, tmp_path: Path) -> None:
    blocks(tmp_path / "big.jpg", 4000, 3000)
    make_image(tmp_path / "small.png", (120, 90), fmt="PNG")
    for _ in range(3):
        view.set_image(tmp_path / "big.jpg", 4000, 3000)
        view.set_image(tmp_path / "small.png", 120, 90)
    qtbot.waitUntil(view.settled, timeout=WAIT_MS)
    qtbot.wait(300)  # let any stale result arrive: it must be ignored
    layer = view.image_layer
    assert (layer.levels[0].width(), layer.levels[0].height()) == (120, 90) and layer.error is None
