"""Every `make bench` script runs at a small size and prints one JSON object with its targets' verdicts.

Figures at small sizes mean nothing; this keeps the scripts from rotting. `make bench` runs them at full size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SMALL = {
    "bench_ingest.py": ["--n", "20"],
    "bench_thumbnails.py": ["--n", "6", "--rounds", "1"],
    "bench_catalog.py": ["--n", "5000", "--samples", "5"],
    "bench_thumb_storage.py": ["--n", "100", "--reads", "20"],
    "bench_coco.py": ["--n-images", "20", "--n-annotations", "200"],
    "bench_gallery.py": ["--n", "2000", "--repeats", "1", "--steps", "20"],
    "bench_startup.py": ["--n", "2000", "--repeats", "1"],
    "bench_versions.py": ["--n", "2000"],
    "bench_health.py": ["--n", "10"],
    "bench_canvas.py": ["--width", "4000", "--height", "2800", "--shapes", "500", "--frames", "10"],
    "bench_training.py": ["--n", "16", "--epochs", "1", "--imgsz", "64"],
    "bench_edge_runner.py": ["--n", "3", "--imgsz", "64", "--train-n", "16"],
    "bench_responsiveness.py": ["--n", "20", "--train-n", "16", "--epochs", "1"],
    "bench_cli_startup.py": ["--repeats", "2"],
    "bench_drift.py": ["--n", "500", "--reference", "200"],
    "bench_field_log.py": ["--n", "3", "--rounds", "1"],
    "bench_pipeline.py": ["--count", "16", "--epochs", "1", "--imgsz", "64", "--rounds", "1", "--watch-files", "50"],
    "bench_tuning.py": ["--n", "16", "--trials", "1", "--epochs", "1", "--imgsz", "64"],
    "bench_ray_prelabel.py": ["--n", "16", "--imgsz", "64", "--chunk", "4"],
}


def test_every_script_has_a_smoke_size() -> None:
    assert {p.name for p in BENCH.glob("bench_*.py")} == set(SMALL)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMALL))
def test_bench_script_prints_json(script: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH / script), *SMALL[script]], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["benchmark"] == script[len("bench_"):-len(".py")]
    assert "environment" in report
    if script != "bench_thumb_storage.py":
        assert isinstance(report["pass"], dict) and report["pass"]
