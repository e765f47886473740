"""Pre-labeling: run a registered model over images and store its detections as *suggestions* to review.

A suggestion is an annotation with ``source = 'model'``, the model's name in ``model_id`` and its ``confidence``.
Suggestions are pending until a person accepts them (:func:`accept`: they become manual annotations, the model and
confidence kept in their attributes as ``suggested_by`` / ``suggested_confidence``) or rejects them (:func:`reject`:
deleted). Manual annotations are never changed by pre-labeling.

The model runs in onnxruntime through :class:`cvops.deploy.edge_runner.Detector` (the same code a deployed bundle
runs): an fp32 ONNX export of the model is taken from the ``exports`` table when there is one, else exported once
and cached by the weights' sha256 in ``WORKSPACE/cache/prelabel/<sha256>.onnx``.

Which images (:func:`prelabel`): by default the *unlabeled* ones, i.e. not trashed and without manual annotations
(pending suggestions do not count as labels, so a second run refreshes them); with a filter, the matching images
less those with manual annotations (counted as ``skipped_images``); with explicit ``image_ids``, exactly those
(trashed ones skipped), suggestions then sit alongside any manual annotations. Re-running a model on an image
replaces that model's pending suggestions there. Work goes in batches; each batch is committed as one operation of
the log (one undo step), so a cancel keeps what the finished batches stored.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

from cvops.data.annotations import Annotation, NewAnnotation, _to_annotation
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.text import counted
from cvops.common.imageio import ProbeError
from cvops.data.images import ImageFilter
from cvops.common.jobs import CancelToken, Cancelled, Progress, no_progress
from cvops.models.registry import ModelInfo, ModelRef, get_model
from cvops.catalog.store import sha256_file

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

__all__ = ["PrelabelPlan", "PrelabelReport", "accept", "accept_above", "class_map", "model_onnx", "pending", "pending_count",
           "plan_prelabel", "prelabel", "reject", "reject_below", "store_suggestions", "target_images"]

NO_CHAMPION = "no champion model: promote a model first: cvops models promote M"
_offline_ready = False


@dataclass
class PrelabelReport:
    """What a pre-labeling run did. ``images``: images the model ran on; ``skipped_images``: candidates left out
    (manual annotations, trashed, unreadable); ``unknown_classes``: model classes that no longer exist in the
    workspace (their detections are dropped)."""

    model: str
    images: int = 0
    images_with_suggestions: int = 0
    suggestions: int = 0
    skipped_images: int = 0
    unknown_classes: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    image_ids: list[int] = field(default_factory=list)  # the images the model ran on (not part of the JSON)
    unknown_class_names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``cvops prelabel --json``)."""
        return {"model": self.model, "images": self.images, "images_with_suggestions": self.images_with_suggestions,
                "suggestions": self.suggestions, "skipped_images": self.skipped_images,
                "unknown_classes": self.unknown_classes, "cancelled": self.cancelled,
                "seconds": round(self.seconds, 3)}


# -- the model ----------------------------------------------------------------------------------------------------------
def resolve_model(ws: "Workspace", model_ref: ModelRef = "champion") -> ModelInfo:
    """The model to pre-label with; a clear error when the champion is asked for and there is none."""
    if str(model_ref).strip() == "champion" and \
            ws.db.execute("SELECT 1 FROM models WHERE champion = 1").fetchone() is None:
        raise NotFoundError(NO_CHAMPION)
    return get_model(ws, model_ref)


def class_map(ws: "Workspace", model: ModelInfo) -> tuple[dict[int, int], list[str]]:
    """Model class index → workspace class id (by id, else by name), and the names of model classes that no
    longer exist in the workspace."""
    by_id = {c.id: c for c in ws.classes.list()}
    by_name = {c.name.casefold(): c.id for c in by_id.values()}
    mapping: dict[int, int] = {}
    unknown: list[str] = []
    for i, entry in enumerate(model.classes):
        index = int(entry.get("index", i))
        cid = entry.get("class_id")
        if cid in by_id:
            mapping[index] = int(cid)
        elif str(entry.get("name", "")).casefold() in by_name:
            mapping[index] = by_name[str(entry["name"]).casefold()]
        else:
            unknown.append(str(entry.get("name", index)))
    return mapping, unknown


