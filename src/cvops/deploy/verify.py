"""The export gate: an ONNX or OpenVINO export must score like the PyTorch model it came from.

:func:`verify_export` evaluates the export in its runtime (:class:`~cvops.deploy.edge_runner.Detector`: onnxruntime's
CPU provider for ONNX, OpenVINO's CPU device at float32 precision for an OpenVINO IR) and the model's PyTorch weights on one split of a version (the model's own ``val`` by default) with the
metric code of :func:`cvops.models.evaluation.evaluate` (:func:`cvops.models.evaluation.score`: Ultralytics' matching and
``ap_per_class``, nothing stored in ``evaluations``).

Apples to apples: both sides get *exactly* the same input and post-processing. The PyTorch model runs inside a
:class:`TorchDetector`, a ``Detector`` whose forward is the model's raw ``nn.Module`` (fp32, eval mode, Conv+BN
fused as the exporter does) instead of an onnxruntime session, so letterbox (``cv2.INTER_LINEAR`` on the
oriented image as run.py decodes it, gray padding to the square input), the 0-1 NCHW tensor, the confidence filter,
the per-class NMS and the mapping back to image pixels are one and the same code (edge_runner's), and the only
difference left is the network's arithmetic. Images are decoded as a bundle's ``run.py`` decodes them (large JPEGs
at reduced DCT scale, :func:`~cvops.deploy.edge_runner.decode_image`), so the verdict covers what runs on the
device. (``evaluate`` itself predicts with Ultralytics on images first shrunk with ``INTER_AREA`` as its validation
loader does, so its mAP can differ from the gate's PyTorch figure by a little; the gate compares only like with
like.)

The report: mAP50 and mAP50-95 of both, their deltas in points (export - PyTorch, x100), the largest absolute
difference between the raw outputs on a few images (:data:`RAW_DIFF_IMAGES`), and the forward latency at batch 1 (p50
and p95 ms over ``latency_runs`` timed runs after warm-up) of the export's runtime on the CPU (``cpu``; ``export.runtime``
names it), of the other runtime on the same file where it can read it and is installed (``openvino_cpu``: OpenVINO
reads ONNX files too), and of onnxruntime's CUDA provider when it works here, against PyTorch on the CPU. ``passed`` when the mAP50-95 delta is at least minus :data:`THRESHOLDS` points for
the export's precision (0.5 for fp32 and fp16, 1.5 for int8) *and* the export reaches the quality floor.

Parity is not quality: a model that finds nothing (mAP 0.000 after a few CPU epochs) exports with perfect parity. So
the report also holds ``quality``: the export's own mAP50-95 on the split against a floor (``min_map50_95``, default
:data:`DEFAULT_MIN_MAP50_95`), ``{metric, value, floor, passed, overridden}``. Below the floor the gate fails unless
``allow_below_floor`` overrides it (recorded as ``overridden``). ``parity_passed`` keeps the parity verdict alone.
The report is stored with the export (``exports.verify``, ``verified_at``, ``passed``).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from cvops.catalog.db import transaction
from cvops.deploy.edge_runner import BundleError, Detector
from cvops.deploy.export import ExportInfo, ExportRef, export_digest, get_export, read_for_runner
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.evaluation_store import _model_row
from cvops.models.registry import QUALITY_FLOOR
from cvops.common.jobs import CancelToken, Progress, no_progress

if TYPE_CHECKING:
    from cvops.models.evaluation import Detections
    from cvops.data.workspace import Workspace

__all__ = ["DEFAULT_MIN_MAP50_95", "QUALITY_METRIC", "RAW_DIFF_IMAGES", "THRESHOLDS", "DetectorPredictor",
           "TorchDetector", "VerifyReport", "quality_check", "verify_export"]

THRESHOLDS = {"fp32": 0.5, "fp16": 0.5, "int8": 1.5}  # largest allowed mAP50-95 drop, in points
DEFAULT_MIN_MAP50_95 = QUALITY_FLOOR
"""The default quality floor: far below anything usable, far above what an untrained model scores (0.000 after 3
CPU epochs on the demo; 20 epochs reach 0.3 and more), so it catches "did not learn" without second-guessing a
domain's own bar (raise it with ``--min-map50-95``)."""
QUALITY_METRIC = "map50_95"
RAW_DIFF_IMAGES = 4
_KIND = {"onnx": "ONNX", "openvino": "OpenVINO"}
WARMUP_RUNS = 5
PREPROCESSING = ("edge_runner decode (JPEGs >= 2x the input size at 1/2-1/8 DCT scale, as run.py) and letterbox "
                 "(cv2.INTER_LINEAR, pad 114) for both; PyTorch raw forward and onnxruntime share Detector's pre- and "
                 "post-processing")


