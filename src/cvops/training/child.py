"""The training child process: ``python -m cvops.training.child CONFIG.json``.

The parent (:mod:`cvops.training.runner`) writes the JSON config and starts this module in its own session with
stdout and stderr going to the run's log file. Progress goes the other way as JSON lines appended to
``events.jsonl`` in the run folder, one object per line, flushed at once:

* ``{"event": "started", "environment": {...}, "args": {...}, "device": ...}`` when Ultralytics begins training,
  with the software and hardware it runs on and every resolved hyperparameter,
* ``{"event": "batch", "epoch": n, "epochs": N, "batch": i, "batches": b, "fraction": f, "eta_s": s}`` during an
  epoch, at most two a second (:data:`BATCH_EVENT_S`) and always for the run's first batch: live progress and an
  ETA from the first batches on (:class:`EtaClock`; the parent never stores them per batch),
* ``{"event": "epoch", "epoch": n, "metrics": {...}}`` after each epoch (validation metrics, losses, learning rates),
* ``{"event": "checkpoint", "last": path, "best": path}`` after each checkpoint save,
* one final ``finished`` (with the final validation's ``metrics`` and ``per_class`` AP), ``cancelled`` or ``failed``
  (with ``error``) event.

Device ``auto`` picks CUDA, then Apple MPS, then the CPU; AMP is on for CUDA. With several CUDA devices (``0,1``)
Ultralytics trains in DDP worker processes that our callbacks do not reach, so epoch events then come from its
``results.csv`` (:class:`_CsvWatcher`) and a cancel stops the process group (the last epoch's ``last.pt`` stays).

The child stops at the next batch once the config's ``cancel_file`` exists; Ultralytics then validates, saves the
checkpoint of the interrupted epoch (with its optimizer state, so the run can be resumed) and returns, and the child
reports ``cancelled``.
"""

from __future__ import annotations

import csv
import json
import math
import platform
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Optional, TextIO

BATCH_EVENT_S = 0.5


class EtaClock:
    """The time left of a run, from what this attempt has measured so far.

    Training time per batch (the time from an epoch's start or the previous batch to each batch's end) times the
    batches left, plus the mean validation time (from an epoch's last batch to its metrics) times the validations
    left, the final validation of ``best.pt`` included. Before the first validation ends only the batches count;
    each batch and each validation refines both means.
    """

    def __init__(self) -> None:
        self.train_s = 0.0
        self.batches = 0
        self.val_s = 0.0
        self.vals = 0
        self._mark: Optional[float] = None
        self._val_from: Optional[float] = None

    def epoch_start(self, now: float) -> None:
        """An epoch's first batch starts now."""
        self._mark = now

    def batch_end(self, now: float) -> None:
        """A batch ended now."""
        if self._mark is not None:
            self.train_s += now - self._mark
            self.batches += 1
        self._mark = now

    def train_end(self, now: float) -> None:
        """An epoch's batches are done; its validation starts now."""
        self._val_from, self._mark = now, None

    def validated(self, now: float) -> None:
        """An epoch's validation ended now."""
        if self._val_from is not None:
            self.val_s += now - self._val_from
            self.vals += 1
        self._val_from = None

    def eta(self, batches_left: int, validations_left: int) -> Optional[float]:
        """Seconds left for ``batches_left`` batches and ``validations_left`` validations; None before a batch."""
        if not self.batches:
            return None
        per_val = self.val_s / self.vals if self.vals else 0.0
        return self.train_s / self.batches * max(batches_left, 0) + per_val * max(validations_left, 0)


class EventWriter:
    """Appends JSON-line events to ``events.jsonl``."""

    def __init__(self, path: Path) -> None:
        self._file: TextIO = path.open("a", encoding="utf-8")

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event and flush it so the parent sees it at once."""
        self._file.write(json.dumps({"event": event, "at": time.time(), **fields}) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the events file."""
        self._file.close()


def _floats(values: dict[str, Any]) -> dict[str, Optional[float]]:
    out: dict[str, Optional[float]] = {}
    for key, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        out[str(key)] = number if math.isfinite(number) else None
    return out


