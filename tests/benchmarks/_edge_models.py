"""Models and helpers of ``bench_edge_runner.py``: one trained yolo11n exported for every side the benchmark times.

Not a benchmark itself (``make bench`` runs ``bench_*.py`` only) and not collected by pytest. Nothing here reaches
the network: the model is trained from its YAML, every export is written in this process (``export_model``: our
ONNX → ``openvino.save_model``, NNCF for int8; Ultralytics' ONNX export for its own ONNX side), and the folder
Ultralytics' OpenVINO backend loads is assembled from our fp32 IR rather than by Ultralytics' OpenVINO export (which
runs ``openvino.convert_model``, whose usage reporting may contact the network).
"""

from __future__ import annotations

import ast
import contextlib
import shutil
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from _common import log

# export_model's precision and format for each of our runner's models: name -> (format, int8)
OURS = {"onnx_fp32": ("onnx", False), "onnx_int8": ("onnx", True), "openvino_fp32": ("openvino", False),
        "openvino_int8": ("openvino", True)}


@dataclass
class EdgeModels:
    """The trained weights and every export the benchmark runs (see :func:`build_models`)."""

    pt: Path
    names: list[str]
    ours: dict[str, Path] = field(default_factory=dict)  # OURS key -> model.onnx / model.xml
    dynamic: dict[str, bool] = field(default_factory=dict)  # OURS key -> exported with a dynamic input
    notes: dict[str, str] = field(default_factory=dict)  # OURS key -> why a static input was used instead
    export_s: dict[str, float] = field(default_factory=dict)
    ultra_onnx: Path = Path()  # Ultralytics' own ONNX export (dynamic, not simplified)
    ultra_openvino: Path = Path()  # <stem>_openvino_model/ built from our fp32 IR
    train_image: Path = Path()  # one image the model was trained on (the detection agreement check)


def build_models(tmp: Path, train_n: int, epochs: int, imgsz: int) -> EdgeModels:
    """Train yolo11n for ``epochs`` on a demo workspace of ``train_n`` images at ``imgsz``; export it with
    :func:`cvops.deploy.export.export_model` as ONNX fp32 / int8 and OpenVINO fp32 / int8 (dynamic input each, unless
    that export fails or its model cannot run a rectangular input: then static, noted), once with Ultralytics' own
    ONNX export (dynamic, ``simplify=False``), and assemble Ultralytics' OpenVINO folder from our fp32 IR."""
    from cvops.data.workspace import Workspace
    from cvops.deploy.runtimes import import_openvino
    from cvops.models.evaluation import split_items
    from cvops.models.offline import make_offline
    from cvops.models.registry import get_model
    from cvops.samples.demo import run_demo
    from cvops.training import train

    make_offline(tmp / "ultralytics", block_network=True)  # no socket beyond loopback from this process
    import_openvino()  # before Ultralytics imports it: OpenVINO's usage report off (it would not get out anyway)
    run_demo(tmp / "ws", count=train_n)
    ws = Workspace.open(tmp / "ws")
    try:
        result = train(ws, "v1", epochs=epochs, imgsz=imgsz, batch=8, device="cpu", seed=0)
        if result.state != "finished":
            raise RuntimeError(f"training ended {result.state}: {result.error}")
        model = get_model(ws, "latest")
        sample = split_items(ws, model.version_id, "train")[0][0].path
        log(f"trained {model.name} ({epochs} epoch(s) at {imgsz} on {train_n} images)")
        out = EdgeModels(Path(model.weights), [c["name"] for c in model.classes], train_image=Path(sample))
        scratch = tmp / "cwd"
        scratch.mkdir()
        for key, (fmt, int8) in OURS.items():
            with contextlib.chdir(scratch):  # onnxruntime's quant_pre_process leaves temporary files in the cwd
                _export(ws, model.name, key, fmt, int8, imgsz, out)
    finally:
        ws.close()
    from ultralytics import YOLO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out.ultra_onnx = Path(YOLO(str(out.pt)).export(format="onnx", imgsz=imgsz, dynamic=True, simplify=False,
                                                       verbose=False))
    out.ultra_openvino = ultralytics_openvino_folder(out.ours["openvino_fp32"], out.ultra_onnx,
                                                     tmp / "ultra" / f"{out.pt.stem}_openvino_model")
    return out


