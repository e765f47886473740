"""Pre-labeling: a tiny trained champion's detections stored as suggestions (source model), manual annotations never
touched, accept / reject / accept_above with undo, cancel between batches, the CLI's JSON contract and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from training_testing import copy_workspace

from cvops.assist import prelabel as P
from cvops.cli import cli
from cvops.common.errors import NotFoundError
from cvops.data.images import ImageFilter
from cvops.data.ingest import import_paths
from cvops.common.jobs import CancelToken
from cvops.models.registry import get_model, promote
from cvops.samples.shapes import generate
from cvops.data.workspace import Workspace

NEW_IMAGES = 6
CONF = 0.001  # a 3-epoch model is unsure of everything: keep its guesses so that suggestions exist


@pytest.fixture(scope="module")
def trained(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared trained workspace with m1 (3 epochs) promoted, its ONNX cached, and 6 unlabeled new
    images."""
    root = copy_workspace(trained_workspace, tmp_path_factory.mktemp("prelabel") / "ws")
    with Workspace.open(root) as ws:
        promote(ws, "m1")
        samples = generate(root.parent / "new", count=NEW_IMAGES, size=128, seed=7)
        import_paths(ws, [s.path for s in samples])
        P.model_onnx(ws, get_model(ws, "m1"))
    return root


@pytest.fixture
def ws(trained: Path, tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.open(copy_workspace(trained, tmp_path / "ws"))
    yield workspace
    workspace.close()


def manual_rows(ws: Workspace) -> list[tuple[Any, ...]]:
    return ws.db.execute("SELECT * FROM annotations WHERE source = 'manual' ORDER BY id").fetchall()


def unlabeled(ws: Workspace) -> list[int]:
    return list(ws.images.ids(ImageFilter(annotated=False)))


def test_suggestions_for_unlabeled_images_leave_manual_annotations_alone(ws: Workspace) -> None:
    before, todo = manual_rows(ws), unlabeled(ws)
    assert len(todo) == NEW_IMAGES
    report = P.prelabel(ws, conf=CONF, batch=4)
    assert set(report.to_dict()) == {"model", "images", "images_with_suggestions", "suggestions", "skipped_images",
                                     "unknown_classes", "cancelled", "seconds"}
    assert (report.model, report.images, report.skipped_images, report.cancelled) == ("m1", NEW_IMAGES, 0, False)
    assert report.suggestions > 0 and report.images_with_suggestions > 0
    pending = P.pending(ws)
    assert len(pending) == report.suggestions == P.pending_count(ws)
    assert {a.image_id for a in pending} <= set(todo)
    assert all(a.source == "model" and a.model_id == "m1" and 0 < (a.confidence or 0) <= 1 and a.kind == "box"
               for a in pending)
    assert manual_rows(ws) == before
    ops = [op for op in ws.log.history(10) if op.action == "annotation.prelabel"]
    assert len(ops) == 2  # one undo step per batch of 4
    ws.log.undo()
    ws.log.undo()
    assert P.pending_count(ws) == 0 and manual_rows(ws) == before


def test_rerun_replaces_and_explicit_images_go_alongside_manual(ws: Workspace) -> None:
    first = P.prelabel(ws, conf=CONF)
    again = P.prelabel(ws, conf=CONF)  # pending suggestions are not labels: the same images, replaced
    assert again.images == NEW_IMAGES and P.pending_count(ws) == again.suggestions == first.suggestions
    labeled = ws.images.ids(ImageFilter(annotated=True))
    everything = P.prelabel(ws, conf=CONF, flt=ImageFilter())
    assert everything.images == NEW_IMAGES and everything.skipped_images == len(labeled) - NEW_IMAGES
    before = manual_rows(ws)
    target = labeled[0]
    explicit = P.prelabel(ws, "m1", image_ids=[target], conf=CONF)
    assert explicit.images == 1 and explicit.suggestions == len(P.pending(ws, target)) > 0
    assert manual_rows(ws) == before


def test_accept_reject_accept_above_and_undo(ws: Workspace) -> None:
    P.prelabel(ws, conf=CONF)
    before = manual_rows(ws)
    pending = sorted(P.pending(ws), key=lambda a: a.id)
    first = pending[0]
    assert P.accept(ws, [first.id]) == 1
    got = ws.annotations.get(first.id)
    assert (got.source, got.model_id, got.confidence) == ("manual", None, None)
    assert got.attributes == {"suggested_by": "m1", "suggested_confidence": first.confidence}
    assert got.box == first.box
    ws.log.undo()
    assert ws.annotations.get(first.id).source == "model"
    manual_id = before[0][0]
    assert P.reject(ws, [pending[1].id, manual_id]) == 1  # a manual annotation is never rejected
    assert ws.annotations.get(manual_id) is not None
    with pytest.raises(NotFoundError):
        ws.annotations.get(pending[1].id)
    ws.log.undo()
    assert ws.annotations.get(pending[1].id).source == "model"
    threshold = max(a.confidence or 0 for a in pending)
    above = sum(1 for a in pending if (a.confidence or 0) >= threshold)
    assert P.accept_above(ws, threshold) == above > 0
    assert P.pending_count(ws) == len(pending) - above
    rejected = P.reject_below(ws, 1.0)
    assert rejected == len(pending) - above and P.pending_count(ws) == 0
    for _ in range(1 + (rejected > 0)):  # each bulk action is one undo step
        ws.log.undo()
    assert P.pending_count(ws) == len(pending)
    assert manual_rows(ws) == before


def test_cancel_keeps_the_committed_batches(ws: Workspace) -> None:
    cancel = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, message: str) -> None:
        seen.append(fraction)
        if fraction > 0:
            cancel.cancel()  # after the first batch

    report = P.prelabel(ws, conf=CONF, batch=2, progress=progress, cancel=cancel)
    assert report.cancelled and report.images == 2
    assert P.pending_count(ws) == report.suggestions
    assert {a.image_id for a in P.pending(ws)} <= set(report.image_ids)


