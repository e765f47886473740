"""Continuous training: the watch's triggers (new images, schedule, drift alarm), the watch loop and its status,
the lock against concurrent runs of one file, labelled batches in an ingest folder, and ``cvops pipeline watch``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cvops.catalog.locks import workspace_lock
from cvops.cli import cli
from cvops.common.errors import ValidationError
from cvops.common.jobs import CancelToken
from cvops.data.workspace import Workspace
from cvops.pipelines.runner import PipelineBusy, run_pipeline
from cvops.pipelines.spec import load
from cvops.pipelines.watch import (
    DriftAlarm, NewImages, Schedule, WatchContext, format_duration, new_image_files, parse_duration, pending_alarms,
    raise_alarm, status_path, watch, watch_status,
)
from cvops.samples import shapes

PIPELINE = """\
name: intake
steps:
  - ingest: {folders: [incoming], format: FORMAT}
  - check: {max_errors: 1000}
  - version: {split: 80/10/10}
"""


def write_images(folder: Path, count: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        path = folder / f"img_{seed}_{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
        out.append(path)
    return out


@pytest.fixture
def intake(tmp_path: Path) -> Any:
    """A fresh workspace with an ``incoming`` folder and the pipeline file; yields (ws, pipeline path)."""
    ws = Workspace.create(tmp_path / "ws")
    (ws.root / "incoming").mkdir()
    path = ws.root / "pipeline.yaml"
    path.write_text(PIPELINE.replace("FORMAT", "images"))
    yield ws, path
    ws.close()


def test_durations() -> None:
    assert parse_duration("90") == 90 and parse_duration("15m") == 900 and parse_duration("1h30m") == 5400
    assert parse_duration("1d") == 86400 and parse_duration("0.5h") == 1800
    for bad in ("soon", "10 minutes", "-5", "0s", ""):
        with pytest.raises(ValidationError):
            parse_duration(bad)
    assert format_duration(5400) == "1h30m" and format_duration(45) == "45s" and format_duration(86400) == "1d"


def test_new_images_are_counted_until_a_run_imports_them(intake: Any) -> None:
    ws, path = intake
    pipeline = load(path)
    assert new_image_files(ws, pipeline) == []
    files = write_images(ws.root / "incoming", 3, seed=1)
    (ws.root / "incoming" / "notes.txt").write_text("not an image")
    assert new_image_files(ws, pipeline) == sorted(str(p.resolve()) for p in files)
    trigger = NewImages(3, settle_s=0)
    wc = WatchContext(ws, pipeline, time.time())
    assert trigger.check(wc) == "3 new images (at least 3)" and wc.new_images == 3
    assert NewImages(4, settle_s=0).check(WatchContext(ws, pipeline, time.time())) is None

    report = run_pipeline(ws, path)
    assert report.state == "done", report.error
    assert new_image_files(ws, pipeline) == []
    # a copy of an image already in the workspace is a duplicate: the ingest leaves it out, the watch does not count it
    (ws.root / "incoming" / "copy.png").write_bytes(files[0].read_bytes())
    assert len(new_image_files(ws, pipeline)) == 1
    run_pipeline(ws, path)
    assert new_image_files(ws, pipeline) == []


def test_new_images_wait_until_the_folders_settle(intake: Any) -> None:
    ws, path = intake
    pipeline = load(path)
    trigger = NewImages(2, settle_s=10)
    write_images(ws.root / "incoming", 2, seed=20)
    t0 = time.time()
    assert trigger.check(WatchContext(ws, pipeline, t0)) is None  # just arrived
    assert trigger.check(WatchContext(ws, pipeline, t0 + 5)) is None
    (ws.root / "incoming" / "labels.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # still being copied
    assert trigger.check(WatchContext(ws, pipeline, t0 + 11)) is None
    assert trigger.check(WatchContext(ws, pipeline, t0 + 20)) is None
    assert trigger.check(WatchContext(ws, pipeline, t0 + 21.5)) == "2 new images (at least 2)"
    with pytest.raises(ValidationError):
        NewImages(2, settle_s=-1)


def test_a_failed_run_is_not_retriggered_by_the_same_files(intake: Any) -> None:
    ws, path = intake
    write_images(ws.root / "incoming", 2, seed=2)
    path.write_text(PIPELINE.replace("FORMAT", "images").replace("folders: [incoming]", "folders: [incoming, gone]"))
    pipeline = load(path)
    trigger = NewImages(1, settle_s=0)
    wc = WatchContext(ws, pipeline, time.time())
    assert trigger.check(wc) is not None
    report = run_pipeline(ws, path)
    assert report.state == "failed" and "gone does not exist" in (report.error or "")
    trigger.ran(wc, report)
    assert trigger.check(WatchContext(ws, pipeline, time.time())) is None  # same two files: wait
    write_images(ws.root / "incoming", 1, seed=3)  # only files that arrived since count
    assert trigger.check(WatchContext(ws, pipeline, time.time())) == "1 new image (at least 1)"


def test_schedule_fires_when_the_last_run_is_older_than_the_period(intake: Any) -> None:
    ws, path = intake
    pipeline = load(path)
    every = Schedule(3600)
    wc = WatchContext(ws, pipeline, time.time())
    assert every.check(wc) == "scheduled (first run)"
    report = run_pipeline(ws, path)
    wc = WatchContext(ws, pipeline, time.time())
    assert every.check(wc) is None
    assert wc.next_run_at == pytest.approx(report.started_at + 3600)
    later = WatchContext(ws, pipeline, report.started_at + 3601)
    assert every.check(later) == "scheduled (every 1h)"
    with pytest.raises(ValidationError):
        Schedule(0)


def test_drift_alarms_fire_once_and_are_moved_to_handled(intake: Any) -> None:
    ws, path = intake
    pipeline = load(path)
    alarm = DriftAlarm()
    assert alarm.check(WatchContext(ws, pipeline, time.time())) is None
    raise_alarm(ws, "monitoring", "brightness drift: PSI 0.41", {"feature": "brightness"})
    raise_alarm(ws, "camera-3", "new background")
    wc = WatchContext(ws, pipeline, time.time())
    assert alarm.check(wc) == "drift alarm from monitoring: brightness drift: PSI 0.41 (+1 more)"
    report = run_pipeline(ws, path, trigger="watch: drift")
    alarm.ran(wc, report)
    assert pending_alarms(ws) == []
    handled = sorted((ws.root / "pipelines" / "alarms" / "handled").iterdir())
    assert [p.name.startswith(f"run{report.id}-") for p in handled] == [True, True]
    assert json.loads(handled[0].read_text())["details"] == {"feature": "brightness"}
    # an unreadable alarm still fires (and says so) rather than being dropped
    (ws.root / "pipelines" / "alarms" / "bad.json").write_text("{not json")
    assert "unreadable alarm file bad.json" in (alarm.check(WatchContext(ws, pipeline, time.time())) or "")


def test_the_watch_runs_on_new_images_records_its_status_and_stops_cleanly(intake: Any) -> None:
    ws, path = intake
    events: list[dict[str, Any]] = []
    cancel = CancelToken()
    write_images(ws.root / "incoming", 2, seed=4)

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        if event["event"] == "run":  # more files arrive after the first run; the second run stops the test
            write_images(ws.root / "incoming", 2, seed=5 + len(events))

    thread_result: list[Any] = []
    thread = threading.Thread(target=lambda: thread_result.append(
        watch(ws, path, [NewImages(2, settle_s=0), DriftAlarm()], poll_s=0.05, cancel=cancel, on_event=on_event, max_runs=2)))
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    reports = thread_result[0]
    assert [r.state for r in reports] == ["done", "done"]
    assert [r.trigger for r in reports] == ["watch: 2 new images (at least 2)"] * 2
    assert [e["event"] for e in events] == ["watching", "trigger", "run", "trigger", "run", "stopped"]
    assert ws.db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 4
    status = watch_status(ws, path)
    assert status is not None and status.state == "stopped" and status.alive is False
    assert status.runs == 2 and status.last_run_id == reports[-1].id and status.pid == os.getpid()
    assert status.triggers == ["2 new images", "drift alarm"]
    assert [h["run"] for h in status.history] == [reports[1].id, reports[0].id]

    # waiting: a cancel wakes it at once
    cancel = CancelToken()
    thread = threading.Thread(target=lambda: watch(ws, path, [NewImages(50)], poll_s=30, cancel=cancel))
    thread.start()
    deadline = time.monotonic() + 20
    while (watch_status(ws, path) or status).state != "waiting" and time.monotonic() < deadline:
        time.sleep(0.02)
    live = watch_status(ws, path)
    assert live is not None and live.alive and live.new_images == 2 and live.runs == 0  # written after run 2
    cancel.cancel()
    thread.join(10)
    assert not thread.is_alive() and watch_status(ws, path).state == "stopped"


def test_a_second_run_of_the_same_file_is_refused_while_one_runs(intake: Any) -> None:
    ws, path = intake
    lock = ws.root / "locks"
    held = [p.name for p in lock.iterdir()] if lock.is_dir() else []
    write_images(ws.root / "incoming", 2, seed=6)
    assert run_pipeline(ws, path).state == "done"  # creates the file's lock
    name = next(p.name for p in lock.iterdir() if p.name.startswith("pipeline-") and p.name not in held)
    with workspace_lock(ws.root, exclusive=True, wait=False, name=name):
        with pytest.raises(PipelineBusy, match="another run of this pipeline is in progress") as info:
            run_pipeline(ws, path)
        assert info.value.code == "pipeline_busy"
        events: list[dict[str, Any]] = []
        watch(ws, path, [Schedule(1)], poll_s=0.01, on_event=events.append, max_runs=1,
              cancel=_cancel_after(events, "busy"))
        assert "busy" in [e["event"] for e in events]
    other = ws.root / "other.yaml"
    other.write_text(PIPELINE.replace("FORMAT", "images"))
    with workspace_lock(ws.root, exclusive=True, wait=False, name=name):
        assert run_pipeline(ws, other).state == "done"  # another file is not blocked


def _cancel_after(events: list[dict[str, Any]], kind: str) -> CancelToken:
    token = CancelToken()

    def watcher() -> None:
        deadline = time.monotonic() + 20
        while kind not in [e["event"] for e in events] and time.monotonic() < deadline:
            time.sleep(0.01)
        token.cancel()

    threading.Thread(target=watcher, daemon=True).start()
    return token


def test_labelled_batches_are_imported_as_datasets_once(intake: Any) -> None:
    ws, path = intake
    path.write_text(PIPELINE.replace("FORMAT", "auto"))
    pipeline = load(path)
    shapes.write_yolo(ws.root / "incoming" / "batch-1", count=4, seed=1, size=96)
    assert len(new_image_files(ws, pipeline)) == 4
    first = run_pipeline(ws, path)
    assert first.state == "done", first.error
    ingest = first.steps[0].outputs
    assert ingest["imported"] == 4 and ingest["annotations"] > 0 and ingest["errors"] == 0
    assert ws.db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0] == ingest["annotations"]
    assert ws.db.execute("SELECT COUNT(DISTINCT status) FROM images").fetchone()[0] == 1  # all "done"
    assert new_image_files(ws, pipeline) == []

    shapes.write_yolo(ws.root / "incoming" / "batch-2", count=3, seed=2, size=96)
    (ws.root / "incoming" / "broken").mkdir()
    (ws.root / "incoming" / "broken" / "readme.txt").write_text("no dataset here")
    assert len(new_image_files(ws, pipeline)) == 3
    second = run_pipeline(ws, path)
    out = second.steps[0].outputs
    incoming = ws.root / "incoming"
    assert out["imported"] == 3 and out["errors"] == 1 and out["unreadable"] == [str(incoming / "broken")]
    assert set(out["batches"]) == {str(incoming / "batch-1"), str(incoming / "batch-2"), str(incoming / "broken")}
    log = second.steps[0].log
    assert "batch batch-2 (yolo): 3 new image(s)" in log and "skipped batch broken" in log
    assert "batch-1" not in log  # imported unchanged before: not read again
    # loose images beside the batches are not imported in this mode, so the watch does not count them
    write_images(incoming, 2, seed=12)
    assert new_image_files(ws, pipeline) == []
    third = run_pipeline(ws, path)
    assert third.steps[0].state == "done" and "no new or changed batch folders" in third.steps[0].log


# -- the command ----------------------------------------------------------------------------------------------------
def test_cli_watch_alarm_and_errors(intake: Any) -> None:
    ws, path = intake
    runner = CliRunner()
    write_images(ws.root / "incoming", 2, seed=9)
    result = runner.invoke(cli, ["-w", str(ws.root), "pipeline", "watch", "--min-new", "2", "--settle", "0", "--poll", "0.05",
                                 "--max-runs", "1", "--ignore-alarms", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in lines] == ["watching", "trigger", "run", "stopped"]
    assert lines[0]["triggers"] == ["2 new images"] and lines[2]["state"] == "done"

    result = runner.invoke(cli, ["-w", str(ws.root), "pipeline", "alarm", "PSI 0.4", "--source", "monitor", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["source"] == "monitor"
    result = runner.invoke(cli, ["-w", str(ws.root), "pipeline", "watch", "--poll", "0.05", "--max-runs", "1"])
    assert result.exit_code == 0, result.output
    assert "trigger: drift alarm from monitor: PSI 0.4" in result.stdout and "watch stopped after 1 run" in result.stdout

    for args, message in ((["--every", "soon"], "not a duration"),
                          (["--ignore-alarms"], "nothing to watch"),
                          ([str(ws.root / "other.yaml"), "--min-new", "5"], "--min-new needs an ingest step")):
        (ws.root / "other.yaml").write_text("steps:\n - version:\n")
        result = runner.invoke(cli, ["-w", str(ws.root), "pipeline", "watch", *args])
        assert result.exit_code == 2 and message in result.output, result.output


def test_sigterm_stops_the_watch_cleanly(intake: Any) -> None:
    ws, path = intake
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "cvops", "-w", str(ws.root), "pipeline", "watch", "--min-new",
                             "10", "--poll", "0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not status_path(ws, path).is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr.decode()
    assert b"watch stopped after 0 run(s)" in stdout
    status = watch_status(ws, path)
    assert status is not None and status.state == "stopped" and status.pid == proc.pid


def test_a_watch_resumes_the_run_a_dead_process_left_unfinished(intake: Any) -> None:
    ws, path = intake
    write_images(ws.root / "incoming", 2, seed=11)
    first = run_pipeline(ws, path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ws.db.execute("UPDATE pipeline_runs SET state = 'running', finished_at = NULL, pid = ? WHERE id = ?",
                  [dead.pid, first.id])
    ws.db.execute("UPDATE pipeline_steps SET state = 'running' WHERE run_id = ? AND step_index = 2", [first.id])
    ws.db.conn.commit()
    events: list[dict[str, Any]] = []
    reports = watch(ws, path, [Schedule(3600)], poll_s=0.01, on_event=events.append, max_runs=1)
    assert reports[0].trigger == f"watch: resuming run {first.id} (interrupted: process {dead.pid} ended without " \
                                 "finishing the run)"
    assert [s.state for s in reports[0].steps] == ["cached", "cached", "done"]  # the unfinished step runs
    # the last run finished now: a new watch has nothing to resume (and the schedule waits an hour)
    assert watch(ws, path, [Schedule(3600)], poll_s=0.01, cancel=_cancel_soon(), max_runs=1) == []


def _cancel_soon() -> CancelToken:
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    return token


def test_a_file_made_invalid_under_the_watch_is_reported_and_not_run(intake: Any) -> None:
    ws, path = intake
    cancel = CancelToken()
    events: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: watch(ws, path, [Schedule(3600)], poll_s=0.02, cancel=cancel,
                                                   on_event=events.append))
    path.write_text(PIPELINE.replace("FORMAT", "images"))
    thread.start()
    deadline = time.monotonic() + 20
    while "run" not in [e["event"] for e in events] and time.monotonic() < deadline:
        time.sleep(0.02)
    path.write_text(PIPELINE.replace("FORMAT", "tiff"))  # the watch reads the file again at every check
    while "steps[0].ingest.format" not in (getattr(watch_status(ws, path), "message", "")) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    cancel.cancel()
    thread.join(10)
    status = watch_status(ws, path)
    assert status is not None and "pipeline.yaml: steps[0].ingest.format: expected one of" in status.message
    assert [e["event"] for e in events].count("run") == 1


def test_cli_demo_sets_up_the_loop_and_adds_batches(tmp_path: Path) -> None:
    runner = CliRunner()
    root = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", str(root), "--count", "12", "--loop", "--json"])
    assert result.exit_code == 0, result.output
    loop = json.loads(result.stdout)["loop"]
    assert loop["benchmark"] == "field" and loop["benchmark_images"] > 0 and Path(loop["incoming"]).is_dir()
    pipeline = load(Path(loop["pipeline"]))
    assert [s.kind for s in pipeline.steps][:5] == ["ingest", "check", "version", "train", "evaluate"]
    assert pipeline.steps[3].settings["device"] == "auto" and pipeline.steps[4].settings["benchmark"] == "field"
    for expected in ("batch-001", "batch-002"):
        result = runner.invoke(cli, ["demo", str(root), "--batch", "3", "--json"])
        assert result.exit_code == 0, result.output
        assert Path(json.loads(result.stdout)["batch"]).name == expected
    with Workspace.open(root) as ws:
        assert len(new_image_files(ws, pipeline)) == 6
    result = runner.invoke(cli, ["demo", str(tmp_path / "nothing"), "--batch", "3"])
    assert result.exit_code == 2 and "is not a cvops workspace" in result.output.lower(), result.output
