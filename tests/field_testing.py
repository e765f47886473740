"""Fake device field folders for the monitoring tests: schema-v1 log lines (:mod:`cvops.monitoring.field`) and small
JPEG captures, written directly (the bundle's run.py writes the real ones; its end-to-end tests cover it).

``FIELD_DIR/<device>/field-<UTC time>-<pid>.jsonl`` and ``FIELD_DIR/<device>/captures/<date>/<file>.jpg``.
"""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

from cvops.monitoring.field import encode_embedding

MODEL_SHA = "ab" * 32


def log_name(start_time: float, pid: int) -> str:
    """The device's log file name for a log started at ``start_time``."""
    return f"field-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(start_time))}-{pid}.jsonl"


def record(device: str, t: float, rng: np.random.Generator, capture: Optional[str] = None) -> dict[str, Any]:
    """One valid schema-v1 record."""
    return {"v": 1, "time": t, "device": device, "source": f"/data/in/{int(t)}.jpg", "frame": None,
            "model_sha256": MODEL_SHA, "latency_ms": float(rng.uniform(5, 20)), "conf": 0.25,
            "stats": {"brightness": float(rng.uniform(90, 130)), "contrast": float(rng.uniform(40, 60)),
                      "sharpness": float(rng.uniform(100, 300)), "width": 64, "height": 48, "aspect": 64 / 48},
            "detections": [[0, float(rng.uniform(0.3, 0.9)), 4.0, 5.0, 20.0, 10.0]],
            "embedding": encode_embedding(rng.normal(size=8)), "capture": capture,
            "capture_reason": "random" if capture else None}


def write_capture(device_folder: Path, t: float, rng: np.random.Generator) -> str:
    """A small JPEG with its own content; its path relative to the device folder."""
    rel = f"captures/{time.strftime('%Y-%m-%d', time.gmtime(t))}/{int(t * 1000)}.jpg"
    path = device_folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    image = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return rel


def lines(device_folder: Path, device: str, n: int, start_time: float, capture_every: int = 2,
          malformed: bool = False) -> tuple[list[bytes], list[str]]:
    """``n`` record lines one second apart (a capture every ``capture_every``-th, 0: none) and the captures written;
    ``malformed`` puts a line that is not JSON and one of an unknown version after the first record."""
    rng = np.random.default_rng(zlib.crc32(f"{device}-{start_time}".encode()))
    out: list[bytes] = []
    captures: list[str] = []
    for i in range(n):
        t = start_time + i
        capture = write_capture(device_folder, t, rng) if capture_every and i % capture_every == 0 else None
        if capture:
            captures.append(capture)
        out.append(json.dumps(record(device, t, rng, capture)).encode() + b"\n")
        if malformed and i == 0:
            out.append(b'{"v": 1, "time": \n')
            out.append(json.dumps({**record(device, t, rng), "v": 7}).encode() + b"\n")
    return out, captures


def write_device(field_dir: Path, device: str, n: int, start_time: float, *, malformed: bool = False,
                 truncated: bool = False, capture_every: int = 2, pid: int = 100) -> tuple[Path, list[str]]:
    """A log file of ``n`` records in ``field_dir/device`` (created), the captures they name; ``malformed``: two bad
    lines (lines 2 and 3); ``truncated``: a last line cut short. Returns the log file and the captures' paths."""
    folder = field_dir / device
    folder.mkdir(parents=True, exist_ok=True)
    data, captures = lines(folder, device, n, start_time, capture_every, malformed)
    log = folder / log_name(start_time, pid)
    with log.open("ab") as fh:
        fh.write(b"".join(data))
        if truncated:
            fh.write(b'{"v": 1, "time": 17')
    return log, captures


def append(log: Path, device: str, n: int, start_time: float, capture_every: int = 2) -> list[str]:
    """``n`` more records appended to ``log`` (a growing active log); the captures they name."""
    data, captures = lines(log.parent, device, n, start_time, capture_every)
    with log.open("ab") as fh:
        fh.write(b"".join(data))
    return captures
