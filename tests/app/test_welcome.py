"""The welcome page: the demo in one click (built by the core's demo as a job with progress and Cancel, then
opened; opened directly once it exists; a cancelled build leaves nothing), the recent list (missing folders greyed
and removable, the File menu following), start-up with a deleted last workspace, and the screenshot without one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox, QPushButton
from timing_testing import WAIT_MS

from cvops.catalog import settings as settings_mod
from cvops.data.workspace import Workspace
from cvops_app.main import screenshot, startup_workspace
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.welcome import MISSING_ROLE, PATH_ROLE, default_demo_path


@pytest.fixture
def window(qtbot: Any, tmp_path: Path) -> MainWindow:
    win = MainWindow(settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(win)
    win.welcome.demo_path = tmp_path / "docs" / "CVOps demo"
    win.welcome.demo_images = 16
    win.resize(1000, 700)
    win.show()
    return win


def test_the_demo_is_one_click_then_opens_directly(qtbot: Any, window: MainWindow, tmp_path: Path) -> None:
    demo = window.welcome.demo_path
    assert window.stack.currentWidget() is window.welcome and window.ws is None
    progress: list[str] = []
    window.welcome.demo_button.click()
    job = window.welcome.demo_job
    assert job is not None and job.title == "Build the demo workspace"
    assert not window.welcome.demo_button.isEnabled()
    assert window.jobs_widget.rows  # progress and Cancel in the status bar
    job.signals.progress.connect(lambda fraction, message: progress.append(message))
    qtbot.waitUntil(lambda: window.ws is not None, timeout=WAIT_MS)
    assert window.ws.root == demo.resolve()
    assert window.stack.currentWidget() is window.pages["images"]
    assert window.ws.stats()["images"] == 16 and window.ws.classes.list()
    assert not demo.with_name(demo.name + ".building").exists()
    assert "Building the demo" in window.welcome.demo_status.text() or window.welcome.demo_status.text() == ""
    assert settings_mod.load(tmp_path / "settings.yaml").recent_workspaces[0] == str(demo.resolve())
    assert window.welcome.demo_button.isEnabled() and window.welcome.demo_job is None

    window.ctx.close_workspace()
    assert window.welcome.open_demo() is None  # it exists: opened, not built again
    assert window.ws is not None and window.ws.root == demo.resolve() and not window.jobs.running


def test_a_cancelled_demo_leaves_nothing(qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: failures.append(text))
    window.welcome.demo_images = 32  # cancelled long before its images are made
    job = window.welcome.open_demo()
    assert job is not None
    cancel = window.jobs_widget.findChild(QPushButton, f"cancel-job-{id(job)}")
    cancel.click()  # the status bar's Cancel
    qtbot.waitUntil(lambda: window.welcome.demo_job is None, timeout=WAIT_MS)
    window.jobs.wait()
    demo = window.welcome.demo_path
    assert window.ws is None and window.stack.currentWidget() is window.welcome
    assert not demo.exists() and not demo.with_name(demo.name + ".building").exists()
    assert failures == [] and "cancelled" in window.welcome.demo_status.text()
    assert window.welcome.demo_button.isEnabled()


def test_a_demo_built_while_another_workspace_opened_only_joins_the_recent_list(window: MainWindow,
                                                                               tmp_path: Path) -> None:
    Workspace.create(tmp_path / "other").close()
    window.load_workspace(tmp_path / "other")
    demo = window.welcome.demo_path
    Workspace.create(demo).close()
    window.welcome._demo_built(demo)  # what the job delivers when it is done
    assert window.ws.root == (tmp_path / "other").resolve()
    assert window.settings.recent_workspaces[0] == str(demo.resolve())
    assert window.recent_menu.actions()[0].data() == str(demo.resolve())
    assert "demo is ready" in window.statusBar().currentMessage()


def test_a_folder_in_the_way_is_a_message(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    demo = window.welcome.demo_path
    demo.mkdir(parents=True)
    (demo / "notes.txt").write_text("mine")
    assert window.welcome.open_demo() is None
    assert "is not a workspace" in shown[0] and (demo / "notes.txt").read_text() == "mine"


def test_recent_list_greys_missing_folders_and_removes_them(qtbot: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.create(tmp_path / "alive").close()
    gone = tmp_path / "gone"
    settings = settings_mod.Settings(recent_workspaces=[str(gone), str(tmp_path / "alive")])
    window = MainWindow(settings=settings, settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(window)
    recent = window.welcome.recent
    assert [recent.item(r).data(PATH_ROLE) for r in range(recent.count())] == settings.recent_workspaces
    missing, alive = recent.item(0), recent.item(1)
    assert missing.data(MISSING_ROLE) and "not found" in missing.text()
    assert not alive.data(MISSING_ROLE)
    assert missing.foreground().color() != alive.foreground().color()  # greyed
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a: asked.append(text) or QMessageBox.StandardButton.Yes)
    recent.itemActivated.emit(missing)  # opening a missing one offers to remove it
    assert "not found" in asked[0]
    assert settings.recent_workspaces == [str(tmp_path / "alive")]
    assert settings_mod.load(tmp_path / "settings.yaml").recent_workspaces == [str(tmp_path / "alive")]
    assert [a.data() for a in window.recent_menu.actions() if a.data()] == [str(tmp_path / "alive")]
    recent.setCurrentRow(0)
    window.welcome.remove_button.click()  # any entry can go; the folder stays
    assert recent.count() == 0 and not window.recent_menu.isEnabled() and (tmp_path / "alive").is_dir()


def test_open_recent_greys_a_deleted_folder_and_clears(qtbot: Any, tmp_path: Path) -> None:
    for name in ("alive", "doomed"):
        Workspace.create(tmp_path / name).close()
    paths = [str(tmp_path / "doomed"), str(tmp_path / "alive")]
    window = MainWindow(settings=settings_mod.Settings(recent_workspaces=list(paths)),
                        settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(window)
    menu = window.recent_menu
    assert all(a.isEnabled() for a in menu.actions() if a.data())
    shutil.rmtree(tmp_path / "doomed")  # deleted while the workbench runs: the menu sees it when it opens
    menu.aboutToShow.emit()
    doomed, alive = (next(a for a in menu.actions() if a.data() == p) for p in paths)
    assert not doomed.isEnabled() and doomed.toolTip() == f"Folder not found: {paths[0]}"
    assert alive.isEnabled() and menu.toolTipsVisible()
    alive.trigger()
    assert window.ws is not None and window.ws.root == (tmp_path / "alive").resolve()
    assert [a.data() for a in menu.actions() if a.data()] == [paths[1], paths[0]]  # most recent first
    clear = next(a for a in menu.actions() if a.text() == "Clear recent")
    clear.trigger()
    assert window.settings.recent_workspaces == [] and not menu.isEnabled()
    assert settings_mod.load(tmp_path / "settings.yaml").recent_workspaces == []
    assert window.welcome.recent.count() == 0 and (tmp_path / "alive").is_dir()  # the folders stay
    window.ctx.close_workspace()


def test_opening_a_recent_workspace(qtbot: Any, tmp_path: Path) -> None:
    Workspace.create(tmp_path / "alive").close()
    window = MainWindow(settings=settings_mod.Settings(recent_workspaces=[str(tmp_path / "alive")]),
                        settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(window)
    window.welcome.recent.itemActivated.emit(window.welcome.recent.item(0))
    assert window.ws is not None and window.ws.root == (tmp_path / "alive").resolve()
    window.ctx.close_workspace()


def test_start_up_skips_a_deleted_last_workspace(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "alive").close()
    assert startup_workspace(None, [str(tmp_path / "alive")]) == tmp_path / "alive"
    assert startup_workspace(None, [str(tmp_path / "gone"), str(tmp_path / "alive")]) is None  # the welcome page
    assert startup_workspace(tmp_path / "given", [str(tmp_path / "alive")]) == tmp_path / "given"
    assert startup_workspace(None, []) is None


def test_default_demo_folder_is_a_user_folder() -> None:
    path = default_demo_path()
    assert path.name == "CVOps demo" and path.is_absolute()


def test_screenshot_without_a_workspace_shows_the_welcome_page(qtbot: Any, window: MainWindow,
                                                              tmp_path: Path) -> None:
    from PySide6.QtWidgets import QApplication

    out = tmp_path / "welcome.png"
    screenshot(window, QApplication.instance(), out, "images", timeout_s=5)
    assert window.stack.currentWidget() is window.welcome
    with Image.open(out) as im:
        assert len(im.convert("L").getcolors(1 << 20) or []) > 16  # text and buttons, not a blank window


def test_closing_the_window_stops_the_demo(window: MainWindow) -> None:
    window.welcome.demo_images = 32  # cancelled long before its images are made
    assert window.welcome.open_demo() is not None
    window.close()
    assert window.jobs.wait()
    demo = window.welcome.demo_path
    assert not demo.exists() and not demo.with_name(demo.name + ".building").exists()
