"""Pipelines: the file's validation, and runs on the shared trained workspace (models m1, m2 on v1) recorded in the
catalog: cached reruns, resume after a failure, cancellation, the gate keeping the champion, and the CLI."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cvops.cli import cli
from cvops.common.jobs import CancelToken
from cvops.data.workspace import Workspace
from cvops.models.registry import get_model
from cvops.pipelines.runner import get_run, history, plan, run_pipeline
from cvops.pipelines.spec import DEFAULT_TEXT, PipelineInvalid, load, parse, write_default


# -- the file ------------------------------------------------------------------------------------------------------
def invalid(text: str) -> PipelineInvalid:
    with pytest.raises(PipelineInvalid) as info:
        parse(text, Path("/somewhere/pipeline.yaml"))
    return info.value


def test_the_default_file_is_valid_and_fills_in_defaults() -> None:
    p = parse(DEFAULT_TEXT, Path("/x/pipeline.yaml"))
    assert [s.kind for s in p.steps] == ["ingest", "check", "version", "train", "evaluate", "gate", "promote",
                                         "export", "verify", "bundle", "deploy"]
    assert p.steps[3].settings["epochs"] == 30 and p.steps[3].settings["imgsz"] is None
    assert p.steps[5].settings == {"min_gain": 0.0, "max_class_drop": 0.05, "floor": 0.10, "latency_budget_ms": None}
    assert p.steps[6].settings == {}
    off = parse("steps:\n - evaluate: {model: m1}\n - gate: {max_class_drop: null, latency_budget_ms: null}\n",
                Path("/x/p.yaml"))
    assert off.steps[1].settings["max_class_drop"] is None and off.steps[1].settings["latency_budget_ms"] is None


@pytest.mark.parametrize("text, key, problem", [
    ("steps:\n - version:\n - train: {epochs: ten}\n", "steps[1].train.epochs",
     'expected a positive integer, got "ten"'),
    ("steps:\n - version:\n - train: {epochs: 0}\n", "steps[1].train.epochs", "expected a positive integer, got 0"),
    ("steps:\n - version: {seed: null}\n", "steps[0].version.seed", "expected an integer, got None"),
    ("steps:\n - version: {spilt: 80/20}\n", "steps[0].version.spilt", "unknown key"),
    ("steps:\n - version: {split: 80/ten}\n", "steps[0].version.split", "expected split ratios"),
    ("steps:\n - version: {filter: [done, finished]}\n", "steps[0].version.filter", 'got "finished"'),
    ("steps:\n - retrain: {}\n", "steps[0].retrain", "unknown step kind"),
    ("steps:\n - ingest: {mode: copy}\n", "steps[0].ingest.folders", "required"),
    ("steps:\n - gate: {floor: 0.2}\n", "steps[0].gate", "needs an earlier step that produces the evaluation"),
    ("steps:\n - evaluate: {model: m1}\n - gate: {floor: 2}\n", "steps[1].gate.floor",
     "expected a number from 0 to 1, got 2"),
    ("steps:\n - train:\n", "steps[0].train", "needs an earlier step that produces the version"),
    ("steps:\n - version:\n - train: {from: latest}\n", "steps[1].train.from", "expected one of champion"),
    ("stages: []\n", "stages", "unknown key"),
    ("steps: []\n", "steps", "non-empty list"),
    ("steps:\n - {version: {}, train: {}}\n", "steps[0]", "expected one step kind"),
    ("steps:\n - evaluate: {model: m1}\n - export: {precisions: [fp64]}\n", "steps[1].export.precisions",
     'got "fp64"'),
])
def test_a_bad_file_names_the_file_the_key_and_the_problem(text: str, key: str, problem: str) -> None:
    exc = invalid(text)
    assert str(exc).startswith(f"pipeline.yaml: {key}: ")
    assert problem in str(exc)
    assert exc.code == "pipeline_invalid" and exc.details() == {"path": "/somewhere/pipeline.yaml", "key": key}


def test_yaml_errors_and_missing_files(tmp_path: Path) -> None:
    assert "not valid YAML" in str(invalid("steps: [\n"))
    assert "expected a mapping" in str(invalid("- version\n"))
    with pytest.raises(PipelineInvalid, match="no such pipeline file"):
        load(tmp_path / "nope.yaml")
    path = write_default(tmp_path / "p.yaml")
    assert load(path).name == "default"
    with pytest.raises(PipelineInvalid, match="already exists"):
        write_default(path)


# -- runs ----------------------------------------------------------------------------------------------------------
def write_images(folder: Path, count: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        cv2.imwrite(str(folder / f"new_{seed}_{i}.png"), rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))


PIPELINE = """\
name: eval-and-promote
steps:
  - ingest: {folders: [incoming]}
  - check: {max_errors: 0}
  - version: {split: 70/15/15, seed: 1}
  - evaluate: {model: MODEL, split: test}
  - gate: {floor: 0.0, min_gain: MIN_GAIN, max_class_drop: 1.0}
  - promote:
