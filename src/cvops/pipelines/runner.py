"""Running a pipeline: each step is a job (progress, cancel token) calling the core, cached on its inputs' content
hash and recorded in the catalog (``pipeline_runs``, ``pipeline_steps``).

Before a step runs, its inputs are gathered and hashed: for ingest the files of its folders (path, size, mtime),
for check and version the workspace's data (images' sha256 and status, annotations, classes), for train the
version's content hash and the training settings (and the starting weights' sha256), for evaluate the models'
weights sha256 and the version's content hash, for export the model's sha256, for verify and bundle the exports',
for deploy the bundle's. When the last successful record of that step of the same file has the same input hash and
its outputs still exist, the step is ``cached``: its recorded outputs are reused and nothing runs (as DVC's
``repro``). So a failed or cancelled run resumes at the step that failed: the steps before it are cached.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cvops.catalog.db import transaction
from cvops.catalog.locks import WorkspaceBusy, workspace_lock
from cvops.common.errors import CvopsError, NotFoundError
from cvops.common.jobs import CancelToken, Cancelled, Progress, no_progress, process_alive, sub_progress
from cvops.pipelines.spec import Pipeline, Step, file_key, load
from cvops.pipelines.context import LastSuccess, StepContext, StepFailed, hash_inputs
from cvops.pipelines.steps import STEPS

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

LOG_LINES = 200


class PipelineBusy(CvopsError):
    """Another run of the same pipeline file is in progress (in this process or another)."""

    code = "pipeline_busy"
    exit_code = 1


@dataclass
class StepRecord:
    """One step of a run as recorded: ``state`` running, done, cached, failed, cancelled or skipped."""

    index: int
    kind: str
    state: str
    input_hash: Optional[str] = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    seconds: Optional[float] = None
    log: str = ""
    decision: Optional[dict[str, Any]] = None


@dataclass
class RunReport:
    """A pipeline run and its steps."""

    id: int
    name: str
    path: str
    file_hash: str
    trigger: str
    state: str
    started_at: float
    finished_at: Optional[float]
    error: Optional[str]
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def seconds(self) -> Optional[float]:
        """Wall time of the run (None while it runs)."""
        return None if self.finished_at is None else round(self.finished_at - self.started_at, 3)

    @property
    def decision(self) -> Optional[dict[str, Any]]:
        """The gate's decision in this run, if a gate step ran (or was cached)."""
        return next((s.decision for s in self.steps if s.decision is not None), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["seconds"] = self.seconds
        out["decision"] = self.decision
        return out


# -- the catalog records -------------------------------------------------------------------------------------------
def _last_record(ws: "Workspace", path: str, step: Step, successful: bool) -> Optional[LastSuccess]:
    """The step's last record in a run of the same file: its last successful one, or (``successful`` False) its last
    whatever its state (a killed run left it ``running``)."""
    done = "AND s.state IN ('done', 'cached') " if successful else ""
    row = ws.db.execute(
        "SELECT s.input_hash, s.outputs, s.run_id, s.log, s.inputs, s.state FROM pipeline_steps s "
        "JOIN pipeline_runs r ON r.id = s.run_id WHERE r.path = ? AND s.step_index = ? AND s.kind = ? "
        f"{done}ORDER BY s.id DESC LIMIT 1", [path, step.index, step.kind]).fetchone()
    return LastSuccess(row[0], json.loads(row[1]), row[2], row[3], json.loads(row[4]), row[5]) if row else None


def _prepare(ctx: StepContext, step: Step) -> tuple[dict[str, Any], str, bool]:
    """Gather and hash the step's inputs (setting ``ctx.last`` and ``ctx.attempt``): ``(inputs, hash, cached)``,
    cached when its last success had the same hash and its outputs still hold."""
    key = str(ctx.pipeline.path)
    last = ctx.last = _last_record(ctx.ws, key, step, successful=True)
    ctx.attempt = _last_record(ctx.ws, key, step, successful=False)
    inputs_fn, _, valid_fn = STEPS[step.kind]
    inputs = inputs_fn(ctx, step.settings)
    digest = hash_inputs({"kind": step.kind, "inputs": inputs})
    return inputs, digest, last is not None and last.input_hash == digest and valid_fn(ctx, last.outputs)


def _save_step(ws: "Workspace", run_id: int, rec: StepRecord) -> None:
    with transaction(ws.db):
        ws.db.execute(
            "INSERT OR REPLACE INTO pipeline_steps (run_id, step_index, kind, input_hash, inputs, outputs, state, "
            "started_at, finished_at, seconds, log, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, rec.index, rec.kind, rec.input_hash, json.dumps(rec.inputs, default=str),
             json.dumps(rec.outputs, default=str), rec.state, rec.started_at, rec.finished_at, rec.seconds, rec.log,
             None if rec.decision is None else json.dumps(rec.decision)])


