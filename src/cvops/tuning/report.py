"""Reading studies back: the list, one study in full (best trial, every trial, parameter importances), registering
the best trial's model, and the training options of the best trial ("train with the best parameters")."""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any, Optional

from cvops.catalog.db import transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.tuning.space import RUN_OPTIONS
from cvops.tuning.records import live_state, require_study, storage, storage_path

if TYPE_CHECKING:
    import optuna

    from cvops.data.workspace import Workspace


def list_studies(ws: "Workspace") -> list[dict[str, Any]]:
    """Every study of the workspace, newest first: name, version, metric, direction, state (``running``,
    ``finished``, ``timeout``, ``interrupted``, ``failed``; one whose process died reads ``interrupted``), trials
    (finished and target), counts by trial state, best trial and value, best model, created and updated times (from
    the catalog, without opening Optuna's storage)."""
    names = [r[0] for r in ws.db.execute("SELECT name FROM tuning_studies ORDER BY id DESC")]
    out = []
    for name in names:
        row = require_study(ws, name)
        summary = row["summary"]
        out.append({"name": name, "version": row["version"], "metric": row["metric"], "direction": row["direction"],
                    "state": live_state(ws, name, row["state"]), "pruner": row["settings"]["pruner"],
                    "epochs": row["settings"]["epochs"],
                    "trials": row["settings"]["trials"], "finished": summary.get("finished", 0),
                    "counts": summary.get("counts", {}), "best_trial": summary.get("best_trial"),
                    "best_value": summary.get("best_value"), "best_model": row["best_model"],
                    "created_at": row["created_at"], "updated_at": row["updated_at"]})
    return out


def _load(ws: "Workspace", name: str) -> "optuna.Study":
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage(ws))
    except KeyError:
        raise NotFoundError(f"study {name} is in the catalog but not in {storage_path(ws)} (was the file removed?)"
                            ) from None


def _trial_dict(t: "optuna.trial.FrozenTrial") -> dict[str, Any]:
    start, end = t.datetime_start, t.datetime_complete
    return {"number": t.number, "state": t.state.name.lower(), "value": t.value,
            "params": t.user_attrs.get("params") or t.params or dict(t.system_attrs.get("fixed_params") or {}),
            "epochs": t.user_attrs.get("epochs", len(t.intermediate_values)),
            "run_id": t.user_attrs.get("run_id"),
            "duration_s": (end - start).total_seconds() if start and end else None,
            "intermediate": {str(step + 1): value for step, value in sorted(t.intermediate_values.items())},
            "error": t.user_attrs.get("error"), "interrupted": bool(t.user_attrs.get("interrupted"))}


