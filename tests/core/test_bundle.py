"""Edge bundles: contents and checksums, the standalone run.py (selftest, images, folders, videos, --save-dir, --log),
broken bundles, and the bundle's selftest in a fresh virtual environment holding only its three requirements."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from training_testing import IMGSZ

from cvops.deploy import edge_runner, field_log, frames, runtimes
from cvops.deploy.bundle import OPENVINO_REQUIREMENT, REQUIREMENTS, make_bundle
from cvops.deploy.export import get_export
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.registry import get_model
from cvops.catalog.store import sha256_file
from cvops.data.workspace import Workspace

FILES = {"model.onnx", "model.json", "run.py", "runtimes.py", "frames.py", "fieldlog.py", "requirements.txt",
         "requirements-openvino.txt", "README.md", "sample.jpg", "sample_expected.json"}


@pytest.fixture(scope="module")
def built(exported_workspace: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root, export_id = exported_workspace
    out = tmp_path_factory.mktemp("bundles") / "shapes-edge"
    ws = Workspace.open(root)
    try:
        info = make_bundle(ws, export_id, out, zip=True)
        model = get_model(ws, "latest")
    finally:
        ws.close()
    return {"root": root, "export_id": export_id, "info": info, "dir": out, "model": model}


def test_the_requirements_are_what_run_py_imports() -> None:
    """Each third-party module run.py and the files beside it (runtimes.py, frames.py, fieldlog.py) import comes
    from one of the bundle's requirements (OpenVINO's included), and nothing else is required (distributions matched
    by project name, whatever variant is installed here: -headless, -gpu); none imports the workbench (the runner
    loads its siblings by path, never by a relative import)."""
    def project(dist: str) -> str:
        return re.sub(r"-(headless|gpu)$", "", canonicalize_name(dist))

    trees = [ast.parse(Path(module.__file__).read_text()) for module in (edge_runner, field_log, runtimes, frames)]
    nodes = [node for tree in trees for node in ast.walk(tree)]
    imported = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in nodes
                 if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    relative = [node for node in nodes if isinstance(node, ast.ImportFrom) and node.level]
    assert relative == [] and "cvops" not in imported
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    providers = {name: {project(d) for d in packages_distributions().get(name, [])} for name in third_party}
    required = {project(Requirement(r).name) for r in REQUIREMENTS + (OPENVINO_REQUIREMENT,)}
    assert all(providers[name] & required for name in third_party), (providers, required)
    assert len(required) == len(third_party), (required, third_party)


def run_py(bundle: Path, *args: str, cwd: Path | None = None, python: str = sys.executable
           ) -> subprocess.CompletedProcess:
    return subprocess.run([python, str(bundle / "run.py"), *args], cwd=cwd or bundle, capture_output=True, text=True,
                          timeout=300)


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def copy_bundle(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    return dest


def test_bundle_holds_every_file_with_checksums(built: dict[str, Any]) -> None:
    folder, info, model = built["dir"], built["info"], built["model"]
    assert {p.name for p in folder.iterdir()} == FILES
    meta = json.loads((folder / "model.json").read_text())
    assert set(meta["files"]) == FILES - {"model.json"}
    for name, sha in meta["files"].items():
        assert sha256_file(folder / name) == sha, name
    assert (folder / "run.py").read_bytes() == Path(edge_runner.__file__).read_bytes()
    lines = (folder / "requirements.txt").read_text().splitlines()
    assert [r for r in lines if not r.startswith("#")] == list(REQUIREMENTS)
    assert "requirements-openvino.txt" in lines[0]  # the note on how to add OpenVINO
    assert (folder / "requirements-openvino.txt").read_text().split() == ["-r", "requirements.txt",
                                                                           OPENVINO_REQUIREMENT]
    assert meta["format"] == "cvops-edge-bundle" and meta["format_version"] == 1
    assert meta["names"] == [c["name"] for c in model.classes]
    assert [(c["class_id"], c["color"]) for c in meta["classes"]] == [(c["class_id"], c["color"]) for c in model.classes]
    assert meta["imgsz"] == IMGSZ and meta["precision"] == "fp32"
    assert meta["input"]["letterbox"]["pad_value"] == 114 and meta["input"]["normalization"]["scale"] == "1/255"
    assert meta["output"]["shape"][1] == 4 + len(model.classes)
    assert meta["nms"]["conf"] == 0.25 and meta["nms"]["iou"] == 0.7
    lineage = meta["lineage"]
    assert lineage["model"] == model.name and lineage["version"] == "v1"
    assert lineage["version_hash"] == model.version_hash and lineage["weights_sha256"] == model.weights_sha256
    assert lineage["export_id"] == built["export_id"] and lineage["verify"]["passed"] is True
    assert lineage["verify"]["max_box_diff_px"] == 0.0
    assert info.export_id == built["export_id"] and info.files["model.onnx"] == meta["files"]["model.onnx"]
    expected = json.loads((folder / "sample_expected.json").read_text())
    assert expected["detections"], "the sample should carry detections for the selftest to compare"
    assert cv2.imread(str(folder / "sample.jpg")) is not None
    assert not list(folder.parent.glob(".*partial*"))


def test_zip_holds_the_bundle_folder(built: dict[str, Any]) -> None:
    zip_path = built["info"].zip_path
    assert zip_path == built["dir"].with_name("shapes-edge.zip")
    with zipfile.ZipFile(zip_path) as zf:
        assert {n for n in zf.namelist()} == {f"shapes-edge/{f}" for f in FILES}
        assert zf.read("shapes-edge/model.onnx") == (built["dir"] / "model.onnx").read_bytes()


def test_selftest_passes_in_the_bundle_and_from_elsewhere(built: dict[str, Any], tmp_path: Path) -> None:
    for cwd in (built["dir"], tmp_path):
        done = run_py(built["dir"], "--selftest", cwd=cwd)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["ok"] is True and summary["files_checked"] == 10 and not summary["problems"]
        assert summary["sample"]["detected"] == summary["sample"]["expected"] > 0


def test_json_lines_for_a_folder_with_annotated_images_and_a_log(built: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(built["dir"] / "sample.jpg", folder / "a.jpg")
    cv2.imwrite(str(folder / "sub" / "b.png"), np.full((60, 80, 3), 200, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    save, log = tmp_path / "annotated", tmp_path / "pred.jsonl"
    done = run_py(built["dir"], str(folder), "--conf", "0.001", "--save-dir", str(save), "--log", str(log))
    assert done.returncode == 0, done.stderr
    records = lines(done.stdout)
    assert [Path(r["source"]).name for r in records] == ["a.jpg", "b.png"]
    assert "frame" not in records[0] and (records[1]["width"], records[1]["height"]) == (80, 60)
    assert records[0]["detections"], "conf 0.001 finds the sample's detections"
    det = records[0]["detections"][0]
    assert set(det) >= {"class_id", "name", "confidence", "box"} and len(det["box"]) == 4
    assert det["name"] in [c["name"] for c in built["model"].classes]
    assert sorted(p.name for p in save.iterdir()) == ["a.jpg", "b.jpg"]
    assert not np.array_equal(cv2.imread(str(save / "a.jpg")), cv2.imread(str(folder / "a.jpg")))
    logged = lines(log.read_text())
    assert len(logged) == 2 and logged[0]["count"] == len(records[0]["detections"])
    assert sum(logged[0]["counts"].values()) == logged[0]["count"] and "latency_ms" in logged[0]
    assert all(len(v) == logged[0]["counts"][k] for k, v in logged[0]["confidences"].items())


def test_large_jpeg_decoded_at_reduced_scale_reports_full_size_boxes(built: dict[str, Any], tmp_path: Path) -> None:
    sample = cv2.imread(str(built["dir"] / "sample.jpg"))
    big = cv2.resize(sample, (sample.shape[1] * 4, sample.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "big.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    runs = {}
    for flag in ((), ("--full-decode",)):
        save = tmp_path / ("full" if flag else "scaled")
        done = run_py(built["dir"], str(tmp_path / "big.jpg"), "--conf", "0.001", "--save-dir", str(save), *flag)
        assert done.returncode == 0, done.stderr
        runs[flag] = lines(done.stdout)[0]
        assert (runs[flag]["width"], runs[flag]["height"]) == (big.shape[1], big.shape[0])
        assert cv2.imread(str(save / "big.jpg")).shape == big.shape  # drawn on the full-size image
    scaled, full = runs[()]["detections"], runs[("--full-decode",)]["detections"]
    assert scaled and full
    best = max(full, key=lambda d: d["confidence"])
    match = [d for d in scaled if d["name"] == best["name"]
             and max(abs(a - b) for a, b in zip(d["box"], best["box"])) < 0.05 * max(big.shape)]
    assert match, (best, scaled[:5])  # the same object, found at full-size coordinates either way


def test_json_lines_for_a_video(built: dict[str, Any], tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    sample = cv2.resize(cv2.imread(str(built["dir"] / "sample.jpg")), (128, 96))
    for i in range(5):
        writer.write(np.roll(sample, i * 4, axis=1))
    writer.release()
    save = tmp_path / "frames"
    done = run_py(built["dir"], str(video), "--save-dir", str(save))
    assert done.returncode == 0, done.stderr
    records = lines(done.stdout)
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]
    assert all(r["source"] == str(video) and (r["width"], r["height"]) == (128, 96) for r in records)
    assert len(list(save.glob("clip_*.jpg"))) == 5
    limited = run_py(built["dir"], str(video), "--max-frames", "2")
    assert len(lines(limited.stdout)) == 2


def test_usage_and_unreadable_sources(built: dict[str, Any], tmp_path: Path) -> None:
    done = run_py(built["dir"])
    assert done.returncode == edge_runner.EXIT_USAGE and "SOURCE" in done.stderr
    done = run_py(built["dir"], str(tmp_path / "nope.jpg"))
    assert done.returncode == edge_runner.EXIT_USAGE and "no such file" in done.stderr
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    done = run_py(built["dir"], str(bad), str(built["dir"] / "sample.jpg"))
    assert done.returncode == edge_runner.EXIT_SOURCE and "bad.jpg: cannot read" in done.stderr
    assert len(lines(done.stdout)) == 1


def test_corrupt_model_fails_the_selftest_and_the_run(built: dict[str, Any], tmp_path: Path) -> None:
    bundle = copy_bundle(built["dir"], tmp_path)
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    (bundle / "model.onnx").write_bytes(bytes(data[: len(data) // 3]))
    done = run_py(bundle, "--selftest")
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["ok"] is False and any("model.onnx: sha256 mismatch" in p for p in summary["problems"])
    assert "model.onnx" in done.stderr
    done = run_py(bundle, str(bundle / "sample.jpg"))
    assert done.returncode == edge_runner.EXIT_BUNDLE and "model.onnx is corrupt" in done.stderr
    # checksum updated to the damaged file: the selftest still catches it, loading the model
    meta = json.loads((bundle / "model.json").read_text())
    meta["files"]["model.onnx"] = sha256_file(bundle / "model.onnx")
    (bundle / "model.json").write_text(json.dumps(meta))
    summary = json.loads(run_py(bundle, "--selftest").stdout)
    assert summary["ok"] is False and "corrupt or not an ONNX model" in summary["problems"][0]


@pytest.mark.parametrize("name", ["sample.jpg", "run.py", "sample_expected.json", "README.md"])
def test_missing_file_fails_the_selftest(built: dict[str, Any], tmp_path: Path, name: str) -> None:
    bundle = copy_bundle(built["dir"], tmp_path)
    runner = bundle / "run.py"
    if name == "run.py":  # run the runner from elsewhere: the bundle's own run.py is the missing file
        runner = tmp_path / "runner.py"
        shutil.copy(bundle / "run.py", runner)
    (bundle / name).unlink()
    done = subprocess.run([sys.executable, str(runner), "--selftest", "--bundle", str(bundle)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert json.loads(done.stdout)["problems"] == [f"{name} is missing"]


def test_checksum_mismatch_names_the_file(built: dict[str, Any], tmp_path: Path) -> None:
    bundle = copy_bundle(built["dir"], tmp_path)
    with (bundle / "README.md").open("a") as f:
        f.write("edited\n")
    summary = json.loads(run_py(bundle, "--selftest").stdout)
    assert summary["ok"] is False and len(summary["problems"]) == 1
    assert summary["problems"][0].startswith("README.md: sha256 mismatch")


def test_missing_or_corrupt_model_json(built: dict[str, Any], tmp_path: Path) -> None:
    bundle = copy_bundle(built["dir"], tmp_path)
    (bundle / "model.json").write_text("{not json")
    done = run_py(bundle, "--selftest")
    assert done.returncode == 1 and "model.json is corrupt" in json.loads(done.stdout)["problems"][0]
    done = run_py(bundle, str(bundle / "sample.jpg"))
    assert done.returncode == edge_runner.EXIT_BUNDLE and "model.json is corrupt" in done.stderr
    (bundle / "model.json").unlink()
    done = run_py(bundle, str(bundle / "sample.jpg"))
    assert done.returncode == edge_runner.EXIT_BUNDLE and "model.json is missing" in done.stderr


MALFORMED_CHECKSUMS = {"short": "abc123", "not_hex": "z" * 64, "number": 12345, "null": None, "list": ["a" * 64]}


@pytest.mark.parametrize("case", [*MALFORMED_CHECKSUMS, "missing"])
def test_malformed_checksum_in_model_json_is_named_by_the_selftest(built: dict[str, Any], tmp_path: Path,
                                                                   case: str) -> None:
    bundle = copy_bundle(built["dir"], tmp_path)
    meta = json.loads((bundle / "model.json").read_text())
    if case == "missing":
        del meta["files"]["model.onnx"]
    else:
        meta["files"]["model.onnx"] = MALFORMED_CHECKSUMS[case]
    (bundle / "model.json").write_text(json.dumps(meta))
    done = run_py(bundle, "--selftest")
    assert done.returncode == edge_runner.EXIT_FAILED and "Traceback" not in done.stderr
    (problem,) = json.loads(done.stdout)["problems"]
    if case == "missing":
        assert problem == 'model.json lists no checksum for model.onnx (files["model.onnx"] is missing)'
    else:
        assert problem.startswith("model.json is corrupt (") and str(bundle / "model.json") in problem
        assert f'the checksum files["model.onnx"] is {json.dumps(MALFORMED_CHECKSUMS[case])}' in problem
        assert problem.endswith("not a sha256 (64 hex digits)")
        done = run_py(bundle, str(bundle / "sample.jpg"))
        assert done.returncode == edge_runner.EXIT_BUNDLE and 'files["model.onnx"]' in done.stderr


@pytest.mark.parametrize("body, says", [("[" * 100_000 + "]" * 100_000, "nested too deeply"),
                                        ('{"files": {}, "sample": "x.jpg"}', "'sample' is \"x.jpg\", not an object"),
                                        ('{"files": {}, "model_file": 3}', "'model_file' is 3, not a file name")])
def test_malformed_model_json_fields(built: dict[str, Any], tmp_path: Path, body: str, says: str) -> None:
    bundle = copy_bundle(built["dir"], tmp_path)
    (bundle / "model.json").write_text(body)
    done = run_py(bundle, "--selftest")
    assert done.returncode == edge_runner.EXIT_FAILED and "Traceback" not in done.stderr
    assert says in json.loads(done.stdout)["problems"][0]


def test_uppercase_checksums_are_accepted(built: dict[str, Any], tmp_path: Path) -> None:
    bundle = copy_bundle(built["dir"], tmp_path)
    meta = json.loads((bundle / "model.json").read_text())
    meta["files"] = {k: v.upper() for k, v in meta["files"].items()}
    (bundle / "model.json").write_text(json.dumps(meta))
    assert json.loads(run_py(bundle, "--selftest").stdout)["ok"] is True


def test_class_count_mismatch_is_a_clear_error(built: dict[str, Any], tmp_path: Path) -> None:
    bundle = copy_bundle(built["dir"], tmp_path)
    meta = json.loads((bundle / "model.json").read_text())
    n = len(meta["names"])
    meta["names"] = meta["names"][:-1]
    meta["classes"] = meta["classes"][:-1]
    (bundle / "model.json").write_text(json.dumps(meta))
    message = f"model.json lists {n - 1} classes but model.onnx outputs {n} class scores"
    summary = json.loads(run_py(bundle, "--selftest").stdout)
    assert summary["ok"] is False and summary["problems"] == [message]
    done = run_py(bundle, str(bundle / "sample.jpg"))
    assert done.returncode == edge_runner.EXIT_BUNDLE and message in done.stderr
    with pytest.raises(edge_runner.BundleError, match="lists 2 classes"):
        edge_runner.Detector(bundle / "model.onnx", {"names": ["a", "b"]})


def test_make_bundle_refusals_and_onnx_path(built: dict[str, Any], tmp_path: Path) -> None:
    ws = Workspace.open(built["root"])
    try:
        with pytest.raises(ValidationError, match="already exists"):
            make_bundle(ws, built["export_id"], built["dir"])
        with pytest.raises(NotFoundError, match="no export 999"):
            make_bundle(ws, 999, tmp_path / "x")
        onnx = Path(get_export(ws, built["export_id"]).path)
        by_path = make_bundle(ws, onnx, tmp_path / "by-path")  # a registered export's path
        assert by_path.export_id == built["export_id"]
        loose = tmp_path / "loose.onnx"
        shutil.copy(onnx, loose)
        with pytest.raises(ValidationError, match="--model"):
            make_bundle(ws, loose, tmp_path / "loose")
        info = make_bundle(ws, loose, tmp_path / "loose", model_ref=built["model"].name)
        assert info.export_id is None and json.loads((tmp_path / "loose" / "model.json").read_text())[
            "lineage"]["model"] == built["model"].name
        assert run_py(tmp_path / "loose", "--selftest").returncode == 0
        assert not list(tmp_path.glob(".*partial*"))
    finally:
        ws.close()


def test_cli_bundle(built: dict[str, Any], tmp_path: Path) -> None:
    from cvops.cli import cli

    result = CliRunner().invoke(cli, ["-w", str(built["root"]), "bundle", str(built["export_id"]),
                                      str(tmp_path / "cli-bundle"), "--zip", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["path"] == str(tmp_path / "cli-bundle") and data["zip_path"].endswith("cli-bundle.zip")
    result = CliRunner().invoke(cli, ["-w", str(built["root"]), "bundle", "12345", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no export 12345" in result.output


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with exactly the bundle's requirements, pip-installed offline (local wheels)."""
    folder = tmp_path_factory.mktemp("fresh-venv") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    python = folder / "bin" / "python"
    requirements = folder.parent / "requirements.txt"
    requirements.write_text("\n".join(REQUIREMENTS) + "\n")
    done = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r",
                           str(requirements)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"pip could not install the bundle's requirements:\n{done.stdout}\n{done.stderr}"
    return python


