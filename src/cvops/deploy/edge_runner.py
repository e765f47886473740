"""ONNX detector with the exact pre- and post-processing of Ultralytics YOLO, needing only numpy, OpenCV and
onnxruntime.

This file is two things at once: the workbench imports it (``cvops.deploy.edge_runner``) to verify exports and to
pre-label images, and a bundle ships it verbatim as its standalone ``run.py``. It must therefore never import
``cvops``, torch or Ultralytics.

Pre-processing: letterbox to the model's square input (scale to fit, keep the aspect ratio, pad with gray 114 evenly
on both sides), BGR to RGB, scale to 0-1, NCHW float32 (float16 for a half-precision model). Post-processing: the
output ``(1, 4 + classes [+ mask coefficients], anchors)`` holds center-x, center-y, width, height in input pixels
and per-class scores; keep boxes over the confidence threshold, non-maximum suppression per class, map back to the
original image.

As a bundle's ``run.py`` it is a command line program (``python run.py --help``)::

    python run.py SOURCE... [--conf C] [--iou I] [--save-dir DIR] [--log FILE] [--providers cpu|cuda]
                  [--max-frames N] [--full-decode] [--field-log DIR [--device NAME] [--capture-... ]]
    python run.py --selftest

SOURCE is an image file, a folder (its images and videos, recursively, in name order), a video file or a camera
index (``0``). One JSON line per image or video frame goes to stdout: ``{"source", "frame" (videos and cameras),
"width", "height", "detections": [{"class_id", "class_index", "name", "confidence", "box": [x, y, w, h]}]}`` with
boxes in full-size image pixels. JPEGs at least twice the model's input size are decoded at 1/2, 1/4 or 1/8 scale
(:func:`decode_image`; ``--full-decode`` turns that off). ``--save-dir`` writes annotated images, ``--log`` appends
a prediction log (time, source, frame, latency, detections per class); ``--field-log DIR`` writes the field log
(image statistics, detections, embedding per image) and captures images by rule; both are the bundle's
``fieldlog.py`` (:mod:`cvops.deploy.field_log`), loaded only then.
``--selftest`` checks the sha256 of every file listed in the bundle's ``model.json``, runs ``sample.jpg`` and
compares the detections with ``sample_expected.json`` (same detections, boxes within 1 px, confidences within 1e-3),
prints a JSON summary and exits 0 or 1.

Exit codes: 0 ok; 1 selftest failed; 2 usage error (bad option, no such source); 3 a bundle file is missing, corrupt
or inconsistent (model.json, model.onnx, class count); 4 some sources could not be read.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import string
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import cv2
import numpy as np

# onnxruntime (1.2x+) records telemetry events under ~/.cache/Microsoft/DeveloperTools/.onnxruntime when it is
# imported, unless this is set first: an edge device (and the workbench) keeps nothing of the kind.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

MAX_WH = 7680  # class offset for per-class NMS in one pass (as Ultralytics)
BUNDLE_FORMAT = "cvops-edge-bundle"
BUNDLE_FORMAT_VERSION = 1
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUNDLE, EXIT_SOURCE = 0, 1, 2, 3, 4
BOX_TOLERANCE_PX = 1.0
CONF_TOLERANCE = 1e-3


def _sibling(name: str, bundle_file: str, folders: Sequence[Path] = ()) -> Any:
    """The workbench module ``cvops.deploy.<name>``, or in a bundle the file ``bundle_file`` next to ``run.py`` (else
    in the first of ``folders`` that has it), by path whatever ``sys.path`` holds; OSError when it is nowhere."""
    if __package__:  # imported as cvops.deploy.edge_runner
        import importlib

        return importlib.import_module(f"{__package__}.{name}")
    import importlib.util

    here = Path(__file__).resolve().parent
    path = next((f / bundle_file for f in (here, *folders) if (f / bundle_file).is_file()), here / bundle_file)
    spec = importlib.util.spec_from_file_location(bundle_file[:-3], path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # (dataclasses look their module up there)
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the bundle
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.dont_write_bytecode = writes
    return module


if __package__:  # the workbench: the siblings are modules of the package, the pre-processing re-exported
    frames, runtimes = _sibling("frames", "frames.py"), _sibling("runtimes", "runtimes.py")
    PAD_VALUE, letterbox, to_tensor, jpeg_size = frames.PAD_VALUE, frames.letterbox, frames.to_tensor, frames.jpeg_size
    decode_image, read_image = frames.decode_image, frames.read_image
else:  # a bundle's run.py: main() loads runtimes.py and frames.py from beside it (or from --bundle)
    frames = runtimes = None


def load_siblings(bundle: Optional[Path] = None) -> None:
    """Load ``runtimes.py`` and ``frames.py`` (a bundle's run.py; the workbench has them already); OSError when
    one is missing."""
    global frames, runtimes
    if runtimes is None or frames is None:
        folders = [Path(bundle)] if bundle else []
        runtimes, frames = _sibling("runtimes", "runtimes.py", folders), _sibling("frames", "frames.py", folders)


class BundleError(RuntimeError):
    """A bundle file is missing, corrupt or inconsistent with the others."""


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression of ``boxes`` (x1, y1, x2, y2), highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        size = np.clip(np.minimum(boxes[i, 2:], boxes[rest, 2:]) - np.maximum(boxes[i, :2], boxes[rest, :2]), 0, None)
        inter = size[:, 0] * size[:, 1]
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def postprocess(output: np.ndarray, classes: int, conf: float, iou: float, max_det: int = 300
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw output ``(4 + classes + extra, anchors)`` → boxes (x1, y1, x2, y2 in input pixels),
    confidences and class indices after per-class NMS, best first."""
    pred = output.astype(np.float32).T  # anchors x channels
    scores = pred[:, 4:4 + classes]
    cls = scores.argmax(1)
    best = scores[np.arange(len(scores)), cls]
    mask = best > conf
    xywh, best, cls = pred[mask, :4], best[mask], cls[mask]
    boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
    keep = nms(boxes + cls[:, None].astype(np.float32) * MAX_WH, best, iou)[:max_det]
    return boxes[keep], best[keep], cls[keep]


class Detector:
    """An exported YOLO model in onnxruntime or OpenVINO (:mod:`runtimes`). ``meta`` (a bundle's ``model.json``) may
    give ``names`` (and ``classes`` with workbench class ids and colors), ``imgsz`` and ``nms`` thresholds; otherwise
    they come from the metadata Ultralytics writes into the ONNX file. ``runtime`` defaults to the file's own
    (OpenVINO for an IR ``.xml``, else onnxruntime); ``providers`` are onnxruntime's (a key of
    ``runtimes.ORT_PROVIDERS`` or provider names), ``device`` OpenVINO's; ``threads`` sets the intra-op threads.

    Raises :class:`BundleError` when the model file is missing or cannot be loaded, the runtime is not installed,
    or ``meta`` disagrees with the model (number of classes, input size)."""

    def __init__(self, model: Path, meta: Optional[dict[str, Any]] = None, providers: Any = None,
                 threads: Optional[int] = None, runtime: Optional[str] = None, device: Optional[str] = None) -> None:
        self.path = Path(model)
        if not self.path.is_file():
            raise BundleError(f"{self.path} is missing")
        try:
            self.session = runtimes.open_session(self.path, runtime, providers, device, threads)
        except runtimes.RuntimeFailure as exc:
            raise BundleError(str(exc)) from exc
        self.runtime: str = self.session.runtime
        self.input = self.session.inputs[0]
        meta = dict(meta or {})
        props = self.session.metadata
        names = meta.get("names") or _parse_names(props.get("names", ""))
        self.names: list[str] = [str(n) for n in names]
        classes = [c for c in meta.get("classes") or [] if isinstance(c, dict)]
        self.class_ids: list[int] = [int(c.get("class_id", i)) for i, c in enumerate(classes)] \
            if len(classes) == len(self.names) else list(range(len(self.names)))
        self.colors: list[str] = [str(c.get("color") or "") for c in classes] \
            if len(classes) == len(self.names) else [""] * len(self.names)
        shape = self.input.shape
        static = shape[-1] is not None
        self.imgsz = int(meta.get("imgsz") or (shape[-1] if static else _first_int(props.get("imgsz")) or 640))
        self.rect = not static  # a dynamic input runs each image at its own stride-aligned size
        self.stride = _first_int(props.get("stride")) or 32
        if static and self.imgsz != shape[-1]:
            raise BundleError(f"model.json gives input size {self.imgsz} but {self.path.name} takes {shape[-1]}")
        thresholds = meta.get("nms", {})
        self.conf = float(thresholds.get("conf", 0.25))
        self.iou = float(thresholds.get("iou", 0.7))
        self.max_det = int(thresholds.get("max_det", 300))
        self.dtype = np.float16 if self.input.type == "float16" else np.float32
        self.batch_size = shape[0]
        self.task = str(meta.get("task") or props.get("task") or "detect")
        names_out = [o.name for o in self.session.outputs]
        self.embedding_index = names_out.index("embedding") if "embedding" in names_out[1:] else None
        self.embedding: Optional[np.ndarray] = None  # the last batch's, when the model has the output
        self.embeddings: list[Optional[np.ndarray]] = []  # per image of the last predict, when the model has them
        first = self.session.outputs[0].shape
        channels = first[1] if len(first) == 3 else None
        if self.task == "detect" and channels is not None and self.names and channels - 4 != len(self.names):
            raise BundleError(f"{'model.json' if meta.get('names') else 'the model metadata'} lists "
                              f"{len(self.names)} classes but {self.path.name} outputs {channels - 4} class scores")

    @property
    def model_sha256(self) -> str:
        """The sha256 that identifies the model (``runtimes.model_digest``: an IR's .xml and .bin together), computed
        once."""
        if "_sha256" not in self.__dict__:
            self._sha256 = runtimes.model_digest(self.path)
        return self._sha256

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
        """One BGR image → a CHW tensor, the letterbox scale and padding."""
        boxed, gain, pad = frames.letterbox(image, self.imgsz, self.stride if self.rect else 0)
        tensor = frames.to_tensor(boxed)
        return (tensor if self.dtype == np.float32 else tensor.astype(self.dtype)), gain, pad

    def raw(self, batch: np.ndarray) -> np.ndarray:
        """The model's first output for an NCHW batch (its ``embedding`` output, if any, in ``self.embedding``)."""
        outputs = self.session.run(batch)
        self.embedding = None if self.embedding_index is None else np.asarray(outputs[self.embedding_index])
        return np.asarray(outputs[0])

    def predict(self, images: Sequence[np.ndarray], conf: Optional[float] = None, iou: Optional[float] = None
                ) -> list[list[dict[str, Any]]]:
        """Detections per BGR image: ``{"class_index", "name", "confidence", "box": [x, y, w, h]}`` in image pixels."""
        out: list[list[dict[str, Any]]] = []
        for boxes, scores, classes in self.predict_arrays(images, conf, iou):
            out.append([{"class_index": int(c), "name": self.names[int(c)] if int(c) < len(self.names) else str(c),
                         "confidence": round(float(s), 5),
                         "box": [round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2] - b[0]), 2),
                                 round(float(b[3] - b[1]), 2)]}
                        for b, s, c in zip(boxes, scores, classes)])
        return out

    def predict_arrays(self, images: Sequence[np.ndarray], conf: Optional[float] = None,
                       iou: Optional[float] = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per BGR image: boxes (x1, y1, x2, y2 in image pixels), confidences, class indices; best first. The
        images' embeddings (models exported with one) go to ``self.embeddings``."""
        conf = self.conf if conf is None else conf
        iou = self.iou if iou is None else iou
        results = []
        self.embeddings = []
        step = self.batch_size or max(1, len(images))
        for start in range(0, len(images), step):
            chunk = list(images[start:start + step])
            prepared = [self.preprocess(img) for img in chunk]
            if len({p[0].shape for p in prepared}) > 1:  # rectangular inputs of different sizes: one at a time
                outputs = []
                for p in prepared:
                    outputs.append(self.raw(p[0][None])[0])
                    self.embeddings.append(None if self.embedding is None else self.embedding[0])
            else:
                batch = np.stack([p[0] for p in prepared])
                if self.batch_size and len(chunk) < self.batch_size:  # a static batch: pad with blank inputs
                    batch = np.concatenate([batch, np.zeros((self.batch_size - len(chunk), *batch.shape[1:]),
                                                            batch.dtype)])
                outputs = list(self.raw(batch))
                self.embeddings += [None] * len(chunk) if self.embedding is None else list(self.embedding[:len(chunk)])
            for img, (_, gain, (left, top)), output in zip(chunk, prepared, outputs):
                boxes, scores, classes = postprocess(output, len(self.names), conf, iou, self.max_det)
                boxes = (boxes - np.array([left, top, left, top], dtype=np.float32)) / gain
                h, w = img.shape[:2]
                boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
                boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
                results.append((boxes, scores, classes))
        return results

    def detections(self, image: np.ndarray, conf: Optional[float] = None, iou: Optional[float] = None,
                   scale: tuple[float, float] = (1.0, 1.0)) -> list[dict[str, Any]]:
        """One BGR image's detections as a bundle reports them: ``{"class_id" (the workbench class id),
        "class_index" (the model's), "name", "confidence", "box": [x, y, w, h]}`` in image pixels times ``scale``
        (see :func:`decode_image`), best first."""
        return self.to_detections(*self.predict_arrays([image], conf, iou)[0], scale=scale)

    def to_detections(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                      scale: tuple[float, float] = (1.0, 1.0)) -> list[dict[str, Any]]:
        """One image's :meth:`predict_arrays` result as :meth:`detections` reports it."""
        boxes = boxes * np.array([scale[0], scale[1], scale[0], scale[1]], dtype=np.float32)
        out = []
        for b, s, c in zip(boxes, scores, classes):
            i = int(c)
            out.append({"class_id": self.class_ids[i] if i < len(self.class_ids) else i, "class_index": i,
                        "name": self.names[i] if i < len(self.names) else str(i), "confidence": round(float(s), 5),
                        "box": [round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2] - b[0]), 2),
                                round(float(b[3] - b[1]), 2)]})
        return out


