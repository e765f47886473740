"""Edge bundles: one folder that runs an exported model anywhere with numpy, OpenCV and onnxruntime or OpenVINO.

:func:`make_bundle` writes, into a temporary folder next to ``out`` that is renamed into place at the end (so there is
never a half-written bundle):

* ``model.onnx`` — an ONNX export, or ``model.xml`` + ``model.bin`` — an OpenVINO export (its sha256 checked against
  the ``exports`` row first);
* ``model.json`` — format version, task, classes (model index, workbench class id, name, color) from the model's
  lineage, input size, letterbox and normalization, output layout, NMS thresholds, precision, the sha256 of every
  other file, and the lineage (model, run, dataset version and hash, weights sha256, export id, verification summary);
* ``run.py`` — :mod:`cvops.deploy.edge_runner`, verbatim (it imports only the standard library, numpy, cv2 and
  the runtime), with ``runtimes.py`` (:mod:`cvops.deploy.runtimes`: onnxruntime, OpenVINO, ``--runtime auto``) and
  ``frames.py`` (:mod:`cvops.deploy.frames`: decoding, letterbox, video frames, drawing) beside it;
* ``fieldlog.py`` — :mod:`cvops.deploy.field_log`, verbatim: the field log and prediction log ``run.py`` loads for
  ``--field-log`` and ``--log``;
* ``requirements.txt`` — numpy, OpenCV and the export's runtime with version ranges (onnxruntime for ONNX, whose
  file OpenVINO reads too: ``requirements-openvino.txt`` adds it, and ``run.py --runtime auto`` then measures both;
  OpenVINO for an IR);
* ``README.md`` — how to install and run it;
* ``sample.jpg`` — a validation image of the model's dataset version, and ``sample_expected.json`` — the detections
  the workbench got for it with the same runner, which ``python run.py --selftest`` reproduces on the target.

``zip=True`` also writes ``<out>.zip`` (the folder as its top-level entry), atomically as well.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from cvops.deploy import edge_runner, field_log, frames, runtimes
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.registry import ModelInfo, get_model
from cvops.catalog.store import fsync_dir, sha256_file

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

ExportRef = Union[int, str, Path]
REQUIREMENTS = ("numpy>=1.24,<3", "opencv-python-headless>=4.8,<5", "onnxruntime>=1.17,<2")
OPENVINO_REQUIREMENT = "openvino>=2024.0,<2027"
DEFAULT_CONF = 0.25
DEFAULT_IOU = 0.7
SAMPLE_MIN_CONF = 0.001  # the sample's threshold floor when a young model finds nothing at the bundle's
SAMPLE_DETECTIONS = 10


@dataclass(frozen=True)
class BundleInfo:
    """A written bundle: its folder, the zip (if asked for), the export and model it holds, its files' sha256."""

    path: Path
    name: str
    model: str
    export_id: Optional[int]
    files: dict[str, str]
    size_bytes: int
    sample_detections: int
    zip_path: Optional[Path] = None
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``model.json`` left out)."""
        data = asdict(self)
        data.pop("meta")
        data["path"] = str(self.path)
        data["zip_path"] = str(self.zip_path) if self.zip_path else None
        return data


def _export_row(ws: "Workspace", ref: ExportRef) -> Optional[dict[str, Any]]:
    """The registered export of an id or of a path to its file or folder (:func:`cvops.deploy.export.get_export`);
    None for a path the workspace did not export."""
    from cvops.deploy.export import get_export

    try:
        return get_export(ws, ref).to_dict()
    except NotFoundError:
        if str(ref).strip().isdigit():
            raise
        return None


def _verify_summary(row: dict[str, Any]) -> Optional[dict[str, Any]]:
    verify = row.get("verify")
    if not verify:
        return None
    summary = {"passed": None if row.get("passed") is None else bool(row["passed"]),
               "verified_at": row.get("verified_at")}
    if isinstance(verify, dict):
        inner = verify.get("summary")
        summary.update(inner if isinstance(inner, dict) else
                       {k: v for k, v in verify.items() if isinstance(v, (int, float, str, bool)) or v is None})
        quality = verify.get("quality")
        if isinstance(quality, dict) and quality:  # the gate's quality floor: score, floor, override
            summary["quality"] = quality
    return summary


def resolve_export(ws: "Workspace", export_ref: ExportRef, model_ref: Optional[Union[int, str]] = None
                   ) -> tuple[Path, ModelInfo, Optional[dict[str, Any]]]:
    """The model file (``.onnx``, or an OpenVINO IR's ``.xml``), its model and its ``exports`` row (None for a file
    not registered as an export, which then needs ``model_ref``)."""
    from cvops.deploy.export import export_digest

    row = _export_row(ws, export_ref)
    if row is not None:
        path = Path(row["path"])
        if row["format"] not in ("onnx", "openvino"):
            raise ValidationError(f"export {row['id']} is {row['format']}; bundles hold ONNX or OpenVINO exports")
        try:
            digest = export_digest(path)[0]
        except FileNotFoundError as exc:
            raise ValidationError(f"export {row['id']}: {exc.filename or path} is missing; export the model again"
                                  ) from None
        if digest != row["sha256"]:
            raise ValidationError(f"export {row['id']}: {path} no longer matches its recorded sha256; "
                                  "export the model again")
        if model_ref is not None and get_model(ws, model_ref).id != row["model_id"]:
            raise ValidationError(f"export {row['id']} belongs to model {get_model(ws, row['model_id']).name}, "
                                  f"not {model_ref}")
        return path, get_model(ws, row["model_id"]), row
    path = Path(str(export_ref)).expanduser()
    if path.suffix.lower() not in (".onnx", ".xml") or not path.is_file():
        raise NotFoundError(f"no export {str(export_ref)!r}: give an export id or the path of an .onnx file (or an "
                            "OpenVINO .xml)")
    if model_ref is None:
        raise ValidationError(f"{path} is not a registered export; say which model it was exported from (--model)")
    return path.resolve(), get_model(ws, model_ref), None


def _sample_image(ws: "Workspace", model: ModelInfo) -> list[Path]:
    """Candidate sample images: the model's dataset version's validation images (then test, then train)."""
    from cvops.versions.create import version_images

    order = {"val": 0, "valid": 0, "test": 1, "train": 2}
    members = sorted(version_images(ws, model.version_id), key=lambda m: (order.get(m.split, 3), m.image_id))
    paths = []
    for member in members:
        try:
            path = ws.images.path(ws.images.get(member.image_id))
        except NotFoundError:
            continue
        if path.is_file():
            paths.append(path)
        if len(paths) >= 8:
            break
    if not paths:
        raise ValidationError(f"model {model.name}: no image of dataset version {model.version_name} is "
                              "available for the bundle's sample")
    return paths


def _model_json(model: ModelInfo, detector: edge_runner.Detector, source: Path, row: Optional[dict[str, Any]],
                conf: float, iou: float) -> dict[str, Any]:
    inp = detector.input
    out = detector.session.outputs[0]
    precision = row["precision"] if row else ("fp16" if detector.dtype.__name__ == "float16" else "fp32")
    return {
        "format": edge_runner.BUNDLE_FORMAT,
        "format_version": edge_runner.BUNDLE_FORMAT_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "task": model.task,
        "model_file": detector.path.name,
        "runtimes": ["openvino"] if detector.runtime == "openvino" else list(runtimes.RUNTIMES),
        "precision": precision,
        "imgsz": detector.imgsz,
        "names": [c["name"] for c in model.classes],
        "classes": [{"index": i, "class_id": c.get("class_id"), "name": c["name"], "color": c.get("color")}
                    for i, c in enumerate(model.classes)],
        "input": {"name": inp.name, "shape": list(inp.shape), "dtype": str(inp.type), "layout": "NCHW",
                  "color": "RGB",
                  "letterbox": {"size": [detector.imgsz, detector.imgsz], "keep_aspect_ratio": True,
                                "pad": "centered", "pad_value": edge_runner.PAD_VALUE, "resize": "bilinear"},
                  "decode": {"jpeg_dct_scaling": True,
                             "rule": "a JPEG at least twice the input size on its long side is decoded at 1/2, 1/4 "
                                     "or 1/8 scale, keeping the long side >= the input size (run.py --full-decode "
                                     "turns it off)"},
                  "normalization": {"scale": "1/255", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}},
        "output": {"name": out.name, "shape": list(out.shape),
                   "layout": "(batch, 4 + classes, anchors): center x, center y, width, height in input pixels, "
                             "then one score per class (no objectness)"},
        "nms": {"conf": conf, "iou": iou, "max_det": 300, "per_class": True},
        "lineage": {"model": model.name, "model_id": model.id, "run_id": model.run_id,
                    "architecture": model.architecture, "version": model.version_name,
                    "version_id": model.version_id, "version_hash": model.version_hash,
                    "weights_sha256": model.weights_sha256, "export_id": row["id"] if row else None,
                    "model_sha256": runtimes.model_digest(source), "verify": _verify_summary(row) if row else None},
        "sample": {"image": "sample.jpg", "expected": "sample_expected.json"},
        "files": {},
    }


def _requirements(ir: bool) -> dict[str, str]:
    """``requirements.txt`` (and for an ONNX model ``requirements-openvino.txt``, which adds OpenVINO)."""
    base = list(REQUIREMENTS[:2])
    if ir:
        return {"requirements.txt": "\n".join(base + [OPENVINO_REQUIREMENT]) + "\n"}
    note = "# OpenVINO reads model.onnx too: pip install -r requirements-openvino.txt, and run.py --runtime auto\n" \
           "# (the default) measures both runtimes here and runs the faster.\n"
    return {"requirements.txt": note + "\n".join(REQUIREMENTS) + "\n",
            "requirements-openvino.txt": "-r requirements.txt\n" + OPENVINO_REQUIREMENT + "\n"}


def _readme(meta: dict[str, Any], name: str) -> str:
    names = ", ".join(meta["names"])
    lin = meta["lineage"]
    ir = meta["model_file"].endswith(".xml")
    runtime_text = ("The model is an OpenVINO IR (`model.xml` + `model.bin`): run.py runs it in OpenVINO." if ir else
                    "`run.py --runtime auto` (the default) runs the model in the faster runtime installed here: "
                    "with OpenVINO installed too\n(`.venv/bin/pip install -r requirements-openvino.txt`), "
                    "`--selftest` measures both on this machine and remembers the winner in\n"
                    "`runtime_choice.json`; `--runtime onnxruntime` or `--runtime openvino` forces one.")
    return f"""# {name}: CVOps Workbench edge bundle

