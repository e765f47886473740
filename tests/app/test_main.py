"""The ``cvops-workbench`` entry point (screenshots offscreen, the no-display message) and the annotator's guide's
shortcut table, which must list every shortcut of the workbench."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvops.samples.demo import run_demo
from cvops_app.canvas.view import BACKGROUND
from cvops_app.dialogs.shortcuts import keys_markdown, markdown_table
from cvops_app.shortcuts import SHORTCUTS

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "annotators-guide.md"
TABLE = re.compile(r"<!-- shortcuts:begin.*?-->\n(.*?)<!-- shortcuts:end -->", re.S)


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment minus any display, with settings kept in tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(CVOPS_CONFIG_DIR=str(tmp_path / "config"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    return env


def workbench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cvops_app.main", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "ws"
    run_demo(path, count=24)
    return path


@pytest.mark.parametrize("page", ["images", "annotate"])
def test_screenshot_of_a_page(demo: Path, tmp_path: Path, page: str) -> None:
    out = tmp_path / f"{page}.png"
    done = workbench(str(demo), "--screenshot", str(out), "--page", page, "--size", "1000x700",
                     env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    with Image.open(out) as im:
        assert im.size == (1000, 700)
        assert len(im.convert("L").getcolors(1 << 20) or []) > 16  # not a blank window


def test_annotate_screenshot_shows_the_first_image(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotate.png"
    done = workbench(str(demo), "--screenshot", str(out), "--page", "annotate", "--size", "1000x700",
                     env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    empty = (np.abs(pixels - np.array(BACKGROUND.getRgb()[:3])).sum(axis=-1) < 6).mean()
    assert empty < 0.35, f"{empty:.0%} of the window is empty canvas: no image is shown"


def test_without_a_display_it_explains_and_exits_2(tmp_path: Path) -> None:
    done = workbench(env=clean_env(tmp_path))
    assert done.returncode == 2
    assert "no display" in done.stderr and "make demo" in done.stderr


def test_the_guide_lists_every_shortcut() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    match = TABLE.search(text)
    assert match, "docs/annotators-guide.md has no <!-- shortcuts:begin --> … <!-- shortcuts:end --> block"
    table = match.group(1)
    for shortcut in SHORTCUTS:
        keys = keys_markdown(shortcut)
        assert f"| {keys} | {shortcut.description} |" in table, f"the guide misses {shortcut.action}: {keys}"
    assert table == markdown_table(), "the guide's table is stale: run `make screenshots` to regenerate it"


def test_every_page_can_be_screenshot() -> None:
    """--page offers exactly the main window's pages (main.py keeps its own list so as not to load the GUI first)."""
    from cvops_app.main import PAGE_NAMES
    from cvops_app.mainwindow import PAGES

    assert sorted(PAGE_NAMES) == sorted(PAGES)