def _export(ws: Any, model: str, key: str, fmt: str, int8: bool, imgsz: int, out: EdgeModels) -> None:
    """One of our exports into ``out`` (dynamic input unless that fails; see :func:`build_models`)."""
    from cvops.deploy.export import export_model

    started = time.perf_counter()
    problem = ""
    try:
        info = export_model(ws, model, format=fmt, int8=int8, dynamic=True, imgsz=imgsz)
        problem = _rectangular_problem(Path(info.path), imgsz)
    except Exception as exc:  # noqa: BLE001 - any failure means: fall back to a static input
        problem = f"dynamic export failed: {type(exc).__name__}: {str(exc)[:200]}"
    if problem:
        log(f"{key}: {problem}; exporting with a static input")
        info = export_model(ws, model, format=fmt, int8=int8, dynamic=False, imgsz=imgsz)
        out.notes[key] = problem
    out.ours[key] = Path(info.path)
    out.dynamic[key] = bool(info.dynamic)
    out.export_s[key] = round(time.perf_counter() - started, 1)
    log(f"exported {key} in {out.export_s[key]} s: {info.path} (dynamic {info.dynamic})")


def _rectangular_problem(path: Path, imgsz: int) -> str:
    """Empty when the exported model loads in its runtime and runs a 16:9 letterboxed input, else what failed."""
    from cvops.deploy.edge_runner import Detector

    try:
        detector = Detector(path)
        height = max(32, (imgsz * 9 // 16 + 31) // 32 * 32)
        detector.raw(np.zeros((1, 3, height, imgsz), np.float32))
    except Exception as exc:  # noqa: BLE001
        return f"a dynamic {path.name} does not run a {imgsz}x{height} input: {type(exc).__name__}: {str(exc)[:200]}"
    return ""


def ultralytics_openvino_folder(xml: Path, onnx_with_metadata: Path, folder: Path) -> Path:
    """The folder Ultralytics' ``AutoBackend`` loads as OpenVINO (it picks the format by the ``_openvino_model``
    suffix, reads the first ``*.xml`` in it with the ``.bin`` beside it, and its metadata from ``metadata.yaml``):
    a copy of our IR ``xml`` (+ ``.bin``) and the metadata Ultralytics' export writes (``stride``, ``task``,
    ``batch``, ``imgsz``, ``names``, ``args`` with ``dynamic``, ``channels``, ``end2end``, ...), taken from the
    metadata Ultralytics wrote into ``onnx_with_metadata`` (the same model's ONNX export) and typed as its YAML is."""
    import onnx
    from ultralytics.utils import YAML

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(xml, folder / f"{folder.name[:-len('_openvino_model')]}.xml")
    shutil.copyfile(xml.with_suffix(".bin"), folder / f"{folder.name[:-len('_openvino_model')]}.bin")
    props = {p.key: p.value for p in onnx.load(str(onnx_with_metadata), load_external_data=False).metadata_props}
    meta: dict[str, Any] = {}
    for key, value in props.items():
        try:
            meta[key] = ast.literal_eval(value) if key not in ("description", "author", "date", "version",
                                                               "license", "docs", "task", "head") else value
        except (ValueError, SyntaxError):
            meta[key] = value
    meta.setdefault("args", {})["format"] = "openvino"
    YAML.save(folder / "metadata.yaml", meta)
    return folder


def force_f32(yolo: Any, folder: Path) -> None:
    """Recompile the OpenVINO model of ``yolo`` (``folder``'s IR, after its first predict loaded it) as Ultralytics
    does but with float32 inference precision, as our runner forces: Ultralytics leaves OpenVINO's CPU default, bf16
    on CPUs with bf16 instructions (it forces f32 only on Windows and ARM64 Linux)."""
    backend = yolo.predictor.model.backend
    xml = next(Path(folder).glob("*.xml"))
    backend.ov_compiled_model = backend.compile_model(backend.ov.Core().read_model(str(xml)),
                                                      config={"PERFORMANCE_HINT": "LATENCY",
                                                              "INFERENCE_PRECISION_HINT": "f32"})


def ultra_boxes(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An Ultralytics ``Results``' boxes (x1, y1, x2, y2), confidences and classes as numpy arrays."""
    boxes = result.boxes
    return boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(int)


def agreement(ours: tuple[np.ndarray, np.ndarray, np.ndarray], theirs: tuple[np.ndarray, np.ndarray, np.ndarray],
              top: int = 20, iou_min: float = 0.5) -> dict[str, Any]:
    """How two detectors' boxes on one image agree: their counts and best confidences, and how many of our ``top``
    most confident boxes have a box of the same class at IoU >= ``iou_min`` among all of theirs (greedy, best
    confidence first), with the matched pairs' mean IoU and largest confidence gap."""
    (b1, s1, c1), (b2, s2, c2) = ours, theirs
    free = np.ones(len(b2), bool)
    ious, gaps = [], []
    for i in np.argsort(-s1)[:top]:
        x1 = np.maximum(b1[i, 0], b2[:, 0])
        y1 = np.maximum(b1[i, 1], b2[:, 1])
        x2 = np.minimum(b1[i, 2], b2[:, 2])
        y2 = np.minimum(b1[i, 3], b2[:, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        union = ((b1[i, 2] - b1[i, 0]) * (b1[i, 3] - b1[i, 1]) + (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
                 - inter)
        iou = np.where(free & (c2 == c1[i]), inter / np.maximum(union, 1e-9), 0.0)
        j = int(np.argmax(iou)) if len(iou) else 0
        if len(iou) and iou[j] >= iou_min:
            free[j] = False
            ious.append(float(iou[j]))
            gaps.append(abs(float(s1[i]) - float(s2[j])))
    return {"ours": int(len(b1)), "theirs": int(len(b2)),
            "max_conf": [round(float(s.max()), 4) if len(s) else None for s in (s1, s2)],
            "top": min(top, int(len(b1))), "top_matched": len(ious),
            "mean_iou": round(statistics.fmean(ious), 4) if ious else None,
            "max_conf_gap": round(max(gaps), 4) if gaps else None}


def raw_gap(ours: np.ndarray, theirs: Any) -> dict[str, float]:
    """The largest absolute differences between two raw detection outputs ``(1, 4 + classes, anchors)`` (the first
    of ``theirs`` when it is a list, as Ultralytics' backends return every output): box coordinates, class scores."""
    first = theirs[0] if isinstance(theirs, (list, tuple)) else theirs
    other = first.detach().cpu().numpy() if hasattr(first, "detach") else np.asarray(first)
    diff = np.abs(ours.astype(np.float32) - other.astype(np.float32))
    return {"boxes_px": round(float(diff[:, :4].max()), 4), "scores": round(float(diff[:, 4:].max()), 5)}


def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 3) -> float:
    """Median milliseconds of ``fn()`` over ``runs`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - started) * 1000)
    return statistics.median(ms)


def ov_properties(compiled: Any) -> dict[str, Any]:
    """An OpenVINO compiled model's thread count and inference precision, as it reports them."""
    out: dict[str, Any] = {}
    for key, name in (("threads", "INFERENCE_NUM_THREADS"), ("precision", "INFERENCE_PRECISION_HINT")):
        try:
            value = compiled.get_property(name)
            out[key] = value.get_type_name() if hasattr(value, "get_type_name") else str(value)
        except Exception:  # noqa: BLE001 - a property this device does not report
            out[key] = None
    return out