def _ensure_offline(ws: "Workspace") -> None:
    """Ultralytics offline (stubs and settings; no socket guard: this may be the GUI's process)."""
    global _offline_ready
    if not _offline_ready:
        from cvops.models.offline import make_offline

        make_offline(ws.root / "cache" / "ultralytics", block_network=False)
        _offline_ready = True


def _registered_export(ws: "Workspace", model: ModelInfo) -> Optional[Path]:
    """The newest fp32 ONNX export of the model whose file is there."""
    from cvops.deploy.export import list_exports

    for info in reversed(list_exports(ws, model.id)):
        if info.precision == "fp32" and info.format.lower() == "onnx" and Path(info.path).is_file():
            return Path(info.path)
    return None


def _export_with_module(ws: "Workspace", model: ModelInfo, progress: Progress,
                        cancel: Optional[CancelToken]) -> Optional[Path]:
    """Use ``cvops.deploy.export.export_model`` when it exists; None when it does not (or does not fit)."""
    try:
        from cvops.deploy.export import export_model  # type: ignore[import-not-found]
    except ImportError:
        return None
    wanted = {"format": "onnx", "precision": "fp32", "dynamic": True, "progress": progress, "cancel": cancel}
    try:
        params = inspect.signature(export_model).parameters
        kwargs = {k: v for k, v in wanted.items() if k in params}
        result = export_model(ws, model.name, **kwargs)
    except (TypeError, ValidationError):  # another signature, or it cannot: export in this process instead
        return None
    found = _registered_export(ws, model)
    if found is not None:
        return found
    path = getattr(result, "path", None) or (result.get("path") if isinstance(result, dict) else None)
    return Path(path) if path and Path(path).is_file() and str(path).endswith(".onnx") else None


def _export_in_process(ws: "Workspace", model: ModelInfo, dest: Path) -> Path:
    """Export the weights to ONNX with Ultralytics in this process (offline), into ``dest`` (temp, then rename)."""
    _ensure_offline(ws)
    from ultralytics import YOLO

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=dest.parent))
    try:
        weights = work / "model.pt"
        shutil.copyfile(model.weights, weights)
        imgsz = int(model.params.get("imgsz") or 640)
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            try:
                out = YOLO(str(weights)).export(format="onnx", imgsz=imgsz, simplify=False, dynamic=True,
                                                device="cpu")
            except Exception as exc:  # torch/onnx export errors: say which model
                raise ValidationError(f"cannot export model {model.name} to ONNX: {type(exc).__name__}: {exc}"
                                      ) from None
        os.replace(str(out), dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def model_onnx(ws: "Workspace", model: ModelInfo, progress: Optional[Progress] = None,
               cancel: Optional[CancelToken] = None) -> Path:
    """An fp32 ONNX file of ``model``: a registered export, the pre-label cache, or a new export (cached)."""
    found = _registered_export(ws, model)
    if found is not None:
        return found
    weights = Path(model.weights)
    if not weights.is_file():
        raise NotFoundError(f"weights file {weights} of model {model.name} is missing")
    sha = model.weights_sha256 or sha256_file(weights)
    cached = ws.root / "cache" / "prelabel" / f"{sha}.onnx"
    if cached.is_file():
        return cached
    if sha256_file(weights) != sha:
        raise ValidationError(f"weights file {weights} of model {model.name} changed since it was registered")
    (progress or no_progress)(0.0, f"exporting {model.name} to ONNX")
    return _export_with_module(ws, model, progress or no_progress, cancel) or _export_in_process(ws, model, cached)


# -- which images ---------------------------------------------------------------------------------------------------
def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def _with_manual(ws: "Workspace", ids: Sequence[int]) -> set[int]:
    out: set[int] = set()
    for part in _chunks(ids):
        out.update(r[0] for r in ws.db.execute(
            f"SELECT DISTINCT image_id FROM annotations WHERE source = 'manual' "
            f"AND image_id IN ({', '.join('?' * len(part))})", part))
    return out


def target_images(ws: "Workspace", image_ids: Optional[Sequence[int]] = None,
                  flt: Optional[ImageFilter] = None) -> tuple[list[int], int]:
    """The images to pre-label and how many candidates were skipped (see the module doc)."""
    if image_ids is not None:
        wanted = list(dict.fromkeys(int(i) for i in image_ids))
        records = {r.id: r for r in ws.images.many(wanted)}
        missing = [i for i in wanted if i not in records]
        if missing:
            raise NotFoundError(f"no image {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1
                                                             else ""))
        live = [i for i in wanted if records[i].trashed_at is None]
        return live, len(wanted) - len(live)
    if flt is None:
        rows = ws.db.execute("SELECT id FROM images WHERE trashed_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
                             "annotations a WHERE a.image_id = images.id AND a.source = 'manual') ORDER BY id")
        return [r[0] for r in rows], 0
    candidates = list(ws.images.ids(flt))
    manual = _with_manual(ws, candidates)
    return [i for i in candidates if i not in manual], len(manual)