@dataclass(frozen=True)
class VerifyReport:
    """The gate's verdict on one export; see the module doc."""

    export_id: int
    model: str
    precision: str
    version: str
    split: str
    images: int
    pytorch: dict[str, Any]
    export: dict[str, Any]
    delta_map50: float
    delta_map50_95: float
    max_abs_output_diff: Optional[float]
    threshold_points: float
    passed: bool
    providers: list[str] = field(default_factory=list)
    preprocessing: str = PREPROCESSING
    duration_s: float = 0.0
    verified_at: float = 0.0
    parity_passed: Optional[bool] = None
    quality: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class DetectorPredictor:
    """A :class:`cvops.models.evaluation.Predictor` over a ``Detector``: images decoded as a bundle's ``run.py`` decodes
    them (:func:`~cvops.deploy.edge_runner.decode_image`: large JPEGs at reduced scale), then letterboxed by the
    detector."""

    resize = False

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.imgsz = detector.imgsz

    def read(self, image_id: int, path: Path) -> tuple[np.ndarray, tuple[float, float]]:
        """The image as the edge runner decodes it and the factors back to full size."""
        return read_for_runner(image_id, path, self.imgsz)

    def __call__(self, images: list[np.ndarray], conf: float, iou: float) -> list["Detections"]:
        return self.detector.predict_arrays(images, conf, iou)


