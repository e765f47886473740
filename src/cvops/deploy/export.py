"""Exporting a registered model for deployment: ONNX in fp32, fp16 or int8 (and other formats where installed).

:func:`export_model` exports the model's weights with Ultralytics in this process (offline, see
:func:`cvops.models.offline.make_offline`) and stores the result in ``WORKSPACE/exports/<model>-<precision>-<imgsz>
[-dynamic]-<n>/model.onnx`` (written in a hidden temporary folder, then renamed) with a row in the ``exports`` table.

* fp32: Ultralytics' ONNX export (``simplify=False``, batch 1, the model's training image size by default), then
  :func:`cvops.deploy.graph_passes.apply_graph_passes` (same outputs, faster on onnxruntime's CPU provider); fp16
  and int8 start from that graph.
* fp16: the fp32 graph converted with onnxruntime's ``convert_float_to_float16(keep_io_types=True)``; inputs and
  outputs stay float32, so the pre-processing of ``cvops.deploy.edge_runner`` is the same (Ultralytics exports half
  precision only on a GPU).
* int8: onnxruntime static quantization (QDQ, per-channel weights, percentile calibration) of the fp32 graph after
  ``quant_pre_process``; calibrated on up to :data:`CALIBRATION_IMAGES` images of the version's *train* split,
  letterboxed exactly as :class:`~cvops.deploy.edge_runner.Detector` does at inference. Only the weighted operators
  (Conv, Gemm, MatMul) are quantized: the detection head's decode stays float, since one int8 scale spanning box
  pixels and class scores would round every score to zero (what Ultralytics' own int8 ONNX export does too).
  Percentile (99.999) calibration rather than MinMax: on a 160 px demo model MinMax lost 3.2 points of mAP50-95,
  percentile none (within the noise of 14 validation images). MinMax remains the fallback when a tensor's range is
  too narrow for the percentile histogram (barely trained models).

OpenVINO (``model.xml`` + ``model.bin``): the fp32 ONNX graph above (graph passes applied), read by OpenVINO's own
ONNX front end and saved as an IR (``openvino.save_model``; ``half``: weights compressed to fp16, which OpenVINO's CPU
plugin decompresses at load); ``int8``: NNCF post-training quantization (``nncf.quantize``, performance preset:
symmetric activations, fast bias correction) calibrated on the same train images as the ONNX int8 path, letterboxed by
the runner, with the operators of the detection head's decode and the residual additions (Sigmoid, Multiply,
Subtract, Add, Divide, SoftMax) left float, as Ultralytics leaves the head's. On the 160 px demo model: -0.96 points of
mAP50-95 (the ONNX int8 path: -0.86); NNCF's mixed preset lost 1.64, quantizing the additions too 5.3. Neither touches the network:
OpenVINO's and NNCF's usage reports (sent by default) are off (:func:`cvops.deploy.runtimes.import_openvino`).

TFLite, CoreML and TensorRT exports are delegated to Ultralytics when their packages are installed
(:func:`available_formats`); :func:`cvops.deploy.verify.verify_export` checks ONNX and OpenVINO exports against
PyTorch.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import importlib.util
import io
import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Union

from cvops.catalog.db import transaction
from cvops.deploy.graph_passes import apply_graph_passes
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken, Progress, no_progress
from cvops.models.registry import ModelRef, get_model
from cvops.catalog.store import fsync_dir, hash_file, sha256_file

if TYPE_CHECKING:
    import numpy as np

    from cvops.data.workspace import Workspace

__all__ = ["CALIBRATION_IMAGES", "FORMATS", "ExportInfo", "available_formats", "export_digest", "export_model",
           "get_export", "list_exports"]

ExportRef = Union[int, str, Path]
CALIBRATION_IMAGES = 100
OV_IGNORED_TYPES = ["Sigmoid", "Multiply", "Subtract", "Add", "Divide", "SoftMax"]  # stay float in int8 (see doc)
# format -> (Python package that must import, what to install, file or folder Ultralytics writes)
FORMATS: dict[str, tuple[str, str, str]] = {
    "onnx": ("onnxruntime", "onnx and onnxruntime", ".onnx"),
    "openvino": ("openvino", "openvino (and nncf for --int8): pip install 'cvops-workbench[openvino]'", ".xml"),
    "tflite": ("tensorflow", "tensorflow", "_saved_model"),
    "coreml": ("coremltools", "coremltools", ".mlpackage"),
    "engine": ("tensorrt", "tensorrt (and a CUDA GPU)", ".engine"),
}
_COLUMNS = ("id", "model_id", "format", "precision", "imgsz", "dynamic", "opset", "path", "sha256", "size_bytes",
            "params", "created_at", "verify", "verified_at", "passed")


@dataclass(frozen=True)
class ExportInfo:
    """One exported model file; ``verify`` is the last :class:`~cvops.deploy.verify.VerifyReport` as a dict."""

    id: int
    model_id: int
    model: str
    format: str
    precision: str
    imgsz: int
    dynamic: bool
    opset: Optional[int]
    path: str
    sha256: str
    size_bytes: int
    params: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    verify: Optional[dict[str, Any]] = None
    verified_at: Optional[float] = None
    passed: Optional[bool] = None

    @property
    def folder(self) -> Path:
        """The export's folder in ``WORKSPACE/exports``."""
        p = Path(self.path)
        return p if p.is_dir() else p.parent

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


