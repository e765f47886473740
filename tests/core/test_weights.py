"""The weights library (`cvops weights add|list|remove`), training from it (`--weights NAME`, also a model of another
workspace), the from-scratch warning on real photographs, and batch progress with an ETA before the first epoch ends.

The checkpoint is built offline the way Ultralytics saves one (``YOLO("yolo11n.yaml").save``); the module trains two
tiny runs (24 demo images or 12 "photos", 64 px, batch 8, 1 epoch, CPU).
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cvops.cli import cli
from cvops.samples.demo import run_demo
from cvops.models.registry import get_model
from cvops.catalog.store import sha256_file
from cvops.training import run_progress, training_warnings
from cvops.training.runner import photo_count
from cvops.models.weights import inspect_checkpoint, list_weights
from cvops.data.workspace import Workspace
from training_testing import add_photo_version, copy_workspace, make_checkpoint

TINY = ["--epochs", "1", "--imgsz", "64", "--batch", "8", "--device", "cpu"]


def _cli(root: Path, *args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(cli, ["-w", str(root), *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else {}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24-image demo workspace for the module, never written: each test gets a copy (``demo_root``)."""
    root = tmp_path_factory.mktemp("weights") / "ws"
    run_demo(root, count=24)
    return root


@pytest.fixture
def demo_root(demo_source: Path, tmp_path: Path) -> Path:
    """This test's copy of the demo workspace (untrained: training from library weights is what is tested)."""
    return copy_workspace(demo_source, tmp_path / "demo-ws")


@pytest.fixture
def ws(tmp_path: Path):
    workspace = Workspace.create(tmp_path / "ws")
    yield workspace
    workspace.close()


def test_add_list_remove_with_json(ws: Workspace, checkpoint: Path, tmp_path: Path) -> None:
    entry = _cli(ws.root, "weights", "add", str(checkpoint), "--json")
    assert entry["added"] is True and entry["name"] == "yolo11n"
    assert (entry["architecture"], entry["task"], len(entry["classes"]), entry["imgsz"]) == ("yolo11n", "detect", 80,
                                                                                              640)
    assert entry["sha256"] == sha256_file(checkpoint) and entry["size_bytes"] == checkpoint.stat().st_size
    assert entry["file"] == f"weights/{entry['sha256'][:12]}-yolo11n.pt"  # stored relative to the workspace
    copy = ws.root / entry["file"]
    assert copy.is_file() and sha256_file(copy) == entry["sha256"] and entry["path"] == str(copy)
    assert not [p for p in copy.parent.iterdir() if p.name.startswith(".")]  # no temp file left behind
    assert ws.db.execute("SELECT path FROM weights").fetchone()[0] == entry["file"]

    again = _cli(ws.root, "weights", "add", str(checkpoint), "--name", "other", "--json")
    assert again["added"] is False and again["name"] == "yolo11n"  # the same bytes: the existing entry
    changed = tmp_path / "changed.pt"
    shutil.copy(checkpoint, changed)
    with changed.open("ab") as f:
        f.write(b"\0")  # a zip archive still readable, other bytes
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "weights", "add", str(changed), "--name", "yolo11n"])
    assert result.exit_code == 2 and "named 'yolo11n'" in result.output
    _cli(ws.root, "weights", "add", str(changed), "--name", "bad name", code=2)

    listed = _cli(ws.root, "weights", "list", "--json")
    assert [w["name"] for w in listed] == ["yolo11n"] and listed[0]["used_by"] == []
    text = CliRunner().invoke(cli, ["-w", str(ws.root), "weights", "list"]).output
    assert "yolo11n" in text and "detect" in text

    removed = _cli(ws.root, "weights", "remove", "yolo11n", "--json")
    assert removed["removed"] is True and not copy.exists()
    assert _cli(ws.root, "weights", "list", "--json") == []
    _cli(ws.root, "weights", "remove", "yolo11n", code=2)


def test_a_checkpoint_with_numpy_metrics_and_a_segment_model_are_read(ws: Workspace, tmp_path: Path,
                                                                       checkpoint: Path) -> None:
    import numpy as np
    import torch
    from ultralytics import YOLO

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    ckpt["train_metrics"] = {"metrics/mAP50(B)": np.float64(0.5), "curve": np.arange(3, dtype=np.float32)}
    ckpt["train_args"] = {"imgsz": 320, "data": "coco.yaml"}
    torch.save(ckpt, tmp_path / "metrics.pt")
    info = inspect_checkpoint(tmp_path / "metrics.pt", tmp_path / "cfg")
    assert (info.architecture, info.imgsz, info.trained_on) == ("yolo11n", 320, "coco.yaml")
    YOLO("yolo11s-seg.yaml").save(str(tmp_path / "seg.pt"))
    seg = inspect_checkpoint(tmp_path / "seg.pt", tmp_path / "cfg")
    assert (seg.architecture, seg.task, len(seg.classes)) == ("yolo11s-seg", "segment", 80)


