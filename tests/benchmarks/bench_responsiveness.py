"""Responsiveness: the longest GUI-thread pause while images are imported and while a run trains from the Train
page, and how fast a cancelled training run stops. The tests check these functionally (no freeze over 1 s, a cancel
honoured within 30 s, see ``tests/timing_testing.py``); the strict targets are here.

Measured in one process (Qt offscreen) on the real main window (settings in a temporary folder):

* idle: the longest gap between the ticks of a 10 ms QTimer on the idle event loop over 1 s (how busy the machine
  is; information).
* import: the same timer while File ▸ Import images imports and thumbnails ``--n`` (default 500) distinct 640x480
  JPEGs (generated untimed) into a new workspace, until the job ends. Target: longest gap <= 100 ms.
* training: the same timer while the Train page trains a demo workspace (``--train-n`` shapes images, default 24;
  preset fast, ``--epochs`` (default 3), 64 px, batch 8, CPU) from the click on Train until the page settles.
  Target: longest gap <= 100 ms.
* cancel: ``cvops.training.train`` on that workspace (20 epochs, the same settings) cancelled through its token as
  soon as epoch 1 is reported; seconds from the cancel to the return of ``train``. Target: <= 5 s. Also the Train
  page's Cancel button after epoch 1: seconds from the click until the page settles (information).

Prints ``gui_longest_pause_ms`` (the longer of import and training), ``target_ms``, ``met``, and
``cancel_latency_s`` with its target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from cvops.samples.demo import run_demo
from cvops.common.jobs import CancelToken
from cvops.training import train
from cvops.data.workspace import Workspace
from cvops_app.dialogs.importing import ImportImagesDialog
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.train import TrainPage

from _common import emit, encode_jpeg, environment, log, synthetic_photo, temp_root

TARGET_PAUSE_MS = 100.0
TARGET_CANCEL_S = 5.0
TIMEOUT_S = 600.0
TINY: dict[str, Any] = {"imgsz": 64, "batch": 8, "device": "cpu"}


class Ticks:
    """A 10 ms QTimer; the longest gap between its ticks is how long the GUI thread was busy in one go."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def run_until(self, app: QApplication, done: Callable[[], bool], what: str) -> float:
        """Tick while processing events until ``done()``; return the longest gap in ms."""
        self.ticks = [time.perf_counter()]
        self.timer.start()
        deadline = time.perf_counter() + TIMEOUT_S
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{what} did not end within {TIMEOUT_S:.0f} s")
            app.processEvents()
            time.sleep(0.001)
        self.timer.stop()
        self.ticks.append(time.perf_counter())
        return max(b - a for a, b in zip(self.ticks, self.ticks[1:])) * 1000


def new_window(tmp: Path) -> MainWindow:
    """The real main window with its settings in ``tmp``."""
    window = MainWindow(settings_path=tmp / "config" / "settings.yaml")
    window.resize(1400, 860)
    window.show()
    return window


def import_pause(app: QApplication, tmp: Path, n: int) -> dict[str, Any]:
    """The longest GUI pause while ``n`` JPEGs are imported and thumbnailed through the import dialog."""
    source = tmp / "photos"
    source.mkdir()
    for i in range(n):
        (source / f"{i:04d}.jpg").write_bytes(encode_jpeg(synthetic_photo(i, 640, 480, 4.0, shapes=8), 90))
    log(f"{n} JPEGs written")
    window = new_window(tmp)
    try:
        assert window.load_workspace(tmp / "import-ws", create=True)
        ended: list[str] = []
        window.jobs.ended.connect(lambda *args: ended.append("ended"))
        started = time.perf_counter()
        ImportImagesDialog(window.ctx, paths=[source], parent=window).accept()
        pause = Ticks().run_until(app, lambda: bool(ended), "the import")
        seconds = time.perf_counter() - started
        imported = window.ws.stats()["images"] if window.ws is not None else 0
    finally:
        window.close()
    return {"images": n, "imported": imported, "seconds": round(seconds, 2), "gui_longest_pause_ms": round(pause, 1)}


def _tiny(page: TrainPage, epochs: int) -> None:
    s = page.settings
    s.version.setCurrentIndex(s.version.findText("v1"))
    s.preset.setCurrentIndex(s.preset.findData("fast"))
    s.advanced.setChecked(True)
    s.epochs.setValue(epochs)
    s.imgsz.setValue(TINY["imgsz"])
    s.batch.setValue(TINY["batch"])
    s.device.setCurrentIndex(s.device.findData(TINY["device"]))