"""


def pipeline_file(root: Path, model: str = "m1", min_gain: float = 0.0) -> Path:
    path = root / "pipeline.yaml"
    path.write_text(PIPELINE.replace("MODEL", model).replace("MIN_GAIN", str(min_gain)))
    return path


def states(report: Any) -> list[str]:
    return [s.state for s in report.steps]


def test_runs_are_recorded_and_a_rerun_with_nothing_changed_is_all_cached(trained_workspace_copy: Path) -> None:
    root = trained_workspace_copy
    write_images(root / "incoming", 3, seed=1)
    path = pipeline_file(root)
    with Workspace.open(root) as ws:
        first = run_pipeline(ws, path)
        assert first.state == "done", first.error
        assert states(first) == ["done"] * 6
        assert first.steps[0].outputs["imported"] == 3
        decision = first.decision
        assert decision is not None and decision["promote"] is True and "no champion" in decision["reason"]
        assert get_model(ws, "champion").name == "m1"
        version = first.steps[2].outputs["context"]["version"]
        assert first.steps[3].outputs["context"]["evaluation"]["version"] == version
        assert first.steps[3].outputs["context"]["evaluation"]["split"] == "test"
        evaluations = ws.db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]

        started = time.perf_counter()
        second = run_pipeline(ws, path)
        seconds = time.perf_counter() - started
        print(json.dumps({"no_change_rerun_s": round(seconds, 3)}))
        assert second.state == "done" and states(second) == ["cached"] * 6
        assert [s.input_hash for s in second.steps] == [s.input_hash for s in first.steps]
        assert second.decision == decision
        assert second.steps[3].log.startswith(f"cached: inputs unchanged since run {first.id}, its outputs reused\n"
                                              "challenger m1 on ")
        assert ws.db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == evaluations  # nothing re-ran
        assert ws.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 2

        assert [p["state"] for p in plan(ws, path)] == ["cached"] * 6  # a dry run says so, running nothing
        write_images(root / "incoming", 1, seed=2)  # new data: everything downstream of it runs again
        planned = plan(ws, path)
        assert [p["state"] for p in planned] == ["run"] + ["after"] * 5
        assert planned[0]["reason"] == f"inputs changed since run {second.id}: folders"
        third = run_pipeline(ws, path)
        assert states(third) == ["done"] * 5 + ["cached"], third.error  # m1 is the champion already
        assert third.steps[0].outputs["imported"] == 1
        assert third.steps[2].outputs["context"]["version"] != version
        assert [r.id for r in history(ws, path)] == [third.id, second.id, first.id]
        shown = get_run(ws, first.id).to_dict()
        assert shown["steps"][4]["decision"] == decision and shown["state"] == "done"
        assert shown["steps"][3]["log"].startswith("challenger m1 on ")


def test_the_gate_keeps_the_champion_and_skips_the_rest(trained_workspace_copy: Path) -> None:
    root = trained_workspace_copy
    (root / "incoming").mkdir()
    with Workspace.open(root) as ws:
        assert run_pipeline(ws, pipeline_file(root, "m1")).state == "done"
        report = run_pipeline(ws, pipeline_file(root, "m2", min_gain=0.5))
        assert report.state == "done"
        assert states(report)[-2:] == ["done", "skipped"]
        decision = report.decision
        assert decision["promote"] is False and "min_gain" in decision["reason"]
        gain = next(c for c in decision["criteria"] if c["name"] == "min_gain")
        evaluation = report.steps[3].outputs["context"]["evaluation"]
        assert evaluation["champion"]["model"] == "m1" and evaluation["challenger"]["model"] == "m2"
        assert gain["champion"] == round(evaluation["champion"]["map50_95"], 6)
        assert gain["challenger"] == round(evaluation["challenger"]["map50_95"], 6)
        assert "kept the champion" in report.steps[-1].log
        assert get_model(ws, "champion").name == "m1"
        planned = plan(ws, pipeline_file(root, "m2", min_gain=0.5))
        assert [p["state"] for p in planned] == ["cached"] * 5 + ["skipped"]
        assert planned[-1]["reason"] == f"the gate kept the champion: {decision['reason']}"


def test_a_failed_run_resumes_at_the_failed_step(trained_workspace_copy: Path) -> None:
    root = trained_workspace_copy
    write_images(root / "incoming", 2, seed=3)
    path = pipeline_file(root)
    with Workspace.open(root) as ws:
        weights = Path(get_model(ws, "m1").weights)
        shutil.move(weights, weights.with_suffix(".away"))
        failed = run_pipeline(ws, path)
        assert failed.state == "failed" and states(failed) == ["done", "done", "done", "failed"]
        assert failed.error.startswith("step 3 (evaluate): ") and "weights" in failed.error
        assert "failed:" in failed.steps[3].log
        shutil.move(weights.with_suffix(".away"), weights)
        resumed = run_pipeline(ws, path)
        assert resumed.state == "done", resumed.error
        assert states(resumed) == ["cached", "cached", "cached", "done", "done", "done"]


def test_the_health_gate_stops_the_run_with_its_findings(trained_workspace_copy: Path) -> None:
    root = trained_workspace_copy
    write_images(root / "incoming", 2, seed=5)  # unlabeled: a warning
    path = root / "strict.yaml"
    path.write_text("steps:\n  - ingest: {folders: [incoming]}\n  - check: {max_warnings: 0}\n  - version:\n")
    with Workspace.open(root) as ws:
        versions = ws.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
        report = run_pipeline(ws, path)
        assert report.state == "failed" and states(report) == ["done", "failed"]
        assert "health gate:" in report.error and "more than max_warnings 0" in report.error
        check = report.steps[1]
        assert check.outputs["warnings"] >= 1 and check.outputs["kinds"]["unlabeled"] == 1
        assert "2 image(s) have no annotations" in check.log
        assert ws.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == versions  # no version was frozen


def test_cancellation_is_recorded_and_the_next_run_resumes(trained_workspace_copy: Path) -> None:
    root = trained_workspace_copy
    write_images(root / "incoming", 2, seed=4)
    path = pipeline_file(root)
    cancel = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if message.startswith("evaluate"):
            cancel.cancel()

    with Workspace.open(root) as ws:
        report = run_pipeline(ws, path, progress=progress, cancel=cancel)
        assert report.state == "cancelled" and states(report) == ["done", "done", "done", "cancelled"]
        assert report.error == "cancelled at step 3 (evaluate)"
        assert ws.db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 0
        resumed = run_pipeline(ws, path)
        assert states(resumed) == ["cached", "cached", "cached", "done", "done", "done"]


def test_an_output_that_is_gone_is_made_again(trained_workspace_copy: Path) -> None:
    root = trained_workspace_copy
    (root / "incoming").mkdir()
    path = pipeline_file(root)
    with Workspace.open(root) as ws:
        assert run_pipeline(ws, path).state == "done"
        ws.db.execute("UPDATE models SET champion = 0")  # someone demoted the champion by hand
        planned = plan(ws, path)
        assert [p["state"] for p in planned][3:] == ["cached", "cached", "run"]
        assert planned[5]["reason"].endswith("are gone or superseded")
        (root / "incoming").rename(root / "elsewhere")
        assert [p["state"] for p in plan(ws, path)] == ["fails"] + ["after"] * 5
        (root / "elsewhere").rename(root / "incoming")
        again = run_pipeline(ws, path)
        assert states(again) == ["cached"] * 5 + ["done"]
        assert get_model(ws, "champion").name == "m1"


def test_evaluate_on_a_benchmark_set(trained_workspace_copy: Path) -> None:
    from cvops.benchmarks.sets import create_benchmark, get_benchmark

    root = trained_workspace_copy
    path = root / "bench.yaml"
    text = ("steps:\n  - evaluate: {model: MODEL, benchmark: held-out}\n"
            "  - gate: {min_gain: 0.0, max_class_drop: null}\n  - promote:\n")
    path.write_text(text.replace("MODEL", "m1"))
    with Workspace.open(root) as ws:
        missing = run_pipeline(ws, path)
        assert missing.state == "failed" and "no benchmark 'held-out'" in missing.error
        create_benchmark(ws, "held-out", "v1", split="test")
        bench = get_benchmark(ws, "held-out")
        first = run_pipeline(ws, path)
        assert first.state == "done", first.error
        evaluation = first.steps[0].outputs["context"]["evaluation"]
        assert (evaluation["benchmark"], evaluation["version"], evaluation["split"]) == ("held-out", "v1", "test")
        assert first.steps[0].inputs["benchmark_hash"] == bench.content_hash
        linked = ws.db.execute("SELECT benchmark_id FROM evaluations WHERE id = ?",
                               [evaluation["challenger"]["evaluation_id"]]).fetchone()[0]
        assert linked == bench.id
        assert get_model(ws, "champion").name == "m1"
        assert states(run_pipeline(ws, path)) == ["cached"] * 3
        path.write_text(text.replace("MODEL", "m2"))
        second = run_pipeline(ws, path)
        evaluation = second.steps[0].outputs["context"]["evaluation"]
        assert evaluation["champion"]["model"] == "m1" and evaluation["challenger"]["model"] == "m2"
        promoted = evaluation["challenger"]["map50_95"] >= evaluation["champion"]["map50_95"]
        assert second.decision["promote"] is promoted
        assert get_model(ws, "champion").name == ("m2" if promoted else "m1")


def test_a_run_whose_process_is_gone_shows_as_interrupted(tmp_path: Path) -> None:
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(gone.stdout)
    with Workspace.create(tmp_path / "ws") as ws:
        ws.db.execute("INSERT INTO pipeline_runs (name, path, file_hash, state, started_at, pid) "
                      "VALUES ('p', '/x/p.yaml', 'h', 'running', 1.0, ?)", [pid])
        report = get_run(ws, 1)
        assert report.state == "failed" and report.error.startswith(f"interrupted: process {pid} ended")
        assert history(ws)[0].state == "failed"


# -- the CLI -------------------------------------------------------------------------------------------------------
def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_cli_init_run_status_history_show(trained_workspace_copy: Path) -> None:
    root = str(trained_workspace_copy)
    result = invoke("-w", root, "pipeline", "init", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["path"] == str(trained_workspace_copy / "pipeline.yaml")
    assert "already exists" in invoke("-w", root, "pipeline", "init").output
    (trained_workspace_copy / "pipeline.yaml").write_text(
        "steps:\n  - version: {seed: 3}\n  - evaluate: {model: m2, split: val}\n  - gate: {floor: 1.0}\n"
        "  - promote:\n")
    result = invoke("-w", root, "pipeline", "run", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert [s["state"] for s in run["steps"]] == ["done", "done", "done", "skipped"]
    assert run["decision"]["promote"] is False and run["decision"]["reason"] == "rejected: floor failed"
    text = invoke("-w", root, "pipeline", "run")
    assert text.exit_code == 0 and "cached" in text.output and "KEEP THE CHAMPION" in text.output
    status = json.loads(invoke("-w", root, "pipeline", "status", "--json").stdout)
    assert status["id"] == run["id"] + 1 and [s["state"] for s in status["steps"]][:3] == ["cached"] * 3
    rows = json.loads(invoke("-w", root, "pipeline", "history", "--json").stdout)
    assert [r["id"] for r in rows] == [run["id"] + 1, run["id"]]
    assert rows[0]["promote"] is False and rows[0]["steps"] == {"cached": 3, "skipped": 1}
    shown = invoke("-w", root, "pipeline", "show", str(run["id"]))
    assert shown.exit_code == 0 and "floor: challenger" in shown.output and "mAP50-95" in shown.output
    missing = invoke("-w", root, "pipeline", "show", "999", "--json")
    assert missing.exit_code == 2 and json.loads(missing.stdout)["error"]["code"] == "not_found"
    dry = invoke("-w", root, "pipeline", "run", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert [s["state"] for s in json.loads(dry.stdout)] == ["cached"] * 3 + ["skipped"]
    text = invoke("-w", root, "pipeline", "run", "--dry-run")
    assert "would be" in text.output and "the gate kept the champion" in text.output
    assert len(json.loads(invoke("-w", root, "pipeline", "history", "--json").stdout)) == 2  # nothing recorded


def test_cli_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    from cvops.data.workspace import Workspace as W

    W.create(tmp_path / "ws").close()
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - version:\n  - train: {epochs: ten}\n")
    result = invoke("-w", str(tmp_path / "ws"), "pipeline", "run", str(bad), "--json")
    assert result.exit_code == 2
    error = json.loads(result.output)["error"]
    assert error == {"code": "pipeline_invalid", "path": str(bad), "key": "steps[1].train.epochs",
                     "message": 'bad.yaml: steps[1].train.epochs: expected a positive integer, got "ten"'}
    with W.open(tmp_path / "ws") as ws:
        assert history(ws) == []


def test_the_loop_demo_pins_a_field_benchmark_and_writes_a_valid_pipeline(tmp_path: Path) -> None:
    from cvops.benchmarks.sets import get_benchmark
    from cvops.pipelines.demo import GATE_STEP, add_field_benchmark, write_loop_pipeline

    with Workspace.create(tmp_path / "ws") as ws:
        bench = add_field_benchmark(ws, count=10, seed=1)
        assert get_benchmark(ws, "field").id == bench.id
        images = ws.db.execute("SELECT COUNT(*), COUNT(DISTINCT status) FROM images").fetchone()
        assert images == (10, 1) and ws.db.execute("SELECT status FROM images LIMIT 1").fetchone()[0] == "approved"
        assert 1 <= bench.images <= 10 and ws.db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0] > 0
    pipeline = load(write_loop_pipeline(tmp_path / "p.yaml", epochs=2, imgsz=96))
    assert pipeline.steps[GATE_STEP].kind == "gate" and pipeline.steps[3].settings["from"] == "champion"
    assert load(write_loop_pipeline(tmp_path / "w.yaml", from_champion=False)).steps[3].settings["from"] is None


TRAIN = """\
steps:
  - version: {split: 70/15/15, seed: 1}
  - train: {preset: fast, epochs: 3, imgsz: 64, batch: 8, device: cpu, seed: SEED}