def _finish_run(ws: "Workspace", run_id: int, state: str, error: Optional[str]) -> None:
    with transaction(ws.db):
        ws.db.execute("UPDATE pipeline_runs SET state = ?, finished_at = ?, error = ? WHERE id = ?",
                      [state, time.time(), error, run_id])


def _running_run(ws: "Workspace", key: str) -> str:
    row = ws.db.execute("SELECT id, pid FROM pipeline_runs WHERE path = ? AND state = 'running' ORDER BY id DESC "
                        "LIMIT 1", [key]).fetchone()
    return f" (run {row[0]}, process {row[1]})" if row else ""


def run_pipeline(ws: "Workspace", path: Path, trigger: str = "manual", progress: Optional[Progress] = None,
                 cancel: Optional[CancelToken] = None) -> RunReport:
    """Run the pipeline file ``path`` on the workspace and record the run; see the module doc.

    Returns the run's report: state ``done`` (also when the gate rejected the challenger: the steps after the gate
    are then ``skipped``), ``failed`` (the failed step says why) or ``cancelled``. Raises
    :class:`~cvops.pipelines.spec.PipelineInvalid` for a bad file and :class:`PipelineBusy` while another run of
    the same file is in progress (nothing is recorded for either).
    """
    pipeline = load(Path(path))
    key = str(pipeline.path)
    lock = f"pipeline-{file_key(pipeline.path)}.lock"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(workspace_lock(ws.root, exclusive=True, wait=False, name=lock))
        except WorkspaceBusy:
            raise PipelineBusy(f"{pipeline.path.name}: another run of this pipeline is in progress"
                               f"{_running_run(ws, key)}; wait for it or cancel it") from None
        return _run_locked(ws, pipeline, trigger, progress or no_progress, cancel or CancelToken())


def _run_locked(ws: "Workspace", pipeline: "Pipeline", trigger: str, progress: Progress,
                cancel: CancelToken) -> RunReport:
    key = str(pipeline.path)
    with transaction(ws.db):
        cur = ws.db.execute(
            "INSERT INTO pipeline_runs (name, path, file_hash, trigger, state, started_at, pid) "
            "VALUES (?, ?, ?, ?, 'running', ?, ?)", [pipeline.name, key, pipeline.text_hash, trigger, time.time(),
                                                    os.getpid()])
        run_id = int(cur.lastrowid or 0)
    ctx = StepContext(ws, pipeline, run_id)

    def record(outputs: dict[str, Any]) -> None:
        """Save what the running step has so far (a training run's id), so a killed run can be resumed."""
        rec.outputs = outputs
        _save_step(ws, run_id, rec)

    ctx.record = record
    n = len(pipeline.steps)
    state, error = "done", None
    stop_reason: Optional[str] = None
    for step in pipeline.steps:
        rec = StepRecord(step.index, step.kind, "running", started_at=time.time())
        if stop_reason is not None:
            rec.state, rec.log, rec.started_at = "skipped", stop_reason, None
            _save_step(ws, run_id, rec)
            continue
        lines: list[str] = []
        started = time.perf_counter()
        step_progress = sub_progress(progress, step.index / n, (step.index + 1) / n)

        def log(line: str, _lines: list[str] = lines) -> None:
            _lines.append(line)

        try:
            cancel.raise_if_cancelled()
            step_progress(0.0, f"{step.kind}: hashing inputs")
            rec.inputs, rec.input_hash, cached = _prepare(ctx, step)
            last = ctx.last
            if cached and last is not None:
                rec.state, rec.outputs = "cached", last.outputs
                previous = [line for line in last.log.splitlines() if not line.startswith("cached: ")]
                lines.extend([f"cached: inputs unchanged since run {last.run_id}, its outputs reused"] + previous)
            else:
                _save_step(ws, run_id, rec)
                step_progress(0.0, step.kind)
                rec.outputs = STEPS[step.kind][1](ctx, step.settings, rec.inputs, step_progress, cancel, log)
                rec.state = "done"
        except Cancelled:
            rec.state, state, error = "cancelled", "cancelled", f"cancelled at step {step.index} ({step.kind})"
            log("cancelled")
        except StepFailed as exc:
            rec.state, rec.outputs, state = "failed", exc.outputs, "failed"
            error = f"step {step.index} ({step.kind}): {exc}"
            log(f"failed: {exc}")
        except (CvopsError, OSError) as exc:
            from cvops.common.errors import os_reason

            message = str(exc) if isinstance(exc, CvopsError) else f"{exc.filename or ''}: {os_reason(exc)}"
            rec.state, state, error = "failed", "failed", f"step {step.index} ({step.kind}): {message}"
            log(f"failed: {message}")
        except BaseException as exc:  # a bug or a second Ctrl+C: recorded, then raised
            rec.state = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
            rec.log = "\n".join(lines + [f"{type(exc).__name__}: {exc}"])
            rec.finished_at = time.time()
            _save_step(ws, run_id, rec)
            _finish_run(ws, run_id, rec.state, f"step {step.index} ({step.kind}): {type(exc).__name__}: {exc}")
            raise
        rec.finished_at = time.time()
        rec.seconds = round(time.perf_counter() - started, 3)
        rec.log = "\n".join(lines[-LOG_LINES:])
        rec.decision = rec.outputs.get("decision")
        _save_step(ws, run_id, rec)
        if rec.state in ("failed", "cancelled"):
            break
        ctx.values.update(rec.outputs.get("context", {}))
        if rec.decision is not None and not rec.decision["promote"]:
            stop_reason = f"the gate kept the champion: {rec.decision['reason']}"
        step_progress(1.0, f"{step.kind}: {rec.state}")
    _finish_run(ws, run_id, state, error)
    return get_run(ws, run_id)


