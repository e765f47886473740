"""The query side of evaluations: the stored result, its error images, confusion-matrix cells and predictions.

Nothing here imports Ultralytics or torch, so the GUI and the CLI can list and browse evaluations cheaply. The work
itself (prediction, matching, metrics) is :func:`cvops.models.evaluation.evaluate`, which stores what this module reads:

``evaluations``
    one row per evaluation: metrics, per-class results, confusion matrix and PR curves as JSON.
``eval_images``
    per evaluated image, how many review outcomes of each kind it has (at :data:`REVIEW_CONF`).
``eval_predictions``
    the reviewable predictions (confidence >= :data:`REVIEW_CONF`) with their outcome, and one ``fn`` row per
    ground-truth object no prediction found (the ground-truth box, ``confidence`` NULL).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from cvops.common.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

ModelRef = Union[int, str]
OUTCOMES = ("tp", "fp", "fn", "poor_loc", "wrong_class")
REVIEW_CONF = 0.25  # predictions at or above this confidence get an outcome and are stored for review
_EVAL_COLS = ("e.id, e.model_id, m.name, e.version_id, v.name, e.version_hash, e.split, e.created_at, e.conf, e.iou, "
              "e.images, e.duration_s, e.metrics, e.per_class, e.confusion, e.pr_curve, e.unknown_classes, e.params")
_EVAL_FROM = "FROM evaluations e LEFT JOIN models m ON m.id = e.model_id LEFT JOIN versions v ON v.id = e.version_id"


class ReviewRow(NamedTuple):
    """One stored review row (``eval_predictions``, less its ids): a prediction with its outcome, or a missed object
    (``fn``: ``confidence`` None, ``class_id`` the wrong-class prediction that claimed it or None). Box: absolute
    pixels, top-left ``x, y`` and ``w, h``."""

    image_id: int
    class_id: Optional[int]
    gt_class_id: Optional[int]
    x: float
    y: float
    w: float
    h: float
    confidence: Optional[float]
    outcome: str
    iou: Optional[float]


class ImageOutcome(NamedTuple):
    """One evaluated image's review counts (an ``eval_images`` row)."""

    image_id: int
    tp: int
    fp: int
    fn: int
    poor_loc: int
    wrong_class: int


class ErrorImage(NamedTuple):
    """An image with ``count`` review rows of one outcome (see :func:`error_images`)."""

    image_id: int
    count: int


@dataclass
class EvaluationResult:
    """One evaluation of a model on a split of a dataset version.

    ``metrics``: ``map50``, ``map50_95`` (also as ``map``), ``precision``, ``recall`` (Ultralytics' mean precision
    and recall at the confidence of best mean F1), ``fitness`` (Ultralytics' detection fitness, = mAP50-95),
    ``instances`` and the review counts at :data:`REVIEW_CONF` (``predictions``, ``tp``, ``fp``, ``fn``,
    ``poor_loc``, ``wrong_class``). ``per_class``: ``{class_id, name, instances, known, precision, recall, ap50,
    ap}`` (the metrics are None for a class without instances in the split). ``confusion``: ``{labels, class_ids,
    matrix}``, rows = predicted, columns = true, last row/column = background (class id None). ``pr_curve``:
    ``{"<class_id>": {"recall": [...], "precision": [...]}}`` at IoU 0.5, 101 recall points. ``unknown_classes``:
    ``{class_id, name, instances}`` of ground-truth classes the model does not know.
    """

    id: int
    model_id: int
    version_id: int
    split: str
    images: int
    metrics: dict[str, Any]
    per_class: list[dict[str, Any]]
    confusion: dict[str, Any]
    pr_curve: dict[str, Any]
    unknown_classes: list[dict[str, Any]]
    duration_s: float
    model_name: str = ""
    version_name: str = ""
    version_hash: str = ""
    conf: float = 0.001
    iou: float = 0.7
    created_at: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def map50(self) -> float:
        return float(self.metrics.get("map50", 0.0))

    @property
    def map50_95(self) -> float:
        return float(self.metrics.get("map50_95", 0.0))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the headline metrics at the top level, then the details."""
        m = self.metrics
        return {"id": self.id, "model_id": self.model_id, "model": self.model_name, "version_id": self.version_id,
                "version": self.version_name, "version_hash": self.version_hash, "split": self.split,
                "images": self.images, "conf": self.conf, "iou": self.iou, "created_at": self.created_at,
                "duration_s": self.duration_s, "map50": m.get("map50", 0.0), "map50_95": m.get("map50_95", 0.0),
                "precision": m.get("precision", 0.0), "recall": m.get("recall", 0.0),
                "fitness": m.get("fitness", 0.0), "metrics": dict(m), "per_class": self.per_class,
                "confusion_matrix": self.confusion, "pr_curve": self.pr_curve,
                "unknown_classes": self.unknown_classes, "params": self.params,
                "settings": {"conf": self.conf, "iou": self.iou, "imgsz": self.params.get("imgsz"),
                             "backend": self.params.get("backend"), "matching": self.params.get("matching")}}


def _model_row(ws: "Workspace", ref: ModelRef) -> dict[str, Any]:
    """The registry's model (:func:`cvops.models.registry.get_model`) as the dict the evaluation uses."""
    from cvops.models.registry import get_model

    return get_model(ws, ref).to_dict()


