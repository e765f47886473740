"""The Tune page through the real main window, without training: studies are run through the core with a fake trial
executor (made-up epoch values; every trial "trains" as the trained workspace's first finished run, so its best
trial registers that run's model). The trials table and the three charts show every trial; the Ray choice greys
without Ray and, when chosen, hands its address to the executor; a study started from the page runs as a job, Stop
leaves it resumable and Resume finishes it; Register and Train with the best parameters go through the core; nothing
is clipped at 1280x720."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from cvops import Workspace
from cvops.common.jobs import CancelToken
from cvops.tuning import TrialOutcome, list_studies, run_study, show_study
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.train import TrainPage
from cvops_app.pages.tune import TRIAL_COLORS, TunePage
from cvops_app.pages.tune_charts import axis_position
from cvops_app.pages.tune_form import RAY_MISSING, NewStudyForm

SPACE = {"params": {"lr0": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
                    "mosaic": {"type": "float", "low": 0.0, "high": 1.0},
                    "imgsz": {"type": "categorical", "choices": [96, 128, 160]}, "optimizer": "SGD"}}


class FakeExecutor:
    """Epoch values from ``value(params, epoch)``, pruning and cancel honoured; trial numbers in ``fail`` fail. Each
    trial's run is ``run_id`` (a finished run of the workspace)."""

    def __init__(self, run_id: int, value: Callable[[dict[str, Any], int], float], fail: tuple[int, ...] = (),
                 sleep_s: float = 0.0) -> None:
        self.run_id, self.value, self.fail, self.sleep_s = run_id, value, fail, sleep_s
        self.calls: list[int] = []

    def run(self, ws: Workspace, options: dict[str, Any], on_epoch: Any, *, on_start: Any = None,
            progress: Any = None, cancel: Optional[CancelToken] = None) -> TrialOutcome:
        number = options["tuning"]["trial"]
        self.calls.append(number)
        values: list[Optional[float]] = []
        if number in self.fail:  # e.g. out of memory at the start
            return TrialOutcome("failed", self.run_id, None, 0, values, "CUDA out of memory")
        for epoch in range(1, options["epochs"] + 1):
            time.sleep(self.sleep_s)
            if cancel is not None and cancel.cancelled:
                return TrialOutcome("cancelled", self.run_id, None, epoch - 1, values)
            values.append(self.value({**options["hyperparameters"], "imgsz": options["imgsz"]}, epoch))
            if on_epoch(epoch, values[-1]):
                return TrialOutcome("pruned", self.run_id, None, epoch, values)
        return TrialOutcome("finished", self.run_id, values[-1], len(values), values)


def _value(params: dict[str, Any], epoch: int) -> float:
    return params["lr0"] * 5 * epoch + params["mosaic"] * 0.05 + params["imgsz"] / 10_000