Model {lin['model']} (dataset version {lin['version']}, {meta['precision']}, input {meta['imgsz']}x{meta['imgsz']}),
{len(meta['names'])} classes: {names}.

## Install (Python 3.9 or newer)

    python3 -m venv .venv
    .venv/bin/pip install -r requirements.txt

{runtime_text}

## Check the bundle

    .venv/bin/python run.py --selftest

verifies the sha256 of every file listed in `model.json` and reproduces the detections of `sample.jpg` recorded in
`sample_expected.json` (in each installed runtime that reads the model, timed; the summary's `chosen` says which
won and by how much); prints a JSON summary, exits 0 when everything matches and 1 otherwise.

## Run

    .venv/bin/python run.py photo.jpg folder/ video.mp4      # files, folders (recursive), videos
    .venv/bin/python run.py 0 --max-frames 100                # a camera
    .venv/bin/python run.py folder/ --conf 0.4 --save-dir annotated --log predictions.jsonl --runtime openvino

Each image or video frame prints one JSON line on stdout:
`{{"source", "frame" (videos), "width", "height", "detections": [{{"class_id", "class_index", "name", "confidence",
"box": [x, y, w, h]}}]}}`, boxes in image pixels. `--save-dir` writes annotated images; `--log` appends one JSON
line per frame (time, latency, detections and confidences per class) for monitoring. A JPEG at least twice the
input size is decoded at 1/2, 1/4 or 1/8 scale, which is faster and what the export gate verified; `--full-decode`
decodes every image at full size.
Thresholds default to `model.json`'s `nms` (conf {meta['nms']['conf']}, IoU {meta['nms']['iou']}).
onnxruntime uses CUDA when `onnxruntime-gpu` is installed instead of `onnxruntime` (`--providers auto`, the default;
`--providers tensorrt` for TensorRT, `cpu` to stay on the CPU); OpenVINO's device is `--ov-device CPU|GPU|AUTO`.

