"""Pixels for viewing: decode an image (whole, or reduced for an overview) as an 8-bit BGR array in the orientation
the catalog uses, i.e. with the EXIF orientation applied, so that annotation geometry lines up with the pixels.

JPEGs are decoded at a DCT scale (1/2, 1/4, 1/8) for overviews, which makes a 100-megapixel overview a fraction of a
second; other formats are decoded whole and then reduced. OpenCV decodes (it is faster than Pillow for large JPEGs);
the orientation tag is read by Pillow from the header, as import does.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cvops.common.imageio import ProbeError, _orientation, open_image

# An overview is decoded at the largest reduction whose longer side still has at least this many pixels.
OVERVIEW_MIN_SIDE = 1536
# Images with at most this many pixels are always decoded whole (an overview would not save much).
SMALL_IMAGE_PIXELS = 4_000_000
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def orientation_of(path: Path) -> int:
    """The EXIF orientation (1..8) of an image file, read from its header; 1 when absent."""
    try:
        with open_image(path) as im:
            value = _orientation(im)
    except FileNotFoundError:
        raise ProbeError(f"file not found: {path}") from None
    except Exception as exc:  # corrupt or replaced since import: say why instead of failing obscurely
        raise ProbeError(f"cannot read image header: {exc}") from None
    return value if 1 <= value <= 8 else 1


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an ``(h, w[, c])`` array, as ``PIL.ImageOps.exif_transpose`` does."""
    swap = (1, 0, *range(2, pixels.ndim))
    if orientation == 2:
        out = pixels[:, ::-1]
    elif orientation == 3:
        out = pixels[::-1, ::-1]
    elif orientation == 4:
        out = pixels[::-1]
    elif orientation == 5:
        out = pixels.transpose(swap)
    elif orientation == 6:
        out = pixels.transpose(swap)[:, ::-1]
    elif orientation == 7:
        out = pixels[::-1, ::-1].transpose(swap)
    elif orientation == 8:
        out = pixels.transpose(swap)[::-1]
    else:
        return pixels
    return np.ascontiguousarray(out)


def overview_reduction(width: int, height: int) -> int:
    """The reduction (1, 2, 4 or 8) for an overview of a ``width`` x ``height`` image; 1 for small images."""
    if width * height <= SMALL_IMAGE_PIXELS:
        return 1
    reduction = 1
    for candidate in (2, 4, 8):
        if max(width, height) / candidate >= OVERVIEW_MIN_SIDE:
            reduction = candidate
    return reduction


def _pillow_decode(path: Path, reduction: int) -> np.ndarray:
    """Fallback for files OpenCV cannot decode."""
    with open_image(path) as im:
        rgb = im.convert("RGB")
    if reduction > 1:
        rgb = rgb.reduce(reduction)
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def load_pixels(path: Path, reduction: int = 1) -> np.ndarray:
    """Decode ``path`` as an oriented, contiguous ``(h, w, 3)`` uint8 BGR array, reduced by ``reduction`` (1, 2, 4
    or 8; approximate: JPEG DCT scaling rounds up). Raises :class:`~cvops.common.imageio.ProbeError` with a reason."""
    if reduction not in _REDUCED:
        raise ValueError(f"reduction must be 1, 2, 4 or 8, not {reduction}")
    orientation = orientation_of(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ProbeError(f"cannot read file: {exc.strerror or exc}") from None
    if data.size == 0:
        raise ProbeError("empty file (0 bytes)")
    pixels = cv2.imdecode(data, _REDUCED[reduction] | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None:
        try:
            pixels = _pillow_decode(path, reduction)
        except Exception as exc:  # both decoders failed: report Pillow's reason
            raise ProbeError(f"cannot decode image: {exc}") from None
    return orient(pixels, orientation)
