"""The labeling queue (active learning): which unlabeled images to annotate first, ranked with the champion.

Candidates are the workspace's *unlabeled* images: not in the trash, no manual annotations, and not marked ``done``
or ``approved`` (an image with nothing to label is finished that way); field captures pulled from devices are such
images. The champion (or ``model_ref``) runs once over them in onnxruntime, through the
pre-labeling machinery (:func:`cvops.assist.prelabel.model_onnx`, :class:`cvops.deploy.edge_runner.Detector`),
keeping every detection scoring at least a fifth of the operating threshold (:data:`FLOOR_RATIO`: 0.05 at the
default 0.25). Strategies (:func:`build_queue`):

``uncertainty``
    A detection's score ``c`` is read as the probability that its box is a real object (YOLO's class scores are
    trained against IoU-aware targets: roughly calibrated). At the operating threshold ``t`` (``conf``, default 0.25,
    the pre-labeling default) the box is kept when ``c >= t`` (wrong, a false positive, with probability ``1 - c``)
    and dropped otherwise (wrong, a missed object, with probability ``c``): ``q = 1 - c`` or ``c``, the least
    confidence of the decision actually made (:func:`decision_error`). The image's score is the probability that at
    least one of its decisions is wrong, ``1 - prod(1 - q_i)`` (:func:`image_uncertainty`): an image is wrong as soon
    as one box is, so two borderline boxes make it likelier wrong than one, which a maximum ignores. Centring the
    uncertainty on the threshold instead (the entropy ``H(p)`` with ``p = 0.5`` at ``c = t``) ranked worse on the
    shapes demo: a kept box at 0.3 is far likelier a false positive than a dropped box at 0.2 a miss (measured in
    ``docs/monitoring.md``). An image with no detection above the floor scores 0 (certain-empty). Highest score
    first; ties by image id.
``diversity``
    Greedy k-center (:func:`k_center`) on the L2-normalised embeddings (the model's ``embedding`` output, pooled
    backbone features): the labelled images' embeddings (at most :data:`COVERED_CAP`, a seeded random sample) are
    the initially covered set; each step picks the candidate farthest (Euclidean) from everything covered so far,
    which then counts as covered. The score is that distance when it was picked (0-2). With nothing labelled, the
    first pick is the candidate nearest the candidates' mean embedding (score 2).
``mixed``
    The :data:`MIXED_POOL` x ``budget`` most uncertain candidates, then k-center picks ``budget`` of them (covered
    set: the labelled images): uncertain images, not all alike. The order is k-center's; the score is the image's
    uncertainty.

The queued images get the model's detections at the operating threshold as suggestions (pre-labels), stored as
``cvops prelabel`` stores them (:func:`cvops.assist.prelabel.store_suggestions`: that model's pending suggestions on
those images are replaced, one undo step). The queue is the ``label_queue`` table (migration 16); a build replaces
it. An entry is *done* when its image is labelled now (manual annotations, or marked ``done`` / ``approved`` with
none: nothing to label); trashed or deleted images drop out.

An ONNX file without the ``embedding`` output (an export registered before it existed, or the pre-label cache) is
copied to ``WORKSPACE/cache/queue/<sha256>.onnx`` and the output added there
(:func:`cvops.deploy.graph_passes.embedding_output`); a registered export file is never modified.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from cvops.assist.prelabel import class_map, model_onnx, resolve_model, store_suggestions, target_images
from cvops.catalog.db import transaction
from cvops.catalog.store import sha256_file
from cvops.common.errors import ValidationError
from cvops.common.imageio import ProbeError
from cvops.common.jobs import CancelToken, Cancelled, Progress, no_progress, sub_progress
from cvops.models.registry import ModelRef

if TYPE_CHECKING:
    from cvops.deploy.edge_runner import Detector
    from cvops.data.workspace import Workspace

__all__ = ["COVERED_CAP", "FLOOR_RATIO", "MIXED_POOL", "OPERATING_CONF", "STRATEGIES", "QueueItem", "QueueReport",
           "build_queue", "clear_queue", "decision_error", "image_uncertainty", "k_center", "next_in_queue",
           "queue_progress", "save_queue", "show_queue"]

STRATEGIES = ("uncertainty", "diversity", "mixed")
FLOOR_RATIO = 0.2  # detections scoring at least this fraction of the operating threshold count (0.05 at 0.25)
OPERATING_CONF = 0.25  # the default operating threshold: suggestions at or above it; decisions taken there
NMS_IOU = 0.7
MIXED_POOL = 3  # mixed: k-center among the MIXED_POOL x budget most uncertain candidates
COVERED_CAP = 2000  # diversity: at most this many labelled images' embeddings as the covered set
FINISHED = ("done", "approved")  # review statuses that make an image without annotations labelled (as empty)
BATCH = 8


@dataclass
class QueueItem:
    """One queued image. ``done``: it is labelled now (manual annotations, or marked done / approved)."""

    rank: int
    image_id: int
    file_name: str
    score: float
    strategy: str
    done: bool = False

    def to_dict(self, with_done: bool = True) -> dict[str, Any]:
        """The JSON form (``cvops queue show --json`` items; ``build`` leaves ``done`` out)."""
        out: dict[str, Any] = {"rank": self.rank, "image_id": self.image_id, "file_name": self.file_name,
                               "score": round(self.score, 6)}
        if with_done:
            out.update(strategy=self.strategy, done=self.done)
        return out


@dataclass
class QueueReport:
    """What a build did: ``candidates`` unlabeled images considered (``skipped``: unreadable, each named in
    ``problems``), ``queued`` of them ranked into the queue, ``suggestions`` stored on them, ``labelled_reference``:
    labelled images whose embeddings were the covered set (diversity, mixed)."""

    strategy: str
    budget: int
    model: str
    candidates: int = 0
    queued: int = 0
    suggestions: int = 0
    skipped: int = 0
    labelled_reference: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    items: list[QueueItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``cvops queue build --json``)."""
        return {"strategy": self.strategy, "budget": self.budget, "model": self.model,
                "candidates": self.candidates, "queued": self.queued, "suggestions": self.suggestions,
                "skipped": self.skipped, "labelled_reference": self.labelled_reference, "cancelled": self.cancelled,
                "seconds": round(self.seconds, 3), "items": [i.to_dict(with_done=False) for i in self.items],
                "problems": self.problems}


