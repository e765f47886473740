"""Acceptance, end to end through the console script: the session's acceptance run (``tests/e2e/conftest.py``: the
demo shapes workspace → a version of every image → `cvops train`, fast preset, 20 epochs at 160 px on the CPU), copied
→ champion → `cvops export` fp32 ONNX → `cvops verify` passes (|Δ mAP50-95| ≤ 0.5 points) → `cvops bundle` → `cvops
deploy` to a folder and over SSH to a real OpenSSH server on 127.0.0.1 (remote selftest) → an int8 export whose gate
verdict is reported either way.

About a minute on a 2-core CPU after the acceptance run (about three, shared with ``test_training_e2e``). Only the SSH
part is skipped where ``/usr/sbin/sshd`` is missing. The deltas are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from ssh_testing import Sshd
from training_testing import copy_workspace

pytestmark = pytest.mark.slow

CVOPS = Path(sys.executable).parent / "cvops"
FP32_MAX_DELTA = 0.5  # points of mAP50-95, the gate's fp32 threshold
VERIFY_KEYS = {"export_id", "model", "precision", "version", "split", "images", "pytorch", "export", "delta_map50",
               "delta_map50_95", "max_abs_output_diff", "threshold_points", "passed", "providers", "duration_s"}
BUNDLE_FILES = {"model.onnx", "model.json", "run.py", "runtimes.py", "frames.py", "fieldlog.py", "requirements.txt",
                "requirements-openvino.txt", "README.md", "sample.jpg",
                "sample_expected.json"}


def _run(*args: str, codes: tuple[int, ...] = (0,), timeout: int = 900) -> tuple[int, Any]:
    """``cvops ARGS --json``: the exit code (one of ``codes``) and the parsed JSON report."""
    env = {**os.environ, "COLUMNS": "200"}
    started = time.monotonic()
    done = subprocess.run([str(CVOPS), *args, "--json"], capture_output=True, text=True, timeout=timeout, env=env)
    print(f"  cvops {' '.join(args[2:] if args[:1] == ('-w',) else args)}: exit {done.returncode}, "
          f"{time.monotonic() - started:.1f} s")
    assert done.returncode in codes, (args, done.returncode, done.stdout[-2000:], done.stderr[-3000:])
    return done.returncode, json.loads(done.stdout)


def _cvops(*args: str, timeout: int = 900) -> Any:
    return _run(*args, timeout=timeout)[1]


def _check_report(report: dict[str, Any], precision: str) -> None:
    assert VERIFY_KEYS <= set(report), sorted(VERIFY_KEYS - set(report))
    assert report["precision"] == precision and report["split"] == "val" and report["images"] > 0
    for side in ("pytorch", "export"):
        assert 0.0 <= report[side]["map50"] <= 1.0 and 0.0 <= report[side]["map50_95"] <= 1.0
    assert report["delta_map50_95"] == pytest.approx(
        (report["export"]["map50_95"] - report["pytorch"]["map50_95"]) * 100, abs=1e-3)
    assert report["threshold_points"] == (1.5 if precision == "int8" else 0.5)
    assert report["passed"] is (report["delta_map50_95"] >= -report["threshold_points"])
    assert report["max_abs_output_diff"] is not None and report["max_abs_output_diff"] >= 0
    lat = report["export"]["latency_ms"]["cpu"]
    assert 0 < lat["p50"] <= lat["p95"] and report["pytorch"]["latency_ms"]["p50"] > 0
    assert "CPUExecutionProvider" in report["providers"]


def _print_gate(report: dict[str, Any]) -> None:
    lat, pt = report["export"]["latency_ms"]["cpu"], report["pytorch"]["latency_ms"]
    print(f"  {report['precision']} gate: Δ mAP50-95 {report['delta_map50_95']:+.3f} points, Δ mAP50 "
          f"{report['delta_map50']:+.3f} points (PyTorch mAP50-95 {report['pytorch']['map50_95']:.4f}, export "
          f"{report['export']['map50_95']:.4f}; threshold {report['threshold_points']}), max raw output diff "
          f"{report['max_abs_output_diff']:.6f}, latency p50 ONNX {lat['p50']:.2f} ms vs PyTorch {pt['p50']:.2f} ms: "
          f"{'passed' if report['passed'] else 'FAILED'}")


@pytest.fixture(scope="module")
def champion(acceptance: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A copy of the acceptance workspace, its trained model promoted."""
    started = time.monotonic()
    root = tmp_path_factory.mktemp("deploy-e2e")
    ws = str(copy_workspace(acceptance["ws"], root / "ws"))
    print()
    version, trained = acceptance["version"], acceptance["trained"]
    assert version["name"] == "v2" and version["stats"]["images"]["train"] >= 100
    assert trained["state"] == "finished"
    model = trained["model"]
    print(f"  trained {model['name']}: mAP50 {model['metrics']['metrics/mAP50(B)']:.3f}")
    promoted = _cvops("-w", ws, "models", "promote", "latest")
    assert promoted["name"] == model["name"] == "m1"
    yield {"root": root, "ws": ws, "model": model, "started": started}
    print(f"  deploy e2e total {time.monotonic() - started:.0f} s")


