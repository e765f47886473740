"""Evaluating a registered model on a split of a dataset version: metrics, confusion matrix, per-image outcomes.

:func:`evaluate` predicts with Ultralytics in this process (offline, see :func:`cvops.models.offline.make_offline`)
on the images of one split of a version, against the version's *frozen* annotations, and stores the result in one
transaction at the end (a cancelled or failed evaluation stores nothing).

Metrics are computed with Ultralytics' own functions (``box_iou``, the validator's ``match_predictions`` at the 10
IoU thresholds 0.5:0.95, ``ap_per_class``). Matching is per class, as COCO's: a prediction is a true positive only
for an object of its own class, so a wrong-class box never takes an object from a correct one (tested against
``COCOeval``; the figures differ from COCO's only by the PR-curve interpolation). mAP50 and mAP50-95 agree with
``YOLO.val`` up to two differences in the predictions themselves: ``predict`` runs class-wise NMS with one label per
box where ``val`` allows several labels per box (``multi_label``), and images are letterboxed slightly differently
(no rectangular batches). Measured on the demo recipe they cost ``val`` 1.2 and 0.5 points of mAP50; docs/training.md
has the table. The settings used are stored in ``params`` (``conf``, ``iou``, ``imgsz``, ``backend``, ``matching``).

Prediction is pluggable (:class:`Predictor`): :class:`YoloPredictor` (Ultralytics ``predict``, the default) or any
other runtime, e.g. ``cvops.deploy.verify`` feeding onnxruntime and a raw PyTorch forward the same letterboxed input.
:func:`score` computes the same metrics without storing anything.

Segmentation models are evaluated on boxes: their predicted boxes against the bounding boxes of the ground-truth
polygons (a multi-part polygon: the extent of all its parts; mask mAP is not computed). Tags have no geometry and
are ignored.

Crowd regions (``iscrowd`` 1) are ignore regions, as in COCO's ``COCOeval``: they are not objects (no instances, no
``fn``), and a prediction that is not a true positive at an IoU threshold but covers a crowd region of its class by
intersection over the prediction's own area (IoA) >= that threshold is left out at that threshold, neither a true nor
a false positive. In the review outcomes such a prediction (an ``fp`` or ``poor_loc`` at IoA >= 0.5) gets no row; the
metrics count them as ``ignored``.

Class mapping: the model's class index maps to a workspace class id through the model's ``classes``; ground-truth
classes the model does not know (a model evaluated on a newer version) count as missed objects only: they appear in
``unknown_classes``, in the confusion matrix and as ``fn`` rows, but not in mAP, which averages over the model's
classes with instances in the split (as Ultralytics does).

Review outcomes of the predictions at confidence >= :data:`REVIEW_CONF` (per image, in confidence order):
``tp`` the same class at IoU >= 0.5 (one-to-one, greedy by confidence); ``wrong_class`` IoU >= 0.5 with a
not-yet-claimed object of another class (it claims that object); ``poor_loc`` the same class at 0.1 <= IoU < 0.5 with
an object no ``tp`` found; ``fp`` anything else. Every object without a ``tp`` gets an ``fn`` row (so fn rows = objects
- tp); when a ``wrong_class`` prediction claimed it, the row's ``class_id`` is that predicted class (the *missed*
error list, ``error_images(..., unclaimed=True)``, leaves those out: they are listed under wrong class). The confusion
matrix (rows = predicted, columns = true, last = background, as Ultralytics draws it) is built from these outcomes:
tp and wrong_class in their cells, fp and poor_loc in the background column, unclaimed fn in the background row, so
each column sums to the objects of its class and each row to the predictions of its class.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Protocol

import numpy as np

from cvops.data.annotations import is_crowd
from cvops.catalog.db import transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.evaluation_store import (OUTCOMES, REVIEW_CONF, EvaluationResult, ImageOutcome, ModelRef,
                                           ReviewRow, _model_row, confusion_cell_images, error_images,
                                           get_evaluation, image_outcomes, image_predictions, list_evaluations)
from cvops.common.imageio import open_image
from cvops.common.jobs import CancelToken, Progress, no_progress
from cvops.catalog.store import sha256_file
from cvops.versions.create import VersionRef, get_version, member_files, version_classes

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

__all__ = ["OUTCOMES", "REVIEW_CONF", "Detections", "EvalItem", "EvaluationResult", "Predictor", "ReviewCounts",
           "YoloPredictor", "confusion_cell_images", "error_images", "evaluate", "get_evaluation", "image_outcomes",
           "image_predictions", "list_evaluations", "score", "split_items"]

MATCH_IOU = 0.5  # review outcomes and confusion matrix
MATCHING = "per class (COCO / Ultralytics): a prediction matches only objects of its own class"
YOLO_BACKEND = ("ultralytics predict (PyTorch): long side shrunk to imgsz with INTER_AREA, minimal-padding "
                "letterbox, class-wise NMS with one label per box")
POOR_LOC_IOU = 0.1
PR_POINTS = 101
SPLITS = ("train", "val", "test")

_offline_ready = False


def _ensure_offline(ws: "Workspace") -> None:
    """Run :func:`make_offline` once per process, without its socket guard: this may be the GUI's process, which
    deploys over SSH; the stubs and settings keep Ultralytics itself off the network."""
    global _offline_ready
    if not _offline_ready:
        from cvops.models.offline import make_offline

        make_offline(ws.root / "cache" / "ultralytics", block_network=False)
        _offline_ready = True


def _load_model(model: dict[str, Any]) -> Any:
    """Ultralytics ``YOLO`` of the model's weights; clear errors for a missing, changed or unreadable file."""
    weights = Path(model["weights"])
    label = f"model {model['name']}"
    if not weights.is_file():
        raise NotFoundError(f"weights file {weights} of {label} is missing")
    if model.get("weights_sha256") and sha256_file(weights) != model["weights_sha256"]:
        raise ValidationError(f"weights file {weights} of {label} changed since it was registered (sha256 differs)")
    from ultralytics import YOLO

    try:
        yolo = YOLO(str(weights))
    except Exception as exc:  # torch/pickle/zip errors of a corrupt or foreign file
        raise ValidationError(f"cannot load weights file {weights} of {label}: {type(exc).__name__}: {exc}") from None
    if yolo.task not in ("detect", "segment"):
        raise ValidationError(f"weights file {weights} of {label} is a {yolo.task} model (detect or segment needed)")
    if len(yolo.names) != len(model["classes"]):
        raise ValidationError(f"weights file {weights} of {label} has {len(yolo.names)} classes, the registry "
                              f"lists {len(model['classes'])}")
    return yolo


