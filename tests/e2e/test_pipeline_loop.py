"""The CVOps loop on the demo, end to end, through the console script (issue 14's acceptance).

``cvops demo ws --loop``, as the walkthrough in docs/pipelines.md starts: 128 labelled shapes, a pinned benchmark of
field images (the harder variant: darker, noisier, other backgrounds) and a pipeline file with every step, from
ingest to deploy. Then:

1. the first run trains a model (no champion yet: from scratch), the gate's floor alone decides, and it is
   promoted, exported, verified, bundled and deployed to a folder;
2. 100 new field images arrive in the watched folder as a labelled batch (``cvops demo ws --batch 100``);
   ``cvops pipeline watch --min-new 100``
   triggers, freezes a new version and fine-tunes a challenger from the champion — and is killed (with its training
   process) mid-training; the watch started again resumes the unfinished run: the steps before train are cached, the
   training run carries on from its last checkpoint; the gate compares both on the benchmark and the challenger is
   promoted, exported, verified, bundled and deployed, and the deployed bundle's selftest passes;
3. a deliberately worse challenger (one epoch from scratch) is rejected, the decision naming the failed criteria;
   the champion and the deployed bundle stay as they were;
4. a run with nothing changed re-runs no step.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from acceptance_testing import CVOPS, cvops_json
from cvops.pipelines.demo import write_loop_pipeline

def catalog(ws: Path, sql: str, *params: Any) -> list[tuple]:
    con = sqlite3.connect(f"file:{ws / 'cvops.db'}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def watch(ws: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(CVOPS), "-w", str(ws), "pipeline", "watch", "--min-new", "100", "--settle", "1",
                             "--poll", "0.5", "--json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})


def events_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_the_loop_retrains_and_redeploys_on_new_data(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    timings: dict[str, float] = {}
    demo = cvops_json("demo", str(ws), "--loop")
    bench = demo["loop"]
    assert bench["benchmark"] == "field" and bench["benchmark_images"] >= 40
    assert [b["name"] for b in cvops_json("-w", str(ws), "benchmark", "list")] == ["field"]

    # 1. the first run: no champion yet; trained from scratch, the floor decides, deployed
    started = time.monotonic()
    first = cvops_json("-w", str(ws), "pipeline", "run")
    timings["first_run_s"] = round(time.monotonic() - started, 1)
    assert first["state"] == "done", first["error"]
    assert [s["state"] for s in first["steps"]] == ["done"] * 11
    assert first["decision"]["promote"] is True and "no champion yet" in first["decision"]["reason"]
    champion = first["steps"][3]["outputs"]["context"]["model"]
    assert cvops_json("-w", str(ws), "models", "show", "champion")["name"] == champion
    edge = ws / "edge" / "ct-loop"  # TARGET/<pipeline name>, replaced by each deployment
    assert first["steps"][10]["outputs"]["targets"][0]["deployed_to"] == str(edge)
    assert json.loads((edge / "model.json").read_text())["lineage"]["model"] == champion

    # 2. new field images arrive; the watch triggers, and is killed mid-training with its training process
    batch = cvops_json("demo", str(ws), "--batch", "100")
    assert Path(batch["batch"]) == ws / "incoming" / "batch-001"
    started = time.monotonic()
    proc = watch(ws)
    deadline = time.monotonic() + 600
    run: list[tuple] = []
    while time.monotonic() < deadline and proc.poll() is None:
        run = catalog(ws, "SELECT r.id, r.pid, r.run_dir FROM runs r WHERE r.id > ? AND EXISTS (SELECT 1 FROM "
                           "run_epochs e WHERE e.run_id = r.id) ORDER BY r.id DESC LIMIT 1",
                      first["steps"][3]["outputs"]["run_id"])
        last = Path(run[0][2]) / "train" / "weights" / "last.pt" if run else None
        # kill between two checkpoints (one is written each epoch): not while last.pt is being written
        if last is not None and last.is_file() and time.time() - last.stat().st_mtime > 0.5:
            break
        time.sleep(0.2)
    assert run and proc.poll() is None, proc.communicate()
    run_id, child_pid, _ = run[0]
    proc.kill()
    os.killpg(child_pid, signal.SIGKILL)
    killed = events_of(proc.communicate(timeout=30)[0])
    assert [e["event"] for e in killed] == ["watching", "trigger"]
    assert killed[1]["reason"] == "100 new images (at least 100)"
    interrupted = cvops_json("-w", str(ws), "pipeline", "status")
    assert interrupted["state"] == "failed" and interrupted["error"].startswith("interrupted")

    proc = watch(ws, "--max-runs", "1")
    stdout, stderr = proc.communicate(timeout=900)
    timings["challenger_run_s"] = round(time.monotonic() - started, 1)
    assert proc.returncode == 0, stderr[-3000:]
    events = events_of(stdout)
    assert [e["event"] for e in events] == ["watching", "trigger", "run", "stopped"]
    assert events[1]["reason"] == f"resuming run {interrupted['id']} ({interrupted['error']})"
    second = cvops_json("-w", str(ws), "pipeline", "show", str(events[2]["run"]))
    assert second["state"] == "done", second["error"]
    assert [s["state"] for s in second["steps"]] == ["cached"] * 3 + ["done"] * 8  # ingest, check, version: done before the kill
    ingested = catalog(ws, "SELECT COUNT(*) FROM images")[0][0]
    assert ingested == 128 + 60 + 100
    train = second["steps"][3]
    assert train["outputs"]["run_id"] == run_id  # the killed training run, carried on
    assert f"resuming training run {run_id} from its last checkpoint" in train["log"]
    challenger = train["outputs"]["context"]["model"]
    shown = cvops_json("-w", str(ws), "models", "show", challenger)
    assert shown["parent_model_id"] == cvops_json("-w", str(ws), "models", "show", champion)["id"]
    assert second["steps"][2]["outputs"]["context"]["version"] != first["steps"][2]["outputs"]["context"]["version"]
    decision = second["decision"]
    assert decision["promote"] is True, decision
    names = [c["name"] for c in decision["criteria"]]
    assert names[:2] == ["floor", "min_gain"] and {"class_drop:circle", "class_drop:square"} <= set(names)
    assert all(c["champion"] is not None for c in decision["criteria"])
    evaluation = second["steps"][4]["outputs"]["context"]["evaluation"]
    assert evaluation["benchmark"] == "field" and evaluation["champion"]["model"] == champion
    deployed = second["steps"][10]["outputs"]["targets"][0]
    assert deployed["ok"] is True
    assert json.loads((edge / "model.json").read_text())["lineage"]["model"] == challenger
    selftest = subprocess.run([str(Path(CVOPS).parent / "python"), str(edge / "run.py"), "--selftest"],
                              capture_output=True, text=True, timeout=300)
    assert selftest.returncode == 0, selftest.stdout + selftest.stderr
    timeline = cvops_json("-w", str(ws), "models", "timeline")
    assert [(t["model"], t["by"]) for t in timeline[:2]] == [(challenger, f"pipeline run {second['id']}"),
                                                             (champion, f"pipeline run {first['id']}")]
    assert timeline[0]["deployments"] and timeline[1]["deployments"]

    # 3. a deliberately worse challenger: one epoch from scratch; rejected, nothing deployed
    bundle_before = (edge / "model.json").read_bytes()
    deployed_before = sorted(p.name for p in (ws / "edge").iterdir())
    worse = write_loop_pipeline(ws / "worse.yaml", epochs=1, imgsz=64, from_champion=False)
    started = time.monotonic()
    rejected = cvops_json("-w", str(ws), "pipeline", "run", str(worse))
    timings["rejected_run_s"] = round(time.monotonic() - started, 1)
    assert rejected["state"] == "done", rejected["error"]
    assert rejected["decision"]["promote"] is False
    failed = [c["name"] for c in rejected["decision"]["criteria"] if c["passed"] is False]
    assert "min_gain" in failed and rejected["decision"]["reason"].startswith("rejected: ")
    assert all(name in rejected["decision"]["reason"] for name in failed)
    assert [s["state"] for s in rejected["steps"][6:]] == ["skipped"] * 5
    assert cvops_json("-w", str(ws), "models", "show", "champion")["name"] == challenger
    assert (edge / "model.json").read_bytes() == bundle_before
    assert sorted(p.name for p in (ws / "edge").iterdir()) == deployed_before == ["ct-loop"]

    # 4. nothing changed: no step runs again
    started = time.monotonic()
    again = cvops_json("-w", str(ws), "pipeline", "run")
    timings["no_change_rerun_s"] = round(time.monotonic() - started, 2)
    assert [s["state"] for s in again["steps"]] == ["cached"] * 11
    print(json.dumps({"loop_timings": timings, "first_map50_95": first["decision"]["criteria"][0]["challenger"],
                      "challenger_map50_95": decision["criteria"][0]["challenger"],
                      "worse_map50_95": rejected["decision"]["criteria"][0]["challenger"]}))
