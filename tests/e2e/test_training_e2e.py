"""Acceptance, end to end through the console script: the demo shapes workspace → a version → `cvops train` with the
fast preset (15 epochs at 160 px on the CPU) → mAP50 ≥ 0.8 → a registered model with its full lineage → `cvops
evaluate` agrees. About two minutes on a 2-core CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CVOPS = Path(sys.executable).parent / "cvops"
MIN_MAP50 = 0.8


def _cvops(*args: str, timeout: int = 900) -> dict:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([str(CVOPS), *args, "--json"], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return json.loads(done.stdout)


def test_demo_version_train_evaluate(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    _cvops("demo", ws)
    version = _cvops("-w", ws, "version", "create", "-m", "every demo image")
    assert version["stats"]["images"]["train"] >= 100

    trained = _cvops("-w", ws, "train", "--version", version["name"], "--preset", "fast", "--epochs", "15",
                     "--imgsz", "160", "--device", "cpu")
    assert trained["state"] == "finished" and trained["epochs_done"] == 15
    model = trained["model"]
    map50 = model["metrics"]["metrics/mAP50(B)"]
    print(f"mAP50 after 15 epochs: {map50:.3f}")
    assert map50 >= MIN_MAP50

    shown = _cvops("-w", ws, "models", "show", model["name"])
    assert shown["version_hash"] == version["content_hash"] and shown["version_name"] == version["name"]
    assert [c["name"] for c in shown["classes"]] == ["circle", "square", "triangle"]
    assert shown["preset"] == "fast" and shown["seed"] == 0 and shown["task"] == "detect"
    assert shown["params"]["epochs"] == 15 and shown["params"]["imgsz"] == 160 and "lr0" in shown["params"]
    assert {"python", "torch", "ultralytics", "cuda", "device_name"} <= set(shown["environment"])
    assert len(shown["weights_sha256"]) == 64 and Path(shown["weights"]).is_file()
    assert {c["name"] for c in shown["metrics"]["per_class"]} == {"circle", "square", "triangle"}

    evaluated = _cvops("-w", ws, "evaluate", model["name"])
    assert abs(evaluated["map50"] - map50) < 0.1, (evaluated["map50"], map50)
    assert {c["name"] for c in evaluated["per_class"]} == {"circle", "square", "triangle"}
