"""The acceptance recipe, run through the console script: the demo shapes workspace (256 images) → a version of
every image split 75/25 (``v2``) → ``cvops train`` with the fast preset (20 epochs at 160 px on the CPU) → model
``m1``. ``make demo`` runs the same recipe (DEMO_COUNT, DEMO_SPLIT, DEMO_TRAIN). The e2e tests get it once per
session from the ``acceptance`` fixture (``tests/e2e/conftest.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CVOPS = Path(sys.executable).parent / "cvops"
COUNT, SPLIT, EPOCHS, IMGSZ = "256", "75/25", "20", "160"


def cvops_json(*args: str, timeout: int = 900) -> Any:
    """``cvops ARGS --json``, which must exit 0: its parsed JSON report."""
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([str(CVOPS), *args, "--json"], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return json.loads(done.stdout)


def run_acceptance(ws: Path) -> dict[str, Any]:
    """Run the recipe into the new workspace ``ws``: ``{"ws", "version" (JSON report), "trained" (the train
    command's JSON report), "seconds"}``."""
    started = time.monotonic()
    cvops_json("demo", str(ws), "--count", COUNT)
    version = cvops_json("-w", str(ws), "version", "create", "-m", "every demo image", "--split", SPLIT, "--resplit")
    trained = cvops_json("-w", str(ws), "train", "--version", version["name"], "--preset", "fast", "--epochs", EPOCHS,
                         "--imgsz", IMGSZ, "--device", "cpu")
    return {"ws": ws, "version": version, "trained": trained, "seconds": time.monotonic() - started}
