"""Model registry and lineage, run history and comparison, and the `train` / `runs` / `models` CLI.

Models m1 and m2 are those of the session's shared trained workspace (``training_testing``: two tiny runs on 40
demo images, CPU), copied for each test; the module trains three more tiny runs of its own (64 px, batch 8, CPU): a
fine-tuning, one that fails on bad weights, and a segmentation model, which needs polygons.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from training_testing import IMGSZ, RUNS

from cvops.cli import cli
from cvops.samples.demo import run_demo
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.registry import champion_timeline, get_model, lineage, list_models, promote
from cvops.catalog.store import sha256_file
from cvops.training.child import _CsvWatcher, EventWriter, resolve_device, train_args
from cvops.training.history import compare_runs, get_run, list_runs
from cvops.models.offline import _offline_check_amp
from cvops.training.runner import model_for_task, version_task
from cvops.data.workspace import Workspace

TINY = ["--imgsz", "64", "--batch", "8", "--device", "cpu"]


def _cli(root: Path, *args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(cli, ["-w", str(root), *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else {}


@pytest.fixture
def ws(trained_workspace_copy: Path):
    """This test's copy of the trained workspace: runs 1 and 2, models m1 and m2 (``RUNS``)."""
    workspace = Workspace.open(trained_workspace_copy)
    yield workspace
    workspace.close()


def test_a_finished_run_registers_a_model_with_full_lineage(ws: Workspace) -> None:
    m = get_model(ws, "m1")
    version = ws.db.execute("SELECT id, content_hash FROM versions WHERE name = 'v1'").fetchone()
    assert (m.version_id, m.version_hash, m.version_name) == (version[0], version[1], "v1")
    assert [c["name"] for c in m.classes] == ["circle", "square", "triangle"]
    assert [c["index"] for c in m.classes] == [0, 1, 2]
    assert m.task == "detect" and m.architecture == "yolo11n.yaml" and m.preset == "fast" and m.seed == RUNS[0][1]
    assert m.params["epochs"] == RUNS[0][0] and m.params["imgsz"] == IMGSZ and "lr0" in m.params and "optimizer" in m.params
    for key in ("python", "torch", "ultralytics", "cuda", "device_name"):
        assert key in m.environment
    assert m.environment["device"] == "cpu"
    assert Path(m.weights).is_file() and Path(m.weights).parent == ws.root / "models"
    assert sha256_file(Path(m.weights)) == m.weights_sha256
    assert "metrics/mAP50(B)" in m.metrics and isinstance(m.metrics["per_class"], list)
    assert m.base_weights is None and m.parent_model_id is None and not m.champion


def test_model_refs_and_promote(ws: Workspace) -> None:
    assert [m.name for m in list_models(ws)] == ["m1", "m2"]
    assert get_model(ws, 2).name == get_model(ws, "latest").name == "m2"
    with pytest.raises(NotFoundError):
        get_model(ws, "m99")
    promote(ws, "m1")
    promote(ws, "m2")
    assert get_model(ws, "champion").name == "m2"
    assert [m.name for m in list_models(ws) if m.champion] == ["m2"]
    listed = _cli(ws.root, "models", "list", "--json")
    assert [m["champion"] for m in listed] == [False, True]
    assert _cli(ws.root, "models", "promote", "m1", "--json")["champion"] is True
    assert get_model(ws, "champion").name == "m1"


def test_the_champion_timeline_records_every_promotion(ws: Workspace) -> None:
    assert champion_timeline(ws) == []
    promote(ws, "m1")
    promote(ws, "m1")  # already the champion: nothing new on the timeline
    promote(ws, "m2", by="pipeline run 7")
    m1 = get_model(ws, "m1").id
    export = ws.db.execute("INSERT INTO exports (model_id, format, precision, path, sha256, size_bytes, imgsz, "
                           "created_at) VALUES (?, 'onnx', 'fp32', 'x.onnx', 'abc', 1, 64, 0)", [m1]).lastrowid
    spans = champion_timeline(ws)
    assert [(s.model, s.by, s.until is None) for s in spans] == [("m2", "pipeline run 7", True), ("m1", "manual", False)]
    assert spans[1].until == spans[0].since and spans[1].since <= spans[1].until
    # a deployment of m1's export while m1 served shows on its span
    ws.db.execute("INSERT INTO deployments (export_id, bundle, target, created_at, ok, report) VALUES (?, 'b', '/edge', "
                  "?, 1, '{}')", [export, (spans[1].since + spans[1].until) / 2])
    ws.db.conn.commit()
    assert champion_timeline(ws)[1].deployments[0]["target"] == "/edge" and champion_timeline(ws)[0].deployments == []
    rows = _cli(ws.root, "models", "timeline", "--json")
    assert [r["model"] for r in rows] == ["m2", "m1"] and rows[1]["deployments"][0]["ok"] is True


