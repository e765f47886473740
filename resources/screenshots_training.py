"""Render the Train page during a run and the evaluation view's error gallery, offscreen, for the docs.

Usage: ``python resources/screenshots_training.py OUT_DIR`` (``make screenshots`` runs it). Builds a demo workspace
in a temporary folder (nothing of the user's is touched), starts a short CPU run on it, grabs the Train page once
the run is a few epochs in (``train-running.png``: progress row, curves), lets the run finish (``train.png``: the
finished run and its model), evaluates its model and grabs the evaluation view on its false positives, else its
missed objects (``evaluation-errors.png``), then the annotator that double-clicking the first of them opens, the
model's predictions over the image and the error highlighted (``evaluation-annotator.png``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtWidgets import QApplication  # noqa: E402 (after the platform is chosen)

from cvops.catalog.settings import Settings  # noqa: E402
from cvops.data.workspace import Workspace  # noqa: E402
from cvops.models.evaluation import evaluate  # noqa: E402
from cvops.models.evaluation_store import error_images  # noqa: E402
from cvops.samples.demo import run_demo  # noqa: E402
from cvops.training import run_progress, start_run, supervise  # noqa: E402
from cvops_app.mainwindow import MainWindow  # noqa: E402
from cvops_app.pages.evaluation import EvaluationDialog  # noqa: E402

EPOCHS = 20
SHOT_AT_EPOCH = 12  # the Train page is grabbed during this epoch: mAP rising


def settle(app: QApplication, seconds: float) -> None:
    """Process events for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    """Render the screenshots into ``argv[0]``; returns the exit code."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        run_demo(root, count=128)
        with Workspace.open(root) as ws:
            run_id = start_run(ws, "v1", epochs=EPOCHS, imgsz=160, batch=8, device="cpu")
        ended: dict[str, Any] = {}

        def follow() -> None:  # the supervisor records the child's events; on its own workspace handle
            with Workspace.open(root) as own:
                ended["result"] = supervise(own, run_id)

        supervisor = threading.Thread(target=follow)
        supervisor.start()
        with Workspace.open(root) as ws:
            while (progress := run_progress(ws, run_id)) is None or progress["epoch"] < SHOT_AT_EPOCH:
                if not supervisor.is_alive():
                    break
                time.sleep(0.2)
        window = MainWindow(settings=Settings(), settings_path=Path(tmp) / "settings.yaml")
        window.resize(1400, 860)
        window.show()
        window.load_workspace(root)
        window.show_page("train")
        settle(app, 2.5)  # two refreshes of the page: progress and curves
        window.grab().save(str(out / "train-running.png"))
        print(f"saved {out / 'train-running.png'}")
        while supervisor.is_alive():
            settle(app, 0.2)
        result = ended.get("result")
        if result is None or result.model is None:
            print(f"run {run_id} ended without a model: {result}", file=sys.stderr)
            return 1
        window.pages["train"].reload()
        settle(app, 1.5)
        window.grab().save(str(out / "train.png"))  # the finished run, with its model
        print(f"saved {out / 'train.png'}")
        with Workspace.open(root) as ws:
            evaluation = evaluate(ws, result.model)
            kind = "fp" if error_images(ws, evaluation.id, "fp") else "fn"
        window.load_workspace(root)
        dialog = EvaluationDialog(window.ctx, window.ctx.ws, evaluation.id, window)
        dialog.resize(1300, 760)
        dialog.show()
        dialog.tabs.setCurrentIndex(2)
        dialog.errors_kind.setCurrentIndex(dialog.errors_kind.findData(kind))
        settle(app, 1.5)  # thumbnails
        dialog.images.setCurrentRow(0)
        settle(app, 0.3)
        dialog.grab().save(str(out / "evaluation-errors.png"))
        print(f"saved {out / 'evaluation-errors.png'}")
        dialog.images.itemActivated.emit(dialog.images.item(0))  # a double-click: the annotator, predictions over it
        settle(app, 1.0)
        window.grab().save(str(out / "evaluation-annotator.png"))
        print(f"saved {out / 'evaluation-annotator.png'}")
        dialog.close()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
