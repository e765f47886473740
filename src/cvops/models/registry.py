"""The model registry: every finished training run becomes a model with its full lineage.

A model (table ``models``) records what made it: the dataset version (id and content hash) and its class map, the
preset, the architecture and any starting weights (with their sha256 and, when they are a registered model, that
model as ``parent_model_id``), every resolved hyperparameter, the seed, the environment (Python, torch, Ultralytics,
CUDA, device name), the final validation metrics with per-class AP, and the sha256 of its weights. The weights are
copied out of the run folder into ``WORKSPACE/models/<name>.pt`` (temp + fsync + rename), so cleaning up runs never
breaks a model. One model can be the *champion* (:func:`promote`): the one pre-labeling and deployment offer first.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from cvops.catalog.db import transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.catalog.store import fsync_dir, sha256_file

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

ModelRef = Union[int, str]
_COLUMNS = ("id", "name", "run_id", "task", "created_at", "version_id", "version_hash", "classes", "preset",
            "architecture", "base_weights", "base_weights_sha256", "parent_model_id", "params", "seed", "environment",
            "metrics", "weights", "weights_sha256", "champion", "notes")
_JSON = ("classes", "params", "environment", "metrics")
QUALITY_FLOOR = 0.05
"""Default quality floor on mAP50-95: the export gate fails an export below it (``cvops.deploy.verify``) and the
registry marks models whose training validation is below it (``below_floor``)."""


@dataclass(frozen=True)
class ModelInfo:
    """One registered model and its lineage; ``version_name`` is the dataset version it was trained on."""

    id: int
    name: str
    run_id: Optional[int]
    task: str
    created_at: float
    version_id: int
    version_hash: str
    classes: list[dict[str, Any]]
    preset: Optional[str]
    architecture: str
    base_weights: Optional[str]
    base_weights_sha256: Optional[str]
    parent_model_id: Optional[int]
    params: dict[str, Any]
    seed: int
    environment: dict[str, Any]
    metrics: dict[str, Any]
    weights: str
    weights_sha256: str
    champion: bool
    notes: str
    version_name: str = ""

    @property
    def map50_95(self) -> Optional[float]:
        """The mAP50-95 of the final validation at training (Ultralytics' validator), None when not recorded."""
        value = self.metrics.get("metrics/mAP50-95(B)")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def below_floor(self) -> Optional[bool]:
        """Whether that mAP50-95 is below :data:`QUALITY_FLOOR` (the export gate's default floor); None without it."""
        value = self.map50_95
        return None if value is None else value < QUALITY_FLOOR

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``below_floor``)."""
        return {**asdict(self), "below_floor": self.below_floor}


def _info(ws: "Workspace", row: Any) -> ModelInfo:
    values = dict(zip(_COLUMNS + ("version_name",), row))
    values["weights"] = str(ws.root / values["weights"])  # stored relative: a moved workspace keeps its models
    for key in _JSON:
        values[key] = json.loads(values[key])
    values["champion"] = bool(values["champion"])
    return ModelInfo(**values)


_SELECT = (f"SELECT {', '.join('m.' + c for c in _COLUMNS)}, v.name FROM models m "
           "JOIN versions v ON v.id = m.version_id")


def list_models(ws: "Workspace") -> list[ModelInfo]:
    """Every registered model, oldest first."""
    return [_info(ws, r) for r in ws.db.execute(f"{_SELECT} ORDER BY m.id").fetchall()]


def get_model(ws: "Workspace", ref: ModelRef) -> ModelInfo:
    """A model by id (``3``), name (``m3``), ``champion`` or ``latest``; raises :class:`NotFoundError`."""
    text = str(ref).strip()
    if text == "champion":
        row = ws.db.execute(f"{_SELECT} WHERE m.champion = 1").fetchone()
        if row is None:
            raise NotFoundError("no champion model yet (cvops models promote MODEL)")
    elif text == "latest":
        row = ws.db.execute(f"{_SELECT} ORDER BY m.id DESC LIMIT 1").fetchone()
    elif text.isdigit():
        row = ws.db.execute(f"{_SELECT} WHERE m.id = ?", [int(text)]).fetchone()
    else:
        row = ws.db.execute(f"{_SELECT} WHERE m.name = ?", [text]).fetchone()
    if row is None:
        raise NotFoundError(f"no model {text!r} (cvops models list shows them)")
    return _info(ws, row)


def model_for_run(ws: "Workspace", run_id: int) -> Optional[ModelInfo]:
    """The model a run registered, if it did."""
    row = ws.db.execute(f"{_SELECT} WHERE m.run_id = ?", [run_id]).fetchone()
    return _info(ws, row) if row else None


def promote(ws: "Workspace", ref: ModelRef, by: str = "manual") -> ModelInfo:
    """Make a model the champion (the previous champion steps down) and record it in the champion's timeline with
    ``by`` (``manual``, ``pipeline run 7``); returns it. Promoting the champion again records nothing."""
    model = get_model(ws, ref)
    weights = Path(model.weights)
    if not weights.is_file():
        raise ValidationError(f"model {model.name}: weights file {weights} is missing; it cannot be the champion")
    if model.champion:
        return model
    with transaction(ws.db):
        ws.db.execute("UPDATE models SET champion = 0 WHERE champion = 1")
        ws.db.execute("UPDATE models SET champion = 1 WHERE id = ?", [model.id])
        ws.db.execute("INSERT INTO champion_history (model_id, promoted_at, by) VALUES (?, ?, ?)",
                      [model.id, time.time(), by])
    return get_model(ws, model.id)


class ChampionSpan(NamedTuple):
    """A stretch of the champion's timeline: ``model`` served from ``since`` to ``until`` (None: it still does),
    promoted ``by`` (``manual``, ``pipeline run 7``); ``deployments`` are its bundles deployed meanwhile
    (``{"target", "at", "ok"}``)."""

    model: str
    model_id: int
    since: float
    until: Optional[float]
    by: str
    map50_95: Optional[float]
    deployments: list[dict[str, Any]]


def champion_timeline(ws: "Workspace") -> list[ChampionSpan]:
    """Which model was the champion when, newest first, with the deployments of its exports while it served."""
    rows = ws.db.execute("SELECT model_id, promoted_at, by FROM champion_history ORDER BY promoted_at, id").fetchall()
    spans = []
    for i, (model_id, since, by) in enumerate(rows):
        until = rows[i + 1][1] if i + 1 < len(rows) else None
        model = get_model(ws, model_id)
        deployed = ws.db.execute(
            "SELECT d.target, d.created_at, d.ok FROM deployments d JOIN exports e ON e.id = d.export_id "
            "WHERE e.model_id = ? AND d.created_at >= ? AND (? IS NULL OR d.created_at < ?) ORDER BY d.created_at",
            [model_id, since, until, until]).fetchall()
        spans.append(ChampionSpan(model.name, model_id, since, until, by, model.map50_95,
                                  [{"target": t, "at": at, "ok": bool(ok)} for t, at, ok in deployed]))
    return spans[::-1]


def lineage(ws: "Workspace", ref: ModelRef) -> list[ModelInfo]:
    """The model and the registered models it was fine-tuned from, newest first."""
    chain = [get_model(ws, ref)]
    while chain[-1].parent_model_id is not None and len(chain) < 100:
        chain.append(get_model(ws, chain[-1].parent_model_id))
    return chain


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        with src.open("rb") as fin, tmp.open("wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _final_metrics(ws: "Workspace", run_id: int, final: dict[str, Any]) -> dict[str, Any]:
    metrics = dict(final.get("metrics") or {})
    if not metrics:  # no final validation reported: fall back to the last epoch's
        row = ws.db.execute("SELECT metrics FROM run_epochs WHERE run_id = ? ORDER BY epoch DESC LIMIT 1",
                            [run_id]).fetchone()
        metrics = json.loads(row[0]) if row else {}
    metrics["per_class"] = final.get("per_class") or []
    return metrics


def register_run(ws: "Workspace", run_id: int, final: Optional[dict[str, Any]] = None) -> ModelInfo:
    """Register the model of a finished run (its ``best.pt``, else ``last.pt``); idempotent per run.

    ``final`` is the run's ``finished`` event (final validation metrics and per-class AP).
    """
    existing = model_for_run(ws, run_id)
    if existing is not None:
        return existing
    row = ws.db.execute("SELECT state, version_id, version_hash, preset, model, params, seed, run_dir, task, "
                        "environment, resolved_params, best_checkpoint, last_checkpoint, base_weights "
                        "FROM runs WHERE id = ?", [run_id]).fetchone()
    if row is None:
        raise NotFoundError(f"no training run {run_id}")
    (state, version_id, version_hash, preset, architecture, params, seed, run_dir, task, env, resolved, best, last,
     base) = row
    if state != "finished":
        raise ValidationError(f"run {run_id} is {state}; only a finished run registers a model")
    weights_dir = Path(run_dir) / "train" / "weights"
    source = next((p for p in (Path(best or weights_dir / "best.pt"), Path(last or weights_dir / "last.pt"))
                   if p.is_file()), None)
    if source is None:
        raise ValidationError(f"run {run_id} finished without weights in {weights_dir}")
    from cvops.versions.create import version_classes

    classes = [{"index": i, "class_id": c["id"], "name": c["name"], "color": c["color"]}
               for i, c in enumerate(version_classes(ws, version_id))]
    base_sha = sha256_file(Path(base)) if base and Path(base).is_file() else None
    parent = (ws.db.execute("SELECT id FROM models WHERE weights_sha256 = ?", [base_sha]).fetchone()
              if base_sha else None)
    merged = {**json.loads(params), **(json.loads(resolved) if resolved else {})}
    next_id = int(ws.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM models").fetchone()[0])
    name = f"m{next_id}"
    dest = ws.root / "models" / f"{name}.pt"
    _copy_atomic(source, dest)
    with transaction(ws.db):
        ws.db.execute(
            "INSERT INTO models (id, name, run_id, task, created_at, version_id, version_hash, classes, preset, "
            "architecture, base_weights, base_weights_sha256, parent_model_id, params, seed, environment, metrics, "
            "weights, weights_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [next_id, name, run_id, task or "detect", time.time(), version_id, version_hash, json.dumps(classes),
             preset, architecture, base, base_sha, parent[0] if parent else None, json.dumps(merged), seed,
             env or "{}", json.dumps(_final_metrics(ws, run_id, final or {})), dest.relative_to(ws.root).as_posix(),
             sha256_file(dest)])
    return get_model(ws, next_id)