def test_promote_refuses_a_model_without_weights(ws: Workspace, tmp_path: Path) -> None:
    weights = Path(get_model(ws, "m2").weights)
    moved = tmp_path / "m2.pt"
    weights.rename(moved)
    try:
        with pytest.raises(ValidationError, match="missing"):
            promote(ws, "m2")
    finally:
        moved.rename(weights)


def test_history_and_compare(ws: Workspace) -> None:
    runs = list_runs(ws)
    assert [r["run_id"] for r in runs][-2:] == [2, 1]
    one = get_run(ws, 1)
    assert [e["epoch"] for e in one["epochs_table"]] == list(range(1, RUNS[0][0] + 1)) and one["model"] == "m1"
    assert one["metrics"]["map50"] is not None and one["environment"]["ultralytics"]
    c = compare_runs(ws, [1, 2])
    assert [r["run_id"] for r in c["runs"]] == [1, 2]
    assert c["hyperparameters"]["epochs"] == [e for e, _ in RUNS] and c["hyperparameters"]["seed"] == [s for _, s in RUNS]
    assert "lr0" not in c["hyperparameters"]  # equal values are not differences
    assert c["metric_deltas"]["map50"][0] == 0.0
    assert set(c["curves"]) == {"1", "2"} and len(c["curves"]["2"]) == RUNS[1][0]
    for row in c["per_class_ap"]:
        assert len(row["ap50"]) == 2 and row["delta_ap50"][0] in (0.0, None)
    with pytest.raises(ValidationError):
        compare_runs(ws, [1])
    with pytest.raises(NotFoundError):
        compare_runs(ws, [1, 99])


