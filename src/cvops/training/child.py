"""The training child process: ``python -m cvops.training.child CONFIG.json``.

The parent (:mod:`cvops.training.runner`) writes the JSON config and starts this module in its own session with
stdout and stderr going to the run's log file. Progress goes the other way as JSON lines appended to
``events.jsonl`` in the run folder, one object per line, flushed at once:

* ``{"event": "started"}`` when Ultralytics begins training,
* ``{"event": "epoch", "epoch": n, "metrics": {...}}`` after each epoch (validation metrics, losses, learning rates),
* ``{"event": "checkpoint", "last": path, "best": path}`` after each checkpoint save,
* one final ``finished``, ``cancelled`` or ``failed`` (with ``error``) event.

The child stops at the next batch once the config's ``cancel_file`` exists; Ultralytics then validates, saves the
checkpoint of the interrupted epoch (with its optimizer state, so the run can be resumed) and returns, and the child
reports ``cancelled``.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Optional, TextIO


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


def _set_checkpoint_epochs(checkpoint: Path, epochs: int) -> None:
    """Raise the epoch budget stored in a checkpoint, so resuming can train past the original plan."""
    import torch

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    ckpt["train_args"]["epochs"] = epochs
    torch.save(ckpt, checkpoint)


class _Session:
    """Callbacks that turn Ultralytics trainer hooks into events and honour the cancel file."""

    def __init__(self, events: EventWriter, cancel_file: Path) -> None:
        self.events = events
        self.cancel_file = cancel_file
        self.cancelled = False
        self.final_eval = False

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
        self.events.emit("started", epochs=int(trainer.epochs), start_epoch=int(trainer.start_epoch),
                         save_dir=str(trainer.save_dir))

    def on_train_batch_end(self, trainer: Any) -> None:
        self._check_cancel(trainer)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if self.final_eval:
            return
        metrics = _floats(dict(trainer.label_loss_items(trainer.tloss, prefix="train")))
        metrics.update(_floats(dict(trainer.metrics or {})))
        metrics.update(_floats(dict(getattr(trainer, "lr", {}) or {})))
        self.events.emit("epoch", epoch=int(trainer.epoch) + 1, epochs=int(trainer.epochs), metrics=metrics)
        self._check_cancel(trainer)

    def on_model_save(self, trainer: Any) -> None:
        last, best = Path(trainer.last), Path(trainer.best)
        self.events.emit("checkpoint", last=str(last) if last.is_file() else None,
                         best=str(best) if best.is_file() else None)


def run(config: dict[str, Any]) -> str:
    """Train as ``config`` says; return the final event's name."""
    run_dir = Path(config["run_dir"])
    from cvops.training.offline import make_offline

    make_offline(run_dir / "ultralytics-config")
    events = EventWriter(run_dir / "events.jsonl")
    session = _Session(events, Path(config["cancel_file"]))
    try:
        from ultralytics import YOLO

        resume = config.get("resume")
        if resume and config.get("epochs"):
            _set_checkpoint_epochs(Path(resume), int(config["epochs"]))
        model = YOLO(resume or config["model"])
        for name in ("on_train_start", "on_train_batch_end", "on_fit_epoch_end", "on_model_save"):
            model.add_callback(name, getattr(session, name))
        args: dict[str, Any] = dict(data=config["data_yaml"], imgsz=config["imgsz"], batch=config["batch"],
                                    device=config["device"], workers=0, plots=False, amp=False, verbose=True)
        if resume:
            model.train(resume=resume, **args)
        else:
            model.train(epochs=config["epochs"], seed=config["seed"], deterministic=True,
                        patience=config.get("patience", 100), project=str(run_dir), name="train", exist_ok=True,
                        **config.get("extra", {}), **args)
        final = "cancelled" if session.cancelled else "finished"
        events.emit(final)
    except BaseException as exc:  # report every failure, including KeyboardInterrupt, then exit non-zero
        traceback.print_exc()
        events.emit("failed", error=f"{type(exc).__name__}: {exc}")
        final = "failed"
    finally:
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