Exit codes: 0 ok, 1 selftest failed, 2 usage error, 3 a bundle file missing or corrupt, 4 unreadable sources.

## Field log (drift monitoring)

    .venv/bin/python run.py 0 --field-log ../field --device cam-01 --capture-low-conf 0.4 --capture-rate 0.01

writes `../field/cam-01/field-<UTC time>-<pid>.jsonl` (one JSON line per image or frame: image statistics,
detections, latency, the model's embedding; `fieldlog.py` holds the code) and keeps the images a capture rule picks
under `../field/cam-01/captures/<date>/`. Keep it outside this folder, which each deployment replaces; the
workbench collects it with `cvops monitor pull`. Capture rules (all off unless given): `--capture-low-conf T`,
`--capture-near-threshold BAND`, `--capture-rate R`; limits: `--capture-daily-cap 200`, `--capture-disk-mb 500`.
Log files rotate at `--log-max-mb 10`; the oldest are deleted beyond `--log-keep-mb 100` in all. A full disk never stops
inference: the field log pauses (one warning on stderr) and retries every minute.
"""


def _write(path: Path, data: Union[str, bytes]) -> None:
    with path.open("wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())


def _copy(src: Path, dest: Path) -> None:
    with src.open("rb") as fin, dest.open("wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())


def _pick_sample(detector: edge_runner.Detector, candidates: list[Path], conf: float, iou: float
                 ) -> tuple[bytes, float, list[dict[str, Any]]]:
    """The JPEG bytes of the candidate with the most detections at ``conf`` (lowering the threshold for a young
    model that finds nothing), the threshold used and the detections, computed on the decoded JPEG itself."""
    import cv2

    images = []
    for path in candidates:
        data = path.read_bytes()
        if path.suffix.lower() not in (".jpg", ".jpeg"):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95]) if img is not None else (False, None)
            data = buf.tobytes() if ok else b""
        decoded = edge_runner.decode_image(data, detector.imgsz) if data else None  # as run.py decodes it
        if decoded is not None:
            images.append((data, decoded))
    if not images:
        raise ValidationError("none of the sample candidates could be decoded")
    scored = [(data, detector.detections(img[0], conf, iou, img[1:])) for data, img in images]
    data, dets = max(scored, key=lambda item: len(item[1]))
    if dets:
        return data, conf, dets
    # A young model finds nothing at the bundle's threshold: record the sample's best few detections at a lower
    # one (halfway between the SAMPLE_DETECTIONS-th and the next confidence), so the selftest still compares boxes.
    scored = [(data, detector.detections(img[0], SAMPLE_MIN_CONF, iou, img[1:])) for data, img in images]
    data, dets = max(scored, key=lambda item: max((d["confidence"] for d in item[1]), default=-1.0))
    if not dets:
        return images[0][0], conf, []
    confs = sorted((d["confidence"] for d in dets), reverse=True)
    keep = min(SAMPLE_DETECTIONS, len(confs))
    level = (confs[keep - 1] + confs[keep]) / 2 if keep < len(confs) else SAMPLE_MIN_CONF
    level = round(min(level, conf), 6)
    return data, level, [d for d in dets if d["confidence"] > level]


def make_bundle(ws: "Workspace", export_ref: ExportRef, out: Union[str, Path], zip: bool = False,
                model_ref: Optional[Union[int, str]] = None, conf: float = DEFAULT_CONF,
                iou: float = DEFAULT_IOU) -> BundleInfo:
    """Write the edge bundle of an export (an ``exports`` id or its ``.onnx`` path; an unregistered ``.onnx``
    needs ``model_ref``) into the folder ``out``, which must not exist yet (or be empty). See the module docs."""
    source, model, row = resolve_export(ws, export_ref, model_ref)
    if model.task != "detect":
        raise ValidationError(f"model {model.name} is a {model.task} model; bundles run detection models only")
    out = Path(out).expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValidationError(f"{out} already exists; bundle into a new folder")
    zip_path = out.with_name(out.name + ".zip") if zip else None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)
        ir = source.suffix.lower() == ".xml"
        model_file = tmp / ("model.xml" if ir else "model.onnx")
        _copy(source, model_file)
        if ir:
            _copy(source.with_suffix(".bin"), tmp / "model.bin")
        meta_in = {"names": [c["name"] for c in model.classes], "classes": model.classes,
                   "nms": {"conf": conf, "iou": iou}, "task": model.task}
        try:
            detector = edge_runner.Detector(model_file, meta_in)
        except edge_runner.BundleError as exc:
            raise ValidationError(f"model {model.name}: {exc}") from exc
        meta = _model_json(model, detector, source, row, conf, iou)
        sample, sample_conf, dets = _pick_sample(detector, _sample_image(ws, model), conf, iou)
        _write(tmp / "sample.jpg", sample)
        expected = {"image": "sample.jpg", "conf": sample_conf, "iou": iou, "detections": dets,
                    "note": "detections of sample.jpg by the workbench with this bundle's run.py; "
                            "run.py --selftest reproduces them"}
        _write(tmp / "sample_expected.json", json.dumps(expected, indent=2) + "\n")
        _write(tmp / "run.py", Path(edge_runner.__file__).read_bytes())
        _write(tmp / "runtimes.py", Path(runtimes.__file__).read_bytes())
        _write(tmp / "frames.py", Path(frames.__file__).read_bytes())
        _write(tmp / "fieldlog.py", Path(field_log.__file__).read_bytes())
        for name, text in _requirements(ir).items():
            _write(tmp / name, text)
        _write(tmp / "README.md", _readme(meta, out.name))
        meta["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.name != "model.json"}
        _write(tmp / "model.json", json.dumps(meta, indent=2) + "\n")
        fsync_dir(tmp)
        if zip_path is not None:
            _write_zip(tmp, zip_path, out.name)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.iterdir())
    return BundleInfo(path=out, name=out.name, model=model.name, export_id=row["id"] if row else None,
                      files={**meta["files"], "model.json": sha256_file(out / "model.json")}, size_bytes=size,
                      sample_detections=len(dets), zip_path=zip_path, meta=meta)


def _write_zip(folder: Path, dest: Path, name: str) -> None:
    """``folder`` zipped as ``name/...`` into ``dest`` (temp file + rename)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.partial-", dir=dest.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.iterdir()):
                zf.write(path, f"{name}/{path.name}")
        with open(tmp_name, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def check_bundle(bundle: Path) -> dict[str, Any]:
    """Verify a bundle folder against its ``model.json`` (every listed file present with its sha256, and the
    runner files a bundle needs); returns ``model.json``. Raises :class:`ValidationError` naming the bad file."""
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise NotFoundError(f"no bundle folder {bundle}")
    try:
        meta = edge_runner.read_meta(bundle)
    except edge_runner.BundleError as exc:
        raise ValidationError(f"bundle {bundle}: {exc}") from exc
    problems = edge_runner.check_files(bundle, meta)
    for needed in (meta.get("model_file", "model.onnx"), "run.py"):
        if needed not in meta["files"]:
            problems.append(f"model.json lists no {needed}")
    if problems:
        raise ValidationError(f"bundle {bundle}: " + "; ".join(problems))
    return meta