@pytest.fixture(scope="module")
def fp32(champion: dict[str, Any]) -> dict[str, Any]:
    """fp32 ONNX export of the champion, its gate and its bundle."""
    ws = champion["ws"]
    export = _cvops("-w", ws, "export", "m1", "--format", "onnx")
    assert export["precision"] == "fp32" and export["format"] == "onnx" and export["imgsz"] == 160
    assert Path(export["path"]).is_file() and len(export["sha256"]) == 64
    code, report = _run("-w", ws, "verify", str(export["id"]), codes=(0, 1))
    _print_gate(report)
    bundle = Path(champion["root"]) / "edge-bundle"
    info = _cvops("-w", ws, "bundle", str(export["id"]), str(bundle))
    return {"export": export, "code": code, "report": report, "bundle": bundle, "info": info}


def test_fp32_export_passes_the_gate_and_bundles(champion: dict[str, Any], fp32: dict[str, Any]) -> None:
    report = fp32["report"]
    _check_report(report, "fp32")
    assert fp32["code"] == 0 and report["passed"] is True, report
    assert abs(report["delta_map50_95"]) <= FP32_MAX_DELTA
    assert report["export_id"] == fp32["export"]["id"] and report["model"] == "m1" and report["version"] == "v2"
    listed = _cvops("-w", champion["ws"], "export", "--list")
    assert [(e["id"], e["passed"]) for e in listed] == [(fp32["export"]["id"], True)]
    assert listed[0]["verify"]["delta_map50_95"] == report["delta_map50_95"]

    info, bundle = fp32["info"], fp32["bundle"]
    assert Path(info["path"]) == bundle and info["export_id"] == fp32["export"]["id"] and info["model"] == "m1"
    assert {p.name for p in bundle.iterdir()} == BUNDLE_FILES
    meta = json.loads((bundle / "model.json").read_text())
    assert meta["names"] == ["circle", "square", "triangle"] and meta["precision"] == "fp32" and meta["imgsz"] == 160
    assert meta["lineage"]["export_id"] == fp32["export"]["id"] and meta["lineage"]["version"] == "v2"
    assert meta["lineage"]["verify"]["passed"] is True
    assert set(meta["files"]) == BUNDLE_FILES - {"model.json"}


