"""Edge runner latency: a bundle's ``run.py`` detector (``edge_runner.Detector``, batch 1, on the CPU) in onnxruntime
and in OpenVINO, each fp32 and int8, against Ultralytics' ``YOLO(pt).predict`` (PyTorch), its ONNX predict and its
OpenVINO predict.

Model: yolo11n trained from its YAML (no weights downloaded) for ``--epochs`` (default 1) on a demo workspace of
``--train-n`` shapes images (default 32) at ``--imgsz`` (default 640); training and exports untimed (see
``_edge_models.py``). Ours are the workbench's exports (``export_model``, dynamic input, so every side runs a 16:9 image
as 640x384 as ``YOLO(pt)`` does): ONNX fp32 (Ultralytics' ONNX export plus our graph passes), ONNX int8 (onnxruntime's
QDQ static quantization), OpenVINO fp32 (that ONNX graph saved as an IR by ``openvino.save_model``) and OpenVINO int8
(NNCF), int8 calibrated on the demo's train images. All four export and run with a dynamic input here (checked on each
run: an export that fails dynamic, or whose model cannot run a rectangular input, is redone with a static one and
``dynamic_input`` / ``notes`` say so). One difference dynamic makes: onnxruntime's ``quant_pre_process`` cannot complete
symbolic shape inference on the dynamic graph, so ``export_model`` quantizes it without that step (its export log says
"quant_pre_process skipped"); a static 640 export with it ran the int8 forward no faster (72 against 73 ms, fp32 37 ms,
on a 2-core AMD EPYC). Ultralytics' ONNX side runs its own ONNX export (dynamic, not simplified). Its OpenVINO side does
not use Ultralytics' OpenVINO export (``openvino.convert_model``, whose usage reporting may reach the network): the
benchmark assembles the folder Ultralytics' ``AutoBackend`` loads, ``<stem>_openvino_model/`` with our fp32 IR and the
``metadata.yaml`` Ultralytics writes (names, stride, imgsz, task, batch, args with ``dynamic``), and runs ``YOLO(folder,
task="detect").predict``: the same IR as ours, run by Ultralytics' pre- and postprocessing (OpenVINO's CPU defaults
there, unlike ours, which forces f32 inference precision: on a CPU with bf16 instructions, such as an AMD EPYC with
AVX512_BF16, Ultralytics' OpenVINO side runs in bf16; ``ultralytics_openvino_f32`` is the same side recompiled with f32
inference precision, as ours; the precision and thread count each compiled model reports are in ``threads``).
``agreement``: on a timed photo and on a train image, each full-decoded and the same array given to both, how many of
our OpenVINO / onnxruntime fp32 runner's 20 most confident boxes at confidence ``CHECK_CONF`` Ultralytics' OpenVINO
(bf16 and f32) / PyTorch side also finds (same class, IoU >= 0.5), and the largest differences of the raw outputs on one
letterboxed input (box pixels, scores). A model trained one epoch scores nothing above 0.25 and its class scores are
near ties (all about 0.004), so bf16's rounding reorders them and few of the top boxes match in bf16 while the raw
outputs differ by under a pixel; in f32 both match exactly. The process blocks every non-loopback socket
(``make_offline(block_network=True)``).

Data: ``--n`` (default 50) synthetic JPEGs of ``--size`` (default 1280x720; quality 90) on disk. Measured per image,
end to end from the file path: read + decode, letterbox / preprocess, inference, postprocess (confidence 0.25, IoU
0.7, per-class NMS) and boxes mapped back to the image. Ours decode as a bundle's ``run.py`` does
(``edge_runner.read_image``: a 1280x720 JPEG for a 640 model at half scale in libjpeg's DCT, which the export gate
verifies); ``edge_onnxruntime_fp32_full_decode`` is the onnxruntime fp32 runner with ``--full-decode``, for reference.
Each side is warmed up on three images first; each side then runs all the images as one block, three rounds rotating
the order (interleaving image by image would charge one runtime for the other's spinning worker threads). Threads:
``--threads`` (default the CPU count) for onnxruntime's intra-op pool and OpenVINO's ``INFERENCE_NUM_THREADS`` in our
detectors and ``torch.set_num_threads``; Ultralytics' ONNX session and OpenVINO model keep their own defaults,
reported as found.

``photo_4000x3000_to_input_ms``: one 12-megapixel JPEG from file to letterboxed input, reduced-scale decode
(run.py's default) against ``--full-decode``. ``forward_only`` times each runtime alone on one letterboxed input (our
detectors' ``raw``; for torch the module ``YOLO(pt).predict`` runs): no runner can beat torch end to end by more than
that ratio plus what it saves around it.

Targets: ``best`` is our fastest runner (runtime and precision by median); median(torch) / median(best) >= 2.0,
median(Ultralytics OpenVINO) / median(best) >= 1.0 and median(Ultralytics ONNX) / median(best) >= 1.0. ``best_fp32``
(our fastest fp32 runner) is reported beside it, as Ultralytics' sides run fp32 (bf16 where OpenVINO picks it).
Figures from a shared machine are noisy: other processes' load moves every side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from _common import emit, environment, log, percentile, stdout_to_stderr, temp_root, write_photos
from _edge_models import OURS, agreement, build_models, force_f32, median_ms, ov_properties, raw_gap, ultra_boxes

ROUNDS = 3
RAW_RUNS = 30
BIG_RUNS = 5
VS_TORCH_MIN = 2.0
VS_ULTRALYTICS_OPENVINO_MIN = 1.0
VS_ULTRALYTICS_ONNX_MIN = 1.0
CONF, IOU = 0.25, 0.7
CHECK_CONF = 0.001  # the agreement check's confidence: a model trained one epoch scores few boxes above CONF


def _stats(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 2), "p90_ms": round(percentile(ms, 90), 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


def _runtime(key: str) -> str:
    return "onnxruntime" if key.startswith("onnx_") else "openvino"


def _side(key: str) -> str:
    """The report's name of our runner on the OURS model ``key``: edge_onnxruntime_fp32, edge_openvino_int8, ..."""
    return f"edge_{_runtime(key)}_{key.split('_')[1]}"