# -- scores -----------------------------------------------------------------------------------------------------------
def decision_error(scores: np.ndarray, conf: float = OPERATING_CONF) -> np.ndarray:
    """Per detection score, the probability that its decision at ``conf`` is wrong: ``1 - c`` for a kept box
    (``c >= conf``: a false positive), ``c`` for a dropped one (a missed object)."""
    c = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    return np.where(c >= conf, 1.0 - c, c)


def image_uncertainty(scores: Sequence[float] | np.ndarray, conf: float = OPERATING_CONF) -> float:
    """The probability that at least one of an image's box decisions at ``conf`` is wrong (module doc): ``1 -
    prod(1 - q)`` over its detections scoring at least ``FLOOR_RATIO * conf``; 0 when there is none."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[s >= FLOOR_RATIO * conf]
    if not s.size:
        return 0.0
    return float(1.0 - np.prod(1.0 - decision_error(s, conf)))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _distances(points: np.ndarray, others: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """For each row of ``points`` (unit vectors), the Euclidean distance to its nearest row of ``others``."""
    best = np.full(len(points), np.inf)
    for start in range(0, len(others), chunk):
        sims = points @ others[start:start + chunk].T
        best = np.minimum(best, np.sqrt(np.clip(2.0 - 2.0 * sims.max(axis=1), 0.0, None)))
    return best


def k_center(candidates: np.ndarray, k: int, covered: Optional[np.ndarray] = None) -> list[tuple[int, float]]:
    """Greedy k-center on L2-normalised vectors: ``(row of candidates, distance to the covered set when picked)``
    for up to ``k`` picks, in picking order. ``covered``: vectors already covered (the labelled images); without
    them the first pick is the candidate nearest the candidates' mean, with distance 2 (the largest there is)."""
    x = _unit(candidates)
    if not len(x) or k <= 0:
        return []
    picks: list[tuple[int, float]] = []
    if covered is not None and len(covered):
        dist = _distances(x, _unit(covered))
    else:
        first = int(np.argmax(x @ _unit(x.mean(axis=0, keepdims=True))[0]))
        picks.append((first, 2.0))
        dist = _distances(x, x[first:first + 1])
    taken = np.zeros(len(x), dtype=bool)
    for i, _ in picks:
        taken[i] = True
    while len(picks) < min(k, len(x)):
        i = int(np.argmax(np.where(taken, -1.0, dist)))
        picks.append((i, float(dist[i])))
        taken[i] = True
        dist = np.minimum(dist, _distances(x, x[i:i + 1]))
    return picks


