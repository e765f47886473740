"""GPU export check: train a small demo model on CUDA, export it to fp32 and fp16 ONNX, gate both, print JSON.

Standalone on purpose (pytest does not collect it: the name has no ``test_`` prefix); see ``README.md`` here.

* No CUDA device: prints ``skipped: no CUDA device ...`` and exits 0.
* Otherwise: builds a demo workspace (``--images``, default 64) in a temporary folder, trains version ``v1`` with the
  fast preset for ``--epochs`` (default 3) at ``--imgsz`` (default 320) on device ``"0"``, exports the model to fp32
  and to fp16 ONNX (:func:`cvops.deploy.export.export_model`), runs the gate
  (:func:`cvops.deploy.verify.verify_export`) on each, and prints one JSON object:

  - per export: the gate's verdict, mAP deltas against PyTorch and largest raw output difference, and the batch-1
    forward latency p50 / p95 of onnxruntime's CUDA provider and CPU provider (the gate's own figures) next to
    PyTorch on CUDA (fp32, and fp16 with ``.half()``) and PyTorch on the CPU (the gate's);
  - ``fp16_parity``: the fp16 export against the fp32 one (mAP50-95 and mAP50 deltas in points on the CPU provider,
    the largest raw output difference on the same letterboxed images on the CPU provider and on the CUDA provider);
  - ``cuda_provider``: whether onnxruntime's CUDA provider really ran (the gate times it only when it does: it needs
    ``CUDAExecutionProvider`` in ``onnxruntime.get_available_providers()`` — the ``onnxruntime-gpu`` build — *and*
    ``torch.cuda.is_available()``), and why not when it did not.

* ``--cpu-only-smoke``: the whole script at tiny size on the CPU (16 images, 1 epoch, imgsz 64, training and every
  PyTorch timing on ``"cpu"``; the CUDA provider is not asked for), to show that it works end to end without a GPU.

Exit status: 0 when training finished and both exports were gated (whatever the verdicts; ``ok`` in the JSON says
whether both passed), or on the no-CUDA skip; 1 otherwise. Well under 5 minutes on an H100 machine (16 CPU cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # run from a checkout without installing

RAW_IMAGES = 4


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _percentiles(times: list[float]) -> dict[str, float]:
    import numpy as np

    return {"p50": round(float(np.percentile(times, 50)), 3), "p95": round(float(np.percentile(times, 95)), 3)}


def _torch_latency(module: Any, tensor: Any, runs: int, device: str, half: bool = False) -> Optional[dict[str, float]]:
    """p50 / p95 ms of ``module(tensor)`` at batch 1 on ``device`` (synchronized), after warm-up."""
    import torch

    if runs <= 0:
        return None
    module = module.to(device)
    x = torch.from_numpy(tensor).to(device)
    if half:
        module, x = module.half(), x.half()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = []
    with torch.inference_mode():
        for _ in range(10):
            module(x)
        sync()
        for _ in range(runs):
            start = time.perf_counter()
            module(x)
            sync()
            times.append((time.perf_counter() - start) * 1000)
    return _percentiles(times)


def _cuda_probe(path: Path) -> dict[str, Any]:
    """Whether onnxruntime's CUDA provider loads and runs ``path`` here, as the gate decides it, and why not."""
    import onnxruntime as ort

    out: dict[str, Any] = {"onnxruntime": ort.__version__, "available_providers": ort.get_available_providers()}
    try:
        import torch

        out["torch_cuda"] = bool(torch.cuda.is_available())
    except ImportError:
        out["torch_cuda"] = False
    if "CUDAExecutionProvider" not in out["available_providers"]:
        out.update(active=False, reason="onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
        return out
    if not out["torch_cuda"]:
        out.update(active=False, reason="torch.cuda.is_available() is False (the gate needs it to time CUDA)")
        return out
    try:
        session = ort.InferenceSession(str(path), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        out["session_providers"] = session.get_providers()
        out["active"] = session.get_providers()[0] == "CUDAExecutionProvider"
        if not out["active"]:
            out["reason"] = "the CUDA provider fell back to the CPU (CUDA / cuDNN libraries not found?)"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out.update(active=False, reason=f"{type(exc).__name__}: {str(exc)[:500]}")
    return out


def _raw_diff(a: Any, b: Any, tensors: list[Any]) -> Optional[float]:
    import numpy as np

    return max((float(np.max(np.abs(a.raw(t).astype(np.float64) - b.raw(t).astype(np.float64)))) for t in tensors),
               default=None)


def _gate(ws: Any, export: Any, latency_runs: int) -> dict[str, Any]:
    """The gate (verify_export) of one export, condensed."""
    from cvops.deploy.verify import verify_export

    started = time.perf_counter()
    r = verify_export(ws, export.id, latency_runs=latency_runs).to_dict()
    _log(f"  verify {export.precision}: Δ mAP50-95 {r['delta_map50_95']:+.3f} points, "
         f"{'passed' if r['passed'] else 'FAILED'} ({time.perf_counter() - started:.1f} s)")
    return {
        "export_id": export.id,
        "precision": export.precision,
        "size_mb": round(export.size_bytes / 1e6, 2),
        "passed": r["passed"],
        "threshold_points": r["threshold_points"],
        "images": r["images"],
        "map50_95": {"pytorch": r["pytorch"]["map50_95"], "onnx": r["export"]["map50_95"]},
        "delta_map50_95": r["delta_map50_95"],
        "delta_map50": r["delta_map50"],
        "max_abs_output_diff_vs_pytorch": r["max_abs_output_diff"],
        "providers": r["providers"],
        "latency_ms": {"onnx_cuda": r["export"]["latency_ms"].get("cuda"),
                       "onnx_cpu": r["export"]["latency_ms"].get("cpu"),
                       "pytorch_cpu": r["pytorch"]["latency_ms"]},
        "verify_s": r["duration_s"],
        "_report": r,
    }


def check(ws: Any, device: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train, export fp32 and fp16, gate both, time PyTorch on ``device``; the report's body."""
    import torch

    from cvops.deploy.edge_runner import Detector
    from cvops.deploy.export import export_model
    from cvops.deploy.verify import _torch_module
    from cvops.models.evaluation import _load_model, _read_image, split_items
    from cvops.models.registry import get_model
    from cvops.training import train

    started = time.perf_counter()
    result = train(ws, "v1", preset="fast", epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device=device,
                   seed=0)
    train_s = time.perf_counter() - started
    _log(f"train on {device}: {result.state} in {train_s:.1f} s")
    out: dict[str, Any] = {"train": {"device": device, "state": result.state, "epochs_done": result.epochs_done,
                                     "wall_s": round(train_s, 2), "model": result.model,
                                     "map50": result.metrics.get("metrics/mAP50(B)"),
                                     "map50_95": result.metrics.get("metrics/mAP50-95(B)")}}
    if result.state != "finished" or not result.model:
        out["train"]["error"] = result.error
        return out

    exports = {}
    for precision in ("fp32", "fp16"):
        began = time.perf_counter()
        exports[precision] = export_model(ws, result.model, format="onnx", half=precision == "fp16")
        _log(f"  export {precision}: {exports[precision].path} ({time.perf_counter() - began:.1f} s)")
    out["export_s"] = {p: e.params.get("duration_s") for p, e in exports.items()}
    fp32_path = Path(exports["fp32"].path)
    out["cuda_provider"] = (_cuda_probe(fp32_path) if not args.cpu_only_smoke else
                            {"active": False, "reason": "--cpu-only-smoke: the CUDA provider is not asked for"})
    if out["cuda_provider"].get("active"):
        _log("  onnxruntime CUDA provider: active")
    else:
        _log(f"  onnxruntime CUDA provider: not used ({out['cuda_provider'].get('reason')})")

    gates = {p: _gate(ws, e, args.latency_runs) for p, e in exports.items()}

    # PyTorch on the accelerator, on the gate's own first letterboxed image (batch 1)
    model = get_model(ws, result.model)
    module = _torch_module(_load_model(model.to_dict()))
    fp32_det = Detector(fp32_path)
    items = [(iid, p) for iid, p, _ in split_items(ws, model.version_id, "val")[0] if p.is_file()][:RAW_IMAGES]
    tensors = [fp32_det.preprocess(_read_image(iid, p, None)[0])[0][None] for iid, p in items]
    torch_device = "cpu" if device == "cpu" else f"cuda:{device}"
    pytorch_accel = {"device": torch_device,
                     "fp32": _torch_latency(module, tensors[0], args.latency_runs, torch_device)}
    if torch_device != "cpu":
        pytorch_accel["fp16"] = _torch_latency(_torch_module(_load_model(model.to_dict())), tensors[0],
                                               args.latency_runs, torch_device, half=True)
        pytorch_accel["device_name"] = torch.cuda.get_device_name(int(device))
    for gate in gates.values():
        if torch_device != "cpu":
            gate["latency_ms"]["pytorch_cuda"] = pytorch_accel["fp32"]
        cuda, cpu = gate["latency_ms"]["onnx_cuda"], gate["latency_ms"]["onnx_cpu"]
        gate["speedup_p50"] = {
            "onnx_cuda_vs_onnx_cpu": round(cpu["p50"] / cuda["p50"], 2) if cuda and cpu else None,
            "onnx_cuda_vs_pytorch_cuda": (round(pytorch_accel["fp32"]["p50"] / cuda["p50"], 2)
                                          if cuda and pytorch_accel["fp32"] and torch_device != "cpu" else None),
        }

    # fp16 against fp32: the gate's mAPs on the CPU provider, raw outputs on the CPU and the CUDA provider
    fp16_path = Path(exports["fp16"].path)
    parity: dict[str, Any] = {
        "delta_map50_95_vs_fp32_onnx": round((gates["fp16"]["_report"]["export"]["map50_95"]
                                              - gates["fp32"]["_report"]["export"]["map50_95"]) * 100, 4),
        "delta_map50_vs_fp32_onnx": round((gates["fp16"]["_report"]["export"]["map50"]
                                           - gates["fp32"]["_report"]["export"]["map50"]) * 100, 4),
        "delta_map50_95_vs_pytorch": gates["fp16"]["delta_map50_95"],
        "max_abs_output_diff_vs_pytorch": gates["fp16"]["max_abs_output_diff_vs_pytorch"],
        "max_abs_output_diff_vs_fp32_onnx_cpu": _raw_diff(Detector(fp16_path), fp32_det, tensors),
        "raw_images": len(tensors),
    }
    if out["cuda_provider"].get("active"):
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        parity["max_abs_output_diff_vs_fp32_onnx_cuda"] = _raw_diff(Detector(fp16_path, providers=providers),
                                                                    Detector(fp32_path, providers=providers), tensors)
    out["pytorch_accelerator_latency_ms"] = pytorch_accel
    out["fp16_parity"] = parity
    for gate in gates.values():
        gate.pop("_report")
    out["exports"] = gates
    return out


def main(argv: Optional[list[str]] = None) -> int:
    """Parse arguments, check for CUDA, run the check, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-only-smoke", action="store_true",
                        help="tiny run on the CPU only (16 images, 1 epoch, imgsz 64), no GPU needed")
    parser.add_argument("--images", type=int, default=64, help="demo images (default 64)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    parser.add_argument("--imgsz", type=int, default=320, help="image size (default 320, the fast preset's)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--latency-runs", type=int, default=100, help="timed forward passes per runtime (100)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace and print where it is")
    args = parser.parse_args(argv)
    if args.cpu_only_smoke:
        args.images, args.epochs, args.imgsz, args.latency_runs = 16, 1, 64, 5

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_only_smoke:
        print("skipped: no CUDA device (torch.cuda.is_available() is False); nothing was trained or exported")
        return 0
    device = "cpu" if args.cpu_only_smoke else "0"
    if not args.cpu_only_smoke:
        import onnxruntime as ort

        if hasattr(ort, "preload_dlls"):  # onnxruntime-gpu: find CUDA / cuDNN in torch's nvidia-* wheels
            try:
                ort.preload_dlls()
            except Exception as exc:  # noqa: BLE001 - the probe below reports what works
                _log(f"onnxruntime.preload_dlls() failed: {exc}")

    from cvops.samples.demo import run_demo
    from cvops.data.workspace import Workspace

    began = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="cvops-gpu-export-"))
    body: dict[str, Any] = {}
    error = None
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Ultralytics' chatter: stdout carries the JSON alone
            run_demo(tmp / "ws", count=args.images)
            ws = Workspace.open(tmp / "ws")
            try:
                body = check(ws, device, args)
            finally:
                ws.close()
    except Exception as exc:  # noqa: BLE001 - reported in the JSON
        error = f"{type(exc).__name__}: {exc}"
        _log(traceback.format_exc())
    finally:
        if args.keep:
            _log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    gated = "exports" in body
    report = {
        "check": "gpu_export",
        "smoke": args.cpu_only_smoke,
        "device_name": torch.cuda.get_device_name(0) if cuda and not args.cpu_only_smoke else "cpu (smoke)",
        "versions": {"torch": torch.__version__, "cuda": torch.version.cuda,
                     "ultralytics": metadata.version("ultralytics"),
                     "onnxruntime": _dist_version("onnxruntime-gpu") or _dist_version("onnxruntime")},
        "params": {"images": args.images, "preset": "fast", "epochs": args.epochs, "imgsz": args.imgsz,
                   "batch": args.batch, "latency_runs": args.latency_runs},
        **body,
        "error": error,
        "total_s": round(time.perf_counter() - began, 1),
        "ok": gated and all(g["passed"] for g in body["exports"].values()),
    }
    print(json.dumps(report, indent=2))
    return 0 if gated else 1


def _dist_version(name: str) -> Optional[str]:
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
