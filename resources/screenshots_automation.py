"""Render the Automation page offscreen for docs/pipelines.md, on a workspace this script builds and runs pipelines in.

Usage: ``python resources/screenshots_automation.py OUT_DIR [WORK_DIR]`` (``make screenshots`` runs it). It makes a
demo workspace in WORK_DIR (default: a temporary folder), trains a stronger model m1 and a weaker m2 (tiny, on the
CPU: a few minutes), promotes m2 by hand, then runs a pipeline (ingest → check → version → evaluate m1 → gate →
promote → export → bundle → deploy) twice — m1 replaces m2, then everything is cached — and once more with m2 as
the challenger, which the gate rejects; then 37 new images arrive and a watch (in this process) waits for 100.
Writes OUT_DIR/automation.png (the rejected run: its gate criteria and per-class AP deltas, and the watch's status)
and OUT_DIR/automation-graph.png (the graph of the first run's steps).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtWidgets import QApplication  # noqa: E402 (after the platform is chosen)

from cvops.catalog.settings import Settings  # noqa: E402
from cvops.common.jobs import CancelToken  # noqa: E402
from cvops.data.workspace import Workspace  # noqa: E402
from cvops.models.registry import promote  # noqa: E402
from cvops.pipelines.runner import run_pipeline  # noqa: E402
from cvops.pipelines.watch import DriftAlarm, NewImages, Schedule, watch, watch_status  # noqa: E402
from cvops.samples import shapes  # noqa: E402
from cvops.samples.demo import run_demo  # noqa: E402
from cvops.training import train  # noqa: E402
from cvops_app.mainwindow import MainWindow  # noqa: E402

COUNT, IMGSZ = 160, 160
MODELS = ((30, 0), (10, 1))  # (epochs, seed): m1 the stronger, m2 the weaker
PIPELINE = """\
name: shapes-loop
steps:
  - ingest: {folders: [incoming]}
  - check: {max_errors: 0, max_warnings: 1000}
  - version: {split: 80/10/10, seed: 0}
  - evaluate: {model: MODEL, split: val}
  - gate: {min_gain: 0.01, max_class_drop: 0.05, floor: 0.0}
  - promote:
  - export: {precisions: [fp32], imgsz: IMGSZ}
  - bundle:
  - deploy: {targets: [deployed/camera-1]}
"""


def build(root: Path) -> None:
    """The workspace, its two models, and the three pipeline runs."""
    run_demo(root, count=COUNT)
    shapes.generate(root / "incoming", count=6, seed=99)
    path = root / "pipeline.yaml"
    with Workspace.open(root) as ws:
        for epochs, seed in MODELS:
            result = train(ws, "v1", epochs=epochs, seed=seed, imgsz=IMGSZ, batch=8, device="cpu")
            print(f"trained {result.model}: {result.state} {result.metrics}", flush=True)
        promote(ws, "m2")
        for model in ("m1", "m1", "m2"):
            path.write_text(PIPELINE.replace("MODEL", model).replace("IMGSZ", str(IMGSZ)))
            report = run_pipeline(ws, path)
            print(f"run {report.id}: {report.state} {report.error or ''} "
                  f"{[s.state for s in report.steps]} {report.decision and report.decision['reason']}", flush=True)
    shapes.generate(root / "incoming" / "batch-2", count=37, seed=7)


def start_watch(root: Path, cancel: CancelToken) -> threading.Thread:
    """A watch of the pipeline (100 new images, every hour, a drift alarm) in a thread, until ``cancel``."""
    def run() -> None:
        with Workspace.open(root) as ws:
            watch(ws, root / "pipeline.yaml", [NewImages(100), Schedule(3600), DriftAlarm()], poll_s=30,
                  cancel=cancel)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    with Workspace.open(root) as ws:
        while time.monotonic() < deadline:
            status = watch_status(ws, root / "pipeline.yaml")
            if status is not None and status.alive and status.state == "waiting":
                break
            time.sleep(0.05)
    return thread


def settle(app: QApplication, seconds: float = 0.6) -> None:
    """Let the window lay out and paint."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    """Build the workspace and save the screenshots; returns the exit code."""
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(argv[1]) if len(argv) == 2 else Path(tmp) / "ws"
        if not (root / "cvops.db").exists():
            build(root)
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = MainWindow(settings=Settings(), settings_path=Path(tmp) / "settings.yaml")
        if not window.load_workspace(root):
            return 1
        cancel = CancelToken()
        watcher = start_watch(root, cancel)
        window.resize(1400, 900)
        window.show()
        window.show_page("automation")
        page = window.pages["automation"]
        page.table.selectRow(page.table.rowCount() - 1)  # the first run: every step ran
        page.show_step(None)
        settle(app)
        page.graph.grab().save(str(out / "automation-graph.png"))
        print(f"saved {out / 'automation-graph.png'}")
        page.table.selectRow(0)  # the rejected run
        page.show_step(4)  # the gate's log
        settle(app)
        window.grab().save(str(out / "automation.png"))
        print(f"saved {out / 'automation.png'}")
        window.close()
        cancel.cancel()
        watcher.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
