"""GPU training check: train the demo dataset through ``cvops.training.train`` on CUDA and on the CPU, print JSON.

Standalone on purpose (pytest does not collect it: the name has no ``test_`` prefix); see ``README.md`` here.

* No CUDA device: prints ``skipped: no CUDA device ...`` and exits 0.
* Otherwise: builds a demo workspace (``--images``, default 128) in a temporary folder, trains version ``v1`` with
  the fast preset for ``--epochs`` (default 3) on device ``"0"``, then for ``--cpu-epochs`` (default 3) on ``"cpu"``,
  and prints one JSON object: the device, seconds per epoch on each side (from the run's ``events.jsonl``: epoch 1
  counts from the ``started`` event, so it holds the one-time costs; "steady" is the median of the later epochs),
  the speedup, whether AMP was asked for (``amp`` in the run's Ultralytics ``train/args.yaml``) and the AMP lines of
  the run's log (Ultralytics' own AMP check says there whether it kept AMP on), and each run's last-epoch metrics.
* ``--cpu-only-smoke``: the whole script at tiny size on the CPU only (16 images, 1 epoch, imgsz 64, both halves on
  ``"cpu"``), to show that it works end to end on a machine without a GPU.

Exit status: 0 when every run finished (or on the no-CUDA skip), 1 otherwise. Runs in well under 5 minutes on an H100
machine (16 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # run from a checkout without installing

METRICS = ("metrics/mAP50(B)", "metrics/mAP50-95(B)", "metrics/precision(B)", "metrics/recall(B)",
           "train/box_loss", "train/cls_loss", "val/box_loss", "val/cls_loss")


def _events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _epoch_seconds(events: list[dict[str, Any]]) -> list[float]:
    """Seconds of each epoch, from the ``started`` event to the first epoch event and between epoch events."""
    stamps = [e["at"] for e in events if e.get("event") == "started"][:1]
    stamps += [e["at"] for e in events if e.get("event") == "epoch"]
    return [round(b - a, 3) for a, b in zip(stamps, stamps[1:])]


def _amp(run_dir: Path) -> tuple[Optional[bool], list[str]]:
    """``amp`` from the run's ``args.yaml`` and the AMP lines Ultralytics wrote to the run's log."""
    import yaml

    args_yaml = run_dir / "train" / "args.yaml"
    amp = yaml.safe_load(args_yaml.read_text(encoding="utf-8")).get("amp") if args_yaml.is_file() else None
    log = run_dir / "train.log"
    lines = []
    if log.is_file():
        text = log.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
        lines = sorted({line.strip() for line in text.splitlines() if "AMP" in line})[:10]
    return amp, lines


def train_once(ws: Any, device: str, epochs: int, imgsz: int, batch: int) -> dict[str, Any]:
    """One supervised run of the fast preset on ``device``; what it took and what it reached."""
    from cvops.training import train

    started = time.perf_counter()
    result = train(ws, "v1", preset="fast", epochs=epochs, imgsz=imgsz, batch=batch, device=device, seed=0)
    wall = time.perf_counter() - started
    per_epoch = _epoch_seconds(_events(result.run_dir))
    amp, amp_log = _amp(result.run_dir)
    out: dict[str, Any] = {
        "device": device,
        "state": result.state,
        "epochs_done": result.epochs_done,
        "wall_s": round(wall, 2),
        "epoch_s": per_epoch,
        "steady_epoch_s": round(statistics.median(per_epoch[1:] or per_epoch), 3) if per_epoch else None,
        "mean_epoch_s": round(statistics.fmean(per_epoch), 3) if per_epoch else None,
        "amp": amp,
        "amp_log": amp_log,
        "metrics": {k: result.metrics.get(k) for k in METRICS if k in result.metrics},
        "run_dir": str(result.run_dir),
    }
    if result.state != "finished":
        out["error"] = result.error
        log = result.run_dir / "train.log"
        if log.is_file():
            out["log_tail"] = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    print(f"{device}: {result.state} in {wall:.1f} s, epochs {per_epoch}", file=sys.stderr, flush=True)
    return out


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return round(a / b, 2) if a and b else None


def main(argv: Optional[list[str]] = None) -> int:
    """Parse arguments, check for CUDA, train on both devices, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-only-smoke", action="store_true",
                        help="tiny run on the CPU only (16 images, 1 epoch, imgsz 64), no GPU needed")
    parser.add_argument("--images", type=int, default=128, help="demo images (default 128)")
    parser.add_argument("--epochs", type=int, default=3, help="CUDA epochs (default 3)")
    parser.add_argument("--cpu-epochs", type=int, default=3, help="CPU epochs (default 3)")
    parser.add_argument("--imgsz", type=int, default=320, help="image size (default 320, the fast preset's)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace and print where it is")
    args = parser.parse_args(argv)
    if args.cpu_only_smoke:
        args.images, args.epochs, args.cpu_epochs, args.imgsz = 16, 1, 1, 64

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_only_smoke:
        print("skipped: no CUDA device (torch.cuda.is_available() is False); nothing was trained")
        return 0
    accelerated = "cpu" if args.cpu_only_smoke else "0"

    from cvops.samples.demo import run_demo
    from cvops.data.workspace import Workspace

    began = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="cvops-gpu-check-"))
    try:
        run_demo(tmp / "ws", count=args.images)
        demo_s = time.perf_counter() - began
        ws = Workspace.open(tmp / "ws")
        try:
            gpu = train_once(ws, accelerated, args.epochs, args.imgsz, args.batch)
            cpu = train_once(ws, "cpu", args.cpu_epochs, args.imgsz, args.batch)
            if not args.keep:  # the folders are removed below
                gpu.pop("run_dir")
                cpu.pop("run_dir")
        finally:
            ws.close()
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    ok = gpu["state"] == "finished" and cpu["state"] == "finished"
    report = {
        "check": "gpu_training",
        "smoke": args.cpu_only_smoke,
        "device_name": torch.cuda.get_device_name(0) if cuda and not args.cpu_only_smoke else "cpu (smoke)",
        "versions": {"torch": torch.__version__, "cuda": torch.version.cuda,
                     "ultralytics": metadata.version("ultralytics")},
        "cpu_threads": torch.get_num_threads(),
        "params": {"images": args.images, "preset": "fast", "imgsz": args.imgsz, "batch": args.batch,
                   "epochs": {"cuda_run": args.epochs, "cpu_run": args.cpu_epochs}},
        "demo_s": round(demo_s, 2),
        "amp": gpu["amp"],
        "speedup_steady_epoch": _ratio(cpu["steady_epoch_s"], gpu["steady_epoch_s"]),
        "speedup_mean_epoch": _ratio(cpu["mean_epoch_s"], gpu["mean_epoch_s"]),
        "cuda_run": gpu,
        "cpu_run": cpu,
        "total_s": round(time.perf_counter() - began, 1),
        "ok": ok,
    }
    print(json.dumps(report, indent=2))
    if not args.cpu_only_smoke and gpu["amp"] is not True:
        print("note: AMP was not asked for on the CUDA run (train/args.yaml amp is not true)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
