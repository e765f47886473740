"""Training and models: ``train``, ``runs ...``, ``models ...``, ``weights ...`` and ``evaluate``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from cvops.cli.base import command_options, emit, err, fmt_value, job, out, ray_cluster
from cvops.training.presets import PRESETS

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


def _delta(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:+.3f}"


@click.command("train")
@click.option("--version", "version_ref", default=None, help="Dataset version to train on (name or id).")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="fast", show_default=True,
              help="Model size, image size, epochs, patience and augmentation (see docs/training.md).")
@click.option("--model", "model", default=None, help="Architecture YAML instead of the preset's, e.g. yolo11s.yaml.")
@click.option("--weights", default=None,
              help="Start from weights of the library (cvops weights list) by name, or a local .pt file; nothing is "
                   "downloaded.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the preset's epochs.")
@click.option("--imgsz", type=click.IntRange(min=32), default=None, help="Override the preset's image size.")
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Override the preset's batch size.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA, then MPS, then CPU), cpu, 0 or 0,1.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (deterministic training).")
@click.option("--resume", "resume_run", type=int, default=None, help="Continue a cancelled or failed run.")
@click.option("--task", type=click.Choice(["detect", "segment"]), default=None,
              help="Train a detector or a segmentation model (default: what the version's shapes support best; "
                   "a detector on polygons learns each object's box).")
@click.option("--from-study", "from_study", default=None, metavar="STUDY",
              help="Train with the best parameters of tuning study STUDY (cvops tune show STUDY); options given "
                   "here replace the study's.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Train on a node of the Ray cluster at ADDRESS (host:port or ray://host:port; docs/scale-out.md).")
@click.option("--gpus", type=click.FloatRange(min=0), default=0, show_default=True,
              help="With --ray: GPUs the run takes on its node.")
@click.option("--ray-data", type=click.Choice(["auto", "ship", "shared"]), default="auto", show_default=True,
              help="With --ray: read the version's data from the same path on the node (shared), ship it through the "
                   "object store (ship), or ship it only when the node does not see it (auto).")
@command_options()
def train_cmd(version_ref: Optional[str], preset: str, model: Optional[str], weights: Optional[str],
              epochs: Optional[int], imgsz: Optional[int], batch: Optional[int], device: str, seed: int,
              resume_run: Optional[int], task: Optional[str], from_study: Optional[str], ray_address: Optional[str],
              gpus: float, ray_data: str, ws: Workspace, as_json: bool) -> None:
    """Train a model on a dataset version in a supervised child process; Ctrl+C cancels keeping the checkpoint.

    A finished run registers a model with its lineage (cvops models show). Training from scratch on real photographs
    warns before it starts (JSON: "warnings"). Exit code 1 when the run failed or was cancelled.
    """
    from cvops.models.registry import model_for_run
    from cvops.training.runner import choose_task, resume, run_result, start_run, supervise
    from cvops.versions.create import get_version

    tuned: dict[str, Any] = {}
    if from_study is not None:
        from cvops.tuning import best_train_options

        tuned = best_train_options(ws, from_study)
        given = click.get_current_context().get_parameter_source
        version_ref = version_ref or tuned["version_ref"]
        preset = preset if given("preset") != click.core.ParameterSource.DEFAULT else tuned["preset"]
        seed = seed if given("seed") != click.core.ParameterSource.DEFAULT else tuned["seed"]
        epochs, imgsz, batch, model = (epochs or tuned["epochs"], imgsz or tuned["imgsz"], batch or tuned["batch"],
                                       model or tuned["model"])
    if resume_run is None and version_ref is None:
        raise click.UsageError("give --version V to train, or --resume RUN to continue a run")
    if ray_address:
        from cvops.scaleout.cluster import require_ray

        require_ray()  # before any work: say how to install Ray
    why = None
    with job("train", as_json) as (progress, cancel), ray_cluster(ray_address) as spawner_args:
        spawner = None
        if spawner_args is not None:
            from cvops.scaleout.training import ray_spawner

            spawner = ray_spawner(spawner_args, gpus=gpus, data=ray_data)
        if resume_run is not None:
            result = resume(ws, resume_run, epochs=epochs, progress=progress, cancel=cancel, spawner=spawner)
        else:
            chosen, why = choose_task(ws, get_version(ws, version_ref or "").id, task)
            run_id = start_run(ws, version_ref or "", preset=preset, epochs=epochs, imgsz=imgsz, batch=batch,
                               device=device, seed=seed, weights=weights, model=model, task=task,
                               hyperparameters=tuned.get("hyperparameters"), tuning=tuned.get("tuning"),
                               spawner=spawner)
            for warning in run_result(ws, run_id).warnings:  # on stderr, so that stdout holds only the JSON report
                (err if as_json else out).print(f"[yellow]warning:[/] {warning}")
            if not as_json:
                out.print(f"run {run_id} started: task {chosen} ({why}) "
                          f"(log: {ws.root / 'runs' / f'run-{run_id:04d}' / 'train.log'})")
            result = supervise(ws, run_id, progress=progress, cancel=cancel)
    registered = model_for_run(ws, result.run_id)
    if as_json:
        emit({**result.to_dict(), "task_reason": why, "model": registered.to_dict() if registered else None})
    else:
        from cvops.training.history import summarize

        head = summarize(registered.metrics if registered else result.metrics)
        out.print(f"run {result.run_id} {result.state} after {result.epochs_done} epochs: "
                  + "  ".join(f"{k} {fmt_value(v)}" for k, v in head.items()))
        if registered:
            out.print(f"registered model {registered.name} ({registered.weights_sha256[:12]}); "
                      f"cvops models show {registered.name}")
        if result.error:
            out.print(f"[red]{result.error}[/]")
    if result.state != "finished":
        sys.exit(1)


@click.group()
def runs() -> None:
    """Training runs: list, show, compare, cancel."""


@runs.command("list")
@command_options()
def runs_list(ws: Workspace, as_json: bool) -> None:
    """List training runs, newest first, with their headline metrics."""
    from rich.table import Table

    from cvops.training.history import list_runs

    items = list_runs(ws)
    if as_json:
        emit(items)
        return
    table = Table("run", "state", "version", "preset", "epochs", "mAP50", "mAP50-95", "model", "device")
    for r in items:
        table.add_row(str(r["run_id"]), r["state"], r["version"], r["preset"] or "-",
                      f"{r['epochs_done']}/{r['epochs']}", fmt_value(r["metrics"]["map50"]),
                      fmt_value(r["metrics"]["map50_95"]), r["model"] or "-", r["device"])
    out.print(table)


@runs.command("show")
@click.argument("run_id", type=int)
@command_options()
def runs_show(run_id: int, ws: Workspace, as_json: bool) -> None:
    """Show one run: settings, environment, per-epoch metrics and, if it failed, the end of its log."""
    from rich.table import Table

    from cvops.training.history import SUMMARY_KEYS, get_run

    r = get_run(ws, run_id)
    if as_json:
        emit(r)
        return
    out.print(f"[bold]run {r['run_id']}[/] {r['state']} · version {r['version']} · {r['task'] or '-'} · "
              f"{r['architecture']} · preset {r['preset']} · device {r['device']} · seed {r['seed']}")
    env = r["environment"]
    if env:
        out.print(f"  python {env.get('python')} torch {env.get('torch')} ultralytics {env.get('ultralytics')} "
                  f"cuda {env.get('cuda') or '-'} on {env.get('device_name')}"
                  + (f" (Ray node {env['ray']['hostname']}, {env['ray']['node_ip']}, cluster {env['ray']['address']})"
                     if env.get("ray") else ""))
    table = Table("epoch", "box loss", *SUMMARY_KEYS)
    for e in r["epochs_table"]:
        table.add_row(str(e["epoch"]), fmt_value(e.get("train/box_loss")),
                      *(fmt_value(e.get(k)) for k in SUMMARY_KEYS.values()))
    out.print(table)
    if r["model"]:
        out.print(f"  model {r['model']}")
    if r["error"]:
        out.print(f"[red]{r['error']}[/]")
        if r["log_tail"]:
            out.print(r["log_tail"])


@runs.command("compare")
@click.argument("run_ids", nargs=-1, type=int, required=True)
@command_options()
def runs_compare(run_ids: tuple[int, ...], ws: Workspace, as_json: bool) -> None:
    """Compare runs: metrics table, per-class AP deltas against the first run, differing hyperparameters."""
    from rich.table import Table

    from cvops.training.history import compare_runs

    c = compare_runs(ws, list(run_ids))
    if as_json:
        emit(c)
        return
    heads = [f"run {r['run_id']}" for r in c["runs"]]
    table = Table("metric", *heads, title="metrics (Δ vs the first run)")
    for key, values in c["metrics"].items():
        table.add_row(key, *(f"{fmt_value(v)} ({_delta(d)})" if i else fmt_value(v)
                             for i, (v, d) in enumerate(zip(values, c["metric_deltas"][key]))))
    out.print(table)
    table = Table("class", *heads, title="per-class AP50 (Δ vs the first run)")
    for row in c["per_class_ap"]:
        table.add_row(row["class"], *(f"{fmt_value(v)} ({_delta(d)})" if i else fmt_value(v)
                                      for i, (v, d) in enumerate(zip(row["ap50"], row["delta_ap50"]))))
    out.print(table)
    table = Table("hyperparameter", *heads, title="hyperparameters that differ")
    for key, values in c["hyperparameters"].items():
        table.add_row(key, *(str(v) for v in values))
    out.print(table)


@runs.command("cancel")
@click.argument("run_id", type=int)
@command_options(json=False)
def runs_cancel(run_id: int, ws: Workspace) -> None:
    """Ask a running run (started by any process) to stop after its current batch, keeping its checkpoint."""
    from cvops.training.runner import cancel_run

    cancel_run(ws, run_id)
    out.print(f"asked run {run_id} to stop; cvops train --resume {run_id} continues it")


@click.group()
def models() -> None:
    """The model registry: list, show lineage, promote the champion."""


@models.command("list")
@command_options()
def models_list(ws: Workspace, as_json: bool) -> None:
    """List registered models (★ marks the champion)."""
    from rich.table import Table

    from cvops.models.registry import QUALITY_FLOOR, list_models
    from cvops.training.history import summarize

    items = list_models(ws)
    if as_json:
        emit([m.to_dict() for m in items])
        return
    table = Table("", "model", "task", "version", "run", "architecture", "mAP50", "mAP50-95", "sha256")
    for m in items:
        head = summarize(m.metrics)
        low = " [red]below floor[/]" if m.below_floor else ""
        table.add_row("★" if m.champion else "", m.name, m.task, m.version_name, str(m.run_id or "-"),
                      Path(m.architecture).name, fmt_value(head["map50"]), fmt_value(head["map50_95"]) + low,
                      m.weights_sha256[:12])
    out.print(table)
    if any(m.below_floor for m in items):
        out.print(f"below floor: mAP50-95 at training < {QUALITY_FLOOR} (the export gate fails such a model)")


@models.command("show")
@click.argument("model_ref")
@command_options()
def models_show(model_ref: str, ws: Workspace, as_json: bool) -> None:
    """Show a model's full lineage: data version, classes, hyperparameters, environment, metrics, weights."""
    from cvops.models.registry import lineage
    from cvops.training.history import summarize

    chain = lineage(ws, model_ref)
    m = chain[0]
    library = _library_weights_of_run(ws, m.run_id)
    if as_json:
        emit({**m.to_dict(), "lineage": [x.name for x in chain], "base_weights_library": library})
        return
    out.print(f"[bold]{m.name}[/]{' ★ champion' if m.champion else ''} · {m.task} · trained by run {m.run_id}")
    out.print(f"  data      version {m.version_name} ({m.version_hash[:12]}), classes "
              + ", ".join(c["name"] for c in m.classes))
    out.print(f"  started   {m.architecture}" + (f" from {m.base_weights} ({(m.base_weights_sha256 or '')[:12]})"
                                                  if m.base_weights else " (random initialisation)"))
    if library:
        origin = library.get("lineage", {})
        out.print(f"  weights   library entry {library['name']}"
                  + (" (since removed)" if library.get("removed") else f": {library['architecture']}")
                  + (f", model {origin['model']} of {origin['workspace']} (version {origin.get('version')})"
                     if origin.get("model") else ""))
    if len(chain) > 1:
        out.print("  lineage   " + " ← ".join(x.name for x in chain))
    p = m.params
    out.print(f"  params    preset {m.preset} epochs {p.get('epochs')} imgsz {p.get('imgsz')} batch {p.get('batch')} "
              f"optimizer {p.get('optimizer')} lr0 {p.get('lr0')} seed {m.seed}")
    if p.get("tuning"):
        t = p["tuning"]
        how = "trained with the best parameters of" if t.get("best") else "a trial of"
        out.print(f"  tuning    {how} study {t.get('study')} (trial {t.get('trial')}); "
                  f"cvops tune show {t.get('study')}")
    env = m.environment
    out.print(f"  env       python {env.get('python')} torch {env.get('torch')} ultralytics {env.get('ultralytics')} "
              f"cuda {env.get('cuda') or '-'} on {env.get('device_name')}")
    out.print("  metrics   " + "  ".join(f"{k} {fmt_value(v)}" for k, v in summarize(m.metrics).items()))
    out.print(f"  weights   {m.weights} sha256 {m.weights_sha256}")


