"""Drift report speed: ``cvops monitor report`` over ``--n`` (default 100,000) logged field images.

Data (untimed): a workspace whose pulled field log holds ``--n`` records in schema v1 (image statistics, 1-3
detections, a ``--dims``-dimensional embedding (default 256: yolo11n's) as the device writes them, base64 float16),
drawn from distributions shifted from a reference of ``--reference`` (default 1,000) records; the reference is
planted (computing it runs the model over the version's images, which is not what this measures).

Measured: ``monitor_report(ws, since=0)`` — reading and validating every record, then a KS test and a Wasserstein
distance per statistic and for the confidences and detections per image over all of them, the class-mix chi-square,
the latency test, and the embeddings' MMD permutation test (1,000 permutations) on a random subsample of 500 per
side (the test is quadratic in its sample). Target: <= 10 s for 100,000 images.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import emit, environment, log

TARGET_S = 10.0
SHA = "0" * 64


def _records(rng: np.random.Generator, n: int, dims: int, shift: float, start: float) -> list[dict[str, Any]]:
    from cvops.monitoring.field import encode_embedding

    stats = rng.normal(100 + shift, 20, (n, 3))
    embeddings = rng.normal(shift / 50, 1, (n, dims))
    return [{"v": 1, "time": start + i, "device": "cam-1", "source": f"f{i}.jpg", "frame": None, "model_sha256": SHA,
             "latency_ms": float(rng.normal(20, 2)), "conf": 0.25,
             "stats": {"brightness": float(s[0]), "contrast": float(s[1]), "sharpness": float(s[2]), "width": 640.0,
                       "height": 480.0, "aspect": 640 / 480},
             "detections": [[int(rng.integers(3)), round(float(rng.uniform(0.25, 1)), 4), 10.0, 20.0, 30.0, 40.0]
                            for _ in range(int(rng.integers(1, 4)))],
             "embedding": encode_embedding(e), "capture": None, "capture_reason": None}
            for i, (s, e) in enumerate(zip(stats, embeddings))]


def run(n: int, reference_n: int, dims: int) -> dict[str, Any]:
    from cvops.data.workspace import Workspace
    from cvops.monitoring import report as report_mod
    from cvops.monitoring.field import decode_embedding, device_dir, load_records
    from cvops.monitoring.reference import Reference

    rng = np.random.default_rng(0)
    reference = _records(rng, reference_n, dims, 0.0, 0.0)
    for r in reference:
        r["embedding"] = decode_embedding(r["embedding"])
    planted = Reference("m1", 1, 1, SHA, "v1", 1, ["val", "test"], ["circle", "square", "triangle"], reference)
    report_mod.reference_for = lambda *args, **kwargs: planted  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="cvops-bench-drift-") as tmp:
        with Workspace.create(Path(tmp) / "ws") as ws:
            folder = device_dir(ws, "cam-1") / "logs"
            folder.mkdir(parents=True)
            log(f"writing {n} field records")
            with (folder / "field-20261203T000000Z-1.jsonl").open("w", encoding="utf-8") as f:
                for r in _records(rng, n, dims, 5.0, 1.0e9):
                    f.write(json.dumps(r) + "\n")
            size = (folder / "field-20261203T000000Z-1.jsonl").stat().st_size
            log(f"report over {n} images")
            started = time.perf_counter()
            load_records(ws, "cam-1")
            read_s = time.perf_counter() - started
            started = time.perf_counter()
            report = report_mod.monitor_report(ws, "cam-1", since=0.0, raise_alarms=False)
            total_s = time.perf_counter() - started
    device = report.devices[0]
    return {
        "benchmark": "drift",
        "images": device.images, "reference": reference_n, "dims": dims, "log_mb": round(size / 1e6, 1),
        "report_s": round(total_s, 3), "read_s": round(read_s, 3), "signals_s": round(max(0.0, total_s - read_s), 3),
        "status": report.status, "signals": {s.name: s.status for s in device.signals},
        "target": {"report_s_max": TARGET_S}, "pass": {"report": total_s <= TARGET_S},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="logged field images (default 100,000)")
    parser.add_argument("--reference", type=int, default=1000)
    parser.add_argument("--dims", type=int, default=256)
    args = parser.parse_args()
    emit(run(args.n, args.reference, args.dims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
