"""Image files for tests: valid ones of every format, EXIF-rotated, corrupt, truncated."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def make_image(path: Path, size: tuple[int, int] = (64, 48), fmt: str = "JPEG", seed: int = 0,
               orientation: int = 0) -> Path:
    """Write a random-content image of ``size`` (width, height) in ``fmt``; optional EXIF orientation tag."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    im.save(path, fmt, **kwargs)
    return path


def image_bytes(size: tuple[int, int] = (64, 48), fmt: str = "JPEG", seed: int = 0) -> bytes:
    """Encoded bytes of a random image."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to a fraction of its size (a partially written download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
