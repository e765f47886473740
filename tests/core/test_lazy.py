"""`import cvops` and `import cvops.training` load nothing heavy; their public names load on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return set(out.split())


def test_importing_the_packages_loads_neither_the_catalog_nor_torch() -> None:
    loaded = _modules_after("import cvops, cvops.training, cvops.training.presets")
    assert not {"sqlite3", "torch", "numpy", "cvops.data.workspace", "cvops.training.runner"} & loaded


def test_public_names_load_on_first_use() -> None:
    import cvops
    import cvops.training
    from cvops.data.workspace import Workspace
    from cvops.training.runner import train

    assert cvops.Workspace is Workspace and cvops.training.train is train
    with pytest.raises(AttributeError, match="cvops.training.*no_such_name"):
        cvops.training.no_such_name  # noqa: B018