NNCF_INSTALL = "pip install nncf, or pip install 'cvops-workbench[openvino]'"


def available_formats() -> list[dict[str, Any]]:
    """``{format, available, reason}`` per export format: available when its package is installed. OpenVINO's entry
    also has ``int8`` (whether NNCF, which its int8 export needs, is installed) and ``int8_reason``."""
    out: list[dict[str, Any]] = []
    for fmt, (package, install, _suffix) in FORMATS.items():
        needed = ("onnx", package) if fmt in ("onnx", "openvino") else (package,)
        missing = [p for p in needed if importlib.util.find_spec(p) is None]
        out.append({"format": fmt, "available": not missing,
                    "reason": f"needs {install} (not installed: {', '.join(missing)})" if missing else "installed"})
        if fmt == "openvino":
            nncf = importlib.util.find_spec("nncf") is not None
            out[-1].update({"int8": nncf, "int8_reason": "installed" if nncf else
                            f"OpenVINO int8 needs nncf, which is not installed here ({NNCF_INSTALL})"})
    return out


def _info(ws: "Workspace", row: Any) -> ExportInfo:
    v = dict(zip(_COLUMNS + ("model",), row))
    v["path"] = str(ws.root / v["path"])  # stored relative to the workspace, so a moved workspace keeps its exports
    v["params"] = json.loads(v["params"] or "{}")
    v["verify"] = json.loads(v["verify"]) if v["verify"] else None
    v["dynamic"] = bool(v["dynamic"])
    v["passed"] = None if v["passed"] is None else bool(v["passed"])
    return ExportInfo(**v)


_SELECT = f"SELECT {', '.join('e.' + c for c in _COLUMNS)}, m.name FROM exports e JOIN models m ON m.id = e.model_id"


def list_exports(ws: "Workspace", model_ref: Optional[ModelRef] = None) -> list[ExportInfo]:
    """Every export (of one model when ``model_ref`` is given), oldest first."""
    if model_ref is None:
        rows = ws.db.execute(f"{_SELECT} ORDER BY e.id").fetchall()
    else:
        rows = ws.db.execute(f"{_SELECT} WHERE e.model_id = ? ORDER BY e.id", [get_model(ws, model_ref).id]).fetchall()
    return [_info(ws, r) for r in rows]


def get_export(ws: "Workspace", ref: ExportRef) -> ExportInfo:
    """An export by id, or by the path of its file or its folder; raises :class:`NotFoundError`."""
    text = str(ref).strip()
    if text.isdigit():
        row = ws.db.execute(f"{_SELECT} WHERE e.id = ?", [int(text)]).fetchone()
        if row is None:
            raise NotFoundError(f"no export {text} (cvops export --list shows them)")
        return _info(ws, row)
    wanted = Path(text).expanduser().resolve()
    for info in list_exports(ws):
        path = Path(info.path).resolve()
        if wanted in (path, path.parent):
            return info
    raise NotFoundError(f"no export with the path {text} (give an export id, its model file or its folder)")


