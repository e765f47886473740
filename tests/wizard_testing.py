"""The export wizard's tests without exporting anything: a host window and an application context on a small demo
workspace with a registered (never exported) model ``m1``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMainWindow
from training_testing import make_model

from cvops.catalog.settings import Settings
from cvops.data.workspace import Workspace
from cvops.samples.demo import run_demo
from cvops_app.context import AppContext


def model_context(qtbot: Any, tmp_path: Path) -> tuple[QMainWindow, AppContext]:
    """``(host, ctx)``: a window (owned by ``qtbot``) and its context with the workspace open; close the workspace
    with ``ctx.close_workspace()``."""
    run_demo(tmp_path / "ws", count=8)
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"weights")
    ws = Workspace.open(tmp_path / "ws")
    make_model(ws, weights, name="m1")
    host = QMainWindow()
    qtbot.addWidget(host)
    ctx = AppContext(Settings(), parent=host)
    ctx.set_workspace(ws)
    return host, ctx