def run(n: int, imgsz: int, train_n: int, epochs: int, threads: int, size: tuple[int, int] = (1280, 720)
        ) -> dict[str, Any]:
    """Build the models and images, time every side; return the report."""
    import onnxruntime as ort
    import openvino as ov
    import torch
    import ultralytics
    from ultralytics import YOLO

    from cvops.deploy.edge_runner import Detector, letterbox, read_image

    with temp_root("edge-runner") as tmp:
        models = build_models(tmp, train_n, epochs, imgsz)
        paths = [str(p) for p in write_photos(tmp / "images", n, size[0], size[1], workers=1)]
        torch.set_num_threads(threads)
        meta = {"names": models.names, "imgsz": imgsz, "nms": {"conf": CONF, "iou": IOU}}
        ours = {key: Detector(path, meta, threads=threads, runtime=_runtime(key)) for key, path in models.ours.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y_pt = YOLO(str(models.pt))
            y_onnx = YOLO(str(models.ultra_onnx), task="detect")
            y_ov = YOLO(str(models.ultra_openvino), task="detect")
            y_ov32 = YOLO(str(models.ultra_openvino), task="detect")

        def edge(detector: Any) -> Callable[[str], int]:
            def detect(path: str) -> int:
                image, fx, fy = read_image(Path(path), imgsz)  # type: ignore[misc]
                return len(detector.detections(image, scale=(fx, fy)))
            return detect

        def edge_full(path: str) -> int:  # run.py --full-decode: the same reader without a target size
            return len(ours["onnx_fp32"].detections(read_image(Path(path))[0]))  # type: ignore[index]

        def ultra(model: Any) -> Callable[[str], int]:
            def predict(path: str) -> int:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = model.predict(path, imgsz=imgsz, conf=CONF, iou=IOU, device="cpu", verbose=False)
                return len(r[0].boxes)
            return predict

        sides: dict[str, Callable[[str], int]] = {_side(k): edge(d) for k, d in ours.items()}
        sides.update({"edge_onnxruntime_fp32_full_decode": edge_full, "ultralytics_torch": ultra(y_pt),
                      "ultralytics_onnx": ultra(y_onnx), "ultralytics_openvino": ultra(y_ov),
                      "ultralytics_openvino_f32": ultra(y_ov32)})
        sides["ultralytics_openvino_f32"](paths[0])  # loads the model, then:
        force_f32(y_ov32, models.ultra_openvino)
        for fn in sides.values():
            for path in paths[:3]:
                fn(path)
        torch.set_num_threads(threads)  # Ultralytics' select_device reset it to min(8, CPUs - 1) on the first predict
        ort_session = getattr(getattr(y_onnx.predictor, "model", None), "session", None)
        ultra_onnx_threads = ort_session.get_session_options().intra_op_num_threads if ort_session else None
        ultra_ov = getattr(getattr(y_ov.predictor, "model", None), "ov_compiled_model", None)
        if ultra_ov is None:
            raise RuntimeError("Ultralytics did not load the OpenVINO folder as OpenVINO")
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
            log(f"round {r + 1}/{ROUNDS}: " + ", ".join(f"{k} {statistics.median(v):.1f} ms" for k, v in times.items()))
        # Detections of a timed photo and of a train image, the same full-decoded array to both sides.
        agree: dict[str, Any] = {"conf": CHECK_CONF, "iou_min": 0.5, "top": 20}
        for label, file in (("photo", Path(paths[0])), ("train_image", models.train_image)):
            image = read_image(file)[0]  # type: ignore[index]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = {m: ultra_boxes(y.predict(image, imgsz=imgsz, conf=CHECK_CONF, iou=IOU, device="cpu",
                                                   verbose=False)[0])
                          for m, y in (("openvino", y_ov), ("openvino_f32", y_ov32), ("torch", y_pt))}
            agree[label] = {f"{_side(k)} vs ultralytics_{m}": agreement(
                ours[k].predict_arrays([image], CHECK_CONF)[0], theirs[m])
                for k, m in (("openvino_fp32", "openvino"), ("openvino_fp32", "openvino_f32"), ("onnx_fp32", "torch"))}
        # The runtimes alone, on one letterboxed input: the ceiling for any end-to-end ratio.
        tensor = ours["onnx_fp32"].preprocess(read_image(Path(paths[0]), imgsz)[0])[0][None]  # type: ignore[index]
        backend = y_pt.predictor.model  # the AutoBackend (fused PyTorch module) YOLO.predict runs
        with torch.inference_mode():  # the same input through both: how far apart the raw outputs are
            agree["raw_output0_max_abs_diff"] = {
                f"{_side(k)} vs ultralytics_{u}": raw_gap(ours[k].raw(tensor),
                                                          y.predictor.model(torch.from_numpy(tensor)))
                for k, u, y in (("openvino_fp32", "openvino", y_ov), ("openvino_fp32", "openvino_f32", y_ov32),
                                ("onnx_fp32", "torch", y_pt))}
        forward: dict[str, Callable[[], Any]] = {"torch": lambda: backend(torch.from_numpy(tensor))}
        forward.update({f"{_runtime(k)}_{k.split('_')[1]}": (lambda d=d: d.raw(tensor)) for k, d in ours.items()})
        with torch.inference_mode():
            raw = {name: median_ms(fn, RAW_RUNS) for name, fn in forward.items()}
        # A 12-megapixel photo, file to letterboxed input: reduced-scale decode (run.py's default) vs full decode.
        big = write_photos(tmp / "big", 1, 4000, 3000, workers=1)[0]
        big_ms = {name: median_ms(lambda s=size_arg: letterbox(read_image(big, s)[0], imgsz, 32),  # type: ignore
                                  BIG_RUNS, warmup=1) for name, size_arg in (("reduced_decode", imgsz),
                                                                             ("full_decode", None))}
        ov_threads = {"edge_openvino": ov_properties(ours["openvino_fp32"].session.compiled),
                      "ultralytics_openvino": ov_properties(ultra_ov),
                      "ultralytics_openvino_f32": ov_properties(y_ov32.predictor.model.ov_compiled_model)}
    med = {k: statistics.median(v) for k, v in times.items()}
    edges = {_side(k): med[_side(k)] for k in OURS}
    best = min(edges, key=edges.__getitem__)
    best_fp32 = min((k for k in edges if k.endswith("fp32")), key=edges.__getitem__)
    speedup = {f"{who}_vs_{side.replace('ultralytics_torch', 'torch')}": round(med[side] / med[b], 2)
               for who, b in (("best", best), ("best_fp32", best_fp32))
               for side in ("ultralytics_torch", "ultralytics_openvino", "ultralytics_openvino_f32",
                            "ultralytics_onnx")}
    speedup["full_decode_vs_torch"] = round(med["ultralytics_torch"] / med["edge_onnxruntime_fp32_full_decode"], 2)
    return {
        "benchmark": "edge_runner",
        "images": n,
        "image_size": list(size),
        "imgsz": imgsz,
        "model": {"architecture": "yolo11n", "epochs": epochs, "train_images": train_n, "classes": len(models.names)},
        "dynamic_input": models.dynamic,
        "notes": models.notes,
        "export_s": models.export_s,
        "threads": {"edge_runner (onnxruntime intra-op, OpenVINO INFERENCE_NUM_THREADS)": threads,
                    "torch": torch.get_num_threads(),
                    "ultralytics_onnx (onnxruntime intra-op)": ultra_onnx_threads or "onnxruntime default",
                    "openvino_compiled": ov_threads},
        "latency": {k: _stats(v) for k, v in times.items()},
        "detections": found,
        "agreement": agree,
        "photo_4000x3000_to_input_ms": {k: round(v, 1) for k, v in big_ms.items()},
        "forward_only": {"input": list(tensor.shape), **{f"{k}_ms": round(v, 2) for k, v in raw.items()},
                         **{f"torch_vs_{k}": round(raw["torch"] / v, 2) for k, v in raw.items() if k != "torch"}},
        "best": {"side": best, "median_ms": round(edges[best], 2)},
        "best_fp32": {"side": best_fp32, "median_ms": round(edges[best_fp32], 2)},
        "speedup": speedup,
        "target": {"vs_torch_min": VS_TORCH_MIN, "vs_ultralytics_openvino_min": VS_ULTRALYTICS_OPENVINO_MIN,
                   "vs_ultralytics_onnx_min": VS_ULTRALYTICS_ONNX_MIN},
        "pass": {"vs_torch": speedup["best_vs_torch"] >= VS_TORCH_MIN,
                 "vs_ultralytics_openvino": speedup["best_vs_ultralytics_openvino"] >= VS_ULTRALYTICS_OPENVINO_MIN,
                 "vs_ultralytics_onnx": speedup["best_vs_ultralytics_onnx"] >= VS_ULTRALYTICS_ONNX_MIN},
        "environment": {**environment(), "onnxruntime": ort.__version__, "openvino": ov.get_version().split("-")[0],
                        "torch": torch.__version__, "ultralytics": ultralytics.__version__},
    }


def main() -> int:
    """Parse arguments, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="timed images (default 50)")
    parser.add_argument("--imgsz", type=int, default=640, help="model input size (default 640)")
    parser.add_argument("--train-n", type=int, default=32, help="demo images to train on (default 32)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="onnxruntime intra-op, OpenVINO and torch threads (default: the CPU count)")
    parser.add_argument("--size", default="1280x720", help="image width x height (default 1280x720)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with stdout_to_stderr():
        result = run(args.n, args.imgsz, args.train_n, args.epochs, args.threads, size)  # type: ignore[arg-type]
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
