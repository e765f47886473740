"""Measuring the labeling queue against ground truth from the shapes generator.

:func:`add_unlabeled_samples` generates shapes images (``cvops.samples.shapes.generate``), imports them unlabeled and
returns their ground truth by image id; :func:`queue_quality` then builds the queue with each strategy and compares
how often the champion gets its top-N images wrong with random N. "Wrong" (:func:`champion_errors`): at the
operating threshold, at least one false positive or one missed object, matching class-aware at IoU 0.5, greedy by
score. Usage (the issue-15 acceptance test)::

    truth = add_unlabeled_samples(ws, tmp / "field", count=150, seed=5)
    truth |= add_unlabeled_samples(ws, tmp / "field-hard", count=50, seed=6, variant="hard")
    quality = queue_quality(ws, "champion", truth, budget=20, seeds=range(20))
    assert quality["strategies"]["uncertainty"]["ratio"] >= 2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from cvops.assist.prelabel import model_onnx, resolve_model
from cvops.catalog.store import sha256_file
from cvops.data.ingest import import_paths
from cvops.data.pixels import load_pixels
from cvops.data.workspace import Workspace
from cvops.deploy.edge_runner import Detector
from cvops.models.registry import ModelRef
from cvops.monitoring.queue import NMS_IOU, OPERATING_CONF, STRATEGIES, build_queue
from cvops.samples.shapes import SampleImage, generate

Truth = dict[int, list[tuple[str, tuple[float, float, float, float]]]]  # image id → (class name, (x, y, w, h))


def truth_from_samples(ws: Workspace, samples: Sequence[SampleImage]) -> Truth:
    """The generator's shapes of ``samples`` by the id of the workspace image with the same bytes."""
    out: Truth = {}
    for sample in samples:
        record = ws.images.by_sha256(sha256_file(sample.path))
        assert record is not None, f"{sample.path} is not in the workspace"
        out[record.id] = [(s.label, s.box) for s in sample.shapes]
    return out


def add_unlabeled_samples(ws: Workspace, folder: Path, count: int, seed: int, variant: str = "normal",
                          size: int = 256) -> Truth:
    """Generate ``count`` shapes images into ``folder``, import them (no labels: status new) and return their
    ground truth."""
    samples = generate(folder, count=count, size=size, seed=seed, variant=variant)
    import_paths(ws, [s.path for s in samples])
    return truth_from_samples(ws, samples)


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``(x, y, w, h)`` boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def is_wrong(found: list[tuple[str, float, tuple[float, float, float, float]]],
             truth: list[tuple[str, tuple[float, float, float, float]]], iou: float = 0.5) -> bool:
    """Whether detections ``(class, score, box)`` hold a false positive or miss an object of ``truth``: each
    detection, best score first, takes the unmatched true box of its class it overlaps most, if at IoU >= ``iou``."""
    left = list(range(len(truth)))
    for name, _score, box in sorted(found, key=lambda d: -d[1]):
        best, best_iou = None, iou
        for j in left:
            overlap = _iou(box, truth[j][1])
            if truth[j][0] == name and overlap >= best_iou:
                best, best_iou = j, overlap
        if best is None:
            return True  # a false positive
        left.remove(best)
    return bool(left)  # a missed object


def champion_errors(ws: Workspace, model_ref: ModelRef, truth: Truth, conf: float = OPERATING_CONF,
                    iou: float = 0.5) -> dict[int, bool]:
    """Per image of ``truth``: whether the model gets it wrong at ``conf`` (module doc)."""
    model = resolve_model(ws, model_ref)
    detector = Detector(model_onnx(ws, model))
    ids = sorted(truth)
    out: dict[int, bool] = {}
    for start in range(0, len(ids), 16):
        chunk = ids[start:start + 16]
        pixels = [load_pixels(ws.images.path(r)) for r in ws.images.many(chunk)]
        for image_id, (boxes, scores, classes) in zip(chunk, detector.predict_arrays(pixels, conf, NMS_IOU)):
            found = [(detector.names[int(c)], float(s), (float(b[0]), float(b[1]), float(b[2] - b[0]),
                                                         float(b[3] - b[1])))
                     for b, s, c in zip(boxes, scores, classes)]
            out[image_id] = is_wrong(found, truth[image_id], iou)
    return out


def queue_quality(ws: Workspace, model_ref: ModelRef, truth: Truth, budget: int, seeds: Iterable[int] = range(20),
                  strategies: Sequence[str] = STRATEGIES, conf: float = OPERATING_CONF) -> dict[str, Any]:
    """For each strategy: the rate at which the model gets its top-``budget`` queue wrong, the mean rate over random
    samples of ``budget`` candidates (one per seed), and their ratio (None when the random rate is 0). ``truth``
    must cover every unlabeled image of the workspace (the queue's candidates). Builds the queue (the last strategy's
    stays) and attaches the model's suggestions to the queued images."""
    errors = champion_errors(ws, model_ref, truth, conf)
    candidates = sorted(errors)
    random_rates = [float(np.mean([errors[i] for i in np.random.default_rng(seed).choice(
        candidates, size=min(budget, len(candidates)), replace=False)])) for seed in seeds]
    random_rate = float(np.mean(random_rates))
    out: dict[str, Any] = {"budget": budget, "candidates": len(candidates),
                           "error_rate": float(np.mean([errors[i] for i in candidates])),
                           "random_error_rate": random_rate, "seeds": len(random_rates), "strategies": {}}
    for strategy in strategies:
        report = build_queue(ws, strategy, budget, model_ref, conf=conf)
        assert report.candidates == len(candidates), \
            f"truth covers {len(candidates)} images, the queue had {report.candidates} candidates"
        top = [item.image_id for item in report.items]
        rate = float(np.mean([errors[i] for i in top])) if top else 0.0
        ratio: Optional[float] = rate / random_rate if random_rate > 0 else None
        out["strategies"][strategy] = {"top_error_rate": rate, "random_error_rate": random_rate, "ratio": ratio,
                                       "queued": len(top)}
    return out
