"""Continuous training: run a pipeline when its triggers fire (``cvops pipeline watch``).

A :class:`Trigger` looks at the workspace and says why the pipeline should run now (or ``None``). Three ship:

- :class:`NewImages` — at least N image files in the pipeline's ingest folders are not in the workspace yet (nor
  were left out by its last ingest: duplicates of images already there, unreadable files);
- :class:`Schedule` — the last run of the file started at least a period ago (or it never ran);
- :class:`DriftAlarm` — an alarm file waits in ``WORKSPACE/pipelines/alarms/`` (:func:`raise_alarm`). Monitoring
  raises one when it sees drift; any other tool may too (``cvops pipeline alarm``). A run the alarm started moves
  it to ``alarms/handled/``.

The watch (:func:`watch`) polls the triggers in the foreground and runs the pipeline (:func:`run_pipeline`) when one
fires; a cancel (Ctrl+C) ends it cleanly, after the current step's unit of work when a run is in progress. Its
status (pid, triggers, pending new images, next scheduled run, last trigger and run) is written atomically to
``WORKSPACE/pipelines/watch-<file hash>.json`` at every poll, which :func:`watch_status` (the GUI) reads.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from cvops.catalog.store import atomic_write_bytes
from cvops.common.errors import CvopsError, ValidationError
from cvops.common.imageio import IMAGE_EXTENSIONS
from cvops.common.jobs import CancelToken, Progress, no_progress, process_alive
from cvops.pipelines.spec import Pipeline, file_key, load
from cvops.pipelines.context import folder_listing, hash_inputs
from cvops.pipelines.intake import batch_hash

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace
    from cvops.pipelines.runner import RunReport

ALARM_DIR = Path("pipelines") / "alarms"


# -- what the triggers look at -------------------------------------------------------------------------------------
def ingest_folders(pipeline: Pipeline) -> list[Path]:
    """The folders the pipeline's ingest steps read (relative ones resolved against the file's folder)."""
    return [folder for folder, _ in _ingest_sources(pipeline)]


def _ingest_sources(pipeline: Pipeline) -> list[tuple[Path, bool]]:
    """(folder, whether its subfolders are labelled batches) of every ingest step."""
    out = []
    for step in pipeline.steps:
        if step.kind == "ingest":
            for folder in step.settings["folders"]:
                path = Path(folder).expanduser()
                out.append((path if path.is_absolute() else pipeline.path.parent / path,
                            step.settings["format"] != "images"))
    return out


def _imported(folder: Path, batches: dict[str, str]) -> bool:
    digest = batches.get(str(folder))
    return digest is not None and digest == batch_hash(folder)


def new_image_files(ws: "Workspace", pipeline: Pipeline) -> list[str]:
    """Image files in the pipeline's ingest folders that are not in the workspace yet and that its last ingest did
    not leave out (a duplicate of an image already there, an unreadable file, a batch it could not read, unchanged
    since): what the next run would import. With a dataset format, only the files of batch subfolders count."""
    from cvops.common.fsnames import to_text

    known = {r[0] for r in ws.db.execute("SELECT original_path FROM images")}
    batches: dict[str, str] = {}
    for row in ws.db.execute(
            "SELECT s.outputs FROM pipeline_steps s JOIN pipeline_runs r ON r.id = s.run_id "
            "WHERE r.path = ? AND s.kind = 'ingest' AND s.state IN ('done', 'cached') ORDER BY s.id DESC LIMIT 1",
            [str(pipeline.path)]):
        outputs = json.loads(row[0])
        known.update(outputs.get("unimported", []))
        batches = {str(Path(k).resolve()): v for k, v in (outputs.get("batches") or {}).items()}
    found = []
    for folder, batched in _ingest_sources(pipeline):
        if not folder.is_dir():
            continue
        top = folder.resolve()
        for dirpath, dirnames, filenames in os.walk(top):
            # a labelled batch imported unchanged holds nothing new (its duplicates are not in original_path)
            dirnames[:] = [d for d in dirnames if not d.startswith(".")
                           and not _imported(Path(dirpath) / d, batches)]
            if batched and Path(dirpath) == top:
                continue  # loose files beside the batches: the ingest leaves them alone
            for name in filenames:
                if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                text = to_text(Path(dirpath) / name)
                if text not in known:
                    found.append(text)
    return sorted(found)


def last_run_started(ws: "Workspace", pipeline: Pipeline) -> Optional[float]:
    """When the last run of the pipeline file started (None: it never ran)."""
    row = ws.db.execute("SELECT MAX(started_at) FROM pipeline_runs WHERE path = ?", [str(pipeline.path)]).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def raise_alarm(ws: "Workspace", source: str, message: str, details: Optional[dict[str, Any]] = None) -> Path:
    """Raise a drift alarm for the watches of this workspace: an alarm file (written atomically) they consume."""
    folder = ws.root / ALARM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    alarm = {"source": source, "message": message, "details": details or {}, "raised_at": time.time()}
    path = folder / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json"
    atomic_write_bytes(path, json.dumps(alarm, indent=2).encode())
    return path


def pending_alarms(ws: "Workspace") -> list[tuple[Path, dict[str, Any]]]:
    """The alarms not handled yet, oldest first; an unreadable alarm file is reported as such, not dropped."""
    folder = ws.root / ALARM_DIR
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            alarm = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(alarm, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            alarm = {"source": "unknown", "message": f"unreadable alarm file {path.name}: {exc}"}
        out.append((path, alarm))
    return out


# -- the triggers ---------------------------------------------------------------------------------------------------
@dataclass
class WatchContext:
    """What a trigger sees: the workspace, the pipeline and the watch's own memory."""

    ws: "Workspace"
    pipeline: Pipeline
    now: float
    new_images: Optional[int] = None  # filled by NewImages, shown in the status
    next_run_at: Optional[float] = None  # filled by Schedule


