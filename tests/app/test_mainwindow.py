"""The main window: welcome page, opening workspaces (recent list, settings file), navigation, undo/redo from the
Edit menu, a clear message for a folder that is not a workspace, the status-bar job area."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from timing_testing import WAIT_MS

from cvops import Workspace

from cvops.catalog import settings as settings_mod
from cvops.samples.demo import run_demo
from cvops.common.jobs import CancelToken
from cvops_app.mainwindow import MainWindow


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mw") / "ws"
    run_demo(root, count=12)
    return root


@pytest.fixture
def demo_ws(demo_source: Path, tmp_path: Path) -> Path:
    """This test's copy of the module's demo workspace (the window edits and records it)."""
    from training_testing import copy_workspace

    return copy_workspace(demo_source, tmp_path / "demo-ws")


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:  # noqa: ANN001
    win = MainWindow(settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(win)
    win.show()
    return win


def test_starts_on_the_welcome_page_with_workspace_actions_disabled(window: MainWindow) -> None:
    assert window.stack.currentWidget() is window.welcome
    assert not any(a.isEnabled() for a in window.workspace_actions)


def test_open_workspace_remembers_it_and_shows_images(window: MainWindow, demo_ws: Path, tmp_path: Path) -> None:
    assert window.load_workspace(demo_ws)
    assert window.stack.currentWidget() is window.pages["images"]
    assert all(a.isEnabled() for a in window.workspace_actions)
    assert str(demo_ws) in window.windowTitle()
    saved = settings_mod.load(tmp_path / "settings.yaml")
    assert saved.recent_workspaces[0] == str(demo_ws.resolve())
    assert [a.data() for a in window.recent_menu.actions() if a.data()] == [str(demo_ws.resolve())]
    window.show_page("annotate")
    assert window.stack.currentWidget() is window.pages["annotate"]


def test_not_a_workspace_is_a_message_not_a_crash(window: MainWindow, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    assert not window.load_workspace(tmp_path)
    assert "not a CVOps workspace" in shown[0]
    assert window.ws is None


def test_undo_and_redo_from_the_edit_menu(window: MainWindow, demo_ws: Path) -> None:
    window.load_workspace(demo_ws)
    ws = window.ws
    assert ws is not None
    image_id = ws.images.page(limit=1)[0].id
    before = len(ws.annotations.for_image(image_id))
    ws.annotations.add_box(image_id, "circle", (1, 1, 10, 10))
    undo = next(a for a in window.workspace_actions if a.text() == "&Undo")
    redo = next(a for a in window.workspace_actions if a.text() == "&Redo")
    undo.trigger()
    assert len(ws.annotations.for_image(image_id)) == before
    assert window.statusBar().currentMessage() == f"Undid: added a box on image {image_id}"
    redo.trigger()
    assert len(ws.annotations.for_image(image_id)) == before + 1
    assert window.statusBar().currentMessage() == f"Redid: added a box on image {image_id}"
    undo.trigger()
    reopened = Workspace.open(demo_ws)
    assert len(reopened.annotations.for_image(image_id)) == before
    reopened.close()


def test_jobs_show_in_the_status_bar_and_cancel(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    import time

    def slow(progress, cancel: CancelToken) -> str:  # noqa: ANN001
        for i in range(200):
            cancel.raise_if_cancelled()
            progress(i / 200, f"step {i}")
            time.sleep(0.01)
        return "finished"

    ended: list[str] = []
    job = window.jobs.start("Slow job", slow, on_done=ended.append, on_cancel=lambda: ended.append("cancelled"))
    qtbot.waitUntil(lambda: len(window.jobs_widget.rows) == 1)
    job.cancel.cancel()
    qtbot.waitUntil(lambda: ended == ["cancelled"], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.jobs_widget.rows)