@contextlib.contextmanager
def _quiet(log: list[str]) -> Iterator[None]:
    """Keep Ultralytics' and the converters' chatter (logger, prints, warnings) off our stdout; collect it."""
    from ultralytics.utils import LOGGER

    buf = io.StringIO()
    handlers = [h for h in LOGGER.handlers if hasattr(h, "setStream")]
    previous = [h.setStream(buf) for h in handlers]  # type: ignore[attr-defined]
    try:
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for h, stream in zip(handlers, previous):
            h.setStream(stream)  # type: ignore[attr-defined]
        log.append(buf.getvalue())


def _ensure_exporter(ws: "Workspace") -> None:
    """Offline stubs also in Ultralytics' exporter, which evaluation's set-up may not have loaded yet."""
    import importlib

    from cvops.models.offline import make_offline

    make_offline(ws.root / "cache" / "ultralytics", block_network=False)
    importlib.import_module("ultralytics.engine.exporter")
    make_offline(ws.root / "cache" / "ultralytics", block_network=False)  # patch the modules loaded just now


def _folder_name(ws: "Workspace", stem: str) -> str:
    root = ws.root / "exports"
    taken = {Path(r[0]).parent.name for r in ws.db.execute("SELECT path FROM exports")}
    n = 1
    while f"{stem}-{n}" in taken or (root / f"{stem}-{n}").exists():
        n += 1
    return f"{stem}-{n}"


def _versions() -> dict[str, str]:
    """Versions of the packages that made the file (module versions: onnxruntime may be the onnxruntime-gpu build)."""
    import importlib

    out = {}
    for name in ("ultralytics", "torch", "onnx", "onnxruntime"):
        with contextlib.suppress(ImportError):
            out[name] = str(getattr(importlib.import_module(name), "__version__", "?"))
    for name in ("openvino", "nncf"):  # by their metadata: importing nncf starts its usage reporting
        if name in sys.modules:
            out[name] = importlib.metadata.version(name)
    return out