class Trigger(Protocol):
    """Says why the pipeline should run now, or None. ``describe`` is a short human description."""

    def describe(self) -> str: ...

    def check(self, wc: WatchContext) -> Optional[str]: ...

    def ran(self, wc: WatchContext, report: "RunReport") -> None: ...


class NewImages:
    """Fires when at least ``min_new`` new image files wait in the ingest folders and the folders have not changed
    for ``settle_s`` seconds (a batch still being copied is not taken half-way, its labels missing). Files still
    waiting after a run (it failed before importing them, or could not import them) no longer count: the watch waits
    for other files rather than running the pipeline on the same ones again and again."""

    def __init__(self, min_new: int, settle_s: float = 10.0) -> None:
        if min_new < 1:
            raise ValidationError(f"--min-new must be at least 1, got {min_new}")
        if settle_s < 0:
            raise ValidationError(f"--settle must not be negative, got {settle_s}")
        self.min_new, self.settle_s = min_new, settle_s
        self._stale: set[str] = set()
        self._listing: Optional[str] = None
        self._since = 0.0

    def describe(self) -> str:
        return f"{self.min_new} new image{'s' if self.min_new != 1 else ''}"

    def check(self, wc: WatchContext) -> Optional[str]:
        count = wc.new_images = len(set(new_image_files(wc.ws, wc.pipeline)) - self._stale)
        if count < self.min_new:
            return None
        listing = hash_inputs([folder_listing(f) for f in ingest_folders(wc.pipeline) if f.is_dir()])
        if listing != self._listing:
            self._listing, self._since = listing, wc.now
        if wc.now - self._since < self.settle_s:
            return None  # still arriving
        return f"{count} new image{'s' if count != 1 else ''} (at least {self.min_new})"

    def ran(self, wc: WatchContext, report: "RunReport") -> None:
        self._stale = set(new_image_files(wc.ws, wc.pipeline))


