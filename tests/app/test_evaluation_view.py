"""The evaluation view's error galleries and preview (issue 16): an evaluation of m1 (the session's trained
workspace, evaluated once here) lists its missed objects and false positives as thumbnails with file names, and the
chosen image is drawn with the model's predictions and the error highlighted, not only its manual labels."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor

from cvops.catalog.db import transaction
from cvops.models.evaluation import evaluate
from cvops.models.evaluation_store import error_images
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.evaluation import EvaluationDialog
from cvops_app.pages.evaluation_views import ID_ROLE, OUTCOME_COLORS
from training_testing import open_window


@pytest.fixture
def view(qtbot, tmp_path: Path, trained_workspace: Path,  # noqa: ANN001
         monkeypatch: pytest.MonkeyPatch) -> Iterator[EvaluationDialog]:
    """The evaluation view of m1 on v1/val, with one false positive added on the first evaluated image."""
    window: MainWindow = open_window(qtbot, tmp_path, trained_workspace, monkeypatch, "models")
    ws = window.ctx.ws
    assert ws is not None
    result = evaluate(ws, "m1")
    image_id = ws.db.execute("SELECT MIN(image_id) FROM eval_images WHERE evaluation_id = ?",
                             [result.id]).fetchone()[0]
    class_id = result.per_class[0]["class_id"]
    with transaction(ws.db):
        ws.db.execute("DELETE FROM eval_predictions WHERE evaluation_id = ? AND outcome = 'fp'", [result.id])
        ws.db.execute("INSERT INTO eval_predictions (evaluation_id, image_id, class_id, gt_class_id, x, y, w, h, "
                      "confidence, outcome, iou) VALUES (?, ?, ?, NULL, 10, 12, 30, 24, 0.9, 'fp', NULL)",
                      [result.id, image_id, class_id])
    dialog = EvaluationDialog(window.ctx, ws, result.id, window)
    dialog.resize(1200, 720)
    dialog.show()
    yield dialog
    dialog.close()
    window.close()


def _choose(view: EvaluationDialog, kind: str) -> None:
    view.tabs.setCurrentIndex(2)
    view.errors_kind.setCurrentIndex(view.errors_kind.findData(kind))


def test_missed_objects_gallery_has_thumbnails_and_file_names(qtbot, view: EvaluationDialog) -> None:  # noqa: ANN001
    _choose(view, "fn")
    rows = error_images(view.ws, view.result.id, "fn", unclaimed=True)
    assert rows and view.images.count() == len(rows)
    names = {r.id: r.file_name for r in view.ws.images.many([i for i, _ in rows])}
    for n, (image_id, count) in enumerate(rows):
        text = view.images.item(n).text()
        assert text.startswith(names[image_id]) and not text.startswith("image ")
        assert (f"×{count}" in text) == (count > 1)
    qtbot.waitUntil(lambda: all(view.images.has_thumbnail(n) for n in range(view.images.count())), timeout=20_000)

    view.images.setCurrentRow(0)
    preview = view.preview
    assert not preview.image.isNull() and preview.rows
    chosen = preview.highlighted_row()
    assert chosen is not None and chosen["outcome"] == "fn" and chosen["class_id"] is None  # the miss itself
    assert view.predictions.currentRow() == preview.rows.index(chosen)
    assert "fn" in view.predictions.item(view.predictions.currentRow(), 0).text()


def test_a_false_positive_is_drawn_and_highlighted_over_the_image(qtbot, view: EvaluationDialog) -> None:  # noqa: ANN001
    _choose(view, "fp")
    assert view.images.count() == 1
    view.images.setCurrentRow(0)
    preview = view.preview
    chosen = preview.highlighted_row()
    assert chosen is not None and chosen["outcome"] == "fp" and chosen["box"] == [10, 12, 30, 24]
    qtbot.wait(50)
    shot = preview.grab().toImage()
    rect = preview.row_rect(chosen)
    edge = shot.pixelColor(int(rect.center().x()), int(round(rect.top())))
    red = QColor(OUTCOME_COLORS["fp"])
    assert abs(edge.red() - red.red()) < 40 and abs(edge.green() - red.green()) < 40, edge.name()

    others = [n for n, r in enumerate(preview.rows) if r is not chosen]
    if others:  # picking another row of the table highlights it instead
        view.predictions.setCurrentCell(others[0], 0)
        assert preview.highlighted == preview.rows[others[0]]["id"]


def test_a_long_gallery_asks_for_thumbnails_as_tiles_come_into_view(qtbot, view: EvaluationDialog,  # noqa: ANN001
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cvops_app.pages import evaluation_views

    monkeypatch.setattr(evaluation_views, "REQUEST_AHEAD", 1)
    asked: list[int] = []
    request = view.images.loader.request
    monkeypatch.setattr(view.images.loader, "request", lambda record: (asked.append(record.id), request(record)))
    _choose(view, "fn")
    asked.clear()
    view.show_errors()  # the missed objects listed anew
    first = view.images.item(0).data(ID_ROLE)
    assert asked == [first]  # only the first tile so far
    qtbot.waitUntil(lambda: view.images.has_thumbnail(0), timeout=20_000)
    view.images.request_visible()  # what a scroll does
    shown = [view.images.item(n).data(ID_ROLE) for n in range(view.images.count())
             if view.images.visualItemRect(view.images.item(n)).intersects(view.images.viewport().rect())]
    assert len(shown) > 1 and set(asked) == set(shown) and asked.count(first) == 1  # a made one is not asked again
    qtbot.waitUntil(lambda: all(view.images.has_thumbnail(n) for n in range(len(shown))), timeout=20_000)


def _annotations(view: EvaluationDialog) -> list[tuple]:
    return view.ws.db.execute("SELECT * FROM annotations ORDER BY id").fetchall()


def _open(qtbot, view: EvaluationDialog, kind: str):  # noqa: ANN001, ANN202
    """Pick the first image of the ``kind`` list and double-click it: the annotator page, shown."""
    _choose(view, kind)
    view.images.setCurrentRow(0)
    window = view.parent()
    view.images.itemActivated.emit(view.images.item(0))
    page = window.pages["annotate"]
    assert window.stack.currentWidget() is page
    qtbot.waitUntil(page.settled, timeout=10_000)
    return window, page


def test_opening_a_false_positive_shows_the_prediction_over_the_annotator(qtbot,  # noqa: ANN001
                                                                          view: EvaluationDialog) -> None:
    image_id = error_images(view.ws, view.result.id, "fp")[0].image_id
    label = view.ws.annotations.add_box(image_id, view.ws.classes.list()[0].id, (10, 36, 40, 30))  # under the FP
    before = _annotations(view)
    window, page = _open(qtbot, view, "fp")
    reviewer, canvas = page.predictions, page.canvas
    assert view.images.item(0).data(ID_ROLE) == image_id
    assert page.image is not None and page.image.id == image_id
    focus = reviewer.layer.focus_row()
    assert focus is not None and focus["outcome"] == "fp" and focus["box"] == [10, 12, 30, 24]
    assert reviewer.layer.rect(focus) == QRectF(10, 12, 30, 24) and reviewer.layer.isVisible()
    assert {r["id"] for r in reviewer.layer.rows} == {r["id"] for r in view.preview.rows}  # every prediction
    name = view.names[focus["class_id"]]
    assert reviewer.bar.isVisibleTo(page)
    assert f"False positive: '{name}' 0.90, no matching label" in reviewer.bar.text.text()
    # the view zooms onto the error: all of it in sight, larger than when the image is fitted
    assert canvas.zoom() > canvas.fit_zoom()
    seen = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    assert seen.contains(QRectF(10, 12, 30, 24))
    shot = canvas.viewport().grab().toImage()
    top = canvas.mapFromScene(QPointF(25, 12))
    edge = shot.pixelColor(top.x(), top.y())
    red = QColor(OUTCOME_COLORS["fp"])
    assert abs(edge.red() - red.red()) < 50 and abs(edge.green() - red.green()) < 50, edge.name()
    assert reviewer.layer.label_rects  # its class and confidence, drawn
    labels = list(canvas.shape_layer.label_rects)  # the manual labels' tabs: the overlay's keep clear of them
    corner = canvas.mapFromScene(QPointF(10, 36))
    assert any(r.contains(QPointF(corner.x() + 2, corner.y() + 2)) for r in labels)  # where the FP's tab would go
    tabs = reviewer.layer.label_rects
    for n, tab in enumerate(tabs):
        assert not any(tab.intersects(r) for r in labels + tabs[n + 1:]), (tab, labels, tabs)
    # the manual labels are not touched; none of the predictions is one of the image's shapes
    shapes = [a.id for a in view.ws.annotations.for_image(image_id) if a.kind != "tag"]
    assert sorted(canvas.model().index) == sorted(shapes) and label in shapes
    # the toggle hides the overlay, and shows it again
    reviewer.bar.toggle.click()
    assert not reviewer.layer.isVisible()
    hidden = canvas.viewport().grab().toImage().pixelColor(top.x(), top.y())
    assert abs(hidden.red() - red.red()) + abs(hidden.green() - red.green()) > 40, hidden.name()
    reviewer.bar.toggle.click()
    assert reviewer.layer.isVisible()
    # an image opened from elsewhere (the gallery) has no overlay
    other = next(i for i in view.ws.images.ids() if i != image_id)
    window.ctx.open_annotator(other)
    assert page.image.id == other and not reviewer.layer.isVisible() and not reviewer.bar.isVisibleTo(page)
    assert reviewer.layer.rows == [] and reviewer.review is None
    page.show_image(image_id, [image_id])  # nor the evaluation's image, when not opened from the evaluation
    assert reviewer.review is None and not reviewer.layer.isVisible()
    assert _annotations(view) == before  # nothing written


def test_opening_a_miss_highlights_the_missed_object(qtbot, view: EvaluationDialog) -> None:  # noqa: ANN001
    before = _annotations(view)
    _choose(view, "fn")
    view.images.setCurrentRow(0)
    wanted = view.preview.highlighted_row()
    assert wanted is not None
    window, page = _open(qtbot, view, "fn")
    reviewer = page.predictions
    focus = reviewer.layer.focus_row()
    assert focus is not None and focus["id"] == wanted["id"] and focus["outcome"] == "fn" and focus["class_id"] is None
    assert reviewer.layer.rect(focus) == QRectF(*wanted["box"])
    assert f"Missed: '{view.names[focus['gt_class_id']]}' not detected" in reviewer.bar.text.text()
    seen = page.canvas.mapToScene(page.canvas.viewport().rect()).boundingRect()
    assert seen.contains(reviewer.layer.rect(focus))
    listed = view.listed_ids()
    if len(listed) > 1:  # D walks the listed images, each with its own miss highlighted
        assert page.next_image()
        assert page.image.id == listed[1] and reviewer.shown is not None and reviewer.shown.image_id == listed[1]
        assert reviewer.layer.focus_row()["outcome"] == "fn" and reviewer.bar.isVisibleTo(page)
    assert _annotations(view) == before