def _opset(path: Path) -> Optional[int]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def export_model(ws: "Workspace", model_ref: ModelRef, format: str = "onnx", imgsz: Optional[int] = None,
                 dynamic: bool = False, half: bool = False, int8: bool = False, opset: Optional[int] = None,
                 version_ref: Optional[Any] = None, progress: Optional[Progress] = None,
                 cancel: Optional[CancelToken] = None) -> ExportInfo:
    """Export a registered model; see the module doc. ``imgsz`` defaults to the model's training image size;
    ``version_ref`` picks the version whose train split calibrates int8 (the model's own by default).

    Raises :class:`NotFoundError` for an unknown model or version or a missing weights file, :class:`ValidationError`
    for bad options, an unavailable format (naming the package to install) or unusable weights, and
    :class:`cvops.common.jobs.Cancelled` when ``cancel`` is triggered (nothing is kept).
    """
    progress = progress or no_progress
    fmt = str(format).lower()
    if fmt not in FORMATS:
        raise ValidationError(f"unknown export format {format!r} (choose from {', '.join(FORMATS)})")
    status = next(f for f in available_formats() if f["format"] == fmt)
    if not status["available"]:
        raise ValidationError(f"export format {fmt} is not available here: it {status['reason']}")
    if half and int8:
        raise ValidationError("choose one of --half and --int8")
    model = get_model(ws, model_ref)
    if model.task not in ("detect", "segment"):
        raise ValidationError(f"model {model.name} is a {model.task} model (detect or segment needed)")
    size = int(imgsz or model.params.get("imgsz") or 640)
    if size < 32 or size % 32:
        raise ValidationError(f"image size {size} must be a multiple of 32 (the model's stride), at least 32")
    if opset is not None and not 9 <= int(opset) <= 30:
        raise ValidationError(f"ONNX opset {opset} is out of range (9 to 30)")
    precision = "int8" if int8 else "fp16" if half else "fp32"
    if int8 and fmt == "openvino" and importlib.util.find_spec("nncf") is None:
        raise ValidationError(f"OpenVINO int8 needs nncf, which is not installed here ({NNCF_INSTALL})")
    calibration = _calibration_items(ws, model, version_ref) if int8 and fmt in ("onnx", "openvino") else []
    started = time.monotonic()
    progress(0.0, f"loading model {model.name}")
    from cvops.models.evaluation import _load_model

    _ensure_exporter(ws)
    _load_model(model.to_dict())  # the weights exist, are unchanged and match the class list
    stem = (f"{model.name}-{precision}-{size}" if fmt == "onnx" else f"{model.name}-{fmt}-{precision}-{size}")
    name = _folder_name(ws, stem + ("-dynamic" if dynamic else ""))
    final = ws.root / "exports" / name
    tmp = ws.root / "exports" / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log: list[str] = []
    params: dict[str, Any] = {"task": model.task, "classes": [c.get("name") for c in model.classes],
                              "weights_sha256": model.weights_sha256}
    try:
        weights = tmp / "model.pt"
        shutil.copyfile(model.weights, weights)
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(0.1, f"exporting {fmt}")
        via_onnx = fmt in ("onnx", "openvino")
        produced = _ultralytics_export(weights, "onnx" if via_onnx else fmt, size, dynamic, opset,
                                       half and not via_onnx, int8 and not via_onnx, log)
        weights.unlink()
        if fmt == "openvino":
            produced = tmp / "model.onnx"
            params["graph_passes"] = apply_graph_passes(produced)
            params["opset"] = _opset(produced)
            params["source_onnx_sha256"] = sha256_file(produced)
            produced = _to_openvino(produced, half, calibration, size, params, log, progress, cancel)
        elif fmt == "onnx":
            produced = tmp / "model.onnx"
            params["graph_passes"] = apply_graph_passes(produced)
            if half:
                progress(0.5, "converting to fp16")
                _to_fp16(produced, log)
            elif int8:
                params["calibration_images"], method = _to_int8(produced, calibration, size, log, progress, cancel,
                                                                dynamic)
                params["quantization"] = {"format": "QDQ", "per_channel": True, "calibration": method,
                                          "activations": "int8", "weights": "int8",
                                          "quantized_ops": ["Conv", "Gemm", "MatMul"]}
            import onnx

            try:
                onnx.checker.check_model(str(produced))
            except Exception as exc:  # a broken graph must never be registered
                raise ValidationError(f"the exported ONNX file does not pass onnx.checker: {exc}") from None
            params["opset"] = _opset(produced)
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(0.95, "hashing")
        (tmp / "export.log").write_text("".join(log), encoding="utf-8")
        target = final / produced.name
        digest, nbytes = export_digest(produced)
        params["versions"] = _versions()
        params["duration_s"] = round(time.monotonic() - started, 3)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with transaction(ws.db):
        cur = ws.db.execute(
            "INSERT INTO exports (model_id, format, precision, imgsz, dynamic, opset, path, sha256, size_bytes, "
            "params, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [model.id, fmt, precision, size, int(dynamic), params.get("opset"), target.relative_to(ws.root).as_posix(),
             digest, nbytes,
             json.dumps(params), time.time()])
    info = get_export(ws, int(cur.lastrowid or 0))
    progress(1.0, f"export {info.id}: {target} ({nbytes / 1e6:.1f} MB)")
    return info


def export_digest(path: Path) -> tuple[str, int]:
    """sha256 and size of an export: its file (an OpenVINO IR's ``.xml`` and ``.bin`` together, as
    :func:`cvops.deploy.runtimes.model_digest` and so a bundle's field log identify it), or a folder's files in name
    order (formats that write folders). A missing file raises :class:`FileNotFoundError`."""
    from cvops.deploy.runtimes import model_digest

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    if path.suffix.lower() == ".xml":
        return model_digest(path), path.stat().st_size + path.with_suffix(".bin").stat().st_size
    if path.is_file():
        return hash_file(path)
    import hashlib

    digest, total = hashlib.sha256(), 0
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f.relative_to(path).as_posix().encode() + b"\0" + sha256_file(f).encode())
        total += f.stat().st_size
    return digest.hexdigest(), total


