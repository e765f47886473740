"""The bundle's field log (``run.py --field-log``, ``fieldlog.py`` = ``cvops.deploy.field_log``): records valid per
the workbench's reader, with the device's image statistics and the model's embedding; rotation within the budget;
each capture rule; a full disk or an unwritable folder never stops inference; the bundle verifies ``fieldlog.py``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from cvops.data.workspace import Workspace
from cvops.deploy import edge_runner, field_log, runtimes
from cvops.deploy.bundle import make_bundle
from cvops.deploy.export import get_export
from cvops.deploy.graph_passes import embedding_output
from cvops.models.registry import get_model
from cvops.monitoring import drift, field


@pytest.fixture(scope="module")
def bundle(exported_workspace: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of the session's export with the ``embedding`` output every workbench export has."""
    root, export_id = exported_workspace
    tmp = tmp_path_factory.mktemp("field-bundle")
    with Workspace.open(root) as ws:
        onnx = tmp / "model.onnx"
        shutil.copy(get_export(ws, export_id).path, onnx)
        assert embedding_output(onnx) == 1
        make_bundle(ws, onnx, tmp / "edge", model_ref=get_model(ws, "latest").id)
    return tmp / "edge"


@pytest.fixture(scope="module")
def images(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample, a PNG and a JPEG large enough to be decoded at reduced scale."""
    folder = tmp_path_factory.mktemp("field-images")
    sample = cv2.imread(str(bundle / "sample.jpg"))
    shutil.copy(bundle / "sample.jpg", folder / "a.jpg")
    cv2.imwrite(str(folder / "b.png"), cv2.resize(sample, (80, 60)))
    big = cv2.resize(sample, (sample.shape[1] * 4, sample.shape[0] * 3), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(folder / "c.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


@pytest.fixture(scope="module")
def detector(bundle: Path) -> edge_runner.Detector:
    return edge_runner.Detector(bundle / "model.onnx", edge_runner.read_meta(bundle))


def run_py(bundle: Path, *args: str, python: tuple[str, ...] = (sys.executable,)) -> subprocess.CompletedProcess:
    return subprocess.run([*python, str(bundle / "run.py"), *args], capture_output=True, text=True, timeout=300)


def stdout_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_all(folder: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(folder.glob("field-*.jsonl")):
        found, problems = field.read_log(path)
        assert problems == []
        records += found
    return records


def record(i: int = 0, top: float | None = 0.9) -> dict[str, Any]:
    return {"v": 1, "time": time.time(), "device": "cam", "source": f"/in/img{i}.jpg", "frame": None,
            "model_sha256": "0" * 64, "latency_ms": 1.0, "conf": 0.25,
            "stats": {k: 1.0 for k in field.STAT_KEYS}, "detections": [] if top is None else [[0, top, 1, 2, 3, 4]],
            "embedding": None, "capture": None, "capture_reason": None}


IMAGE = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_run_py_writes_valid_records_with_stats_and_embeddings(bundle: Path, images: Path, tmp_path: Path,
                                                               detector: edge_runner.Detector) -> None:
    out = tmp_path / "field"
    done = run_py(bundle, str(images), "--conf", "0.001", "--field-log", str(out), "--device", "cam 01/a")
    assert done.returncode == 0, done.stderr
    printed = stdout_lines(done.stdout)
    folder = out / field.device_folder_name("cam 01/a")
    assert folder.name == "cam_01_a" and not (folder / "captures").exists()  # no capture rule: nothing kept
    [log] = list(folder.glob("field-*.jsonl"))
    assert re.fullmatch(r"field-\d{8}T\d{6}Z-\d+\.jsonl", log.name)
    records = read_all(folder)
    assert [r["source"] for r in records] == [p["source"] for p in printed] and len(records) == 3
    sha = runtimes.file_sha256(bundle / "model.onnx")
    for rec, line in zip(records, printed):
        assert rec["device"] == "cam 01/a" and rec["model_sha256"] == sha and rec["conf"] == 0.001
        assert rec["latency_ms"] > 0 and rec["capture"] is None and rec["capture_reason"] is None
        assert rec["embedding"].shape == (detector.session.outputs[detector.embedding_index].shape[1],)
        assert rec["detections"] == [[d["class_index"], d["confidence"], *d["box"]] for d in line["detections"]]
        image, fx, fy = edge_runner.read_image(Path(rec["source"]), detector.imgsz)  # type: ignore[misc]
        expected = drift.image_stats(image, detector.imgsz, (line["width"], line["height"]))
        assert rec["stats"] == pytest.approx(expected, abs=1e-3)
        assert (rec["stats"]["width"], rec["stats"]["height"]) == (line["width"], line["height"])
    assert any(r["detections"] for r in records)
    assert (fx, fy) != (1.0, 1.0), "c.jpg is decoded at reduced scale"


def test_observe_is_what_run_py_does(detector: edge_runner.Detector, images: Path) -> None:
    image = cv2.imread(str(images / "a.jpg"))
    dets, rec = field_log.observe(detector, image, conf=0.003, source="a.jpg")  # the weak model's best: ~0.004
    assert dets and dets == detector.detections(image, 0.003)
    assert rec["device"] == "reference" and rec["capture"] is None and rec["frame"] is None
    assert field._problem(json.loads(json.dumps(rec))) is None
    assert rec["stats"] == pytest.approx(field_log.image_stats(image, detector.imgsz), abs=1e-3)
    # near-threshold: one post-processing at conf - band, split afterwards, gives the same detections
    scores = detector.predict_arrays([image], 0.0001)[0][1]
    assert np.any((scores > 0.0005) & (scores <= 0.003)), "candidates below the threshold, inside the band"
    near_dets, near_rec, near = field_log._observe(detector, image, (1.0, 1.0), 0.003, None, "a.jpg", None, "x",
                                                   0.0025)
    assert near_dets == dets and near_rec["detections"] == rec["detections"] and near is True
    assert field_log._observe(detector, image, (1.0, 1.0), 0.3, None, "", None, "x", 0.1)[2] is False
    assert field_log._observe(detector, image, (1.0, 1.0), 0.003, None, "", None, "x", 0.0)[2] is False


def test_image_stats_as_the_model_sees_the_image() -> None:
    image = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 256, (600, 800, 3), dtype=np.uint8), (5, 5), 2)
    small = field_log.image_stats(image, 160, (1600, 1200))
    grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (160, 120), interpolation=cv2.INTER_LINEAR)
    assert small["brightness"] == pytest.approx(grey.mean()) and small["contrast"] == pytest.approx(grey.std())
    assert small["sharpness"] == pytest.approx(cv2.Laplacian(grey, cv2.CV_64F).var())
    assert (small["width"], small["height"], small["aspect"]) == (1600.0, 1200.0, pytest.approx(4 / 3))
    full = field_log.image_stats(image)
    assert full["width"] == 800 and full["sharpness"] != pytest.approx(small["sharpness"])
    assert drift.image_stats(image, 160, (1600, 1200)) == small


@pytest.mark.parametrize("name", ["cam-01", " cam 01/a ", "../etc", "名前", "", "a" * 150, "x.y_z"])
def test_device_folder_rule_is_the_workbench_rule(name: str) -> None:
    assert field_log.device_folder_name(name) == field.device_folder_name(name)


def test_rotation_keeps_the_budget_and_never_rewrites_a_closed_file(tmp_path: Path) -> None:
    log = field_log.FieldLog(tmp_path, "cam", max_mb=0.002, keep_mb=0.007)
    closed: dict[Path, bytes] = {}
    for i in range(120):
        current = log.path
        log.write(record(i))
        if current is not None and log.path != current:
            closed[current] = current.read_bytes()
        total = sum(p.stat().st_size for p in (tmp_path / "cam").glob("field-*.jsonl"))
        assert total <= 7000
    log.close()
    files = sorted((tmp_path / "cam").glob("field-*.jsonl"))
    assert len(closed) > 10 and 2 <= len(files) <= 4
    for path in files[:-1]:
        assert path.read_bytes() == closed[path]  # a closed file is never written again
        assert path.stat().st_size <= 2000
    sources = [r["source"] for r in read_all(tmp_path / "cam")]
    assert sources == [f"/in/img{i}.jpg" for i in range(120 - len(sources), 120)]  # the newest, in order


def test_capture_rules(tmp_path: Path) -> None:
    def captures(name: str, n: int = 10, top: float | None = 0.9, near: bool = False, **policy: Any) -> list[str]:
        log = field_log.FieldLog(tmp_path, name, **policy)
        for i in range(n):
            log.write(record(i, top), IMAGE, near)
        log.close()
        return [r["capture_reason"] for r in read_all(tmp_path / name) if r["capture"]]

    assert captures("none", low_conf=None) == []
    assert captures("all", low_conf=1.01) == ["low_confidence"] * 10
    assert captures("empty", top=None, low_conf=0.1) == ["low_confidence"] * 10  # no detection at all
    assert captures("confident", top=0.9, low_conf=0.5) == []
    assert captures("near", near=True, near_band=0.05) == ["near_threshold"] * 10
    assert captures("rate0", rate=0.0) == []
    assert captures("rate1", rate=1.0) == ["random"] * 10
    half = captures("half", n=200, rate=0.5, seed=3)
    assert 60 < len(half) < 140 and len(captures("half2", n=200, rate=0.5, seed=3)) == len(half)
    recs = read_all(tmp_path / "all")
    saved = tmp_path / "all" / recs[0]["capture"]
    assert recs[0]["capture"].startswith(f"captures/{time.strftime('%Y-%m-%d', time.gmtime())}/")
    assert saved.name.endswith("-img0.jpg") and cv2.imread(str(saved)).shape == IMAGE.shape


def test_daily_cap_counts_across_restarts_and_the_disk_budget_holds(tmp_path: Path) -> None:
    for _ in range(2):  # two runs of run.py: the second finds the first's captures on disk
        log = field_log.FieldLog(tmp_path, "cam", low_conf=1.01, daily_cap=3)
        for i in range(2):
            log.write(record(i), IMAGE)
        log.close()
    assert len(list((tmp_path / "cam" / "captures").glob("*/*.jpg"))) == 3
    assert sum(1 for r in read_all(tmp_path / "cam") if r["capture"]) == 3
    # the disk budget: an earlier day's captures make room, today's are never deleted
    size = len(cv2.imencode(".jpg", IMAGE, [cv2.IMWRITE_JPEG_QUALITY, field_log.CAPTURE_QUALITY])[1])
    old = tmp_path / "dev" / "captures" / "2020-01-01"
    old.mkdir(parents=True)
    for i in range(2):
        (old / f"old{i}.jpg").write_bytes(b"x" * size)
    log = field_log.FieldLog(tmp_path, "dev", low_conf=1.01, disk_mb=3.5 * size / field_log.MB)
    for i in range(5):
        log.write(record(i), IMAGE)
    log.close()
    kept = sorted((tmp_path / "dev" / "captures").glob("*/*.jpg"))
    assert sum(p.stat().st_size for p in kept) <= 3.5 * size
    assert [p.parent.name for p in kept] == [time.strftime("%Y-%m-%d", time.gmtime())] * 3
    assert sum(1 for r in read_all(tmp_path / "dev") if r["capture"]) == 3 and len(read_all(tmp_path / "dev")) == 5


def test_run_py_captures_full_size_frames(bundle: Path, images: Path, tmp_path: Path) -> None:
    done = run_py(bundle, str(images), "--field-log", str(tmp_path), "--device", "cam", "--capture-low-conf", "1.01",
                  "--capture-daily-cap", "2")
    assert done.returncode == 0, done.stderr
    records = read_all(tmp_path / "cam")
    assert [r["capture_reason"] for r in records] == ["low_confidence", "low_confidence", None]
    for rec, line in zip(records[:2], stdout_lines(done.stdout)):
        saved = cv2.imread(str(tmp_path / "cam" / rec["capture"]))
        assert saved.shape[:2] == (line["height"], line["width"])
    big = run_py(bundle, str(images / "c.jpg"), "--field-log", str(tmp_path), "--device", "big",
                 "--capture-rate", "1")
    [rec] = read_all(tmp_path / "big")
    full = cv2.imread(str(images / "c.jpg"))
    assert cv2.imread(str(tmp_path / "big" / rec["capture"])).shape == full.shape, big.stderr  # not the reduced decode
    bad = run_py(bundle, str(images), "--field-log", str(tmp_path), "--capture-rate", "2")
    assert bad.returncode == edge_runner.EXIT_USAGE and "--capture-rate must be between 0 and 1" in bad.stderr
    bad = run_py(bundle, str(images), "--field-log", str(tmp_path), "--capture-near-threshold", "0.3")
    assert bad.returncode == edge_runner.EXIT_USAGE and "below the confidence threshold (0.25)" in bad.stderr


def test_run_py_near_threshold_captures(bundle: Path, images: Path, tmp_path: Path,
                                        detector: edge_runner.Detector) -> None:
    done = run_py(bundle, str(images), "--conf", "0.003", "--field-log", str(tmp_path), "--device", "cam",
                  "--capture-near-threshold", "0.0015")  # the fixture's weak model scores about 0.004 at best
    assert done.returncode == 0, done.stderr
    expected = []
    for line in stdout_lines(done.stdout):
        image, fx, fy = edge_runner.read_image(Path(line["source"]), detector.imgsz)  # type: ignore[misc]
        assert line["detections"] == detector.detections(image, 0.003, None, (fx, fy))  # the output is unchanged
        scores = detector.predict_arrays([image], 0.0001)[0][1]
        expected.append("near_threshold" if np.any(np.abs(scores - 0.003) <= 0.0015) else None)
    assert [r["capture_reason"] for r in read_all(tmp_path / "cam")] == expected and "near_threshold" in expected


def test_a_full_disk_never_stops_inference(bundle: Path, images: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(field_log, "_open_for_append", lambda path: os.open("/dev/full", os.O_WRONLY))
    code = edge_runner.main([str(images), str(images), "--bundle", str(bundle), "--field-log", str(tmp_path),
                             "--capture-rate", "1"])
    out, err = capsys.readouterr()
    assert code == 0 and len(stdout_lines(out)) == 6
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "No space left on device" in warnings[0] and "inference goes on" in warnings[0]


def test_a_full_disk_stops_the_prediction_log_not_inference(bundle: Path, images: Path) -> None:
    done = run_py(bundle, str(images), "--log", "/dev/full")  # every write: ENOSPC
    assert done.returncode == 0 and len(stdout_lines(done.stdout)) == 3
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "prediction log /dev/full stopped" in warnings[0], done.stderr


def test_the_field_log_resumes_after_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    log = field_log.FieldLog(tmp_path, "cam", retry_s=0.0, warn=said.append)
    real = field_log._open_for_append
    monkeypatch.setattr(field_log, "_open_for_append", lambda path: os.open("/dev/full", os.O_WRONLY))
    for i in range(3):
        log.write(record(i))
    monkeypatch.setattr(field_log, "_open_for_append", real)
    log.write(record(3))
    log.close()
    assert log.dropped == 3 and [r["source"] for r in read_all(tmp_path / "cam")] == ["/in/img3.jpg"]
    assert len(said) == 2 and "suspended" in said[0] and "resumed" in said[1]


def test_an_unwritable_folder_never_stops_inference(bundle: Path, images: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the log folder should be")
    done = run_py(bundle, str(images), "--field-log", str(blocker / "field"), "--capture-low-conf", "1.01")
    assert done.returncode == 0 and len(stdout_lines(done.stdout)) == 3
    assert len([line for line in done.stderr.splitlines() if "warning" in line]) == 1


def test_the_bundle_ships_and_verifies_fieldlog(bundle: Path, images: Path, tmp_path: Path) -> None:
    meta = json.loads((bundle / "model.json").read_text())
    assert (bundle / "fieldlog.py").read_bytes() == Path(field_log.__file__).read_bytes()
    assert meta["files"]["fieldlog.py"] == runtimes.file_sha256(bundle / "fieldlog.py")
    assert "--field-log ../field" in (bundle / "README.md").read_text()
    # isolated mode (no script folder on sys.path): run.py still finds fieldlog.py next to it
    done = run_py(bundle, str(images / "a.jpg"), "--field-log", str(tmp_path / "f"), "--device", "d",
                  python=(sys.executable, "-I"))
    assert done.returncode == 0 and len(read_all(tmp_path / "f" / "d")) == 1, done.stderr
    copy = tmp_path / "edge"
    shutil.copytree(bundle, copy)
    with (copy / "fieldlog.py").open("a") as f:
        f.write("# changed\n")
    done = run_py(copy, "--selftest")
    assert done.returncode == 1 and json.loads(done.stdout)["problems"][0].startswith("fieldlog.py: sha256 mismatch")
    (copy / "fieldlog.py").unlink()
    assert run_py(copy, str(images / "a.jpg")).returncode == 0  # loaded only for --field-log / --log
    done = run_py(copy, str(images / "a.jpg"), "--field-log", str(tmp_path / "g"))
    assert done.returncode == edge_runner.EXIT_BUNDLE and "fieldlog.py" in done.stderr


def test_prediction_log_args_without_field_log(bundle: Path, images: Path, tmp_path: Path) -> None:
    args = SimpleNamespace(device=None, field_log=None, log=tmp_path / "pred.jsonl", conf=None)
    detector = edge_runner.Detector(bundle / "model.onnx", edge_runner.read_meta(bundle))
    recorder = field_log.Recorder(detector, args)
    dets = recorder.observe(cv2.imread(str(images / "a.jpg")), (1.0, 1.0), "a.jpg", None, 0.01, None)
    recorder.close()
    [line] = stdout_lines(args.log.read_text())
    assert line["count"] == len(dets) and line["source"] == "a.jpg" and recorder.field is None
