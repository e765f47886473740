"""The edge runner's runtimes (``cvops.deploy.runtimes``, shipped as a bundle's ``runtimes.py``): one session
interface over onnxruntime and OpenVINO, the ``auto`` choice and its memory, on a tiny ONNX graph made here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cvops.deploy import runtimes
from cvops.deploy.export import export_digest

pytestmark = pytest.mark.skipif(not runtimes.installed("openvino"), reason="OpenVINO is not installed")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A 1x3x8x8 → 1x3x8x8 graph (Conv 3→3 then Sigmoid) with Ultralytics-style metadata."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [3, 3, 3, 3], rng.normal(size=81).astype(np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Sigmoid", ["c"], ["output0"])], "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 8, 8])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (("names", "{0: 'a', 1: 'b'}"), ("imgsz", "[8, 8]"), ("stride", "8")):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_both_runtimes_read_the_same_onnx_and_agree(tiny: Path) -> None:
    batch = np.random.default_rng(1).random((1, 3, 8, 8), dtype=np.float32)
    ort, ov = runtimes.open_session(tiny), runtimes.open_session(tiny, "openvino", threads=1)
    assert (ort.runtime, ov.runtime) == ("onnxruntime", "openvino")
    assert ort.providers == ["CPUExecutionProvider"] and ov.providers == ["OpenVINO:CPU"] and ov.device == "CPU"
    for session in (ort, ov):
        assert session.inputs == [runtimes.Port("images", (1, 3, 8, 8), "float32")]
        assert session.outputs[0].shape == (1, 3, 8, 8)
        assert session.metadata["names"] == "{0: 'a', 1: 'b'}" and session.metadata["stride"] == "8"
    assert np.max(np.abs(ort.run(batch)[0] - ov.run(batch)[0])) < 1e-5


def test_an_ir_keeps_the_metadata_and_its_digest_covers_both_files(tiny: Path) -> None:
    ov = runtimes.import_openvino()
    xml = tiny.with_name("model.xml")
    ov.save_model(ov.Core().read_model(str(tiny)), str(xml))
    session = runtimes.open_session(xml)
    assert session.runtime == "openvino" and session.metadata["imgsz"] == "[8, 8]"
    assert runtimes.readers(xml) == ["openvino"] and runtimes.readers(tiny) == ["onnxruntime", "openvino"]
    digest = runtimes.model_digest(xml)
    assert export_digest(xml)[0] == digest != runtimes.model_digest(tiny)
    blob = xml.with_suffix(".bin")
    blob.write_bytes(blob.read_bytes()[:-4] + b"\0\0\0\0")  # the weights change, the .xml does not
    assert runtimes.model_digest(xml) != digest
    with pytest.raises(runtimes.RuntimeFailure, match="OpenVINO IR; onnxruntime reads .onnx files only"):
        runtimes.open_session(xml, "onnxruntime")
    blob.unlink()
    with pytest.raises(FileNotFoundError):
        export_digest(xml)


def test_bad_files_devices_and_runtimes_are_clear_errors(tiny: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x01garbage" * 64)
    for runtime in ("onnxruntime", "openvino"):
        with pytest.raises(runtimes.RuntimeFailure, match="garbage.onnx is corrupt"):
            runtimes.open_session(garbage, runtime)
    with pytest.raises(runtimes.RuntimeFailure, match="unknown OpenVINO device 'NPU2'"):
        runtimes.open_session(tiny, "openvino", device="npu2")
    with pytest.raises(runtimes.RuntimeFailure, match="unknown runtime 'tflite'"):
        runtimes.open_session(tiny, "tflite")
    # CUDA asked for where it cannot run: onnxruntime's CPU provider instead, which the runner warns about
    session = runtimes.OrtSession(tiny, "cuda")
    if not runtimes.nvidia_present():
        assert session.providers == ["CPUExecutionProvider"]


def _row(runtime: str, p50: float | None, ok: bool = True) -> dict[str, Any]:
    return {"runtime": runtime, "device": "CPU", "version": "1", "ok": ok, "problems": [] if ok else ["boom"],
            "latency_ms": None if p50 is None else {"p50": p50, "p95": p50 * 1.2}}


def test_choose_takes_the_fastest_that_passed_and_says_why() -> None:
    best = runtimes.choose([_row("onnxruntime", 8.0), _row("openvino", 5.0)])
    assert best is not None and best["runtime"] == "openvino" and best["speedup"] == 1.6
    assert best["reason"] == "openvino 5.0 ms vs onnxruntime 8.0 ms per forward pass: 1.60x faster"
    best = runtimes.choose([_row("onnxruntime", 8.0), _row("openvino", 5.0, ok=False)])
    assert best is not None and best["runtime"] == "onnxruntime" and best["speedup"] is None
    assert best["reason"] == "onnxruntime: openvino failed (boom)"
    best = runtimes.choose([_row("openvino", None)])  # one runtime, not timed
    assert best is not None and best["reason"] == "openvino: the only runtime here that reads this model"
    assert runtimes.choose([_row("onnxruntime", 8.0, ok=False)]) is None


def test_measure_times_each_candidate_and_keeps_failures_as_rows(tiny: Path) -> None:
    batch = np.zeros((1, 3, 8, 8), np.float32)

    def broken() -> Any:
        raise runtimes.RuntimeFailure("OpenVINO is not installed (pip install openvino)")

    rows = runtimes.measure([("onnxruntime", lambda: runtimes.open_session(tiny)), ("openvino", broken)],
                            check=lambda s: [], batch=lambda s: batch, runs=3)
    assert rows[0]["ok"] and rows[0]["latency_ms"]["p50"] > 0 and rows[0]["version"]
    assert rows[1] == {"runtime": "openvino", "device": None, "version": None, "latency_ms": None, "ok": False,
                       "problems": ["OpenVINO is not installed (pip install openvino)"]}


def test_a_choice_is_remembered_for_this_model_and_machine_only(tmp_path: Path) -> None:
    rows = [_row("onnxruntime", 8.0), _row("openvino", 5.0)]
    chosen = runtimes.choose(rows)
    assert chosen is not None
    path = runtimes.save_choice(tmp_path, "a" * 64, rows, chosen)
    assert path == tmp_path / runtimes.CHOICE_FILE and not list(tmp_path.glob(".*tmp"))
    data = runtimes.load_choice(tmp_path, "a" * 64)
    assert data is not None and data["chosen"]["runtime"] == "openvino" and data["machine"] == runtimes.machine()
    assert runtimes.load_choice(tmp_path, "b" * 64) is None  # another model
    stored = json.loads(path.read_text())
    stored["machine"]["cpus"] = (stored["machine"]["cpus"] or 0) + 1
    path.write_text(json.dumps(stored))
    assert runtimes.load_choice(tmp_path, "a" * 64) is None  # another machine
    path.write_text("{not json")
    assert runtimes.load_choice(tmp_path, "a" * 64) is None
    if os.geteuid() != 0:  # root writes anywhere
        tmp_path.chmod(0o500)
        try:
            assert runtimes.save_choice(tmp_path, "a" * 64, rows, chosen) is None
        finally:
            tmp_path.chmod(0o700)