def _gt_boxes(anns: list[dict[str, Any]], crowd: bool = False) -> list[tuple[int, list[float]]]:
    """``(class_id, [x1, y1, x2, y2])`` of boxes and polygons' bounding boxes (tags have no geometry): of the
    objects, or with ``crowd`` of the crowd regions."""
    out = []
    for ann in anns:
        if is_crowd(ann.get("attributes")) != crowd:
            continue
        if ann["kind"] == "box" and ann.get("box"):
            x, y, w, h = ann["box"]
            out.append((ann["class_id"], [x, y, x + w, y + h]))
        elif ann["kind"] == "polygon" and ann.get("points"):
            xs = [p[0] for p in ann["points"]]
            ys = [p[1] for p in ann["points"]]
            out.append((ann["class_id"], [min(xs), min(ys), max(xs), max(ys)]))
    return out


class EvalItem(NamedTuple):
    """One image of the evaluated split: where its bytes are and its frozen annotations."""

    image_id: int
    path: Path
    annotations: list[dict[str, Any]]


class ReviewCounts(NamedTuple):
    """One image's review outcome counts, and its predictions ignored on crowd regions (no row)."""

    tp: int
    fp: int
    fn: int
    poor_loc: int
    wrong_class: int
    ignored: int


def split_items(ws: "Workspace", version_id: int, split: str) -> tuple[list[EvalItem], dict[str, int]]:
    """The images of one split of a version in image id order, and the image count per split."""
    items, counts = [], {}
    for state, source in member_files(ws, version_id):
        counts[state.split] = counts.get(state.split, 0) + 1
        if state.split == split:
            items.append(EvalItem(state.image_id, source, json.loads(state.annotations)))
    return items, counts