def test_no_champion_and_unknown_classes(ws: Workspace) -> None:
    ws.db.execute("UPDATE models SET champion = 0")
    with pytest.raises(NotFoundError, match="promote a model first: cvops models promote M"):
        P.prelabel(ws)
    classes = json.loads(ws.db.execute("SELECT classes FROM models WHERE name = 'm1'").fetchone()[0])
    classes[0].update(class_id=9999, name="ghost")
    ws.db.execute("UPDATE models SET classes = ? WHERE name = 'm1'", [json.dumps(classes)])
    report = P.prelabel(ws, "m1", conf=CONF)
    assert report.unknown_classes == 1 and report.unknown_class_names == ["ghost"]
    assert classes[0]["class_id"] not in {a.class_id for a in P.pending(ws)}


def cvops(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.stdout


def test_cli_json_contract_and_exit_codes(ws: Workspace) -> None:
    root = str(ws.root)
    report = json.loads(cvops("prelabel", "--model", "m1", "--conf", str(CONF), "--json", "-w", root))
    assert list(report) == ["model", "images", "images_with_suggestions", "suggestions", "skipped_images",
                            "unknown_classes", "cancelled", "seconds"]
    assert report["model"] == "m1" and report["images"] == NEW_IMAGES and report["suggestions"] > 0
    again = json.loads(cvops("-w", root, "prelabel", "--filter", "all", "--conf", str(CONF), "--json"))
    assert again["images"] == NEW_IMAGES and again["skipped_images"] > 0
    one = json.loads(cvops("prelabel", "--images", "1", "--conf", str(CONF), "--json", "-w", root))
    assert one["images"] == 1
    total = P.pending_count(ws)
    accepted = json.loads(cvops("prelabel", "accept", "--above", "0", "--images", "1", "--json", "-w", root))
    assert accepted["accepted"] > 0 and accepted["pending"] == total - accepted["accepted"]
    rejected = json.loads(cvops("prelabel", "reject", "--below", "1", "--json", "-w", root))
    assert rejected == {"rejected": total - accepted["accepted"], "pending": 0}
    assert "suggestions" in cvops("prelabel", "--conf", str(CONF), "-w", root)
    cvops("prelabel", "--filter", "bogus=1", "-w", root, code=2)
    ws.db.execute("UPDATE models SET champion = 0")
    result = CliRunner().invoke(cli, ["prelabel", "-w", root])
    assert result.exit_code == 2 and "promote a model first" in result.output