def resolve_device(device: str) -> str:
    """``auto`` → ``0`` when CUDA is available, else ``mps`` on Apple silicon, else ``cpu``; others unchanged."""
    if str(device).strip().lower() != "auto":
        return str(device)
    import torch

    if torch.cuda.is_available():
        return "0"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def environment(device: str) -> dict[str, Any]:
    """Python, torch, Ultralytics, CUDA and the device name this run trains on."""
    import torch
    import ultralytics

    cuda = device not in ("cpu", "mps") and torch.cuda.is_available()
    names = [torch.cuda.get_device_name(int(d)) for d in device.split(",")] if cuda else []
    return {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "ultralytics": ultralytics.__version__, "cuda": torch.version.cuda if cuda else None,
            "cudnn": torch.backends.cudnn.version() if cuda else None, "device": device,
            "device_name": ", ".join(names) if names else _cpu_name(),
            "cpu_count": __import__("os").cpu_count()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _per_class(trainer: Any) -> list[dict[str, Any]]:
    """Per-class AP of the trainer's last validation (the final one validates ``best.pt``)."""
    validator = getattr(trainer, "validator", None)
    metrics = getattr(validator, "metrics", None)
    box = getattr(metrics, "box", None)
    if box is None or not len(getattr(box, "ap_class_index", [])):
        return []
    names = getattr(validator, "names", None) or {}
    out = []
    for i, index in enumerate(box.ap_class_index):
        out.append({"index": int(index), "name": str(names.get(int(index), index)), "ap50": float(box.ap50[i]),
                    "ap": float(box.ap[i]), "precision": float(box.p[i]), "recall": float(box.r[i])})
    return out


class _CsvWatcher(threading.Thread):
    """Turns rows appended to Ultralytics' ``results.csv`` into epoch events (for DDP, where callbacks don't run)."""

    def __init__(self, path: Path, events: "EventWriter", epochs: int, poll_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.path, self.events, self.epochs, self.poll_s = path, events, epochs, poll_s
        self.seen = 0
        self.done = threading.Event()

    def poll(self) -> None:
        """Emit an epoch event for every complete row not seen yet."""
        if not self.path.is_file():
            return
        with self.path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for row in rows[self.seen:]:
            row = {k.strip(): v for k, v in row.items() if k}
            epoch = int(float(row.pop("epoch")))
            row.pop("time", None)
            self.events.emit("epoch", epoch=epoch, epochs=self.epochs, metrics=_floats(row))
        self.seen = len(rows)

    def run(self) -> None:
        while not self.done.wait(self.poll_s):
            self.poll()
        self.poll()


def _retarget_checkpoint(checkpoint: Path, config: dict[str, Any]) -> None:
    """Point a checkpoint's training arguments at this run before resuming it: its folder (``train/`` in the run
    folder), its data and, when given, a new epoch budget (so resuming can train past the original plan). A run
    trained on another machine (a Ray node, :mod:`cvops.scaleout`) carries that machine's paths."""
    import torch

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    args = ckpt["train_args"]
    args.update(project=str(config["run_dir"]), name="train", save_dir=str(Path(config["run_dir"]) / "train"),
                data=str(config["data_yaml"]))
    if config.get("epochs"):
        args["epochs"] = int(config["epochs"])
    torch.save(ckpt, checkpoint)


class _Session:
    """Callbacks that turn Ultralytics trainer hooks into events and honour the cancel file."""

    def __init__(self, events: EventWriter, cancel_file: Path, device: str,
                 warnings: Optional[list[str]] = None) -> None:
        self.events = events
        self.device = device
        self.cancel_file = cancel_file
        self.warnings = list(warnings or [])
        self.cancelled = False
        self.final_eval = False
        self.batch = 0
        self.batches_run = 0
        self.clock = EtaClock()
        self.last_batch_event = 0.0

    def _check_cancel(self, trainer: Any) -> None:
        if not self.cancelled and self.cancel_file.exists():
            self.cancelled = True
            trainer.stop = True

    def on_train_start(self, trainer: Any) -> None:
        original = trainer.final_eval

        def final_eval() -> None:
            # A cancelled run skips the final validation: it would strip the optimizer from last.pt, which resuming
            # needs. Its metrics are not an epoch, so no epoch event is sent while it runs.
            if self.cancelled:
                return
            self.final_eval = True
            try:
                original()
            finally:
                self.final_eval = False

        trainer.final_eval = final_eval
        device = self.device
        self.events.emit("started", epochs=int(trainer.epochs), start_epoch=int(trainer.start_epoch),
                         save_dir=str(trainer.save_dir), device=device, task=str(trainer.args.task),
                         environment=environment(device), args=_jsonable(vars(trainer.args)),
                         warnings=self.warnings)

    def on_train_epoch_start(self, trainer: Any) -> None:
        self.batch = 0
        self.clock.epoch_start(time.monotonic())

    def on_train_batch_end(self, trainer: Any) -> None:
        self.batch += 1
        self.batches_run += 1
        now = time.monotonic()
        self.clock.batch_end(now)
        if self.batches_run == 1 or now - self.last_batch_event >= BATCH_EVENT_S:
            self.last_batch_event = now
            self._emit_batch(trainer, now)
        self._check_cancel(trainer)

    def _emit_batch(self, trainer: Any, now: float) -> None:
        """Progress of the whole run and its ETA (:class:`EtaClock`)."""
        batches = max(len(getattr(trainer, "train_loader", None) or []), self.batch, 1)
        epochs, epoch = int(trainer.epochs), int(trainer.epoch)
        fraction = min((epoch + self.batch / batches) / max(epochs, 1), 1.0)
        left = (epochs - epoch) * batches - self.batch
        eta = self.clock.eta(left, epochs - epoch + 1)  # this epoch's validation, the later ones', the final one
        self.events.emit("batch", epoch=epoch + 1, epochs=epochs, batch=self.batch, batches=batches,
                         fraction=fraction, eta_s=eta)

    def on_train_epoch_end(self, trainer: Any) -> None:
        self.clock.train_end(time.monotonic())

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if self.final_eval:
            return
        self.clock.validated(time.monotonic())
        metrics = _floats(dict(trainer.label_loss_items(trainer.tloss, prefix="train")))
        metrics.update(_floats(dict(trainer.metrics or {})))
        metrics.update(_floats(dict(getattr(trainer, "lr", {}) or {})))
        self.events.emit("epoch", epoch=int(trainer.epoch) + 1, epochs=int(trainer.epochs), metrics=metrics)
        self._check_cancel(trainer)

    def on_model_save(self, trainer: Any) -> None:
        last, best = Path(trainer.last), Path(trainer.best)
        self.events.emit("checkpoint", last=str(last) if last.is_file() else None,
                         best=str(best) if best.is_file() else None)


def train_args(config: dict[str, Any], device: str) -> dict[str, Any]:
    """The arguments ``YOLO.train`` gets for ``config`` (a resumed run takes the rest from its checkpoint)."""
    args: dict[str, Any] = dict(data=config["data_yaml"], imgsz=config["imgsz"], batch=config["batch"],
                                device=device, workers=config.get("workers", 0), plots=False,
                                amp=device not in ("cpu", "mps"), verbose=True)
    if not config.get("resume"):
        args.update(epochs=config["epochs"], seed=config["seed"], deterministic=True,
                    patience=config.get("patience", 100), project=config["run_dir"], name="train", exist_ok=True,
                    **config.get("extra", {}))
    return args


def run(config: dict[str, Any]) -> str:
    """Train as ``config`` says; return the final event's name."""
    run_dir = Path(config["run_dir"])
    from cvops.models.offline import make_offline

    make_offline(run_dir / "ultralytics-config")
    events = EventWriter(run_dir / "events.jsonl")
    device = resolve_device(config["device"])
    session = _Session(events, Path(config["cancel_file"]), device, config.get("warnings"))
    watcher: Optional[_CsvWatcher] = None
    try:
        from ultralytics import YOLO

        resume = config.get("resume")
        if resume:
            _retarget_checkpoint(Path(resume), config)
        model = YOLO(resume or config["model"])
        for name in ("on_train_start", "on_train_epoch_start", "on_train_batch_end", "on_train_epoch_end",
                     "on_fit_epoch_end", "on_model_save"):
            model.add_callback(name, getattr(session, name))
        args = train_args(config, device)
        if "," in device:  # DDP: Ultralytics' worker processes do not run our callbacks
            events.emit("started", epochs=int(config["epochs"] or 0), start_epoch=0, device=device,
                        task=model.task, environment=environment(device), args=_jsonable(args),
                        warnings=list(config.get("warnings") or []))
            watcher = _CsvWatcher(run_dir / "train" / "results.csv", events, int(config["epochs"] or 0))
            watcher.start()
        if resume:
            model.train(resume=resume, **args)
        else:
            model.train(**args)
        if watcher is not None:
            watcher.done.set()
            watcher.join()
            watcher = None
        if session.cancelled:
            events.emit("cancelled")
        else:
            trainer = model.trainer
            events.emit("finished", metrics=_floats(dict(trainer.metrics or {})) if trainer else {},
                        per_class=_per_class(trainer) if trainer else [])
        final = "cancelled" if session.cancelled else "finished"
    except BaseException as exc:  # report every failure, including KeyboardInterrupt, then exit non-zero
        traceback.print_exc()
        events.emit("failed", error=f"{type(exc).__name__}: {exc}")
        final = "failed"
    finally:
        if watcher is not None:
            watcher.done.set()
        events.close()
    return final


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: read the config named on the command line and train."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m cvops.training.child CONFIG.json", file=sys.stderr)
        return 2
    config = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    return 0 if run(config) in ("finished", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
