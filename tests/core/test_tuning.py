"""Issue 17's tuning acceptance: a study of 4 trials x 3 epochs on the demo completes, the median pruner prunes the
planted bad region, the study resumes after its process is killed mid-trial without repeating finished trials, and
the best trial registers a model whose lineage names the study and the trial.

One study, run once for the module (the CLI in a subprocess, killed during trial 2, then resumed): about 40 s of
tiny trainings on the CPU (160 px, 32 training images). The planted bad region is ``lr0: 0`` (the weights never
change, so the training loss stays at its random-initialisation level while a learning trial's falls by about a third
within two epochs); the space file enqueues it as trial 1, so it is judged deterministically against trial 0, the
first complete trial (the median pruner's startup for a 4-trial study is 1 trial, its warm-up 1 epoch of 3). Trial 3
repeats trial 0's parameters (a deterministic training: equal values, so it completes and the study has two complete
trials); trial 4 is sampled. The metric is the training class loss: at this size every trial's validation mAP is
still 0.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from cvops.cli import cli
from cvops.data.workspace import CATALOG_NAME, Workspace

ROOT = Path(__file__).resolve().parents[2]
SPACE = """\
params:
  lr0: {type: categorical, choices: [0.01, 0.0]}
  fliplr: {type: float, low: 0.0, high: 0.5}
  imgsz: 160
enqueue:
  - {lr0: 0.01, fliplr: 0.0}
  - {lr0: 0.0}
  - {lr0: 0.01}
  - {lr0: 0.01, fliplr: 0.0}
"""
STUDY = "acceptance"


def _trial_runs(root: Path) -> dict[int, list[tuple[int, str, int, int]]]:
    """Trial number -> [(run id, state, pid, epochs recorded)], read from the catalog without opening the workspace."""
    conn = sqlite3.connect(f"file:{root / CATALOG_NAME}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT r.id, r.state, r.pid, r.params, (SELECT COUNT(*) FROM run_epochs e "
                            "WHERE e.run_id = r.id) FROM runs r").fetchall()
    finally:
        conn.close()
    out: dict[int, list[tuple[int, str, int, int]]] = {}
    for run_id, state, pid, params, epochs in rows:
        tuning = json.loads(params).get("tuning") or {}
        if tuning.get("study") == STUDY:
            out.setdefault(int(tuning["trial"]), []).append((run_id, state, pid or 0, epochs))
    return out


def _cli(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def study(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the study: the CLI in a subprocess, killed (SIGKILL) once trial 2 has trained an epoch, then resumed with
    ``cvops tune --study``. Yields the workspace folder, the runs before the kill and the resumed study's JSON."""
    from training_testing import copy_workspace

    base = tmp_path_factory.mktemp("tuning")
    root = copy_workspace(trained_workspace, base / "ws")
    space = base / "planted.yaml"
    space.write_text(SPACE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "cvops", "tune", "-w", str(root), "--version", "v1", "--trials", "4", "--epochs",
           "3", "--space", str(space), "--metric", "train/cls_loss", "--pruner", "median", "--study", STUDY,
           "--seed", "0", "--device", "cpu", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    orphans: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while True:
            runs = _trial_runs(root) if (root / CATALOG_NAME).is_file() else {}
            if runs.get(2) and runs[2][0][3] >= 1:  # trial 2 is training: it has recorded an epoch
                break
            assert proc.poll() is None, f"cvops tune ended before trial 2: {proc.communicate()}"
            assert time.monotonic() < deadline, "trial 2 did not start within 300 s"
            time.sleep(0.2)
        proc.kill()  # a crash: no clean-up at all; the training child (its own session) goes on, orphaned
        proc.communicate()
        before = _trial_runs(root)
        orphans = [pid for runs in before.values() for _, state, pid, _ in runs if state == "running"]
        killed = _cli("tune", "list", "-w", str(root), "--json")[0]["state"]
        resumed = _cli("tune", "--study", STUDY, "-w", str(root), "--json")
        yield {"root": root, "before": before, "result": resumed, "state_after_kill": killed}
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in orphans:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.mark.slow
def test_study_prunes_the_planted_region_and_resumes_without_repeating(study: dict[str, Any]) -> None:
    before, result = study["before"], study["result"]
    # killed during trial 2: trials 0 and 1 had finished (1, the planted lr0 = 0, pruned), trial 2 was running
    assert [s for _, s, _, _ in before[0]] == ["finished"]
    assert [s for _, s, _, _ in before[1]] in (["cancelled"], ["finished"])  # stopped by the pruner (or just done)
    assert before[2][0][1] == "running" and 3 not in before
    assert study["state_after_kill"] == "interrupted"  # recorded running, but its process is gone
    assert result["state"] == "finished" and result["finished"] == 4
    trials = {t["number"]: t for t in result["trials"]}
    assert set(trials) == {0, 1, 2, 3, 4}  # trial 2 failed (interrupted), trials 3 and 4 made up the total
    assert trials[1]["state"] == "pruned" and trials[1]["params"]["lr0"] == 0.0
    assert trials[2]["state"] == "fail" and trials[2]["interrupted"]
    assert trials[0]["state"] == trials[3]["state"] == "complete" and trials[3]["value"] == trials[0]["value"]
    assert result["counts"]["pruned"] >= 1 and result["counts"]["complete"] + result["counts"]["pruned"] == 4
    # finished trials were not repeated: one run each, the same runs as before the kill
    after = _trial_runs(study["root"])
    assert {n: len(r) for n, r in after.items()} == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1}
    assert after[0][0][0] == before[0][0][0] == trials[0]["run_id"] and after[1][0][0] == trials[1]["run_id"]
    # the killed session's run was stopped and recorded, not left running
    assert after[2][0][1] in ("cancelled", "failed")
    # every trial reported each epoch it trained, and the pruned one stopped early on a worse value
    assert len(trials[0]["intermediate"]) == 3 and trials[0]["value"] < trials[1]["value"]
    assert trials[1]["intermediate"]["2"] > trials[0]["intermediate"]["2"]