def _library_weights_of_run(ws: Any, run_id: Optional[int]) -> Optional[dict[str, Any]]:
    """The weights library entry a run started from (``{"name", "removed": True}`` once removed), or None."""
    from cvops.models.weights import find_weights

    row = ws.db.execute("SELECT weights_name FROM runs WHERE id = ?", [run_id]).fetchone() if run_id else None
    if not row or not row[0]:
        return None
    entry = find_weights(ws, row[0])
    return entry.to_dict() if entry else {"name": row[0], "removed": True}


@models.command("promote")
@click.argument("model_ref")
@command_options()
def models_promote(model_ref: str, ws: Workspace, as_json: bool) -> None:
    """Make MODEL the champion: the model pre-labeling and deployment offer first."""
    from cvops.models.registry import promote

    m = promote(ws, model_ref)
    if as_json:
        emit(m.to_dict())
    else:
        out.print(f"{m.name} is now the champion")


@models.command("timeline")
@command_options()
def models_timeline(ws: Workspace, as_json: bool) -> None:
    """The champion's timeline: which model served when, promoted by whom, and its deployments meanwhile."""
    import datetime

    from rich.table import Table

    from cvops.models.registry import champion_timeline

    spans = champion_timeline(ws)
    if as_json:
        emit([s._asdict() for s in spans])
        return
    if not spans:
        out.print("no champion yet (cvops models promote MODEL, or a pipeline's promote step)")
        return

    def when(t: Optional[float]) -> str:
        return "now" if t is None else datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")

    table = Table(box=None, pad_edge=False)
    for col in ("model", "from", "until", "by", "mAP50-95", "deployed to"):
        table.add_column(col)
    for s in spans:
        table.add_row(s.model, when(s.since), when(s.until), s.by,
                      "—" if s.map50_95 is None else f"{s.map50_95:.3f}",
                      ", ".join(sorted({d["target"] for d in s.deployments if d["ok"]})) or "—")
    out.print(table)