def _read_bgr(path: Path, imgsz: Optional[int] = None) -> tuple[np.ndarray, tuple[float, float]]:
    """The oriented image as a BGR array (what Ultralytics expects of arrays), read with Pillow's own opener, and
    the factors ``(x, y)`` that take its coordinates back to the original image.

    With ``imgsz`` the long side is resized to it as Ultralytics' validation loader does (``cv2.INTER_AREA`` when
    shrinking), so predictions see the same pixels as in ``YOLO.val``.
    """
    import cv2
    from PIL import ImageOps

    with open_image(path) as im:
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    h0, w0 = bgr.shape[:2]
    r = imgsz / max(h0, w0) if imgsz else 1.0
    if r == 1:
        return bgr, (1.0, 1.0)
    w, h = min(math.ceil(w0 * r), imgsz), min(math.ceil(h0 * r), imgsz)
    bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA)
    return bgr, (w0 / w, h0 / h)


def _read_image(iid: int, path: Path, imgsz: int) -> tuple[np.ndarray, tuple[float, float]]:
    try:
        return _read_bgr(path, imgsz)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValidationError(f"image {iid} ({path}) cannot be decoded: {exc}") from None


def _match_iou_thresholds(pred_cls: np.ndarray, gt_cls: np.ndarray, iou: Any) -> np.ndarray:
    """Ultralytics' validator matching (``BaseValidator.match_predictions``) at IoU 0.5:0.95: (N, 10) booleans."""
    import torch
    from ultralytics.engine.validator import BaseValidator

    stub = SimpleNamespace(iouv=torch.linspace(0.5, 0.95, 10))
    return BaseValidator.match_predictions(stub, torch.from_numpy(pred_cls), torch.from_numpy(gt_cls),
                                           iou).cpu().numpy()


def _review(boxes: np.ndarray, conf: np.ndarray, cls: np.ndarray, gt_boxes: np.ndarray, gt_cls: np.ndarray,
            iou: np.ndarray) -> tuple[list[tuple[int, str, Optional[int], Optional[float]]],
                                      list[tuple[int, Optional[int], Optional[float]]]]:
    """Review outcomes of predictions (conf >= the review confidence, sorted by confidence); see the module doc.

    Returns per prediction ``(index, outcome, gt index, iou)`` and per ground truth without a tp ``(gt index,
    claiming predicted class or None, iou)``; ``iou`` is ``(n_gt, n_pred)``.
    """
    n_gt, n_pred = iou.shape
    claimed = np.zeros(n_gt, dtype=bool)
    tp_gt = np.zeros(n_gt, dtype=bool)
    outcome: dict[int, tuple[str, Optional[int], Optional[float]]] = {}
    wrong_by: dict[int, tuple[int, float]] = {}
    for j in range(n_pred):  # tp: same class, greedy by confidence
        same = np.where((gt_cls == cls[j]) & ~claimed, iou[:, j], 0.0)
        if n_gt and same.max() >= MATCH_IOU:
            k = int(same.argmax())
            claimed[k] = tp_gt[k] = True
            outcome[j] = ("tp", k, float(iou[k, j]))
    for j in range(n_pred):  # wrong class: another class's unclaimed object
        if j in outcome or not n_gt:
            continue
        other = np.where((gt_cls != cls[j]) & ~claimed, iou[:, j], 0.0)
        if other.max() >= MATCH_IOU:
            k = int(other.argmax())
            claimed[k] = True
            outcome[j] = ("wrong_class", k, float(iou[k, j]))
            wrong_by[k] = (j, float(iou[k, j]))
    for j in range(n_pred):  # poorly located: same class, an object no tp found
        if j in outcome:
            continue
        near = np.where((gt_cls == cls[j]) & ~tp_gt, iou[:, j], 0.0) if n_gt else np.zeros(0)
        if n_gt and near.max() >= POOR_LOC_IOU:
            k = int(near.argmax())
            outcome[j] = ("poor_loc", k, float(iou[k, j]))
        else:
            outcome[j] = ("fp", None, float(iou[:, j].max()) if n_gt else None)
    preds = [(j, *outcome[j]) for j in range(n_pred)]
    missed = []
    for k in np.flatnonzero(~tp_gt):
        if int(k) in wrong_by:
            j, v = wrong_by[int(k)]
            missed.append((int(k), int(cls[j]), v))
        else:
            missed.append((int(k), None, None))
    return preds, missed