def _result(row: tuple[Any, ...]) -> EvaluationResult:
    (eid, model_id, model_name, version_id, version_name, version_hash, split, created_at, conf, iou, images,
     duration, metrics, per_class, confusion, pr_curve, unknown, params) = row
    return EvaluationResult(eid, model_id, version_id, split, images, json.loads(metrics), json.loads(per_class),
                            json.loads(confusion), json.loads(pr_curve), json.loads(unknown or "[]"), duration,
                            model_name or "", version_name or "", version_hash, conf, iou, created_at,
                            json.loads(params or "{}"))


def get_evaluation(ws: "Workspace", evaluation_id: int) -> EvaluationResult:
    """A stored evaluation; raises :class:`NotFoundError` for an unknown id."""
    row = ws.db.execute(f"SELECT {_EVAL_COLS} {_EVAL_FROM} WHERE e.id = ?", [int(evaluation_id)]).fetchone()
    if row is None:
        raise NotFoundError(f"no evaluation {evaluation_id}")
    return _result(row)


def list_evaluations(ws: "Workspace", model_ref: Optional[ModelRef] = None) -> list[EvaluationResult]:
    """Stored evaluations, oldest first; only those of one model when ``model_ref`` is given."""
    if model_ref is None:
        rows = ws.db.execute(f"SELECT {_EVAL_COLS} {_EVAL_FROM} ORDER BY e.id").fetchall()
    else:
        mid = _model_row(ws, model_ref)["id"]
        rows = ws.db.execute(f"SELECT {_EVAL_COLS} {_EVAL_FROM} WHERE e.model_id = ? ORDER BY e.id", [mid]).fetchall()
    return [_result(r) for r in rows]


def _check_evaluation(ws: "Workspace", evaluation_id: int) -> int:
    if ws.db.execute("SELECT 1 FROM evaluations WHERE id = ?", [int(evaluation_id)]).fetchone() is None:
        raise NotFoundError(f"no evaluation {evaluation_id}")
    return int(evaluation_id)


def error_images(ws: "Workspace", evaluation_id: int, outcome: str = "fp",
                 limit: Optional[int] = None, unclaimed: bool = False) -> list[ErrorImage]:
    """``(image_id, count)`` of the images with at least one ``outcome`` row, most first (ties by image id).

    With ``unclaimed`` and outcome ``fn``: only the objects no wrong-class prediction claimed (truly missed); the
    claimed ones are listed under ``wrong_class``, so an error list never shows one object twice."""
    if outcome not in OUTCOMES:
        raise ValidationError(f"unknown outcome {outcome!r} (choose from {', '.join(OUTCOMES)})")
    eid = _check_evaluation(ws, evaluation_id)
    extra = " AND class_id IS NULL" if unclaimed and outcome == "fn" else ""
    sql = (f"SELECT image_id, COUNT(*) AS n FROM eval_predictions WHERE evaluation_id = ? AND outcome = ?{extra} "
           "GROUP BY image_id ORDER BY n DESC, image_id")
    args: list[Any] = [eid, outcome]
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [ErrorImage(int(i), int(n)) for i, n in ws.db.execute(sql, args)]


def confusion_cell_images(ws: "Workspace", evaluation_id: int, predicted_class_id: Optional[int],
                          true_class_id: Optional[int]) -> list[int]:
    """Image ids that contribute to one confusion-matrix cell (None = background), in image id order.

    Cells: (c, c) = ``tp`` rows of class c; (p, t) = ``wrong_class`` rows; (p, None) = ``fp`` and ``poor_loc``
    rows of class p; (None, t) = ``fn`` rows of class t that no wrong-class prediction claimed (``class_id`` NULL).
    """
    eid = _check_evaluation(ws, evaluation_id)
    p, t = predicted_class_id, true_class_id
    if p is None and t is None:
        raise ValidationError("the background/background cell of the confusion matrix is always empty")
    if t is None:
        where, args = "outcome IN ('fp', 'poor_loc') AND class_id = ?", [p]
    elif p is None:
        where, args = "outcome = 'fn' AND class_id IS NULL AND gt_class_id = ?", [t]
    elif p == t:
        where, args = "outcome = 'tp' AND class_id = ?", [p]
    else:
        where, args = "outcome = 'wrong_class' AND class_id = ? AND gt_class_id = ?", [p, t]
    return [int(r[0]) for r in ws.db.execute(
        f"SELECT DISTINCT image_id FROM eval_predictions WHERE evaluation_id = ? AND {where} ORDER BY image_id",
        [eid, *args])]


