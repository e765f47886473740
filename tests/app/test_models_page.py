"""The Models page through the real main window: two models from tiny real runs (the session's shared trained
workspace: 40 demo images, 3 and 2 epochs at 96 px, CPU) are
listed with their lineage, Promote moves the champion's ★, and Evaluate… runs an evaluation in the background and
opens its view, where a confusion-matrix cell lists its images and double-clicking one opens the annotator; the Train
page compares the two runs."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.evaluation import EvaluationDialog
from cvops_app.pages.models import EvaluateDialog, ModelsPage
from cvops_app.pages.train import TrainPage
from training_testing import RUNS, open_window

WAIT_MS = 120_000


@pytest.fixture
def window(qtbot, tmp_path: Path, trained_workspace: Path,  # noqa: ANN001
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    """The main window on a copy of the trained workspace (models m1 and m2), on its Models page."""
    main = open_window(qtbot, tmp_path, trained_workspace, monkeypatch, "models")
    yield main
    main.jobs.cancel_all()
    main.jobs.wait(60_000)
    main.close()


def _page(window: MainWindow) -> ModelsPage:
    page = window.pages["models"]
    assert isinstance(page, ModelsPage)
    return page


def test_lists_models_with_lineage_and_promote_moves_the_star(window: MainWindow) -> None:
    page = _page(window)
    assert page.table.rowCount() == 2
    assert [page.table.item(r, 1).text() for r in range(2)] == ["m1", "m2"]
    assert page.champion_row() is None
    assert page.selected().name == "m2"  # the newest is selected
    details = page.details.toPlainText()
    m2 = page.selected()
    assert "v1" in details and m2.version_hash[:12] in details and m2.weights_sha256 in details
    assert "random initialisation" in details and "epochs" in details
    assert page.table.item(1, 7).text() == m2.weights_sha256[:12]

    page.table.selectRow(0)
    assert page.promote_button.isEnabled()
    page.promote_button.click()
    assert page.champion_row() == 0 and page.table.item(0, 0).text() == "★"
    assert not page.promote_button.isEnabled()  # already the champion
    page.table.selectRow(1)
    page.promote_button.click()
    assert page.champion_row() == 1 and page.table.item(0, 0).text() == ""
    assert page.details.toPlainText().startswith("★ m2")


def test_evaluate_then_confusion_cell_lists_images(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page = _page(window)
    page.table.selectRow(0)
    dialog = page.evaluate_selected()
    assert isinstance(dialog, EvaluateDialog)
    assert dialog.values() == (page.selected().version_id, "val")
    dialog.accept()
    qtbot.waitUntil(lambda: isinstance(page.evaluation_dialog, EvaluationDialog), timeout=WAIT_MS)
    view = page.evaluation_dialog
    assert "mAP50" in view.summary.text()
    assert view.per_class.rowCount() >= 1
    assert page.evaluations.count() == 1

    # the tiny model misses objects: the background row has counts; clicking such a cell lists its images
    table = view.confusion
    last = table.rowCount() - 1
    column = next(c for c in range(table.columnCount()) if table.item(last, c).text())
    table.cellClicked.emit(last, column)
    ids = view.listed_ids()
    assert ids and int(table.item(last, column).text()) >= 1
    view.images.setCurrentRow(0)
    assert view.predictions.rowCount() >= 1
    assert {view.predictions.item(r, 0).text() for r in range(view.predictions.rowCount())} & {"fn", "wrong_class"}

    view.errors_kind.setCurrentIndex(view.errors_kind.findData("fn"))
    assert set(view.listed_ids()) >= set(ids)
    view.images.itemActivated.emit(view.images.item(0))
    annotate = window.pages["annotate"]
    assert window.stack.currentWidget() is annotate
    assert annotate.sequence[annotate.position] == view.listed_ids()[0]
    view.close()


def test_compare_two_runs_from_the_train_page(window: MainWindow) -> None:
    window.show_page("train")
    page = window.pages["train"]
    assert isinstance(page, TrainPage)
    assert [r["state"] for r in page.runs] == ["finished", "finished"]
    assert not page.compare_button.isEnabled()  # one run selected
    page.table.selectAll()
    assert page.compare_button.isEnabled()
    page.compare_button.click()
    dialog = page.compare_dialog
    assert dialog.run_ids == [1, 2]  # oldest first: deltas are against run 1
    assert "epochs" in dialog.differing_keys()
    row = dialog.differing_keys().index("epochs")
    epochs = [e for e, _ in RUNS]
    assert [dialog.settings_table.item(row, c).text() for c in (1, 2)] == [str(e) for e in epochs]
    for chart in dialog.charts:
        assert len(chart.curves) == 2 and sorted(len(c.getData()[0]) for c in chart.curves.values()) == sorted(epochs)
    assert dialog.bars.getPlotItem().legend is not None
    bars = [i for i in dialog.bars.getPlotItem().items if i.__class__.__name__ == "BarGraphItem"]
    assert len(bars) == 2  # one group member per run
    dialog.close()


def test_models_below_the_quality_floor_are_marked(window: MainWindow) -> None:
    """The shared tiny models score 0 at training: the mAP50-95 cell says they are below the export gate's floor."""
    from cvops_app.pages.models import MAP50_95_COLUMN

    from cvops.models.registry import QUALITY_FLOOR

    page = _page(window)
    for row, model in enumerate(page.models):
        assert model.map50_95 is not None and model.below_floor is (model.map50_95 < QUALITY_FLOOR)
        cell = page.table.item(row, MAP50_95_COLUMN)
        assert ("below floor" in cell.text()) is model.below_floor
        assert (str(QUALITY_FLOOR) in cell.toolTip()) is model.below_floor
    assert any(m.below_floor for m in page.models)
