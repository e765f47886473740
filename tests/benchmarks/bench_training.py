"""Training overhead: ``cvops.training.train`` against a bare ``YOLO(...).train()`` on the same data and epochs.

Data: a demo workspace (``run_demo``, ``--n`` shapes images, default 128) in a temporary folder; version ``v1`` is
materialized once (untimed), and both sides train on that same ``data.yaml``. An untimed warm-up subprocess then
imports torch and Ultralytics and builds both splits' datasets, so the label caches exist and the libraries are in the
page cache before anything is timed.

Measured, alternating which goes first over ``--repeats`` rounds (default 1), each from start to end:

* ours: ``train(ws, "v1", preset="fast", epochs, imgsz, batch=16, device="cpu", seed=0)``, call to return: the
  catalog rows, the child process start, its imports, supervision (events polled every 0.2 s) and the catalog writes.
* bare: a fresh ``python -c`` subprocess that calls ``make_offline`` (so it, too, fetches no font; loaded from
  ``offline.py`` by path, so the bare side does not import the cvops package) and then
  ``YOLO("yolo11n.yaml").train(...)`` with exactly the arguments our child passes for the fast preset, subprocess
  start to exit (so both sides include an interpreter start and the imports).

Target: median(ours) / median(bare) <= 1.05. Also reported: both runs' last-epoch mAP50 and training box loss (the
same seed and deterministic training, so they should agree) and any difference between the two runs' Ultralytics
``args.yaml`` apart from paths, which would mean the bare arguments no longer mirror the child's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from _common import emit, environment, log, temp_root

from cvops.samples.demo import run_demo
from cvops.training import get_preset, train
from cvops.training.child import train_args
from cvops.versions.materialize import materialize
from cvops.data.workspace import Workspace

RATIO_MAX = 1.05
PRESET = "fast"
BATCH = get_preset(PRESET).batch
SEED = 0
MAP50 = "metrics/mAP50(B)"
BOX_LOSS = "train/box_loss"  # compared too: at a few epochs from scratch mAP50 is often 0 on both sides
SRC = Path(__file__).resolve().parents[2] / "src"
OFFLINE_PY = SRC / "cvops" / "models" / "offline.py"
# args.yaml keys that differ between the two runs by construction (where each writes, what it was handed).
PATH_KEYS = {"data", "model", "project", "name", "save_dir"}


def bare_train_args(data_yaml: Path, epochs: int, imgsz: int, project: Path) -> dict[str, Any]:
    """The keyword arguments our child gives ``model.train`` for a fresh run of the preset
    (:func:`cvops.training.child.train_args`), pointed at the bare run's own folder."""
    preset = get_preset(PRESET)
    config = {"data_yaml": str(data_yaml), "imgsz": imgsz, "batch": BATCH, "epochs": epochs, "seed": SEED,
              "patience": preset.patience, "extra": dict(preset.augment), "run_dir": str(project)}
    return train_args(config, "cpu")


# offline.py is loaded from its file, not as ``cvops.models.offline``, so that the bare run imports nothing of the
# workbench: whatever cvops costs is part of our overhead, not of a bare run. One callback stamps when training
# starts, so the report can split each side's time into the same three phases.
BARE = """
import importlib.util, json, sys, time
from pathlib import Path
spec = json.loads(sys.argv[1])
loader = importlib.util.spec_from_file_location("offline", spec["offline_py"])
offline = importlib.util.module_from_spec(loader)
loader.loader.exec_module(offline)
offline.make_offline(Path(spec["config_dir"]))
from ultralytics import YOLO
model = YOLO(spec["model"])
times = {}
model.add_callback("on_train_start", lambda trainer: times.setdefault("train_start", time.time()))
model.train(**spec["args"])
times["train_returned"] = time.time()
Path(spec["times"]).write_text(json.dumps(times))
"""

WARM = """
import importlib.util, json, sys
from pathlib import Path
spec = json.loads(sys.argv[1])
loader = importlib.util.spec_from_file_location("offline", spec["offline_py"])
offline = importlib.util.module_from_spec(loader)
loader.loader.exec_module(offline)
offline.make_offline(Path(spec["config_dir"]))
import torch
from ultralytics.data.dataset import YOLODataset
from ultralytics.data.utils import check_det_dataset
data = check_det_dataset(spec["data"])
for split in ("train", "val"):
    YOLODataset(img_path=data[split], data=data, imgsz=spec["imgsz"], augment=False, task="detect")
"""