@click.group()
def weights() -> None:
    """The weights library: pretrained checkpoints (and models of other workspaces) to start training from."""


@weights.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Library name (default: the file name without .pt, e.g. yolo11n).")
@command_options()
def weights_add(file: Path, name: Optional[str], ws: Workspace, as_json: bool) -> None:
    """Check that FILE is an Ultralytics checkpoint and copy it into the library; then train with --weights NAME.

    The file is read without running code from it. Exit code 2 when it is missing or not an Ultralytics checkpoint,
    or NAME is taken by other weights; adding the same file again reports the existing entry.
    """
    from cvops.models.weights import add_weights

    with contextlib.redirect_stdout(sys.stderr):  # Ultralytics' first-use notices: stdout holds only the report
        entry, added = add_weights(ws, file, name=name)
    if as_json:
        emit({**entry.to_dict(), "added": added})
    elif added:
        out.print(f"added weights {entry.name}: {entry.describe()} · sha256 {entry.sha256[:12]}; "
                  f"cvops train --weights {entry.name}")
    else:
        out.print(f"{file} is already in the library as {entry.name} ({entry.describe()})")


@weights.command("list")
@command_options()
def weights_list(ws: Workspace, as_json: bool) -> None:
    """List the library: name, architecture, task, classes, image size, sha256 and the runs started from each."""
    from rich.table import Column, Table

    from cvops.models.weights import list_weights

    items = list_weights(ws)
    if as_json:
        emit([w.to_dict() for w in items])
        return
    table = Table(Column("name", no_wrap=True), "architecture", "task", "classes", "imgsz", "MB", "sha256", "runs",
                  "from")
    for w in items:
        origin = w.lineage.get("model")
        table.add_row(w.name, w.architecture, w.task, str(len(w.classes)), str(w.imgsz or "-"),
                      f"{w.size_bytes / 1e6:.1f}", w.sha256[:12], ", ".join(map(str, w.used_by)) or "-",
                      f"{origin} of {w.lineage['workspace']}" if origin else Path(w.source).name)
    out.print(table)


