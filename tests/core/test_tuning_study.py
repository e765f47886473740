"""The study loop through the executor seam, without training: a fake executor reports made-up epoch values, so
pruning, Ctrl+C (the cancel token), failures, the timeout and resuming are checked in a second."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

from cvops import Workspace
from cvops.common.jobs import CancelToken
from cvops.tuning import TrialOutcome, list_studies, run_study, show_study

SPACE = {"params": {"lr0": {"type": "float", "low": 0.001, "high": 0.01}}}


class FakeExecutor:
    """Reports ``value(params, epoch)`` for each epoch, honouring pruning and cancel as the local executor does."""

    def __init__(self, value: Callable[[dict[str, Any], int], Optional[float]], fail: bool = False,
                 cancel_on: Optional[int] = None, sleep_s: float = 0.0) -> None:
        self.value, self.fail, self.cancel_on, self.sleep_s = value, fail, cancel_on, sleep_s
        self.calls: list[dict[str, Any]] = []

    def run(self, ws: Workspace, options: dict[str, Any], on_epoch: Any, *, on_start: Any = None,
            progress: Any = None, cancel: Optional[CancelToken] = None) -> TrialOutcome:
        self.calls.append(options)
        number = options["tuning"]["trial"]
        values: list[Optional[float]] = []
        for epoch in range(1, options["epochs"] + 1):
            time.sleep(self.sleep_s)
            if self.cancel_on == number and cancel is not None:
                cancel.cancel()  # the user's Ctrl+C during this trial
                return TrialOutcome("cancelled", None, None, epoch - 1, values)
            values.append(self.value(options["hyperparameters"], epoch))
            if on_epoch(epoch, values[-1]):
                return TrialOutcome("pruned", None, None, epoch, values)
        if self.fail:
            return TrialOutcome("failed", None, None, len(values), values, "CUDA out of memory")
        return TrialOutcome("finished", None, values[-1], len(values), values)


@pytest.fixture
def vws(tmp_path: Path) -> Iterator[Workspace]:
    from cvops.samples.demo import run_demo

    run_demo(tmp_path / "ws", count=12)
    with Workspace.open(tmp_path / "ws") as ws:
        yield ws


def test_the_median_pruner_stops_trials_below_the_median(vws: Workspace) -> None:
    fake = FakeExecutor(lambda p, epoch: p["lr0"] * epoch)
    result = run_study(vws, "v1", 8, space=SPACE, metric="map50", pruner="median", epochs=6, seed=1,
                       executor=fake, register=False)
    assert result["state"] == "finished" and result["finished"] == 8 and result["name"] == "v1-tune-1"
    pruned = [t for t in result["trials"] if t["state"] == "pruned"]
    assert pruned and all(t["epochs"] < 6 for t in pruned)
    assert result["epochs_saved"] == sum(6 - t["epochs"] for t in pruned) > 0
    assert result["best"]["params"]["lr0"] == max(t["params"]["lr0"] for t in result["trials"]
                                                  if t["state"] == "complete")
    assert fake.calls[0]["metric"] == "metrics/mAP50(B)" and fake.calls[0]["direction"] == "maximize"
    none = run_study(vws, "v1", 3, space=SPACE, metric="map50", pruner="none", epochs=6, seed=1,
                     executor=FakeExecutor(lambda p, epoch: p["lr0"] * epoch), register=False)
    assert none["name"] == "v1-tune-2" and none["counts"]["pruned"] == 0 and none["epochs_run"] == 18
    assert [s["name"] for s in list_studies(vws)] == ["v1-tune-2", "v1-tune-1"]
    hyperband = run_study(vws, "v1", 12, space=SPACE, metric="map50", pruner="hyperband", epochs=9, seed=1,
                          executor=FakeExecutor(lambda p, epoch: p["lr0"] * epoch), register=False)
    assert hyperband["pruner"] == "hyperband" and hyperband["counts"]["pruned"] > 0


def test_cancel_interrupts_and_the_study_resumes_to_its_total(vws: Workspace) -> None:
    token = CancelToken()
    first = run_study(vws, "v1", 4, space=SPACE, metric="val/box_loss", pruner="none", epochs=2, seed=0,
                      study="s", cancel=token, executor=FakeExecutor(lambda p, e: 1 / e, cancel_on=2),
                      register=False)
    assert first["state"] == "interrupted" and first["finished"] == 2 and first["direction"] == "minimize"
    assert first["trials"][2]["state"] == "fail" and first["trials"][2]["interrupted"]
    fake = FakeExecutor(lambda p, e: 1 / e)
    again = run_study(vws, "v1", 4, study="s", metric=None, pruner=None, executor=fake, register=False)
    assert again["state"] == "finished" and again["finished"] == 4 and len(fake.calls) == 2
    assert [c["tuning"]["trial"] for c in fake.calls] == [3, 4]  # trials 0 and 1 were not repeated
    same = run_study(vws, "v1", 4, study="s", metric="val/box_loss", space=SPACE, executor=fake, register=False)
    assert same["finished"] == 4 and len(fake.calls) == 2  # the same space is accepted; nothing left to run
    with pytest.raises(Exception, match="optimizes val/box_loss; a new metric needs a new study"):
        run_study(vws, "v1", 5, study="s", metric="map50", executor=fake)
    with pytest.raises(Exception, match="another search space"):
        run_study(vws, "v1", 5, study="s", metric=None, space={"params": {"lr0": 0.01, "mosaic": {
            "type": "float", "low": 0, "high": 1}}}, executor=fake)


def test_failing_trials_stop_the_study_and_a_timeout_stops_starting_trials(vws: Workspace) -> None:
    failing = run_study(vws, "v1", 10, space=SPACE, epochs=1, executor=FakeExecutor(lambda p, e: 0.5, fail=True),
                        register=False)
    assert failing["state"] == "failed" and failing["counts"]["fail"] == 3
    assert "3 trials failed in a row; the last: CUDA out of memory" in failing["error"]
    assert failing["trials"][0]["error"] == "CUDA out of memory"
    slow = FakeExecutor(lambda p, e: 0.5, sleep_s=0.3)
    timed = run_study(vws, "v1", 50, space=SPACE, epochs=1, timeout_s=0.5, executor=slow, register=False)
    assert timed["state"] == "timeout" and 1 <= timed["finished"] < 50
    shown = show_study(vws, timed["name"])
    assert shown["best"] is not None and shown["state"] == "timeout"
    if shown["finished"] == 1:
        assert shown["importances"] == {} and "at least 2 complete trials (1 so far)" in shown["importances_note"]
    else:
        assert set(shown["importances"]) == {"lr0"}


def test_a_trial_that_cannot_start_fails_the_study_with_its_error(vws: Workspace) -> None:
    from cvops.common.errors import ValidationError

    class Refusing(FakeExecutor):
        def run(self, ws: Workspace, options: dict[str, Any], on_epoch: Any, **kwargs: Any) -> TrialOutcome:
            raise ValidationError("version v1 has no training images")

    with pytest.raises(ValidationError, match="mask metric, but version v1 has boxes only"):
        run_study(vws, "v1", 2, space=SPACE, metric="map50_95_mask", executor=Refusing(lambda p, e: 0.0))
    with pytest.raises(ValidationError, match="no training images"):
        run_study(vws, "v1", 2, space=SPACE, epochs=1, study="broken", executor=Refusing(lambda p, e: 0.0))
    listed = {s["name"]: s for s in list_studies(vws)}
    assert listed["broken"]["state"] == "failed" and listed["broken"]["counts"]["fail"] == 1
    assert show_study(vws, "broken")["error"] == "ValidationError: version v1 has no training images"


def test_train_from_study_uses_the_best_parameters(vws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cvops train --from-study`` starts a run with the best trial's parameters, options given on the command line
    winning, and the run names the study (the child is not started, so the run then fails: exit code 1)."""
    import json

    from click.testing import CliRunner

    from cvops.cli import cli
    from cvops.training import runner

    space = {"params": {"lr0": {"type": "float", "low": 0.001, "high": 0.01}, "imgsz": {
        "type": "categorical", "choices": [96, 128]}, "mosaic": 0.0}}
    result = run_study(vws, "v1", 3, space=space, metric="map50", pruner="none", epochs=2, seed=0, study="best",
                       executor=FakeExecutor(lambda p, e: p["lr0"]), register=False)
    best = result["best"]["params"]
    spawned: list[dict] = []
    monkeypatch.setattr(runner, "_spawn", lambda ws, run_id, config: spawned.append(config))
    done = CliRunner().invoke(cli, ["train", "--from-study", "best", "--epochs", "7", "--device", "cpu", "-w",
                                    str(vws.root), "--json"])
    assert done.exit_code == 1, done.output  # no child ran
    config = spawned[-1]
    assert (config["epochs"], config["imgsz"], config["extra"]["lr0"], config["extra"]["mosaic"]) == (
        7, best["imgsz"], best["lr0"], 0.0)
    params = json.loads(vws.db.execute("SELECT params FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])
    assert params["tuning"] == {"study": "best", "trial": result["best"]["number"], "best": True}
    import inspect

    from cvops.training import start_run, train
    from cvops.tuning import best_train_options

    options = best_train_options(vws, "best")  # keyword arguments of both start_run and train
    assert set(options) <= set(inspect.signature(start_run).parameters) & set(inspect.signature(train).parameters)
    refused = CliRunner().invoke(cli, ["tune", "register", "best", "-w", str(vws.root), "--json"])
    assert refused.exit_code == 2 and "has no training run" in json.loads(refused.output)["error"]["message"]


def test_openers_at_once_do_not_race_on_creating_the_storage(tmp_path: Path) -> None:
    """The study's process and a page polling it open the fresh storage at the same moment (CI saw "table
    alembic_version already exists" from the Tune page's refresh): every opener gets a working storage."""
    import threading

    import optuna

    from cvops.data.workspace import Workspace as Ws
    from cvops.tuning.records import storage

    for attempt in range(3):
        Ws.create(tmp_path / f"ws{attempt}").close()
        barrier, errors = threading.Barrier(6), []

        def open_it(root: Path = tmp_path / f"ws{attempt}") -> None:
            with Ws.open(root) as ws:
                barrier.wait()
                try:
                    optuna.study.get_all_study_names(storage(ws))
                except Exception as exc:  # noqa: BLE001 - any failure of an opener is the bug
                    errors.append(repr(exc))

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
