"""Hyperparameter tuning: ``tune`` (run or resume a study), ``tune show``, ``tune list``, ``tune register``."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from cvops.cli.base import WorkspaceRef, command_options, emit, fmt_value, job, out, ray_cluster
from cvops.training.presets import PRESETS

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

PRUNER_CHOICES = ("median", "hyperband", "none")  # cvops.tuning.study.PRUNERS, without importing the core
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1h30m`` or plain seconds (``600``) in seconds; a usage error otherwise."""
    text = text.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION.match(text)
        if not text or match is None or not any(match.groups()):
            raise click.BadParameter(f"{text!r} is not a duration (e.g. 90s, 30m, 2h, 1h30m)",
                                     param_hint="--timeout") from None
        hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise click.BadParameter("the timeout must be positive", param_hint="--timeout")
    return seconds


def _duration_option(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[float]:
    return None if value is None else parse_duration(value)


@click.group("tune", invoke_without_command=True)
@click.option("--version", "version_ref", default=None, help="Dataset version to tune on (name or id).")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Finished trials (complete or pruned) the study should have in total; a resumed study runs the "
                   "missing ones.")
@click.option("--timeout", "timeout_s", default=None, callback=_duration_option, metavar="DURATION",
              help="Start no trial after this long (90s, 30m, 2h); the running trial finishes.")
@click.option("--space", "space_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Search space file (YAML or JSON; default: the built-in space, see --print-space).")
@click.option("--metric", default=None,
              help="Metric to optimize: map50_95 (default), map50, precision, recall or a key the runs record "
                   "(val/box_loss, ...; losses are minimized).")
@click.option("--pruner", type=click.Choice(PRUNER_CHOICES), default=None,
              help="Stop bad trials early: median (default), hyperband or none.")
