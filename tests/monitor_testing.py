"""Field data for monitoring tests without a device: schema-v1 records written as pulled logs, and a reference made
of records like them (for :func:`cvops.monitoring.reference.reference_for`, monkeypatched)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cvops.data.workspace import Workspace
from cvops.monitoring.field import device_dir, encode_embedding
from cvops.monitoring.reference import Reference

SHA = "ab" * 32
DAY = 86400.0
START = 1_764_720_000.0  # 2025-12-03 00:00 UTC
DIM = 8


def record(rng: np.random.Generator, t: float, device: str = "cam-01", dark: float = 0.0,
           scores: Optional[list[float]] = None, capture: Optional[str] = None, reason: Optional[str] = None,
           conf: float = 0.25) -> dict[str, Any]:
    """One field record (embedding as an array); ``dark`` lowers the brightness and sharpness by that many sd."""
    if scores is None:
        scores = [float(rng.uniform(0.5, 0.95))]
    return {"v": 1, "time": t, "device": device, "source": f"frame-{t:.0f}.jpg", "frame": None, "model_sha256": SHA,
            "latency_ms": float(rng.normal(12, 1)), "conf": conf,
            "stats": {"brightness": float(rng.normal(120 - 20 * dark, 20)), "contrast": float(rng.normal(50, 8)),
                      "sharpness": float(rng.normal(300 - 60 * dark, 60)), "width": 640.0, "height": 480.0,
                      "aspect": 640 / 480},
            "detections": [[int(i % 3), s, 10.0, 10.0, 50.0, 40.0] for i, s in enumerate(scores)],
            "embedding": rng.normal(dark, 1.0, DIM).astype(np.float32), "capture": capture,
            "capture_reason": reason}


def write_log(ws: Workspace, device: str, records: list[dict[str, Any]], name: str = "field-20251203T000000Z-1"
              ) -> Path:
    """Write ``records`` as one pulled log file of ``device``."""
    folder = device_dir(ws, device) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for r in records:
            out.write(json.dumps({**r, "embedding": encode_embedding(r["embedding"])}) + "\n")
    return path


def days(rng: np.random.Generator, counts: list[int], dark_from: Optional[int] = None, device: str = "cam-01"
         ) -> list[dict[str, Any]]:
    """``counts[d]`` records on day ``d`` (from :data:`START`), darker and blurrier from day ``dark_from``."""
    out = []
    for d, count in enumerate(counts):
        dark = 2.0 if dark_from is not None and d >= dark_from else 0.0
        out += [record(rng, START + d * DAY + 600 + 60 * i, device, dark) for i in range(count)]
    return out


def reference(model_id: int, version_id: int, count: int = 150, seed: int = 1) -> Reference:
    """A reference of ``count`` records like the undrifted field."""
    rng = np.random.default_rng(seed)
    return Reference(model="m1", model_id=model_id, export_id=1, model_sha256=SHA, version="v1",
                     version_id=version_id, splits=["val", "test"], names=["circle", "square", "triangle"],
                     records=[record(rng, START - DAY, "reference") for _ in range(count)])


def device_folder(field: Path, device: str, records: list[dict[str, Any]], seed: int = 0) -> Path:
    """A device's field folder as run.py leaves it: ``field/<device>/field-….jsonl`` with ``records`` and, for each
    record with a ``capture``, a shapes JPEG at that path."""
    from cvops.samples import shapes

    folder = field / device
    captures = [r["capture"] for r in records if r.get("capture")]
    made = shapes.generate(folder / "generated", count=len(captures), size=64, seed=seed, ext=".jpg")
    for rel, sample in zip(captures, made):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        sample.path.replace(folder / rel)
    (folder / "generated").rmdir()
    with (folder / "field-20251203T000000Z-1.jsonl").open("w", encoding="utf-8") as out:
        for r in records:
            out.write(json.dumps({**r, "embedding": encode_embedding(r["embedding"])}) + "\n")
    return folder
