"""Parent side of training: create run rows, start the child process, and supervise it.

A run is a row in ``runs`` plus a folder ``WORKSPACE/runs/run-NNNN/`` holding ``config.json`` (what the child is
told), ``train.log`` (everything the child prints, Ultralytics' chatter included), ``events.jsonl`` (the child's
JSON-line events, see :mod:`cvops.training.child`; a resumed run's earlier ones move to ``events-N.jsonl``),
``cancel`` (created to ask the child to stop) and ``train/`` (Ultralytics' output: ``weights/last.pt``,
``weights/best.pt``, ``results.csv``).

:func:`supervise` tails the events into the catalog, one transaction per batch of events: ``run_epochs`` gets one
row per epoch, ``runs`` follows state, checkpoints and ``epochs_done``, and ``runs.progress`` holds the latest
``batch`` event (:func:`run_progress`), which also reaches the ``progress`` callback with an ETA. :func:`start_run`
records :func:`training_warnings` (training from scratch on real photographs) on the run and in the child's config. A child that exits without a final event
(crash, ``kill -9``, out of memory) leaves the run ``failed`` with the last lines of its log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Union

from cvops.catalog.db import transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken, Progress, no_progress, process_alive
from cvops.training.presets import get_preset

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

FINAL_STATES = ("finished", "failed", "cancelled")
TASKS = ("detect", "segment")
CANCEL_GRACE_S = 5.0
LOG_TAIL_LINES = 50

_children: dict[int, Any] = {}  # run id -> child started by this process (a Popen, or a spawner's handle)
Spawner = Callable[["Workspace", int, dict[str, Any]], Any]
"""Starts a run's child elsewhere (``cvops.scaleout``): given the run's config, returns a handle with Popen's
``pid``, ``poll()`` and ``wait(timeout)`` and a ``signal(sig)`` that reaches the child; it appends the child's
events to the run's ``events.jsonl`` (and its output to ``train.log``), so :func:`supervise` follows it as any run."""


@dataclass
class RunResult:
    """How a run ended (or stands, while it is still going)."""

    run_id: int
    state: str
    epochs_done: int
    run_dir: Path
    last_checkpoint: Optional[Path] = None
    best_checkpoint: Optional[Path] = None
    error: Optional[str] = None
    metrics: dict[str, Any] = field(default_factory=dict)
    model: Optional[str] = None
    warnings: list[str] = field(default_factory=list)
    task: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"run_id": self.run_id, "state": self.state, "epochs_done": self.epochs_done,
                "run_dir": str(self.run_dir), "last_checkpoint": str(self.last_checkpoint or "") or None,
                "best_checkpoint": str(self.best_checkpoint or "") or None, "error": self.error,
                "metrics": self.metrics, "model": self.model, "warnings": self.warnings, "task": self.task}


def run_result(ws: "Workspace", run_id: int) -> RunResult:
    """The run's current state from the catalog, with the metrics of its last epoch."""
    row = ws.db.execute("SELECT state, epochs_done, run_dir, last_checkpoint, best_checkpoint, error, warnings, task "
                        "FROM runs WHERE id = ?", [run_id]).fetchone()
    if row is None:
        raise NotFoundError(f"no training run {run_id}")
    last = ws.db.execute("SELECT metrics FROM run_epochs WHERE run_id = ? ORDER BY epoch DESC LIMIT 1",
                         [run_id]).fetchone()
    model = ws.db.execute("SELECT name FROM models WHERE run_id = ?", [run_id]).fetchone()
    return RunResult(run_id, row[0], row[1], Path(row[2]), Path(row[3]) if row[3] else None,
                     Path(row[4]) if row[4] else None, row[5], json.loads(last[0]) if last else {},
                     model[0] if model else None, json.loads(row[6] or "[]"), row[7])


def run_progress(ws: "Workspace", run_id: int) -> Optional[dict[str, Any]]:
    """The latest batch progress of a running run (``epoch``, ``epochs``, ``batch``, ``batches``, ``fraction``,
    ``eta_s``, ``at``), or None before its first batch and after it ended."""
    row = ws.db.execute("SELECT progress, state FROM runs WHERE id = ?", [run_id]).fetchone()
    if row is None or not row[0] or row[1] in FINAL_STATES:
        return None
    return dict(json.loads(row[0]))