@click.option("--study", "study_name", default=None,
              help="Study name: resumes the study if it exists (default: a new <version>-tune-N).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs per trial (default: the preset's).")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="fast", show_default=True,
              help="Training preset the trials start from; the space's values replace its own.")
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Batch size (default: the preset's).")
@click.option("--seed", type=int, default=None, help="Seed of the sampler and the trainings (default: 0 for training).")
@click.option("--device", default=None,
              help="auto (CUDA, then MPS, then CPU; the default), cpu, 0, ... (a resumed study: its own).")
@click.option("--no-register", is_flag=True, help="Do not register the best trial's model at the end.")
@click.option("--print-space", is_flag=True, help="Print the default search space file (to copy and edit) and exit.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Train the trials on the Ray cluster at ADDRESS; the study stays here (docs/scale-out.md).")
@click.option("--gpus-per-trial", type=click.FloatRange(min=0), default=0, show_default=True,
              help="With --ray: GPUs each trial's training takes on its node.")
@command_options(workspace="ref")
@click.pass_context
def tune(ctx: click.Context, version_ref: Optional[str], trials: Optional[int], timeout_s: Optional[float],
         space_file: Optional[Path], metric: Optional[str], pruner: Optional[str], study_name: Optional[str],
         epochs: Optional[int], preset: str, batch: Optional[int], seed: Optional[int], device: Optional[str],
         no_register: bool, print_space: bool, ray_address: Optional[str], gpus_per_trial: float,
         workspace: WorkspaceRef, as_json: bool) -> None:
    """Tune hyperparameters with Optuna: each trial a supervised training run, bad trials pruned early.

    cvops tune --version V --trials N runs a study (stored in the workspace, tuning/studies.db); the same command
    with --study NAME resumes it after Ctrl+C or a crash, without repeating finished trials. At the end the best
    trial registers a model whose lineage names the study and trial. See docs/tuning.md. Exit code 1 when the study
    was interrupted or failed.
    """
    if ctx.invoked_subcommand is not None:
        return
    from cvops.tuning.space import DEFAULT_SPACE_YAML

    if print_space:
        click.echo(DEFAULT_SPACE_YAML, nl=False)
        return
    if version_ref is None and study_name is None:
        raise click.UsageError("give --version V (and --trials N) to start a study, or --study NAME to resume one")
    if ray_address:
        from cvops.scaleout.cluster import require_ray

        require_ray()  # before any work: say how to install Ray
    ws = workspace.open()
    from cvops.tuning import load_space, run_study
    from cvops.tuning.records import study_row

    space = load_space(space_file) if space_file is not None else None  # validated before anything runs
    existing = study_row(ws, study_name) if study_name else None
    if existing is None and version_ref is None:
        raise click.UsageError(f"no study {study_name!r} yet: give --version V to start it")
    if trials is None:
        if existing is None:
            raise click.UsageError("give --trials N: how many finished trials the study should have")
        trials = int(existing["settings"]["trials"])
    version = version_ref or (existing["version"] if existing else "")
    executor = None
    if ray_address:
        from cvops.scaleout.training import RayExecutor
        from cvops.tuning import LocalExecutor

        executor = RayExecutor(ray_address, LocalExecutor(), gpus=gpus_per_trial)
    with job("tune", as_json, library_output=True) as (progress, cancel), ray_cluster(ray_address):
        result = run_study(ws, version, trials, timeout_s=timeout_s, space=space, metric=metric, pruner=pruner,
                           study=study_name, epochs=epochs, seed=seed, progress=progress, cancel=cancel,
                           preset=preset, device=device, batch=batch, register=not no_register, executor=executor)
    if as_json:
        emit(result)
    else:
        _print_study(result)
        if result["state"] == "interrupted":
            out.print(f"[yellow]interrupted: resume with cvops tune --study {result['name']}[/]")
    if result["state"] in ("interrupted", "failed"):
        sys.exit(1)


def _value(value: Any) -> str:
    return fmt_value(value, 4)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={_value(v) if isinstance(v, float) else v}" for k, v in params.items())


def _print_study(s: dict[str, Any]) -> None:
    from rich.table import Table

    counts = s["counts"]
    out.print(f"[bold]study {s['name']}[/] {s['state']} · version {s['version']} · {s['direction']} {s['metric']} · "
              f"pruner {s['pruner']} · {s['finished']}/{s['trials_target']} trials finished "
              f"({counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed) · "
              f"{s['epochs_run']} epochs run, {s['epochs_saved']} saved by pruning")
    if s.get("error"):
        out.print(f"[red]{s['error']}[/]")
    table = Table("trial", "state", "value", "epochs", "run", "duration", "params")
    for t in s["trials"]:
        state = "interrupted" if t["interrupted"] else "queued" if t["state"] == "waiting" else t["state"]
        table.add_row(str(t["number"]), state, _value(t["value"]), str(t["epochs"]), str(t["run_id"] or "-"),
                      "-" if t["duration_s"] is None else f"{t['duration_s']:.0f} s", _params(t["params"]))
    out.print(table)
    best = s["best"]
    if best is None:
        out.print("no complete trial yet")
    else:
        out.print(f"best: trial {best['number']} {s['metric']} {_value(best['value'])} (run {best['run_id']}, "
                  f"model {best['model'] or 'not registered: cvops tune register ' + s['name']}): "
                  f"{_params(best['params'])}")
    if s["importances"]:
        out.print("importances: " + "  ".join(f"{k} {v:.2f}" for k, v in s["importances"].items()))
    else:
        out.print(s["importances_note"])


@tune.command("show")
@click.argument("study")
@command_options()
def tune_show(study: str, ws: Workspace, as_json: bool) -> None:
    """Show STUDY: best parameters and value, every trial (state, value, params, epochs, run, duration) and the
    parameter importances."""
    from cvops.tuning import show_study

    data = show_study(ws, study)
    if as_json:
        emit(data)
    else:
        _print_study(data)


@tune.command("list")
@command_options()
def tune_list(ws: Workspace, as_json: bool) -> None:
    """List the workspace's studies, newest first."""
    from rich.table import Table

    from cvops.tuning import list_studies

    items = list_studies(ws)
    if as_json:
        emit(items)
        return
    if not items:
        out.print("no tuning studies yet (cvops tune --version V --trials N)")
        return
    table = Table("study", "version", "state", "metric", "trials", "pruned", "best", "value", "model")
    for s in items:
        table.add_row(s["name"], s["version"], s["state"], f"{s['metric']} ({s['direction'][:3]})",
                      f"{s['finished']}/{s['trials']}", str(s["counts"].get("pruned", 0)),
                      str(s["best_trial"] if s["best_trial"] is not None else "-"), _value(s["best_value"]),
                      s["best_model"] or "-")
    out.print(table)


@tune.command("register")
@click.argument("study")
@command_options()
def tune_register(study: str, ws: Workspace, as_json: bool) -> None:
    """Register the model of STUDY's best trial (done at the end of a study unless --no-register); its lineage
    names the study and the trial."""
    from cvops.tuning import register_best

    model = register_best(ws, study)
    if as_json:
        emit(model)
    else:
        tuning = model["params"].get("tuning", {})
        out.print(f"model {model['name']}: best trial {tuning.get('trial')} of study {study} "
                  f"(run {model['run_id']}); cvops models show {model['name']}")


COMMANDS: tuple[click.Command, ...] = (tune,)
