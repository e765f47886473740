"""Scale-out on a real local Ray cluster (a head and a worker node on 127.0.0.1, :mod:`ray_testing`): a remote
training streams its events into the catalog and registers its model here, a cancel reaches the remote child, a
pre-label and a health check over the cluster equal the local ones exactly, a cluster stopped mid-job fails the job
cleanly, and without Ray ``--ray`` says how to install it."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from ray_testing import LocalCluster
from training_testing import copy_workspace

from cvops.assist import prelabel as P
from cvops.cli import cli
from cvops.data.health import check
from cvops.data.workspace import Workspace
from cvops.models.registry import get_model
from cvops.scaleout.cluster import RAY_MISSING, ClusterError
from cvops.scaleout.inference import cluster_decoder, prelabel as prelabel_on_cluster
from cvops.scaleout.training import ray_spawner
from cvops.training.runner import cancel_run, resume, start_run, supervise

pytestmark = pytest.mark.slow
TINY = {"imgsz": 64, "batch": 8, "device": "cpu"}
CONF = 0.001  # an unsure tiny model: keep its guesses so that there are many detections to compare


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """The module's cluster: a head and one worker node, 1 CPU and a 100 MB object store each."""
    local = LocalCluster(workers=1)
    yield local
    local.stop()


@pytest.fixture
def ws(exported_workspace: tuple[Path, int], tmp_path: Path) -> Iterator[Workspace]:
    """A copy of the trained demo workspace whose latest model has an ONNX export."""
    workspace = Workspace.open(copy_workspace(exported_workspace[0], tmp_path / "ws"))
    yield workspace
    workspace.close()


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_remote_training_streams_its_events_and_registers_its_model_here(cluster: LocalCluster,
                                                                          ws: Workspace) -> None:
    out = invoke("train", "-w", str(ws.root), "--version", "v1", "--epochs", "2", "--imgsz", "64", "--batch", "8",
                 "--device", "cpu", "--ray", cluster.address, "--ray-data", "ship", "--json")
    assert out["state"] == "finished" and out["epochs_done"] == 2, out
    run_dir = Path(out["run_dir"])
    kinds = [e["event"] for e in events(run_dir)]
    assert kinds[0] == "started" and kinds[-1] == "finished" and kinds.count("epoch") == 2 and "batch" in kinds
    assert all(str(run_dir) in e["last"] for e in events(run_dir) if e["event"] == "checkpoint")  # local paths
    epochs = ws.db.execute("SELECT epoch FROM run_epochs WHERE run_id = ? ORDER BY epoch", [out["run_id"]]).fetchall()
    assert epochs == [(1,), (2,)]
    assert (run_dir / "train" / "weights" / "best.pt").is_file()
    assert "Ultralytics" in (run_dir / "train.log").read_text()  # the node's output came back too
    model = get_model(ws, out["model"]["name"])
    assert Path(model.weights).is_file() and model.run_id == out["run_id"]
    where = json.loads(ws.db.execute("SELECT environment FROM models WHERE id = ?", [model.id]).fetchone()[0])["ray"]
    assert where["address"] == cluster.address and where["data"] == "shipped" and where["node_ip"] == "127.0.0.1"
    assert where["node_id"] and where["hostname"]
    shown = CliRunner().invoke(cli, ["runs", "show", str(out["run_id"]), "-w", str(ws.root)])
    assert f"Ray node {where['hostname']}, 127.0.0.1, cluster {cluster.address}" in shown.stdout