def test_runs_and_models_cli(ws: Workspace) -> None:
    root = ws.root
    assert {r["run_id"] for r in _cli(root, "runs", "list", "--json")} >= {1, 2}
    shown = _cli(root, "runs", "show", "1", "--json")
    assert shown["state"] == "finished" and len(shown["epochs_table"]) == RUNS[0][0]
    compared = _cli(root, "runs", "compare", "1", "2", "--json")
    assert set(compared) >= {"runs", "metrics", "per_class_ap", "hyperparameters"}
    model = _cli(root, "models", "show", "m2", "--json")
    assert model["lineage"] == ["m2"] and model["run_id"] == 2
    for args in (("runs", "list"), ("runs", "show", "2"), ("runs", "compare", "1", "2"), ("models", "list"),
                 ("models", "show", "m1")):
        result = CliRunner().invoke(cli, ["-w", str(root), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    _cli(root, "models", "show", "nope", code=2)
    _cli(root, "runs", "show", "99", code=2)
    _cli(root, "train", *TINY, code=2)  # neither --version nor --resume
    _cli(root, "train", "--version", "v9", *TINY, code=2)


@pytest.mark.slow
def test_fine_tuning_from_a_registered_model_records_the_parent(ws: Workspace) -> None:
    parent = get_model(ws, "m1")
    out = _cli(ws.root, "train", "--version", "v1", "--epochs", "1", "--weights", parent.weights, *TINY, "--json")
    child = get_model(ws, out["model"]["name"])
    assert child.parent_model_id == parent.id and child.base_weights_sha256 == parent.weights_sha256
    assert [m.name for m in lineage(ws, child.name)] == [child.name, "m1"]


def test_bad_weights_fail_the_run_with_a_log_tail_and_exit_1(ws: Workspace, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint" * 10)
    before = len(list_models(ws))
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "train", "--version", "v1", "--epochs", "1",
                                      "--weights", str(junk), *TINY, "--json"], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["state"] == "failed" and report["model"] is None and report["error"]
    run = get_run(ws, report["run_id"])
    assert run["log_tail"] and "junk.pt" in run["log_tail"] + (run["error"] or "")
    assert len(list_models(ws)) == before
    _cli(ws.root, "train", "--version", "v1", "--weights", str(tmp_path / "missing.pt"), *TINY, code=2)


@pytest.mark.slow
def test_polygons_train_a_segmentation_model(tmp_path: Path) -> None:
    from cvops.data.annotations import NewAnnotation
    from cvops.training import train
    from cvops.versions.create import create_version

    # Its own tiny run: a segmentation model needs a version with polygons, which the shared workspace has not.
    root = tmp_path / "seg"
    run_demo(root, count=16)
    with Workspace.open(root) as w:
        assert version_task(w, 1) == "detect"
        cls = w.classes.list()[0].id
        items = []
        for image in w.images.page(limit=100):
            x, y = image.width / 4, image.height / 4
            items.append(NewAnnotation(image.id, cls, "polygon", points=[[x, y], [2 * x, y], [1.5 * x, 2 * y]]))
        w.annotations.add_many(items)
        info = create_version(w, "with polygons")
        assert version_task(w, info.id) == "segment"
        result = train(w, info.name, epochs=1, imgsz=64, batch=8, device="cpu")
        assert result.state == "finished", result.error
        m = get_model(w, result.model or "")
        assert m.task == "segment" and m.architecture == "yolo11n-seg.yaml"


def test_task_model_device_and_amp_helpers() -> None:
    assert model_for_task("yolo11n.yaml", "segment") == "yolo11n-seg.yaml"
    assert model_for_task("yolo11s-seg.yaml", "detect") == "yolo11s.yaml"
    assert model_for_task("/w/best.pt", "segment") == "/w/best.pt"
    import torch

    assert resolve_device("cpu") == "cpu" and resolve_device("0,1") == "0,1"
    assert resolve_device("auto") == ("0" if torch.cuda.is_available() else "cpu")
    from ultralytics.nn.tasks import DetectionModel

    assert _offline_check_amp(DetectionModel("yolo11n.yaml", nc=2, verbose=False)) is False  # CPU: no AMP
    args = train_args({"data_yaml": "d.yaml", "imgsz": 64, "batch": 8, "epochs": 3, "seed": 0, "run_dir": "r"}, "0")
    assert args["amp"] is True and args["device"] == "0" and args["epochs"] == 3
    assert train_args({"data_yaml": "d", "imgsz": 64, "batch": 8, "resume": "last.pt"}, "cpu")["amp"] is False


def test_csv_watcher_turns_results_rows_into_epoch_events(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    events_path = tmp_path / "events.jsonl"
    writer = EventWriter(events_path)
    watcher = _CsvWatcher(results, writer, epochs=3)
    watcher.poll()  # no file yet
    results.write_text("epoch,time,train/box_loss,metrics/mAP50(B)\n1,2.5,1.2,0.1\n")
    watcher.poll()
    with results.open("a") as f:
        f.write("2,5.0,1.0,0.3\n")
    watcher.poll()
    writer.close()
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    assert [(e["epoch"], e["metrics"]["metrics/mAP50(B)"]) for e in events] == [(1, 0.1), (2, 0.3)]
    assert "time" not in events[0]["metrics"]


def test_offline_requirement_check_accepts_installed_packages_only() -> None:
    from cvops.models.offline import OfflineError, _no_requirements

    assert _no_requirements(["onnx>=1.12.0,<2.0.0", "onnxruntime", "numpy"]) is True  # onnxruntime-gpu counts
    with pytest.raises(OfflineError, match="surely-not-installed"):
        _no_requirements("surely-not-installed>=1")
    with pytest.raises(OfflineError):
        _no_requirements(["onnx>=99"])
    assert _no_requirements([("surely-not-installed", "onnxruntime-gpu", "onnxruntime"), "numpy"]) is True
    assert _no_requirements(["surely-not-installed"], install=False) is False


def test_a_corrupt_image_stays_a_corrupt_image_once_ultralytics_is_loaded(tmp_path: Path) -> None:
    """Ultralytics swaps PIL's Image.open for one that pip-installs pi-heif on a file Pillow cannot identify; offline
    that must not turn every corrupt image into an OfflineError."""
    from PIL import Image, UnidentifiedImageError

    from cvops.models.offline import make_offline

    make_offline(tmp_path / "config", block_network=False)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(UnidentifiedImageError):
        Image.open(broken)
    good = tmp_path / "good.png"
    Image.new("RGB", (4, 3)).save(good)
    with Image.open(good) as image:
        assert image.size == (4, 3)


def test_a_moved_workspace_keeps_its_models(trained_workspace: Path, tmp_path: Path) -> None:
    import shutil

    moved = tmp_path / "elsewhere"
    shutil.copytree(trained_workspace, moved)  # as a user moves the folder
    with Workspace.open(moved) as w:
        m = get_model(w, "m1")
        assert Path(m.weights).parent == moved / "models" and Path(m.weights).is_file()
        assert sha256_file(Path(m.weights)) == m.weights_sha256
        promote(w, "m1")


def test_migration_15_puts_an_older_workspaces_champion_on_the_timeline(trained_workspace_copy: Path) -> None:
    with Workspace.open(trained_workspace_copy) as w:
        w.db.execute("DROP TABLE champion_history")
        w.db.execute("DROP TABLE label_queue")  # migrations 16 to 19: a schema-14 catalog has none of them
        w.db.execute("DROP TABLE field_files")
        w.db.execute("DROP TABLE image_tags")  # migration 18
        w.db.execute("DROP TABLE tags")
        w.db.execute("DROP TABLE tuning_studies")  # migration 19
        w.db.execute("UPDATE models SET champion = 1 WHERE name = 'm2'")
        w.db.execute("DELETE FROM migrations WHERE version >= 15")
        w.db.execute("PRAGMA user_version = 14")
        w.db.conn.commit()
    with Workspace.open(trained_workspace_copy) as w:  # migrates
        m2 = get_model(w, "m2")
        spans = champion_timeline(w)
        assert [(s.model, s.since, s.until, s.by) for s in spans] == [
            ("m2", m2.created_at, None, "before the timeline was recorded")]
        promote(w, "m1")
        assert [(s.model, s.until is None) for s in champion_timeline(w)] == [("m1", True), ("m2", False)]
