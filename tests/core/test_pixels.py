"""Pixels for viewing: EXIF orientation applied like Pillow, reduced overviews, clear reasons for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import make_image, truncate
from PIL import Image, ImageOps

from cvops.common.imageio import ProbeError, probe
from cvops.data.pixels import load_pixels, orient, orientation_of, overview_reduction


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_and_probe(tmp_path: Path, orientation: int) -> None:
    path = make_image(tmp_path / f"o{orientation}.png", (40, 24), fmt="PNG", orientation=orientation)
    pixels = load_pixels(path)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))[:, :, ::-1]
    assert orientation_of(path) == orientation
    assert np.array_equal(pixels, expected)
    info = probe(path)
    assert pixels.shape[:2] == (info.height, info.width) and pixels.flags.c_contiguous


def test_orient_leaves_unknown_values_alone() -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert orient(pixels, 1) is pixels and orient(pixels, 0) is pixels
    assert orient(pixels, 6).shape == (4, 3)


def test_reduced_jpeg_decode_and_overview_reduction(tmp_path: Path) -> None:
    path = make_image(tmp_path / "big.jpg", (1600, 1200), orientation=6)
    assert load_pixels(path).shape == (1600, 1200, 3)
    assert load_pixels(path, reduction=4).shape == (400, 300, 3)
    assert overview_reduction(1920, 1080) == 1
    assert overview_reduction(4000, 3000) == 2
    assert overview_reduction(12000, 8400) == 4
    assert overview_reduction(40000, 20000) == 8
    with pytest.raises(ValueError):
        load_pixels(path, reduction=3)


def test_bad_files_raise_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="not found"):
        load_pixels(tmp_path / "missing.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ProbeError):
        load_pixels(tmp_path / "empty.jpg")
    (tmp_path / "junk.png").write_bytes(b"not an image at all" * 10)
    with pytest.raises(ProbeError):
        load_pixels(tmp_path / "junk.png")
    half = truncate(make_image(tmp_path / "half.png", (64, 64), fmt="PNG"), 0.3)
    with pytest.raises(ProbeError):
        load_pixels(half)
