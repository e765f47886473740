"""Acceptance of the OpenVINO edge runtime, end to end through the console script, on the session's acceptance model
(``tests/e2e/conftest.py``: the demo shapes workspace, 20 epochs at 160 px):

* `cvops export --format openvino` fp32, fp16 (``--half``) and int8 (``--int8``, NNCF) each pass `cvops verify`
  (Δ mAP50-95 within 0.5 points fp32/fp16, 1.5 int8), through the same runner and evaluator as ONNX;
* the bundle of the IR (``run.py --runtime openvino``) finds what the ONNX bundle finds in onnxruntime: same
  classes, boxes within 1e-3 px before rounding, and the printed JSON lines equal up to their 0.01 px rounding;
* ``--runtime auto`` measures both runtimes, picks one, says why and remembers it per model and machine;
* with OpenVINO absent (blocked by a ``sitecustomize``), the ONNX bundle works as before and says how to add it, an
  IR bundle and `cvops export --format openvino` fail with the install command.

About a minute and a half on a 2-core CPU after the acceptance run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from training_testing import copy_workspace

pytestmark = pytest.mark.slow

CVOPS = Path(sys.executable).parent / "cvops"
THRESHOLDS = {"fp32": 0.5, "fp16": 0.5, "int8": 1.5}
BLOCK_OPENVINO = "import sys\nsys.modules['openvino'] = None  # as if OpenVINO were not installed\n"


def _cvops(*args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
    done = subprocess.run([str(CVOPS), *args, "--json"], capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})
    assert done.returncode == code, (args, done.returncode, done.stdout[-2000:], done.stderr[-3000:])
    return json.loads(done.stdout) if code == 0 else done


def _run_py(bundle: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(bundle / "run.py"), *args], capture_output=True, text=True,
                          timeout=300, cwd=bundle, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def ov(acceptance: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A copy of the acceptance workspace with m1's fp32 ONNX export and its OpenVINO exports (fp32, fp16, int8),
    each verified, and the bundles of the ONNX and the fp32 IR exports."""
    import importlib.util

    from prerequisites import reason

    if importlib.util.find_spec("openvino") is None or importlib.util.find_spec("nncf") is None:
        pytest.skip(reason("openvino missing", "pip install 'cvops-workbench[openvino]'; make test installs it"))
    root = tmp_path_factory.mktemp("openvino-e2e")
    ws = str(copy_workspace(acceptance["ws"], root / "ws"))
    print()
    onnx = _cvops("-w", ws, "export", "m1", "--format", "onnx")
    exports, reports = {}, {}
    for precision, flags in (("fp32", ()), ("fp16", ("--half",)), ("int8", ("--int8",))):
        exports[precision] = _cvops("-w", ws, "export", "m1", "--format", "openvino", *flags)
        done = subprocess.run([str(CVOPS), "-w", ws, "verify", str(exports[precision]["id"]), "--json"],
                              capture_output=True, text=True, timeout=900)
        reports[precision] = json.loads(done.stdout)
        r = reports[precision]
        print(f"  OpenVINO {precision}: Δ mAP50-95 {r['delta_map50_95']:+.3f} points (PyTorch "
              f"{r['pytorch']['map50_95']:.4f}, OpenVINO {r['export']['map50_95']:.4f}), latency p50 "
              f"{r['export']['latency_ms']['cpu']['p50']:.2f} ms vs PyTorch {r['pytorch']['latency_ms']['p50']:.2f} "
              f"ms: {'passed' if r['passed'] else 'FAILED'} (exit {done.returncode})")
    bundles = {"onnx": root / "onnx-bundle", "openvino": root / "openvino-bundle"}
    _cvops("-w", ws, "bundle", str(onnx["id"]), str(bundles["onnx"]))
    _cvops("-w", ws, "bundle", str(exports["fp32"]["id"]), str(bundles["openvino"]))
    yield {"root": root, "ws": ws, "onnx": onnx, "exports": exports, "reports": reports, "bundles": bundles}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_openvino_exports_pass_the_gate(ov: dict[str, Any], precision: str) -> None:
    export, report = ov["exports"][precision], ov["reports"][precision]
    assert export["format"] == "openvino" and export["precision"] == precision and export["imgsz"] == 160
    path = Path(export["path"])
    assert path.name == "model.xml" and path.with_suffix(".bin").is_file() and len(export["sha256"]) == 64
    assert export["params"]["openvino"]["compress_to_fp16"] is (precision == "fp16")
    assert export["params"]["source_onnx_sha256"] and export["params"]["graph_passes"] is not None
    if precision == "int8":
        assert export["params"]["quantization"]["tool"].startswith("nncf ")
        assert export["params"]["calibration_images"] > 0
    assert report["export"]["runtime"] == "openvino" and report["providers"] == ["OpenVINO:CPU"]
    assert report["threshold_points"] == THRESHOLDS[precision]
    assert report["passed"] is True and report["delta_map50_95"] >= -THRESHOLDS[precision], report
    if precision != "int8":
        assert abs(report["delta_map50_95"]) <= THRESHOLDS[precision]
    listed = {e["id"]: e for e in _cvops("-w", ov["ws"], "export", "--list")}
    assert listed[export["id"]]["passed"] is True


