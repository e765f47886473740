"""Thumbnail speed: the reduced-size decode of ``cvops.data.thumbnails.make_thumbnail`` against full decode + resize.

Data: ``--n`` (default 300) synthetic 1920x1080 JPEGs at quality 90 (about 360 KB each; ``--noise`` sets the amount
of high-frequency detail and so the file size), generated first (untimed).

Measured in one thread, files in the page cache (an untimed read pass loads them), each variant timed over all
files in ``--rounds`` (default 3) interleaved passes, median pass reported:

* ``make_thumbnail``: ``make_thumbnail(path)`` (draft decode, EXIF transpose, 256 px thumbnail, JPEG encode);
* ``pillow_full``: ``Image.open(path).convert("RGB").resize(<fit in 256>, BILINEAR)``;
* ``opencv_full``: ``cv2.imread(path)`` then ``cv2.resize(<fit in 256>, INTER_AREA)`` (OpenCV's default threads).

The full-decode variants stop after the resize (no JPEG encode), which favours them. ``speedup`` is the thumbnails/s
of ``make_thumbnail`` over the faster full-decode variant. Target: speedup >= 3.

Also measured, without a target: ``ThumbnailCache.generate()`` end to end (catalog lookups, decode, cache writes) on
a workspace holding the same images, imported in copy mode (import untimed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cv2
from PIL import Image

from cvops.data.ingest import import_paths
from cvops.data.thumbnails import THUMB_SIZE, make_thumbnail
from cvops.data.workspace import Workspace

from _common import MB, emit, environment, flush_writes, log, temp_root, write_photos

TARGET_SPEEDUP = 3.0


def fit(width: int, height: int, size: int = THUMB_SIZE) -> tuple[int, int]:
    """The size of a ``width`` x ``height`` image scaled to fit a ``size`` square."""
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def reduced_decode(path: Path) -> tuple[int, int]:
    """The project's thumbnailer; returns the thumbnail size."""
    _, width, height = make_thumbnail(path)
    return width, height


def pillow_full(path: Path) -> tuple[int, int]:
    """Full Pillow decode, then resize; returns the thumbnail size."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    return rgb.resize(fit(*rgb.size), Image.Resampling.BILINEAR).size


def opencv_full(path: Path) -> tuple[int, int]:
    """Full OpenCV decode, then resize; returns the thumbnail size."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    height, width = img.shape[:2]
    small = cv2.resize(img, fit(width, height), interpolation=cv2.INTER_AREA)
    return small.shape[1], small.shape[0]


VARIANTS: dict[str, Callable[[Path], tuple[int, int]]] = {
    "make_thumbnail": reduced_decode,
    "pillow_full": pillow_full,
    "opencv_full": opencv_full,
}


def time_variants(files: list[Path], rounds: int) -> dict[str, dict[str, Any]]:
    """Median seconds per pass over ``files`` of every variant, passes interleaved round-robin."""
    passes: dict[str, list[float]] = {name: [] for name in VARIANTS}
    sizes: dict[str, tuple[int, int]] = {}
    for round_no in range(1, rounds + 1):
        for name, fn in VARIANTS.items():
            started = time.perf_counter()
            for path in files:
                sizes[name] = fn(path)
            passes[name].append(time.perf_counter() - started)
        log(f"round {round_no}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in passes.items()))
    out = {}
    for name, seconds in passes.items():
        mid = statistics.median(seconds)
        out[name] = {
            "seconds_per_pass": round(mid, 3),
            "thumbs_per_s": round(len(files) / mid, 1),
            "ms_per_image": round(mid / len(files) * 1000, 2),
            "output_size": list(sizes[name]),
        }
    return out


def time_generate(root: Path, src: Path, n: int) -> dict[str, Any]:
    """Import ``src`` into a new workspace (untimed), then time ``ThumbnailCache.generate()``."""
    ws = Workspace.create(root / "ws")
    try:
        report = import_paths(ws, [src])
        if report.imported != n or report.errors:
            raise RuntimeError(f"import incomplete: {report.imported} of {n}, errors {report.errors[:3]}")
        flush_writes()
        log("ThumbnailCache.generate()")
        started = time.perf_counter()
        generated = ws.thumbnails.generate()
        seconds = time.perf_counter() - started
    finally:
        ws.close()
    cache_bytes = sum(p.stat().st_size for p in root.joinpath("ws").glob("thumbs.db*"))
    return {
        "seconds": round(seconds, 3),
        "thumbs_per_s": round(generated.made / seconds, 1),
        "made": generated.made,
        "errors": len(generated.errors),
        "cache_mb": round(cache_bytes / MB, 2),
    }


def run(n: int, rounds: int, noise: float) -> dict[str, Any]:
    """Make the images, time the variants and the cache generation in a temporary folder; return the result."""
    with temp_root("thumbnails") as root:
        files = write_photos(root / "src", n, noise_sigma=noise)
        n_bytes = sum(len(path.read_bytes()) for path in files)
        variants = time_variants(files, rounds)
        generate = time_generate(root, root / "src", n)
    baseline_name = max(("pillow_full", "opencv_full"), key=lambda k: variants[k]["thumbs_per_s"])
    speedup = variants[baseline_name]["seconds_per_pass"] / variants["make_thumbnail"]["seconds_per_pass"]
    return {
        "benchmark": "thumbnails",
        "images": n,
        "image_size": [1920, 1080],
        "noise_sigma": noise,
        "mean_file_kb": round(n_bytes / n / 1000, 1),
        "rounds": rounds,
        "variants": variants,
        "baseline": baseline_name,
        "speedup": round(speedup, 2),
        "generate": generate,
        "target": {"speedup_min": TARGET_SPEEDUP},
        "pass": {"speedup": speedup >= TARGET_SPEEDUP, "generate_made_all": generate["made"] == n},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="number of JPEGs (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per variant (default 3)")
    parser.add_argument("--noise", type=float, default=4.0,
                        help="noise sigma of the synthetic images; sets the JPEG size (default 4: about 360 KB)")
    args = parser.parse_args()
    emit(run(args.n, args.rounds, args.noise))
    return 0


if __name__ == "__main__":
    sys.exit(main())