@pytest.mark.slow
def test_best_trial_registers_a_model_with_lineage(study: dict[str, Any]) -> None:
    result = study["result"]
    best = result["best"]
    complete = [t for t in result["trials"] if t["state"] == "complete"]
    assert best["value"] == min(t["value"] for t in complete) and best["state"] == "complete"
    assert best["model"] and result["best_model"] == best["model"]
    model = _cli("models", "show", best["model"], "-w", str(study["root"]), "--json")
    assert model["run_id"] == best["run_id"]
    assert model["params"]["tuning"] == {"study": STUDY, "trial": best["number"]}
    assert model["params"]["lr0"] == best["params"]["lr0"] and model["params"]["imgsz"] == 160
    # only the best trial registered a model; registering again is idempotent
    with Workspace.open(study["root"]) as ws:
        trial_runs = [t["run_id"] for t in result["trials"]]
        registered = ws.db.execute(f"SELECT run_id FROM models WHERE run_id IN ({','.join('?' * len(trial_runs))})",
                                   trial_runs).fetchall()
        assert registered == [(best["run_id"],)]
        from cvops.tuning import best_train_options

        options = best_train_options(ws, STUDY)
    assert _cli("tune", "register", STUDY, "-w", str(study["root"]), "--json")["name"] == best["model"]
    assert options["version_ref"] == "v1" and options["imgsz"] == 160 and options["epochs"] == 3
    assert options["hyperparameters"] == {"lr0": best["params"]["lr0"], "fliplr": best["params"]["fliplr"]}
    assert options["tuning"] == {"study": STUDY, "trial": best["number"], "best": True}


@pytest.mark.slow
def test_show_and_list_report_the_study(study: dict[str, Any]) -> None:
    root = str(study["root"])
    shown = _cli("tune", "show", STUDY, "-w", root, "--json")
    assert {"best", "trials", "importances"} <= set(shown)
    assert shown["best"]["number"] == study["result"]["best"]["number"] and len(shown["trials"]) == 5
    for t in shown["trials"]:
        assert {"number", "state", "value", "params", "epochs", "run_id", "duration_s"} <= set(t)
    assert set(shown["importances"]) <= {"lr0", "fliplr"}
    assert shown["importances"] or shown["importances_note"]  # importances, or why there are none
    assert shown["epochs_saved"] == shown["finished"] * 3 - shown["epochs_run"]
    listed = _cli("tune", "list", "-w", root, "--json")
    assert [(s["name"], s["state"], s["finished"], s["best_model"]) for s in listed] == [
        (STUDY, "finished", 4, shown["best_model"])]
    # a second run of the finished study has nothing left to do and trains nothing
    again = _cli("tune", "--study", STUDY, "-w", root, "--json")
    assert again["finished"] == 4 and len(again["trials"]) == 5
    text = CliRunner().invoke(cli, ["tune", "show", STUDY, "-w", root])
    assert text.exit_code == 0 and "pruned" in text.output and "importances:" in text.output