class Schedule:
    """Fires when the last run of the file started at least ``every`` seconds ago, or never ran."""

    def __init__(self, every: float) -> None:
        if every <= 0:
            raise ValidationError(f"--every must be a positive duration, got {every}")
        self.every = every

    def describe(self) -> str:
        return f"every {format_duration(self.every)}"

    def check(self, wc: WatchContext) -> Optional[str]:
        last = last_run_started(wc.ws, wc.pipeline)
        wc.next_run_at = wc.now if last is None else last + self.every
        if wc.next_run_at > wc.now:
            return None
        return "scheduled (first run)" if last is None else f"scheduled (every {format_duration(self.every)})"

    def ran(self, wc: WatchContext, report: "RunReport") -> None:
        wc.next_run_at = report.started_at + self.every


class DriftAlarm:
    """Fires when a drift alarm waits (:func:`raise_alarm`); a run it started moves the alarms it saw to
    ``alarms/handled/`` (whatever the run's outcome: the run and its report are the answer to the alarm)."""

    def __init__(self) -> None:
        self._seen: list[Path] = []

    def describe(self) -> str:
        return "drift alarm"

    def check(self, wc: WatchContext) -> Optional[str]:
        alarms = pending_alarms(wc.ws)
        self._seen = [p for p, _ in alarms]
        if not alarms:
            return None
        first = alarms[0][1]
        more = f" (+{len(alarms) - 1} more)" if len(alarms) > 1 else ""
        return f"drift alarm from {first.get('source', 'unknown')}: {first.get('message', '')}{more}"

    def ran(self, wc: WatchContext, report: "RunReport") -> None:
        handled = wc.ws.root / ALARM_DIR / "handled"
        handled.mkdir(parents=True, exist_ok=True)
        for path in self._seen:
            try:
                os.replace(path, handled / f"run{report.id}-{path.name}")
            except FileNotFoundError:
                pass  # another watch handled it
        self._seen = []


class Unfinished:
    """Fires once, at the watch's first check, when the file's last run did not finish: its process died
    (``interrupted``) or a stopped watch cancelled it. The run that follows resumes it: its finished steps are
    cached, an interrupted training run carries on from its last checkpoint."""

    def __init__(self) -> None:
        self._checked = False

    def describe(self) -> str:
        return "an unfinished run"

    def check(self, wc: WatchContext) -> Optional[str]:
        from cvops.pipelines.runner import history

        if self._checked:
            return None
        self._checked = True
        runs = history(wc.ws, wc.pipeline.path, limit=1)
        if not runs:
            return None
        last = runs[0]
        interrupted = last.state == "failed" and (last.error or "").startswith("interrupted")
        stopped = last.state == "cancelled" and last.trigger.startswith("watch")
        return f"resuming run {last.id} ({last.error or last.state})" if interrupted or stopped else None

    def ran(self, wc: WatchContext, report: "RunReport") -> None:
        pass


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``6h``, ``1d`` or ``1h30m`` → seconds; raises :class:`ValidationError`."""
    import re

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
    elif re.fullmatch(r"(\d+(\.\d+)?[smhd])+", raw):
        seconds = sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)([smhd])", raw))
    else:
        raise ValidationError(f"not a duration: {text!r} (expected e.g. 90s, 15m, 6h, 1d, 1h30m)")
    if seconds <= 0:
        raise ValidationError(f"not a positive duration: {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The short form of a duration: ``1h30m``, ``15m``, ``45s``."""
    s = int(round(seconds))
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return "".join(f"{n}{u}" for n, u in parts if n) or "0s"


# -- the watch ------------------------------------------------------------------------------------------------------
@dataclass
class WatchStatus:
    """What a watch of one pipeline file is doing (``alive`` False once its process ended)."""

    pid: int
    alive: bool
    path: str
    triggers: list[str]
    started_at: float
    last_check_at: Optional[float] = None
    new_images: Optional[int] = None
    next_run_at: Optional[float] = None
    last_trigger: Optional[str] = None
    last_run_id: Optional[int] = None
    runs: int = 0
    state: str = "waiting"  # waiting | running | stopped
    message: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def status_path(ws: "Workspace", path: Path) -> Path:
    """Where the watch of the pipeline file ``path`` writes its status."""
    return ws.root / "pipelines" / f"watch-{file_key(path)}.json"