def _ultralytics_export(weights: Path, fmt: str, imgsz: int, dynamic: bool, opset: Optional[int], half: bool,
                        int8: bool, log: list[str]) -> Path:
    """Ultralytics' export of ``weights`` next to it; returns what it wrote."""
    from ultralytics import YOLO

    kwargs: dict[str, Any] = {"format": fmt, "imgsz": imgsz, "dynamic": dynamic, "batch": 1, "device": "cpu"}
    if fmt == "onnx":
        kwargs.update(simplify=False, opset=opset)
    else:
        kwargs.update(half=half, int8=int8)
        if fmt == "engine":
            kwargs["device"] = 0
    try:
        with _quiet(log):
            out = YOLO(str(weights)).export(**kwargs)
    except Exception as exc:
        tail = "".join(log).strip().splitlines()[-3:]
        raise ValidationError(f"Ultralytics' {fmt} export failed: {type(exc).__name__}: {exc}"
                              + (f" ({' / '.join(tail)})" if tail else "")) from None
    path = Path(str(out)) if out else weights.with_suffix(FORMATS[fmt][2])
    if not path.exists():
        raise ValidationError(f"Ultralytics' {fmt} export reported {out!r}, which does not exist")
    return path


def _to_openvino(onnx_path: Path, half: bool, items: list[tuple[int, Path]], imgsz: int, params: dict[str, Any],
                 log: list[str], progress: Progress, cancel: Optional[CancelToken]) -> Path:
    """The fp32 ONNX graph at ``onnx_path`` as an OpenVINO IR beside it (``model.xml`` + ``model.bin``; see the
    module doc); the ONNX file is removed. Returns the ``.xml``."""
    from cvops.deploy.runtimes import import_openvino

    ov = import_openvino()  # (its usage reporting off: NNCF's, imported after it, too)
    progress(0.3, "converting to OpenVINO")
    model = ov.Core().read_model(str(onnx_path))
    params["openvino"] = {"version": str(ov.get_version()).split("-")[0], "converter": "openvino.save_model",
                          "compress_to_fp16": bool(half)}
    if items:
        model = _nncf_int8(onnx_path, model, items, imgsz, params, log, progress, cancel)
    xml = onnx_path.with_name("model.xml")
    ov.save_model(model, str(xml), compress_to_fp16=half)
    onnx_path.unlink()
    return xml


def _nncf_int8(onnx_path: Path, model: Any, items: list[tuple[int, Path]], imgsz: int, params: dict[str, Any],
               log: list[str], progress: Progress, cancel: Optional[CancelToken]) -> Any:
    """NNCF's post-training int8 quantization of the OpenVINO ``model``, calibrated on ``items`` letterboxed by
    the runner (the fp32 ONNX file's detector) exactly as at inference."""
    import logging

    import nncf

    from cvops.deploy.edge_runner import Detector

    nncf.set_log_level(logging.ERROR)
    detector = Detector(onnx_path)
    seen = [0]

    def transform(item: tuple[int, Path]) -> np.ndarray:
        if cancel is not None:
            cancel.raise_if_cancelled()
        seen[0] += 1
        progress(0.35 + 0.55 * min(seen[0] / (2 * len(items)), 1.0), f"calibrating int8 ({seen[0]})")
        return detector.preprocess(read_for_runner(item[0], item[1], imgsz)[0])[0][None].astype("float32")

    with _quiet(log):
        quantized = nncf.quantize(model, nncf.Dataset(items, transform),
                                  preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(items),
                                  ignored_scope=nncf.IgnoredScope(types=OV_IGNORED_TYPES, validate=False))
    params["calibration_images"] = len(items)
    params["quantization"] = {"tool": f"nncf {nncf.__version__}", "preset": "performance", "activations": "int8",
                              "weights": "int8", "ignored_types": OV_IGNORED_TYPES}
    return quantized


