"""Edge runner latency: a bundle's ``run.py`` detector (``edge_runner.Detector``, onnxruntime on the CPU, batch 1)
against Ultralytics ``YOLO(pt).predict`` (PyTorch) and ``YOLO(onnx).predict`` (Ultralytics' own ONNX path).

Model: yolo11n trained for ``--epochs`` (default 1) on a demo workspace of ``--train-n`` shapes images (default 32)
at ``--imgsz`` (default 640), exported to ONNX at that size (fp32, dynamic input so every side runs a 16:9 image as
640x384, not simplified): ours as ``cvops export --dynamic`` writes it (with its graph passes), Ultralytics'
as its own export writes it; training and export untimed. Data: ``--n`` (default 50) synthetic JPEGs of ``--size``
(default 1280x720; quality 90) on disk.

Measured per image, end to end from the file path: read + decode, letterbox / preprocess, inference, postprocess
(confidence 0.25, IoU 0.7, per-class NMS) and boxes mapped back to the image. Ours decodes as a bundle's ``run.py``
does (``edge_runner.read_image``: a 1280x720 JPEG for a 640 model at half scale in libjpeg's DCT, which the export
gate verifies); ``edge_runner_full_decode`` is the same runner with ``--full-decode``, for reference. Each side is
warmed up on three images first; each side then runs all the images as one block, three rounds rotating the order
(interleaving image by image would charge one runtime for the other's spinning worker threads). Threads:
``--threads`` (default the CPU count) for both onnxruntime's intra-op pool in our detector and
``torch.set_num_threads``; Ultralytics' ONNX session keeps its own default, reported as found.

``photo_4000x3000_to_input_ms``: one 12-megapixel JPEG from file to letterboxed input, reduced-scale decode
(run.py's default) against ``--full-decode``. ``forward_only`` times the two runtimes alone on one letterboxed input
(the runner's Detector.raw against the module YOLO.predict runs): no runner can beat torch end to end by more than
that ratio plus what it saves around it.

Targets: median(torch) / median(ours) >= 2.0 and median(ultralytics onnx) / median(ours) >= 1.0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from _common import emit, environment, log, percentile, stdout_to_stderr, temp_root, write_photos

ROUNDS = 3
RAW_RUNS = 30
BIG_RUNS = 5
VS_TORCH_MIN = 2.0
VS_ULTRALYTICS_ONNX_MIN = 1.0
CONF, IOU = 0.25, 0.7


def _stats(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 2), "p90_ms": round(percentile(ms, 90), 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


def build_model(tmp: Path, train_n: int, epochs: int, imgsz: int) -> tuple[Path, Path, Path, list[str]]:
    """Train yolo11n on a demo workspace and export it twice (dynamic input, so both ONNX paths run rectangular
    inputs as YOLO(pt) does): as ``cvops export --dynamic`` writes it (Ultralytics' export plus our graph pass) and as
    Ultralytics alone writes it; returns the .pt, our .onnx, Ultralytics' .onnx and the class names."""
    from cvops.samples.demo import run_demo
    from cvops.models.registry import get_model
    from cvops.training import train
    from cvops.models.offline import make_offline
    from cvops.data.workspace import Workspace

    run_demo(tmp / "ws", count=train_n)
    ws = Workspace.open(tmp / "ws")
    try:
        result = train(ws, "v1", epochs=epochs, imgsz=imgsz, batch=8, device="cpu", seed=0)
        if result.state != "finished":
            raise RuntimeError(f"training ended {result.state}: {result.error}")
        model = get_model(ws, "latest")
    finally:
        ws.close()
    log(f"trained {model.name} ({epochs} epoch(s) at {imgsz} on {train_n} images)")
    make_offline(tmp / "ultralytics", block_network=False)
    from ultralytics import YOLO

    from cvops.deploy.graph_passes import apply_graph_passes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = Path(YOLO(model.weights).export(format="onnx", imgsz=imgsz, dynamic=True, simplify=False,
                                                verbose=False))
    ours = plain.with_name("ours.onnx")
    shutil.copyfile(plain, ours)
    apply_graph_passes(ours)
    return Path(model.weights), ours, plain, [c["name"] for c in model.classes]


def run(n: int, imgsz: int, train_n: int, epochs: int, threads: int, size: tuple[int, int] = (1280, 720)
        ) -> dict[str, Any]:
    """Build the model and images, time the three sides; return the report."""
    import onnxruntime as ort
    import torch
    import ultralytics
    from ultralytics import YOLO

    from cvops.deploy.edge_runner import Detector, letterbox, read_image

    with temp_root("edge-runner") as tmp:
        pt, onnx, plain_onnx, names = build_model(tmp, train_n, epochs, imgsz)
        paths = [str(p) for p in write_photos(tmp / "images", n, size[0], size[1], workers=1)]
        torch.set_num_threads(threads)
        ours = Detector(onnx, {"names": names, "imgsz": imgsz, "nms": {"conf": CONF, "iou": IOU}}, threads=threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y_pt, y_onnx = YOLO(str(pt)), YOLO(str(plain_onnx), task="detect")

        def edge(path: str) -> int:
            image, fx, fy = read_image(Path(path), imgsz)  # type: ignore[misc]
            return len(ours.detections(image, scale=(fx, fy)))

        def edge_full(path: str) -> int:  # run.py --full-decode: the same reader without a target size
            return len(ours.detections(read_image(Path(path))[0]))  # type: ignore[index]

        def ultra(model: Any) -> Callable[[str], int]:
            def predict(path: str) -> int:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = model.predict(path, imgsz=imgsz, conf=CONF, iou=IOU, device="cpu", verbose=False)
                return len(r[0].boxes)
            return predict

        sides: dict[str, Callable[[str], int]] = {"edge_runner": edge, "ultralytics_torch": ultra(y_pt),
                                                  "ultralytics_onnx": ultra(y_onnx),
                                                  "edge_runner_full_decode": edge_full}
        for fn in sides.values():
            for path in paths[:3]:
                fn(path)
        torch.set_num_threads(threads)  # Ultralytics' select_device reset it to min(8, CPUs - 1) on the first predict
        ort_session = getattr(getattr(y_onnx.predictor, "model", None), "session", None)
        ultra_onnx_threads = ort_session.get_session_options().intra_op_num_threads if ort_session else None
        times: dict[str, list[float]] = {k: [] for k in sides}
        found: dict[str, int] = {k: 0 for k in sides}
        # Each side runs over all the images as one block (three rounds, rotating which block goes first): calls
        # interleaved image by image would charge one runtime for the other's spinning worker threads.
        order = list(sides)
        for r in range(ROUNDS):
            for name in order[r % len(order):] + order[:r % len(order)]:
                for path in paths:
                    started = time.perf_counter()
                    found[name] += sides[name](path)
                    times[name].append((time.perf_counter() - started) * 1000)
        log("timed " + ", ".join(f"{k} {statistics.median(v):.1f} ms" for k, v in times.items()))
        # The runtimes alone, on one letterboxed input: the ceiling for any end-to-end ratio.
        tensor = ours.preprocess(read_image(Path(paths[0]), imgsz)[0])[0][None]  # type: ignore[index]
        backend = y_pt.predictor.model  # the AutoBackend (fused PyTorch module) YOLO.predict runs
        forward = {"onnxruntime": lambda: ours.raw(tensor), "torch": lambda: backend(torch.from_numpy(tensor))}
        raw: dict[str, float] = {}
        with torch.inference_mode():
            for name, fn in forward.items():
                for _ in range(3):
                    fn()
                ms = []
                for _ in range(RAW_RUNS):
                    started = time.perf_counter()
                    fn()
                    ms.append((time.perf_counter() - started) * 1000)
                raw[name] = statistics.median(ms)
        # A 12-megapixel photo, file to letterboxed input: reduced-scale decode (run.py's default) vs full decode.
        big = write_photos(tmp / "big", 1, 4000, 3000, workers=1)[0]
        big_ms: dict[str, float] = {}
        for name, size_arg in (("reduced_decode", imgsz), ("full_decode", None)):
            ms = []
            for _ in range(BIG_RUNS):
                started = time.perf_counter()
                image = read_image(big, size_arg)[0]  # type: ignore[index]
                letterbox(image, imgsz, 32)
                ms.append((time.perf_counter() - started) * 1000)
            big_ms[name] = statistics.median(ms)
    med = {k: statistics.median(v) for k, v in times.items()}
    vs_torch = med["ultralytics_torch"] / med["edge_runner"]
    vs_onnx = med["ultralytics_onnx"] / med["edge_runner"]
    return {
        "benchmark": "edge_runner",
        "images": n,
        "image_size": list(size),
        "imgsz": imgsz,
        "model": {"architecture": "yolo11n", "epochs": epochs, "train_images": train_n, "classes": len(names)},
        "threads": {"onnxruntime_intra_op (edge_runner)": threads, "torch": torch.get_num_threads(),
                    "onnxruntime_intra_op (ultralytics onnx)": ultra_onnx_threads or "onnxruntime default"},
        "latency": {k: _stats(v) for k, v in times.items()},
        "detections": found,
        "photo_4000x3000_to_input_ms": {k: round(v, 1) for k, v in big_ms.items()},
        "forward_only": {"input": list(tensor.shape), "onnxruntime_ms": round(raw["onnxruntime"], 2),
                         "torch_ms": round(raw["torch"], 2), "torch_vs_onnxruntime": round(raw["torch"] /
                                                                                           raw["onnxruntime"], 2)},
        "speedup": {"vs_torch": round(vs_torch, 2), "vs_ultralytics_onnx": round(vs_onnx, 2),
                    "full_decode_vs_torch": round(med["ultralytics_torch"] / med["edge_runner_full_decode"], 2)},
        "target": {"vs_torch_min": VS_TORCH_MIN, "vs_ultralytics_onnx_min": VS_ULTRALYTICS_ONNX_MIN},
        "pass": {"vs_torch": vs_torch >= VS_TORCH_MIN, "vs_ultralytics_onnx": vs_onnx >= VS_ULTRALYTICS_ONNX_MIN},
        "environment": {**environment(), "onnxruntime": ort.__version__, "torch": torch.__version__,
                        "ultralytics": ultralytics.__version__},
    }


def main() -> int:
    """Parse arguments, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="timed images (default 50)")
    parser.add_argument("--imgsz", type=int, default=640, help="model input size (default 640)")
    parser.add_argument("--train-n", type=int, default=32, help="demo images to train on (default 32)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="onnxruntime intra-op and torch threads (default: the CPU count)")
    parser.add_argument("--size", default="1280x720", help="image width x height (default 1280x720)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with stdout_to_stderr():
        result = run(args.n, args.imgsz, args.train_n, args.epochs, args.threads, size)  # type: ignore[arg-type]
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
