"""The labeling queue: the uncertainty score and greedy k-center on planted inputs, and build / show / clear / next on
the session's exported model (a registered export without the embedding output, which the build adds on a copy),
suggestions attached as pre-labeling stores them, bad input refused, the CLI's JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from click.testing import CliRunner
from queue_testing import add_unlabeled_samples, is_wrong, queue_quality
from training_testing import copy_workspace

from cvops.assist import prelabel as P
from cvops.catalog.store import sha256_file
from cvops.cli import cli
from cvops.cli import queue as cli_queue
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken
from cvops.data.images import ImageFilter
from cvops.data.pixels import load_pixels
from cvops.data.workspace import Workspace
from cvops.deploy.edge_runner import Detector
from cvops.models.registry import get_model, promote
from cvops.monitoring import queue as Q

NEW_IMAGES = 10
CONF = 0.003  # the exported model (2 epochs at 96 px) scores 0.001-0.004 everywhere: an operating threshold it reaches


# -- the score and k-center on planted inputs ---------------------------------------------------------------------------
def test_decision_error_is_the_least_confidence_of_the_decision_at_the_threshold() -> None:
    q = Q.decision_error(np.array([0.0, 0.1, 0.25, 0.6, 1.0]), conf=0.25)
    assert q == pytest.approx([0.0, 0.1, 0.75, 0.4, 0.0])  # dropped: a miss with c; kept: a false positive with 1 - c
    assert Q.decision_error(np.array([0.3]), conf=0.4)[0] == pytest.approx(0.3)


def test_image_uncertainty_ranks_borderline_images_first() -> None:
    assert Q.image_uncertainty([]) == 0.0
    assert Q.image_uncertainty([0.04, 0.01]) == 0.0  # below the floor (a fifth of 0.25): certain-empty
    assert Q.image_uncertainty([0.04], conf=0.1) == pytest.approx(0.04)  # the floor follows the threshold
    assert Q.image_uncertainty([0.3]) == pytest.approx(0.7)  # kept just over the threshold: likely a false positive
    assert Q.image_uncertainty([0.2]) == pytest.approx(0.2)  # dropped just under it: a miss with 0.2
    assert Q.image_uncertainty([0.5, 0.5]) == pytest.approx(1 - 0.5 ** 2)  # two such decisions: noisy-or
    images = {"empty": [], "confident": [0.97, 0.95, 0.93], "one borderline": [0.95, 0.27],
              "two borderline": [0.3, 0.2, 0.9], "clutter": [0.06, 0.07]}
    ranked = sorted(images, key=lambda k: -Q.image_uncertainty(images[k]))
    assert ranked == ["two borderline", "one borderline", "confident", "clutter", "empty"]


def clusters(rng: np.random.Generator, centers: np.ndarray, n: int, spread: float = 0.05) -> np.ndarray:
    return np.concatenate([c + rng.normal(0, spread, size=(n, centers.shape[1])) for c in centers])


def test_k_center_covers_clusters_the_labelled_set_does_not() -> None:
    rng = np.random.default_rng(0)
    centers = np.eye(16)[:4] * 3.0  # four well-separated directions
    points = clusters(rng, centers, 30)
    which = np.repeat(np.arange(4), 30)
    labelled = clusters(rng, centers[:1], 20)  # cluster 0 is labelled already
    picks = Q.k_center(points, 3, covered=labelled)
    assert sorted(which[[i for i, _ in picks]]) == [1, 2, 3]
    distances = [d for _, d in picks]
    assert distances == sorted(distances, reverse=True) and distances[-1] > 1.0  # far: orthogonal clusters
    more = Q.k_center(points, 6, covered=labelled)  # clusters exhausted: the next picks are close ones
    assert [i for i, _ in more[:3]] == [i for i, _ in picks] and more[3][1] < 0.5
    assert len({i for i, _ in Q.k_center(points, 200)}) == len(points)  # never twice; at most every candidate


def test_k_center_without_labelled_images_starts_at_the_most_typical() -> None:
    rng = np.random.default_rng(1)
    centers = np.eye(8)[:3] * 2.0
    points = np.concatenate([clusters(rng, centers[:1], 40), clusters(rng, centers[1:], 5)])
    which = np.repeat([0, 1, 2], [40, 5, 5])
    picks = Q.k_center(points, 3)
    assert which[picks[0][0]] == 0 and picks[0][1] == 2.0  # the big cluster holds the mean's nearest point
    assert sorted(which[[i for i, _ in picks]]) == [0, 1, 2]
    assert Q.k_center(points, 0) == [] and Q.k_center(np.zeros((0, 8)), 3) == []


# -- build / show / clear / next on the exported model -----------------------------------------------------------------
@pytest.fixture(scope="module")
def base(exported_workspace: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[Path, dict[int, Any]]:
    """A copy of the exported workspace with the exported model (m2) promoted and 10 unlabeled new images, and their
    ground truth."""
    root = copy_workspace(exported_workspace[0], tmp_path_factory.mktemp("queue") / "ws")
    with Workspace.open(root) as ws:
        promote(ws, "m2")
        truth = add_unlabeled_samples(ws, root.parent / "new", count=NEW_IMAGES, seed=11, size=128)
    return root, truth


@pytest.fixture
def ws(base: tuple[Path, dict[int, Any]], tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.open(copy_workspace(base[0], tmp_path / "ws"))
    yield workspace
    workspace.close()


def unlabeled(ws: Workspace) -> list[int]:
    return list(ws.images.ids(ImageFilter(annotated=False)))


def detections(ws: Workspace, ids: list[int], conf: float) -> dict[int, tuple[Any, Any, Any]]:
    """The champion's detections of ``ids`` at ``conf``, run independently of the queue."""
    detector = Detector(P.model_onnx(ws, get_model(ws, "champion")))
    pixels = [load_pixels(ws.images.path(r)) for r in ws.images.many(ids)]
    return dict(zip(ids, detector.predict_arrays(pixels, conf, Q.NMS_IOU)))