def format_eta(seconds: Optional[float]) -> str:
    """``1 h 05 min``, ``3 min 20 s``, ``42 s``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def batch_message(ev: dict[str, Any]) -> str:
    """The progress line of a ``batch`` event: ``epoch 1/30 · batch 3/12 · ETA 4 min 10 s``."""
    return (f"epoch {ev['epoch']}/{ev['epochs']} · batch {ev['batch']}/{ev['batches']} · "
            f"ETA {format_eta(ev.get('eta_s'))}")


def _paths(run_dir: Path) -> dict[str, Path]:
    return {"config": run_dir / "config.json", "log": run_dir / "train.log", "events": run_dir / "events.jsonl",
            "cancel": run_dir / "cancel"}


def _spawn(ws: "Workspace", run_id: int, config: dict[str, Any], spawner: Optional[Spawner] = None) -> None:
    """Write the config and start the child in its own session, stdout and stderr into the run's log (or have
    ``spawner`` start it elsewhere)."""
    run_dir = Path(config["run_dir"])
    paths = _paths(run_dir)
    paths["cancel"].unlink(missing_ok=True)
    paths["config"].write_text(json.dumps(config, indent=2), encoding="utf-8")
    if spawner is not None:
        try:
            proc = spawner(ws, run_id, config)
        except BaseException as exc:  # never leave a run 'queued' that nothing will start
            with transaction(ws.db):
                ws.db.execute("UPDATE runs SET state = 'failed', finished_at = ?, error = ? WHERE id = ?",
                              [time.time(), f"not started: {exc}", run_id])
            raise
    else:
        src = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
               "PYTHONUNBUFFERED": "1"}
        with paths["log"].open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "cvops.training.child", str(paths["config"])],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=str(run_dir), env=env, start_new_session=True)
    _children[run_id] = proc
    with transaction(ws.db):
        ws.db.execute("UPDATE runs SET state = 'running', pid = ?, started_at = ?, finished_at = NULL, error = NULL, "
                      "progress = NULL WHERE id = ?", [proc.pid, time.time(), run_id])


def _launch(ws: "Workspace", run_id: int, config: dict[str, Any], spawner: Optional[Spawner]) -> None:
    """Start the run's child here, or through ``spawner`` (``_spawn`` keeps its three-argument form for a local run:
    tests stand in for it)."""
    if spawner is None:
        _spawn(ws, run_id, config)
    else:
        _spawn(ws, run_id, config, spawner)


def version_task(ws: "Workspace", version_id: int) -> str:
    """``segment`` when the version holds a polygon, else ``detect``: what its shapes support best."""
    row = ws.db.execute("SELECT 1 FROM version_members m JOIN version_states s ON s.hash = m.state_hash "
                        "WHERE m.version_id = ? AND s.annotations LIKE '%\"kind\":\"polygon\"%' LIMIT 1",
                        [version_id]).fetchone()
    return "segment" if row else "detect"


def choose_task(ws: "Workspace", version_id: int, task: Optional[str] = None) -> tuple[str, str]:
    """The task a run on the version trains, and why: ``task`` when given (``segment`` needs polygons; ``detect``
    on polygons trains on each object's box), else what the version's shapes support best."""
    natural = version_task(ws, version_id)
    if task is None:
        return natural, ("the version has polygons, so a segmentation model (use --task detect for a detector)"
                         if natural == "segment" else "the version has boxes only, so a detector")
    if task not in TASKS:
        raise ValidationError(f"unknown task {task!r} (use {' or '.join(TASKS)})")
    if task == "segment" and natural == "detect":
        raise ValidationError("the version has no polygons: a segmentation model needs outlines to learn from "
                              "(use --task detect)")
    if task == "detect" and natural == "segment":
        return task, "chosen: a detector, trained on the box of each polygon"
    return task, "chosen"


def model_for_task(model: str, task: str) -> str:
    """The architecture YAML for ``task``: ``yolo11n.yaml`` becomes ``yolo11n-seg.yaml`` for segmentation."""
    if not model.endswith(".yaml"):
        return model
    stem = model[: -len(".yaml")]
    if task == "segment" and not stem.endswith("-seg"):
        return f"{stem}-seg.yaml"
    if task == "detect" and stem.endswith("-seg"):
        return f"{stem[: -len('-seg')]}.yaml"
    return model


def resolve_weights(weights: Union[str, Path], ws: Optional["Workspace"] = None) -> Path:
    """Weights by name in ``ws``'s library (``yolo11n``), else a file as given, else by name in the settings'
    ``weights_folder``; never downloaded."""
    from cvops.catalog.settings import load
    from cvops.models.weights import find_weights

    entry = find_weights(ws, str(weights)) if ws is not None and "/" not in str(weights) else None
    if entry is not None:
        if not Path(entry.path).is_file():
            raise ValidationError(f"weights {entry.name}: file {entry.path} is missing from the library folder; "
                                  f"cvops weights remove {entry.name}, then add the file again")
        return Path(entry.path)
    path = Path(weights).expanduser()
    if path.is_file():
        return path.resolve()
    folder = load().weights_folder
    if folder and (Path(folder).expanduser() / path.name).is_file():
        return (Path(folder).expanduser() / path.name).resolve()
    raise ValidationError(f"weights {weights} are neither in the library nor a file (nothing is downloaded: "
                          "cvops weights add FILE, point to a local .pt file, or put it in the weights folder named "
                          "in settings)")


def _library_entry(ws: "Workspace", base: Path) -> Optional[Any]:
    """The library entry whose file ``base`` is, if any."""
    from cvops.models.weights import list_weights

    return next((w for w in list_weights(ws) if Path(w.path) == base), None)


DEMO_SOURCE_MARK = "cvops-demo-"  # the temporary folder cvops.samples.demo generates the shapes images in


def photo_count(ws: "Workspace", version_id: int) -> tuple[int, int]:
    """``(photos, train)``: how many of the version's training images are not generated demo shapes, of how many.

    An image counts as generated when it was imported from the folder :func:`cvops.samples.demo.run_demo` writes the
    synthetic shapes to (a folder named ``cvops-demo-*``); every other image counts as a real photograph.
    """
    row = ws.db.execute(
        "SELECT COUNT(*), SUM(CASE WHEN i.original_path LIKE ? OR i.original_path LIKE ? THEN 0 ELSE 1 END) "
        "FROM version_members m JOIN version_states s ON s.hash = m.state_hash "
        "LEFT JOIN images i ON i.id = m.image_id WHERE m.version_id = ? AND s.split = 'train'",
        [f"%/{DEMO_SOURCE_MARK}%", f"%\\{DEMO_SOURCE_MARK}%", version_id]).fetchone()
    return int(row[1] or 0), int(row[0] or 0)


def training_warnings(ws: "Workspace", version_ref: Union[int, str], preset: str = "fast",
                      epochs: Optional[int] = None, weights: Optional[Union[str, Path]] = None,
                      model: Optional[str] = None, counts: Optional[tuple[int, int]] = None) -> list[str]:
    """What a user should know before this run starts: training from scratch on real photographs.

    Empty with ``weights`` or when every training image is a generated demo shape (:func:`photo_count`; pass its
    result as ``counts`` when already known: a version's content never changes).
    """
    from cvops.versions.create import get_version
    from cvops.models.weights import list_weights

    if weights is not None:
        return []
    info = get_version(ws, version_ref)
    photos, train_images = counts if counts is not None else photo_count(ws, info.id)
    if not photos:
        return []
    chosen = get_preset(preset)
    arch = (model or chosen.model).removesuffix(".yaml")
    library = [w.name for w in list_weights(ws)]
    how = (f"use weights from the library: --weights {library[0]} (cvops weights list)" if library else
           "copy a pretrained checkpoint such as yolo11n.pt (Ultralytics' releases) to this machine, then "
           f"`cvops weights add yolo11n.pt` and `cvops train --version {info.name} --weights yolo11n`")
    n = epochs or chosen.epochs
    return [f"training from scratch: {arch} starts from random weights on {photos} real photo(s) of {train_images} "
            f"training images, for {n} epoch{'s' if n != 1 else ''}. From scratch, a small set of real photographs "
            "learns little in few epochs (expect mAP50 near 0; it needs thousands of images and hundreds of epochs). "
            f"Start from pretrained weights instead: {how}."]


def start_run(ws: "Workspace", version_ref: Union[int, str], preset: str = "fast", epochs: Optional[int] = None,
              imgsz: Optional[int] = None, batch: Optional[int] = None, device: str = "auto", seed: int = 0,
              weights: Optional[Union[str, Path]] = None, model: Optional[str] = None,
              task: Optional[str] = None, hyperparameters: Optional[Mapping[str, Any]] = None,
              tuning: Optional[Mapping[str, Any]] = None, spawner: Optional[Spawner] = None) -> int:
    """Materialize the version, record a run and start its child process (or have ``spawner`` start it on another
    machine, :data:`Spawner`); return the run id.

    ``preset`` supplies the model and defaults (:data:`cvops.training.presets.PRESETS`); ``epochs``, ``imgsz`` and
    ``batch`` override them; ``model`` names another architecture YAML (``yolo11s.yaml``); ``weights`` starts from
    a local ``.pt`` file (pretrained or a registered model) instead of random initialisation. ``task`` is
    ``detect`` or ``segment``; by default it follows the version (:func:`choose_task`): boxes train a detector,
    polygons a segmentation model. Crowd regions are never training positives. ``device`` is ``auto`` (CUDA, then MPS, then
    CPU), ``cpu``, ``0`` or ``0,1`` (multi-GPU DDP). ``hyperparameters`` are more Ultralytics train arguments
    (``lr0``, ``momentum``, ``mosaic``, ...) over the preset's; ``tuning`` (``{"study", "trial"}``) records the
    tuning trial the run is, in its params and so in its model's lineage (:mod:`cvops.tuning`).
    """
    from cvops.versions.materialize import materialize
    from cvops.versions.create import get_version

    chosen = get_preset(preset)
    base = resolve_weights(weights, ws) if weights is not None else None
    library = _library_entry(ws, base) if base is not None else None
    info = get_version(ws, version_ref)
    if not info.stats.get("images", {}).get("train"):
        raise ValidationError(f"version {info.name} has no training images (splits: {info.stats.get('images')})")
    task, why = choose_task(ws, info.id, task)
    if library is not None and library.task != task:
        raise ValidationError(f"weights {library.name} hold a {library.task} model ({library.architecture}); version "
                              f"{info.name} trains {task}: add {task} weights (e.g. yolo11n-seg.pt for segment)")
    warnings = training_warnings(ws, info.id, preset, epochs, weights, model)
    data_yaml = materialize(ws, info.id, task=task)
    architecture = str(base) if base is not None else model_for_task(model or chosen.model, task)
    params = {"epochs": epochs or chosen.epochs, "imgsz": imgsz or chosen.imgsz, "batch": batch or chosen.batch,
              "patience": chosen.patience, "extra": {**chosen.augment, **(hyperparameters or {})},
              **({"tuning": dict(tuning)} if tuning else {})}
    with transaction(ws.db):
        cur = ws.db.execute(
            "INSERT INTO runs (version_id, version_hash, state, preset, model, params, seed, device, task, "
            "base_weights, weights_name, warnings) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [info.id, info.content_hash, preset, architecture, json.dumps(params), seed, device, task,
             str(base) if base else None, library.name if library else None, json.dumps(warnings)])
        run_id = int(cur.lastrowid or 0)
        run_dir = ws.root / "runs" / f"run-{run_id:04d}"
        ws.db.execute("UPDATE runs SET run_dir = ? WHERE id = ?", [str(run_dir), run_id])
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"data_yaml": str(data_yaml), "model": architecture, "device": device, "seed": seed, "run_dir": str(run_dir),
              "resume": None, "cancel_file": str(_paths(run_dir)["cancel"]), "warnings": warnings, "task": task,
              "task_reason": why, **params}
    _launch(ws, run_id, config, spawner)
    return run_id


def cancel_run(ws: "Workspace", run_id: int) -> None:
    """Ask a run's child to stop after its current batch (works from any process; :func:`supervise` records it)."""
    result = run_result(ws, run_id)
    if result.state not in FINAL_STATES:
        _paths(result.run_dir)["cancel"].touch()


def _alive(run_id: int, pid: Optional[int]) -> bool:
    proc = _children.get(run_id)
    if proc is not None:
        return proc.poll() is None
    return process_alive(pid)


def _stop_child(run_id: int, pid: Optional[int]) -> None:
    """Terminate, then kill, a child that ignored the cancel file."""
    proc = _children.get(run_id)
    for sig, wait_s in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        if not _alive(run_id, pid):
            return
        try:
            if proc is not None and hasattr(proc, "signal"):  # a spawner's handle: the child runs elsewhere
                proc.signal(sig)
            else:
                os.killpg(proc.pid if proc else int(pid or 0), sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait_s
        while _alive(run_id, pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


class _EventTail:
    """Reads complete JSON lines appended to ``events.jsonl`` since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]


def _apply(ws: "Workspace", run_id: int, events: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """Record events in one transaction; return the final event if one of them ended the run."""
    final = None
    with transaction(ws.db) as conn:
        for ev in events:
            kind = ev.get("event")
            if kind == "batch":  # live progress only: one value per run, never a run_epochs row
                conn.execute("UPDATE runs SET progress = ? WHERE id = ?",
                             [json.dumps({k: ev.get(k) for k in ("epoch", "epochs", "batch", "batches", "fraction",
                                                                 "eta_s", "at")}), run_id])
            elif kind == "epoch":
                conn.execute("INSERT OR REPLACE INTO run_epochs (run_id, epoch, metrics) VALUES (?, ?, ?)",
                             [run_id, int(ev["epoch"]), json.dumps(ev.get("metrics", {}))])
                conn.execute("UPDATE runs SET epochs_done = MAX(epochs_done, ?) WHERE id = ?",
                             [int(ev["epoch"]), run_id])
            elif kind == "checkpoint":
                conn.execute("UPDATE runs SET last_checkpoint = COALESCE(?, last_checkpoint), "
                             "best_checkpoint = COALESCE(?, best_checkpoint) WHERE id = ?",
                             [ev.get("last"), ev.get("best"), run_id])
            elif kind == "started":
                conn.execute("UPDATE runs SET environment = COALESCE(?, environment), "
                             "resolved_params = COALESCE(?, resolved_params), task = COALESCE(?, task), "
                             "device = COALESCE(?, device) WHERE id = ?",
                             [json.dumps(ev["environment"]) if "environment" in ev else None,
                              json.dumps(ev["args"]) if "args" in ev else None, ev.get("task"), ev.get("device"),
                              run_id])
            elif kind in FINAL_STATES:
                final = ev
                conn.execute("UPDATE runs SET state = ?, finished_at = ?, error = ? WHERE id = ?",
                             [kind, time.time(), ev.get("error"), run_id])
    return final


def _finish(ws: "Workspace", run_id: int, state: str, error: Optional[str], log: Path, pid: Optional[int]) -> None:
    """Wait for the child to exit (stopping it if it lingers), then record the end state and the log tail."""
    proc = _children.get(run_id)
    if proc is not None:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _stop_child(run_id, pid)
        _children.pop(run_id, None)
    with transaction(ws.db):
        ws.db.execute("UPDATE runs SET state = ?, finished_at = COALESCE(finished_at, ?), "
                      "error = COALESCE(error, ?), log_tail = ? WHERE id = ?",
                      [state, time.time(), error, _log_tail(log), run_id])


def _register(ws: "Workspace", run_id: int, final_event: dict[str, Any]) -> None:
    """Register the finished run's model; a failure to do so is recorded on the run, not raised."""
    from cvops.common.errors import CvopsError
    from cvops.models.registry import register_run

    try:
        register_run(ws, run_id, final_event)
    except (CvopsError, OSError) as exc:
        with transaction(ws.db):
            ws.db.execute("UPDATE runs SET error = ? WHERE id = ?", [f"model not registered: {exc}", run_id])


def supervise(ws: "Workspace", run_id: int, progress: Optional[Progress] = None,
              cancel: Optional[CancelToken] = None, poll_s: float = 0.2, register: bool = True) -> RunResult:
    """Follow a running child until it ends: record its events, report progress, honour ``cancel``; a finished run
    registers its model unless ``register`` is False (tuning trials: only a study's best one is registered).

    On cancel the child is asked to stop (the cancel file); if it has not ended within
    :data:`CANCEL_GRACE_S` seconds it is terminated, then killed, and the run is recorded ``cancelled``. A child
    that exits without a final event leaves the run ``failed`` with the last lines of its log.
    """
    progress = progress or no_progress
    row = ws.db.execute("SELECT state, pid, run_dir, params FROM runs WHERE id = ?", [run_id]).fetchone()
    if row is None:
        raise NotFoundError(f"no training run {run_id}")
    pid, paths = row[1], _paths(Path(row[2]))
    total = int(json.loads(row[3]).get("epochs") or 1)
    tail = _EventTail(paths["events"])
    cancel_at: Optional[float] = None
    error: Optional[str] = None
    final: Optional[str] = row[0] if row[0] in FINAL_STATES else None
    final_event: dict[str, Any] = {}
    while final is None:
        alive = _alive(run_id, pid)
        events = tail.read()  # read after the liveness check, so a child's last events are never missed
        if events:
            final_event = _apply(ws, run_id, events) or {}
            final = final_event.get("event")
            for ev in events:
                if ev.get("event") == "started":
                    total = int(ev.get("epochs") or total)
                elif ev.get("event") == "epoch":
                    progress(min(ev["epoch"] / total, 1.0), f"epoch {ev['epoch']}/{total}")
                elif ev.get("event") == "batch":
                    progress(min(float(ev.get("fraction") or 0.0), 1.0), batch_message(ev))
        if final is not None:
            break
        if cancel is not None and cancel.cancelled and cancel_at is None:
            cancel_at = time.monotonic()
            paths["cancel"].touch()
        if cancel_at is not None and (not alive or time.monotonic() - cancel_at > CANCEL_GRACE_S):
            _stop_child(run_id, pid)
            final = "cancelled"
            error = "stopped after the cancel grace period" if alive else "ended without a result after the cancel"
        elif not alive:
            final, error = "failed", "the training process ended without reporting a result"
        else:
            time.sleep(poll_s)
    if row[0] not in FINAL_STATES:
        _finish(ws, run_id, final, error, paths["log"], pid)
    if final == "finished" and register:
        _register(ws, run_id, final_event)
    progress(1.0, f"run {run_id} {final}")
    return run_result(ws, run_id)


def train(ws: "Workspace", version_ref: Union[int, str], preset: str = "fast", epochs: Optional[int] = None,
          imgsz: Optional[int] = None, batch: Optional[int] = None, device: str = "auto", seed: int = 0,
          weights: Optional[Union[str, Path]] = None, model: Optional[str] = None,
          progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None,
          task: Optional[str] = None, hyperparameters: Optional[Mapping[str, Any]] = None,
          tuning: Optional[Mapping[str, Any]] = None) -> RunResult:
    """Start a run (:func:`start_run`) and supervise it to the end (:func:`supervise`)."""
    run_id = start_run(ws, version_ref, preset=preset, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                       seed=seed, weights=weights, model=model, task=task, hyperparameters=hyperparameters,
                       tuning=tuning)
    return supervise(ws, run_id, progress=progress, cancel=cancel)


def resume(ws: "Workspace", run_id: int, epochs: Optional[int] = None, progress: Optional[Progress] = None,
           cancel: Optional[CancelToken] = None, spawner: Optional[Spawner] = None) -> RunResult:
    """Continue a cancelled or failed run from its ``last.pt`` (on another machine with ``spawner``) and supervise
    it to the end.

    ``epochs`` changes the run's total epoch budget (e.g. to train fewer or more than first planned).
    """
    row = ws.db.execute("SELECT state, run_dir, params, device, seed, model FROM runs WHERE id = ?",
                        [run_id]).fetchone()
    if row is None:
        raise NotFoundError(f"no training run {run_id}")
    state, run_dir, params = row[0], Path(row[1]), json.loads(row[2])
    last = run_dir / "train" / "weights" / "last.pt"
    if state not in ("cancelled", "failed"):
        raise ValidationError(f"run {run_id} is {state}; only a cancelled or failed run can be resumed")
    if not last.is_file():
        raise ValidationError(f"run {run_id} has no checkpoint to resume from ({last} is missing)")
    if epochs is not None:
        params["epochs"] = epochs
        with transaction(ws.db):
            ws.db.execute("UPDATE runs SET params = ? WHERE id = ?", [json.dumps(params), run_id])
    paths = _paths(run_dir)
    config = json.loads(paths["config"].read_text(encoding="utf-8"))
    config.update(resume=str(last), epochs=epochs)
    if paths["events"].is_file():  # keep the earlier attempt's events; the new child starts a fresh stream
        attempt = len(list(run_dir.glob("events-*.jsonl"))) + 1
        paths["events"].rename(run_dir / f"events-{attempt}.jsonl")
    _launch(ws, run_id, config, spawner)
    return supervise(ws, run_id, progress=progress, cancel=cancel)