# -- running ----------------------------------------------------------------------------------------------------------
def _old_suggestions(ws: "Workspace", model_name: str, image_ids: Sequence[int]) -> list[int]:
    out: list[int] = []
    for part in _chunks(image_ids):
        out += [r[0] for r in ws.db.execute(
            f"SELECT id FROM annotations WHERE source = 'model' AND model_id = ? "
            f"AND image_id IN ({', '.join('?' * len(part))}) ORDER BY id", [model_name, *part])]
    return out


Detections = tuple[Any, Any, Any]  # per image: boxes (x1, y1, x2, y2 in image pixels), scores, model class indices


def store_suggestions(ws: "Workspace", model_name: str, mapping: dict[int, int],
                      detections: Mapping[int, Detections]) -> tuple[int, int]:
    """Store detections (per image id, as :meth:`Detector.predict_arrays` gives them) as ``model_name``'s
    suggestions, replacing its pending suggestions on those images, as one operation of the log (one undo step);
    detections of classes not in ``mapping`` (model index → workspace class id) and empty boxes are dropped.
    Returns how many suggestions were stored and on how many images."""
    items: list[NewAnnotation] = []
    images = 0
    for image_id, (boxes, scores, classes) in detections.items():
        found = 0
        for (x1, y1, x2, y2), score, index in zip(boxes.tolist(), scores.tolist(), classes.tolist()):
            class_id = mapping.get(int(index))
            if class_id is None or x2 - x1 <= 0 or y2 - y1 <= 0:
                continue
            items.append(NewAnnotation(image_id, class_id, "box", box=(x1, y1, x2 - x1, y2 - y1),
                                       source="model", model_id=model_name,
                                       confidence=round(min(max(float(score), 0.0), 1.0), 5)))
            found += 1
        images += 1 if found else 0
    old = _old_suggestions(ws, model_name, list(detections))
    if items or old:
        ws.annotations.replace(old, items, f"pre-labelled {counted(len(detections), 'image')} with {model_name}",
                               action="annotation.prelabel")
    return len(items), images


@dataclass
class PrelabelPlan:
    """What a pre-label run works on (:func:`plan_prelabel`): the model, its report so far, the class mapping, the
    target images and the model's ONNX file (None when there is nothing to do or the export was cancelled: the
    report is then final)."""

    model: ModelInfo
    report: PrelabelReport
    mapping: dict[int, int]
    ids: list[int]
    onnx: Optional[Path]


