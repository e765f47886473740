"""Images and video frames in, annotated images out: the edge runner's decoding and letterbox, and ``run.py``'s
sources and drawing.

Like :mod:`cvops.deploy.edge_runner`, this file ships verbatim in every bundle (as ``frames.py`` next to ``run.py``),
so it imports only the standard library, numpy and OpenCV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import cv2
import numpy as np

PAD_VALUE = 114
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}


def letterbox(image: np.ndarray, size: int, stride: int = 0) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize ``image`` to fit ``size`` x ``size`` keeping its aspect ratio and pad it; return it, the scale and
    the (left, top) padding. With ``stride`` (a model with a dynamic input) pad only to the next multiple of the
    stride: a 16:9 image runs as 640 x 384 instead of 640 x 640, as Ultralytics does for such models."""
    h, w = image.shape[:2]
    gain = min(size / h, size / w)
    new_w, new_h = int(round(w * gain)), int(round(h * gain))
    dw, dh = size - new_w, size - new_h
    if stride:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return image, gain, (left, top)


def to_tensor(image: np.ndarray) -> np.ndarray:
    """A BGR image → RGB planes scaled to 0-1, CHW float32: bit for bit ``cv2.dnn.blobFromImage(image, 1 / 255,
    swapRB=True)[0]``, 2-5x faster (one plane at a time)."""
    tensor = np.empty((3, *image.shape[:2]), np.float32)
    for i, plane in enumerate(cv2.split(image)[2::-1]):
        tensor[i] = plane
    tensor *= np.float32(1.0 / 255.0)
    return tensor


def jpeg_size(data: bytes) -> Optional[tuple[int, int]]:
    """``(width, height)`` from a JPEG's frame header (before EXIF rotation); None for anything else."""
    i = 2 if data[:2] == b"\xff\xd8" else len(data)  # after the start-of-image marker
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # a fill byte or a marker without length
            i += 1 if marker == 0xFF else 2
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and i + 9 <= len(data):  # frame header
            height, width = int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big")
            return (width, height) if width and height else None
        elif marker in (0xD9, 0xDA):  # end of image or start of scan
            return None
        else:
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def decode_image(data: bytes, imgsz: Optional[int] = None) -> Optional[tuple[np.ndarray, float, float]]:
    """An encoded image as BGR with its EXIF orientation applied, and the factors ``(fx, fy)`` that take its
    coordinates to the full-size image; None when it cannot be decoded.

    With ``imgsz``, a JPEG whose long side is at least twice ``imgsz`` is decoded at 1/2, 1/4 or 1/8 scale by
    libjpeg's scaled inverse DCT (the smallest scale that keeps the long side at least ``imgsz``, so letterboxing
    still only shrinks): a 1280x720 photo for a 640 model decodes as 640x360, faster and with no resize left to do.
    The DCT averages the pixels it drops, like ``cv2.INTER_AREA``; the export gate decodes this way too."""
    buffer = np.frombuffer(data, np.uint8)
    size = jpeg_size(data) if imgsz else None
    factor = 1
    while size and factor < 8 and -(-max(size) // (factor * 2)) >= imgsz:  # type: ignore[operator]
        factor *= 2
    image = cv2.imdecode(buffer, REDUCED_FLAGS[factor]) if buffer.size else None
    if image is None or factor == 1 or size is None:
        return None if image is None else (image, 1.0, 1.0)
    w, h = size
    if image.shape[1] != -(-w // factor):  # rotated by its EXIF orientation
        w, h = h, w
    return image, w / image.shape[1], h / image.shape[0]


def read_image(path: Path, imgsz: Optional[int] = None) -> Optional[tuple[np.ndarray, float, float]]:
    """:func:`decode_image` of a file; None when it cannot be read or decoded."""
    try:
        return decode_image(Path(path).read_bytes(), imgsz)
    except OSError:
        return None


def iter_frames(sources: Sequence[str], errors: list[str], max_frames: Optional[int] = None,
                imgsz: Optional[int] = None) -> Iterator[tuple[str, Optional[int], np.ndarray, tuple[float, float]]]:
    """``(source, frame index or None, BGR image, (fx, fy))`` for every image and video frame of ``sources``
    (files, folders, camera indexes); ``imgsz`` decodes large JPEGs at reduced scale (:func:`decode_image`, whose
    factors map the image back to full size). Unreadable sources are appended to ``errors``."""
    for source in sources:
        if source.isdigit() and not Path(source).exists():
            yield from _video_frames(int(source), f"camera:{source}", errors, max_frames)
            continue
        path = Path(source)
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in
                       IMAGE_EXTENSIONS + VIDEO_EXTENSIONS) if path.is_dir() else [path]
        for file in files:
            if file.suffix.lower() in VIDEO_EXTENSIONS:
                yield from _video_frames(str(file), str(file), errors, max_frames)
                continue
            decoded = read_image(file, imgsz)
            if decoded is None:
                errors.append(f"{file}: cannot read the image")
            else:
                yield str(file), None, decoded[0], decoded[1:]


def _video_frames(capture_source: Any, name: str, errors: list[str], max_frames: Optional[int]
                  ) -> Iterator[tuple[str, Optional[int], np.ndarray, tuple[float, float]]]:
    cap = cv2.VideoCapture(capture_source)
    try:
        if not cap.isOpened():
            errors.append(f"{name}: cannot open the video or camera")
            return
        index = 0
        while max_frames is None or index < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            yield name, index, frame, (1.0, 1.0)
            index += 1
        if index == 0:
            errors.append(f"{name}: no frames could be read")
    finally:
        cap.release()


def _bgr(color: str, index: int) -> tuple[int, int, int]:
    text = color.lstrip("#")
    if len(text) == 6:
        try:
            r, g, b = (int(text[i:i + 2], 16) for i in (0, 2, 4))
            return b, g, r
        except ValueError:
            pass
    rng = np.random.default_rng(index)
    return tuple(int(v) for v in rng.integers(64, 256, 3))  # type: ignore[return-value]


def draw(image: np.ndarray, detections: list[dict[str, Any]], colors: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` with the detections drawn (class colors from ``model.json``)."""
    out = image.copy()
    thick = max(1, round(max(out.shape[:2]) / 400))
    for d in detections:
        x, y, w, h = (int(round(v)) for v in d["box"])
        i = int(d.get("class_index", 0))
        color = _bgr(colors[i] if i < len(colors) else "", i)
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        label = f"{d['name']} {d['confidence']:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, thick)
        top = max(y - th - base, 0)
        cv2.rectangle(out, (x, top), (x + tw, top + th + base), color, -1)
        cv2.putText(out, label, (x, top + th), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (0, 0, 0), thick, cv2.LINE_AA)
    return out


def save_name(source: str, frame: Optional[int], used: set[str]) -> str:
    stem = Path(source.replace(":", "")).stem or "frame"
    name = f"{stem}_{frame:06d}.jpg" if frame is not None else f"{stem}.jpg"
    n = 1
    while name in used:
        name = f"{stem}_{n}.jpg" if frame is None else f"{stem}_{frame:06d}_{n}.jpg"
        n += 1
    used.add(name)
    return name
