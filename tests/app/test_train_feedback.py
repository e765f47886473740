"""The Train page's feedback without training anew (issue 16): a running run recorded in a copy of the session's
trained workspace, with the batch progress the supervisor stores, shows "epoch 1/20 · batch 19/21 · ETA" over a bar
that moves per batch; one epoch draws visible points on integer epoch ticks; without versions the page leads to the
Versions page; at the default 941×666 window nothing on the page is clipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from PySide6.QtCore import QRect, QRectF
from PySide6.QtWidgets import QLabel, QWidget

from cvops.catalog.db import transaction
from cvops.data.workspace import Workspace
from cvops_app.charts import LineChart
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.train import TrainPage
from cvops_app.pages.train_progress import STARTING
from training_testing import open_window

DEFAULT_SIZE = (941, 666)


@pytest.fixture
def window(qtbot, tmp_path: Path, trained_workspace: Path,  # noqa: ANN001
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    """The main window on a copy of the trained workspace, at the default size, on its Train page."""
    main = open_window(qtbot, tmp_path, trained_workspace, monkeypatch, "train")
    main.resize(*DEFAULT_SIZE)
    yield main
    main.close()


def _page(window: MainWindow) -> TrainPage:
    page = window.pages["train"]
    assert isinstance(page, TrainPage)
    return page


def _running_run(ws: Workspace, progress: Optional[dict[str, Any]], epochs: list[dict[str, Any]]) -> int:
    """A run recorded as running (no child process: the page only reads the catalog), with epoch rows."""
    version_id, content_hash = ws.db.execute("SELECT id, content_hash FROM versions WHERE name = 'v1'").fetchone()
    with transaction(ws.db):
        cur = ws.db.execute(
            "INSERT INTO runs (version_id, version_hash, state, preset, model, params, seed, device, run_dir, "
            "started_at, epochs_done, progress) VALUES (?, ?, 'running', 'fast', 'yolo11n.yaml', ?, 0, 'cpu', ?, "
            "strftime('%s','now'), ?, ?)",
            [version_id, content_hash, json.dumps({"epochs": 20}), str(ws.root / "runs" / "run-9999"), len(epochs),
             json.dumps(progress) if progress else None])
        run_id = int(cur.lastrowid or 0)
        for row in epochs:
            ws.db.execute("INSERT INTO run_epochs (run_id, epoch, metrics) VALUES (?, ?, ?)",
                          [run_id, row["epoch"], json.dumps({k: v for k, v in row.items() if k != "epoch"})])
    return run_id


def _set_progress(ws: Workspace, run_id: int, progress: dict[str, Any]) -> None:
    with transaction(ws.db):
        ws.db.execute("UPDATE runs SET progress = ? WHERE id = ?", [json.dumps(progress), run_id])


def _batch(batch: int, epoch: int = 1, eta: float = 180.0) -> dict[str, Any]:
    return {"epoch": epoch, "epochs": 20, "batch": batch, "batches": 21, "fraction": (epoch - 1 + batch / 21) / 20,
            "eta_s": eta, "at": 0}


def test_progress_per_batch_with_an_eta_before_the_first_epoch_ends(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page, ws = _page(window), window.ctx.ws
    assert ws is not None
    run_id = _running_run(ws, None, [])
    page.reload(select=run_id)
    assert page.progress.isVisible() and page.progress.label.text() == STARTING
    assert page.progress.bar.maximum() == 0  # busy: the child loads the model and the dataset
    assert "epoch 1/20" in page.header.text() and "epoch 0/" not in page.header.text()

    _set_progress(ws, run_id, _batch(19))
    page._tick()
    assert page.progress.label.text() == "epoch 1/20 · batch 19/21 · ETA ≈ 3 min 00 s"
    assert (page.progress.bar.value(), page.progress.bar.maximum()) == (19, 20 * 21)
    assert "epoch 1/20" in page.header.text()
    _set_progress(ws, run_id, _batch(20, eta=170.0))
    page._tick()
    assert page.progress.bar.value() == 20  # one step per batch
    assert "batch 20/21" in page.progress.label.text() and "2 min 50 s" in page.progress.label.text()

    with transaction(ws.db):
        ws.db.execute("UPDATE runs SET state = 'cancelled' WHERE id = ?", [run_id])
    page._tick()
    assert not page.progress.isVisible()  # only a running run shows progress


def test_one_epoch_draws_points_on_integer_ticks(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page, ws = _page(window), window.ctx.ws
    assert ws is not None
    first = {"epoch": 1, "train/box_loss": 3.2, "train/cls_loss": 4.1, "metrics/mAP50(B)": 0.12,
             "metrics/mAP50-95(B)": 0.05, "metrics/precision(B)": 0.3, "metrics/recall(B)": 0.2}
    run_id = _running_run(ws, _batch(3, epoch=2), [first])
    page.reload(select=run_id)
    qtbot.waitUntil(lambda: all(chart.points() == 1 for chart in page.charts.charts), timeout=5000)
    for chart in page.charts.charts:
        curve = next(c for c in chart.curves.values() if len(c.getData()[0] or []) == 1)
        assert curve.opts["symbol"] == "o" and curve.opts["symbolSize"] >= 4  # a lone point is drawn as a dot
        axis = chart.getAxis("bottom")
        low, high = chart.getViewBox().viewRange()[0]
        ticks = [v for _, values in axis.tickValues(low, high, axis.width()) for v in values]
        assert ticks and all(float(v).is_integer() for v in ticks), ticks


def test_without_versions_the_page_leads_to_the_versions_page(qtbot, tmp_path: Path,  # noqa: ANN001
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from cvops.data.workspace import Workspace as Ws

    monkeypatch.setenv("CVOPS_CONFIG_DIR", str(tmp_path / "config"))
    Ws.create(tmp_path / "empty").close()
    main = MainWindow(settings_path=tmp_path / "config" / "settings.yaml")
    qtbot.addWidget(main)
    main.resize(*DEFAULT_SIZE)
    main.show()
    assert main.load_workspace(tmp_path / "empty")
    main.show_page("train")
    page = _page(main)
    assert page.no_versions.isVisible() and "Create a version first" in page.no_versions.findChild(QLabel).text()
    assert not page.settings.train_button.isEnabled()
    assert "create a version first" in page.header.text()
    note = page.no_versions.findChild(QLabel)
    assert _inside(page.no_versions, page) and _label_fits(note)  # whole, at the default window size
    page.no_versions.button.click()
    assert main.stack.currentWidget() is main.pages["versions"]
    main.close()


def _inside(widget: QWidget, page: QWidget) -> bool:
    top_left = widget.mapTo(page, widget.rect().topLeft())
    return page.rect().contains(QRect(top_left, widget.size()))


def _label_fits(label: QLabel) -> bool:
    if label.wordWrap():
        return label.heightForWidth(label.width()) <= label.height()
    return label.sizeHint().width() <= label.width() and label.sizeHint().height() <= label.height()


def _chart_items_fit(chart: LineChart) -> bool:
    """The chart's title and legend lie within the chart's view."""
    view = QRectF(chart.viewport().rect())
    title = chart.plotItem.titleLabel.item
    items = [title] + ([chart.legend] if chart.legend.items else [])
    return all(view.contains(chart.mapFromScene(item.sceneBoundingRect()).boundingRect()) for item in items)


def test_nothing_is_clipped_at_the_default_window_size(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page, ws = _page(window), window.ctx.ws
    assert ws is not None
    run_id = _running_run(ws, _batch(19), [{"epoch": 1, "train/box_loss": 3.2, "metrics/precision(B)": 0.3}])
    page.reload(select=run_id)
    qtbot.wait(100)  # the staggered chart updates and the layout settle
    assert window.size().toTuple() == DEFAULT_SIZE
    labels = [page.header, page.details, page.progress.label, page.findChild(QLabel, "history-label"),
              page.settings.preset_notes]
    for label in labels:
        assert label.isVisible() and _inside(label, page) and _label_fits(label), label.text()
    for widget in [page.progress.bar, page.cancel_button, page.resume_button, page.compare_button,
                   page.settings.train_button, page.settings.advanced, *page.charts.charts]:
        assert _inside(widget, page), widget.objectName()
    for chart in page.charts.charts:
        assert chart.width() >= 200 and chart.height() >= 140, (chart.width(), chart.height())
        assert _chart_items_fit(chart), chart.plotItem.titleLabel.text
    settings = page.settings
    assert settings.advanced.sizeHint().width() <= settings.advanced.width()