@pytest.fixture
def window(qtbot, trained_workspace_copy: Path, tmp_path: Path,  # noqa: ANN001
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("CVOPS_CONFIG_DIR", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    failures: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: failures.append(str(args[-1])))
    main = MainWindow(settings_path=tmp_path / "config" / "settings.yaml")
    qtbot.addWidget(main)
    main.resize(1280, 720)
    main.show()
    assert main.load_workspace(trained_workspace_copy)
    main.failures = failures  # type: ignore[attr-defined]
    yield main
    main.jobs.cancel_all()
    main.jobs.wait(30_000)
    main.close()


def _run_id(ws: Workspace) -> int:
    return int(ws.db.execute("SELECT MIN(id) FROM runs WHERE state = 'finished'").fetchone()[0])


def _page(window: MainWindow) -> TunePage:
    window.show_page("tune")
    page = window.pages["tune"]
    assert isinstance(page, TunePage)
    return page


def test_the_trials_table_and_the_charts_show_every_trial(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    ws = window.ws
    fake = FakeExecutor(_run_id(ws), _value, fail=(5,))
    study = run_study(ws, "v1", 8, space=SPACE, metric="map50", pruner="median", epochs=4, seed=3,
                      executor=fake, study="mixed", register=False)
    one = run_study(ws, "v1", 1, space=SPACE, metric="map50", epochs=2, executor=fake, study="one", register=False)
    counts = study["counts"]
    assert counts["complete"] >= 2 and counts["pruned"] >= 1 and counts["fail"] == 1  # every state is shown
    page = _page(window)
    page.reload(select="mixed")
    assert [page.studies_table.item(r, 0).text() for r in range(page.studies_table.rowCount())] == ["one", "mixed"]
    table = page.trials_table
    assert table.rowCount() == len(study["trials"])
    for row, trial in enumerate(reversed(study["trials"])):
        state = table.item(row, 1)
        assert table.item(row, 0).text() == str(trial["number"])
        assert state.text() == {"fail": "failed"}.get(trial["state"], trial["state"])
        assert state.foreground().color().name() == TRIAL_COLORS[trial["state"]]
        assert table.item(row, 2).text() == (f"{trial['value']:.4f}" if trial["value"] is not None else "—")
        assert f"lr0={trial['params']['lr0']:.3g}" in table.item(row, 5).text()
    assert "CUDA out of memory" in table.item(len(study["trials"]) - 1 - 5, 5).toolTip()
    assert page.history.counts() == {"complete": counts["complete"], "pruned": counts["pruned"],
                                     "best": counts["complete"]}
    assert page.importance.bar_count() == len(study["importances"]) == 3
    assert page.parallel.line_count() == counts["complete"] + counts["pruned"]
    assert page.parallel.axes == ["lr0", "mosaic", "imgsz", "value"]  # the searched parameters, not the fixed one
    best = max(t["value"] for t in study["trials"] if t["state"] == "complete")
    assert f"{best:.4f}" in page.header.text() and "mixed" in page.header.text()
    page.reload(select="one")
    assert one["counts"]["complete"] == 1 and page.importance.bar_count() == 0
    assert "needs 2 complete trials" in page.importance.placeholder.toPlainText()
    assert page.history.counts() == {"complete": 1, "pruned": 0, "best": 1} and page.parallel.line_count() == 1
    window.set_theme("dark")  # the texts drawn in the palette's colours follow the theme
    QApplication.processEvents()
    try:
        assert page.parallel.decor[-1].color.lightness() > 180 and page.parallel.line_count() == 1
        assert page.importance.placeholder.color.lightness() > 180
    finally:
        window.set_theme("system")


def test_parallel_axes_put_log_parameters_in_log_space_and_choices_evenly() -> None:
    assert axis_position({"type": "float", "low": 0.001, "high": 0.1, "log": True}, 0.01) == pytest.approx(0.5)
    assert axis_position({"type": "float", "low": 0.0, "high": 1.0}, 0.25) == pytest.approx(0.25)
    choices = {"type": "categorical", "choices": ["yolo11n.yaml", "yolo11s.yaml", "yolo11m.yaml"]}
    assert [axis_position(choices, c) for c in choices["choices"]] == [0.0, 0.5, 1.0]
    assert axis_position(choices, "other") is None


def test_the_ray_choice_greys_without_ray_and_passes_its_address(window: MainWindow, qtbot,  # noqa: ANN001
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    form = NewStudyForm()
    qtbot.addWidget(form)
    assert not form.ray.isEnabled() and form.local.isChecked() and form.ray_hint.text() == RAY_MISSING
    assert form.ray_address() is None

    # Ray installed and the scale-out core there: the address reaches the executor and the study's connection
    used: dict[str, Any] = {}
    fake = FakeExecutor(_run_id(window.ws), _value)

    class RayExecutor:
        def __init__(self, address: str, base: Any, gpus: float = 0) -> None:
            used.update(address=address, gpus=gpus, base=type(base).__name__)

        def run(self, *args: Any, **kwargs: Any) -> TrialOutcome:
            return fake.run(*args, **kwargs)

    class connect:  # noqa: N801 (the core's context manager)
        def __init__(self, address: str) -> None:
            used["connected"] = address

        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: Any) -> None:
            used["left"] = True

    monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))
    monkeypatch.setitem(sys.modules, "cvops.scaleout.training", types.SimpleNamespace(
        RayExecutor=RayExecutor, __spec__=types.SimpleNamespace(name="cvops.scaleout.training")))
    monkeypatch.setitem(sys.modules, "cvops.scaleout.cluster", types.SimpleNamespace(
        connect=connect, __spec__=types.SimpleNamespace(name="cvops.scaleout.cluster")))
    monkeypatch.setattr("cvops_app.pages.tune_form.ray_missing", lambda: None)
    page = _page(window)
    page.form.ray_problem = None
    page.form._update_ray()
    page.form.ray.setChecked(True)
    assert page.form.address.isEnabled()
    assert page.start() is None and "address" in page.form.error.text()  # no address yet: nothing starts
    page.form.address.setText("10.0.0.5:6379")
    page.form.gpus.setValue(1.0)
    page.form.trials.setValue(2)
    page.form.epochs.setValue(2)
    page.form.space.setText("")
    assert page.start() is not None
    qtbot.waitUntil(lambda: page.job is None, timeout=30_000)
    assert used == {"address": "10.0.0.5:6379", "gpus": 1.0, "base": "LocalExecutor", "connected": "10.0.0.5:6379",
                    "left": True}
    assert fake.calls == [0, 1] and list_studies(window.ws)[0]["state"] == "finished"


