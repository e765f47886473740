"""Render the Tune page after a small real tuning study, offscreen, for docs/tuning.md.

Usage: ``python resources/screenshots_tune.py OUT_DIR`` (``make screenshots`` runs it). Builds a demo workspace in a
temporary folder (nothing of the user's is touched), runs a study of 8 trials × 6 epochs on its 128 images on the
CPU (128 or 160 px, the median pruner: the weak trials are pruned), which registers its best trial's model, and grabs
the Tune page on it (``tune.png``). A few minutes on a laptop's CPU; prints the study's counts and seconds as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtWidgets import QApplication  # noqa: E402 (after the platform is chosen)

from cvops.catalog.settings import Settings  # noqa: E402
from cvops.data.workspace import Workspace  # noqa: E402
from cvops.samples.demo import run_demo  # noqa: E402
from cvops.tuning import run_study  # noqa: E402
from cvops_app.mainwindow import MainWindow  # noqa: E402

TRIALS, EPOCHS = 8, 6  # the shapes reach a mAP50 of about 0.5 in 6 epochs at 160 px (docs/tuning.md)
SPACE = {"params": {"lr0": {"type": "float", "low": 0.0005, "high": 0.02, "log": True},
                    "momentum": {"type": "float", "low": 0.8, "high": 0.98},
                    "mosaic": {"type": "float", "low": 0.0, "high": 1.0},
                    "fliplr": {"type": "float", "low": 0.0, "high": 0.5},
                    "imgsz": {"type": "categorical", "choices": [128, 160]}, "model": "yolo11n.yaml"}}


def settle(app: QApplication, seconds: float) -> None:
    """Process events for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    """Render the screenshot into ``argv[0]``; returns the exit code."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        run_demo(root, count=128)
        started = time.monotonic()
        with Workspace.open(root) as ws:
            study = run_study(ws, "v1", TRIALS, space=SPACE, metric="map50", pruner="median", epochs=EPOCHS, seed=0,
                              batch=8, device="cpu")
        print(json.dumps({"study": study["name"], "state": study["state"], "counts": study["counts"],
                          "best_value": study["best"]["value"] if study["best"] else None,
                          "model": study["best_model"], "seconds": round(time.monotonic() - started, 1)}))
        window = MainWindow(settings=Settings(), settings_path=Path(tmp) / "settings.yaml")
        window.resize(1400, 860)
        window.show()
        window.load_workspace(root)
        window.show_page("tune")
        settle(app, 1.0)
        window.grab().save(str(out / "tune.png"))
        print(f"saved {out / 'tune.png'}")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
