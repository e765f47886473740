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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

import cv2
import numpy as np

PAD_VALUE = 114
MAX_WH = 7680  # class offset for per-class NMS in one pass (as Ultralytics)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize ``image`` to fit ``size`` x ``size`` keeping its aspect ratio and pad it; return it, the scale and
    the (left, top) padding."""
    h, w = image.shape[:2]
    gain = min(size / h, size / w)
    new_w, new_h = int(round(w * gain)), int(round(h * gain))
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return image, gain, (left, top)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression of ``boxes`` (x1, y1, x2, y2), highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
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
    boxes = np.empty_like(xywh)
    boxes[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
    boxes[:, 2:] = xywh[:, :2] + xywh[:, 2:] / 2
    keep = nms(boxes + cls[:, None].astype(np.float32) * MAX_WH, best, iou)[:max_det]
    return boxes[keep], best[keep], cls[keep]


class Detector:
    """An exported YOLO model in onnxruntime. ``meta`` (a bundle's ``model.json``) may give ``names``, ``imgsz``
    and ``nms`` thresholds; otherwise they come from the metadata Ultralytics writes into the ONNX file."""

    def __init__(self, model: Path, meta: Optional[dict[str, Any]] = None,
                 providers: Optional[Sequence[str]] = None) -> None:
        import onnxruntime as ort

        self.path = Path(model)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        available = ort.get_available_providers()
        wanted = list(providers) if providers else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(self.path), options,
                                            providers=[p for p in wanted if p in available] or available)
        self.input = self.session.get_inputs()[0]
        meta = dict(meta or {})
        props = self.session.get_modelmeta().custom_metadata_map
        names = meta.get("names") or _parse_names(props.get("names", ""))
        self.names: list[str] = [str(n) for n in names]
        shape = self.input.shape
        static = isinstance(shape[-1], int) and shape[-1] > 0
        self.imgsz = int(meta.get("imgsz") or (shape[-1] if static else _first_int(props.get("imgsz")) or 640))
        thresholds = meta.get("nms", {})
        self.conf = float(thresholds.get("conf", 0.25))
        self.iou = float(thresholds.get("iou", 0.7))
        self.dtype = np.float16 if "float16" in self.input.type else np.float32
        self.batch_size = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
        """One BGR image → a CHW tensor, the letterbox scale and padding."""
        boxed, gain, pad = letterbox(image, self.imgsz)
        tensor = np.ascontiguousarray(boxed[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32) / 255.0
        return tensor.astype(self.dtype), gain, pad

    def raw(self, batch: np.ndarray) -> np.ndarray:
        """The model's first output for an NCHW batch."""
        return np.asarray(self.session.run(None, {self.input.name: batch})[0])

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
        """Per BGR image: boxes (x1, y1, x2, y2 in image pixels), confidences, class indices; best first."""
        conf = self.conf if conf is None else conf
        iou = self.iou if iou is None else iou
        results = []
        step = self.batch_size or max(1, len(images))
        for start in range(0, len(images), step):
            chunk = list(images[start:start + step])
            prepared = [self.preprocess(img) for img in chunk]
            batch = np.stack([p[0] for p in prepared])
            if self.batch_size and len(chunk) < self.batch_size:  # a static batch: pad with blank inputs
                batch = np.concatenate([batch, np.zeros((self.batch_size - len(chunk), *batch.shape[1:]),
                                                        batch.dtype)])
            outputs = self.raw(batch)
            for img, (_, gain, (left, top)), output in zip(chunk, prepared, outputs):
                boxes, scores, classes = postprocess(output, len(self.names), conf, iou)
                boxes = (boxes - np.array([left, top, left, top], dtype=np.float32)) / gain
                h, w = img.shape[:2]
                boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
                boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
                results.append((boxes, scores, classes))
        return results


def _first_int(text: Optional[str]) -> Optional[int]:
    digits = "".join(ch if ch.isdigit() else " " for ch in str(text or "")).split()
    return int(digits[0]) if digits else None


def _parse_names(text: str) -> list[str]:
    """Ultralytics writes ``names`` as a Python dict literal (``{0: 'circle', 1: 'square'}``)."""
    import ast

    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value)]
    return [str(v) for v in value]


def load_meta(bundle_dir: Path) -> dict[str, Any]:
    """A bundle's ``model.json`` (empty when absent)."""
    path = Path(bundle_dir) / "model.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