def plan(ws: "Workspace", path: Path) -> list[dict[str, Any]]:
    """What :func:`run_pipeline` would do now, without running or recording anything: ``{"index", "kind", "state",
    "reason"}`` per step, ``state`` one of ``cached`` (inputs unchanged, outputs still there), ``run`` (the first step
    that would run: never ran, which inputs changed, or its outputs are gone), ``fails`` (its inputs cannot be
    gathered: a missing folder, an unknown benchmark...), ``after`` (behind a step that runs: it runs or is cached
    depending on what that step produces) or ``skipped`` (behind a cached gate that kept the champion)."""
    pipeline = load(Path(path))
    ctx = StepContext(ws, pipeline, 0)
    out: list[dict[str, Any]] = []
    stop: Optional[tuple[str, str]] = None
    for step in pipeline.steps:
        if stop is not None:
            out.append({"index": step.index, "kind": step.kind, "state": stop[0], "reason": stop[1]})
            continue
        try:
            inputs, digest, cached = _prepare(ctx, step)
        except (CvopsError, OSError) as exc:
            out.append({"index": step.index, "kind": step.kind, "state": "fails", "reason": str(exc)})
            stop = ("after", f"behind step {step.index} ({step.kind}), which fails")
            continue
        last = ctx.last
        if cached and last is not None:
            out.append({"index": step.index, "kind": step.kind, "state": "cached",
                        "reason": f"inputs unchanged since run {last.run_id}"})
            ctx.values.update(last.outputs.get("context", {}))
            decision = last.outputs.get("decision")
            if decision is not None and not decision["promote"]:
                stop = ("skipped", f"the gate kept the champion: {decision['reason']}")
            continue
        if last is None:
            reason = "never ran"
        elif last.input_hash != digest:
            changed = sorted(k for k in set(inputs) | set(last.inputs) if inputs.get(k) != last.inputs.get(k))
            reason = f"inputs changed since run {last.run_id}: {', '.join(changed) or 'their hash'}"
        else:
            reason = f"the outputs of run {last.run_id} are gone or superseded"
        out.append({"index": step.index, "kind": step.kind, "state": "run", "reason": reason})
        stop = ("after", f"depends on what step {step.index} ({step.kind}) produces")
    return out


# -- reading the history -------------------------------------------------------------------------------------------
_RUN_COLUMNS = "id, name, path, file_hash, trigger, state, started_at, finished_at, error, pid"


def _step(row: Any) -> StepRecord:
    (index, kind, state, input_hash, inputs, outputs, started, finished, seconds, log, decision) = row
    return StepRecord(index, kind, state, input_hash, json.loads(inputs), json.loads(outputs), started, finished,
                      seconds, log, json.loads(decision) if decision else None)


def get_run(ws: "Workspace", run_id: int) -> RunReport:
    """A recorded run with its steps; raises :class:`NotFoundError`."""
    row = ws.db.execute(f"SELECT {_RUN_COLUMNS} FROM pipeline_runs WHERE id = ?", [int(run_id)]).fetchone()
    if row is None:
        raise NotFoundError(f"no pipeline run {run_id} (cvops pipeline history lists them)")
    *values, pid = row
    report = RunReport(*values)
    if report.state == "running" and pid != os.getpid() and not process_alive(pid):
        report.state, report.error = "failed", f"interrupted: process {pid} ended without finishing the run"
    report.steps = [_step(r) for r in ws.db.execute(
        "SELECT step_index, kind, state, input_hash, inputs, outputs, started_at, finished_at, seconds, log, decision "
        "FROM pipeline_steps WHERE run_id = ? ORDER BY step_index", [report.id])]
    return report


def history(ws: "Workspace", path: Optional[Path] = None, limit: int = 20) -> list[RunReport]:
    """The latest runs (of the pipeline file ``path``, or of every file), newest first."""
    if path is not None:
        ids = ws.db.execute("SELECT id FROM pipeline_runs WHERE path = ? ORDER BY id DESC LIMIT ?",
                            [str(Path(path).absolute()), limit]).fetchall()
    else:
        ids = ws.db.execute("SELECT id FROM pipeline_runs ORDER BY id DESC LIMIT ?", [limit]).fetchall()
    return [get_run(ws, r[0]) for r in ids]
