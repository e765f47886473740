"""The weights library: Ultralytics checkpoints a workspace can start training from (table ``weights``).

:func:`add_weights` checks that a file is an Ultralytics checkpoint without running code from it
(:func:`inspect_checkpoint`: PyTorch's ``weights_only`` loader, allowing only the model classes of
``ultralytics.nn`` and ``torch.nn``), records its architecture (``yolo11n``), task, class names, image size, sha256
and size, and copies it to ``WORKSPACE/weights/<sha256[:12]>-<name>.pt`` (temp + fsync + rename); the catalog
stores that path relative to the workspace. A registered model of another workspace (``OTHER/models/m3.pt``) keeps
its lineage: that workspace, model name, dataset version and metrics, read from its catalog. Adding the same bytes
again returns the existing entry.

:func:`remove_weights` refuses while a run started from the entry, unless ``force``; it never removes weights a
queued or running run uses. Runs and models keep the entry's name and sha256 in their lineage either way.
"""

from __future__ import annotations

import importlib
import json
import re
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from cvops.catalog.db import transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.registry import _copy_atomic
from cvops.catalog.store import sha256_file

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

WEIGHTS_DIR = "weights"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SAFE_MODULES = ("ultralytics.nn.", "torch.nn.modules.")
_SAFE_TYPES = ("ultralytics.utils.IterableSimpleNamespace", "types.SimpleNamespace", "pathlib.PosixPath",
               "pathlib.WindowsPath", "numpy.ndarray", "numpy.dtype")
# numpy numbers and arrays (e.g. metrics of older checkpoints): data only, as PyTorch's own docs allow
_SAFE_FUNCTIONS = ("numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
                   "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")
_COLUMNS = ("id", "name", "path", "sha256", "size_bytes", "architecture", "task", "classes", "imgsz", "source",
            "lineage", "added_at")