class TorchDetector(Detector):
    """A ``Detector`` whose forward is a PyTorch detection model: the pre- and post-processing (and every setting:
    input size, names, thresholds) of ``like``, the ONNX export's detector; only the runtime differs."""

    def __init__(self, module: Any, like: Detector) -> None:  # no onnxruntime session of its own
        self.__dict__.update(like.__dict__)
        self.path = Path("<pytorch>")
        self.module = module
        self.dtype = np.float32
        self.batch_size = 1

    def raw(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        if isinstance(out, (list, tuple)):  # eval mode returns (decoded, raw feature maps)
            out = out[0]
        return out.cpu().numpy()


def _torch_module(yolo: Any) -> Any:
    """The model's ``nn.Module`` in fp32 eval mode with Conv+BN fused (as the exporter runs it), on the CPU."""
    module = copy.deepcopy(yolo.model).float().cpu().eval()
    if hasattr(module, "fuse"):
        module = module.fuse(verbose=False)
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def _open_detector(export: ExportInfo, model: dict[str, Any], providers: Optional[list[str]] = None) -> Detector:
    """The export in its runtime, after checking its file (present, unchanged, parseable) and its class count."""
    path = Path(export.path)
    label = f"export {export.id} ({model['name']} {export.precision})"
    if export.format not in ("onnx", "openvino"):
        raise ValidationError(f"{label} is {export.format}; only ONNX and OpenVINO exports can be verified here")
    try:
        actual = export_digest(path)[0]
    except FileNotFoundError as exc:
        raise NotFoundError(f"model file {exc.filename or path} of {label} is missing") from None
    if actual != export.sha256:
        raise ValidationError(f"model file {path} of {label} changed since it was exported: sha256 {actual[:12]} "
                              f"is not the recorded {export.sha256[:12]} (export the model again)")
    try:
        detector = Detector(path, providers=providers)
    except BundleError as exc:  # unparseable file, no runtime, or its metadata disagrees with its outputs
        raise ValidationError(f"cannot use {_KIND[export.format]} file {path} of {label}: {exc}") from None
    n = len(model["classes"])
    shape = detector.session.outputs[0].shape
    channels = shape[1] if len(shape) == 3 else None
    expected = 4 + n
    if channels is not None and (channels < expected if model["task"] == "segment" else channels != expected):
        raise ValidationError(f"model file {path} of {label} outputs {channels} channels per anchor; model "
                              f"{model['name']} has {n} classes, so {expected} (4 box + {n} class scores) are needed")
    if detector.names and len(detector.names) != n:
        raise ValidationError(f"model file {path} of {label} names {len(detector.names)} classes; model "
                              f"{model['name']} has {n}")
    if not detector.names:
        detector.names = [str(c.get("name")) for c in model["classes"]]
    return detector


def _openvino_detector(path: Path) -> Optional[Detector]:
    """OpenVINO on an ONNX export's own file (it reads ONNX), when it is installed and can run it."""
    from cvops.deploy import runtimes

    if not runtimes.installed("openvino"):
        return None
    try:
        return Detector(path, runtime="openvino")
    except BundleError:
        return None


def _cuda_detector(path: Path) -> Optional[Detector]:
    """The export on onnxruntime's CUDA provider when it really runs here (a GPU build *and* a GPU)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return None
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        if hasattr(ort, "preload_dlls"):  # onnxruntime-gpu >= 1.21: load the CUDA/cuDNN libraries torch ships
            ort.preload_dlls()
        detector = Detector(path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    except Exception:  # a GPU build without a usable driver
        return None
    return detector if detector.session.providers[0] == "CUDAExecutionProvider" else None


def _latency(fn: Callable[[np.ndarray], Any], tensor: np.ndarray, runs: int) -> Optional[dict[str, float]]:
    """p50 / p95 milliseconds of ``fn(tensor)`` over ``runs`` timed calls after warm-up."""
    if runs <= 0:
        return None
    for _ in range(WARMUP_RUNS):
        fn(tensor)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(tensor)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50": round(float(np.percentile(times, 50)), 3), "p95": round(float(np.percentile(times, 95)), 3)}


def _stage(progress: Progress, lo: float, hi: float) -> Progress:
    return lambda f, m: progress(lo + (hi - lo) * f, m)


def verify_export(ws: "Workspace", export_ref: ExportRef, version_ref: Optional[Any] = None, split: str = "val",
                  progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None,
                  latency_runs: int = 50, min_map50_95: float = DEFAULT_MIN_MAP50_95,
                  allow_below_floor: bool = False) -> VerifyReport:
    """Run the export gate (see the module doc), store the report with the export and return it.

    ``min_map50_95`` is the quality floor for the export's own mAP50-95 (0 disables it); ``allow_below_floor``
    lets an export below it pass (parity still decides), recorded in ``quality.overridden``.

    Raises :class:`NotFoundError` for an unknown export, model or version or a missing file, :class:`ValidationError`
    for a changed or unreadable ONNX file, a class-count mismatch, a non-ONNX export or an empty split, and
    :class:`cvops.common.jobs.Cancelled` when ``cancel`` is triggered (nothing is stored).
    """
    from cvops.models.evaluation import (
        _ensure_offline,
        _load_model,
        score,
        split_items,
    )
    from cvops.versions.create import get_version

    quality_check(0.0, min_map50_95)  # a bad floor fails before any work
    progress = progress or no_progress
    started = time.monotonic()
    export = get_export(ws, export_ref)
    model = _model_row(ws, export.model_id)
    detector = _open_detector(export, model)
    info = get_version(ws, model["version_id"] if version_ref is None else version_ref)
    progress(0.0, f"loading model {model['name']}")
    _ensure_offline(ws)
    yolo = _load_model(model)
    torch_det = TorchDetector(_torch_module(yolo), detector)
    results = {}
    for name, det, lo, hi in (("pytorch", torch_det, 0.0, 0.4), ("export", detector, 0.4, 0.8)):
        if cancel is not None:
            cancel.raise_if_cancelled()
        results[name] = score(ws, export.model_id, DetectorPredictor(det), info.id, split,
                              progress=_stage(progress, lo, hi), cancel=cancel)
    # Raw outputs and latency on the first images of the split, letterboxed once for both runtimes.
    items = [(it.image_id, it.path) for it in split_items(ws, info.id, split)[0] if it.path.is_file()][:RAW_DIFF_IMAGES]
    tensors = [detector.preprocess(read_for_runner(iid, path, detector.imgsz)[0])[0][None] for iid, path in items]
    diff = max((float(np.max(np.abs(torch_det.raw(t).astype(np.float64) - detector.raw(t).astype(np.float64))))
                for t in tensors), default=None)
    progress(0.85, "measuring latency")
    if cancel is not None:
        cancel.raise_if_cancelled()
    tensor = tensors[0]
    export_latency: dict[str, Any] = {"cpu": _latency(detector.raw, tensor, latency_runs)}
    providers = list(detector.session.providers)
    other = _openvino_detector(Path(export.path)) if detector.runtime == "onnxruntime" else None
    if other is not None:
        export_latency["openvino_cpu"] = _latency(other.raw, tensor, latency_runs)
        providers += other.session.providers
    cuda = _cuda_detector(Path(export.path)) if detector.runtime == "onnxruntime" else None
    if cuda is not None:
        export_latency["cuda"] = _latency(cuda.raw, tensor, latency_runs)
        providers.append("CUDAExecutionProvider")
    torch_latency = _latency(torch_det.raw, tensor, latency_runs)
    if cancel is not None:
        cancel.raise_if_cancelled()
    pt, ex = results["pytorch"]["metrics"], results["export"]["metrics"]
    delta50 = round((ex["map50"] - pt["map50"]) * 100, 4)
    delta = round((ex["map50_95"] - pt["map50_95"]) * 100, 4)
    threshold = THRESHOLDS[export.precision]
    parity = bool(delta >= -threshold)
    quality = quality_check(ex[QUALITY_METRIC], min_map50_95, allow_below_floor)
    now = time.time()
    report = VerifyReport(
        export.id, model["name"], export.precision, info.name, split, results["export"]["images"],
        {"map50": pt["map50"], "map50_95": pt["map50_95"], "latency_ms": torch_latency},
        {"map50": ex["map50"], "map50_95": ex["map50_95"], "latency_ms": export_latency, "runtime": detector.runtime},
        delta50, delta, None if diff is None else round(diff, 8), threshold,
        parity and (quality["passed"] or quality["overridden"]), providers, PREPROCESSING,
        round(time.monotonic() - started, 3), now, parity, quality)
    with transaction(ws.db):
        ws.db.execute("UPDATE exports SET verify = ?, verified_at = ?, passed = ? WHERE id = ?",
                      [_json(report.to_dict()), now, int(report.passed), export.id])
    progress(1.0, f"export {export.id}: mAP50-95 {delta:+.2f} points, {quality['message']}, "
                  f"{'passed' if report.passed else 'FAILED'}")
    return report


def quality_check(value: float, floor: float = DEFAULT_MIN_MAP50_95, allow_below_floor: bool = False
                  ) -> dict[str, Any]:
    """The quality part of the gate: ``{metric, value, floor, passed, overridden, message}``; ``overridden`` is true
    only when the value is below the floor and ``allow_below_floor`` let it through."""
    if floor < 0 or floor > 1:
        raise ValidationError(f"the quality floor (min mAP50-95) must be between 0 and 1, not {floor}")
    passed = bool(value >= floor)
    overridden = bool(not passed and allow_below_floor)
    message = (f"mAP50-95 {value:.3f} {'>=' if passed else '<'} floor {floor:.3f}"
               + (" (below the floor, allowed by override)" if overridden else ""))
    return {"metric": QUALITY_METRIC, "value": float(value), "floor": float(floor), "passed": passed,
            "overridden": overridden, "message": message}


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data)
