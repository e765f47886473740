"""Benchmark sets: a named, frozen set of images with their annotations, taken from one split of a dataset version.

A benchmark holds the version states (image bytes by sha256, annotations as frozen) of every image of the split
(table ``benchmark_members``). From then on :func:`cvops.versions.create.create_version` leaves those images (and
any image with the same bytes) out of every new version, so no later model trains or validates on them; the health
gate reports images of a train or val split that are near duplicates of a benchmark image (``benchmark_leakage``).

Evaluating a model on a benchmark evaluates it on the source version's split — which is exactly the benchmark's
frozen members (versions are immutable; :func:`evaluate_benchmark` checks it) — through
:func:`cvops.models.evaluation.evaluate`, and links the stored evaluation to the benchmark (``benchmark_id``).
The leaderboard ranks every model by its latest evaluation on the benchmark.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

from cvops.catalog.db import transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.evaluation import EvalItem, evaluate
from cvops.models.evaluation_store import EvaluationResult, get_evaluation
from cvops.models.registry import get_model
from cvops.versions.create import get_version, member_files, state_hash, version_classes

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

BenchmarkRef = Union[int, str]
SPLITS = ("train", "val", "test")
_COLS = "b.id, b.name, b.message, b.created_at, b.version_id, v.name, b.split, b.content_hash, b.images, b.stats"


@dataclass(frozen=True)
class BenchmarkInfo:
    """One benchmark set: where it was taken from, its content hash (over the member states) and its counts
    (``stats``: ``images``, ``annotations`` per class name)."""

    id: int
    name: str
    message: str
    created_at: float
    version_id: int
    version: str
    split: str
    content_hash: str
    images: int
    stats: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _info(row: tuple[Any, ...]) -> BenchmarkInfo:
    return BenchmarkInfo(*row[:9], json.loads(row[9]))


def create_benchmark(ws: "Workspace", name: str, version_ref: Any, split: str = "test",
                     message: str = "") -> BenchmarkInfo:
    """Freeze every image of ``split`` of version ``version_ref`` with its annotations as benchmark ``name``.

    Raises :class:`NotFoundError` for an unknown version and :class:`ValidationError` for a bad or taken name, an
    unknown split or an empty one."""
    name = (name or "").strip()
    if not name or len(name) > 100 or any(c.isspace() or not c.isprintable() for c in name):
        raise ValidationError(f"benchmark name {name!r}: give 1 to 100 printable characters without spaces")
    if name.isdigit():
        raise ValidationError(f"benchmark name {name!r}: a name cannot be only digits (ids are)")
    if split not in SPLITS:
        raise ValidationError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    info = get_version(ws, version_ref)
    with transaction(ws.db) as conn:
        if conn.execute("SELECT 1 FROM benchmarks WHERE name = ?", [name]).fetchone():
            raise ValidationError(f"a benchmark named {name!r} exists already (cvops benchmark list shows them)")
        members = [(mf.state, state_hash(mf.state)) for mf in member_files(ws, info.id) if mf.state.split == split]
        if not members:
            per = ", ".join(f"{s}: {n}" for s, n in info.stats["images"].items()) or "no images"
            raise ValidationError(f"split {split!r} of version {info.name} has no images ({per}): a benchmark needs "
                                  "at least one")
        names = {c["id"]: c["name"] for c in version_classes(ws, info.id)}
        per_class: dict[str, int] = {}
        for state, _ in members:
            for ann in json.loads(state.annotations):
                key = names.get(ann["class_id"], str(ann["class_id"]))
                per_class[key] = per_class.get(key, 0) + 1
        digest = hashlib.sha256()
        for key in sorted(k for _, k in members):
            digest.update(key.encode())
        stats = {"images": len(members), "annotations": dict(sorted(per_class.items()))}
        cur = conn.execute(
            "INSERT INTO benchmarks (name, message, created_at, version_id, split, content_hash, images, stats) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [name, message, time.time(), info.id, split, digest.hexdigest(), len(members), json.dumps(stats)])
        bid = int(cur.lastrowid or 0)
        conn.executemany("INSERT INTO benchmark_members (benchmark_id, image_id, state_hash, sha256) "
                         "VALUES (?, ?, ?, ?)", [(bid, s.image_id, k, s.sha256) for s, k in members])
    return get_benchmark(ws, bid)


def list_benchmarks(ws: "Workspace") -> list[BenchmarkInfo]:
    """Every benchmark set, oldest first."""
    return [_info(r) for r in ws.db.execute(
        f"SELECT {_COLS} FROM benchmarks b JOIN versions v ON v.id = b.version_id ORDER BY b.id")]


def get_benchmark(ws: "Workspace", ref: BenchmarkRef) -> BenchmarkInfo:
    """A benchmark by name or id; raises :class:`NotFoundError`."""
    text = str(ref).strip()
    q = f"SELECT {_COLS} FROM benchmarks b JOIN versions v ON v.id = b.version_id WHERE "
    row = ws.db.execute(q + "b.name = ?", [text]).fetchone()
    if row is None and text.isdigit():
        row = ws.db.execute(q + "b.id = ?", [int(text)]).fetchone()
    if row is None:
        raise NotFoundError(f"no benchmark {text!r} (cvops benchmark list shows them)")
    return _info(row)


def benchmark_items(ws: "Workspace", ref: BenchmarkRef) -> list[EvalItem]:
    """The benchmark's images with their frozen annotations, in image id order (the items an evaluation scores)."""
    bench = get_benchmark(ws, ref)
    keys = dict(ws.db.execute("SELECT image_id, state_hash FROM benchmark_members WHERE benchmark_id = ?",
                              [bench.id]).fetchall())
    return [EvalItem(mf.state.image_id, mf.path, json.loads(mf.state.annotations))
            for mf in member_files(ws, bench.version_id)
            if keys.get(mf.state.image_id) == state_hash(mf.state)]


