"""The core never imports Qt: importing every cvops module must not load PySide6, shiboken6 or pyqtgraph."""

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import cvops
names = [m.name for m in pkgutil.walk_packages(cvops.__path__, 'cvops.')]
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'PyQt5', 'PyQt6'))
print(len(names))
print(','.join(bad))
"""


def test_core_modules_do_not_load_qt() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    count, bad = result.stdout.strip().split("\n") + [""] * (2 - len(result.stdout.strip().split("\n")))
    assert int(count) >= 10, "expected to import every core module"
    assert bad == "", f"core modules loaded Qt: {bad}"
