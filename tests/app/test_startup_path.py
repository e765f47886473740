"""Start-up stays light: the main window opens a workspace and shows the gallery without importing what only other
pages need (charts, the annotation canvas, training, model runtimes), the menus' dialogs or the welcome page; a page
is built, with the open workspace, when first shown or asked for, a dialog's module imported when it first opens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from cvops.samples.demo import run_demo
from cvops_app.mainwindow import PAGES, MainWindow

HEAVY = ("pyqtgraph", "cv2", "torch", "ultralytics", "onnxruntime", "cvops.training.runner", "cvops_app.canvas.view",
         "cvops_app.dialogs.importing", "cvops_app.dialogs.exporting", "cvops_app.dialogs.classes",
         "cvops_app.pages.welcome")
CHILD = """
import json, sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from cvops_app.mainwindow import MainWindow
app = QApplication(sys.argv[:1])
window = MainWindow(settings_path=Path(sys.argv[2]))
window.load_workspace(Path(sys.argv[1]))
window.show()
app.processEvents()
heavy = json.loads(sys.argv[3])
before = [m for m in heavy if m in sys.modules]
built = [p.name for p in window.pages.built()]
train = window.pages["train"]
print(json.dumps({"before": before, "built": built, "after": [m for m in heavy if m in sys.modules],
                  "train_has_ws": train.ws is window.ws, "built_after": [p.name for p in window.pages.built()]}))
window.close()
"""


def test_start_up_imports_only_what_the_gallery_needs(tmp_path: Path) -> None:
    run_demo(tmp_path / "ws", count=8)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CVOPS_CONFIG_DIR": str(tmp_path / "config"),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "ws"), str(tmp_path / "settings.yaml"),
                           json.dumps(HEAVY)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["before"] == [] and report["built"] == ["images"]
    assert "pyqtgraph" in report["after"] and report["train_has_ws"]
    assert report["built_after"] == ["images", "train"]


def test_pages_are_built_on_first_use_with_the_open_workspace(qtbot, tmp_path: Path,  # noqa: ANN001
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVOPS_CONFIG_DIR", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    run_demo(tmp_path / "ws", count=8)
    window = MainWindow(settings_path=tmp_path / "config" / "settings.yaml")
    qtbot.addWidget(window)
    assert list(window.pages) == list(PAGES) and [p.name for p in window.pages.built()] == ["images"]
    assert [window.nav.item(r).text() for r in range(window.nav.count())] == [t for _, _, t in PAGES.values()]
    assert window.load_workspace(tmp_path / "ws")
    window.show_page("versions")
    versions = window.pages["versions"]
    assert window.stack.currentWidget() is versions and versions.ws is window.ws
    assert [(p.name, p.title) for p in window.pages.values()] == [(n, t) for n, (_, _, t) in PAGES.items()]
    window.close()
    assert all(p.ws is None for p in window.pages.built())  # closing the workspace reached every built page


def test_menu_dialogs_are_imported_when_first_opened(qtbot, tmp_path: Path,  # noqa: ANN001
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QDialog

    monkeypatch.setenv("CVOPS_CONFIG_DIR", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    opened: list[str] = []
    monkeypatch.setattr(QDialog, "exec", lambda self: opened.append(type(self).__name__) or 0)
    window = MainWindow(settings_path=tmp_path / "config" / "settings.yaml")
    qtbot.addWidget(window)
    assert window.load_workspace(tmp_path / "ws", create=True)
    actions = {a.text(): a for a in window.workspace_actions}
    for text in ("&Import images…", "Import &dataset…", "&Export dataset…", "&Classes…"):
        actions[text].trigger()
    assert opened == ["ImportImagesDialog", "ImportDatasetDialog", "ExportDatasetDialog", "ClassesDialog"]