def importances(study: "optuna.Study") -> tuple[dict[str, float], Optional[str]]:
    """``(parameter importances, note)``: Optuna's (PED-ANOVA) over the complete trials, most important first; an
    empty dict and a note saying why when there are fewer than two complete trials or nothing varied (the note also
    carries Optuna's warnings about the figures, e.g. too few trials to tell parameters apart)."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, f"importances need at least 2 complete trials ({len(complete)} so far)"
    with warnings.catch_warnings(record=True) as caught:  # e.g. PED-ANOVA's "importances will be equal"
        warnings.simplefilter("always")
        try:
            values = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError) as exc:
            return {}, f"importances not available: {exc}"
    if not values:
        return {}, "importances not available: no parameter varied over the complete trials"
    note = "; ".join(dict.fromkeys(str(w.message) for w in caught)) or None
    return {k: float(v) for k, v in values.items()}, note


def show_study(ws: "Workspace", name: str) -> dict[str, Any]:
    """Study ``name`` in full: its settings (``space`` included), ``best`` (trial number, value, params, run id,
    epochs, model; None before a complete trial), ``trials`` (number, state, value, params, epochs reached, run id,
    duration, per-epoch values, error) and ``importances`` (with ``importances_note`` when there are none)."""
    row = require_study(ws, name)
    study = _load(ws, name)
    trials = [_trial_dict(t) for t in study.get_trials(deepcopy=False)]
    best = None
    if row["summary"].get("best_trial") is not None or any(t["state"] == "complete" for t in trials):
        b = study.best_trial
        best = {**_trial_dict(b), "model": _model_of_run(ws, b.user_attrs.get("run_id"))}
    values, note = importances(study)
    settings = row["settings"]
    epochs_run = sum(int(t["epochs"] or 0) for t in trials if t["state"] in ("complete", "pruned"))
    finished = sum(1 for t in trials if t["state"] in ("complete", "pruned"))
    return {"name": name, "version": row["version"], "metric": row["metric"], "direction": row["direction"],
            "state": live_state(ws, name, row["state"]), "pruner": settings["pruner"], "epochs": settings["epochs"],
            "preset": settings["preset"], "seed": settings["seed"], "device": settings["device"],
            "trials_target": settings["trials"], "finished": finished,
            "counts": {s: sum(1 for t in trials if t["state"] == s) for s in ("complete", "pruned", "fail", "running",
                                                                             "waiting")},
            "epochs_run": epochs_run, "epochs_saved": finished * int(settings["epochs"]) - epochs_run,
            "error": row["summary"].get("error"), "best_model": row["best_model"], "storage": str(storage_path(ws)),
            "space": settings["space"], "created_at": row["created_at"], "updated_at": row["updated_at"],
            "best": best, "trials": trials, "importances": values, "importances_note": note}


def _model_of_run(ws: "Workspace", run_id: Optional[int]) -> Optional[str]:
    if run_id is None:
        return None
    row = ws.db.execute("SELECT name FROM models WHERE run_id = ?", [run_id]).fetchone()
    return row[0] if row else None


def _best(ws: "Workspace", name: str) -> "optuna.trial.FrozenTrial":
    require_study(ws, name)
    study = _load(ws, name)
    try:
        return study.best_trial
    except ValueError:
        raise ValidationError(f"study {name} has no complete trial yet (cvops tune show {name})") from None


def register_best(ws: "Workspace", name: str) -> dict[str, Any]:
    """Register the model of study ``name``'s best trial (idempotent) and record it on the study; return the
    model's dict (:meth:`~cvops.models.registry.ModelInfo.to_dict`). Its lineage (``params.tuning``) names the study
    and the trial."""
    from pathlib import Path

    from cvops.models.registry import register_run
    from cvops.tuning.trial import final_event

    best = _best(ws, name)
    run_id = best.user_attrs.get("run_id")
    if run_id is None:
        raise ValidationError(f"study {name}: best trial {best.number} has no training run")
    row = ws.db.execute("SELECT run_dir FROM runs WHERE id = ?", [run_id]).fetchone()
    if row is None:
        raise ValidationError(f"study {name}: run {run_id} of best trial {best.number} is no longer in the catalog")
    model = register_run(ws, int(run_id), final_event(Path(row[0])))
    with transaction(ws.db):
        ws.db.execute("UPDATE tuning_studies SET best_model_id = ? WHERE name = ?", [model.id, name])
    return model.to_dict()


def best_train_options(ws: "Workspace", name: str) -> dict[str, Any]:
    """Keyword arguments of :func:`cvops.training.runner.start_run` (and ``train``) that train with the best trial's
    parameters: ``version_ref``, ``preset``, ``epochs`` (the study's per-trial epochs: raise it for a full
    training), ``imgsz``, ``batch``, ``model``, ``seed``, ``hyperparameters`` and ``tuning`` (the study and trial,
    for the lineage)."""
    row = require_study(ws, name)
    best = _best(ws, name)
    params = dict(best.user_attrs.get("params", best.params))
    settings = row["settings"]
    options: dict[str, Any] = {"version_ref": row["version"], "preset": settings["preset"],
                               "epochs": settings["epochs"], "seed": settings["seed"] or 0,
                               "batch": settings.get("batch"), "imgsz": None, "model": None}
    options.update({k: v for k, v in params.items() if k in RUN_OPTIONS})
    options["hyperparameters"] = {k: v for k, v in params.items() if k not in RUN_OPTIONS}
    options["tuning"] = {"study": name, "trial": best.number, "best": True}
    return json.loads(json.dumps(options))
