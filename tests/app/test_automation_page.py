"""The Automation page through the real main window, on a copy of the session's trained workspace (models m1, m2 on
v1) with pipelines that train nothing (version, evaluate, gate, promote): the graph of steps coloured by their state
in the selected run, the run history with each gate verdict, the rejected run's criteria and per-class AP deltas on
the bar chart, the champion's timeline, a bad file's error naming the key, Run now, and the watch status line. And
the Train page lists a run that another job (a pipeline's train step) recorded while it is shown."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from cvops.common.jobs import CancelToken
from cvops.data.workspace import Workspace
from cvops.pipelines.runner import history, run_pipeline
from cvops.pipelines.watch import DriftAlarm, NewImages, WatchStatus, watch
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.automation import AutomationPage, watch_line
from cvops_app.pages.train import TrainPage
from cvops_app.pipeline_graph import STATE_COLORS
from training_testing import open_window

WAIT_MS = 60_000
PIPELINE = """\
name: compare
steps:
  - version: {split: 80/10/10, seed: 0}
  - evaluate: {model: MODEL, split: val}
  - gate: {floor: 0.0, min_gain: MIN_GAIN}
  - promote:
"""


def write_pipeline(root: Path, model: str, min_gain: float = 0.0, name: str = "pipeline.yaml") -> Path:
    path = root / name
    path.write_text(PIPELINE.replace("MODEL", model).replace("MIN_GAIN", str(min_gain)))
    return path


@pytest.fixture
def window(qtbot, tmp_path: Path, trained_workspace: Path,  # noqa: ANN001
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    """The main window on a copy of the trained workspace, on its Automation page."""
    main = open_window(qtbot, tmp_path, trained_workspace, monkeypatch, "automation")
    yield main
    main.jobs.cancel_all()
    main.jobs.wait(60_000)
    main.close()


def _page(window: MainWindow) -> AutomationPage:
    page = window.pages["automation"]
    assert isinstance(page, AutomationPage)
    return page


def _three_runs(root: Path) -> list:
    """m1 promoted (no champion yet), the same again (all cached), then m2 rejected by min_gain 0.5."""
    with Workspace.open(root) as ws:
        path = write_pipeline(root, "m1")
        reports = [run_pipeline(ws, path), run_pipeline(ws, path)]
        write_pipeline(root, "m2", min_gain=0.5)
        reports.append(run_pipeline(ws, path))
    assert [r.state for r in reports] == ["done"] * 3, [r.error for r in reports]
    return reports


def test_graph_history_and_the_gate_decision(window: MainWindow) -> None:
    page = _page(window)
    root = window.ws.root
    assert page.table.rowCount() == 0 and "No runs yet" in page.reason.text()
    assert "No pipeline file at" in page.error.text() and "cvops pipeline init" in page.error.text()
    assert not page.graph.isVisibleTo(page) and not page.run_button.isEnabled()
    assert "No watch running" in page.watch.text() and "cvops pipeline watch pipeline.yaml" in page.watch.text()
    first, second, rejected = _three_runs(root)
    page.reload()

    # the history: newest first, with the step counts and the gate verdicts
    assert page.table.rowCount() == 3
    rows = [[page.table.item(r, c).text() for c in range(page.table.columnCount())] for r in range(3)]
    assert [r[0] for r in rows] == [str(rejected.id), str(second.id), str(first.id)]
    assert [r[6] for r in rows] == ["kept the champion", "promoted", "promoted"]
    assert rows[1][5] == "4 cached" and rows[2][5] == "4 done"
    assert rows[0][5] == "2 done · 1 cached · 1 skipped"  # version cached, evaluate and gate ran, promote skipped
    assert all(r[2] == "manual" and r[3] == "done" for r in rows)

    # the newest (rejected) run is selected: its steps on the graph, coloured by state
    graph = page.graph
    assert [n.step.kind for n in graph.nodes] == ["version", "evaluate", "gate", "promote"]
    assert [n.step.state for n in graph.nodes] == ["cached", "done", "done", "skipped"]
    assert [n.fill for n in graph.nodes] == [STATE_COLORS[s][0] for s in ("cached", "done", "done", "skipped")]
    assert graph.nodes[1].label().startswith("evaluate\ndone · ") and graph.nodes[3].label() == "promote\nskipped"

    # the gate's decision and why: the reason, every criterion with both values, per-class deltas as bars
    decision = rejected.decision
    assert "Kept the champion" in page.reason.text() and "min_gain" in page.reason.text()
    criteria = {page.criteria.item(r, 0).text(): [page.criteria.item(r, c).text() for c in range(1, 5)]
                for r in range(page.criteria.rowCount())}
    assert set(criteria) == {c["name"] for c in decision["criteria"]}
    gain = next(c for c in decision["criteria"] if c["name"] == "min_gain")
    assert criteria["min_gain"] == [f"{gain['challenger']:.4f}", f"{gain['champion']:.4f}", "0.5", "FAIL"]
    assert criteria["floor"][3] == "pass"
    gate = next(s for s in rejected.steps if s.kind == "gate")
    theirs = {c["name"]: c["ap"] for c in gate.inputs["champion"]["per_class"]}
    expected = [c["ap"] - theirs[c["name"]] for c in gate.inputs["challenger"]["per_class"]]
    assert page.bars is not None and page.bars_plot.isVisible()
    assert list(page.bars.opts["height"]) == pytest.approx(expected, abs=1e-6)
    assert len(expected) == len(gate.inputs["challenger"]["per_class"]) >= 2
    ticks = [name for _, name in page.bars_plot.getAxis("bottom")._tickLevels[0]]
    assert ticks == [c["name"] for c in gate.inputs["challenger"]["per_class"]]

    # clicking a step shows its log, inputs hash and outputs
    center = graph.mapFromScene(graph.nodes[1].sceneBoundingRect().center())
    QTest.mouseClick(graph.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert graph.selected == 1
    text = page.details.toPlainText()
    evaluate = rejected.steps[1]
    assert text.startswith("step 1: evaluate — done") and evaluate.input_hash in text
    assert "challenger m2 on" in text and '"evaluation"' in text
    page.show_step(3)
    assert "the gate kept the champion" in page.details.toPlainText()

    # an earlier run: all cached, promoted, no per-class bars (no champion to compare with in run 1)
    page.table.selectRow(1)
    assert [n.step.state for n in graph.nodes] == ["cached"] * 4
    assert "Promoted" in page.reason.text()
    page.table.selectRow(2)
    assert [n.step.state for n in graph.nodes] == ["done"] * 4 and page.bars is None
    assert not page.bars_plot.isVisibleTo(page)

    # the champion's timeline: m1, promoted by the first run, still serving
    assert page.champions.rowCount() == 1
    assert page.champions.item(0, 0).text().startswith("m1")
    assert page.champions.item(0, 2).text() == "now" and page.champions.item(0, 3).text() == f"pipeline run {first.id}"


def test_the_graph_wraps_when_the_steps_do_not_fit(window: MainWindow) -> None:
    from cvops.pipelines.spec import write_default

    page = _page(window)
    page.set_path(write_default(window.ws.root / "full.yaml"))
    assert len(page.graph.nodes) == 11 and {n.step.state for n in page.graph.nodes} == {"pending"}
    assert page.graph.nodes[0].label() == "ingest\nnot run"
    assert page.file.currentText() == "full.yaml"
    page.graph.resize(700, 176)
    page.graph._layout()
    rows = {n.pos().y() for n in page.graph.nodes}
    assert len(rows) >= 3 and page.graph.per_row() < 11  # wrapped onto more rows


def test_a_bad_file_shows_its_error_and_run_now_adds_a_run(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page = _page(window)
    root = window.ws.root
    bad = root / "bad.yaml"
    bad.write_text("steps:\n  - version:\n  - train: {epochs: ten}\n")
    page.open_file(str(bad))
    assert page.error.isVisibleTo(page) and not page.graph.isVisibleTo(page)
    assert "steps[1].train.epochs" in page.error.text() and "bad.yaml" in page.error.text()
    assert not page.run_button.isEnabled() and page.run_now() is None

    path = write_pipeline(root, "m1")
    page.set_path(path)
    assert not page.error.isVisibleTo(page) and page.graph.isVisibleTo(page) and page.run_button.isEnabled()
    changes: list[set[str]] = []
    window.ctx.data_changed.connect(changes.append)
    page.run_button.click()
    assert page.job is not None and not page.run_button.isEnabled() and page.cancel_button.isEnabled()
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert changes == [{"models", "runs", "evaluations"}]  # no ingest step: the live data did not change
    assert page.table.rowCount() == 1
    assert [page.table.item(0, c).text() for c in (2, 3, 6)] == ["gui", "done", "promoted"]
    assert [n.step.state for n in page.graph.nodes] == ["done"] * 4
    assert page.champions.rowCount() == 1 and page.champions.item(0, 0).text().startswith("m1")
    assert "pipeline run 1 done" in window.statusBar().currentMessage()
    assert [r.trigger for r in history(window.ws, path)] == ["gui"]
    assert page.run_button.isEnabled() and not page.cancel_button.isEnabled()
    assert page.file.findData(str(bad)) >= 0 and page.file.findData(str(path)) >= 0


def test_cancel_records_a_cancelled_run_and_the_next_run_resumes(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page = _page(window)
    page.set_path(write_pipeline(window.ws.root, "m1"))
    job = page.run_now()
    assert job is not None and page.run_now() is None  # one run at a time
    page.cancel_button.click()
    assert job.cancel.cancelled
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert [page.table.item(0, c).text() for c in (0, 3)] == ["1", "cancelled"]
    assert page.graph.nodes[0].step.state == "cancelled" and page.graph.nodes[1].step.state == "pending"
    assert page.details.toPlainText().startswith("step 0: version — cancelled")  # the stopped step is shown
    page.run_button.click()
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert page.table.rowCount() == 2 and page.table.item(0, 3).text() == "done"
    assert [n.step.state for n in page.graph.nodes] == ["done"] * 4


def test_the_watch_status_line() -> None:
    assert "No watch running" in watch_line(None, "pipeline.yaml")
    now = time.time()
    year, month, day = time.localtime(now)[:3]
    noon, later = (time.mktime((year, month, day + n, 12, 0, 0, 0, 0, -1)) for n in (0, 2))  # mktime normalises
    status = WatchStatus(pid=1234, alive=True, path="/ws/pipeline.yaml",
                         triggers=["100 new images", "every 1h", "drift alarm"], started_at=now - 60,
                         last_check_at=now, new_images=37, next_run_at=noon)
    line = watch_line(status, "pipeline.yaml")
    assert "37/100 new images · every 1h (next 12:00)" in line  # today: the hour alone
    status.next_run_at = later  # another day: with its date
    assert f"(next {time.strftime('%m-%d', time.localtime(later))} 12:00)" in watch_line(status, "pipeline.yaml")
    assert "· drift alarm — pid 1234" in line and line.startswith("<b>Watching</b>")
    status.state, status.last_trigger, status.last_run_id = "running", "drift alarm from monitor: x", 7
    assert "running the pipeline now</b> (drift alarm from monitor: x)" in watch_line(status, "pipeline.yaml")
    status.alive = False
    assert "stopped (pid 1234 ended" in watch_line(status, "pipeline.yaml")


def test_a_live_watch_shows_on_the_page(window: MainWindow) -> None:
    page = _page(window)
    path = write_pipeline(window.ws.root, "m1")
    page.set_path(path)
    assert "No watch running" in page.watch.text()
    cancel = CancelToken()
    with Workspace.open(window.ws.root) as other:  # the watch's own handle, as `cvops pipeline watch` has
        thread = threading.Thread(target=lambda: watch(other, path, [NewImages(50), DriftAlarm()], poll_s=30,
                                                       cancel=cancel))
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while "Watching" not in page.watch.text() and time.monotonic() < deadline:
                page._tick()
                time.sleep(0.05)
            assert "<b>Watching</b>: 0/50 new images · drift alarm — pid " + str(os.getpid()) == page.watch.text()
        finally:
            cancel.cancel()
            thread.join(30)
    page._tick()
    assert page.watch.text().startswith(f"Watch stopped (pid {os.getpid()} ended")
    assert page.run_button.isEnabled()


def test_the_train_page_lists_a_run_another_job_recorded(window: MainWindow) -> None:
    """A pipeline's train step records its run from its own job: the shown Train page picks it up on its refresh
    and follows its curves."""
    window.show_page("train")
    page = window.pages["train"]
    assert isinstance(page, TrainPage)
    before = [r["run_id"] for r in page.runs]
    with Workspace.open(window.ws.root) as other:  # another handle, as the pipeline's job has
        with other.db.conn:
            cur = other.db.execute(
                "INSERT INTO runs (version_id, version_hash, state, preset, model, params, seed, device, task, "
                "started_at) SELECT version_id, version_hash, 'running', preset, model, params, seed, device, task, ? "
                "FROM runs WHERE id = ?", [time.time(), before[0]])
            run_id = int(cur.lastrowid)
            other.db.execute("INSERT INTO run_epochs (run_id, epoch, metrics) VALUES (?, 1, ?)",
                             [run_id, json.dumps({"metrics/mAP50(B)": 0.1, "train/box_loss": 2.0})])
    page._tick()
    assert [r["run_id"] for r in page.runs] == [run_id] + before
    assert page.selected_run() == run_id and page.shown_run["state"] == "running"
    assert page.charts.charts[0].points() == 1  # its loss curve so far
