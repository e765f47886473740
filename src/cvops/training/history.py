"""Reading training runs back: listing, one run in detail with its curves, and comparing runs.

Ultralytics names its metrics ``metrics/mAP50(B)``, ``train/box_loss`` and so on; :data:`SUMMARY_KEYS` maps the
four headline ones to short names (``map50``, ``map50_95``, ``precision``, ``recall``) used in JSON reports.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional, Sequence

from cvops.common.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

SUMMARY_KEYS = {"map50": "metrics/mAP50(B)", "map50_95": "metrics/mAP50-95(B)",
                "precision": "metrics/precision(B)", "recall": "metrics/recall(B)"}
_NOT_HYPERPARAMETERS = {"save_dir", "name", "project", "exist_ok", "verbose", "plots", "resume", "model", "data"}


def summarize(metrics: dict[str, Any]) -> dict[str, Optional[float]]:
    """The headline metrics of an Ultralytics metrics dict under short names."""
    return {short: metrics.get(key) for short, key in SUMMARY_KEYS.items()}


def _row_dict(ws: "Workspace", row: Sequence[Any]) -> dict[str, Any]:
    (run_id, state, version_id, version_name, preset, model, params, seed, device, started, finished, epochs_done,
     error, task, environment, resolved, run_dir) = row
    last = ws.db.execute("SELECT metrics FROM run_epochs WHERE run_id = ? ORDER BY epoch DESC LIMIT 1",
                         [run_id]).fetchone()
    registered = ws.db.execute("SELECT name, metrics FROM models WHERE run_id = ?", [run_id]).fetchone()
    final = json.loads(registered[1]) if registered else (json.loads(last[0]) if last else {})
    params = json.loads(params)
    return {"run_id": run_id, "state": state, "version_id": version_id, "version": version_name, "preset": preset,
            "architecture": model, "task": task, "epochs": params.get("epochs"), "epochs_done": epochs_done,
            "imgsz": params.get("imgsz"), "batch": params.get("batch"), "seed": seed, "device": device,
            "started_at": started, "finished_at": finished,
            "duration_s": (finished - started) if started and finished else None, "error": error,
            "model": registered[0] if registered else None, "metrics": summarize(final),
            "per_class": final.get("per_class", []), "environment": json.loads(environment) if environment else {},
            "hyperparameters": json.loads(resolved) if resolved else {}, "params": params, "run_dir": run_dir}


_SELECT = ("SELECT r.id, r.state, r.version_id, v.name, r.preset, r.model, r.params, r.seed, r.device, r.started_at, "
           "r.finished_at, r.epochs_done, r.error, r.task, r.environment, r.resolved_params, r.run_dir "
           "FROM runs r JOIN versions v ON v.id = r.version_id")


def list_runs(ws: "Workspace") -> list[dict[str, Any]]:
    """Every run, newest first, with its headline metrics (the final validation's once finished)."""
    return [_row_dict(ws, r) for r in ws.db.execute(f"{_SELECT} ORDER BY r.id DESC").fetchall()]


def latest_run_id(ws: "Workspace") -> Optional[int]:
    """The id of the newest run (None without runs): a cheap check for runs recorded by another process or job."""
    row = ws.db.execute("SELECT MAX(id) FROM runs").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def get_run(ws: "Workspace", run_id: int) -> dict[str, Any]:
    """One run with its per-epoch curves (``epochs``: list of ``{epoch, ...metrics}``) and log tail."""
    row = ws.db.execute(f"{_SELECT} WHERE r.id = ?", [int(run_id)]).fetchone()
    if row is None:
        raise NotFoundError(f"no training run {run_id} (cvops runs list shows them)")
    out = _row_dict(ws, row)
    out["epochs_table"] = run_epochs(ws, run_id)
    out["log_tail"] = ws.db.execute("SELECT log_tail FROM runs WHERE id = ?", [run_id]).fetchone()[0]
    return out


def run_epochs(ws: "Workspace", run_id: int) -> list[dict[str, Any]]:
    """The run's per-epoch metrics, in epoch order: ``[{"epoch": 1, "train/box_loss": ..., ...}, ...]``."""
    return [{"epoch": e, **json.loads(m)} for e, m in ws.db.execute(
        "SELECT epoch, metrics FROM run_epochs WHERE run_id = ? ORDER BY epoch", [int(run_id)])]


def _hyperparameter_diff(runs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = sorted(set().union(*(r["hyperparameters"] for r in runs)) - _NOT_HYPERPARAMETERS)
    diff = {}
    for key in keys:
        values = [r["hyperparameters"].get(key) for r in runs]
        if any(v != values[0] for v in values[1:]):
            diff[key] = values
    for key in ("version", "preset", "architecture", "seed", "device"):
        values = [r[key] for r in runs]
        if any(v != values[0] for v in values[1:]):
            diff[key] = values
    return diff


def _per_class_deltas(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names: list[str] = []
    for r in runs:
        names += [c["name"] for c in r["per_class"] if c["name"] not in names]
    table = []
    for name in names:
        by_run = [next((c for c in r["per_class"] if c["name"] == name), None) for r in runs]
        ap50 = [c["ap50"] if c else None for c in by_run]
        ap = [c["ap"] if c else None for c in by_run]
        base50, base = ap50[0], ap[0]
        table.append({"class": name, "ap50": ap50, "ap": ap,
                      "delta_ap50": [None if v is None or base50 is None else v - base50 for v in ap50],
                      "delta_ap": [None if v is None or base is None else v - base for v in ap]})
    return table


def compare_runs(ws: "Workspace", run_ids: Sequence[int]) -> dict[str, Any]:
    """Compare runs: headline metrics side by side, per-class AP with deltas against the first run, the
    hyperparameters that differ, and each run's curves.
    """
    if len(run_ids) < 2:
        raise ValidationError("compare needs at least two runs")
    runs = [get_run(ws, rid) for rid in run_ids]
    metrics = {key: [r["metrics"][key] for r in runs] for key in SUMMARY_KEYS}
    deltas = {key: [None if v is None or vals[0] is None else v - vals[0] for v in vals]
              for key, vals in metrics.items()}
    return {"runs": [{k: r[k] for k in ("run_id", "state", "version", "preset", "architecture", "epochs_done",
                                        "duration_s", "model")} for r in runs],
            "metrics": metrics, "metric_deltas": deltas, "per_class_ap": _per_class_deltas(runs),
            "hyperparameters": _hyperparameter_diff(runs),
            "curves": {str(r["run_id"]): r["epochs_table"] for r in runs}}
