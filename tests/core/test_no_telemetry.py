"""onnxruntime records telemetry events under the user's home (``~/.cache/Microsoft/DeveloperTools/.onnxruntime``)
as soon as it is imported; NNCF (OpenVINO int8) sends usage statistics to Google Analytics from a background thread
and keeps a client id under ``~/intel``. The workbench and a bundle's run.py turn both off. Each check runs in a
subprocess with a fresh temporary HOME (and, for NNCF, the network blocked by ``tests/netguard``, which logs every
attempt) and looks at what appeared there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


import pytest
from training_testing import copy_workspace

import cvops
from cvops.deploy import edge_runner

SRC = str(Path(cvops.__file__).resolve().parents[1])
# onnxruntime records nothing where one of these says it runs in a CI service (CI=true is how our CI runs the tests):
# they are removed, so that each check sees what a user's machine sees.
CI_MARKERS = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "TRAVIS", "CIRCLECI", "APPVEYOR",
              "TEAMCITY_VERSION", "CODEBUILD_BUILD_ID", "BITBUCKET_BUILD_NUMBER", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
              "BUILD_ID", "BUILD_BUILDID")


def run_in_home(home: Path, *args: str, keep_telemetry_var: bool = False) -> subprocess.CompletedProcess:
    """``python ARGS`` with HOME=``home``, no XDG cache folder, no CI markers and (unless kept) no
    ORT_DISABLE_TELEMETRY."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY", *CI_MARKERS)}
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join([SRC, env.get("PYTHONPATH", "")]))
    if keep_telemetry_var:
        env["ORT_DISABLE_TELEMETRY"] = "0"
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600)


def files_under(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_plain_onnxruntime_writes_telemetry_under_home(tmp_path: Path) -> None:
    """The control: without the switch, importing onnxruntime leaves its telemetry store in the home folder."""
    done = run_in_home(tmp_path / "home", "-c", "import onnxruntime")
    assert done.returncode == 0, done.stderr
    assert any(".onnxruntime" in f for f in files_under(tmp_path / "home")), (
        "this onnxruntime writes no telemetry store: the checks below prove nothing with it")


def test_the_workbench_and_run_py_leave_nothing_under_home(tmp_path: Path) -> None:
    code = ("from pathlib import Path\nfrom cvops.deploy.edge_runner import Detector\n"
            "from onnxruntime.quantization import quantize_static\n"
            "from onnxruntime.transformers.float16 import convert_float_to_float16\n"
            "try:\n    Detector(Path('missing.onnx'))  # imports onnxruntime first\n"
            "except Exception as exc:\n    print(type(exc).__name__)\n")
    done = run_in_home(tmp_path / "home", "-c", code)
    assert done.returncode == 0 and done.stdout.strip() == "BundleError", done.stderr
    assert files_under(tmp_path / "home") == []
    (tmp_path / "empty").mkdir()
    done = run_in_home(tmp_path / "home2", str(Path(edge_runner.__file__)), "--selftest", "--bundle",
                       str(tmp_path / "empty"))  # run.py: imports onnxruntime, then finds no model.json
    assert done.returncode == edge_runner.EXIT_FAILED and "model.json is missing" in done.stdout
    assert files_under(tmp_path / "home2") == []


@pytest.mark.slow
def test_an_int8_export_leaves_nothing_under_home(exported_workspace: tuple[Path, int], tmp_path: Path) -> None:
    """A real ``cvops export --int8`` (Ultralytics' exporter, graph passes, onnxruntime quantization) in a copy of
    the trained test workspace; the same export with ORT_DISABLE_TELEMETRY=0 does write the store."""
    ws = copy_workspace(exported_workspace[0], tmp_path / "ws")
    done = run_in_home(tmp_path / "home", "-m", "cvops.cli", "export", "latest", "--int8", "-w", str(ws), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["precision"] == "int8"
    assert files_under(tmp_path / "home") == []
    done = run_in_home(tmp_path / "home2", "-m", "cvops.cli", "export", "latest", "-w", str(ws), "--json",
                       keep_telemetry_var=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any(".onnxruntime" in f for f in files_under(tmp_path / "home2"))


NETGUARD = Path(__file__).resolve().parents[1] / "netguard"


def run_guarded(home: Path, log: Path, *args: str) -> subprocess.CompletedProcess:
    """:func:`run_in_home` with the network blocked and every attempt written to ``log``."""
    os.environ["NET_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NETGUARD), os.environ.get("PYTHONPATH")]))
    try:
        return run_in_home(home, *args)
    finally:
        del os.environ["NET_LOG"]
        os.environ["PYTHONPATH"] = os.environ["PYTHONPATH"].split(os.pathsep, 1)[1] if os.pathsep in os.environ[
            "PYTHONPATH"] else ""


@pytest.mark.slow
def test_an_openvino_int8_export_reaches_no_network_and_leaves_nothing_under_home(
        exported_workspace: tuple[Path, int], tmp_path: Path) -> None:
    """The control: NNCF's own quantize tries Google Analytics and writes ``~/intel``; ``cvops export --format
    openvino --int8`` (NNCF) and running the IR try nothing and write nothing."""
    pytest.importorskip("nncf")
    ws = copy_workspace(exported_workspace[0], tmp_path / "ws")
    onnx = next(ws.glob("exports/*/model.onnx"))
    control = ("import numpy as np, openvino as ov, nncf, time\n"
               f"m = ov.Core().read_model({str(onnx)!r})\n"
               "size = m.inputs[0].get_partial_shape()[-1].get_length()\n"
               "data = [np.random.rand(1, 3, size, size).astype('float32') for _ in range(2)]\n"
               "nncf.quantize(m, nncf.Dataset(data), subset_size=2)\ntime.sleep(2)\n")
    done = run_guarded(tmp_path / "home0", tmp_path / "net0.log", "-c", control)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "google-analytics" in (tmp_path / "net0.log").read_text() and files_under(tmp_path / "home0"), (
        "NNCF reports nothing here: the check below proves nothing with it")
    done = run_guarded(tmp_path / "home", tmp_path / "net.log", "-m", "cvops.cli", "export", "latest", "--format",
                       "openvino", "--int8", "-w", str(ws), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    xml = json.loads(done.stdout)["path"]
    run = ("import time\nfrom pathlib import Path\nimport numpy as np\n"
           "from cvops.deploy.edge_runner import Detector\n"
           f"d = Detector(Path({xml!r}))\nprint(d.runtime, len(d.predict([np.zeros((64, 64, 3), np.uint8)])))\n"
           "time.sleep(2)\n")
    done = run_guarded(tmp_path / "home", tmp_path / "net.log", "-c", run)
    assert done.returncode == 0 and done.stdout.split() == ["openvino", "1"], done.stderr[-3000:]
    assert not (tmp_path / "net.log").exists(), (tmp_path / "net.log").read_text()
    assert files_under(tmp_path / "home") == []
