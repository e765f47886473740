"""Pipeline speed: the loop by hand versus the same steps as a pipeline, and a rerun with nothing changed.

Data (untimed): identical demo workspaces of ``--count`` (default 40) synthetic images (``run_demo``, same seed), two
per round; round 0 warms the process up (first imports), the medians of the other ``--rounds`` are reported (every
round is listed).

Measured:

* by hand: ``create_version``, ``train`` (``--epochs`` 3 at ``--imgsz`` 96, CPU, seed 0), ``evaluate`` on the test
  split, ``promote``, ``export_model`` (fp32), ``verify_export``, ``make_bundle``, ``deploy_bundle`` to a folder,
  called one after the other on the first workspace (the export gate's quality floor overridden: a few CPU epochs
  stay below it);
* pipeline: ``run_pipeline`` of a file with the same steps (plus the gate) on the second workspace. Reported: both
  wall times and their ratio (target <= 1.05; training dominates and varies by a few percent from run to run);
* no change: ``run_pipeline`` again (every step cached; target <= 2 s), and ``cvops pipeline run`` as a command
  (median of 3, with the interpreter's start-up);
* the watch's check: one ``NewImages`` check (what ``cvops pipeline watch --min-new`` does at every poll: walk the
  ingest folders, compare with the catalog) over ``--watch-files`` (default 5000) files waiting in an ingest folder,
  median of 5 (target <= 0.5 s: a twentieth of the default 10 s poll).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import emit, environment, log, temp_root

TARGET_RATIO = 1.05
TARGET_RERUN_S = 2.0
TARGET_WATCH_CHECK_S = 0.5
PIPELINE = """\
name: bench
steps:
  - version: {split: 80/10/10, seed: 0}
  - train: {preset: fast, epochs: EPOCHS, imgsz: IMGSZ, batch: 8, device: cpu, seed: 0}
  - evaluate: {split: test, device: cpu}
  - gate: {floor: 0.0}
  - promote:
  - export: {precisions: [fp32]}
  - verify: {split: val, latency_runs: 20, allow_below_floor: true}
  - bundle:
  - deploy: {targets: [deployed]}
