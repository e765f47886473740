"""Shared helpers of the benchmark scripts: synthetic images, timing statistics, logging and JSON output.

Not a benchmark itself (``make bench`` runs ``bench_*.py`` only) and not collected by pytest.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import PIL

MB = 1_000_000
_STARTED = time.perf_counter()


def log(message: str) -> None:
    """Progress chatter on stderr, stamped with seconds since start (stdout carries only the JSON result)."""
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """Print the result as one JSON object on stdout."""
    print(json.dumps(result, indent=2, sort_keys=False))


@contextlib.contextmanager
def temp_root(name: str) -> Iterator[Path]:
    """A fresh temporary folder (under the system temp dir, normally /tmp), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=f"cvops-bench-{name}-"))
    log(f"working in {root}")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 to stderr meanwhile (Ultralytics prints its export and predict
    chatter on stdout, which carries only the JSON result)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def flush_writes() -> None:
    """Write dirty pages to disk so background writeback of one phase does not slow down the next."""
    os.sync()


def synthetic_photo(seed: int, width: int, height: int, noise_sigma: float, shapes: int = 40) -> np.ndarray:
    """A BGR image: a colour gradient, filled shapes and Gaussian noise (the noise sets the JPEG size)."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(30, 226, (2, 2, 3)).astype(np.uint8)
    img = cv2.resize(corners, (width, height), interpolation=cv2.INTER_LINEAR)
    for _ in range(shapes):
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(max(2, height // 50), max(3, height // 3)))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            cv2.circle(img, (x, y), size, color, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, (x, y), (x + size, y + size // 2), color, -1)
        else:
            points = rng.integers(0, [width, height], (5, 2)).astype(np.int32)
            cv2.fillPoly(img, [points], color, cv2.LINE_AA)
    cv2.setRNGSeed(seed)
    noise = np.empty((height, width, 3), np.int16)
    cv2.randn(noise, (0, 0, 0), (noise_sigma,) * 3)
    return cv2.add(img, noise, dtype=cv2.CV_8U)


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _write_photo(args: tuple[Path, int, int, int, int, float]) -> int:
    path, seed, width, height, quality, noise_sigma = args
    data = encode_jpeg(synthetic_photo(seed, width, height, noise_sigma), quality)
    path.write_bytes(data)
    return len(data)


def write_photos(folder: Path, n: int, width: int = 1920, height: int = 1080, quality: int = 90,
                 noise_sigma: float = 4.0, workers: int = 2) -> list[Path]:
    """Write ``n`` distinct synthetic JPEGs (about 360 KB each at 1920x1080, quality 90) with a process pool."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img_{i:06d}.jpg" for i in range(n)]
    jobs = [(p, i, width, height, quality, noise_sigma) for i, p in enumerate(paths)]
    total = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, size in enumerate(pool.map(_write_photo, jobs, chunksize=8), 1):
            total += size
            if done % 250 == 0 or done == n:
                log(f"generated {done}/{n} JPEGs")
    log(f"{n} JPEGs, {total / MB:.1f} MB, mean {total / max(n, 1) / 1000:.0f} KB")
    return paths


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def environment() -> dict[str, Any]:
    """Versions and machine facts that the figures depend on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "pillow": PIL.__version__,
        "opencv": cv2.__version__,
    }


def drop_from_page_cache(paths: Sequence[Path]) -> None:
    """Write dirty pages, then ask the kernel to forget the cached pages of ``paths``, so the next read of them comes
    from the disk as on a fresh boot (``posix_fadvise(DONTNEED)``; no root needed; a no-op where unsupported)."""
    os.sync()
    if hasattr(os, "posix_fadvise"):
        evict(paths)


def evict(paths: Sequence[Path]) -> None:
    """Drop the (clean) pages of ``paths`` from the page cache (``posix_fadvise(DONTNEED)``)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
