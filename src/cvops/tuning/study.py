"""Running a study: Optuna in the workspace, one supervised training run per trial, pruning, resuming.

Studies live in Optuna's RDB storage on ``WORKSPACE/tuning/studies.db`` (SQLite, beside the catalog), and each has a
row in the catalog's ``tuning_studies`` (version, metric, settings, state, trial counts, best model). A study is named
``<version>-tune-<n>`` unless given a name; running a study that exists resumes it. ``trials`` counts *finished*
trials (complete or pruned) in total, over every session of the study: a resumed study runs only the ones missing.
A trial left ``RUNNING`` by a crash or a kill is marked failed when the study resumes (its training run is stopped and
recorded), and is not counted. Only one process runs a study at a time (a lock file in ``WORKSPACE/locks``).

The sampler is Optuna's TPE (seeded with ``seed`` plus the number of trials so far, so a resumed study does not
replay its first samples); the pruners are :data:`PRUNERS`.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import TYPE_CHECKING, Any, Optional, Union

from cvops.catalog.db import transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken, Cancelled, Progress, no_progress, sub_progress
from cvops.tuning.space import RUN_OPTIONS, SearchSpace, default_space, load_space, parse_space
from cvops.tuning.records import lock_name, require_study, storage, study_row
from cvops.tuning.trial import LocalExecutor, TrialExecutor, resolve_metric

if TYPE_CHECKING:
    from pathlib import Path

    import optuna

    from cvops.data.workspace import Workspace

PRUNERS = ("median", "hyperband", "none")
FAILURES_IN_A_ROW = 3
"""A study stops (state ``failed``) after this many failed trials in a row: something other than the parameters
is wrong (the version, the device, the disk)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class TrialFailed(Exception):
    """A trial's training run failed (Optuna records the trial ``FAIL``; the study goes on)."""


def _next_name(ws: "Workspace", version: str) -> str:
    taken = {r[0] for r in ws.db.execute("SELECT name FROM tuning_studies")}
    n = 1
    while f"{version}-tune-{n}" in taken:
        n += 1
    return f"{version}-tune-{n}"


def make_pruner(name: str, trials: int, epochs: int) -> "optuna.pruners.BasePruner":
    """``median``: Optuna's MedianPruner judging a trial once ``max(1, trials // 4)`` (at most 5) trials completed
    and from its epoch ``max(1, epochs // 3) + 1`` on; ``hyperband``: HyperbandPruner over 1 to ``epochs`` epochs,
    reduction factor 3; ``none``: no pruning."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=min(5, max(1, trials // 4)),
                                           n_warmup_steps=max(1, epochs // 3))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValidationError(f"unknown pruner {name!r} (choose from {', '.join(PRUNERS)})")


def _resolve_space(space: Union[SearchSpace, str, "Path", dict, None]) -> Optional[SearchSpace]:
    if space is None or isinstance(space, SearchSpace):
        return space
    if isinstance(space, dict):
        return parse_space(space)
    return load_space(space)


def summarize_trials(study: "optuna.Study") -> dict[str, Any]:
    """Trial counts by state and the best trial's number and value."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = {state.name.lower(): sum(1 for t in trials if t.state == state) for state in TrialState}
    best = None
    try:
        best = study.best_trial
    except ValueError:  # no complete trial yet
        pass
    return {"counts": counts, "finished": counts["complete"] + counts["pruned"],
            "best_trial": best.number if best else None, "best_value": best.value if best else None}


def _save(ws: "Workspace", name: str, state: str, summary: dict[str, Any]) -> None:
    with transaction(ws.db):
        ws.db.execute("UPDATE tuning_studies SET state = ?, summary = ?, updated_at = ? WHERE name = ?",
                      [state, json.dumps(summary), time.time(), name])


def fail_stale_trials(ws: "Workspace", study: "optuna.Study") -> list[int]:
    """Mark trials left ``RUNNING`` by a crashed or killed session ``FAIL`` (their runs stopped and recorded);
    return their numbers. Only call it holding the study's lock."""
    from optuna.trial import TrialState

    from cvops.training.runner import FINAL_STATES, cancel_run, run_result, supervise

    stale = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_id = t.user_attrs.get("run_id")
        if run_id is not None:
            try:
                if run_result(ws, int(run_id)).state not in FINAL_STATES:
                    cancel_run(ws, int(run_id))
                    token = CancelToken()
                    token.cancel()
                    supervise(ws, int(run_id), cancel=token, register=False)
            except NotFoundError:
                pass
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        stale.append(t.number)
    return stale


def _trial_options(settings: dict[str, Any], version: str, params: dict[str, Any], study: str,
                   number: int) -> dict[str, Any]:
    """The executor's options for a trial with ``params``."""
    options: dict[str, Any] = {"version_ref": version, "preset": settings["preset"], "epochs": settings["epochs"],
                               "device": settings["device"], "seed": settings["seed"] or 0,
                               "batch": settings.get("batch"), "imgsz": None, "model": None}
    options.update({k: v for k, v in params.items() if k in RUN_OPTIONS})
    options["hyperparameters"] = {k: v for k, v in params.items() if k not in RUN_OPTIONS}
    options["tuning"] = {"study": study, "trial": number}
    return options