def _xywh(box: Any) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _metrics(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray, n_classes: int,
             ignored: Optional[np.ndarray] = None) -> tuple[dict[str, float], dict[int, dict[str, float]],
                                                            dict[int, list[float]]]:
    """Ultralytics' ``ap_per_class`` on the concatenated statistics: means, per model class index, PR curves.

    ``ignored`` ``(N, 10)`` marks predictions left out at an IoU threshold (on a crowd region): each threshold is
    then scored on its own set of predictions, as ``COCOeval`` does."""
    zero = {"map50": 0.0, "map50_95": 0.0, "map": 0.0, "precision": 0.0, "recall": 0.0, "fitness": 0.0}
    if not len(target_cls):
        return zero, {}, {}
    from ultralytics.utils.metrics import ap_per_class

    names = {i: str(i) for i in range(n_classes)}
    if ignored is None or not ignored.any():
        out = ap_per_class(tp, conf, pred_cls, target_cls, names=names)
        ap = out[5]
    else:
        columns = []
        for t in range(tp.shape[1]):
            keep = ~ignored[:, t]
            res = ap_per_class(tp[keep][:, t:t + 1], conf[keep], pred_cls[keep], target_cls, names=names)
            out = res if t == 0 else out  # precision, recall and curves at IoU 0.5
            columns.append(res[5][:, 0])
        ap = np.stack(columns, axis=1)
    p, r, classes, x, prec_values = out[2], out[3], out[6], out[10], out[11]
    grid = np.linspace(0, 1, PR_POINTS)
    per: dict[int, dict[str, float]] = {}
    curves: dict[int, list[float]] = {}
    for ci, c in enumerate(classes):
        per[int(c)] = {"precision": float(p[ci]), "recall": float(r[ci]), "ap50": float(ap[ci, 0]),
                       "ap": float(ap[ci].mean())}
        curves[int(c)] = [round(float(v), 5) for v in np.interp(grid, x, prec_values[ci])]
    means = {"map50": float(ap[:, 0].mean()), "map50_95": float(ap.mean()), "precision": float(p.mean()),
             "recall": float(r.mean())}
    means["map"] = means["fitness"] = means["map50_95"]  # DetMetrics.fitness of this Ultralytics: mAP50-95
    return means, per, curves


Detections = tuple[np.ndarray, np.ndarray, np.ndarray]
"""One image's predictions: boxes ``(N, 4)`` x1, y1, x2, y2 in the pixels of the array predicted on, confidences
``(N,)`` and model class indices ``(N,)``."""


class Predictor(Protocol):
    """What :func:`evaluate` and :func:`score` predict with: Ultralytics (the default, :class:`YoloPredictor`) or any
    other runtime (``cvops.deploy.verify`` plugs in onnxruntime and a raw PyTorch forward).

    ``imgsz`` is the model's input size. With ``resize`` true the evaluation shrinks each image's long side to
    ``imgsz`` first (``cv2.INTER_AREA``, as Ultralytics' validation loader does) and maps the boxes back; with it
    false the predictor gets the full-size oriented image and letterboxes it itself. A predictor with a ``read``
    method (``read(image_id, path) -> (BGR image, (fx, fy))``, the factors mapping its boxes to full size) decodes
    the images itself.
    """

    imgsz: int
    resize: bool

    def __call__(self, images: list[np.ndarray], conf: float, iou: float) -> list[Detections]:
        """Predictions per BGR image."""
        ...


class YoloPredictor:
    """Ultralytics ``YOLO.predict`` (its own letterbox and NMS) on ``device``."""

    resize = True

    def __init__(self, yolo: Any, device: str = "cpu") -> None:
        self.yolo = yolo
        self.device = device
        self.imgsz = int((yolo.overrides or {}).get("imgsz") or 640)

    def __call__(self, images: list[np.ndarray], conf: float, iou: float) -> list[Detections]:
        results = self.yolo.predict(images, imgsz=self.imgsz, conf=conf, iou=iou, device=self.device, verbose=False)
        return [(r.boxes.xyxy.cpu().numpy(), r.boxes.conf.cpu().numpy(), r.boxes.cls.cpu().numpy()) for r in results]


@dataclass
class _Setup:
    model: dict[str, Any]
    info: Any
    items: list[EvalItem]
    model_ids: list[int]
    names: dict[int, str]