def test_the_ir_bundle_finds_what_the_onnx_bundle_finds(ov: dict[str, Any]) -> None:
    from cvops.deploy.edge_runner import Detector, read_image

    onnx_dir, ir_dir = ov["bundles"]["onnx"], ov["bundles"]["openvino"]
    meta = json.loads((ir_dir / "model.json").read_text())
    assert meta["model_file"] == "model.xml" and meta["runtimes"] == ["openvino"]
    assert {"model.xml", "model.bin"} <= set(meta["files"]) and "model.onnx" not in meta["files"]
    assert "openvino" in (ir_dir / "requirements.txt").read_text()
    image = read_image(onnx_dir / "sample.jpg", 160)
    assert image is not None
    reference = Detector(onnx_dir / "model.onnx", runtime="onnxruntime").predict_arrays([image[0]], conf=0.05)[0]
    for detector in (Detector(ir_dir / "model.xml"), Detector(onnx_dir / "model.onnx", runtime="openvino")):
        assert detector.runtime == "openvino"
        boxes, scores, classes = detector.predict_arrays([image[0]], conf=0.05)[0]
        assert len(boxes) == len(reference[0]) > 0 and np.array_equal(classes, reference[2])
        assert float(np.max(np.abs(boxes - reference[0]))) <= 1e-3  # pixels, before rounding
        assert float(np.max(np.abs(scores - reference[1]))) <= 1e-3
    printed = {}
    for name, bundle, runtime in (("onnx", onnx_dir, "onnxruntime"), ("ir", ir_dir, "openvino"),
                                  ("onnx-in-openvino", onnx_dir, "openvino")):
        done = _run_py(bundle, "sample.jpg", "--runtime", runtime)
        assert done.returncode == 0, done.stderr
        printed[name] = json.loads(done.stdout.splitlines()[0])["detections"]
    for name in ("ir", "onnx-in-openvino"):
        assert [d["class_id"] for d in printed[name]] == [d["class_id"] for d in printed["onnx"]]
        for a, b in zip(printed[name], printed["onnx"]):
            assert max(abs(x - y) for x, y in zip(a["box"], b["box"])) <= 0.0101  # one 0.01 px rounding step
    selftest = json.loads(_run_py(ir_dir, "--selftest").stdout)
    assert selftest["ok"] is True and selftest["chosen"]["runtime"] == "openvino", selftest


def test_runtime_auto_measures_both_picks_one_and_remembers_why(ov: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(ov["bundles"]["onnx"], bundle)
    done = _run_py(bundle, "--selftest")
    summary = json.loads(done.stdout)
    assert done.returncode == 0 and summary["ok"] is True, summary
    rows = {r["runtime"]: r for r in summary["runtimes"]}
    assert set(rows) == {"onnxruntime", "openvino"} and all(r["ok"] for r in rows.values())
    chosen = summary["chosen"]
    fastest = min(rows.values(), key=lambda r: r["latency_ms"]["p50"])
    assert chosen["runtime"] == fastest["runtime"] and chosen["speedup"] >= 1.0
    other = "openvino" if chosen["runtime"] == "onnxruntime" else "onnxruntime"
    assert chosen["reason"].startswith(chosen["runtime"]) and other in chosen["reason"] and "faster" in chosen["reason"]
    choice = json.loads((bundle / "runtime_choice.json").read_text())
    assert choice["chosen"]["runtime"] == chosen["runtime"] and len(choice["measurements"]) == 2
    assert choice["model_sha256"] == json.loads((bundle / "model.json").read_text())["files"]["model.onnx"]
    # a run reuses the remembered choice without measuring again...
    done = _run_py(bundle, "sample.jpg")
    assert done.returncode == 0 and "runtime auto" not in done.stderr, done.stderr
    # ...unless it was made on another machine: then it measures, says so and remembers it for this one
    choice["machine"]["host"] = "another-device"
    (bundle / "runtime_choice.json").write_text(json.dumps(choice))
    done = _run_py(bundle, "sample.jpg")
    assert done.returncode == 0 and "run.py: runtime auto: " in done.stderr, done.stderr
    assert json.loads((bundle / "runtime_choice.json").read_text())["machine"]["host"] != "another-device"


def test_without_openvino_everything_works_as_before_and_says_how_to_add_it(ov: dict[str, Any],
                                                                           tmp_path: Path) -> None:
    import shutil

    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCK_OPENVINO)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "block"), os.environ.get("PYTHONPATH")]))}
    bundle = tmp_path / "bundle"
    shutil.copytree(ov["bundles"]["onnx"], bundle)
    done = _run_py(bundle, "--selftest", env=env)
    summary = json.loads(done.stdout)
    assert done.returncode == 0 and summary["ok"] is True and summary["chosen"]["runtime"] == "onnxruntime"
    assert [r["runtime"] for r in summary["runtimes"]] == ["onnxruntime"]
    assert "pip install openvino" in summary["hint"] and "openvino" not in summary["runtime"]
    done = _run_py(bundle, "sample.jpg", env=env)
    assert done.returncode == 0 and json.loads(done.stdout.splitlines()[0])["detections"]
    done = _run_py(bundle, "sample.jpg", "--runtime", "openvino", env=env)
    assert done.returncode == 3 and "OpenVINO is not installed (pip install openvino)" in done.stderr
    done = _run_py(ov["bundles"]["openvino"], "--selftest", env=env)
    assert done.returncode == 1 and "OpenVINO is not installed (pip install openvino)" in done.stderr
    failed = _cvops("-w", ov["ws"], "export", "m1", "--format", "openvino", code=2, env=env)
    error = json.loads(failed.stdout)["error"]  # (--json: the error object on stdout)
    assert "not available here" in error["message"] and "pip install" in error["message"]