def _start(ws: "Workspace", version_ref: Union[int, str], name: str, trials: int, space: Optional[SearchSpace],
           metric: Optional[str], pruner: Optional[str], epochs: Optional[int], seed: Optional[int], preset: str,
           device: Optional[str], batch: Optional[int]) -> dict[str, Any]:
    """The study's catalog row, created when new. Settings given for an existing study must
    match it (version, metric, search space); the pruner, trials, epochs, seed, device can change."""
    from cvops.training.presets import get_preset
    from cvops.training.runner import version_task
    from cvops.versions.create import get_version

    version = get_version(ws, version_ref)
    row = study_row(ws, name)
    if row is not None:
        if row["version_id"] != version.id:
            raise ValidationError(f"study {name} tunes version {row['version']}, not {version.name}")
        if metric is not None and resolve_metric(metric)[0] != row["metric"]:
            raise ValidationError(f"study {name} optimizes {row['metric']}; a new metric needs a new study")
        if space is not None and space.to_dict() != row["settings"]["space"]:
            raise ValidationError(f"study {name} was started with another search space; start a new study "
                                  f"(another --study name) to search this one")
        settings = dict(row["settings"])
        settings.update({k: v for k, v in (("pruner", pruner), ("epochs", epochs), ("seed", seed),
                                           ("batch", batch), ("device", device)) if v is not None})
        settings.update(trials=trials)
        with transaction(ws.db):
            ws.db.execute("UPDATE tuning_studies SET settings = ? WHERE id = ?", [json.dumps(settings), row["id"]])
        return {**row, "settings": settings}
    key, direction = resolve_metric(metric or "map50_95")
    if (key.endswith("(M)") or key.endswith("seg_loss")) and version_task(ws, version.id) == "detect":
        raise ValidationError(f"metric {metric} is a mask metric, but version {version.name} has boxes only and "
                              "trains a detector: use map50_95, map50, precision, recall or a box loss")
    chosen = get_preset(preset)
    settings = {"pruner": pruner or "median", "epochs": epochs or chosen.epochs, "preset": preset, "seed": seed,
                "device": device or "auto", "batch": batch, "trials": trials,
                "space": (space or default_space()).to_dict()}
    now = time.time()
    with transaction(ws.db):
        ws.db.execute("INSERT INTO tuning_studies (name, version_id, metric, direction, state, settings, created_at, "
                      "updated_at) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                      [name, version.id, key, direction, json.dumps(settings), now, now])
    return require_study(ws, name)


def run_study(ws: "Workspace", version_ref: Union[int, str], trials: int, *, timeout_s: Optional[float] = None,
              space: Union[SearchSpace, str, "Path", dict, None] = None, metric: Optional[str] = "map50_95",
              pruner: Optional[str] = "median", study: Optional[str] = None, epochs: Optional[int] = None,
              seed: Optional[int] = None, progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None,
              executor: Optional[TrialExecutor] = None, preset: str = "fast", device: Optional[str] = None,
              batch: Optional[int] = None, register: bool = True) -> dict[str, Any]:
    """Run (or resume) a study of ``trials`` finished trials on ``version_ref``; return :func:`show_study`'s dict.

    ``space``: a :class:`SearchSpace`, a file, or a parsed document (default: :func:`default_space`; a resumed study
    keeps its own). ``metric``: a short name (``map50_95``) or a key the runs record; losses are minimized.
    ``pruner``: :data:`PRUNERS`. ``epochs`` per trial (default: the preset's). ``timeout_s``: no trial starts after
    it (the running one finishes). ``cancel`` stops the running trial's run and leaves the study resumable (state
    ``interrupted``). ``executor`` runs the trials (default :class:`LocalExecutor`). ``register``: the best trial
    registers its model at the end (:func:`register_best`). ``metric``, ``pruner``, ``epochs``, ``seed``, ``device``
    and ``batch`` given as None take the study's own (or the defaults, for a new study: ``device`` ``auto``); a
    resumed study keeps its ``preset`` and space, and refuses another version or metric.
    """
    from cvops.catalog.locks import WorkspaceBusy, workspace_lock
    from cvops.versions.create import get_version

    if trials < 1:
        raise ValidationError(f"trials must be at least 1, got {trials}")
    if timeout_s is not None and timeout_s <= 0:
        raise ValidationError(f"timeout must be positive, got {timeout_s} s")
    if pruner is not None and pruner not in PRUNERS:
        raise ValidationError(f"unknown pruner {pruner!r} (choose from {', '.join(PRUNERS)})")
    if metric is not None:
        resolve_metric(metric)
    if study is not None and not _NAME.match(study):
        raise ValidationError(f"study name {study!r}: use letters, digits, '.', '_' and '-' (up to 100)")
    chosen_space = _resolve_space(space)
    deadline = time.monotonic() + timeout_s if timeout_s is not None else None
    name = study or _next_name(ws, get_version(ws, version_ref).name)
    try:
        with workspace_lock(ws.root, exclusive=True, wait=False, name=lock_name(name)):
            row = _start(ws, version_ref, name, trials, chosen_space, metric, pruner, epochs, seed, preset, device,
                         batch)
            return _optimize(ws, row, progress or no_progress, cancel, executor or LocalExecutor(), deadline,
                             register)
    except WorkspaceBusy:
        raise ValidationError(f"study {name} is running in another process; wait for it or stop it") from None


def _optimize(ws: "Workspace", row: dict[str, Any], progress: Progress, cancel: Optional[CancelToken],
              executor: TrialExecutor, deadline: Optional[float], register: bool) -> dict[str, Any]:
    """The trial loop of :func:`run_study`, holding the study's lock."""
    import optuna
    from optuna.trial import TrialState

    from cvops.tuning.report import register_best, show_study

    name, settings = row["name"], row["settings"]
    trials, epochs = int(settings["trials"]), int(settings["epochs"])
    space = parse_space(settings["space"], f"study {name}'s search space")
    store = storage(ws)
    existing = optuna.study.get_all_study_names(store)
    seed = settings["seed"]
    sampler_seed = None if seed is None else int(seed) + len(
        optuna.load_study(study_name=name, storage=store).trials if name in existing else [])
    study = optuna.create_study(storage=store, study_name=name, direction=row["direction"], load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=sampler_seed),
                                pruner=make_pruner(settings["pruner"], trials, epochs))
    if name not in existing:
        for params in space.enqueue:
            study.enqueue_trial(params)
    fail_stale_trials(ws, study)
    _save(ws, name, "running", summarize_trials(study))
    state, failures, last_error = "running", 0, None

    def finished() -> int:
        return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))

    def objective(trial: "optuna.Trial") -> float:
        params = space.suggest(trial)
        done = finished()
        options = _trial_options(settings, row["version"], params, name, trial.number)
        options.update(metric=row["metric"], direction=row["direction"])
        trial_progress = sub_progress(progress, done / trials, (done + 1) / trials)

        reported: set[int] = set()

        def on_epoch(epoch: int, value: Optional[float]) -> bool:
            if epoch not in reported:  # step = epoch - 1: Optuna's pruners count steps from 0
                reported.add(epoch)
                trial.report(math.nan if value is None else value, epoch - 1)
            return trial.should_prune()

        def report(fraction: float, message: str) -> None:
            trial_progress(fraction, f"trial {done + 1}/{trials} (#{trial.number}) · {message}")

        trial.set_user_attr("params", params)
        outcome = executor.run(ws, options, on_epoch, on_start=lambda run_id: trial.set_user_attr("run_id", run_id),
                               progress=report, cancel=cancel)
        trial.set_user_attr("epochs", outcome.epochs)
        if outcome.run_id is not None:
            trial.set_user_attr("run_id", outcome.run_id)
        if outcome.state == "pruned":
            _note_pruned(ws, outcome.run_id, name, trial.number)
            raise optuna.TrialPruned(f"pruned after epoch {outcome.epochs}")
        if outcome.state == "cancelled":
            trial.set_user_attr("interrupted", True)
            raise Cancelled(f"study {name} interrupted during trial {trial.number}")
        if outcome.state != "finished" or outcome.value is None:
            trial.set_user_attr("error", outcome.error)
            raise TrialFailed(outcome.error or "the trial's run failed")
        return float(outcome.value)

    try:
        while True:
            done = finished()
            if done >= trials:
                state = "finished"
                break
            if cancel is not None and cancel.cancelled:
                state = "interrupted"
                break
            if deadline is not None and time.monotonic() >= deadline:
                state = "timeout"
                break
            before = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
            study.optimize(objective, n_trials=1, catch=(TrialFailed,))
            failed_now = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if len(failed_now) > before:
                failures += 1
                last_error = failed_now[-1].user_attrs.get("error")
                if failures >= FAILURES_IN_A_ROW:
                    state = "failed"
                    break
            else:
                failures = 0
            _save(ws, name, "running", summarize_trials(study))
    except (Cancelled, KeyboardInterrupt):
        state = "interrupted"
    except Exception as exc:  # a trial could not even start (the version, the disk): the study stops, resumable
        _save(ws, name, "failed", {**summarize_trials(study), "error": f"{type(exc).__name__}: {exc}"})
        raise
    summary = summarize_trials(study)
    if last_error and state == "failed":
        summary["error"] = f"{FAILURES_IN_A_ROW} trials failed in a row; the last: {last_error}"
    _save(ws, name, state, summary)
    if register and state in ("finished", "timeout") and summary["best_trial"] is not None:
        register_best(ws, name)
    return show_study(ws, name)


def _note_pruned(ws: "Workspace", run_id: Optional[int], study: str, number: int) -> None:
    """Say on the pruned trial's run (cancelled by the study) why it stopped."""
    if run_id is None:
        return
    with transaction(ws.db):
        ws.db.execute("UPDATE runs SET error = ? WHERE id = ?",
                      [f"pruned by tuning study {study} (trial {number})", run_id])