@weights.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help="Remove even when runs started from these weights (their lineage keeps "
                                            "the name and sha256).")
@command_options()
def weights_remove(name: str, force: bool, ws: Workspace, as_json: bool) -> None:
    """Remove NAME and its file from the library; refused (exit 2) while runs started from it, unless --force, and
    always while such a run is still going."""
    from cvops.models.weights import remove_weights

    entry = remove_weights(ws, name, force=force)
    if as_json:
        emit({**entry.to_dict(), "removed": True})
    else:
        out.print(f"removed weights {entry.name} ({entry.sha256[:12]})")


@click.command("evaluate")
@click.argument("model_ref")
@click.option("--version", "version_ref", default=None, help="Version to evaluate on (default: the model's own).")
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--device", default="cpu", show_default=True, help="cpu, 0, ...")
@click.option("--benchmark", "benchmark_ref", default=None, metavar="NAME",
              help="Evaluate on benchmark NAME's frozen images (instead of --version/--split); ranks the model on its "
                   "leaderboard.")
@command_options()
def evaluate_cmd(model_ref: str, version_ref: Optional[str], split: str, device: str, benchmark_ref: Optional[str],
                 ws: Workspace, as_json: bool) -> None:
    """Evaluate any model on any version's split, or on a benchmark set: mAP, per-class precision/recall/AP,
    confusion matrix, errors."""
    from rich.table import Table

    if benchmark_ref is not None:
        source = click.get_current_context().get_parameter_source
        if version_ref is not None or source("split") != click.core.ParameterSource.DEFAULT:
            raise click.UsageError("--benchmark takes its images from the benchmark: drop --version and --split")
        from cvops.benchmarks.sets import evaluate_benchmark

        with job("evaluate", as_json, library_output=True) as (progress, cancel):
            result = evaluate_benchmark(ws, model_ref, benchmark_ref, device=device, progress=progress,
                                        cancel=cancel)
        split = f"benchmark {benchmark_ref}"
    else:
        from cvops.models.evaluation import evaluate

        with job("evaluate", as_json, library_output=True) as (progress, cancel):
            result = evaluate(ws, model_ref, version_ref, split=split, device=device, progress=progress,
                              cancel=cancel)
    data = {**result.to_dict(), **({"benchmark": benchmark_ref} if benchmark_ref is not None else {})}
    if as_json:
        emit(data)
        return
    out.print(f"evaluation {data['id']}: model {model_ref} on {split} ({data['images']} images): "
              f"mAP50 {fmt_value(data['map50'])}  mAP50-95 {fmt_value(data['map50_95'])}  "
              f"precision {fmt_value(data['precision'])}  recall {fmt_value(data['recall'])}")
    settings = data["settings"]
    out.print(f"  settings: conf {settings['conf']}, NMS IoU {settings['iou']}, imgsz {settings['imgsz']}, "
              f"{settings['backend']}; matching {settings['matching']} (why this can differ a little from the "
              "training figure: docs/training.md, Evaluation)")
    table = Table("class", "instances", "precision", "recall", "AP50", "AP50-95")
    for c in data["per_class"]:
        table.add_row(str(c["name"]), str(c["instances"]), fmt_value(c["precision"]), fmt_value(c["recall"]),
                      fmt_value(c["ap50"]), fmt_value(c["ap"]))
    out.print(table)
    if data.get("unknown_classes"):
        out.print(f"[yellow]classes the model does not know (counted as misses): {data['unknown_classes']}[/]")


COMMANDS: tuple[click.Command, ...] = (train_cmd, runs, models, weights, evaluate_cmd)
