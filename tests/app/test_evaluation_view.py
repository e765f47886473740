"""The evaluation view's error galleries and preview (issue 16): an evaluation of m1 (the session's trained
workspace, evaluated once here) lists its missed objects and false positives as thumbnails with file names, and the
chosen image is drawn with the model's predictions and the error highlighted, not only its manual labels."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
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