def watch_status(ws: "Workspace", path: Path) -> Optional[WatchStatus]:
    """The status of the watch of the pipeline file ``path`` (None: no watch ever ran for it)."""
    try:
        data = json.loads(status_path(ws, path).read_text(encoding="utf-8"))
        status = WatchStatus(**data)
    except (OSError, ValueError, TypeError):
        return None
    status.alive = status.state != "stopped" and process_alive(status.pid)
    return status


def _save(ws: "Workspace", path: Path, status: WatchStatus) -> None:
    target = status_path(ws, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, json.dumps(status.to_dict(), indent=1).encode(), fsync=False)


def watch(ws: "Workspace", path: Path, triggers: list[Trigger], poll_s: float = 10.0,
          cancel: Optional[CancelToken] = None, progress: Optional[Progress] = None,
          on_event: Optional[Callable[[dict[str, Any]], None]] = None,
          max_runs: Optional[int] = None) -> list["RunReport"]:
    """Poll ``triggers`` every ``poll_s`` seconds and run the pipeline file ``path`` when one fires, until
    ``cancel`` (or ``max_runs`` runs); returns the runs' reports. ``on_event`` receives ``{"event": "watching" |
    "trigger" | "run" | "busy" | "error" | "stopped", ...}``. The file is re-read before every run (edits apply to
    the next run); a file that became invalid is reported and waited on, not run. An unfinished last run (the process died,
    or a stopped watch cancelled it) is resumed first (:class:`Unfinished`)."""
    from cvops.pipelines.runner import PipelineBusy, run_pipeline

    if not triggers:
        raise ValidationError("a watch needs at least one trigger (--min-new N, --every DURATION or --on-alarm)")
    cancel = cancel or CancelToken()
    emit = on_event or (lambda event: None)
    pipeline = load(Path(path))
    triggers = [Unfinished(), *triggers]
    status = WatchStatus(os.getpid(), True, str(pipeline.path), [t.describe() for t in triggers[1:]], time.time())
    reports: list["RunReport"] = []
    emit({"event": "watching", "path": status.path, "triggers": status.triggers, "poll_s": poll_s})
    try:
        while not cancel.cancelled:
            wc = WatchContext(ws, pipeline, time.time())
            reason = None
            try:
                pipeline = wc.pipeline = load(Path(path))
                status.message = ""
                fired = [(t, t.check(wc)) for t in triggers]
                reason = next((why for _, why in fired if why), None)
            except CvopsError as exc:
                status.message = str(exc)
            status.last_check_at, status.new_images, status.next_run_at = wc.now, wc.new_images, wc.next_run_at
            if reason is not None:
                status.state, status.last_trigger = "running", reason
                _save(ws, path, status)
                emit({"event": "trigger", "reason": reason})
                try:
                    report = run_pipeline(ws, pipeline.path, trigger=f"watch: {reason}", progress=progress or no_progress,
                                          cancel=cancel)
                except PipelineBusy as exc:
                    status.message = str(exc)
                    emit({"event": "busy", "message": str(exc)})
                except CvopsError as exc:  # the file changed under the watch and is invalid now, ...
                    status.message = str(exc)
                    emit({"event": "error", "message": str(exc)})
                else:
                    for trigger, _ in fired:
                        trigger.ran(wc, report)
                    reports.append(report)
                    status.runs, status.last_run_id = status.runs + 1, report.id
                    status.new_images, status.next_run_at = wc.new_images, wc.next_run_at
                    status.history = ([{"run": report.id, "trigger": reason, "state": report.state,
                                        "promote": (report.decision or {}).get("promote")}] + status.history)[:20]
                    emit({"event": "run", "run": report.id, "state": report.state, "trigger": reason,
                          "seconds": report.seconds, "decision": report.decision, "error": report.error})
                status.state = "waiting"
            _save(ws, path, status)
            if max_runs is not None and len(reports) >= max_runs:
                break
            cancel.wait(poll_s)
    finally:
        status.state = "stopped"
        _save(ws, path, status)
        emit({"event": "stopped", "runs": len(reports)})
    return reports