def plan_prelabel(ws: "Workspace", model_ref: ModelRef, image_ids: Optional[Sequence[int]], conf: float, iou: float,
                  flt: Optional[ImageFilter], progress: Optional[Progress] = None,
                  cancel: Optional[CancelToken] = None) -> PrelabelPlan:
    """The common start of every pre-label run, here or on a cluster: check the thresholds, resolve the model and
    its classes, pick the images and export the model to ONNX once (nothing stored yet)."""
    started = time.perf_counter()
    if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
        raise ValidationError("conf and iou must lie between 0 and 1")
    model = resolve_model(ws, model_ref)
    report = PrelabelReport(model=model.name)
    mapping, unknown = class_map(ws, model)
    report.unknown_classes, report.unknown_class_names = len(unknown), unknown
    ids, report.skipped_images = target_images(ws, image_ids, flt)
    plan = PrelabelPlan(model, report, mapping, ids, None)
    if ids:
        (progress or no_progress)(0.0, f"loading {model.name}")
        try:
            plan.onnx = model_onnx(ws, model, progress, cancel)
        except Cancelled:  # cancelled while exporting: nothing was stored
            report.cancelled = True
    if plan.onnx is None:
        report.seconds = time.perf_counter() - started
    return plan


def prelabel(ws: "Workspace", model_ref: ModelRef = "champion", image_ids: Optional[Sequence[int]] = None,
             conf: float = 0.25, iou: float = 0.7, batch: int = 8, progress: Optional[Progress] = None,
             cancel: Optional[CancelToken] = None, flt: Optional[ImageFilter] = None) -> PrelabelReport:
    """Run a model over images and store its detections as suggestions (see the module doc).

    ``image_ids`` None: the unlabeled images (or those matching ``flt``, less images with manual annotations).
    Each batch of ``batch`` images is one undo step; ``cancel`` is checked between batches.
    """
    from cvops.deploy.edge_runner import Detector
    from cvops.data.pixels import load_pixels

    started = time.perf_counter()
    batch = max(1, int(batch))
    report_ = progress or no_progress
    plan = plan_prelabel(ws, model_ref, image_ids, conf, iou, flt, progress, cancel)
    if plan.onnx is None:
        return plan.report
    model, report, mapping, ids = plan.model, plan.report, plan.mapping, plan.ids
    detector = Detector(plan.onnx)
    if len(detector.names) != len(model.classes):
        raise ValidationError(f"the ONNX model of {model.name} has {len(detector.names)} classes, the registry "
                              f"lists {len(model.classes)}")
    for start in range(0, len(ids), batch):
        if cancel is not None and cancel.cancelled:
            report.cancelled = True
            break
        records = ws.images.many(ids[start:start + batch])
        pixels, kept = [], []
        for record in records:
            try:
                pixels.append(load_pixels(ws.images.path(record)))
                kept.append(record.id)
            except ProbeError:
                report.skipped_images += 1
        found = dict(zip(kept, detector.predict_arrays(pixels, conf, iou) if pixels else []))
        stored, with_suggestions = store_suggestions(ws, model.name, mapping, found)
        report.images_with_suggestions += with_suggestions
        report.images += len(kept)
        report.image_ids += kept
        report.suggestions += stored
        done = min(start + batch, len(ids))
        report_(done / len(ids), f"{done}/{len(ids)} images, {report.suggestions} suggestions")
    report.seconds = time.perf_counter() - started
    return report


# -- review -----------------------------------------------------------------------------------------------------------
def _scope(image_id: Optional[int], image_ids: Optional[Sequence[int]]) -> Optional[list[int]]:
    if image_id is not None:
        return [int(image_id)]
    return None if image_ids is None else [int(i) for i in image_ids]


def _query(ws: "Workspace", select: str, where: str, params: list[Any], scope: Optional[list[int]]) -> list[Any]:
    base = f"SELECT {select} FROM annotations WHERE source = 'model' AND {where}"
    if scope is None:
        return ws.db.execute(base + " AND image_id IN (SELECT id FROM images WHERE trashed_at IS NULL) ORDER BY id",
                             params).fetchall()
    rows: list[Any] = []
    for part in _chunks(scope):
        rows += ws.db.execute(base + f" AND image_id IN ({', '.join('?' * len(part))}) ORDER BY id",
                              [*params, *part]).fetchall()
    return rows