def test_a_study_started_here_stops_resumable_and_resumes(window: MainWindow, qtbot,  # noqa: ANN001
                                                          tmp_path: Path) -> None:
    page = _page(window)
    assert "No studies yet" in page.header.text() and page.form.start_button.isEnabled()
    space = tmp_path / "space.yaml"
    space.write_text("params:\n  lr0: {type: float, low: 0.001, high: 0.01, log: true}\n  mosaic: 0.0\n")
    slow = FakeExecutor(_run_id(window.ws), lambda p, e: p["lr0"] * e, sleep_s=0.1)
    page.make_executor = lambda address, gpus: slow
    form = page.form
    form.trials.setValue(4)
    form.epochs.setValue(3)
    form.pruner.setCurrentIndex(form.pruner.findData("none"))
    form.space.setText(str(space))
    name = form.name.placeholderText()
    assert name == "v1-tune-1"
    job = page.start()
    assert job is not None and not form.start_button.isEnabled() and page.stop_button.isEnabled()
    qtbot.waitUntil(lambda: page.trials_table.rowCount() >= 2, timeout=20_000)  # the table follows the study
    page.stop()
    qtbot.waitUntil(lambda: page.job is None, timeout=20_000)
    stopped = show_study(window.ws, name)
    assert stopped["state"] == "interrupted" and 1 <= stopped["finished"] < 4
    assert stopped["space"]["params"]["mosaic"] == 0.0  # the file's space
    assert page.selected_study() == name and page.resume_button.isEnabled()
    done_before = stopped["finished"]
    calls_before = len(slow.calls)
    slow.sleep_s = 0.0
    assert page.resume() is not None
    qtbot.waitUntil(lambda: page.job is None, timeout=20_000)
    resumed = show_study(window.ws, name)
    assert resumed["state"] == "finished" and resumed["finished"] == 4
    assert len(slow.calls) - calls_before == 4 - done_before  # finished trials were not repeated
    assert not page.resume_button.isEnabled() and resumed["best_model"] is not None  # the best trial registered
    assert window.failures == []  # type: ignore[attr-defined]


def test_register_and_train_with_the_best_parameters(window: MainWindow, qtbot,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from cvops.common.errors import ValidationError

    ws = window.ws
    space = {"params": {"lr0": {"type": "float", "low": 0.001, "high": 0.01}, "imgsz": {
        "type": "categorical", "choices": [96, 128]}, "mosaic": 0.0}}
    run_study(ws, "v1", 3, space=space, metric="map50", pruner="none", epochs=2, seed=0, study="best",
              executor=FakeExecutor(_run_id(ws), lambda p, e: p["lr0"]), register=False)
    messages: list[str] = []
    window.ctx.message.connect(lambda text, _: messages.append(text))
    page = _page(window)
    page.reload(select="best")
    assert page.register_button.isEnabled() and page.train_button.isEnabled()
    model = page.register()
    assert model is not None and show_study(ws, "best")["best_model"] == model["name"]
    assert messages[-1].startswith(f"registered model {model['name']} from trial")
    assert page.register()["name"] == model["name"] and "already registered" in messages[-1]

    best = show_study(ws, "best")["best"]
    options = page.train_with_best()
    train = window.pages["train"]
    assert isinstance(train, TrainPage) and window.stack.currentWidget() is train
    settings = train.settings
    assert options["version_ref"] == "v1" and settings.version.currentText() == "v1"
    assert settings.advanced.isChecked() and settings.epochs.value() == 2 and settings.imgsz.value() == best[
        "params"]["imgsz"]
    assert train.tuned["hyperparameters"] == {"lr0": best["params"]["lr0"], "mosaic": 0.0}
    assert train.tuned["tuning"] == {"study": "best", "trial": best["number"], "best": True}
    assert settings.tuned_note.isVisible() and "study best" in settings.tuned_note.text()
    started: list[dict[str, Any]] = []

    def start_run(ws: Workspace, version: Any, **kwargs: Any) -> int:  # Train pressed: what the run would get
        started.append(kwargs)
        raise ValidationError("not training in this test")

    monkeypatch.setattr("cvops_app.pages.train.start_run", start_run)
    assert train.train() is not None
    qtbot.waitUntil(lambda: train.job is None, timeout=10_000)
    assert started[0]["hyperparameters"] == train.tuned["hyperparameters"] and started[0]["epochs"] == 2
    assert started[0]["tuning"]["study"] == "best" and started[0]["imgsz"] == best["params"]["imgsz"]
    settings.clear_tuned.click()
    assert train.tuned == {} and not settings.tuned_note.isVisible()


def test_nothing_is_clipped_at_1280x720_with_a_study(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    from test_layout_fit import clipping_problems, settle

    run_study(window.ws, "v1", 5, space=SPACE, metric="map50", epochs=3, seed=1, study="shown",
              executor=FakeExecutor(_run_id(window.ws), _value), register=False)
    page = _page(window)
    page.reload(select="shown")
    settle(window)
    assert (window.width(), window.height()) == (1280, 720)
    assert clipping_problems(window) == []


def test_without_a_version_it_leads_to_the_versions_page(window: MainWindow, tmp_path: Path) -> None:
    assert window.load_workspace(tmp_path / "empty", create=True)
    page = _page(window)
    assert page.no_versions.isVisible() and not page.form.isVisible() and page.start() is None
    assert not any(b.isEnabled() for b in (page.resume_button, page.register_button, page.train_button))
    page.no_versions.button.click()
    assert window.stack.currentWidget() is window.pages["versions"]