def _first_int(text: Optional[str]) -> Optional[int]:
    digits = "".join(ch if ch.isdigit() else " " for ch in str(text or "")).split()
    return int(digits[0]) if digits else None


def _parse_names(text: str) -> list[str]:
    """Ultralytics writes ``names`` as a Python dict literal (``{0: 'circle', 1: 'square'}``)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value)]
    return [str(v) for v in value]


def read_meta(bundle_dir: Path) -> dict[str, Any]:
    """A bundle's ``model.json``; :class:`BundleError` naming the file and the field when it is missing, unreadable,
    not valid JSON (or nested too deeply), or holds a malformed field: ``files`` not a mapping of file names to
    sha256 checksums (64 hex digits), ``model_file`` not a string, ``sample`` not an object."""
    path = Path(bundle_dir) / "model.json"
    if not path.is_file():
        raise BundleError(f"model.json is missing from {bundle_dir}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise BundleError(f"model.json is corrupt ({path}): JSON nested too deeply to read") from None
    except (OSError, ValueError) as exc:  # ValueError: malformed JSON, not UTF-8
        raise BundleError(f"model.json is corrupt ({path}): {exc}") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        raise BundleError(f"model.json is corrupt ({path}): no 'files' checksums")
    for name, digest in meta["files"].items():
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in string.hexdigits for c in digest):
            raise BundleError(f"model.json is corrupt ({path}): the checksum files[{json.dumps(name)}] is "
                              f"{json.dumps(digest)[:80]}, not a sha256 (64 hex digits)")
    for key, kind, what in (("model_file", str, "a file name"), ("sample", dict, "an object")):
        if key in meta and not isinstance(meta[key], kind):
            raise BundleError(f"model.json is corrupt ({path}): {key!r} is {json.dumps(meta[key])[:80]}, not {what}")
    return meta


def check_files(bundle_dir: Path, meta: dict[str, Any]) -> list[str]:
    """Problems with the files ``model.json`` lists: each missing file, each sha256 mismatch (empty when fine)."""
    problems = []
    for name, expected in sorted(meta.get("files", {}).items()):
        path = Path(bundle_dir) / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            problems.append(f"{name}: not a file inside the bundle")
        elif not path.is_file():
            problems.append(f"{name} is missing")
        else:
            actual = runtimes.file_sha256(path)
            if actual != expected.lower():
                problems.append(f"{name}: sha256 mismatch (expected {expected[:16]}..., got {actual[:16]}...); "
                                "the file is corrupt or was changed")
    return problems


def compare_detections(expected: list[dict[str, Any]], actual: list[dict[str, Any]], conf: float,
                       box_tol: float = BOX_TOLERANCE_PX, conf_tol: float = CONF_TOLERANCE
                       ) -> tuple[list[str], dict[str, Any]]:
    """Match ``actual`` detections to ``expected`` ones (same class, every box edge within ``box_tol`` pixels,
    confidence within ``conf_tol``); detections within ``conf_tol`` of the threshold ``conf`` may be missing on
    either side. Returns the problems and the largest differences seen."""
    left = list(range(len(actual)))
    problems: list[str] = []
    worst = {"box_px": 0.0, "confidence": 0.0}
    for e in expected:
        best, best_d = None, None
        for j in left:
            a = actual[j]
            if a["class_id"] != e["class_id"]:
                continue
            d = max(abs(float(x) - float(y)) for x, y in zip(a["box"], e["box"]))
            c = abs(float(a["confidence"]) - float(e["confidence"]))
            if d <= box_tol and c <= conf_tol and (best_d is None or d < best_d):
                best, best_d = j, d
        if best is not None:
            left.remove(best)
            worst["box_px"] = max(worst["box_px"], float(best_d or 0.0))
            worst["confidence"] = max(worst["confidence"],
                                      abs(float(actual[best]["confidence"]) - float(e["confidence"])))
        elif float(e["confidence"]) >= conf + conf_tol:
            problems.append(f"expected {e['name']} {float(e['confidence']):.4f} at {e['box']}: not detected")
    for j in left:
        a = actual[j]
        if float(a["confidence"]) >= conf + conf_tol:
            problems.append(f"unexpected {a['name']} {float(a['confidence']):.4f} at {a['box']}")
    worst = {k: round(v, 6) for k, v in worst.items()}
    return problems, worst


def selftest(bundle_dir: Path, providers: Any = None, runtime: Optional[str] = None,
             device: Optional[str] = None) -> dict[str, Any]:
    """Check a bundle: the sha256 of every listed file, then ``sample.jpg`` against ``sample_expected.json`` in
    ``runtime`` — or, with ``auto`` (or None), in every runtime installed here that reads the model, each timed on
    the sample; the fastest that reproduces the sample is chosen and remembered in ``runtime_choice.json``.
    Returns a JSON-ready summary whose ``ok`` says whether everything passed (in the chosen runtime)."""
    import platform

    started = time.perf_counter()
    bundle_dir = Path(bundle_dir).resolve()
    summary: dict[str, Any] = {"ok": False, "bundle": str(bundle_dir), "files_checked": 0, "problems": []}
    try:
        summary["runtime"] = {"python": platform.python_version(), "numpy": np.__version__,
                              "opencv": cv2.__version__}
        meta = read_meta(bundle_dir)
        summary["files_checked"] = len(meta["files"])
        sample = meta.get("sample") or {}
        model_file = meta.get("model_file", "model.onnx")
        used = (model_file, sample.get("image", "sample.jpg"), sample.get("expected", "sample_expected.json"))
        summary["problems"] = check_files(bundle_dir, meta) + [
            f"model.json lists no checksum for {name} (files[{json.dumps(name)}] is missing)"
            for name in dict.fromkeys(used) if name not in meta["files"]]
        if summary["problems"]:
            return summary
        expected = json.loads((bundle_dir / used[2]).read_text(encoding="utf-8"))
        auto = runtime in (None, "auto")
        names = runtimes.runtimes_for(bundle_dir / model_file) if auto else [runtime]
        if not names:
            needed = runtimes.readers(bundle_dir / model_file)
            raise BundleError(f"{model_file} needs {' or '.join(needed)}, and "
                              + " or ".join(f"{'OpenVINO' if r == 'openvino' else r} is not installed "
                                            f"({runtimes.INSTALL[r]})" for r in needed))
        checks: dict[str, dict[str, Any]] = {}

        def check(detector: Detector) -> list[str]:
            decoded = frames.read_image(bundle_dir / used[1], detector.imgsz)
            if decoded is None:
                raise BundleError(f"{used[1]} cannot be decoded")
            conf, iou = float(expected.get("conf", detector.conf)), float(expected.get("iou", detector.iou))
            got = detector.detections(decoded[0], conf, iou, decoded[1:])
            problems, worst = compare_detections(expected["detections"], got, conf)
            checks[detector.runtime] = {"image": used[1], "conf": conf, "iou": iou, "providers":
                                        detector.session.providers, "expected": len(expected["detections"]),
                                        "detected": len(got), "max_diff": worst,
                                        "tensor": detector.preprocess(decoded[0])[0][None]}
            return problems

        rows = runtimes.measure([(name, lambda name=name: Detector(bundle_dir / model_file, meta, providers,
                                                                   runtime=name, device=device)) for name in names],
                                check, lambda d: checks[d.runtime]["tensor"],
                                runs=runtimes.RUNS if auto and len(names) > 1 else 0)
        chosen = runtimes.choose(rows)
        summary["runtimes"] = rows
        missing = [r for r in runtimes.RUNTIMES if not runtimes.installed(r)]
        if auto and missing and runtimes.runtime_for(bundle_dir / model_file) == "onnxruntime":
            summary["hint"] = f"to compare with {missing[0]} too: {runtimes.INSTALL[missing[0]]}"
        if chosen is None:  # a problem every runtime has is the bundle's, said once
            shared = [p for p in rows[0]["problems"] if all(p in r["problems"] for r in rows)]
            summary["problems"] = shared + [f"{r['runtime']}: {p}" for r in rows for p in r["problems"]
                                            if p not in shared]
            return summary
        picked = checks[chosen["runtime"]]
        picked.pop("tensor")
        summary["runtime"].update({r["runtime"]: r["version"] for r in rows if r["version"]})
        summary["sample"] = {k: v for k, v in picked.items() if k != "providers"}
        summary["providers"] = picked["providers"]
        summary["chosen"] = {k: chosen.get(k) for k in ("runtime", "device", "latency_ms", "speedup", "reason")}
        if auto:
            saved = runtimes.save_choice(bundle_dir, runtimes.model_digest(bundle_dir / model_file), rows,
                                         summary["chosen"])
            summary["choice_file"] = str(saved) if saved else None
        summary["ok"] = True
    except (BundleError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        summary["problems"].append(str(exc) if isinstance(exc, BundleError) else f"{type(exc).__name__}: {exc}")
    finally:
        summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


def field_log_module() -> Any:
    """The field log's code (``--field-log``, ``--log``), loaded on demand: ``cvops.deploy.field_log`` in the
    workbench, ``fieldlog.py`` next to ``run.py`` in a bundle; OSError when that file is missing."""
    return _sibling("field_log", "fieldlog.py")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="Run a CVOps Workbench edge bundle: object "
                                     "detection on images, folders, videos or a camera, JSON lines on stdout.")
    parser.add_argument("sources", nargs="*", metavar="SOURCE",
                        help="image file, folder, video file or camera index (0)")
    parser.add_argument("--conf", type=float, default=None, help="confidence threshold (default: model.json)")
    parser.add_argument("--iou", type=float, default=None, help="NMS IoU threshold (default: model.json)")
    parser.add_argument("--save-dir", type=Path, default=None, help="write annotated images and frames here")
    parser.add_argument("--log", type=Path, default=None, help="append a prediction log (JSON lines) here")
    parser.add_argument("--runtime", choices=("auto",) + runtimes.RUNTIMES, default="auto",
                        help="inference runtime (default auto: the faster here, measured by --selftest and "
                             "remembered in runtime_choice.json)")
    parser.add_argument("--providers", choices=sorted(runtimes.ORT_PROVIDERS), default="auto",
                        help="onnxruntime's execution providers (default auto: CUDA when present, else the CPU)")
    parser.add_argument("--ov-device", choices=runtimes.OV_DEVICES, default="CPU",
                        help="OpenVINO's device (default CPU)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop each video or camera after N frames")
    parser.add_argument("--full-decode", action="store_true",
                        help="decode every JPEG at full size (default: large ones at the scale the model needs)")
    parser.add_argument("--bundle", type=Path, default=Path(__file__).resolve().parent,
                        help="bundle folder (default: the folder of this file)")
    parser.add_argument("--selftest", action="store_true",
                        help="check the bundle's checksums and sample; print a JSON summary; exit 0 or 1")
    field = parser.add_argument_group("field log (with --field-log DIR; each capture rule is off unless given)")
    for flag, metavar, kind, default, text in (
            ("--field-log", "DIR", Path, None, "write the field log (one record per image) under DIR/<device>/"),
            ("--device", "NAME", str, None, "the device's name in the field log (default: the host name)"),
            ("--log-max-mb", "M", float, 10.0, "start a new log file at this size (default 10)"),
            ("--log-keep-mb", "M", float, 100.0, "delete the oldest log files beyond this total (default 100)"),
            ("--capture-low-conf", "T", float, None, "capture images whose top confidence is below T (or no box)"),
            ("--capture-near-threshold", "BAND", float, None, "capture images with a candidate within BAND of --conf"),
            ("--capture-rate", "R", float, None, "capture this random fraction (0-1) of the images"),
            ("--capture-seed", "S", int, None, "seed of --capture-rate's random draws"),
            ("--capture-daily-cap", "N", int, 200, "at most N captures per UTC day (default 200)"),
            ("--capture-disk-mb", "M", float, 500.0, "captures never take more than M MB (default 500)")):
        field.add_argument(flag, metavar=metavar, type=kind, default=default, help=text)
    return parser


def pick_runtime(args: argparse.Namespace, meta: dict[str, Any], providers: Any) -> str:
    """``--runtime``, or for ``auto`` the choice remembered for this model and machine; without one, measure now
    (as ``--selftest`` does) and remember it. Says on stderr what it picked when it measured."""
    model_file = meta.get("model_file", "model.onnx")
    if args.runtime != "auto":
        return str(args.runtime)
    remembered = runtimes.load_choice(args.bundle, runtimes.model_digest(args.bundle / model_file))
    if remembered:
        return str(remembered["chosen"]["runtime"])
    names = runtimes.runtimes_for(args.bundle / model_file)
    if len(names) < 2:
        return names[0] if names else runtimes.runtime_for(args.bundle / model_file)
    summary = selftest(args.bundle, providers, "auto", args.ov_device)
    if not summary.get("chosen"):  # the runtime's own error says what is wrong, if anything stops it
        print(f"run.py: warning: runtime auto could not compare the runtimes ({'; '.join(summary['problems'])}); "
              f"using {names[0]}", file=sys.stderr)
        return names[0]
    print(f"run.py: runtime auto: {summary['chosen']['reason']}", file=sys.stderr)
    return str(summary["chosen"]["runtime"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The bundle's command line; returns the exit code."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--bundle", type=Path, default=None)
    try:
        load_siblings(early.parse_known_args(argv)[0].bundle)
    except OSError as exc:  # runtimes.py or frames.py is missing
        print(f"run.py: error: {exc}", file=sys.stderr)
        return EXIT_BUNDLE
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    providers = args.providers
    if args.selftest:
        summary = selftest(args.bundle, providers, args.runtime, args.ov_device)
        print(json.dumps(summary), flush=True)
        if not summary["ok"]:
            print("selftest FAILED: " + "; ".join(summary["problems"]), file=sys.stderr)
        return EXIT_OK if summary["ok"] else EXIT_FAILED
    if not args.sources:
        parser.print_usage(sys.stderr)
        print("run.py: error: give at least one SOURCE (or --selftest)", file=sys.stderr)
        return EXIT_USAGE
    missing = [s for s in args.sources if not Path(s).exists() and not s.isdigit()]
    if missing:
        print(f"run.py: error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        meta = read_meta(args.bundle)
        detector = Detector(args.bundle / meta.get("model_file", "model.onnx"), meta, providers,
                            runtime=pick_runtime(args, meta, providers), device=args.ov_device)
        field = field_log_module() if args.log or args.field_log else None
    except (BundleError, OSError) as exc:  # OSError: fieldlog.py is missing
        print(f"run.py: error: {exc}", file=sys.stderr)
        return EXIT_BUNDLE
    if args.providers in ("cuda", "tensorrt") and detector.session.providers[0] == "CPUExecutionProvider":
        print(f"run.py: warning: {args.providers} is not available to onnxruntime; running on the CPU",
              file=sys.stderr)
    try:
        recorder = field.Recorder(detector, args) if field else None
    except (ValueError, OSError) as exc:  # a bad option value, an unwritable --log
        print(f"run.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.save_dir:
        args.save_dir.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    used: set[str] = set()
    try:
        imgsz = None if args.full_decode else detector.imgsz
        for source, frame, image, scale in frames.iter_frames(args.sources, errors, args.max_frames, imgsz):
            dets = recorder.observe(image, scale, source, frame, args.conf, args.iou) if recorder else \
                detector.detections(image, args.conf, args.iou, scale)
            record = {"source": source, **({} if frame is None else {"frame": frame}),
                      "width": int(round(image.shape[1] * scale[0])), "height": int(round(image.shape[0] * scale[1]))}
            print(json.dumps({**record, "detections": dets}), flush=True)
            if args.save_dir:
                full = (image,) if scale == (1.0, 1.0) else frames.read_image(Path(source))  # drawn at full size
                if full is not None:
                    cv2.imwrite(str(args.save_dir / frames.save_name(source, frame, used)),
                                frames.draw(full[0], dets, detector.colors))
    except KeyboardInterrupt:
        pass
    finally:
        if recorder:
            recorder.close()
    for problem in errors:
        print(f"run.py: error: {problem}", file=sys.stderr)
    return EXIT_SOURCE if errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