def _setup(ws: "Workspace", model_ref: ModelRef, version_ref: Optional[VersionRef], split: str) -> _Setup:
    """The model row, the version, the split's items and the class mapping; the input checks of :func:`evaluate`."""
    model = _model_row(ws, model_ref)
    info = get_version(ws, model["version_id"] if version_ref is None else version_ref)
    if split not in SPLITS:
        raise ValidationError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    items, counts = split_items(ws, info.id, split)
    if not items:
        per = ", ".join(f"{s}: {counts.get(s, 0)}" for s in SPLITS)
        raise ValidationError(f"split {split!r} of version {info.name} has no images ({per})")
    # Class mapping: model index -> workspace class id; ground-truth classes the model lacks get indices after it.
    model["classes"] = sorted(model["classes"], key=lambda c: c.get("index", 0))  # stable: list order without index
    model_ids = [int(c.get("class_id", c.get("id"))) for c in model["classes"]]
    vclasses = version_classes(ws, info.id)
    if not set(model_ids) & {c["id"] for c in vclasses}:
        raise ValidationError(f"model {model['name']} shares no class with version {info.name} (model: "
                              f"{', '.join(c['name'] for c in model['classes'])}; version: "
                              f"{', '.join(c['name'] for c in vclasses) or 'none'})")
    names = {c["id"]: c["name"] for c in vclasses}
    for c, cid in zip(model["classes"], model_ids):
        names.setdefault(cid, c.get("name", str(cid)))
    return _Setup(model, info, items, model_ids, names)


def _collect(s: _Setup, split: str, predictor: Predictor, conf: float, iou: float, progress: Progress,
             cancel: Optional[CancelToken], batch: int, review_conf: float) -> dict[str, Any]:
    """Predict every image of the split and compute the metrics, per-class table, confusion matrix, PR curves and
    review rows (nothing is stored)."""
    space = list(s.model_ids)  # evaluation class index -> workspace class id
    stats: dict[str, list[np.ndarray]] = {"tp": [], "conf": [], "pred_cls": [], "target_cls": [], "ignored": []}
    image_rows: list[ImageOutcome] = []
    pred_rows: list[ReviewRow] = []
    instances: dict[int, int] = {}
    missing = done = ignored = 0
    items, step = s.items, max(1, batch)
    for start in range(0, len(items), step):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = [it for it in items[start:start + step] if it.path.is_file()]
        missing += min(len(items) - start, step) - len(chunk)
        reader = getattr(predictor, "read", None)
        loaded = [reader(iid, path) if reader else _read_image(iid, path, predictor.imgsz if predictor.resize else None)
                  for iid, path, _ in chunk]
        results = predictor([a for a, _ in loaded], conf, iou) if loaded else []
        for (iid, _, anns), (boxes, confs, classes), (_, (fx, fy)) in zip(chunk, results, loaded):
            gts = _gt_boxes(anns)
            crowd = [(c, b) for c, b in _gt_boxes(anns, crowd=True) if c in s.model_ids]  # only the model's classes
            c_cls = np.array([s.model_ids.index(c) for c, _ in crowd], dtype=np.float32)
            c_box = np.array([b for _, b in crowd], dtype=np.float32).reshape(-1, 4)
            for cid, _box in gts:
                if cid not in space:
                    space.append(cid)
                instances[cid] = instances.get(cid, 0) + 1
            pos = {cid: i for i, cid in enumerate(space)}
            gt_cls = np.array([pos[cid] for cid, _ in gts], dtype=np.float32)
            gt_box = np.array([b for _, b in gts], dtype=np.float32).reshape(-1, 4)
            p_box = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * np.array([fx, fy, fx, fy], dtype=np.float32)
            p_conf = np.asarray(confs, dtype=np.float32).reshape(-1)
            p_cls = np.asarray(classes).reshape(-1).astype(np.float32)
            order = np.argsort(-p_conf, kind="stable")
            p_box, p_conf, p_cls = p_box[order], p_conf[order], p_cls[order]
            _score_image(stats, p_box, p_conf, p_cls, gt_box, gt_cls, len(s.model_ids), c_box, c_cls)
            counts_img = _review_image(pred_rows, iid, p_box, p_conf, p_cls, gt_box, gt_cls, space, review_conf,
                                       c_box, c_cls)
            ignored += counts_img.ignored
            image_rows.append(ImageOutcome(iid, *counts_img[:5]))
        done += min(len(items) - start, step)
        progress(0.95 * done / len(items), f"evaluated {done}/{len(items)} images")
    if cancel is not None:
        cancel.raise_if_cancelled()
    if missing == len(items):
        raise ValidationError(f"none of the {len(items)} images of split {split!r} of version {s.info.name} is in "
                              "the image store (purged?)")
    cat = {k: np.concatenate(v, 0) if v else np.zeros((0, 10) if k in ("tp", "ignored") else 0)
           for k, v in stats.items()}
    means, per_idx, curves = _metrics(cat["tp"], cat["conf"], cat["pred_cls"], cat["target_cls"], len(s.model_ids),
                                      cat["ignored"].astype(bool))
    totals = {k: sum(getattr(r, k) for r in image_rows) for k in OUTCOMES}
    totals["predictions"] = totals["tp"] + totals["fp"] + totals["poor_loc"] + totals["wrong_class"]
    totals["ignored"] = ignored
    totals["missed"] = totals["fn"] - totals["wrong_class"]  # fn rows no wrong-class prediction claimed
    metrics = {**means, "instances": sum(instances.values()), **totals}
    per_class = []
    for i, cid in enumerate(space):
        known, n = i < len(s.model_ids), instances.get(cid, 0)
        if not known:  # the model cannot find it: every instance is missed
            m = {"precision": None, "recall": 0.0, "ap50": None, "ap": None}
        elif n:
            m = per_idx.get(i, {"precision": 0.0, "recall": 0.0, "ap50": 0.0, "ap": 0.0})
        else:  # no instances in this split: nothing to measure
            m = {"precision": None, "recall": None, "ap50": None, "ap": None}
        per_class.append({"class_id": cid, "name": s.names.get(cid, str(cid)), "instances": n, "known": known, **m})
    unknown = [{"class_id": cid, "name": s.names.get(cid, str(cid)), "instances": instances.get(cid, 0)}
               for cid in space[len(s.model_ids):]]
    pr_curve = {str(s.model_ids[i]): {"recall": [round(float(v), 4) for v in np.linspace(0, 1, PR_POINTS)],
                                      "precision": c} for i, c in curves.items()}
    return {"metrics": metrics, "per_class": per_class, "unknown": unknown, "pr_curve": pr_curve,
            "confusion": _confusion(pred_rows, space, s.names), "image_rows": image_rows, "pred_rows": pred_rows,
            "missing": missing}