# -- running the model ------------------------------------------------------------------------------------------------
def _embedding_onnx(ws: "Workspace", onnx: Path) -> Path:
    """``onnx`` itself when it has the ``embedding`` output, else a cached copy with it added (module doc)."""
    import onnx as onnx_lib

    if any(o.name == "embedding" for o in onnx_lib.load(str(onnx), load_external_data=False).graph.output):
        return onnx
    from cvops.deploy.graph_passes import embedding_output

    dest = ws.root / "cache" / "queue" / f"{sha256_file(onnx)}.onnx"
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".embedding-", suffix=".onnx", dir=dest.parent)
    os.close(fd)
    work = Path(name)
    try:
        shutil.copyfile(onnx, work)
        if not embedding_output(work):
            raise ValidationError(f"{onnx}: the model has no backbone block (SPPF) to take embeddings from; "
                                  "use --strategy uncertainty")
        os.replace(work, dest)
    finally:
        work.unlink(missing_ok=True)
    return dest


def _run(ws: "Workspace", detector: "Detector", ids: Sequence[int], floor: float, progress: Progress,
         cancel: Optional[CancelToken], label: str
         ) -> tuple[dict[int, tuple[Any, Any, Any]], dict[int, Optional[np.ndarray]], list[str]]:
    """The detections (above the floor) and embeddings of ``ids``, batch by batch, and ``"FILE: why"`` for each
    image that could not be read. Raises :class:`Cancelled` between batches."""
    from cvops.data.pixels import load_pixels

    found: dict[int, tuple[Any, Any, Any]] = {}
    vectors: dict[int, Optional[np.ndarray]] = {}
    problems: list[str] = []
    for start in range(0, len(ids), BATCH):
        if cancel is not None and cancel.cancelled:
            raise Cancelled("queue build cancelled")
        pixels, kept = [], []
        for record in ws.images.many(ids[start:start + BATCH]):
            path = ws.images.path(record)
            try:
                pixels.append(load_pixels(path))
                kept.append(record.id)
            except ProbeError as exc:
                problems.append(f"{path}: {exc} (image {record.id} skipped)")
        if pixels:
            for image_id, result in zip(kept, detector.predict_arrays(pixels, floor, NMS_IOU)):
                found[image_id] = result
            vectors.update(zip(kept, detector.embeddings))
        done = min(start + BATCH, len(ids))
        progress(done / len(ids), f"{label}: {done}/{len(ids)} images")
    return found, vectors, problems


def _unlabeled(ws: "Workspace") -> list[int]:
    """The candidates: pre-labeling's unlabeled images less those marked finished (module doc)."""
    ids, _ = target_images(ws)
    finished = {r[0] for r in ws.db.execute(
        f"SELECT id FROM images WHERE status IN ({', '.join('?' * len(FINISHED))}) AND trashed_at IS NULL",
        FINISHED)}
    return [i for i in ids if i not in finished]


def _labelled_sample(ws: "Workspace", cap: int = COVERED_CAP, seed: int = 0) -> list[int]:
    """At most ``cap`` labelled images (manual annotations, not trashed): a seeded random sample, in id order."""
    ids = [r[0] for r in ws.db.execute(
        "SELECT id FROM images WHERE trashed_at IS NULL AND EXISTS (SELECT 1 FROM annotations a "
        "WHERE a.image_id = images.id AND a.source = 'manual') ORDER BY id")]
    if len(ids) > cap:
        ids = sorted(np.random.default_rng(seed).choice(ids, size=cap, replace=False).tolist())
    return ids