def image_predictions(ws: "Workspace", evaluation_id: int, image_id: int) -> list[dict[str, Any]]:
    """The stored rows of one image (to draw over its labels): ``{id, class_id, gt_class_id, box, confidence,
    outcome, iou}``, box as absolute pixels ``[x, y, w, h]`` (top-left); predictions by confidence, then ``fn``."""
    eid = _check_evaluation(ws, evaluation_id)
    rows = ws.db.execute(
        "SELECT id, class_id, gt_class_id, x, y, w, h, confidence, outcome, iou FROM eval_predictions "
        "WHERE evaluation_id = ? AND image_id = ? ORDER BY confidence IS NULL, confidence DESC, id",
        [eid, int(image_id)])
    out = []
    for row_id, *values in rows:
        r = ReviewRow(int(image_id), *values)
        out.append({"id": row_id, "class_id": r.class_id, "gt_class_id": r.gt_class_id, "box": [r.x, r.y, r.w, r.h],
                    "confidence": r.confidence, "outcome": r.outcome, "iou": r.iou})
    return out


@dataclass
class ImageReview:
    """One image's stored review in an evaluation, ready to draw over its manual labels (the annotator's overlay).

    ``rows``: :func:`image_predictions`' rows, each with the ``name`` of its class (the predicted class of a
    prediction, the ground-truth class of a miss). ``focus``: the row to show first (see :func:`focus_row`), or None.
    """

    evaluation_id: int
    image_id: int
    model_name: str
    rows: list[dict[str, Any]]
    focus: Optional[dict[str, Any]] = None

    @property
    def predictions(self) -> list[dict[str, Any]]:
        """The model's predictions on the image (every outcome but ``fn``), highest confidence first."""
        return [r for r in self.rows if r["outcome"] != "fn"]

    @property
    def false_positives(self) -> list[dict[str, Any]]:
        """The predictions that match no label."""
        return [r for r in self.rows if r["outcome"] == "fp"]

    @property
    def missed(self) -> list[dict[str, Any]]:
        """The ground-truth objects no prediction found, of any class (a wrong-class prediction claimed none)."""
        return [r for r in self.rows if r["outcome"] == "fn" and r["class_id"] is None]


def focus_row(rows: list[dict[str, Any]], outcomes: tuple[str, ...]) -> Optional[dict[str, Any]]:
    """The first of ``rows`` (as :func:`image_predictions` orders them) with one of ``outcomes``: the error an image
    was listed for. For misses alone (``("fn",)``) only a truly missed object counts, as :func:`error_images` lists
    them with ``unclaimed``."""
    if outcomes == ("fn",):
        return next((r for r in rows if r["outcome"] == "fn" and r["class_id"] is None), None)
    return next((r for r in rows if r["outcome"] in outcomes), None)


def image_review(ws: "Workspace", evaluation_id: int, image_id: int, outcomes: tuple[str, ...] = ("fp",),
                 focus_id: Optional[int] = None) -> ImageReview:
    """One image's predictions, false positives and missed objects in an evaluation; the focus is row ``focus_id``
    when the image has it, else :func:`focus_row` of ``outcomes``. Raises :class:`NotFoundError` for an unknown
    evaluation."""
    result = get_evaluation(ws, evaluation_id)
    rows = image_predictions(ws, result.id, image_id)
    names = {int(cid): name for cid, name in ws.db.execute("SELECT id, name FROM classes")}
    names.update({int(c["class_id"]): c["name"] for c in result.per_class})
    for r in rows:
        class_id = r["gt_class_id"] if r["outcome"] == "fn" else r["class_id"]
        r["name"] = names.get(class_id, str(class_id))
    focus = next((r for r in rows if r["id"] == focus_id), None) if focus_id is not None else None
    return ImageReview(result.id, int(image_id), result.model_name, rows, focus or focus_row(rows, outcomes))


def image_outcomes(ws: "Workspace", evaluation_id: int) -> dict[int, dict[str, int]]:
    """Per evaluated image, its review counts ``{tp, fp, fn, poor_loc, wrong_class}``."""
    eid = _check_evaluation(ws, evaluation_id)
    rows = (ImageOutcome(*r) for r in ws.db.execute(
        "SELECT image_id, tp, fp, fn, poor_loc, wrong_class FROM eval_images WHERE evaluation_id = ? "
        "ORDER BY image_id", [eid]))
    return {r.image_id: {k: getattr(r, k) for k in OUTCOMES} for r in rows}
