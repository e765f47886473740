"""Model suggestions on the Annotate page: drawn dashed with their confidence, Enter accepts, Del rejects, Accept all
≥ threshold (this image / every image), the counts; and the Pre-label dialog running a real model as a job."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import QMessageBox
from test_annotate_page import Annotator, key, show, start
from timing_testing import WAIT_MS

from cvops.assist import prelabel as P
from cvops.data.annotations import NewAnnotation
from cvops.samples.demo import run_demo
from cvops.models.registry import promote
from cvops.data.workspace import Workspace
from cvops_app.canvas.items import BoxItem
from cvops_app.dialogs.prelabel import PrelabelDialog

SHOTS = Path("/tmp/prelabel_shots")
CONFIDENCES = (0.92, 0.61, 0.34)


@pytest.fixture
def window(qtbot: Any, tmp_path: Path) -> Iterator[Annotator]:
    """A 12-image demo workspace whose first image carries three suggestions of model m1 (and its manual boxes)."""
    run_demo(tmp_path / "ws", count=12)
    with Workspace.open(tmp_path / "ws") as ws:
        ids = list(ws.images.ids())
        classes = [c.id for c in ws.classes.list()]
        items = [NewAnnotation(image, classes[n % len(classes)], "box", box=(20 + 60 * n, 150 + 10 * n, 50, 40),
                               source="model", model_id="m1", confidence=c)
                 for image in ids[:2] for n, c in enumerate(CONFIDENCES)]
        ws.annotations.add_many(items)
    win = start(qtbot, tmp_path / "ws")
    yield win
    if win.ws is not None:
        win.ws.close()


def suggestions(window: Annotator) -> list:
    assert window.ws is not None and window.page.image is not None
    return sorted(P.pending(window.ws, window.page.image.id), key=lambda a: -(a.confidence or 0))


def test_suggestions_are_dashed_with_their_confidence(qtbot: Any, window: Annotator) -> None:
    show(qtbot, window)
    page, pending = window.page, suggestions(window)
    assert len(pending) == 3
    manual = [a for a in window.ws.annotations.for_image(page.image.id) if a.source == "manual" and a.kind == "box"]
    layer = page.canvas.shape_layer
    assert all(layer.pen_for(a.id).style() == Qt.PenStyle.DashLine for a in pending)
    assert all(layer.pen_for(a.id).style() == Qt.PenStyle.SolidLine for a in manual)
    assert "3 pending on this image · 6 in the workspace" in page.suggestions.panel.counts.text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.page.grab().save(str(SHOTS / "annotate_suggestions.png"))
    page.canvas.select([pending[0].id])
    item = page.canvas.item(pending[0].id)
    assert isinstance(item, BoxItem) and item.suggested and item.pen().style() == Qt.PenStyle.DashLine
    assert item.label.text.text().endswith(" 0.92")
    page.canvas.select([manual[0].id])
    assert page.canvas.item(manual[0].id).pen().style() == Qt.PenStyle.SolidLine


def test_enter_accepts_and_del_rejects_then_the_next_is_selected(qtbot: Any, window: Annotator) -> None:
    show(qtbot, window)
    page, ws = window.page, window.ws
    first, second, third = suggestions(window)
    key(window, Qt.Key.Key_Return)  # nothing selected: Enter picks the most confident suggestion
    assert page.canvas.selected_ids() == [first.id]
    key(window, Qt.Key.Key_Return)
    accepted = ws.annotations.get(first.id)
    assert accepted.source == "manual" and accepted.attributes["suggested_by"] == "m1"
    assert page.canvas.selected_ids() == [second.id]
    assert page.canvas.shape_layer.pen_for(first.id).style() == Qt.PenStyle.SolidLine
    key(window, Qt.Key.Key_Delete)
    assert second.id not in {a.id for a in ws.annotations.for_image(page.image.id)}
    assert page.canvas.selected_ids() == [third.id]
    assert page.suggestions.panel.image_count == 1
    window.undo()  # the reject
    window.undo()  # the accept
    assert {a.id for a in suggestions(window)} == {first.id, second.id, third.id}
    manual = next(a for a in ws.annotations.for_image(page.image.id) if a.source == "manual" and a.kind == "box")
    page.canvas.select([manual.id])
    key(window, Qt.Key.Key_Delete)  # Del still deletes manual shapes
    assert manual.id not in {a.id for a in ws.annotations.for_image(page.image.id)}


def test_accept_all_above_on_this_image_and_everywhere(qtbot: Any, window: Annotator,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or answers.pop(0))
    show(qtbot, window)
    page, ws = window.page, window.ws
    panel = page.suggestions.panel
    panel.threshold.setValue(0.5)
    panel.accept_button.click()
    assert [a.confidence for a in suggestions(window)] == [0.34]
    assert P.pending_count(ws) == 4 and panel.image_count == 1
    qtbot.waitUntil(lambda: panel.total_count == 4)
    panel.threshold.setValue(0.3)
    panel.everywhere_button.click()  # asks first: Cancel changes nothing
    assert asked == ["Accept 4 suggestions with confidence ≥ 0.30 on 2 images? They become manual annotations "
                     "(Ctrl+Z undoes this)."]
    assert P.pending_count(ws) == 4
    panel.everywhere_button.click()  # Yes
    assert len(asked) == 2 and P.pending_count(ws) == 0
    assert "No model suggestions" in panel.counts.text()
    window.undo()
    assert P.pending_count(ws) == 4
    panel.reject_button.click()
    assert P.pending_count(ws) == 3 and suggestions(window) == []


def test_prelabel_dialog_runs_a_job_to_completion(qtbot: Any, trained_workspace_copy: Path) -> None:
    with Workspace.open(trained_workspace_copy) as ws:
        promote(ws, "m1")
    window = start(qtbot, trained_workspace_copy)
    try:
        show(qtbot, window)
        image = window.page.image.id
        dialog = PrelabelDialog(window.ctx, selected=[image], parent=window.page)
        assert dialog.model.currentText().startswith("m1 (champion) — mAP50-95 ") and dialog.chosen.isChecked()
        dialog.conf.setValue(0.001)
        dialog.accept()
        job = dialog.job
        assert job is not None
        qtbot.waitUntil(lambda: job.done, timeout=120_000)
        qtbot.waitUntil(lambda: window.page.suggestions.panel.image_count > 0, timeout=WAIT_MS)
        assert P.pending_count(window.ws, image) == window.page.suggestions.panel.image_count
        assert any(m.startswith("Pre-labeled 1 image with m1") for m in window.messages)
    finally:
        window.ws.close()


def test_labels_of_stacked_suggestions_do_not_overlap(qtbot: Any, window: Annotator) -> None:
    ws = window.ws
    image = list(ws.images.ids())[0]
    cls = ws.classes.list()[0].id
    ws.annotations.add_many([NewAnnotation(image, cls, "box", box=(150 + dx, 20 + dy, 60, 40), source="model",
                                           model_id="m2", confidence=c)
                             for dx, dy, c in ((0, 0, 0.9), (0, 0, 0.8), (0, 0, 0.7), (4, 3, 0.6))])
    show(qtbot, window)
    canvas = window.page.canvas
    layer = canvas.shape_layer

    def drawn() -> list:
        canvas.viewport().grab()  # paint a frame
        assert layer.last_mode == "direct"
        return list(layer.label_rects)

    def assert_apart(rects: list) -> None:
        for n, a in enumerate(rects):
            for b in rects[n + 1:]:
                assert not a.intersects(b), (a, b)

    rects = drawn()
    shown = len(ws.annotations.for_image(image)) - sum(a.kind == "tag" for a in ws.annotations.for_image(image))
    assert len(rects) == shown
    assert_apart(rects)
    stacked = [a.id for a in P.pending(ws, image) if a.model_id == "m2"]
    canvas.select([stacked[1]])  # a selected suggestion's label stays at its corner; the others keep clear of it
    item_label = canvas.item(stacked[1]).label
    fixed = QRectF(QPointF(canvas.mapFromScene(item_label.scenePos())), item_label.rect().size())
    rects = drawn()
    assert len(rects) == shown - 1
    assert_apart(rects + [fixed])


def test_labels_of_stacked_suggestions_selected_together_do_not_overlap(qtbot: Any, window: Annotator) -> None:
    ws = window.ws
    image = list(ws.images.ids())[0]
    cls = ws.classes.list()[0].id
    ws.annotations.add_many([NewAnnotation(image, cls, "box", box=(150 + dx, 20 + dy, 60, 40), source="model",
                                           model_id="m2", confidence=c)
                             for dx, dy, c in ((0, 0, 0.9), (0, 0, 0.8), (0, 0, 0.7), (4, 3, 0.6))])
    show(qtbot, window)
    canvas = window.page.canvas
    layer = canvas.shape_layer
    stacked = [a.id for a in P.pending(ws, image) if a.model_id == "m2"]

    def item_rects() -> list:
        out = []
        for aid in canvas.selected_ids():
            label = canvas.item(aid).label
            assert label.isVisible()
            corner = canvas.viewportTransform().map(label.scenePos())
            out.append(label.rect().translated(corner))
        return out

    def assert_apart(rects: list) -> None:
        for n, a in enumerate(rects):
            for b in rects[n + 1:]:
                assert not a.intersects(b), (a, b)

    canvas.select(stacked[:3])  # three suggestions on one spot, selected together (rubber band, Ctrl+A)
    rects = item_rects()
    assert len({r.top() for r in rects}) == 3  # a column, not a pile at one corner as before
    canvas.select(stacked)
    rects = item_rects()
    assert_apart(rects)
    corner = canvas.viewportTransform().map(QPointF(150, 20))
    assert min(r.top() for r in rects) == pytest.approx(corner.y(), abs=1)  # the first stays at its corner
    canvas.viewport().grab()  # the other shapes' labels keep clear of the moved ones
    assert layer.last_mode == "direct" and layer.label_rects
    assert_apart(rects + list(layer.label_rects))
    canvas.zoom_to(canvas.zoom() * 3, QPointF(canvas.viewport().rect().center()))  # laid out again when zooming
    assert_apart(item_rects())
    canvas.select(stacked[:1])  # alone again: back at its corner
    assert canvas.item(stacked[0]).label.offset == 0.0


def test_place_labels_stacks_piles_and_keeps_the_fixed_ones() -> None:
    import numpy as np

    from cvops_app.canvas.label_layout import GAP, place_labels

    rng = np.random.default_rng(0)
    anchors = np.r_[np.tile([[50.0, 50.0]], (5, 1)), rng.uniform(200, 500, (40, 2))]  # a pile, and a crowd
    sizes = np.c_[rng.uniform(40, 90, len(anchors)), np.full(len(anchors), 16.0)]
    spots = place_labels(anchors, sizes, fixed=1)
    assert tuple(spots[0]) == (50.0, 50.0)  # fixed
    assert (spots[:, 0] == anchors[:, 0]).all() and (spots[:, 1] >= anchors[:, 1]).all()  # only ever down
    assert sorted(spots[:5, 1]) == [50.0 + n * (16.0 + GAP) for n in range(5)]  # a pile becomes a column
    for i in range(len(spots)):
        for j in range(i + 1, len(spots)):
            apart = (spots[i, 0] + sizes[i, 0] <= spots[j, 0] or spots[j, 0] + sizes[j, 0] <= spots[i, 0] or
                     spots[i, 1] + sizes[i, 1] <= spots[j, 1] or spots[j, 1] + sizes[j, 1] <= spots[i, 1])
            assert apart, (i, j)
    sparse = np.c_[np.arange(10) * 100.0, np.zeros(10)]
    assert (place_labels(sparse, np.full((10, 2), 20.0)) == sparse).all()  # nothing to move: nothing moves
