"""The tuning search space (validated before anything runs), metrics, pruners, importances and the CLI's input checks:
no training here."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner

from cvops.cli import cli
from cvops.cli.tune import parse_duration
from cvops.tuning import DEFAULT_SPACE_YAML, SearchSpace, SpaceInvalid, default_space, load_space
from cvops.tuning.report import importances
from cvops.tuning.space import PARAMETERS, parse_space
from cvops.tuning.study import make_pruner
from cvops.tuning.trial import resolve_metric, trial_value


def test_default_space_is_documented_valid_and_covers_the_issue() -> None:
    space = default_space()
    assert {"lr0", "momentum", "weight_decay", "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "fliplr",
            "mosaic", "imgsz", "model"} <= set(space.params)
    assert space.params["lr0"].log and space.params["model"].choices == ("yolo11n.yaml", "yolo11s.yaml")
    assert space.enqueue and set(space.enqueue[0]) <= set(space.params)
    # the printed file is the default, and the stored form reads back to the same space
    assert parse_space(yaml.safe_load(DEFAULT_SPACE_YAML)).to_dict() == space.to_dict()
    assert parse_space(json.loads(json.dumps(space.to_dict()))).to_dict() == space.to_dict()
    doc = Path(__file__).resolve().parents[2] / "docs" / "tuning.md"
    assert DEFAULT_SPACE_YAML.strip() in doc.read_text(encoding="utf-8"), "docs/tuning.md must show the default space"


def test_print_space_writes_a_file_load_space_accepts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", "--print-space"], catch_exceptions=False)
    assert result.exit_code == 0
    path = tmp_path / "space.yaml"
    path.write_text(result.output, encoding="utf-8")
    assert load_space(path).to_dict() == default_space().to_dict()
    json_path = tmp_path / "space.json"
    json_path.write_text(json.dumps({"params": {"lr0": {"type": "float", "low": 0.001, "high": 0.01},
                                                "imgsz": {"type": "int", "low": 64, "high": 128, "step": 32},
                                                "optimizer": "SGD"}}))
    space = load_space(json_path)
    assert space.fixed == {"optimizer": "SGD"} and space.params["imgsz"].step == 32


@pytest.mark.parametrize("params, key, message", [
    ({"weight_decy": {"type": "float", "low": 0.0, "high": 0.01}}, "params.weight_decy",
     "unknown parameter (did you mean weight_decay?)"),
    ({"lr0": {"type": "float", "low": 0.1, "high": 0.01}}, "params.lr0", "low 0.1 is above high 0.01"),
    ({"lr0": {"type": "float", "low": 0.0, "high": 0.01, "log": True}}, "params.lr0", "log: true needs a positive"),
    ({"lr0": {"type": "float", "low": "a", "high": 0.01}}, "params.lr0", 'low: expected a number, got "a"'),
    ({"lr0": {"type": "float", "low": 0.001}}, "params.lr0", "needs low and high (high is missing)"),
    ({"lr0": {"type": "floats", "low": 0.001, "high": 0.01}}, "params.lr0", "type must be float, int or categorical"),
    ({"lr0": {"type": "float", "low": 0.001, "high": 0.01, "lo": 1}}, "params.lr0", "unknown key 'lo'"),
    ({"imgsz": {"type": "categorical", "choices": []}}, "params.imgsz", "choices must be a non-empty list"),
    ({"imgsz": {"type": "categorical", "choices": [320, 320]}}, "params.imgsz", "choices repeat a value"),
    ({"imgsz": {"type": "categorical", "choices": [320, "big"]}}, "params.imgsz", "choices[1]: expected a number"),
    ({"imgsz": {"type": "float", "low": 64, "high": 128}}, "params.imgsz", "takes whole numbers"),
    ({"fliplr": {"type": "float", "low": 0.0, "high": 1.5}}, "params.fliplr", "high: 1.5 is outside the range"),
    ({"model": {"type": "categorical", "choices": ["yolo11n.pt"]}}, "params.model", "architecture YAML"),
    ({"optimizer": {"type": "categorical", "choices": ["Adamw"]}}, "params.optimizer", "unknown optimizer"),
    ({"cos_lr": "yes"}, "params.cos_lr", 'expected true or false, got "yes"'),
    ({"lr0": 0.01}, "params", "every parameter is fixed"),
    ({"mosaic": {"type": "float", "low": 0, "high": 1, "step": 0}}, "params.mosaic", "step must be a positive"),
])
def test_space_errors_name_the_file_and_the_key(tmp_path: Path, params: dict, key: str, message: str) -> None:
    path = tmp_path / "bad-space.yaml"
    path.write_text(yaml.safe_dump({"params": params}), encoding="utf-8")
    with pytest.raises(SpaceInvalid) as info:
        load_space(path)
    assert str(info.value).startswith(f"{path}: {key}: ") and message in str(info.value), str(info.value)
    assert info.value.details() == {"path": str(path), "key": key}


def test_space_document_and_enqueue_errors(tmp_path: Path) -> None:
    good = {"lr0": {"type": "categorical", "choices": [0.01, 0.0]}, "mosaic": 0.0}
    cases = [({"param": good}, "param: unknown key (expected params, enqueue)"),
             ({"params": good, "enqueue": [{"lr0": 0.5}]}, "enqueue[0]: lr0: 0.5 is not one of the choices"),
             ({"params": good, "enqueue": [{"mosaic": 0.5}]}, "enqueue[0]: mosaic: it is fixed"),
             ({"params": good, "enqueue": {"lr0": 0.01}}, "enqueue: expected a list")]
    for data, message in cases:
        with pytest.raises(SpaceInvalid) as info:
            parse_space(data, "s.yaml")
        assert str(info.value).startswith(f"s.yaml: {message}"), str(info.value)
    broken = tmp_path / "broken.yaml"
    broken.write_text("params: {lr0: [", encoding="utf-8")
    with pytest.raises(SpaceInvalid, match=f"{broken}: not valid YAML"):
        load_space(broken)
    with pytest.raises(SpaceInvalid, match="cannot read the search space file"):
        load_space(tmp_path / "missing.yaml")


def test_suggest_passes_fixed_values_and_stays_in_range() -> None:
    space = parse_space({"params": {"lr0": {"type": "float", "low": 0.001, "high": 0.01, "log": True},
                                    "imgsz": {"type": "int", "low": 64, "high": 128, "step": 32},
                                    "model": {"type": "categorical", "choices": ["yolo11n.yaml", "yolo11s.yaml"]},
                                    "mosaic": 0.0}})
    assert isinstance(space, SearchSpace)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        values = space.suggest(study.ask())
        assert values["mosaic"] == 0.0 and 0.001 <= values["lr0"] <= 0.01
        assert values["imgsz"] in (64, 96, 128) and values["model"] in ("yolo11n.yaml", "yolo11s.yaml")
    assert set(PARAMETERS) >= set(values)


def test_metrics_pruners_values_and_durations() -> None:
    assert resolve_metric("map50_95") == ("metrics/mAP50-95(B)", "maximize")
    assert resolve_metric("val/box_loss") == ("val/box_loss", "minimize")
    with pytest.raises(Exception, match="unknown metric 'mAP'"):
        resolve_metric("mAP")
    median = make_pruner("median", trials=20, epochs=30)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (5, 10)
    assert make_pruner("median", trials=4, epochs=3)._n_startup_trials == 1
    assert isinstance(make_pruner("hyperband", 10, 9), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner("none", 10, 9), optuna.pruners.NopPruner)
    assert trial_value({"metrics/mAP50-95(B)": 0.4}, [0.1, 0.5], "metrics/mAP50-95(B)", "maximize") == 0.4
    assert trial_value({}, [3.0, None, 2.0], "val/box_loss", "minimize") == 2.0
    assert trial_value({}, [None], "val/box_loss", "minimize") is None
    assert [parse_duration(t) for t in ("90s", "30m", "2h", "1h30m", "45")] == [90, 1800, 7200, 5400, 45]
    for bad in ("soon", "-5", "0s"):
        with pytest.raises(Exception, match="duration|positive"):
            parse_duration(bad)


def test_importances_need_two_complete_trials() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("a", 0, 1) + t.suggest_float("b", 0, 0.01), n_trials=1)
    values, note = importances(study)
    assert values == {} and note == "importances need at least 2 complete trials (1 so far)"
    study.optimize(lambda t: t.suggest_float("a", 0, 1) + t.suggest_float("b", 0, 0.01), n_trials=6)
    values, note = importances(study)
    assert note is None and set(values) == {"a", "b"} and abs(sum(values.values()) - 1.0) < 1e-6


def test_cli_refuses_a_bad_space_before_anything_runs(tmp_path: Path) -> None:
    from cvops import Workspace

    Workspace.create(tmp_path / "ws").close()
    space = tmp_path / "space.yaml"
    space.write_text("params:\n  lr0: {type: float, low: 0.1, high: 0.01}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["tune", "-w", str(tmp_path / "ws"), "--version", "v1", "--trials", "2",
                                      "--space", str(space), "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.output)["error"]
    assert error["code"] == "space_invalid" and error["key"] == "params.lr0" and "low 0.1 is above high" in error[
        "message"]
    assert not (tmp_path / "ws" / "tuning").exists() and not (tmp_path / "ws" / "runs").exists()
    usage = CliRunner().invoke(cli, ["tune", "-w", str(tmp_path / "ws"), "--version", "v1", "--trials", "2",
                                     "--timeout", "soon"])
    assert usage.exit_code == 2 and "not a duration" in usage.output
    missing = CliRunner().invoke(cli, ["tune", "show", "nope", "-w", str(tmp_path / "ws"), "--json"])
    assert missing.exit_code == 2 and json.loads(missing.output)["error"]["code"] == "not_found"
    listed = CliRunner().invoke(cli, ["tune", "list", "-w", str(tmp_path / "ws"), "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output) == []


def test_trial_parameters_reach_the_trainer_and_the_run_names_the_trial(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's parameters become ``start_run`` options (image size, model) and Ultralytics train arguments over the
    preset's; the run's params name the study and trial (the child is not started)."""
    from cvops.samples.demo import run_demo
    from cvops.training import runner
    from cvops.training.child import train_args
    from cvops.tuning.study import _trial_options

    run_demo(tmp_path / "ws", count=12)
    spawned: list[dict] = []
    monkeypatch.setattr(runner, "_spawn", lambda ws, run_id, config: spawned.append(config))
    settings = {"preset": "fast", "epochs": 3, "device": "cpu", "seed": 0, "batch": None}
    params = {"lr0": 0.005, "mosaic": 0.5, "fliplr": 0.0, "imgsz": 96, "model": "yolo11s.yaml"}
    options = _trial_options(settings, "v1", params, "s1", 4)
    from cvops import Workspace

    with Workspace.open(tmp_path / "ws") as ws:
        run_id = runner.start_run(ws, **options)
        stored = json.loads(ws.db.execute("SELECT params FROM runs WHERE id = ?", [run_id]).fetchone()[0])
    args = train_args(spawned[-1], "cpu")
    assert (args["lr0"], args["mosaic"], args["fliplr"], args["imgsz"], args["epochs"]) == (0.005, 0.5, 0.0, 96, 3)
    assert args["optimizer"] == "AdamW" and args["nbs"] == 4  # the rest of the fast preset stays
    assert spawned[-1]["model"] == "yolo11s.yaml"
    assert stored["tuning"] == {"study": "s1", "trial": 4}
