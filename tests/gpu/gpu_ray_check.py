"""GPU check of the Ray scale-out: ``cvops train --ray ADDRESS --gpus 1`` trains on a cluster node's GPU, print JSON.

Standalone on purpose (pytest does not collect it: the name has no ``test_`` prefix); see ``README.md`` here.

* No CUDA device: prints ``skipped: no CUDA device ...`` and exits 0.
* Otherwise: builds a demo workspace (``--images``, default 128) in a temporary folder, starts a local Ray cluster on
  127.0.0.1 (``tests/ray_testing.py``: a head without CPUs for tasks and one worker node with 1 CPU and 1 GPU),
  trains version ``v1`` there through the CLI (``--gpus 1 --device auto``, ``--epochs``, default 3, at ``--imgsz``
  320) and prints one JSON object: the run's state, the device and device name its ``started`` event reports (from
  the node), the ``ray`` lineage of the registered model, the seconds per epoch and the whole call's wall time.
* ``--cpu-only-smoke``: the same at tiny size without a GPU (16 images, 1 epoch, imgsz 64, ``--gpus 0``), to show
  that it works end to end on a machine without one.

Exit status: 0 when the run finished on the GPU (or on the no-CUDA skip), 1 otherwise. Well under 3 minutes on an
H100/H200 machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "tests"))  # ray_testing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--cpu-only-smoke", action="store_true")
    args = parser.parse_args()
    import torch

    smoke = args.cpu_only_smoke
    if not smoke and not torch.cuda.is_available():
        print("skipped: no CUDA device (torch.cuda.is_available() is False)")
        return 0
    if smoke:
        args.images, args.epochs, args.imgsz = 16, 1, 64
    from click.testing import CliRunner
    from ray_testing import LocalCluster

    from cvops.cli import cli
    from cvops.samples.demo import run_demo

    work = Path(tempfile.mkdtemp(prefix="cvops-gpu-ray-"))
    cluster = None
    try:
        run_demo(work / "ws", count=args.images)
        cluster = LocalCluster(workers=1, head_cpus=0, worker_gpus=0 if smoke else 1)
        print(f"cluster up in {cluster.start_s:.1f} s at {cluster.address}", file=sys.stderr)
        started = time.perf_counter()
        result = CliRunner().invoke(cli, ["train", "-w", str(work / "ws"), "--version", "v1", "--epochs",
                                          str(args.epochs), "--imgsz", str(args.imgsz), "--batch", "16", "--device",
                                          "cpu" if smoke else "auto", "--gpus", "0" if smoke else "1", "--ray",
                                          cluster.address, "--json"])
        wall = time.perf_counter() - started
        out: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {
            "error": result.output[-2000:]}
        run_dir = Path(out.get("run_dir") or work)
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()] \
            if (run_dir / "events.jsonl").is_file() else []
        started_ev = next((e for e in events if e["event"] == "started"), {})
        env = started_ev.get("environment") or {}
        times = [e["at"] for e in events if e["event"] in ("started", "epoch")]
        on_gpu = env.get("cuda") is not None and env.get("device") not in ("cpu", "mps", None)
        report = {"state": out.get("state"), "error": out.get("error"), "device": env.get("device"),
                  "device_name": env.get("device_name"), "cuda": env.get("cuda"), "ray": env.get("ray"),
                  "model": (out.get("model") or {}).get("name"), "epochs_done": out.get("epochs_done"),
                  "epoch_s": [round(b - a, 2) for a, b in zip(times, times[1:])], "wall_s": round(wall, 1),
                  "cluster_start_s": round(cluster.start_s, 1), "smoke": smoke,
                  "ok": out.get("state") == "finished" and (smoke or on_gpu)}
        print(json.dumps(report, indent=2))
        return 0 if report["ok"] else 1
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