def pending(ws: "Workspace", image_id: Optional[int] = None,
            image_ids: Optional[Sequence[int]] = None) -> list[Annotation]:
    """The pending suggestions of one image, of some images, or of every image not in the trash, in id order."""
    cur = ws.db.execute("SELECT * FROM annotations LIMIT 0")
    cols = [d[0] for d in cur.description]
    return [_to_annotation(dict(zip(cols, row))) for row in _query(ws, "*", "1", [], _scope(image_id, image_ids))]


def pending_count(ws: "Workspace", image_id: Optional[int] = None,
                  image_ids: Optional[Sequence[int]] = None) -> int:
    """How many suggestions are pending (one image, some images, or every image not in the trash)."""
    scope = _scope(image_id, image_ids)
    if scope is None:
        return int(ws.db.execute("SELECT COUNT(*) FROM annotations a JOIN images i ON i.id = a.image_id "
                                 "WHERE a.source = 'model' AND i.trashed_at IS NULL").fetchone()[0])
    return len(_query(ws, "id", "1", [], scope))


def accept(ws: "Workspace", annotation_ids: Iterable[int]) -> int:
    """Accept suggestions: they become manual annotations (one undo step); manual ids are ignored. Returns how many."""
    return ws.annotations.accept_suggestions(annotation_ids)


def reject(ws: "Workspace", annotation_ids: Iterable[int]) -> int:
    """Reject suggestions: delete them (one undo step); manual annotations among the ids are never deleted."""
    ids = list(dict.fromkeys(int(i) for i in annotation_ids))
    model_ids = [r[0] for part in _chunks(ids) for r in ws.db.execute(
        f"SELECT id FROM annotations WHERE source = 'model' AND id IN ({', '.join('?' * len(part))})", part)]
    missing = set(ids) - set(model_ids) - {r[0] for part in _chunks(ids) for r in ws.db.execute(
        f"SELECT id FROM annotations WHERE id IN ({', '.join('?' * len(part))})", part)}
    if missing:
        raise NotFoundError(f"no annotation {min(missing)}")
    if not model_ids:
        return 0
    ws.annotations.replace(model_ids, [], f"rejected {counted(len(model_ids), 'suggestion')}",
                           action="annotation.reject")
    return len(model_ids)


def accept_above(ws: "Workspace", threshold: float, image_ids: Optional[Sequence[int]] = None) -> int:
    """Accept every pending suggestion with confidence >= ``threshold`` (on ``image_ids``, default every image not
    in the trash), as one undo step; return how many."""
    ids = [r[0] for r in _query(ws, "id", "confidence >= ?", [float(threshold)], _scope(None, image_ids))]
    if not ids:
        return 0
    return ws.annotations.accept_suggestions(ids, f"accepted {counted(len(ids), 'suggestion')} ≥ {threshold:g}")


def pending_above(ws: "Workspace", threshold: float) -> tuple[int, int]:
    """``(suggestions, images)``: the pending suggestions with confidence >= ``threshold`` on the images not in the
    trash, and on how many images they are (what :func:`accept_above` on every image would accept)."""
    rows = _query(ws, "image_id", "confidence >= ?", [float(threshold)], None)
    return len(rows), len({r[0] for r in rows})


def reject_below(ws: "Workspace", threshold: float, image_ids: Optional[Sequence[int]] = None) -> int:
    """Reject every pending suggestion with confidence < ``threshold`` (no confidence counts as 0), as one undo
    step; return how many."""
    ids = [r[0] for r in _query(ws, "id", "COALESCE(confidence, 0) < ?", [float(threshold)],
                                _scope(None, image_ids))]
    return reject(ws, ids) if ids else 0