"""


def cancelled_in_training(ws: Workspace, path: Path) -> Any:
    """Run ``path`` and cancel it once its training reports the first epoch: the child saves its checkpoint."""
    cancel = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if message.startswith("epoch "):
            cancel.cancel()

    report = run_pipeline(ws, path, progress=progress, cancel=cancel)
    assert report.state == "cancelled" and states(report) == ["done", "cancelled"], report.error
    return report


@pytest.mark.slow
def test_a_cancelled_training_whose_checkpoint_cannot_be_resumed_trains_afresh(trained_workspace_copy: Path) -> None:
    """(Resuming from the checkpoint itself: the end-to-end loop kills a watch mid-training and checks it.)"""
    root = trained_workspace_copy
    with Workspace.open(root) as ws:
        path = root / "train.yaml"
        path.write_text(TRAIN.replace("SEED", "0"))
        broken = cancelled_in_training(ws, path).steps[1].outputs["run_id"]  # recorded as the training started
        run_dir = Path(ws.db.execute("SELECT run_dir FROM runs WHERE id = ?", [broken]).fetchone()[0])
        (run_dir / "train" / "weights" / "last.pt").write_bytes(b"cut short by a kill")
        again = run_pipeline(ws, path)
        assert states(again) == ["cached", "done"], again.error
        log = again.steps[1].log
        assert f"resuming training run {broken} from its last checkpoint" in log
        assert f"resuming training run {broken} failed" in log and "starting a new run" in log
        assert again.steps[1].outputs["run_id"] != broken
        assert ws.db.execute("SELECT state FROM runs WHERE id = ?", [again.steps[1].outputs["run_id"]]).fetchone()[0] \
            == "finished"
