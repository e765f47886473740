"""Regression test for the PySide6 6.12.0 trap: on CPython 3.11 it aborts with "none_dealloc" once a
QGraphicsScene holds ~1k items. The project excludes 6.12.0; this test proves the installed Qt survives 20,000 items.
It runs in a subprocess so that an abort fails this test instead of killing the test session."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import requires, version

from packaging.requirements import Requirement

SCRIPT = """
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsView
app = QApplication([])
scene = QGraphicsScene()
pen = QPen(QColor('#e6194b'))
for i in range(20000):
    item = scene.addRect(QRectF((i % 200) * 12, (i // 200) * 12, 10, 10), pen)
    item.setData(0, i)
view = QGraphicsView(scene)
view.resize(800, 600)
view.show()
for _ in range(3):
    view.scale(0.8, 0.8)
    app.processEvents()
view.grab()
assert len(scene.items()) == 20000
for item in list(scene.items())[:5000]:
    scene.removeItem(item)
del item
scene.clear()
app.processEvents()
print('ok')
"""


def test_the_requirement_excludes_the_broken_release_and_the_installed_one_meets_it() -> None:
    """The installed distribution's PySide6 requirement (its metadata, as pip resolved it) refuses 6.12.0 and
    accepts the PySide6 that is installed."""
    pyside = [Requirement(r) for r in requires("cvops-workbench") or [] if Requirement(r).name.lower() == "pyside6"]
    assert len(pyside) == 1, pyside
    assert not pyside[0].specifier.contains("6.12.0")
    assert pyside[0].specifier.contains(version("PySide6"))


def test_scene_with_20000_items_does_not_crash() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
