"""Helpers for the installer tests: load a script of installer/ as a module, write tiny wheels and PNGs."""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"


def load(name: str) -> ModuleType:
    """``installer/NAME.py`` imported as a module (the folder is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, INSTALLER / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def write_wheel(folder: Path, name: str, version: str, files: dict[str, str], requires: tuple[str, ...] = (),
                entry_points: str = "") -> Path:
    """A pure-Python wheel ``name-version-py3-none-any.whl`` in ``folder`` holding ``files`` (path: text)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = ("Metadata-Version: 2.1\n" f"Name: {name}\n" f"Version: {version}\n"
                                    + "".join(f"Requires-Dist: {r}\n" for r in requires))
    contents[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if entry_points:
        contents[f"{info}/entry_points.txt"] = entry_points
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in contents.items():
            zf.writestr(path, text)
    return wheel


def write_png(path: Path, colours: int) -> Path:
    """A 64x64 PNG with ``colours`` distinct colours (1: blank)."""
    import numpy as np
    from PIL import Image

    pixels = np.zeros((64 * 64, 3), dtype=np.uint8)
    for i in range(64 * 64):
        c = i % colours
        pixels[i] = (c % 256, (c // 256) % 256, 128)
    Image.fromarray(pixels.reshape(64, 64, 3)).save(path)
    return path