def test_a_run_asking_for_gpus_the_cluster_lacks_fails_at_once(cluster: LocalCluster, ws: Workspace) -> None:
    result = CliRunner().invoke(cli, ["train", "-w", str(ws.root), "--version", "v1", "--epochs", "1", "--gpus", "1",
                                      "--ray", cluster.address, "--json"])
    assert result.exit_code == 1
    assert "has 0 GPU(s) in all; the run asks for 1" in json.loads(result.stdout)["error"]["message"]
    state, error = ws.db.execute("SELECT state, error FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert state == "failed" and error.startswith("not started: ")  # never left queued


def after_first_epoch(root: Path, run_id: int, action: Any) -> threading.Thread:
    """A thread that calls ``action()`` once the run's first epoch is in the catalog (its own connection)."""

    def wait() -> None:
        with Workspace.open(root) as other:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not other.db.execute(
                    "SELECT 1 FROM run_epochs WHERE run_id = ?", [run_id]).fetchone():
                time.sleep(0.1)
            action(other)

    thread = threading.Thread(target=wait)
    thread.start()
    return thread


def test_a_cancel_reaches_the_remote_child(cluster: LocalCluster, ws: Workspace) -> None:
    from cvops.scaleout.cluster import connect

    with connect(cluster.address):
        run_id = start_run(ws, "v1", epochs=50, spawner=ray_spawner(cluster.address), **TINY)
        thread = after_first_epoch(ws.root, run_id, lambda other: cancel_run(other, run_id))  # as the GUI's Cancel
        result = supervise(ws, run_id)
        thread.join()
    assert result.state == "cancelled"
    assert result.error is None  # the child stopped by itself within the grace period: no kill was needed
    assert 1 <= result.epochs_done < 50
    assert (result.run_dir / "train" / "weights" / "last.pt").is_file()  # the checkpoint came back: resumable
    assert events(result.run_dir)[-1]["event"] == "cancelled"
    with connect(cluster.address):  # resumed on the cluster: last.pt goes there, one more epoch, its weights back
        resumed = resume(ws, run_id, epochs=result.epochs_done + 1, spawner=ray_spawner(cluster.address))
    assert resumed.state == "finished" and resumed.epochs_done == result.epochs_done + 1, resumed.error
    assert resumed.best_checkpoint == result.run_dir / "train" / "weights" / "best.pt"
    assert resumed.best_checkpoint.is_file() and resumed.model


def test_a_two_trial_study_trains_its_trials_on_the_cluster(cluster: LocalCluster, ws: Workspace,
                                                          tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("params:\n  lr0: {type: float, low: 0.001, high: 0.01}\n  imgsz: 64\n", encoding="utf-8")
    out = invoke("tune", "-w", str(ws.root), "--version", "v1", "--trials", "2", "--epochs", "2", "--space",
                 str(space), "--metric", "map50", "--pruner", "none", "--study", "remote", "--device", "cpu",
                 "--seed", "0", "--ray", cluster.address, "--json")
    assert out["state"] == "finished", out
    runs = [t["run_id"] for t in out["trials"]]
    assert len(runs) == 2 and all(t["state"] == "complete" for t in out["trials"]), out["trials"]
    for run_id in runs:  # every trial trained on the cluster, its epochs streamed back into this catalog
        env, epochs = ws.db.execute("SELECT environment, epochs_done FROM runs WHERE id = ?", [run_id]).fetchone()
        assert json.loads(env)["ray"]["address"] == cluster.address and epochs == 2
    best = ws.db.execute("SELECT environment FROM models WHERE run_id = ?", [out["best"]["run_id"]]).fetchone()
    assert best is not None and json.loads(best[0])["ray"]["address"] == cluster.address  # registered here


def suggestions(ws: Workspace) -> list[tuple[Any, ...]]:
    return sorted((a.image_id, a.class_id, a.box, a.confidence, a.model_id) for a in P.pending(ws))


def test_prelabel_over_the_cluster_equals_the_local_result_exactly(cluster: LocalCluster, ws: Workspace,
                                                                    tmp_path: Path) -> None:
    model = get_model(ws, "latest").name
    ids = [r[0] for r in ws.db.execute("SELECT id FROM images ORDER BY id")]
    local = P.prelabel(ws, model, image_ids=ids, conf=CONF, batch=4)
    expected = suggestions(ws)
    assert local.suggestions == len(expected) > 50
    P.reject(ws, [a.id for a in P.pending(ws)])
    ray = invoke("prelabel", "-w", str(ws.root), "--model", model, "--images", ",".join(map(str, ids)), "--conf",
                 str(CONF), "--batch", "4", "--ray", cluster.address, "--json")  # one chunk, read in place
    assert {**ray, "seconds": 0} == {**local.to_dict(), "seconds": 0}
    assert suggestions(ws) == expected
    P.reject(ws, [a.id for a in P.pending(ws)])
    shipped = prelabel_on_cluster(ws, cluster.address, model, image_ids=ids, conf=CONF, batch=4, data="ship",
                                  chunk=8)  # five chunks over both nodes, the images shipped as bytes
    assert shipped.images == local.images and suggestions(ws) == expected
    assert ws.db.execute("SELECT COUNT(*) FROM operations WHERE action = 'annotation.prelabel'").fetchone()[0] \
        == -(-len(ids) // 4) + 2  # local: one undo step per batch; the cluster: one per run


def test_health_check_over_the_cluster_equals_the_local_one(cluster: LocalCluster, ws: Workspace) -> None:
    local = check(ws).to_dict()
    ray = check(ws, decoder=cluster_decoder(ws, cluster.address, chunk=16)).to_dict()
    cli = invoke("check", "-w", str(ws.root), "--ray", cluster.address, "--json")
    for report in (local, ray, cli):
        report.pop("seconds"), report.pop("images_per_second")
    assert ray == local == cli and local["images_checked"] == 40 and local["findings"]


def test_a_cluster_stopped_mid_job_fails_the_job_cleanly(ws: Workspace, tmp_path: Path) -> None:
    from cvops.scaleout.cluster import connect

    doomed = LocalCluster(workers=0)  # a head node alone, stopped during the run
    try:
        with connect(doomed.address):
            run_id = start_run(ws, "v1", epochs=50, spawner=ray_spawner(doomed.address), **TINY)
            thread = after_first_epoch(ws.root, run_id, lambda other: doomed.stop())
            result = supervise(ws, run_id)
            thread.join()
        assert result.state == "failed" and f"Ray cluster at {doomed.address} was lost" in str(result.error)
        assert ws.db.execute("SELECT COUNT(*) FROM models WHERE run_id = ?", [run_id]).fetchone()[0] == 0
        with pytest.raises(ClusterError, match="cannot connect"):  # and no job starts on a cluster that is gone
            prelabel_on_cluster(ws, doomed.address, get_model(ws, "latest").name, image_ids=[1, 2], conf=CONF)
        assert P.pending_count(ws) == 0
    finally:
        doomed.stop()


def test_workers_without_this_cvops_get_it_shipped(cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    import cvops
    from cvops.scaleout.cluster import connect

    def imported() -> str:
        import cvops

        return str(cvops.__file__)

    with connect(cluster.address) as ray:  # the workers import this version: nothing is shipped
        assert "runtime_resources" not in ray.get(ray.remote(num_cpus=1)(imported).remote())
        with connect(cluster.address):  # jobs of one process share the connection...
            pass
        assert ray.is_initialized()  # ...and the last one to end leaves the cluster
        with pytest.raises(ClusterError, match="one cluster at a time"):
            with connect("127.0.0.1:1"):
                pass
    assert not ray.is_initialized()
    monkeypatch.setattr(cvops, "__version__", "0.0.0+elsewhere")  # as if the nodes had another version installed
    with connect(cluster.address) as ray:
        where = ray.get([ray.remote(num_cpus=1)(imported).remote() for _ in range(2)])
    assert all("runtime_resources" in w and w.endswith("cvops/__init__.py") for w in where), where


def test_without_ray_the_ray_options_say_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cvops.scaleout.cluster import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(ClusterError, match="pip install 'cvops-workbench\\[ray\\]'"):
        require_ray()
    invoke("init", str(tmp_path / "w"), "--json")
    for args in (["train", "--version", "v1"], ["prelabel"], ["check"], ["tune", "--version", "v1", "--trials", "1"]):
        result = CliRunner().invoke(cli, [*args, "-w", str(tmp_path / "w"), "--ray", "127.0.0.1:6379", "--json"])
        assert result.exit_code == 1 and json.loads(result.stdout)["error"] == {"code": "cluster",
                                                                               "message": RAY_MISSING}


def test_ray_usage_statistics_are_off_for_our_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connecting never lets Ray send its usage statistics (the workbench reaches no network)."""
    from cvops.scaleout.cluster import require_ray

    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    require_ray()
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
