"""One trial of a study: a training run with the trial's parameters, reporting its metric after every epoch.

The study talks to a :class:`TrialExecutor`; :class:`LocalExecutor`, the default, starts a supervised training child
on this machine (:func:`cvops.training.runner.start_run` and :func:`~cvops.training.runner.supervise`: crash
handling, cancel and the catalog's events included) and stops it through the runner's cancel when the study prunes
the trial. Another executor (a Ray cluster's, :mod:`cvops.scaleout`) runs the same ``options`` elsewhere and calls
``on_epoch`` the same way; its runs land in the local catalog like local ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from cvops.common.errors import ValidationError
from cvops.common.jobs import CancelToken, Progress, no_progress

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

OnEpoch = Callable[[int, Optional[float]], bool]
"""``on_epoch(epoch, value)``: an epoch (1-based) ended with the metric ``value`` (None when the run did not record
it, or it was not a number); returns True when the trial must stop (pruned)."""

SHORT_METRICS = {"map50": "metrics/mAP50(B)", "map50_95": "metrics/mAP50-95(B)",
                 "precision": "metrics/precision(B)", "recall": "metrics/recall(B)",
                 "map50_mask": "metrics/mAP50(M)", "map50_95_mask": "metrics/mAP50-95(M)"}
"""Short metric names (as ``cvops runs`` reports them) and the Ultralytics keys the runs record."""
RECORDED_METRICS = (
    *SHORT_METRICS.values(), "metrics/precision(M)", "metrics/recall(M)",
    *(f"{split}/{loss}_loss" for split in ("val", "train") for loss in ("box", "cls", "dfl", "seg")),
)
"""Every per-epoch metric a detection or segmentation run records (besides its learning rates)."""


def resolve_metric(name: str) -> tuple[str, str]:
    """``(key the runs record, direction)`` of a metric name: a short name (``map50_95``) or a recorded key
    (``metrics/mAP50(B)``, ``val/box_loss``); losses are minimized, the rest maximized."""
    key = SHORT_METRICS.get(name, name)
    if key not in RECORDED_METRICS:
        raise ValidationError(f"unknown metric {name!r}: use {', '.join(SHORT_METRICS)} or a key the runs record "
                              f"({', '.join(k for k in RECORDED_METRICS if k not in SHORT_METRICS.values())})")
    return key, "minimize" if key.endswith("_loss") else "maximize"


def metric_value(metrics: dict[str, Any], key: str) -> Optional[float]:
    """``metrics[key]`` as a finite float, else None."""
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class TrialOutcome:
    """How a trial's run ended: ``state`` finished, pruned, cancelled (the study was stopped) or failed; ``value``
    the metric of a finished run (its final validation's, else its best epoch's); ``values`` every epoch's."""

    state: str
    run_id: Optional[int] = None
    value: Optional[float] = None
    epochs: int = 0
    values: list[Optional[float]] = field(default_factory=list)
    error: Optional[str] = None


class TrialExecutor(Protocol):
    """Runs one trial's training. ``options`` are :func:`cvops.training.runner.start_run`'s keyword arguments
    (``version_ref``, ``preset``, ``epochs``, ``imgsz``, ``batch``, ``model``, ``device``, ``seed``,
    ``hyperparameters``, ``tuning``) plus ``metric`` and ``direction`` (the key the runs record and whether to
    maximize it), which are not passed to ``start_run``. The executor calls ``on_start(run_id)`` once the run exists,
    ``on_epoch(epoch, value)`` after each epoch, stopping the run soon after it returns True (outcome ``pruned``),
    and stops it when ``cancel`` is triggered (outcome ``cancelled``)."""

    def run(self, ws: "Workspace", options: dict[str, Any], on_epoch: OnEpoch, *,
            on_start: Optional[Callable[[int], None]] = None, progress: Optional[Progress] = None,
            cancel: Optional[CancelToken] = None) -> TrialOutcome:
        """Train with ``options``; return how it ended."""
        ...


class _StopToken(CancelToken):
    """Cancelled when the trial is pruned or the study's own token is cancelled."""

    def __init__(self, outer: Optional[CancelToken]) -> None:
        super().__init__()
        self.outer = outer

    @property
    def cancelled(self) -> bool:
        return super().cancelled or bool(self.outer is not None and self.outer.cancelled)


def final_event(run_dir: Path) -> dict[str, Any]:
    """The run's ``finished`` event (final validation metrics and per-class AP), or ``{}``."""
    path = Path(run_dir) / "events.jsonl"
    if not path.is_file():
        return {}
    for line in reversed(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "finished":
            return event
    return {}


def trial_value(final_metrics: dict[str, Any], values: list[Optional[float]], key: str,
                direction: str) -> Optional[float]:
    """A finished trial's value: the metric of the run's final validation (its best weights), else its best
    epoch's (losses are not in the final validation)."""
    final = metric_value(final_metrics, key)
    if final is not None:
        return final
    seen = [v for v in values if v is not None]
    if not seen:
        return None
    return min(seen) if direction == "minimize" else max(seen)


class LocalExecutor:
    """Trains on this machine: a supervised training child per trial (the default executor)."""

    def run(self, ws: "Workspace", options: dict[str, Any], on_epoch: OnEpoch, *,
            on_start: Optional[Callable[[int], None]] = None, progress: Optional[Progress] = None,
            cancel: Optional[CancelToken] = None) -> TrialOutcome:
        """Start the run, follow it, and stop it through the runner's cancel when ``on_epoch`` says so."""
        from cvops.training.runner import start_run, supervise

        options = dict(options)
        key, direction = options.pop("metric"), options.pop("direction")
        progress = progress or no_progress
        run_id = start_run(ws, **options)
        if on_start is not None:
            on_start(run_id)
        stop = _StopToken(cancel)
        values: list[Optional[float]] = []
        pruned = False

        def new_epochs(ended: bool = False) -> None:
            """Pass the epochs recorded since the last call to ``on_epoch`` (whose answer counts while running)."""
            nonlocal pruned
            rows = ws.db.execute("SELECT epoch, metrics FROM run_epochs WHERE run_id = ? AND epoch > ? ORDER BY epoch",
                                 [run_id, len(values)]).fetchall()
            for epoch, metrics in rows:
                value = metric_value(json.loads(metrics), key)
                values.extend([None] * (int(epoch) - 1 - len(values)) + [value])
                if on_epoch(int(epoch), value) and not pruned and not ended:
                    pruned = True
                    stop.cancel()

        def watch(fraction: float, message: str) -> None:
            new_epochs()
            progress(fraction, message)

        result = supervise(ws, run_id, progress=watch, cancel=stop, register=False)
        new_epochs(ended=True)
        epochs = max(result.epochs_done, len(values))
        if pruned:
            return TrialOutcome("pruned", run_id, None, epochs, values)
        if result.state == "finished":
            metrics = final_event(result.run_dir).get("metrics") or {}
            value = trial_value(metrics, values, key, direction)
            if value is None:
                return TrialOutcome("failed", run_id, None, epochs, values,
                                    f"run {run_id} recorded no {key} (its metrics: {', '.join(metrics) or 'none'})")
            return TrialOutcome("finished", run_id, value, epochs, values)
        if result.state == "cancelled" and cancel is not None and cancel.cancelled:
            return TrialOutcome("cancelled", run_id, None, epochs, values, result.error)
        return TrialOutcome("failed", run_id, None, epochs, values, result.error or f"run {run_id} {result.state}")