def _matrix(vectors: dict[int, Optional[np.ndarray]], ids: Sequence[int]) -> np.ndarray:
    rows = [vectors.get(i) for i in ids]
    if any(r is None for r in rows):
        raise ValidationError("the model gave no embedding for some images: diversity needs its embedding output")
    return np.stack([np.asarray(r, dtype=np.float64).reshape(-1) for r in rows]) if rows else np.zeros((0, 1))


def build_queue(ws: "Workspace", strategy: str = "uncertainty", budget: int = 50, model_ref: ModelRef = "champion",
                conf: float = OPERATING_CONF, progress: Optional[Progress] = None,
                cancel: Optional[CancelToken] = None) -> QueueReport:
    """Rank the unlabeled images with ``strategy`` (module doc), keep the best ``budget`` as the queue (replacing
    it) and attach the model's detections at ``conf`` to them as suggestions. A cancelled build stores nothing."""
    started = time.perf_counter()
    if strategy not in STRATEGIES:
        raise ValidationError(f"unknown strategy {strategy!r}: use {', '.join(STRATEGIES)}")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValidationError(f"the budget must be a whole number of images, at least 1 (got {budget!r})")
    if not 0.0 < conf < 1.0:
        raise ValidationError(f"the operating threshold must lie between 0 and 1 (got {conf})")
    report_ = progress or no_progress
    model = resolve_model(ws, model_ref)
    report = QueueReport(strategy=strategy, budget=budget, model=model.name)
    mapping, _unknown = class_map(ws, model)
    ids = _unlabeled(ws)
    report.candidates = len(ids)
    needs_embeddings = strategy != "uncertainty"
    found: dict[int, tuple[Any, Any, Any]] = {}
    vectors: dict[int, Optional[np.ndarray]] = {}
    reference: dict[int, Optional[np.ndarray]] = {}
    try:
        if ids:
            report_(0.0, f"loading {model.name}")
            onnx = model_onnx(ws, model, progress, cancel)
            from cvops.deploy.edge_runner import Detector

            detector = Detector(_embedding_onnx(ws, onnx) if needs_embeddings else onnx)
            if len(detector.names) != len(model.classes):
                raise ValidationError(f"the ONNX model of {model.name} has {len(detector.names)} classes, the "
                                      f"registry lists {len(model.classes)}")
            labelled = _labelled_sample(ws) if needs_embeddings else []
            share = len(ids) / (len(ids) + len(labelled))
            floor = FLOOR_RATIO * conf
            found, vectors, report.problems = _run(ws, detector, ids, floor,
                                                   sub_progress(report_, 0.0, 0.9 * share), cancel, "candidates")
            report.skipped = len(report.problems)
            if labelled:
                _, reference, unreadable = _run(ws, detector, labelled, floor,
                                                sub_progress(report_, 0.9 * share, 0.9), cancel, "labelled images")
                report.problems += unreadable
            report.labelled_reference = len(reference)
    except Cancelled:
        report.cancelled, report.seconds = True, time.perf_counter() - started
        return report
    readable = [i for i in ids if i in found]
    uncertainty = {i: image_uncertainty(found[i][1], conf) for i in readable}
    by_uncertainty = sorted(readable, key=lambda i: (-uncertainty[i], i))
    if strategy == "uncertainty":
        ranked = [(i, uncertainty[i]) for i in by_uncertainty[:budget]]
    else:
        pool = readable if strategy == "diversity" else by_uncertainty[:MIXED_POOL * budget]
        covered = _matrix(reference, list(reference)) if reference else None
        picks = k_center(_matrix(vectors, pool), budget, covered) if pool else []
        ranked = [(pool[row], distance if strategy == "diversity" else uncertainty[pool[row]])
                  for row, distance in picks]
    queued = {i for i, _ in ranked}
    operating = {i: (boxes[scores >= conf], scores[scores >= conf], classes[scores >= conf])
                 for i in queued for boxes, scores, classes in [found[i]]}
    report_(0.95, f"attaching suggestions to {len(queued)} images")
    if operating:
        report.suggestions, _ = store_suggestions(ws, model.name, mapping, operating)
    save_queue(ws, ranked, strategy, model.id)
    report.items = show_queue(ws)
    report.queued = len(report.items)
    report.seconds = time.perf_counter() - started
    report_(1.0, f"{report.queued} images queued")
    return report