def _bad_files(folder: Path, checkpoint: Path) -> dict[str, Path]:
    import torch

    class Payload:
        def __reduce__(self) -> tuple:
            return (Path.touch, (folder / "payload-ran",))

    files = {"text": folder / "notes.pt", "truncated": folder / "half.pt", "state dict": folder / "state.pt",
             "code": folder / "evil.pt", "plain pickle": folder / "plain.pt", "empty": folder / "empty.pt"}
    files["text"].write_text("this is not a checkpoint\n" * 20)
    data = checkpoint.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    torch.save({"model": {"conv.weight": torch.zeros(2)}}, files["state dict"])
    torch.save({"model": Payload()}, files["code"])
    files["plain pickle"].write_bytes(pickle.dumps({"model": "yolo"}))
    files["empty"].write_bytes(b"")
    return files


def test_bad_files_are_refused_with_a_clear_message(ws: Workspace, checkpoint: Path, tmp_path: Path) -> None:
    files = _bad_files(tmp_path, checkpoint)
    expected = {"text": "not a PyTorch checkpoint", "truncated": "truncated or corrupt",
                "state dict": "no Ultralytics model", "code": "not model layers", "plain pickle": "not a PyTorch",
                "empty": "not a PyTorch checkpoint"}
    for kind, path in files.items():
        result = CliRunner().invoke(cli, ["-w", str(ws.root), "weights", "add", str(path)])
        assert result.exit_code == 2, (kind, result.output)
        message = " ".join(result.output.split())
        assert str(path) in message and expected[kind] in message, (kind, message)
    assert not (tmp_path / "payload-ran").exists()  # the pickle's code never ran
    missing = CliRunner().invoke(cli, ["-w", str(ws.root), "weights", "add", str(tmp_path / "nope.pt")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    folder = CliRunner().invoke(cli, ["-w", str(ws.root), "weights", "add", str(tmp_path)])
    assert folder.exit_code == 2
    assert list_weights(ws) == [] and not any((ws.root / "weights").glob("*"))


@pytest.mark.slow
def test_train_from_library_weights_then_reuse_the_model_in_another_workspace(
        demo_root: Path, checkpoint: Path, tmp_path: Path) -> None:
    _cli(demo_root, "weights", "add", str(checkpoint), "--name", "coco-n")
    with Workspace.open(demo_root) as ws:
        assert training_warnings(ws, "v1") == []  # the demo's generated shapes: no warning
    out = _cli(demo_root, "train", "--version", "v1", "--weights", "coco-n", *TINY, "--json")
    assert out["state"] == "finished" and out["warnings"] == [], out
    with Workspace.open(demo_root) as ws:
        library = list_weights(ws)[0]
        row = ws.db.execute("SELECT base_weights, weights_name FROM runs WHERE id = ?", [out["run_id"]]).fetchone()
        assert (row[0], row[1]) == (library.path, "coco-n") and library.used_by == [out["run_id"]]
        model = get_model(ws, out["model"]["name"])
        assert model.base_weights_sha256 == library.sha256
    shown = _cli(demo_root, "models", "show", out["model"]["name"], "--json")
    assert shown["base_weights_library"]["name"] == "coco-n"
    refused = CliRunner().invoke(cli, ["-w", str(demo_root), "weights", "remove", "coco-n"])
    assert refused.exit_code == 2 and f"run(s) {out['run_id']}" in refused.output
    _cli(demo_root, "weights", "remove", "coco-n", "--force")
    with Workspace.open(demo_root) as ws:  # the model's lineage keeps the weights' sha256
        assert get_model(ws, out["model"]["name"]).base_weights_sha256 == library.sha256

    assert _cli(demo_root, "models", "show", out["model"]["name"], "--json")["base_weights_library"] == {
        "name": "coco-n", "removed": True}

    other = Workspace.create(tmp_path / "other")
    other.close()
    model_file = demo_root / "models" / f"{out['model']['name']}.pt"
    entry = _cli(other.root, "weights", "add", str(model_file), "--json")
    assert entry["name"] == out["model"]["name"] and entry["classes"] == ["circle", "square", "triangle"]
    assert entry["imgsz"] == 64 and entry["architecture"] == "yolo11n" and entry["task"] == "detect"
    lineage = entry["lineage"]
    assert (lineage["workspace"], lineage["model"], lineage["version"]) == (str(demo_root.resolve()),
                                                                            out["model"]["name"], "v1")
    assert lineage["run_id"] == out["run_id"]
    shown = CliRunner().invoke(cli, ["-w", str(demo_root), "models", "show", out["model"]["name"]]).output
    assert "library entry coco-n (since removed)" in " ".join(shown.split())


def test_library_weights_of_another_task_are_refused_before_the_run(demo_root: Path, checkpoint: Path) -> None:
    from cvops.common.errors import ValidationError
    from cvops.training import start_run

    with Workspace.open(demo_root) as ws:
        ws.db.execute("INSERT INTO weights (name, path, sha256, size_bytes, architecture, task, classes, source, "
                      "added_at) VALUES ('pose-n', ?, 'x', 1, 'yolo11n-pose', 'pose', '[]', 'x', 0)",
                      [str(checkpoint)])
        runs = ws.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        with pytest.raises(ValidationError, match="pose-n hold a pose model"):
            start_run(ws, "v1", weights="pose-n", epochs=1, imgsz=64, device="cpu")
        assert ws.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == runs
        ws.db.execute("DELETE FROM weights WHERE name = 'pose-n'")


@pytest.mark.slow
def test_scratch_on_photos_warns_and_batches_report_progress_before_the_first_epoch(
        ws: Workspace, checkpoint: Path, tmp_path: Path) -> None:
    version = add_photo_version(ws, tmp_path / "photos")
    photos, train_images = photo_count(ws, ws.db.execute("SELECT id FROM versions").fetchone()[0])
    assert photos == train_images > 0
    warnings = training_warnings(ws, version, epochs=1)
    assert len(warnings) == 1 and "from scratch" in warnings[0] and "cvops weights add yolo11n.pt" in warnings[0]
    assert training_warnings(ws, version, weights=str(checkpoint)) == []

    result = CliRunner().invoke(cli, ["-w", str(ws.root), "train", "--version", version, *TINY, "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout holds only the report; the warning went to stderr first
    assert report["warnings"] == warnings and "warning: training from scratch" in " ".join(result.stderr.split())
    run_dir = Path(report["run_dir"])
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    started = events[kinds.index("started")]
    assert started["warnings"] == warnings
    first_batch, first_epoch = kinds.index("batch"), kinds.index("epoch")
    assert kinds.index("started") < first_batch < first_epoch
    batch = events[first_batch]
    assert (batch["epoch"], batch["epochs"], batch["batch"]) == (1, 1, 1) and batch["batches"] >= 1
    assert 0 < batch["fraction"] <= 1 and batch["eta_s"] >= 0
    epochs_rows = ws.db.execute("SELECT epoch FROM run_epochs WHERE run_id = ?", [report["run_id"]]).fetchall()
    assert epochs_rows == [(1,)]  # batches never become epoch rows
    assert run_progress(ws, report["run_id"]) is None  # the run ended: no live progress


def test_supervise_turns_batch_events_into_progress_with_an_eta(demo_root: Path, tmp_path: Path) -> None:
    from cvops.training import supervise

    with Workspace.open(demo_root) as ws:
        version = ws.db.execute("SELECT id, content_hash FROM versions WHERE name = 'v1'").fetchone()
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        cur = ws.db.execute("INSERT INTO runs (version_id, version_hash, state, model, params, seed, device, run_dir) "
                            "VALUES (?, ?, 'running', 'yolo11n.yaml', '{\"epochs\": 4}', 0, 'cpu', ?)",
                            [version[0], version[1], str(run_dir)])
        run_id = int(cur.lastrowid or 0)
        batch = {"event": "batch", "epoch": 1, "epochs": 4, "batch": 3, "batches": 12, "fraction": 0.0625,
                 "eta_s": 125.0, "at": 0}
        (run_dir / "events.jsonl").write_text(json.dumps(batch) + "\n")
        seen: list[tuple[float, str]] = []
        supervise(ws, run_id, progress=lambda f, m: seen.append((f, m)))  # no process: the run ends failed
        assert (0.0625, "epoch 1/4 · batch 3/12 · ETA 2 min 05 s") in seen
        assert all("batch" in m for _, m in seen if m.startswith("epoch"))  # no epoch ended
        assert ws.db.execute("SELECT COUNT(*) FROM run_epochs WHERE run_id = ?", [run_id]).fetchone()[0] == 0
        stored = json.loads(ws.db.execute("SELECT progress FROM runs WHERE id = ?", [run_id]).fetchone()[0])
        assert (stored["batch"], stored["batches"], stored["eta_s"]) == (3, 12, 125.0)
        assert run_progress(ws, run_id) is None  # failed: no live progress any more