def evaluate_benchmark(ws: "Workspace", model_ref: Any, ref: BenchmarkRef, **options: Any) -> EvaluationResult:
    """Evaluate a model on benchmark ``ref`` and store the evaluation linked to it; ``options`` are
    :func:`cvops.models.evaluation.evaluate`'s (thresholds, progress, cancel, device, predictor)."""
    bench = get_benchmark(ws, ref)
    if len(benchmark_items(ws, bench.id)) != bench.images:
        raise ValidationError(f"benchmark {bench.name}: its members no longer match version {bench.version} "
                              f"split {bench.split} (the catalog was changed outside CVOps)")
    result = evaluate(ws, model_ref, bench.version_id, split=bench.split, **options)
    with transaction(ws.db):
        ws.db.execute("UPDATE evaluations SET benchmark_id = ? WHERE id = ?", [bench.id, result.id])
    return result


def benchmark_evaluations(ws: "Workspace", ref: BenchmarkRef) -> list[EvaluationResult]:
    """Every evaluation on benchmark ``ref``, oldest first."""
    bench = get_benchmark(ws, ref)
    return [get_evaluation(ws, eid) for (eid,) in ws.db.execute(
        "SELECT id FROM evaluations WHERE benchmark_id = ? ORDER BY id", [bench.id])]


def latest_evaluation(ws: "Workspace", model_ref: Any, ref: BenchmarkRef) -> Optional[EvaluationResult]:
    """The latest evaluation of a model on benchmark ``ref`` (None when it was never evaluated there), e.g. the
    champion's score a gate compares a challenger with."""
    bench, model = get_benchmark(ws, ref), get_model(ws, model_ref)
    row = ws.db.execute("SELECT MAX(id) FROM evaluations WHERE benchmark_id = ? AND model_id = ?",
                        [bench.id, model.id]).fetchone()
    return get_evaluation(ws, row[0]) if row[0] is not None else None


def leaderboard(ws: "Workspace", ref: BenchmarkRef) -> list[dict[str, Any]]:
    """Every model evaluated on benchmark ``ref``, by its latest evaluation there, best first (mAP50-95, then
    mAP50, then the earlier evaluation): ``rank``, ``model``, ``model_id``, ``evaluation_id``, ``map50_95``,
    ``map50``, ``per_class_ap`` (class name -> AP50-95, None for a class without instances) and ``evaluated_at``."""
    latest: dict[int, EvaluationResult] = {}
    for result in benchmark_evaluations(ws, ref):
        latest[result.model_id] = result
    rows = [{"model": r.model_name, "model_id": r.model_id, "evaluation_id": r.id, "map50_95": r.map50_95,
             "map50": r.map50, "per_class_ap": {str(c["name"]): c.get("ap") for c in r.per_class},
             "evaluated_at": r.created_at} for r in latest.values()]
    rows.sort(key=lambda r: (-r["map50_95"], -r["map50"], r["evaluated_at"], r["model_id"]))
    return [{"rank": i + 1, **r} for i, r in enumerate(rows)]


def benchmark_summary(ws: "Workspace", ref: BenchmarkRef) -> dict[str, Any]:
    """A benchmark with its member image ids and the number of evaluations on it."""
    bench = get_benchmark(ws, ref)
    ids = [i for (i,) in ws.db.execute("SELECT image_id FROM benchmark_members WHERE benchmark_id = ? "
                                       "ORDER BY image_id", [bench.id])]
    evaluations = ws.db.execute("SELECT COUNT(*) FROM evaluations WHERE benchmark_id = ?", [bench.id]).fetchone()[0]
    return {**bench.to_dict(), "image_ids": ids, "evaluations": int(evaluations)}