def test_deploy_to_a_folder_runs_the_selftest(champion: dict[str, Any], fp32: dict[str, Any]) -> None:
    target = Path(champion["root"]) / "device"
    report = _cvops("-w", champion["ws"], "deploy", str(fp32["bundle"]), "--to", str(target))
    deployed = target / "edge-bundle"
    assert report["ok"] is True and report["error"] is None and report["deployed_to"] == str(deployed)
    selftest = report["selftest"]
    assert selftest["ok"] is True and selftest["problems"] == [] and selftest["files_checked"] == 10
    assert selftest["sample"]["detected"] == selftest["sample"]["expected"] > 0
    assert {r["runtime"] for r in selftest["runtimes"]} == {"onnxruntime", "openvino"}  # both measured here
    assert all(r["ok"] and r["latency_ms"]["p50"] > 0 for r in selftest["runtimes"])
    print(f"  folder deploy: selftest ok, {selftest['sample']['detected']} sample detections, "
          f"{report['seconds']:.1f} s")
    # the deployed run.py, as an edge engineer runs it: JSON lines, annotated images, the monitoring log
    log, saved = target / "predictions.jsonl", target / "annotated"
    done = subprocess.run([sys.executable, str(deployed / "run.py"), str(deployed / "sample.jpg"), "--save-dir",
                           str(saved), "--log", str(log)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and len(lines[0]["detections"]) >= 1
    assert [p.name for p in saved.iterdir()] == ["sample.jpg"]
    record = json.loads(log.read_text().splitlines()[0])
    assert record["count"] == len(lines[0]["detections"]) and record["latency_ms"] > 0


def test_deploy_over_ssh_runs_the_remote_selftest(champion: dict[str, Any], fp32: dict[str, Any], sshd: Sshd,
                                                  tmp_path: Path) -> None:
    server = sshd
    remote = tmp_path / "remote" / "models"
    url = server.url(remote)
    assert url == f"ssh://{server.user}@127.0.0.1:{server.port}{remote}"
    assert not server.known_hosts.exists()
    report = _cvops("-w", champion["ws"], "deploy", str(fp32["bundle"]), "--to", url, "--identity",
                    str(server.client_key), "--accept-new-host-key", "--known-hosts", str(server.known_hosts),
                    "--remote-python", sys.executable)
    assert report["ok"] is True and report["error"] is None, report
    assert report["deployed_to"] == server.url(remote / "edge-bundle")
    selftest = report["selftest"]
    assert selftest["ok"] is True and selftest["problems"] == [] and selftest["files_checked"] == 10
    assert selftest["bundle"] == str(remote / "edge-bundle")
    # the bundle, and the runtime the selftest measured fastest on the target, remembered for run.py --runtime auto
    assert {p.name for p in (remote / "edge-bundle").iterdir()} == BUNDLE_FILES | {"runtime_choice.json"}
    choice = json.loads((remote / "edge-bundle" / "runtime_choice.json").read_text())
    assert choice["chosen"]["runtime"] == selftest["chosen"]["runtime"] in ("onnxruntime", "openvino")
    assert [p.name for p in remote.iterdir()] == ["edge-bundle"]  # no partial folder left behind
    assert server.known_hosts.read_text().strip()  # the host key was accepted on first use
    print(f"  ssh deploy: remote selftest ok, {selftest['sample']['detected']} sample detections, "
          f"{report['seconds']:.1f} s")


def test_int8_export_gate_is_reported(champion: dict[str, Any], fp32: dict[str, Any]) -> None:
    ws = champion["ws"]
    export = _cvops("-w", ws, "export", "m1", "--format", "onnx", "--int8")
    assert export["precision"] == "int8" and export["params"]["calibration_images"] > 0
    assert export["size_bytes"] < fp32["export"]["size_bytes"]
    code, report = _run("-w", ws, "verify", str(export["id"]), codes=(0, 1))
    _print_gate(report)
    _check_report(report, "int8")
    assert report["export_id"] == export["id"]
    assert code == (0 if report["passed"] else 1)
    print(f"  int8: {export['size_bytes'] / 1e6:.2f} MB vs fp32 {fp32['export']['size_bytes'] / 1e6:.2f} MB, "
          f"calibration {export['params']['quantization']['calibration']} on "
          f"{export['params']['calibration_images']} images; verify exit {code}")
