"""Render the Automation page offscreen for docs/pipelines.md, on the continuous-training loop this script runs.

Usage: ``python resources/screenshots_automation.py OUT_DIR [WORK_DIR]`` (``make screenshots`` runs it). It follows
the e2e loop's recipe (``tests/e2e/test_pipeline_loop.py``) in-process, in WORK_DIR (default: a temporary folder;
an existing workspace there is shown as it is):

1. the demo workspace (256 shapes images);
2. the field benchmark: 60 hard shapes images imported as approved, a version of them split 10/10/80, its test
   split pinned as benchmark ``field``;
3. ``pipeline.yaml`` (ct-loop: ingest → check → version → train 4 epochs at 128 px from the champion → evaluate on
   ``field`` → gate → promote → export → verify → bundle → deploy to ``edge/``) and its first run: no champion
   yet, the floor decides, the model is promoted and deployed;
4. 100 hard images arrive as a labelled batch in ``incoming/``; a watch (100 new images, every day, drift alarms)
   runs the pipeline once: the challenger, fine-tuned from the champion, is promoted and deployed;
5. ``worse.yaml`` (one epoch at 96 px from scratch) runs once: the gate rejects it;
6. 37 more images arrive and a watch (in a thread of this process) waits for 100.

Two short trainings on the CPU: a few minutes. Prints the runs' seconds and mAP50-95 on the benchmark as JSON.
Writes OUT_DIR/automation.png (pipeline.yaml's watch-triggered run: every step done, the gate's criteria and the
per-class AP deltas, the champion timeline, the live watch line), OUT_DIR/automation-rejected.png (worse.yaml's
rejected run: failed criteria, the steps after the gate skipped) and OUT_DIR/automation-graph.png (the graph of the
first run's steps).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtWidgets import QApplication, QSplitter  # noqa: E402 (after the platform is chosen)

from cvops.catalog.settings import Settings  # noqa: E402
from cvops.common.jobs import CancelToken  # noqa: E402
from cvops.data.workspace import Workspace  # noqa: E402
from cvops.pipelines.demo import GATE_STEP, add_field_benchmark, write_batch, write_loop_pipeline  # noqa: E402
from cvops.pipelines.runner import RunReport, history, run_pipeline  # noqa: E402
from cvops.pipelines.watch import DriftAlarm, NewImages, Schedule, watch, watch_status  # noqa: E402
from cvops.samples.demo import run_demo  # noqa: E402
from cvops_app.mainwindow import MainWindow  # noqa: E402

DEMO_COUNT = 256
DAY = 86400
def summary(report: RunReport) -> dict:
    """A run's figures: state, seconds, trigger, steps, the gate's verdict and both mAP50-95 on the benchmark."""
    decision = report.decision or {}
    floor = next((c for c in decision.get("criteria", []) if c["name"] == "floor"), {})
    return {"run": report.id, "state": report.state, "error": report.error, "trigger": report.trigger,
            "seconds": round(report.seconds or 0.0, 1), "steps": [s.state for s in report.steps],
            "reason": decision.get("reason"), "challenger_map50_95": floor.get("challenger"),
            "champion_map50_95": floor.get("champion")}


def build(root: Path) -> None:
    """The workspace, the benchmark, and the loop's three runs (first, watch-triggered challenger, rejected)."""
    started = time.monotonic()
    run_demo(root, count=DEMO_COUNT)
    figures: dict = {"demo_s": round(time.monotonic() - started, 1)}
    with Workspace.open(root) as ws:
        add_field_benchmark(ws)
        (root / "incoming").mkdir()
        path = write_loop_pipeline(root / "pipeline.yaml")
        figures["first"] = summary(run_pipeline(ws, path, trigger="manual"))
        print(json.dumps({"first": figures["first"]}), flush=True)

        write_batch(root / "incoming" / "batch-2026-12-03")
        reports = watch(ws, path, [NewImages(100, settle_s=0), Schedule(DAY), DriftAlarm()], poll_s=0.2, max_runs=1)
        figures["challenger"] = summary(reports[0])
        print(json.dumps({"challenger": figures["challenger"]}), flush=True)

        worse = write_loop_pipeline(root / "worse.yaml", epochs=1, imgsz=96, from_champion=False)
        figures["rejected"] = summary(run_pipeline(ws, worse, trigger="manual"))
        print(json.dumps({"rejected": figures["rejected"]}), flush=True)
    write_batch(root / "incoming" / "batch-2026-12-04", count=37, seed=300)
    figures["build_s"] = round(time.monotonic() - started, 1)
    print(json.dumps({"figures": figures}), flush=True)


def start_watch(root: Path, cancel: CancelToken) -> threading.Thread:
    """A watch of pipeline.yaml (100 new images, every day, drift alarms) in a thread, until ``cancel``."""
    def run() -> None:
        with Workspace.open(root) as ws:
            watch(ws, root / "pipeline.yaml", [NewImages(100), Schedule(DAY), DriftAlarm()], poll_s=30,
                  cancel=cancel)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    with Workspace.open(root) as ws:
        while time.monotonic() < deadline:
            status = watch_status(ws, root / "pipeline.yaml")
            if status is not None and status.alive and status.state == "waiting" and status.new_images is not None:
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
        with Workspace.open(root) as ws:
            runs = history(ws, root / "pipeline.yaml", limit=50)
        first = runs[-1].id
        challenger = next(r.id for r in runs if r.trigger.startswith("watch"))
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = MainWindow(settings=Settings(), settings_path=Path(tmp) / "settings.yaml")
        if not window.load_workspace(root):
            return 1
        cancel = CancelToken()
        watcher = start_watch(root, cancel)
        try:
            window.resize(1400, 900)
            window.show()
            window.show_page("automation")
            page = window.pages["automation"]
            for splitter in page.findChildren(QSplitter):  # the step's log a little taller: the gate's whole log
                if splitter.indexOf(page.details.parentWidget()) >= 0:
                    splitter.setSizes([205, 155, 200])
            page.reload(select=first)
            page.show_step(None)
            settle(app)
            page.graph.grab().save(str(out / "automation-graph.png"))
            print(f"saved {out / 'automation-graph.png'}")
            page.reload(select=challenger)
            page.show_step(GATE_STEP)
            settle(app)
            window.grab().save(str(out / "automation.png"))
            print(f"saved {out / 'automation.png'}")
            page.set_path(root / "worse.yaml")
            page.show_step(GATE_STEP)
            settle(app)
            window.grab().save(str(out / "automation-rejected.png"))
            print(f"saved {out / 'automation-rejected.png'}")
            window.close()
        finally:
            cancel.cancel()
            watcher.join(60)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