# -- the stored queue -------------------------------------------------------------------------------------------------
def _replace(ws: "Workspace", rows: Sequence[tuple[Any, ...]]) -> int:
    """Replace the queue by ``rows`` ``(image id, score, strategy, model id, built at)`` in rank order."""
    with transaction(ws.db):
        ws.db.execute("DELETE FROM label_queue")
        ws.db.conn.executemany(
            "INSERT INTO label_queue (image_id, rank, score, strategy, model_id, built_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(r[0], rank, *r[1:]) for rank, r in enumerate(rows, 1)])
    return len(rows)


def save_queue(ws: "Workspace", ranked: Sequence[tuple[int, float]], strategy: str,
               model_id: Optional[int] = None) -> int:
    """Replace the queue by ``ranked`` ``(image id, score)`` in rank order (rank 1 first); return how many."""
    now = time.time()
    return _replace(ws, [(int(i), float(score), strategy, model_id, now) for i, score in ranked])


def put_first(ws: "Workspace", ranked: Sequence[tuple[int, float]], strategy: str) -> int:
    """Put ``ranked`` ``(image id, score)`` at the front of the queue in this order (an image queued already moves
    up; the others keep their order); return how many are queued now."""
    ids = [int(i) for i, _ in ranked]
    now = time.time()
    with transaction(ws.db):
        rest = ws.db.execute(f"SELECT image_id, score, strategy, model_id, built_at FROM label_queue WHERE image_id "
                             f"NOT IN ({','.join('?' * len(ids))}) ORDER BY rank", ids).fetchall()
        return _replace(ws, [(i, float(score), strategy, None, now) for i, score in zip(ids, (s for _, s in ranked))]
                        + [tuple(r) for r in rest])


_ITEMS = (f"SELECT q.rank, q.image_id, i.file_name, q.score, q.strategy, i.status IN "
          f"({', '.join(repr(s) for s in FINISHED)}) OR EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = "
          f"q.image_id AND a.source = 'manual') FROM label_queue q JOIN images i ON i.id = q.image_id "
          f"WHERE i.trashed_at IS NULL ORDER BY q.rank")


def show_queue(ws: "Workspace", limit: Optional[int] = None) -> list[QueueItem]:
    """The queue in rank order (trashed images left out), each with whether it is labelled now (module doc)."""
    rows = ws.db.execute(_ITEMS + (" LIMIT ?" if limit is not None else ""),
                         [int(limit)] if limit is not None else []).fetchall()
    return [QueueItem(int(r[0]), int(r[1]), str(r[2]), float(r[3]), str(r[4]), bool(r[5])) for r in rows]


def clear_queue(ws: "Workspace") -> int:
    """Empty the queue; return how many entries it had."""
    with transaction(ws.db):
        return int(ws.db.execute("DELETE FROM label_queue").rowcount)


def queue_progress(ws: "Workspace") -> tuple[int, int]:
    """``(labelled, total)`` of the queue's images not in the trash."""
    items = show_queue(ws)
    return sum(i.done for i in items), len(items)


def next_in_queue(ws: "Workspace", after_image_id: Optional[int] = None) -> Optional[int]:
    """The next queued image not labelled yet, in rank order after ``after_image_id`` (from the start when it is
    None or not queued), wrapping around; ``after_image_id`` itself when it is the only one left; None when every
    queued image is labelled (or the queue is empty)."""
    todo = [i for i in show_queue(ws) if not i.done]
    if not todo:
        return None
    rank = ws.db.execute("SELECT rank FROM label_queue WHERE image_id = ?", [after_image_id]).fetchone() \
        if after_image_id is not None else None
    if rank is None:
        return todo[0].image_id
    later = [i for i in todo if i.rank > rank[0]]
    return (later or todo)[0].image_id

