"""The "shapes" sample dataset: circles, squares and triangles on textured backgrounds, with exact labels.

Deterministic for a seed. Small enough to learn fast (yolo11n from scratch at 160 px), varied enough to be honest:
random sizes, colors, overlap-free placement, noise and gradients in the background.

``variant="hard"`` is the same task under worse conditions, for new data that a model trained on the normal images
should find harder: darker scenes, stronger sensor noise over the shapes too, and backgrounds the normal variant never
has (stripes, checkerboards, blotches). :func:`write_yolo` writes such a batch as a YOLO dataset (images, labels,
data.yaml) that ``cvops import-dataset`` reads, e.g. new data dropped into a watched folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("circle", "square", "triangle")
VARIANTS = ("normal", "hard")
HARD_NOISE = 24.0  # sigma of the hard variant's noise over the whole image (the normal background has 8)


@dataclass
class SampleShape:
    """One labelled shape: class name, box ``(x, y, w, h)`` and polygon outline, in pixels."""

    label: str
    box: tuple[float, float, float, float]
    polygon: list[list[float]]


@dataclass
class SampleImage:
    """One generated image file and its shapes."""

    path: Path
    width: int
    height: int
    shapes: list[SampleShape] = field(default_factory=list)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(40, 200, size=3)
    gradient = np.linspace(-30, 30, size, dtype=np.float32)
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = base
    img += gradient[None, :, None] if rng.random() < 0.5 else gradient[:, None, None]
    img += rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _hard_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A dark background of a kind the normal variant never draws: stripes, a checkerboard or blotches."""
    base = rng.integers(10, 70, size=3).astype(np.float32)
    other = np.clip(base + rng.integers(15, 40, size=3), 0, 110).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    kind = int(rng.integers(0, 3))
    if kind == 0:  # stripes at a random angle and period
        angle, period = rng.uniform(0, math.pi), rng.uniform(8, 24)
        mask = (np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period) > 0)
    elif kind == 1:  # checkerboard
        cell = int(rng.integers(10, 32))
        mask = ((xx // cell + yy // cell) % 2).astype(bool)
    else:  # blotches: a few soft discs
        mask = np.zeros((size, size), dtype=bool)
        for _ in range(int(rng.integers(3, 8))):
            cx, cy, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size * 0.08, size * 0.3)
            mask |= (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    img = np.where(mask[..., None], other, base).astype(np.float32)
    img += rng.normal(0, 6, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _contrasting(color: np.ndarray, background: np.ndarray) -> tuple[int, int, int]:
    """A random color pushed dark on a light background and light on a dark one, so every labelled shape is
    visible (a shape the color of its background would be a label no one could see)."""
    c = color.astype(np.float32)
    c = c * 0.3 if float(background.mean()) > 127 else 255 - (255 - c) * 0.3
    return (int(c[0]), int(c[1]), int(c[2]))


def _shape(rng: np.random.Generator, label: str, cx: float, cy: float, r: float) -> list[list[float]]:
    if label == "circle":
        return [[cx + r * math.cos(a), cy + r * math.sin(a)] for a in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
    if label == "square":
        angle = rng.uniform(0, math.pi / 2) if rng.random() < 0.3 else 0.0
        return [[cx + r * math.cos(angle + k * math.pi / 2 + math.pi / 4) * math.sqrt(2) * 0.75,
                 cy + r * math.sin(angle + k * math.pi / 2 + math.pi / 4) * math.sqrt(2) * 0.75] for k in range(4)]
    angle = rng.uniform(0, 2 * math.pi)
    return [[cx + r * math.cos(angle + k * 2 * math.pi / 3), cy + r * math.sin(angle + k * 2 * math.pi / 3)]
            for k in range(3)]


def generate(out_dir: Path, count: int = 128, size: int = 256, seed: int = 0, max_shapes: int = 4,
             ext: str = ".png", variant: str = "normal") -> list[SampleImage]:
    """Write ``count`` images to ``out_dir`` and return them with their labels (nothing is written but images).

    ``variant`` is ``"normal"`` or ``"hard"`` (darker, noisier, other backgrounds; files ``shapes_hard_*``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown shapes variant {variant!r} (choose from {', '.join(VARIANTS)})")
    hard = variant == "hard"
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples: list[SampleImage] = []
    for i in range(count):
        img = _hard_background(rng, size) if hard else _background(rng, size)
        placed: list[tuple[float, float, float]] = []
        shapes: list[SampleShape] = []
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            for _attempt in range(20):
                r = float(rng.uniform(size * 0.06, size * 0.16))
                cx, cy = (float(v) for v in rng.uniform(r + 2, size - r - 2, size=2))
                if all(math.hypot(cx - px, cy - py) > r + pr + 4 for px, py, pr in placed):
                    break
            else:
                continue
            placed.append((cx, cy, r))
            label = CLASSES[int(rng.integers(0, len(CLASSES)))]
            poly = _shape(rng, label, cx, cy, r)
            color = _contrasting(rng.integers(0, 256, size=3), img[int(cy), int(cx)])
            pts = np.array(poly, dtype=np.float32)
            cv2.fillPoly(img, [np.round(pts).astype(np.int32)], color, lineType=cv2.LINE_AA)
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            x0, y0 = max(0.0, float(x0)), max(0.0, float(y0))
            x1, y1 = min(float(size), float(x1)), min(float(size), float(y1))
            shapes.append(SampleShape(label, (x0, y0, x1 - x0, y1 - y0), [[float(x), float(y)] for x, y in poly]))
        if hard:  # sensor noise over the shapes too, and a darker exposure
            noisy = img.astype(np.float32) * 0.8 + rng.normal(0, HARD_NOISE, size=img.shape)
            img = np.clip(noisy, 0, 255).astype(np.uint8)
        path = out_dir / f"shapes_{'hard_' if hard else ''}{i:05d}{ext}"
        ok, buf = cv2.imencode(ext, img)
        if not ok:
            raise RuntimeError(f"could not encode {path}")
        path.write_bytes(buf.tobytes())
        samples.append(SampleImage(path, size, size, shapes))
    return samples



def write_yolo(out_dir: Path, count: int = 100, seed: int = 0, variant: str = "hard", size: int = 256,
               max_shapes: int = 4) -> list[SampleImage]:
    """Write ``count`` images of ``variant`` as a YOLO dataset in ``out_dir``: ``images/``, ``labels/`` (one box per
    shape, normalised ``class cx cy w h``) and ``data.yaml`` naming :data:`CLASSES`; return the samples."""
    import yaml

    samples = generate(out_dir / "images", count=count, size=size, seed=seed, max_shapes=max_shapes, variant=variant)
    labels = out_dir / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for sample in samples:
        lines = [f"{CLASSES.index(sh.label)} {(sh.box[0] + sh.box[2] / 2) / sample.width:.6f} "
                 f"{(sh.box[1] + sh.box[3] / 2) / sample.height:.6f} {sh.box[2] / sample.width:.6f} "
                 f"{sh.box[3] / sample.height:.6f}" for sh in sample.shapes]
        (labels / f"{sample.path.stem}.txt").write_text("".join(f"{line}\n" for line in lines))
    (out_dir / "data.yaml").write_text(yaml.safe_dump(
        {"path": ".", "train": "images", "val": "images", "names": dict(enumerate(CLASSES))}, sort_keys=False))
    return samples
