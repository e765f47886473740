"""Pipelines: ``pipeline init|run|status|history|show|watch|alarm``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from cvops.cli.base import WorkspaceRef, command_options, emit, err, job, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace
    from cvops.pipelines.runner import RunReport

DEFAULT_FILE = "pipeline.yaml"  # in the workspace folder when FILE is not given
STATE_STYLE = {"done": "green", "cached": "cyan", "failed": "red", "cancelled": "yellow", "skipped": "dim",
               "running": "blue"}


@click.group("pipeline")
def pipeline_group() -> None:
    """Pipelines: the loop from new images to a deployed model, as a file of cached steps (docs/pipelines.md)."""


def _file(file: Optional[Path], root: Path) -> Path:
    return file if file is not None else root / DEFAULT_FILE


@pipeline_group.command("init")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@command_options(workspace="ref")
def init_cmd(file: Optional[Path], force: bool, workspace: WorkspaceRef, as_json: bool) -> None:
    """Write a commented default pipeline file to FILE (default: pipeline.yaml in the workspace)."""
    from cvops.pipelines.spec import write_default

    path = write_default(_file(file, workspace.path), force=force)
    if as_json:
        emit({"path": str(path)})
    else:
        out.print(f"wrote {path}; edit it, then: cvops pipeline run {path}")


def _print_run(report: "RunReport", logs: bool = False) -> None:
    from rich.table import Table

    seconds = "" if report.seconds is None else f" in {report.seconds:.2f} s"
    out.print(f"pipeline run {report.id} ({report.name}, {report.path}): "
              f"[{STATE_STYLE.get(report.state, '')}]{report.state}[/]{seconds}")
    table = Table(box=None, pad_edge=False)
    for col in ("#", "step", "state", "seconds", "summary"):
        table.add_column(col)
    for s in report.steps:
        last = s.log.splitlines()[-1] if s.log else ""
        table.add_row(str(s.index), s.kind, f"[{STATE_STYLE.get(s.state, '')}]{s.state}[/]",
                      "" if s.seconds is None else f"{s.seconds:.2f}", last)
    out.print(table)
    decision = report.decision
    if decision is not None:
        out.print(f"gate: {'PROMOTE' if decision['promote'] else 'KEEP THE CHAMPION'}: {decision['reason']}")
        for c in decision["criteria"]:
            mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]n/a[/]"}[c["passed"]]
            out.print(f"  {c['name']}: challenger {c['challenger']}, champion {c['champion']}, "
                      f"threshold {c['threshold']}: {mark}")
    if logs:
        for s in report.steps:
            if s.log:
                out.print(f"[bold]{s.index} {s.kind}[/]")
                out.print(s.log, markup=False, highlight=False)
    if report.error:
        err.print(f"[red]error:[/] {report.error}")


@pipeline_group.command("run")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trigger", default="manual", show_default=True, help="Why the run started (recorded).")
@click.option("--dry-run", is_flag=True,
              help="Run nothing: say which steps are cached and which step would run first, and why.")
@command_options()
def run_cmd(file: Optional[Path], trigger: str, dry_run: bool, ws: Workspace, as_json: bool) -> None:
    """Run the pipeline FILE (default: pipeline.yaml in the workspace): steps whose inputs are unchanged are cached,
    a failed or cancelled run resumes at the step that failed. Ctrl+C cancels after the current step's unit of work.

    Exit code 0 when the run finished (also when the gate kept the champion), 1 when a step failed or the run was
    cancelled, 2 for a bad pipeline file (code pipeline_invalid, naming the key). --dry-run runs nothing and says
    which steps would run.
    """
    from cvops.pipelines.runner import plan, run_pipeline

    if dry_run:
        steps = plan(ws, _file(file, ws.root))
        if as_json:
            emit(steps)
            return
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for col in ("#", "step", "would be", "why"):
            table.add_column(col)
        for s in steps:
            table.add_row(str(s["index"]), s["kind"], s["state"], s["reason"])
        out.print(table)
        return
    with job("pipeline", as_json, library_output=True) as (progress, cancel):
        report = run_pipeline(ws, _file(file, ws.root), trigger=trigger, progress=progress, cancel=cancel)
    if as_json:
        emit(report.to_dict())
    else:
        _print_run(report)
    if report.state != "done":
        sys.exit(1)


@pipeline_group.command("status")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@command_options()
def status_cmd(file: Optional[Path], ws: Workspace, as_json: bool) -> None:
    """The last run of the pipeline FILE (default: pipeline.yaml in the workspace) and its steps."""
    from cvops.pipelines.runner import history

    runs = history(ws, _file(file, ws.root), limit=1)
    if as_json:
        emit(runs[0].to_dict() if runs else None)
    elif runs:
        _print_run(runs[0])
    else:
        out.print("this pipeline has not run yet (cvops pipeline run)")


def _summary(report: "RunReport") -> dict[str, Any]:
    states: dict[str, int] = {}
    for s in report.steps:
        states[s.state] = states.get(s.state, 0) + 1
    decision = report.decision
    return {"id": report.id, "name": report.name, "path": report.path, "trigger": report.trigger,
            "state": report.state, "started_at": report.started_at, "seconds": report.seconds,
            "steps": states, "promote": None if decision is None else decision["promote"],
            "reason": None if decision is None else decision["reason"], "error": report.error}


@pipeline_group.command("history")
@click.option("--file", "file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Only the runs of this pipeline file.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@command_options()
def history_cmd(file: Optional[Path], limit: int, ws: Workspace, as_json: bool) -> None:
    """The latest pipeline runs, newest first, with each gate decision."""
    import datetime

    from rich.table import Table

    from cvops.pipelines.runner import history

    rows = [_summary(r) for r in history(ws, file, limit=limit)]
    if as_json:
        emit(rows)
        return
    table = Table(box=None, pad_edge=False)
    for col in ("run", "started", "name", "trigger", "state", "seconds", "steps", "gate"):
        table.add_column(col)
    for r in rows:
        gate = "" if r["promote"] is None else ("promoted" if r["promote"] else "kept the champion")
        table.add_row(str(r["id"]), datetime.datetime.fromtimestamp(r["started_at"]).strftime("%Y-%m-%d %H:%M"),
                      r["name"], r["trigger"], f"[{STATE_STYLE.get(r['state'], '')}]{r['state']}[/]",
                      "" if r["seconds"] is None else f"{r['seconds']:.1f}",
                      ", ".join(f"{n} {k}" for k, n in r["steps"].items()), gate)
    out.print(table)


@pipeline_group.command("show")
@click.argument("run_id", metavar="RUN", type=int)
@command_options()
def show_cmd(run_id: int, ws: Workspace, as_json: bool) -> None:
    """A pipeline run: every step's state, inputs hash, timings, log, and the gate's decision."""
    from cvops.pipelines.runner import get_run

    report = get_run(ws, run_id)
    if as_json:
        emit(report.to_dict())
    else:
        _print_run(report, logs=True)


def _when(t: Optional[float]) -> str:
    import datetime

    return "" if t is None else datetime.datetime.fromtimestamp(t).strftime("%H:%M:%S")


def _print_event(console: Any, event: dict[str, Any]) -> None:
    import time

    kind = event["event"]
    now = _when(time.time())
    if kind == "watching":
        console.print(f"{now} watching {event['path']}: {', '.join(event['triggers'])} (checks every "
                  f"{event['poll_s']:g} s; Ctrl+C stops)")
    elif kind == "trigger":
        console.print(f"{now} [bold]trigger[/]: {event['reason']}: running the pipeline")
    elif kind == "run":
        decision = event.get("decision")
        gate = "" if decision is None else (" · promoted" if decision["promote"] else " · kept the champion")
        style = STATE_STYLE.get(event["state"], "")
        console.print(f"{now} run {event['run']} [{style}]{event['state']}[/] in {event['seconds']:.1f} s{gate}"
                  + (f" · {event['error']}" if event.get("error") else "") + f" (cvops pipeline show {event['run']})")
    elif kind == "busy":
        console.print(f"{now} [yellow]busy[/]: {event['message']}")
    elif kind == "error":
        console.print(f"{now} [red]error[/]: {event['message']}")
    elif kind == "stopped":
        console.print(f"{now} watch stopped after {event['runs']} run(s)")


@pipeline_group.command("watch")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--min-new", type=click.IntRange(min=1), default=None,
              help="Run when at least N new images wait in the pipeline's ingest folders.")
@click.option("--settle", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="With --min-new: wait until the ingest folders have not changed for this long (a batch being "
                   "copied is not taken half-way).")
@click.option("--every", "every", default=None, metavar="DURATION",
              help="Run on a schedule: 30m, 6h, 1d, 1h30m (since the last run of the file started).")
@click.option("--on-alarm/--ignore-alarms", default=True, show_default=True,
              help="Run when a drift alarm is raised (monitoring, or cvops pipeline alarm).")
@click.option("--poll", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="Seconds between checks of the triggers.")
@click.option("--max-runs", type=click.IntRange(min=1), default=None, help="Stop after N runs (default: never).")
@command_options()
def watch_cmd(file: Optional[Path], min_new: Optional[int], settle: float, every: Optional[str], on_alarm: bool,
              poll: float, max_runs: Optional[int], ws: Workspace, as_json: bool) -> None:
    """Continuous training: run the pipeline FILE whenever new images arrive (--min-new N), on a schedule
    (--every DURATION) or when a drift alarm is raised, in the foreground until Ctrl+C (docs/pipelines.md shows how
    to run it as a service). With --json every event is one JSON line on stdout.

    Exit code 0 when stopped (Ctrl+C, --max-runs), 2 for a bad file or options.
    """
    from cvops.pipelines.watch import DriftAlarm, NewImages, Schedule, Trigger, ingest_folders, parse_duration, watch
    from cvops.pipelines.spec import load
    from cvops.common.errors import ValidationError

    path = _file(file, ws.root)
    pipeline = load(path)
    triggers: list[Trigger] = []
    if min_new is not None:
        if not ingest_folders(pipeline):
            raise ValidationError(f"{path.name}: --min-new needs an ingest step (it counts new images in its folders)")
        triggers.append(NewImages(min_new, settle_s=settle))
    if every is not None:
        triggers.append(Schedule(parse_duration(every)))
    if on_alarm:
        triggers.append(DriftAlarm())
    if min_new is None and every is None and not on_alarm:
        raise ValidationError("nothing to watch: give --min-new N, --every DURATION or leave --on-alarm on")

    from rich.console import Console

    stdout = sys.stdout  # the events go here; library output (Ultralytics) goes to stderr during the runs
    console = Console(file=stdout, highlight=False, soft_wrap=True)

    def on_event(event: dict[str, Any]) -> None:
        if as_json:
            import json

            stdout.write(json.dumps(event, default=str) + "\n")
            stdout.flush()
        else:
            _print_event(console, event)

    import signal

    with job("pipeline", True, library_output=True) as (progress, cancel):
        # a service manager stops the watch with SIGTERM: the same clean stop as Ctrl+C
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: cancel.cancel())
        try:
            watch(ws, path, triggers, poll_s=poll, cancel=cancel, progress=progress, on_event=on_event,
                  max_runs=max_runs)
        finally:
            signal.signal(signal.SIGTERM, previous)



@pipeline_group.command("alarm")
@click.argument("message")
@click.option("--source", default="manual", show_default=True, help="Who raises it (monitoring, a camera, ...).")
@command_options()
def alarm_cmd(message: str, source: str, ws: Workspace, as_json: bool) -> None:
    """Raise a drift alarm: the watches of this workspace (cvops pipeline watch, --on-alarm) run their pipeline."""
    from cvops.pipelines.watch import raise_alarm

    path = raise_alarm(ws, source, message)
    if as_json:
        emit({"alarm": str(path), "source": source, "message": message})
    else:
        out.print(f"alarm raised ({path.name}); a watch with --on-alarm runs its pipeline at its next check")


COMMANDS = (pipeline_group,)