_offline_ready = False


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about its model."""

    architecture: str
    task: str
    classes: list[str]
    imgsz: Optional[int]
    ultralytics: Optional[str] = None
    trained_on: Optional[str] = None


@dataclass(frozen=True)
class WeightsInfo:
    """One library entry; ``path`` is absolute, ``file`` relative to the workspace; ``used_by`` lists run ids."""

    id: int
    name: str
    file: str
    path: str
    sha256: str
    size_bytes: int
    architecture: str
    task: str
    classes: list[str]
    imgsz: Optional[int]
    source: str
    lineage: dict[str, Any]
    added_at: float
    used_by: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def describe(self) -> str:
        """``yolo11n · detect · 80 classes · 640 px``."""
        size = f" · {self.imgsz} px" if self.imgsz else ""
        return f"{self.architecture} · {self.task} · {len(self.classes)} classes{size}"


def _ensure_offline(config_dir: Path) -> None:
    """Keep Ultralytics offline in this process (once; no socket guard: this may be the GUI's process)."""
    global _offline_ready
    if not _offline_ready:
        from cvops.models.offline import make_offline

        make_offline(config_dir, block_network=False)
        _offline_ready = True


def _safe_class(name: str) -> Optional[Any]:
    """What a checkpoint may reference, or None: model layers of ``ultralytics.nn`` / ``torch.nn``, a few plain
    types, and numpy's array and number constructors."""
    import torch

    module, _, attr = name.rpartition(".")
    numpy_dtype = module == "numpy.dtypes" and attr.endswith("DType")
    if name not in _SAFE_TYPES + _SAFE_FUNCTIONS and not numpy_dtype and not module.startswith(_SAFE_MODULES):
        return None
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
    if name in _SAFE_FUNCTIONS:
        return obj
    if not isinstance(obj, type):
        return None
    return obj if name in _SAFE_TYPES or numpy_dtype or issubclass(obj, torch.nn.Module) else None


def _numpy_dtypes(allowed: dict[str, Any]) -> list[Any]:
    """numpy's dtype classes, which rebuilding a numpy number or array needs (only when the pickle uses numpy)."""
    if not any(name.startswith("numpy.") for name in allowed):
        return []
    import numpy

    return [getattr(numpy.dtypes, n) for n in dir(numpy.dtypes) if n.endswith("DType")]


def _architecture(model: Any) -> str:
    yaml = getattr(model, "yaml", None) or {}
    source = yaml.get("yaml_file") if isinstance(yaml, dict) else None
    return Path(str(source)).stem if source else type(model).__name__


def _imgsz(ckpt: dict[str, Any], model: Any) -> Optional[int]:
    args = ckpt.get("train_args") or getattr(model, "args", None) or {}
    value = args.get("imgsz") if isinstance(args, dict) else getattr(args, "imgsz", None)
    if isinstance(value, (list, tuple)) and value:
        value = max(value)
    return int(value) if isinstance(value, (int, float)) else None


def inspect_checkpoint(path: Union[str, Path], config_dir: Optional[Path] = None) -> CheckpointInfo:
    """Check that ``path`` is an Ultralytics checkpoint and say what it holds; never runs code from the file.

    Raises :class:`NotFoundError` for a missing file and :class:`ValidationError` naming the file and the problem
    for anything else: not a PyTorch file, truncated, objects other than model layers in the pickle, no model.
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"weights file {path} does not exist")
    if not path.is_file():
        raise ValidationError(f"weights file {path} is not a regular file")
    _ensure_offline(config_dir or Path.home() / ".cache" / "cvops" / "ultralytics")
    import torch
    from torch import serialization

    try:
        references = serialization.get_unsafe_globals_in_checkpoint(str(path))
    except ValueError:
        raise ValidationError(f"weights file {path} is not a PyTorch checkpoint (expected a .pt file written by "
                              "Ultralytics, e.g. yolo11n.pt)") from None
    except (RuntimeError, OSError, EOFError) as exc:
        detail = str(exc).split(". ")[0].strip()
        raise ValidationError(f"weights file {path} is truncated or corrupt ({detail})") from None
    allowed = {name: _safe_class(name) for name in references}
    foreign = sorted(name for name, cls in allowed.items() if cls is None)
    if foreign:
        raise ValidationError(f"weights file {path} is not an Ultralytics checkpoint: it holds objects that are not "
                              f"model layers ({', '.join(foreign[:5])}); it was not loaded, as that could run code")
    try:
        with serialization.safe_globals([(obj, name) for name, obj in allowed.items()] + _numpy_dtypes(allowed)):
            ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (the unpickler raises many kinds; all mean an unreadable file)
        raise ValidationError(f"weights file {path} could not be read as a checkpoint "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    from ultralytics.nn.tasks import BaseModel, guess_model_task

    model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if not isinstance(model, BaseModel):
        what = f"keys {', '.join(map(str, list(ckpt)[:6]))}" if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValidationError(f"weights file {path} is a PyTorch file but not an Ultralytics checkpoint: it holds no "
                              f"Ultralytics model ({what})")
    names = getattr(model, "names", None) or {}
    classes = [str(names[k]) for k in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]
    args = ckpt.get("train_args") or {}
    return CheckpointInfo(architecture=_architecture(model), task=str(guess_model_task(model)), classes=classes,
                          imgsz=_imgsz(ckpt, model), ultralytics=ckpt.get("version"),
                          trained_on=str(args.get("data")) if isinstance(args, dict) and args.get("data") else None)


def _registry_lineage(path: Path, sha256: str) -> dict[str, Any]:
    """The registry record of ``path`` when it is a model of a workspace (``WS/models/mN.pt``), else ``{}``."""
    root = path.resolve().parent.parent
    db_path = root / "cvops.db"
    if path.resolve().parent.name != "models" or not db_path.is_file():
        return {}
    try:
        conn = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT m.name, m.run_id, m.task, v.name, m.version_hash, m.architecture, m.base_weights, "
                "m.base_weights_sha256, m.metrics, m.created_at FROM models m JOIN versions v ON v.id = m.version_id "
                "WHERE m.weights_sha256 = ?", [sha256]).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    if row is None:
        return {}
    metrics = json.loads(row[8] or "{}")
    return {"workspace": str(root), "model": row[0], "run_id": row[1], "task": row[2], "version": row[3],
            "version_hash": row[4], "architecture": row[5], "base_weights": row[6], "base_weights_sha256": row[7],
            "map50": metrics.get("metrics/mAP50(B)"), "map50_95": metrics.get("metrics/mAP50-95(B)"),
            "created_at": row[9]}


def _default_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._") or "weights"
    return name[:64]


def _check_name(name: str) -> str:
    if not _NAME.match(name) or name.isdigit():
        raise ValidationError(f"weights name {name!r} is not allowed: use letters, digits, '.', '_' or '-' "
                              "(up to 64, not only digits), e.g. yolo11n")
    return name


def _used_by(ws: "Workspace", name: str) -> list[int]:
    return [r[0] for r in ws.db.execute("SELECT id FROM runs WHERE weights_name = ? ORDER BY id", [name])]


def _info(ws: "Workspace", row: Any) -> WeightsInfo:
    values = dict(zip(_COLUMNS, row))
    values["file"] = values.pop("path")
    values["path"] = str(ws.root / values["file"])
    values["classes"] = json.loads(values["classes"])
    values["lineage"] = json.loads(values["lineage"])
    return WeightsInfo(**values, used_by=_used_by(ws, values["name"]))


_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM weights"


def list_weights(ws: "Workspace") -> list[WeightsInfo]:
    """Every library entry, by name."""
    return [_info(ws, r) for r in ws.db.execute(f"{_SELECT} ORDER BY name")]


def find_weights(ws: "Workspace", name: str) -> Optional[WeightsInfo]:
    """The entry called ``name`` (``yolo11n``; ``yolo11n.pt`` also finds it), or None."""
    for candidate in (name, name.removesuffix(".pt")):
        row = ws.db.execute(f"{_SELECT} WHERE name = ?", [candidate]).fetchone()
        if row is not None:
            return _info(ws, row)
    return None


def get_weights(ws: "Workspace", name: str) -> WeightsInfo:
    """The entry called ``name``; raises :class:`NotFoundError`."""
    found = find_weights(ws, name)
    if found is None:
        raise NotFoundError(f"no weights {name!r} in the library (cvops weights list shows them)")
    return found


def add_weights(ws: "Workspace", path: Union[str, Path], name: Optional[str] = None) -> tuple[WeightsInfo, bool]:
    """Check ``path`` and add it to the library as ``name`` (default: the file's stem); return ``(entry, added)``.

    ``added`` is False when the same bytes are already in the library (that entry is returned). A name taken by
    other weights is refused.
    """
    path = Path(path).expanduser()
    info = inspect_checkpoint(path, ws.root / "cache" / "ultralytics")
    sha = sha256_file(path)
    row = ws.db.execute(f"{_SELECT} WHERE sha256 = ?", [sha]).fetchone()
    if row is not None:
        return _info(ws, row), False
    name = _check_name(name or _default_name(path))
    if find_weights(ws, name) is not None:
        raise ValidationError(f"the library already holds other weights named {name!r}; pass --name to choose another")
    lineage: dict[str, Any] = _registry_lineage(path, sha)
    if info.trained_on:
        lineage.setdefault("trained_on", info.trained_on)
    if info.ultralytics:
        lineage.setdefault("ultralytics", info.ultralytics)
    dest = ws.root / WEIGHTS_DIR / f"{sha[:12]}-{name}.pt"
    _copy_atomic(path, dest)
    if sha256_file(dest) != sha:
        dest.unlink(missing_ok=True)
        raise ValidationError(f"weights file {path} changed while it was copied; add it again")
    with transaction(ws.db):
        ws.db.execute(
            "INSERT INTO weights (name, path, sha256, size_bytes, architecture, task, classes, imgsz, source, "
            "lineage, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, dest.relative_to(ws.root).as_posix(), sha, dest.stat().st_size, info.architecture, info.task,
             json.dumps(info.classes), info.imgsz, str(path.resolve()), json.dumps(lineage), time.time()])
    return get_weights(ws, name), True


def remove_weights(ws: "Workspace", name: str, force: bool = False) -> WeightsInfo:
    """Remove an entry and its file; refused while runs started from it unless ``force``, and always while such
    a run is queued or running."""
    entry = get_weights(ws, name)
    active = [r[0] for r in ws.db.execute("SELECT id FROM runs WHERE weights_name = ? AND state IN "
                                          "('queued', 'running') ORDER BY id", [entry.name])]
    if active:
        raise ValidationError(f"weights {entry.name} are in use by running run(s) {', '.join(map(str, active))}; "
                              "wait for them to end or cancel them")
    if entry.used_by and not force:
        raise ValidationError(f"weights {entry.name} started run(s) {', '.join(map(str, entry.used_by))}; resuming "
                              "them does not need the file, but their lineage points at it: pass --force to remove "
                              "it anyway (runs and models keep its name and sha256)")
    with transaction(ws.db):
        ws.db.execute("DELETE FROM weights WHERE id = ?", [entry.id])
    Path(entry.path).unlink(missing_ok=True)
    return entry