def _to_fp16(path: Path, log: list[str]) -> None:
    """Convert the fp32 graph in place; float32 inputs and outputs stay (``keep_io_types``)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    with _quiet(log):
        model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
        OnnxModel(model).topological_sort()  # the input casts are appended last; onnx.checker wants them first
    onnx.save(model, str(path))


def _calibration_items(ws: "Workspace", model: Any, version_ref: Optional[Any]) -> list[tuple[int, Path]]:
    """Up to :data:`CALIBRATION_IMAGES` train images of the version, evenly spread over the split (image id order)."""
    from cvops.models.evaluation import split_items
    from cvops.versions.create import get_version

    info = get_version(ws, model.version_id if version_ref is None else version_ref)
    items, counts = split_items(ws, info.id, "train")
    present = [(it.image_id, it.path) for it in items if it.path.is_file()]
    if not present:
        raise ValidationError(f"int8 calibration needs images: the train split of version {info.name} has "
                              f"{counts.get('train', 0)} images, {len(present)} of them in the image store")
    if len(present) > CALIBRATION_IMAGES:
        step = len(present) / CALIBRATION_IMAGES
        present = [present[int(i * step)] for i in range(CALIBRATION_IMAGES)]
    return present


def read_for_runner(image_id: int, path: Path, imgsz: int) -> tuple[np.ndarray, tuple[float, float]]:
    """A workspace image decoded by the edge runner's :func:`~cvops.deploy.edge_runner.read_image` for a model of
    input size ``imgsz``, and the factors back to full size; :class:`ValidationError` when it cannot be decoded."""
    from cvops.deploy.edge_runner import read_image

    decoded = read_image(path, imgsz)
    if decoded is None:
        raise ValidationError(f"image {image_id} ({path}) cannot be decoded")
    return decoded[0], decoded[1:]


def _shape_inference_litter() -> Callable[[], None]:
    """A cleaner for what onnxruntime's symbolic shape inference leaves in the current folder when it gives up
    (``sym_shape_infer_temp.onnx`` and its ``<uuid>.data`` tensors): the files of those names that were not there
    before the call this brackets."""
    import re

    cwd = Path.cwd()
    before = {p.name for p in cwd.iterdir()} if os.access(cwd, os.R_OK) else set()
    dumped = re.compile(r"sym_shape_infer_temp\.onnx|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.data")

    def clean() -> None:
        with contextlib.suppress(OSError):
            for p in cwd.iterdir():
                if p.name not in before and dumped.fullmatch(p.name) and p.is_file():
                    p.unlink()
    return clean


def _to_int8(path: Path, items: list[tuple[int, Path]], imgsz: int, log: list[str], progress: Progress,
             cancel: Optional[CancelToken], dynamic: bool = False) -> tuple[int, str]:
    """Quantize the fp32 graph at ``path`` in place (see the module doc); returns the calibration image count and
    the calibration method (percentile, or MinMax where a tensor's range is too narrow for its histogram)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from cvops.deploy.edge_runner import Detector

    fp32, prepped = path.with_name("model.fp32.onnx"), path.with_name("model.prep.onnx")
    os.replace(path, fp32)
    detector = Detector(fp32)  # its own pre-processing, so calibration sees what inference sees

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.index = 0

        def get_next(self) -> Optional[dict[str, Any]]:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if self.index >= len(items):
                return None
            iid, image = items[self.index]
            self.index += 1
            progress(0.2 + 0.7 * self.index / len(items), f"calibrating int8 {self.index}/{len(items)}")
            tensor = detector.preprocess(read_for_runner(iid, image, detector.imgsz)[0])[0]
            return {detector.input.name: tensor[None].astype("float32")}

    progress(0.15, "preparing the graph for quantization")
    with _quiet(log):
        litter = _shape_inference_litter()
        try:  # symbolic shape inference cannot finish on a dynamic graph (and would dump it into the cwd)
            quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=dynamic)
            source = prepped
        except Exception as exc:  # symbolic shape inference fails on a few graphs; quantize the plain one
            log.append(f"quant_pre_process skipped: {type(exc).__name__}: {exc}\n")
            source = fp32
        finally:
            litter()
        graph = onnx.load(str(source)).graph
        exclude = [n.name for n in graph.node if n.op_type not in ("Conv", "Gemm", "MatMul")]
        method = "Percentile 99.999"
        try:
            quantize_static(str(source), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            nodes_to_exclude=exclude, calibrate_method=CalibrationMethod.Percentile)
        except ValueError as exc:  # numpy's histogram rejects a tensor of (nearly) constant range
            log.append(f"percentile calibration failed ({exc}); calibrating with MinMax\n")
            method = "MinMax"
            quantize_static(str(source), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            nodes_to_exclude=exclude, calibrate_method=CalibrationMethod.MinMax)
    for f in (fp32, prepped):
        f.unlink(missing_ok=True)
    return len(items), method

