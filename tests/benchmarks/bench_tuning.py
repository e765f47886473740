"""Tuning with pruning vs without, on the same time budget: epochs saved, trials run, best score reached.

Data: a demo workspace (``run_demo``, ``--n`` shapes images, default 128) in a temporary folder, version ``v1``.
Space: learning rate (log, 1e-4 to 0.03), momentum, left-right flips and mosaic (0 to 1) at ``--imgsz`` px on the fast
preset: a real space with bad regions (a learning rate too low to learn in a few epochs; mosaic, which hurts small
images in short runs, docs/training.md). Both arms use the same sampler seed, so they draw the same parameters in the
same order (TPE samples at random for its first 10 trials).

* ``none``: ``--trials`` trials of ``--epochs`` epochs without pruning; its wall time is the budget.
* ``median``: the median pruner, with ``--timeout`` = that budget (no trial starts after it, the running one
  finishes) and up to twice the trials.

Reported per arm: trials finished (complete, pruned), epochs trained and epochs saved by pruning (against every
finished trial running all its epochs), wall time, the best value of the metric (``--metric``, default ``map50``).
Pass: the median arm pruned a trial, and it finished at least as many trials in the budget. Whether its best score
is as good is reported, not judged: pruning can stop a trial that would have ended best.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import emit, environment, log, stdout_to_stderr, temp_root

from cvops.data.workspace import Workspace
from cvops.samples.demo import run_demo
from cvops.tuning import run_study

SPACE = {"params": {"lr0": {"type": "float", "low": 0.0001, "high": 0.03, "log": True},
                    "momentum": {"type": "float", "low": 0.8, "high": 0.98},
                    "fliplr": {"type": "float", "low": 0.0, "high": 0.5},
                    "mosaic": {"type": "float", "low": 0.0, "high": 1.0}}}


def arm(ws: Workspace, name: str, pruner: str, trials: int, args: argparse.Namespace,
        timeout_s: float | None = None) -> dict[str, Any]:
    """Run one study; its figures."""
    log(f"study {name}: pruner {pruner}, up to {trials} trials of {args.epochs} epochs"
        + (f", {timeout_s:.0f} s budget" if timeout_s else ""))
    started = time.perf_counter()
    space = {**SPACE, "params": {**SPACE["params"], "imgsz": args.imgsz}}
    with stdout_to_stderr():
        result = run_study(ws, "v1", trials, timeout_s=timeout_s, space=space, metric=args.metric, pruner=pruner,
                           study=name, epochs=args.epochs, seed=0, device="cpu", register=False)
    wall = time.perf_counter() - started
    log(f"study {name}: {result['finished']} trials in {wall:.0f} s, best {result['best'] and result['best']['value']}")
    return {"pruner": pruner, "wall_s": round(wall, 1), "trials_finished": result["finished"],
            "complete": result["counts"]["complete"], "pruned": result["counts"]["pruned"],
            "epochs_run": result["epochs_run"], "epochs_saved": result["epochs_saved"],
            "epochs_per_trial": round(result["epochs_run"] / max(result["finished"], 1), 2),
            "best_value": result["best"]["value"] if result["best"] else None,
            "best_params": result["best"]["params"] if result["best"] else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=128, help="demo images")
    parser.add_argument("--trials", type=int, default=8, help="trials of the arm without pruning")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per trial")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--metric", default="map50")
    args = parser.parse_args()
    with temp_root("tuning") as root:
        run_demo(root / "ws", count=args.n)
        with Workspace.open(root / "ws") as ws:
            plain = arm(ws, "none", "none", args.trials, args)
            pruned = arm(ws, "median", "median", 2 * args.trials, args, timeout_s=plain["wall_s"])
    better = (pruned["best_value"] is not None and plain["best_value"] is not None
              and pruned["best_value"] >= plain["best_value"])
    emit({"benchmark": "tuning", "environment": environment(),
          "settings": {"images": args.n, "epochs": args.epochs, "imgsz": args.imgsz, "metric": args.metric,
                       "budget_s": plain["wall_s"]},
          "none": plain, "median": pruned,
          "best_not_worse_with_pruning": better,
          "pass": {"median_pruned_a_trial": pruned["pruned"] > 0,
                   "median_finished_as_many_trials": pruned["trials_finished"] >= plain["trials_finished"]}})


if __name__ == "__main__":
    main()