def training_page(app: QApplication, tmp: Path, root: Path, epochs: int) -> dict[str, Any]:
    """The longest GUI pause while the Train page trains; then the page's Cancel latency on a second run."""
    window = new_window(tmp)
    try:
        assert window.load_workspace(root)
        window.show_page("train")
        page = window.pages["train"]
        assert isinstance(page, TrainPage)
        _tiny(page, epochs)
        started = time.perf_counter()
        page.settings.train_button.click()
        pause = Ticks().run_until(app, page.settled, "the training run")
        seconds = time.perf_counter() - started
        state = page.shown_run["state"] if page.shown_run else None

        _tiny(page, 20)
        page.settings.train_button.click()
        Ticks().run_until(app, lambda: page.shown_run is not None and page.shown_run["state"] == "running"
                          and page.shown_run["epochs_done"] >= 1, "epoch 1 of the second run")
        clicked = time.perf_counter()
        page.cancel_button.click()
        Ticks().run_until(app, page.settled, "the cancel")
        cancel_s = time.perf_counter() - clicked
        cancelled = page.shown_run["state"] if page.shown_run else None
    finally:
        window.jobs.cancel_all()
        window.jobs.wait(60_000)
        window.close()
    return {"epochs": epochs, "seconds": round(seconds, 1), "state": state, "gui_longest_pause_ms": round(pause, 1),
            "cancel_button_s": round(cancel_s, 2), "cancel_state": cancelled}


def core_cancel(root: Path) -> dict[str, Any]:
    """Seconds from cancelling ``train`` at epoch 1 until it returns."""
    token = CancelToken()
    cancelled_at: list[float] = []

    def progress(fraction: float, message: str) -> None:
        if message.startswith("epoch 1/") and not token.cancelled:
            cancelled_at.append(time.perf_counter())
            token.cancel()

    with Workspace.open(root) as ws:
        result = train(ws, "v1", epochs=20, progress=progress, cancel=token, **TINY)
    latency = time.perf_counter() - cancelled_at[0] if cancelled_at else float("nan")
    return {"latency_s": round(latency, 2), "state": result.state, "epochs_done": result.epochs_done}


def idle_pause(app: QApplication) -> float:
    """The idle event loop's longest gap over 1 s, in ms."""
    end = time.perf_counter() + 1.0
    return Ticks().run_until(app, lambda: time.perf_counter() > end, "idle")


def run(n: int, train_n: int, epochs: int) -> dict[str, Any]:
    """Measure everything in a temporary folder; return the result."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with temp_root("responsiveness") as tmp:
        os.environ["CVOPS_CONFIG_DIR"] = str(tmp / "config")
        QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp / "qsettings"))
        idle_ms = idle_pause(app)
        log(f"idle: longest gap {idle_ms:.1f} ms")
        imported = import_pause(app, tmp, n)
        log(f"import: {imported}")
        root = tmp / "demo-ws"
        run_demo(root, count=train_n)
        trained = training_page(app, tmp, root, epochs)
        log(f"training page: {trained}")
        cancel = core_cancel(root)
        log(f"core cancel: {cancel}")
    longest = max(imported["gui_longest_pause_ms"], trained["gui_longest_pause_ms"])
    pause_ok = longest <= TARGET_PAUSE_MS
    cancel_ok = cancel["state"] == "cancelled" and cancel["latency_s"] <= TARGET_CANCEL_S
    return {
        "benchmark": "responsiveness",
        "gui_longest_pause_ms": longest,
        "target_ms": TARGET_PAUSE_MS,
        "met": pause_ok,
        "cancel_latency_s": cancel["latency_s"],
        "cancel_target_s": TARGET_CANCEL_S,
        "cancel_met": cancel_ok,
        "idle_longest_pause_ms": round(idle_ms, 1),
        "import": imported,
        "training_page": trained,
        "core_cancel": cancel,
        "target": {"gui_longest_pause_ms_max": TARGET_PAUSE_MS, "cancel_latency_s_max": TARGET_CANCEL_S},
        "pass": {"gui_pause": pause_ok, "cancel": cancel_ok},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="images imported (default 500)")
    parser.add_argument("--train-n", type=int, default=24, help="demo images to train on (default 24)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the Train page run (default 3)")
    args = parser.parse_args()
    emit(run(args.n, args.train_n, args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
