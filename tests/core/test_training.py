"""Training in a supervised child process: a full run, cancel and resume, and a child killed mid-run.

The runs are tiny (24 generated images at 64 px, batch 8, CPU) so the file stays well under a few minutes. They are
the module's own (training itself is under test here, not a trained model); each test trains in its own copy of the
module's demo workspace.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from cvops.samples.demo import run_demo
from cvops.common.jobs import CancelToken
from cvops.catalog.maintenance import doctor
from cvops.training import PRESETS, cancel_run, resume, start_run, supervise, train
from cvops.training.runner import CANCEL_GRACE_S, run_result
from cvops.data.workspace import Workspace
from timing_testing import CANCEL_WITHIN_S
from training_testing import copy_workspace

TINY = dict(imgsz=64, batch=8, device="cpu")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("training") / "ws"
    run_demo(root, count=24)
    return root


@pytest.fixture
def ws(demo_root: Path, tmp_path: Path):
    """This test's copy of the demo workspace (runs write)."""
    workspace = Workspace.open(copy_workspace(demo_root, tmp_path / "ws"))
    yield workspace
    workspace.close()


def _events(result_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (result_dir / "events.jsonl").read_text().splitlines()]


def test_preset_settings_reach_the_training_arguments(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each preset's architecture, size, schedule and augmentation reach ``YOLO.train``'s arguments (the child is
    not started); the model is built from an architecture YAML, so nothing is downloaded; explicit values win."""
    from cvops.training import runner
    from cvops.training.child import train_args

    spawned: list[dict] = []
    monkeypatch.setattr(runner, "_spawn", lambda ws, run_id, config: spawned.append(config))
    for preset in PRESETS.values():
        start_run(ws, "v1", preset=preset.name, device="cpu")
        args = train_args(spawned[-1], "cpu")
        assert spawned[-1]["model"] == preset.model and preset.model.endswith(".yaml")
        assert (args["epochs"], args["imgsz"], args["batch"], args["patience"]) == (
            preset.epochs, preset.imgsz, preset.batch, preset.patience)
        assert {key: args[key] for key in preset.augment} == dict(preset.augment)
    start_run(ws, "v1", preset="balanced", epochs=3, imgsz=64, batch=2, device="cpu")
    assert {k: train_args(spawned[-1], "cpu")[k] for k in ("epochs", "imgsz", "batch")} == {
        "epochs": 3, "imgsz": 64, "batch": 2}


def test_the_preset_table_documents_every_preset() -> None:
    """The table in ``cvops.training.presets``' documentation lists each preset with its actual values."""
    from cvops.training import presets

    rows = {line.split()[0]: line.split()[1:6] for line in (presets.__doc__ or "").splitlines()
            if line.split() and line.split()[0] in PRESETS}
    assert rows == {p.name: [p.model, str(p.imgsz), str(p.epochs), str(p.patience), str(p.batch)]
                    for p in PRESETS.values()}


def test_train_two_epochs(ws: Workspace) -> None:
    seen: list[tuple[float, str]] = []
    result = train(ws, "v1", epochs=2, progress=lambda f, m: seen.append((f, m)), **TINY)
    assert result.state == "finished", (result.error, run_result(ws, result.run_id))
    assert result.epochs_done == 2
    rows = ws.db.execute("SELECT epoch, metrics FROM run_epochs WHERE run_id = ? ORDER BY epoch",
                         [result.run_id]).fetchall()
    assert [r[0] for r in rows] == [1, 2]
    for _, metrics in rows:
        metrics = json.loads(metrics)
        assert "train/box_loss" in metrics and "metrics/mAP50(B)" in metrics
    assert result.last_checkpoint and result.last_checkpoint.is_file()
    assert result.best_checkpoint and result.best_checkpoint.is_file()
    assert ("epoch 1/2" in [m for _, m in seen]) and seen[-1][0] == 1.0
    row = ws.db.execute("SELECT version_hash, state, finished_at, log_tail FROM runs WHERE id = ?",
                        [result.run_id]).fetchone()
    assert row[0] == ws.db.execute("SELECT content_hash FROM versions WHERE name = 'v1'").fetchone()[0]
    assert row[2] is not None and row[3]
    log = (result.run_dir / "train.log").read_text()
    assert "blocked a network connection" not in log
    assert all("event" in e for e in _events(result.run_dir))  # the events stream holds only events


@pytest.mark.slow
def test_cancel_then_resume(ws: Workspace) -> None:
    token = CancelToken()
    cancelled_at: list[float] = []

    def progress(fraction: float, message: str) -> None:
        if message.startswith("epoch 1/") and not token.cancelled:
            cancelled_at.append(time.monotonic())
            token.cancel()

    result = train(ws, "v1", epochs=20, progress=progress, cancel=token, **TINY)
    latency = time.monotonic() - cancelled_at[0]
    print(f"cancel latency: {latency:.2f} s")
    assert result.state == "cancelled", result.error
    assert latency < CANCEL_WITHIN_S  # honoured, not hanging; make bench measures the strict 5 s
    assert 1 <= result.epochs_done < 20
    assert result.last_checkpoint and result.last_checkpoint.is_file()
    done = result.epochs_done

    resumed = resume(ws, result.run_id, epochs=done + 1)
    assert resumed.state == "finished", (resumed.error, run_result(ws, result.run_id))
    assert resumed.epochs_done == done + 1
    epochs = [r[0] for r in ws.db.execute("SELECT epoch FROM run_epochs WHERE run_id = ? ORDER BY epoch",
                                          [result.run_id])]
    assert epochs == list(range(1, done + 2))
    assert (result.run_dir / "events-1.jsonl").is_file()  # the first attempt's events are kept
    assert _events(result.run_dir)[0]["start_epoch"] == done


def _start_and_wait(ws: Workspace) -> tuple[int, int]:
    """Start a 20-epoch run and wait until the child reports that training began; return (run id, pid)."""
    run_id = start_run(ws, "v1", epochs=20, **TINY)
    pid = ws.db.execute("SELECT pid FROM runs WHERE id = ?", [run_id]).fetchone()[0]
    events = run_result(ws, run_id).run_dir / "events.jsonl"
    deadline = time.monotonic() + 90
    while not (events.is_file() and '"started"' in events.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return run_id, pid


@pytest.mark.slow
def test_unresponsive_child_is_stopped_after_the_grace_period(ws: Workspace) -> None:
    run_id, pid = _start_and_wait(ws)
    os.kill(pid, signal.SIGSTOP)  # frozen: it can no longer see the cancel file
    cancel_run(ws, run_id)
    token = CancelToken()
    token.cancel()
    began = time.monotonic()
    result = supervise(ws, run_id, cancel=token)
    assert result.state == "cancelled" and "grace period" in (result.error or "")
    assert CANCEL_GRACE_S <= time.monotonic() - began < CANCEL_GRACE_S + CANCEL_WITHIN_S  # the grace period, waited
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow
def test_killed_child_leaves_a_failed_run(ws: Workspace) -> None:
    run_id, pid = _start_and_wait(ws)
    os.kill(pid, signal.SIGKILL)
    result = supervise(ws, run_id)
    assert result.state == "failed"
    assert "without reporting a result" in (result.error or "")
    tail = ws.db.execute("SELECT log_tail FROM runs WHERE id = ?", [run_id]).fetchone()[0]
    assert tail and len(tail.splitlines()) <= 50
    report = doctor(ws, quick=True)
    assert report.ok, report.problems
    assert ws.db.execute("SELECT COUNT(*) FROM runs WHERE state = 'running'").fetchone()[0] == 0


def test_eta_clock_counts_batches_then_validations() -> None:
    from cvops.training.child import EtaClock

    clock = EtaClock()
    assert clock.eta(10, 2) is None  # nothing measured yet
    clock.epoch_start(100.0)
    clock.batch_end(102.0)  # the first batch took 2 s: an ETA at once
    assert clock.eta(9, 2) == pytest.approx(18.0)
    clock.batch_end(106.0)  # 2 batches in 6 s: refined to 3 s a batch
    assert clock.eta(8, 2) == pytest.approx(24.0)
    clock.train_end(106.0)
    clock.validated(110.0)  # a validation takes 4 s: the validations left now count
    assert clock.eta(8, 2) == pytest.approx(24.0 + 8.0)
    clock.epoch_start(111.0)  # the pause between epochs is not a batch
    clock.batch_end(114.0)
    assert clock.eta(1, 1) == pytest.approx(3.0 + 4.0)
