"""The GUI process stays off the command line's stack: opening the main window on a workspace, showing every page,
opening an image in the annotator and importing every GUI module never imports click, rich or ``cvops.cli``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cvops.samples.demo import run_demo

FORBIDDEN = ("rich", "click")  # the CLI's libraries (the catalog talks to sqlite3 directly: ADR 0001)
CHILD = """
import importlib, json, pkgutil, sys, time
from pathlib import Path
from PySide6.QtWidgets import QApplication
import cvops_app
from cvops_app.mainwindow import PAGES, MainWindow
app = QApplication(sys.argv[:1])
window = MainWindow(settings_path=Path(sys.argv[2]))
assert window.load_workspace(Path(sys.argv[1]))
window.resize(1200, 800)
window.show()
for name in PAGES:
    window.show_page(name)
    app.processEvents()
ids = list(window.ws.images.ids())
window.open_annotator(ids[0], ids)
deadline = time.monotonic() + 60
while not all(getattr(p, "settled", lambda: True)() for p in window.pages.built()) and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.02)
for module in pkgutil.walk_packages(cvops_app.__path__, "cvops_app."):
    importlib.import_module(module.name)
shown = [p.name for p in window.pages.built()]
window.close()
print(json.dumps({"shown": shown, "modules": sorted(sys.modules)}))
"""


def test_the_gui_never_imports_the_cli_stack(tmp_path: Path) -> None:
    run_demo(tmp_path / "ws", count=6)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CVOPS_CONFIG_DIR": str(tmp_path / "config"),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "ws"), str(tmp_path / "settings.yaml")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["shown"] == ["images", "annotate", "versions", "train", "tune", "models", "automation", "monitor"]
    modules = report["modules"]
    assert "cvops_app.canvas.view" in modules and "cvops.data.workspace" in modules  # the check saw the GUI
    cli = [m for m in modules if m == "cvops.cli" or m.startswith(("cvops.cli.", "cvops.cli_"))]
    assert cli == [], f"the GUI imported the CLI: {cli}"
    for name in FORBIDDEN:
        loaded = [m for m in modules if m == name or m.startswith(name + ".")]
        assert loaded == [], f"the GUI imported {name}: {loaded[:5]}"