@pytest.mark.slow
def test_selftest_in_a_fresh_venv_with_only_the_requirements(built: dict[str, Any], fresh_venv: Path,
                                                             tmp_path: Path) -> None:
    listed = subprocess.run([str(fresh_venv), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                            timeout=120)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert {"numpy", "opencv-python-headless", "onnxruntime"} <= names
    assert not names & {"torch", "ultralytics", "cvops-workbench", "opencv-python"}
    bundle = copy_bundle(built["dir"], tmp_path)
    done = run_py(bundle, "--selftest", python=str(fresh_venv))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is True and summary["sample"]["detected"] > 0
    done = run_py(bundle, str(bundle / "sample.jpg"), python=str(fresh_venv))
    assert done.returncode == 0 and lines(done.stdout)[0]["source"].endswith("sample.jpg")


def test_lineage_carries_the_gate_quality_floor() -> None:
    """A bundle's lineage.verify keeps the gate's quality check (score, floor, override) beside the parity verdict."""
    from cvops.deploy.bundle import _verify_summary

    quality = {"metric": "map50_95", "value": 0.01, "floor": 0.05, "passed": False, "overridden": True,
               "message": "mAP50-95 0.010 < floor 0.050 (below the floor, allowed by override)"}
    row = {"passed": 1, "verified_at": 5.0,
           "verify": {"delta_map50_95": 0.0, "parity_passed": True, "quality": quality, "pytorch": {"map50": 0.1}}}
    summary = _verify_summary(row)
    assert summary is not None
    assert summary["passed"] is True and summary["parity_passed"] is True and summary["quality"] == quality
    assert "pytorch" not in summary  # other nested parts stay out, as before
    assert "quality" not in (_verify_summary({"passed": 1, "verify": {"delta_map50_95": 0.0}}) or {})