def score(ws: "Workspace", model_ref: ModelRef, predictor: Predictor, version_ref: Optional[VersionRef] = None,
          split: str = "val", conf: float = 0.001, iou: float = 0.7, progress: Optional[Progress] = None,
          cancel: Optional[CancelToken] = None, batch: int = 16) -> dict[str, Any]:
    """The metrics :func:`evaluate` computes, for any ``predictor`` of the model's classes, without storing them.

    Returns ``{model, version, split, images, missing_images, metrics, per_class, unknown_classes}``; raises as
    :func:`evaluate` does.
    """
    s = _setup(ws, model_ref, version_ref, split)
    r = _collect(s, split, predictor, conf, iou, progress or no_progress, cancel, batch, REVIEW_CONF)
    return {"model": s.model["name"], "version": s.info.name, "split": split, "images": len(r["image_rows"]),
            "missing_images": r["missing"], "metrics": r["metrics"], "per_class": r["per_class"],
            "unknown_classes": r["unknown"]}


def evaluate(ws: "Workspace", model_ref: ModelRef, version_ref: Optional[VersionRef] = None, split: str = "val",
             conf: float = 0.001, iou: float = 0.7, progress: Optional[Progress] = None,
             cancel: Optional[CancelToken] = None, batch: int = 16, device: str = "cpu",
             review_conf: float = REVIEW_CONF, predictor: Optional[Predictor] = None) -> EvaluationResult:
    """Evaluate a registered model on one split of a dataset version (its own version when ``version_ref`` is None)
    and store the result; see the module doc for the metrics, the class mapping and the review outcomes.

    ``conf`` and ``iou`` are the prediction thresholds (confidence floor and NMS IoU, Ultralytics' validation
    defaults); ``review_conf`` is the confidence from which predictions get a review outcome and are stored.
    ``predictor`` replaces Ultralytics' ``predict`` on the model's weights (``device`` is then unused).
    Raises :class:`NotFoundError` for an unknown model or version or a missing weights file,
    :class:`ValidationError` for an empty split, unusable weights or no shared class, and
    :class:`cvops.common.jobs.Cancelled` when ``cancel`` is triggered (checked between batches; nothing is stored).
    """
    progress = progress or no_progress
    started = time.monotonic()
    s = _setup(ws, model_ref, version_ref, split)
    model, info = s.model, s.info
    if predictor is None:
        progress(0.0, f"loading model {model['name']}")
        _ensure_offline(ws)
        predictor = YoloPredictor(_load_model(model), device)
    r = _collect(s, split, predictor, conf, iou, progress, cancel, batch, review_conf)
    metrics, image_rows, pred_rows = r["metrics"], r["image_rows"], r["pred_rows"]
    params = {"imgsz": predictor.imgsz, "device": device, "batch": batch, "review_conf": review_conf,
              "match_iou": MATCH_IOU, "missing_images": r["missing"], "task": model["task"], "boxes_only": True,
              "conf": conf, "iou": iou, "matching": MATCHING}
    if isinstance(predictor, YoloPredictor):
        params["backend"] = YOLO_BACKEND
    else:
        params["predictor"] = params["backend"] = type(predictor).__name__
    duration = round(time.monotonic() - started, 3)
    created = time.time()
    with transaction(ws.db):
        cur = ws.db.execute(
            "INSERT INTO evaluations (model_id, version_id, version_hash, split, created_at, conf, iou, images, "
            "duration_s, metrics, per_class, confusion, pr_curve, unknown_classes, params) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [model["id"], info.id, info.content_hash, split, created, conf, iou, len(image_rows), duration,
             json.dumps(metrics), json.dumps(r["per_class"]), json.dumps(r["confusion"]), json.dumps(r["pr_curve"]),
             json.dumps(r["unknown"]), json.dumps(params)])
        eid = int(cur.lastrowid or 0)
        ws.db.conn.executemany(
            "INSERT INTO eval_images (evaluation_id, image_id, tp, fp, fn, poor_loc, wrong_class) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [(eid, *row) for row in image_rows])
        ws.db.conn.executemany(
            "INSERT INTO eval_predictions (evaluation_id, image_id, class_id, gt_class_id, x, y, w, h, confidence, "
            "outcome, iou) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(eid, *row) for row in pred_rows])
    progress(1.0, f"evaluation {eid}: mAP50 {metrics['map50']:.3f}, mAP50-95 {metrics['map50_95']:.3f}")
    return EvaluationResult(eid, model["id"], info.id, split, len(image_rows), metrics, r["per_class"],
                            r["confusion"], r["pr_curve"], r["unknown"], duration, model["name"], info.name,
                            info.content_hash, conf, iou, created, params)


def _ioa(p_box: np.ndarray, p_cls: np.ndarray, c_box: np.ndarray, c_cls: np.ndarray) -> np.ndarray:
    """Per prediction, the largest intersection over the prediction's own area with a crowd region of its class
    (``COCOeval``'s IoU for crowd ground truth); 0 without one."""
    if not len(p_cls) or not len(c_cls):
        return np.zeros(len(p_cls), dtype=np.float32)
    ix = np.clip(np.minimum(p_box[:, None, 2], c_box[None, :, 2]) - np.maximum(p_box[:, None, 0], c_box[None, :, 0]),
                 0, None)
    iy = np.clip(np.minimum(p_box[:, None, 3], c_box[None, :, 3]) - np.maximum(p_box[:, None, 1], c_box[None, :, 1]),
                 0, None)
    area = np.maximum((p_box[:, 2] - p_box[:, 0]) * (p_box[:, 3] - p_box[:, 1]), 1e-12)
    ioa = ix * iy / area[:, None]
    return np.where(p_cls[:, None] == c_cls[None, :], ioa, 0.0).max(axis=1)


def _score_image(stats: dict[str, list[np.ndarray]], p_box: np.ndarray, p_conf: np.ndarray, p_cls: np.ndarray,
                 gt_box: np.ndarray, gt_cls: np.ndarray, n_known: int, c_box: Optional[np.ndarray] = None,
                 c_cls: Optional[np.ndarray] = None) -> None:
    """Append one image's statistics for ``ap_per_class`` (Ultralytics' ``_process_batch``); unknown ground-truth
    classes stay out of the targets (the model cannot find them, mAP is over its classes). Predictions that are no
    true positive at a threshold but lie on a crowd region ``c_box`` of their class (IoA >= the threshold) are marked
    ignored there."""
    import torch
    from ultralytics.utils.metrics import box_iou

    known = gt_cls < n_known
    k_box, k_cls = gt_box[known], gt_cls[known]
    if len(k_cls) and len(p_cls):
        iou = box_iou(torch.from_numpy(k_box), torch.from_numpy(p_box.astype(np.float32)))
        tp = _match_iou_thresholds(p_cls, k_cls, iou)
    else:
        tp = np.zeros((len(p_cls), 10), dtype=bool)
    ioa = _ioa(p_box, p_cls, c_box, c_cls) if c_box is not None and c_cls is not None else np.zeros(len(p_cls))
    stats.setdefault("ignored", []).append(~tp & (ioa[:, None] >= np.linspace(0.5, 0.95, 10)[None, :] - 1e-9))
    stats["tp"].append(tp)
    stats["conf"].append(p_conf)
    stats["pred_cls"].append(p_cls)
    stats["target_cls"].append(k_cls)


def _review_image(rows: list[ReviewRow], iid: int, p_box: np.ndarray, p_conf: np.ndarray, p_cls: np.ndarray,
                  gt_box: np.ndarray, gt_cls: np.ndarray, space: list[int], review_conf: float = REVIEW_CONF,
                  c_box: Optional[np.ndarray] = None,
                  c_cls: Optional[np.ndarray] = None) -> ReviewCounts:
    """Append one image's review rows; return its counts ``(tp, fp, fn, poor_loc, wrong_class, ignored)``: an
    ``fp`` or ``poor_loc`` prediction on a crowd region of its class (IoA >= 0.5) is ignored, with no row."""
    import torch
    from ultralytics.utils.metrics import box_iou

    keep = p_conf >= review_conf
    r_box, r_conf, r_cls = p_box[keep], p_conf[keep], p_cls[keep]
    if len(gt_cls) and len(r_cls):
        iou = box_iou(torch.from_numpy(gt_box), torch.from_numpy(r_box.astype(np.float32))).numpy()
    else:
        iou = np.zeros((len(gt_cls), len(r_cls)), dtype=np.float32)
    preds, missed = _review(r_box, r_conf, r_cls, gt_box, gt_cls, iou)
    counts = dict.fromkeys(OUTCOMES, 0)
    ioa = _ioa(r_box, r_cls, c_box, c_cls) if c_box is not None and c_cls is not None else np.zeros(len(r_cls))
    ignored = 0
    for j, outcome, k, v in preds:
        if outcome in ("fp", "poor_loc") and ioa[j] >= MATCH_IOU:
            ignored += 1
            continue
        counts[outcome] += 1
        rows.append(ReviewRow(iid, space[int(r_cls[j])], space[int(gt_cls[k])] if k is not None else None,
                              *_xywh(r_box[j]), float(r_conf[j]), outcome, v))
    for k, claimed_by, v in missed:
        counts["fn"] += 1
        rows.append(ReviewRow(iid, space[claimed_by] if claimed_by is not None else None, space[int(gt_cls[k])],
                              *_xywh(gt_box[k]), None, "fn", v))
    return ReviewCounts(counts["tp"], counts["fp"], counts["fn"], counts["poor_loc"], counts["wrong_class"], ignored)


def _confusion(rows: list[ReviewRow], space: list[int], names: dict[int, str]) -> dict[str, Any]:
    """The confusion matrix from the review rows: rows = predicted, columns = true, last = background."""
    n = len(space)
    pos = {cid: i for i, cid in enumerate(space)}
    matrix = [[0] * (n + 1) for _ in range(n + 1)]
    for r in rows:
        if r.outcome in ("tp", "wrong_class"):
            matrix[pos[r.class_id]][pos[r.gt_class_id]] += 1
        elif r.outcome in ("fp", "poor_loc"):
            matrix[pos[r.class_id]][n] += 1
        elif r.class_id is None:  # fn that no wrong-class prediction claimed
            matrix[n][pos[r.gt_class_id]] += 1
    return {"labels": [names.get(c, str(c)) for c in space] + ["background"], "class_ids": [*space, None],
            "matrix": matrix}