def test_uncertainty_build_ranks_attaches_suggestions_and_keeps_the_export(ws: Workspace) -> None:
    export = P.model_onnx(ws, get_model(ws, "champion"))
    export_sha = sha256_file(export)
    new = unlabeled(ws)
    assert len(new) == NEW_IMAGES
    report = Q.build_queue(ws, "uncertainty", budget=4, conf=CONF)
    assert (report.strategy, report.budget, report.model, report.candidates, report.queued) == \
        ("uncertainty", 4, "m2", NEW_IMAGES, 4)
    items = Q.show_queue(ws)
    assert [i.rank for i in items] == [1, 2, 3, 4] and all(i.strategy == "uncertainty" for i in items)
    assert [i.image_id for i in items] == [i.image_id for i in report.items]
    assert {i.image_id for i in items} <= set(new)  # labelled images are never candidates
    floor = detections(ws, new, Q.FLOOR_RATIO * CONF)
    scores = {i: Q.image_uncertainty(floor[i][1], CONF) for i in new}
    expected = sorted(new, key=lambda i: (-scores[i], i))[:4]
    assert [i.image_id for i in items] == expected
    assert [i.score for i in items] == pytest.approx([scores[i] for i in expected])
    # the suggestions: the detections at the operating threshold, on the queued images only
    pending = P.pending(ws)
    assert {a.image_id for a in pending} <= set(expected)
    assert all(a.model_id == "m2" and a.source == "model" and (a.confidence or 0) >= CONF - 1e-5 for a in pending)
    at_conf = detections(ws, expected, CONF)
    for i in expected:
        assert sorted(a.confidence for a in pending if a.image_id == i) == pytest.approx(
            sorted(at_conf[i][1].tolist()), abs=1e-5)
    assert pending
    assert report.suggestions == len(pending)
    assert sha256_file(export) == export_sha and not (ws.root / "cache" / "queue").exists()
    # a second build replaces the queue and that model's pending suggestions (nothing doubled)
    again = Q.build_queue(ws, "uncertainty", budget=2, conf=CONF)
    assert [i.image_id for i in Q.show_queue(ws)] == expected[:2] == [i.image_id for i in again.items]
    assert P.pending_count(ws) == len(pending)


def test_diversity_adds_the_embedding_on_a_copy_and_mixed_draws_from_the_uncertain(ws: Workspace) -> None:
    import onnx

    export = P.model_onnx(ws, get_model(ws, "champion"))
    export_sha = sha256_file(export)
    assert "embedding" not in [o.name for o in onnx.load(str(export)).graph.output]
    report = Q.build_queue(ws, "diversity", budget=3)
    assert (report.queued, report.labelled_reference) == (3, len(Q._labelled_sample(ws)))
    assert report.labelled_reference > 0
    assert sha256_file(export) == export_sha  # the registered export is never modified
    cached = list((ws.root / "cache" / "queue").glob("*.onnx"))
    assert [p.name for p in cached] == [f"{export_sha}.onnx"]
    assert Detector(cached[0]).embedding_index is not None
    items = Q.show_queue(ws)
    assert [i.strategy for i in items] == ["diversity"] * 3
    distances = [i.score for i in items]
    assert distances == sorted(distances, reverse=True) and all(0 <= d <= 2 for d in distances)
    new = unlabeled(ws)
    floor = detections(ws, new, Q.FLOOR_RATIO * Q.OPERATING_CONF)
    scores = {i: Q.image_uncertainty(floor[i][1]) for i in new}
    pool = sorted(new, key=lambda i: (-scores[i], i))[:Q.MIXED_POOL * 2]
    mixed = Q.build_queue(ws, "mixed", budget=2)
    assert mixed.queued == 2 and {i.image_id for i in mixed.items} <= set(pool)
    assert [i.score for i in mixed.items] == pytest.approx([scores[i.image_id] for i in mixed.items])