def _env() -> dict[str, str]:
    """The environment the runner gives its child (``_spawn``): ``src`` on the path, unbuffered output."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p),
            "PYTHONUNBUFFERED": "1"}


def _subprocess(code: str, spec: dict[str, Any], log_path: Path, cwd: Path) -> float:
    """Run ``python -c code spec``, output into ``log_path``; return seconds from start to exit."""
    cwd.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, cwd=str(cwd), env=_env(), check=False)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"subprocess failed ({done.returncode}); log tail:\n{tail}")
    return seconds


def _last_row(results_csv: Path) -> dict[str, str]:
    with results_csv.open(newline="", encoding="utf-8") as f:
        rows = [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]
    return rows[-1] if rows else {}


def _float(value: Optional[str]) -> Optional[float]:
    return float(value) if value else None


def _args_yaml(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def run_ours(ws: Workspace, epochs: int, imgsz: int) -> dict[str, Any]:
    """One timed ``train()`` call, with where its time went (from the run's events and catalog row)."""
    wall_start = time.time()
    started = time.perf_counter()
    result = train(ws, "v1", preset=PRESET, epochs=epochs, imgsz=imgsz, batch=BATCH, device="cpu", seed=SEED)
    seconds = time.perf_counter() - started
    wall_end = time.time()
    if result.state != "finished":
        raise RuntimeError(f"our run {result.run_id} ended {result.state}: {result.error}")
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines() if line]
    at = {e["event"]: e["at"] for e in events if e["event"] in ("started", "finished")}
    spawned = ws.db.execute("SELECT started_at FROM runs WHERE id = ?", [result.run_id]).fetchone()[0]
    return {
        "seconds": seconds,
        "map50": result.metrics.get(MAP50),
        "box_loss": result.metrics.get(BOX_LOSS),
        "run_dir": result.run_dir,
        "breakdown": {
            "call_to_spawn_s": round(spawned - wall_start, 3),
            "spawn_to_train_start_s": round(at["started"] - spawned, 3),
            "train_start_to_final_event_s": round(at["finished"] - at["started"], 3),
            "final_event_to_return_s": round(wall_end - at["finished"], 3),
        },
    }


def run_bare(tmp: Path, data_yaml: Path, epochs: int, imgsz: int, index: int) -> dict[str, Any]:
    """One timed bare subprocess."""
    folder = tmp / f"bare-{index}"
    spec = {"config_dir": str(folder / "ultralytics-config"), "offline_py": str(OFFLINE_PY),
            "model": get_preset(PRESET).model, "times": str(folder / "times.json"),
            "args": bare_train_args(data_yaml, epochs, imgsz, folder)}
    started_wall = time.time()
    seconds = _subprocess(BARE, spec, folder / "train.log", folder)
    ended_wall = time.time()
    times = json.loads((folder / "times.json").read_text())
    last = _last_row(folder / "train" / "results.csv")
    return {
        "seconds": seconds,
        "map50": _float(last.get(MAP50)),
        "box_loss": _float(last.get(BOX_LOSS)),
        "run_dir": folder,
        "breakdown": {
            "start_to_train_start_s": round(times["train_start"] - started_wall, 3),
            "train_start_to_return_s": round(times["train_returned"] - times["train_start"], 3),
            "train_return_to_exit_s": round(ended_wall - times["train_returned"], 3),
        },
    }


def run(n: int, epochs: int, imgsz: int, repeats: int) -> dict[str, Any]:
    """Build the workspace, warm up, time both sides alternately; return the result."""
    ours: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    with temp_root("training") as tmp:
        run_demo(tmp / "ws", count=n)
        ws = Workspace.open(tmp / "ws")
        try:
            data_yaml = materialize(ws, "v1")
            log(f"demo workspace of {n} images, v1 materialized at {data_yaml.parent}")
            warm = {"config_dir": str(tmp / "warm" / "ultralytics-config"), "offline_py": str(OFFLINE_PY),
                    "data": str(data_yaml), "imgsz": imgsz}
            warm_s = _subprocess(WARM, warm, tmp / "warm.log", tmp / "warm")
            log(f"warm-up (imports, label caches) {warm_s:.1f} s")
            for i in range(repeats):
                order = ("ours", "bare") if i % 2 == 0 else ("bare", "ours")
                for side in order:
                    if side == "ours":
                        ours.append(run_ours(ws, epochs, imgsz))
                    else:
                        bare.append(run_bare(tmp, data_yaml, epochs, imgsz, i))
                    log(f"round {i + 1}/{repeats} {side}: {(ours if side == 'ours' else bare)[-1]['seconds']:.1f} s")
            a, b = (_args_yaml(r["run_dir"] / "train" / "args.yaml") for r in (ours[0], bare[0]))
            differences = {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b))
                           if k not in PATH_KEYS and a.get(k) != b.get(k)}
        finally:
            ws.close()
    ours_s = [r["seconds"] for r in ours]
    bare_s = [r["seconds"] for r in bare]
    ratio = statistics.median(ours_s) / statistics.median(bare_s)
    return {
        "benchmark": "training",
        "environment": {**environment(), "torch": metadata.version("torch"),
                        "ultralytics": metadata.version("ultralytics")},
        "params": {"images": n, "epochs": epochs, "imgsz": imgsz, "batch": BATCH, "preset": PRESET,
                   "device": "cpu", "repeats": repeats, "seed": SEED},
        "warmup_s": round(warm_s, 2),
        "ours_s": [round(s, 2) for s in ours_s],
        "bare_s": [round(s, 2) for s in bare_s],
        "ratio": round(ratio, 4),
        "overhead_s": round(statistics.median(ours_s) - statistics.median(bare_s), 2),
        "ours_breakdown": [r["breakdown"] for r in ours],
        "bare_breakdown": [r["breakdown"] for r in bare],
        "final_map50_ours": ours[-1]["map50"],
        "final_map50_bare": bare[-1]["map50"],
        "final_train_box_loss_ours": ours[-1]["box_loss"],
        "final_train_box_loss_bare": bare[-1]["box_loss"],
        "args_differences": differences,
        "targets": {"ratio_max": RATIO_MAX},
        "pass": {"ratio": ratio <= RATIO_MAX},
    }


def main() -> int:
    """Parse arguments, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="demo images (default 128)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (default 5)")
    parser.add_argument("--imgsz", type=int, default=160, help="training image size (default 160)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of ours + bare, alternating order (default 1)")
    args = parser.parse_args()
    emit(run(args.n, args.epochs, args.imgsz, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
