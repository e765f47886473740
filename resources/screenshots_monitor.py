"""Render the Monitor page offscreen for docs/monitoring.md, on field data this script makes with a real bundle.

Usage: ``python resources/screenshots_monitor.py OUT_DIR [WORK_DIR]``. In WORK_DIR (default: a temporary folder;
an existing workspace there is shown as it is):

1. the demo workspace (256 shapes images, version v1) and a small model trained on it (40 epochs at 128 px: a
   few minutes on a CPU);
2. its ONNX export and edge bundle in ``edge/shapes``;
3. two devices run the bundle's ``run.py --field-log edge/field`` with a capture policy (top confidence below 0.5,
   candidates within 0.1 of the threshold, daily cap 15), one run per day for five days, each on new images. The
   device's clock is set back by whole days for the earlier runs (``time.time`` shifted in the run.py process):
   the field log and the capture folders carry those days. ``cam-01`` sees images like the training data every day;
   ``cam-02`` too for three days, then darker, noisier images on other backgrounds (the generator's ``hard``
   variant), blurred (``cv2.GaussianBlur``);
4. ``cvops monitor pull edge/field`` and a drift report.

Writes OUT_DIR/monitor.png (cam-02 in alarm: verdict and timelines, 1400x900), OUT_DIR/monitor-captures.png (its
captured images, most unsure first, some selected and sent to labeling) and OUT_DIR/monitor-small.png (cam-01, ok,
at the default window size 941x666). Prints the report's figures as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtCore import QEvent  # noqa: E402 (after the platform is chosen)
from PySide6.QtWidgets import QApplication  # noqa: E402

from cvops.catalog.settings import Settings  # noqa: E402
from cvops.data.workspace import Workspace  # noqa: E402
from cvops_app.mainwindow import MainWindow  # noqa: E402

DAY = 86400
DAYS = 5
PER_DAY = 24
DRIFT_FROM = 3  # cam-02's field changes on the fourth day
CLOCK = ("import runpy, sys, time\n"
         "back = float(sys.argv[1]); real = time.time\n"
         "time.time = lambda: real() - back\n"
         "sys.argv = sys.argv[2:]\n"
         "runpy.run_path(sys.argv[0], run_name='__main__')\n")
CAPTURE = ["--capture-low-conf", "0.5", "--capture-near-threshold", "0.1", "--capture-daily-cap", "15"]


def cli(*args: str) -> str:
    """Run ``cvops ARGS`` in a child process (as a user would); its output, or SystemExit with it."""
    done = subprocess.run([sys.executable, "-c", "from cvops.cli import main; main()", *args], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"cvops {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def field_images(folder: Path, count: int, seed: int, drifted: bool) -> Path:
    """``count`` new shapes images as JPEGs (drifted: the hard variant, blurred)."""
    import cv2

    from cvops.samples import shapes

    samples = shapes.generate(folder, count=count, seed=seed, variant="hard" if drifted else "normal", ext=".jpg")
    if drifted:
        for s in samples:
            cv2.imwrite(str(s.path), cv2.GaussianBlur(cv2.imread(str(s.path)), (0, 0), 2.0))
    return folder


def run_device(bundle: Path, field: Path, device: str, images: Path, days_back: int) -> None:
    """The bundle's run.py over ``images`` on ``device``, with its clock ``days_back`` days behind."""
    done = subprocess.run([sys.executable, "-c", CLOCK, str(days_back * DAY), str(bundle / "run.py"), str(images),
                           "--field-log", str(field), "--device", device, *CAPTURE], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"run.py on {device} failed:\n{done.stderr[-3000:]}")


def build(root: Path) -> dict:
    """The workspace, the model, the bundle, five days of two devices, the pull and a report."""
    from cvops.deploy.bundle import make_bundle
    from cvops.deploy.export import export_model
    from cvops.monitoring.report import monitor_report
    from cvops.samples.demo import run_demo
    from cvops.training import train

    started = time.monotonic()
    run_demo(root, count=256)
    with Workspace.open(root) as ws:
        result = train(ws, "v1", epochs=40, seed=0, imgsz=128, batch=16, device="cpu")
        assert result.state == "finished", result.error
        export = export_model(ws, "m1")
        make_bundle(ws, export.id, root / "edge" / "shapes")
    figures: dict = {"model_s": round(time.monotonic() - started, 1)}
    bundle, field = root / "edge" / "shapes", root / "edge" / "field"
    with tempfile.TemporaryDirectory() as tmp:
        for day in range(DAYS):
            for n, device in enumerate(("cam-01", "cam-02")):
                drifted = device == "cam-02" and day >= DRIFT_FROM
                images = field_images(Path(tmp) / f"{device}-{day}", PER_DAY + 6 * day, 1000 + 100 * day + n,
                                      drifted)
                run_device(bundle, field, device, images, DAYS - 1 - day)
    figures["field_s"] = round(time.monotonic() - started - figures["model_s"], 1)
    figures["pull"] = cli("monitor", "pull", str(field), "--workspace", str(root)).strip().splitlines()[-3:]
    with Workspace.open(root) as ws:
        report = monitor_report(ws)
    figures["report"] = {d.device: {"status": d.status, "images": d.images, "moved": d.moved}
                         for d in report.devices}
    figures["build_s"] = round(time.monotonic() - started, 1)
    return figures


def settle(app: QApplication, page, seconds: float = 0.8) -> None:  # noqa: ANN001
    """Let the page load in the background, lay out and paint."""
    deadline = time.monotonic() + 120
    while (not page.settled() or page.ctx.jobs.running) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the status bar's rows of ended jobs
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    """Build the field data and save the screenshots; returns the exit code."""
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(argv[1]) if len(argv) == 2 else Path(tmp) / "ws"
        if not (root / "cvops.db").exists():
            print(json.dumps(build(root)), flush=True)
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = MainWindow(settings=Settings(), settings_path=Path(tmp) / "settings.yaml")
        if not window.load_workspace(root):
            return 1
        window.resize(1400, 900)
        window.show()
        window.show_page("monitor")
        page = window.pages["monitor"]
        settle(app, page)
        page.show_device("cam-02")
        settle(app, page)
        window.grab().save(str(out / "monitor.png"))
        print(f"saved {out / 'monitor.png'}")
        page.tabs.setCurrentIndex(1)
        for row in range(min(4, page.grid.count())):
            page.grid.item(row).setSelected(True)
        page.send_selected()
        settle(app, page)
        window.grab().save(str(out / "monitor-captures.png"))
        print(f"saved {out / 'monitor-captures.png'}")
        page.tabs.setCurrentIndex(0)
        window.resize(941, 666)
        page.show_device("cam-01")
        settle(app, page)
        window.grab().save(str(out / "monitor-small.png"))
        print(f"saved {out / 'monitor-small.png'}")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
