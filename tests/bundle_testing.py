"""A trained, exported model for the bundle, deploy and telemetry tests, built once per test session.

:func:`build_exported_workspace` copies the shared trained workspace (``training_testing``), exports its latest
model to ONNX with Ultralytics in-process (no graph passes, no gate: quicker than ``export_model``) and records an
``exports`` row (:func:`add_export`). The session fixture ``exported_workspace`` (``tests/conftest.py``) returns
that folder and the export id; callers open their own :class:`Workspace` on it and copy it before writing.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Optional

from training_testing import IMGSZ, copy_workspace

from cvops.catalog.db import transaction
from cvops.catalog.store import sha256_file
from cvops.data.workspace import Workspace


def add_export(ws: Workspace, model_id: int, onnx: Path, imgsz: int = IMGSZ, precision: str = "fp32",
               verify: Optional[dict[str, Any]] = None) -> int:
    """Insert an ``exports`` row for ``onnx`` (its path relative to the workspace where it lies inside, as the
    exporter stores it, so that a copied workspace keeps it); return its id."""
    path = onnx.relative_to(ws.root).as_posix() if onnx.is_relative_to(ws.root) else str(onnx)
    with transaction(ws.db):
        cur = ws.db.execute(
            "INSERT INTO exports (model_id, format, precision, imgsz, dynamic, opset, path, sha256, size_bytes, "
            "params, created_at, verify, verified_at, passed) VALUES (?, 'onnx', ?, ?, 0, NULL, ?, ?, ?, '{}', ?, "
            "?, ?, ?)",
            [model_id, precision, imgsz, path, sha256_file(onnx), onnx.stat().st_size, time.time(),
             json.dumps(verify) if verify else None, time.time() if verify else None,
             int(bool(verify.get("passed"))) if verify else None])
        return int(cur.lastrowid or 0)


def _export_onnx(weights: Path, dest: Path, config_dir: Path) -> Path:
    from cvops.models.offline import make_offline

    make_offline(config_dir, block_network=False)
    from ultralytics import YOLO

    with warnings.catch_warnings():  # torch's notice about its legacy TorchScript exporter, which Ultralytics uses
        warnings.simplefilter("ignore")
        made = Path(YOLO(str(weights)).export(format="onnx", imgsz=IMGSZ, simplify=False))
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(made), dest)
    return dest


def build_exported_workspace(trained: Path, root: Path, config_dir: Path) -> int:
    """Copy the shared trained workspace ``trained`` to ``root``, export its latest model to ONNX and record the
    export (gate passed); return the export id."""
    from cvops.models.registry import get_model

    copy_workspace(trained, root)
    with Workspace.open(root) as ws:
        model = get_model(ws, "latest")
        onnx = _export_onnx(Path(model.weights), root / "exports" / f"{model.name}-onnx" / "model.onnx", config_dir)
        return add_export(ws, model.id, onnx, verify={"passed": True, "summary": {"max_box_diff_px": 0.0}})