def test_next_walks_the_queue_skipping_labelled_and_trashed_and_clear(ws: Workspace) -> None:
    new = unlabeled(ws)
    labelled = [i for i in ws.images.ids() if i not in new]
    a, b, c, d = new[:4]
    assert Q.next_in_queue(ws) is None and Q.queue_progress(ws) == (0, 0)
    Q.save_queue(ws, [(c, 0.9), (a, 0.8), (d, 0.7), (b, 0.6)], "uncertainty")
    assert Q.next_in_queue(ws) == c and Q.next_in_queue(ws, c) == a and Q.next_in_queue(ws, b) == c  # wraps
    assert Q.next_in_queue(ws, labelled[0]) == c  # not queued: from the start
    ws.annotations.add_box(a, "circle", (1, 1, 10, 10))  # labelled now: skipped
    assert Q.next_in_queue(ws, c) == d and Q.queue_progress(ws) == (1, 4)
    assert [i.done for i in Q.show_queue(ws)] == [False, True, False, False]
    ws.annotations.trash([d])
    assert Q.next_in_queue(ws, c) == b and [i.image_id for i in Q.show_queue(ws)] == [c, a, b]
    ws.annotations.add_box(b, "square", (1, 1, 10, 10))
    assert Q.next_in_queue(ws, c) == c  # the only one left
    ws.annotations.set_status([c], "needs_review")  # not finished: still to label
    assert Q.next_in_queue(ws, c) == c
    ws.annotations.set_status([c], "done")  # nothing to label on it: marked done without a box
    assert Q.next_in_queue(ws, c) is None and Q.queue_progress(ws) == (3, 3)
    ws.annotations.empty_trash()  # a deleted image leaves the queue with it
    assert ws.db.execute("SELECT COUNT(*) FROM label_queue").fetchone()[0] == 3
    assert Q.show_queue(ws, limit=2) == Q.show_queue(ws)[:2]
    assert Q.clear_queue(ws) == 3 and Q.show_queue(ws) == [] and Q.clear_queue(ws) == 0


def test_bad_input_is_refused_and_a_cancel_keeps_the_queue(ws: Workspace) -> None:
    new = unlabeled(ws)
    Q.save_queue(ws, [(new[0], 0.5)], "uncertainty")
    for budget in (0, -3, 2.5, True):
        with pytest.raises(ValidationError, match="budget"):
            Q.build_queue(ws, "uncertainty", budget=budget)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown strategy 'entropy'"):
        Q.build_queue(ws, "entropy", budget=3)
    with pytest.raises(ValidationError, match="operating threshold"):
        Q.build_queue(ws, "uncertainty", budget=3, conf=0.0)
    token = CancelToken()
    token.cancel()
    report = Q.build_queue(ws, "uncertainty", budget=3, cancel=token)
    assert report.cancelled and report.queued == 0
    assert [i.image_id for i in Q.show_queue(ws)] == [new[0]] and P.pending_count(ws) == 0
    ws.db.execute("UPDATE models SET champion = 0")
    with pytest.raises(NotFoundError) as caught:
        Q.build_queue(ws, "uncertainty", budget=3)
    assert str(caught.value) == P.NO_CHAMPION


def test_an_unreadable_candidate_is_named_and_skipped(ws: Workspace) -> None:
    new = unlabeled(ws)
    broken = ws.images.path(ws.images.get(new[1]))
    broken.write_bytes(b"not an image")
    report = Q.build_queue(ws, "uncertainty", budget=NEW_IMAGES)
    assert (report.candidates, report.skipped, report.queued) == (NEW_IMAGES, 1, NEW_IMAGES - 1)
    assert len(report.problems) == 1 and report.problems[0].startswith(f"{broken}: ")
    assert f"image {new[1]} skipped" in report.problems[0] and new[1] not in [i.image_id for i in report.items]
    done = run("queue", "build", "--budget", "3", "-w", str(ws.root))
    assert done.exit_code == 0 and str(broken) in done.output.replace("\n", "")