"""


def by_hand(root: Path, epochs: int, imgsz: int) -> float:
    from cvops.data.workspace import Workspace
    from cvops.deploy.bundle import make_bundle
    from cvops.deploy.deploy import deploy_bundle
    from cvops.deploy.export import export_model
    from cvops.deploy.verify import verify_export
    from cvops.models.evaluation import evaluate
    from cvops.models.registry import model_for_run, promote
    from cvops.training.runner import train
    from cvops.versions.create import create_version

    with Workspace.open(root) as ws:
        started = time.perf_counter()
        version = create_version(ws, "by hand", ratios="80/10/10", seed=0)
        result = train(ws, version.id, preset="fast", epochs=epochs, imgsz=imgsz, batch=8, device="cpu", seed=0)
        model = model_for_run(ws, result.run_id)
        assert model is not None, result.error
        evaluate(ws, model.id, version.id, split="test", device="cpu")
        promote(ws, model.id)
        export = export_model(ws, model.id)
        verify_export(ws, export.id, version_ref=version.id, split="val", latency_runs=20, allow_below_floor=True)
        bundle = make_bundle(ws, export.id, root / "pipelines" / "by-hand-bundle")
        report = deploy_bundle(ws, bundle.path, str(root / "deployed"))
        assert report.ok, report.error
        return time.perf_counter() - started


def watch_check(root: Path, files: int) -> float:
    """Median seconds of one new-images check over ``files`` files waiting in an ingest folder of ``root``."""
    from cvops.data.workspace import Workspace
    from cvops.pipelines.spec import load
    from cvops.pipelines.watch import NewImages, WatchContext

    incoming = root / "incoming"
    for i in range(files):
        sub = incoming / f"batch-{i // 500:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"img_{i:06d}.jpg").write_bytes(b"\xff\xd8 not decoded by the check")
    path = root / "watch.yaml"
    path.write_text("steps:\n - ingest: {folders: [incoming]}\n")
    trigger, times = NewImages(files, settle_s=0), []
    with Workspace.open(root) as ws:
        pipeline = load(path)
        for _ in range(5):
            wc = WatchContext(ws, pipeline, time.time())
            started = time.perf_counter()
            fired = trigger.check(wc)
            times.append(time.perf_counter() - started)
            assert fired is not None and wc.new_images == files
    return statistics.median(times)


def run(count: int, epochs: int, imgsz: int, rounds_n: int, watch_files: int) -> dict[str, Any]:
    from cvops.data.workspace import Workspace
    from cvops.pipelines.runner import run_pipeline
    from cvops.samples.demo import run_demo

    with temp_root("pipeline") as tmp:
        rounds = []
        for r in range(rounds_n):  # round 0 warms the process up (first imports of torch, onnxruntime, ...)
            hand_ws, pipe_ws = tmp / f"hand{r}", tmp / f"pipe{r}"
            for root in (hand_ws, pipe_ws):
                run_demo(root, count=count)
            log(f"round {r}: by hand")
            hand_s = by_hand(hand_ws, epochs, imgsz)
            path = pipe_ws / "pipeline.yaml"
            path.write_text(PIPELINE.replace("EPOCHS", str(epochs)).replace("IMGSZ", str(imgsz)))
            log(f"round {r}: pipeline")
            with Workspace.open(pipe_ws) as ws:
                started = time.perf_counter()
                first = run_pipeline(ws, path)
                pipe_s = time.perf_counter() - started
                assert first.state == "done", first.error
                started = time.perf_counter()
                again = run_pipeline(ws, path)
                rerun_s = time.perf_counter() - started
                cached = all(s.state == "cached" for s in again.steps)
            rounds.append({"by_hand_s": round(hand_s, 2), "pipeline_s": round(pipe_s, 2)})
        cli_s = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cvops", "-w", str(pipe_ws), "pipeline", "run", "--json"],
                           check=True, capture_output=True)
            cli_s.append(time.perf_counter() - started)
        steps = {s.kind: s.seconds for s in first.steps}
        log(f"watch check over {watch_files} files")
        check_s = watch_check(pipe_ws, watch_files)
    counted = rounds[1:] or rounds
    hand_s = statistics.median(r["by_hand_s"] for r in counted)
    pipe_s = statistics.median(r["pipeline_s"] for r in counted)
    ratio = pipe_s / hand_s
    return {
        "benchmark": "pipeline",
        "images": count, "epochs": epochs, "imgsz": imgsz,
        "by_hand_s": round(hand_s, 2), "pipeline_s": round(pipe_s, 2), "overhead_ratio": round(ratio, 3),
        "rounds": rounds, "pipeline_steps_s": steps,
        "no_change_rerun_s": round(rerun_s, 4), "no_change_all_cached": cached,
        "no_change_cli_s_median": round(statistics.median(cli_s), 3),
        "watch_files": watch_files, "watch_check_s_median": round(check_s, 4),
        "target": {"overhead_ratio_max": TARGET_RATIO, "no_change_rerun_s_max": TARGET_RERUN_S,
                   "watch_check_s_max": TARGET_WATCH_CHECK_S},
        "pass": {"overhead": ratio <= TARGET_RATIO,
                 "no_change": cached and statistics.median(cli_s) <= TARGET_RERUN_S,
                 "watch_check": check_s <= TARGET_WATCH_CHECK_S},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="demo images (default 40)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the first a warm-up (default 3)")
    parser.add_argument("--watch-files", type=int, default=5000, help="files for the watch's check (default 5000)")
    args = parser.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # Ultralytics prints notices on stdout, which carries the JSON
        result = run(args.count, args.epochs, args.imgsz, args.rounds, args.watch_files)
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
