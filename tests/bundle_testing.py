"""A trained, exported model for the bundle and deploy tests, built once per test session.

:func:`exported_workspace` trains a tiny model on a demo workspace (``run_demo(count=32)``, 2 epochs at 96 px on the
CPU), exports it to ONNX with Ultralytics in-process and records an ``exports`` row (:func:`add_export`); it returns
the workspace folder and the export id. Callers open their own :class:`Workspace` on it.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import pytest

from cvops.catalog.db import transaction
from cvops.models.registry import sha256_file
from cvops.data.workspace import Workspace

IMGSZ = 96
_BUILT: dict[str, Any] = {}


def add_export(ws: Workspace, model_id: int, onnx: Path, imgsz: int = IMGSZ, precision: str = "fp32",
               verify: Optional[dict[str, Any]] = None) -> int:
    """Insert an ``exports`` row for ``onnx``; return its id."""
    with transaction(ws.db):
        cur = ws.db.execute(
            "INSERT INTO exports (model_id, format, precision, imgsz, dynamic, opset, path, sha256, size_bytes, "
            "params, created_at, verify, verified_at, passed) VALUES (?, 'onnx', ?, ?, 0, NULL, ?, ?, ?, '{}', ?, "
            "?, ?, ?)",
            [model_id, precision, imgsz, str(onnx), sha256_file(onnx), onnx.stat().st_size, time.time(),
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


def exported_workspace(factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """``(workspace folder, export id)`` of a trained and exported model; built on the first call of a session."""
    if "root" not in _BUILT:
        from cvops.samples.demo import run_demo
        from cvops.models.registry import get_model
        from cvops.training import train

        base = factory.mktemp("exported")
        root = base / "ws"
        run_demo(root, count=32)
        ws = Workspace.open(root)
        try:
            result = train(ws, "v1", epochs=2, imgsz=IMGSZ, batch=8, device="cpu")
            assert result.state == "finished", result.error
            model = get_model(ws, "latest")
            onnx = _export_onnx(Path(model.weights), root / "exports" / f"{model.name}-onnx" / "model.onnx",
                                base / "ultralytics")
            export_id = add_export(ws, model.id, onnx, verify={"passed": True, "summary": {"max_box_diff_px": 0.0}})
        finally:
            ws.close()
        _BUILT.update(root=root, export_id=export_id)
    return _BUILT["root"], _BUILT["export_id"]