def test_images_marked_done_or_approved_without_boxes_are_not_candidates(ws: Workspace) -> None:
    new = unlabeled(ws)
    ws.annotations.set_status(new[:2], "done")
    ws.annotations.set_status(new[2:3], "approved")
    ws.annotations.set_status(new[3:4], "in_progress")
    report = Q.build_queue(ws, "uncertainty", budget=NEW_IMAGES)
    assert report.candidates == NEW_IMAGES - 3 and {i.image_id for i in report.items} == set(new[3:])


def test_nothing_unlabeled_queues_nothing(ws: Workspace) -> None:
    ws.annotations.trash(unlabeled(ws))
    report = Q.build_queue(ws, "mixed", budget=5)
    assert (report.candidates, report.queued, report.items) == (0, 0, []) and Q.show_queue(ws) == []


# -- the CLI ------------------------------------------------------------------------------------------------------------
def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_build_show_clear_json(ws: Workspace) -> None:
    root = str(ws.root)
    assert cli_queue.STRATEGIES == Q.STRATEGIES
    done = run("queue", "build", "--strategy", "uncertainty", "--budget", "3", "--conf", str(CONF), "-w", root,
               "--json")
    assert done.exit_code == 0, done.output
    built = json.loads(done.output)
    assert {"strategy", "budget", "model", "candidates", "queued", "items"} <= set(built)
    assert (built["strategy"], built["budget"], built["model"], built["candidates"], built["queued"]) == \
        ("uncertainty", 3, "m2", NEW_IMAGES, 3)
    assert [set(i) for i in built["items"]] == [{"rank", "image_id", "file_name", "score"}] * 3
    shown = json.loads(run("queue", "show", "-w", root, "--json").output)
    assert [i["image_id"] for i in shown["items"]] == [i["image_id"] for i in built["items"]]
    assert all(i["done"] is False for i in shown["items"]) and (shown["labelled"], shown["total"]) == (0, 3)
    assert len(json.loads(run("queue", "show", "--limit", "1", "-w", root, "--json").output)["items"]) == 1
    text = run("queue", "show", "-w", root)
    assert text.exit_code == 0 and "0 of 3 queued images labelled" in text.output
    assert json.loads(run("queue", "clear", "-w", root, "--json").output) == {"cleared": 3}
    assert "queue is empty" in run("queue", "show", "-w", root).output
    bad = run("queue", "build", "--budget", "0", "-w", root, "--json")
    assert bad.exit_code == 2 and json.loads(bad.output)["error"]["code"] == "usage"
    bad = run("queue", "build", "--strategy", "random", "--budget", "3", "-w", root)
    assert bad.exit_code == 2 and "random" in bad.output
    ws.db.execute("UPDATE models SET champion = 0")
    none = run("queue", "build", "--budget", "3", "-w", root, "--json")
    assert none.exit_code == 2
    assert json.loads(none.output)["error"] == {"code": "not_found", "message": P.NO_CHAMPION}


# -- the quality measurement (tests/queue_testing.py) -------------------------------------------------------------------
def test_is_wrong_counts_false_positives_and_misses_class_aware() -> None:
    truth = [("circle", (10.0, 10.0, 20.0, 20.0)), ("square", (50.0, 50.0, 20.0, 20.0))]
    right = [("circle", 0.9, (11.0, 10.0, 20.0, 20.0)), ("square", 0.8, (50.0, 52.0, 20.0, 20.0))]
    assert not is_wrong(right, truth) and not is_wrong([], [])
    assert is_wrong(right[:1], truth)  # a missed square
    assert is_wrong(right + [("circle", 0.3, (80.0, 80.0, 10.0, 10.0))], truth)  # a false positive
    assert is_wrong([("square", 0.9, (10.0, 10.0, 20.0, 20.0)), right[1]], truth)  # the wrong class
    assert is_wrong([("circle", 0.9, (20.0, 20.0, 20.0, 20.0)), right[1]], truth)  # IoU 1/7 < 0.5
    assert is_wrong(right + [("circle", 0.5, (10.0, 10.0, 20.0, 20.0))], truth)  # a duplicate is a false positive


def test_queue_quality_on_the_fixture(ws: Workspace, base: tuple[Path, dict[int, Any]]) -> None:
    quality = queue_quality(ws, "champion", base[1], budget=3, seeds=range(5))
    assert (quality["budget"], quality["candidates"], quality["seeds"]) == (3, NEW_IMAGES, 5)
    assert quality["error_rate"] == 1.0  # the 2-epoch model finds nothing at 0.25: every image has a missed object
    assert set(quality["strategies"]) == set(Q.STRATEGIES)
    for result in quality["strategies"].values():
        assert (result["top_error_rate"], result["random_error_rate"], result["ratio"], result["queued"]) == \
            (1.0, 1.0, 1.0, 3)
