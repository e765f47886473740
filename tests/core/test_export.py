"""Model export (ONNX fp32 / fp16 / int8) and the export gate (ONNX against PyTorch on the same inputs).

The model is m1 of the session's shared trained workspace (CPU, 96 px, 3 epochs; ``training_testing``), exported once
for the module in a copy of it, which each test copies again (tests export and verify: they write). Such a model finds
next to nothing at the real labels, so
the gate is also run on ``v2``, a version whose validation labels are the PyTorch model's own three best boxes per
image (predicted through the gate's own pipeline): there PyTorch scores high and a numeric drift of the export shows
up as a mAP delta.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from training_testing import IMGSZ, copy_workspace

from cvops.data.annotations import NewAnnotation
from cvops.cli import cli
from cvops.deploy import verify as verify_mod
from cvops.deploy.edge_runner import Detector
from cvops.deploy.export import available_formats, export_model, get_export, list_exports
from cvops.deploy.verify import DetectorPredictor, TorchDetector, _torch_module, verify_export
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.evaluation import _load_model, _read_image, split_items
from cvops.common.jobs import Cancelled, CancelToken
from cvops.models.registry import get_model
from cvops.catalog.store import sha256_file
from cvops.versions.create import create_version, get_version
from cvops.data.workspace import Workspace

REPORT_KEYS = {"export_id", "model", "precision", "version", "split", "images", "pytorch", "export", "delta_map50",
               "delta_map50_95", "max_abs_output_diff", "threshold_points", "passed"}


@pytest.fixture(scope="module")
def exported(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A copy of the trained workspace with m1's fp32 ONNX export and ``v2`` (pseudo labels on the val images);
    its folder and the export's id."""
    root = copy_workspace(trained_workspace, tmp_path_factory.mktemp("export") / "ws")
    with Workspace.open(root) as ws:
        fp32 = export_model(ws, "m1")
        _pseudo_label(ws, fp32.path)
    return root, fp32.id


@pytest.fixture
def env(exported: tuple[Path, int], tmp_path: Path):
    """This test's copy of ``exported``: the workspace and the fp32 export."""
    ws = Workspace.open(copy_workspace(exported[0], tmp_path / "ws"))
    yield ws, get_export(ws, exported[1])
    ws.close()


def _pseudo_label(ws: Workspace, onnx_path: str) -> None:
    """v1's val images relabelled with the PyTorch model's three best distinct boxes each, frozen as v2."""
    from cvops.deploy.edge_runner import Detector

    model = get_model(ws, "m1")
    torch_det = TorchDetector(_torch_module(_load_model(model.to_dict())), Detector(Path(onnx_path)))
    class_ids = [int(c["class_id"]) for c in sorted(model.classes, key=lambda c: c["index"])]
    items = []
    for iid, path, _ in split_items(ws, get_version(ws, "v1").id, "val")[0]:
        ws.annotations.delete([a.id for a in ws.annotations.for_image(iid)])
        boxes, _conf, classes = DetectorPredictor(torch_det)([_read_image(iid, path, None)[0]], 0.001, 0.5)[0]
        for b, c in list(zip(boxes, classes))[:3]:
            items.append(NewAnnotation(iid, class_ids[int(c)], "box",
                                       box=[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]))
    ws.annotations.add_many(items, description="pseudo labels")
    assert create_version(ws, "pseudo labels", statuses=("done", "approved")).name == "v2"


def _invoke(ws: Workspace, *args: str) -> Any:
    return CliRunner().invoke(cli, ["-w", str(ws.root), *args], catch_exceptions=False)


def _check_report(r: dict[str, Any], precision: str) -> None:
    assert REPORT_KEYS <= set(r)
    assert r["precision"] == precision and r["split"] == "val" and r["images"] > 0
    assert set(r["pytorch"]) == {"map50", "map50_95", "latency_ms"}
    assert set(r["export"]) == {"map50", "map50_95", "latency_ms", "runtime"} and "cpu" in r["export"]["latency_ms"]
    assert r["delta_map50_95"] == pytest.approx((r["export"]["map50_95"] - r["pytorch"]["map50_95"]) * 100, abs=1e-3)
    assert r["delta_map50"] == pytest.approx((r["export"]["map50"] - r["pytorch"]["map50"]) * 100, abs=1e-3)
    assert r["threshold_points"] == (1.5 if precision == "int8" else 0.5)
    assert r["passed"] is (r["delta_map50_95"] >= -r["threshold_points"])  # the rule, exactly
    assert r["max_abs_output_diff"] is not None and r["max_abs_output_diff"] >= 0


def test_fp32_export_is_stored_checked_and_findable(env) -> None:
    import onnx  # here, not at module level: quicker collection

    ws, info = env
    path = Path(info.path)
    assert path == ws.root / "exports" / f"m1-fp32-{IMGSZ}-1" / "model.onnx"
    onnx.checker.check_model(str(path))
    assert sha256_file(path) == info.sha256 and path.stat().st_size == info.size_bytes
    d = info.to_dict()
    assert {"id", "model", "format", "precision", "imgsz", "dynamic", "opset", "path", "sha256", "size_bytes"} <= set(d)
    assert (d["model"], d["format"], d["precision"], d["imgsz"], d["dynamic"]) == ("m1", "onnx", "fp32", IMGSZ, False)
    assert isinstance(d["opset"], int) and d["params"]["opset"] == d["opset"]
    assert {"ultralytics", "onnx", "onnxruntime"} <= set(d["params"]["versions"])
    json.dumps(d)
    row = ws.db.execute("SELECT model_id, sha256, path FROM exports WHERE id = ?", [info.id]).fetchone()
    assert row == (get_model(ws, "m1").id, info.sha256, path.relative_to(ws.root).as_posix())  # relocatable
    # no leftovers: no weights copy or temp folder in exports, nothing written next to the registered weights
    assert sorted(p.name for p in path.parent.iterdir()) == ["export.log", "model.onnx"]
    assert not [p for p in (ws.root / "exports").iterdir() if p.name.startswith(".")]
    assert not list((ws.root / "models").glob("*.onnx"))
    for ref in (info.id, str(info.id), str(path), str(path.parent)):
        assert get_export(ws, ref).id == info.id
    assert info.id in [e.id for e in list_exports(ws, "m1")]
    # a second output, the pooled backbone features, for field monitoring: the Detector hands one vector per image
    assert d["params"]["graph_passes"]["embedding_output"] == 1
    detector = Detector(path)
    images = [np.full((IMGSZ, IMGSZ, 3), v, np.uint8) for v in (40, 200)]
    assert len(detector.predict_arrays(images)) == 2 and len(detector.embeddings) == 2
    first, second = detector.embeddings
    assert first is not None and second is not None and first.shape == second.shape == (256,)
    assert np.all(np.isfinite(first))  # (this fixture's one-epoch model maps every image alike: the demo e2e tests
    # and test_graph_passes check that embeddings tell images apart)


def test_fp32_gate_passes_with_identical_outputs(env) -> None:
    ws, info = env
    report = verify_export(ws, info.id, "v2", latency_runs=10)
    r = report.to_dict()
    _check_report(r, "fp32")
    assert r["version"] == "v2"
    assert r["pytorch"]["map50"] > 0.5  # its own boxes: there is something to lose
    assert abs(r["delta_map50_95"]) < 0.1 and abs(r["delta_map50"]) < 0.1
    assert r["max_abs_output_diff"] < 1e-3
    assert r["passed"] is True
    lat = r["export"]["latency_ms"]["cpu"]
    assert 0 < lat["p50"] <= lat["p95"] and 0 < r["pytorch"]["latency_ms"]["p50"]
    stored = get_export(ws, info.id)
    assert stored.passed is True and stored.verified_at and stored.verify["delta_map50_95"] == r["delta_map50_95"]
    # the default version is the model's own
    assert verify_export(ws, str(info.path), latency_runs=0).version == "v1"


def test_fp16_export_verifies(env) -> None:
    import onnx  # here, not at module level: quicker collection

    ws, _ = env
    info = export_model(ws, "m1", half=True)
    assert info.precision == "fp16" and Path(info.path).parent.name == f"m1-fp16-{IMGSZ}-1"
    model = onnx.load(info.path)
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 io kept
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    r = verify_export(ws, info.id, "v2", latency_runs=5).to_dict()
    _check_report(r, "fp16")
    # no bound on the delta: the tiny model's near-tied, near-zero scores make its pseudo labels fragile
    print(f"fp16: delta mAP50-95 {r['delta_map50_95']:+.3f} points, max output diff {r['max_abs_output_diff']}")


def test_int8_export_verifies(env) -> None:
    import onnx  # here, not at module level: quicker collection

    ws, _ = env
    info = export_model(ws, "m1", int8=True)
    train_images = sum(1 for _, p, _ in split_items(ws, get_version(ws, "v1").id, "train")[0] if p.is_file())
    assert info.precision == "int8" and info.params["calibration_images"] == min(train_images, 100) > 0
    model = onnx.load(info.path)
    onnx.checker.check_model(model)
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    assert info.params["quantization"]["calibration"] in ("Percentile 99.999", "MinMax")
    assert sorted(p.name for p in Path(info.path).parent.iterdir()) == ["export.log", "model.onnx"]
    r = verify_export(ws, info.id, "v2", latency_runs=5).to_dict()
    _check_report(r, "int8")
    print(f"int8: delta mAP50-95 {r['delta_map50_95']:+.3f} points, passed {r['passed']}")


def _handmade(ws: Workspace, path: Path, precision: str = "fp32") -> int:
    """An exports row for ``path`` as it is now (its sha256 recorded)."""
    cur = ws.db.execute(
        "INSERT INTO exports (model_id, format, precision, imgsz, dynamic, opset, path, sha256, size_bytes, params, "
        "created_at) VALUES (?, 'onnx', ?, ?, 0, 17, ?, ?, ?, '{}', 0)",
        [get_model(ws, "m1").id, precision, IMGSZ, str(path), sha256_file(path), path.stat().st_size])
    ws.db.conn.commit()
    return int(cur.lastrowid or 0)


def test_corrupt_or_changed_onnx_file_is_a_clear_error(env, tmp_path: Path) -> None:
    ws, info = env
    copy = tmp_path / "copy" / "model.onnx"
    copy.parent.mkdir()
    shutil.copyfile(info.path, copy)
    eid = _handmade(ws, copy)
    copy.write_bytes(b"not an onnx model" * 100)  # changed after the export
    with pytest.raises(ValidationError, match=r"(?s)model\.onnx.*changed since it was exported: sha256"):
        verify_export(ws, eid)
    garbage = tmp_path / "garbage" / "model.onnx"
    garbage.parent.mkdir()
    garbage.write_bytes(b"\x08\x01garbage" * 64)
    with pytest.raises(ValidationError, match=r"cannot use ONNX file .*garbage.*model\.onnx"):
        verify_export(ws, _handmade(ws, garbage))
    copy.unlink()
    with pytest.raises(NotFoundError, match="is missing"):
        verify_export(ws, eid)
    assert get_export(ws, info.id).passed is not False  # other exports untouched


def test_class_count_mismatch_is_a_validation_error(env, tmp_path: Path) -> None:
    ws, _ = env
    import onnx
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [9, 3, 1, 1], np.zeros(27, np.float32).tolist())
    shape = helper.make_tensor("s", TensorProto.INT64, [3], [1, 9, IMGSZ * IMGSZ])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w"], ["c"]), helper.make_node("Reshape", ["c", "s"], ["output0"])],
        "nine", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, IMGSZ, IMGSZ])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 9, IMGSZ * IMGSZ])], [weight, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "nine.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ValidationError, match=r"outputs 9 channels per anchor; model m1 has 3 classes"):
        verify_export(ws, _handmade(ws, path))


def test_bad_input(env) -> None:
    ws, info = env
    with pytest.raises(NotFoundError, match="no export 999"):
        get_export(ws, 999)
    with pytest.raises(NotFoundError, match="no export with the path"):
        verify_export(ws, "/nowhere/model.onnx")
    with pytest.raises(NotFoundError, match="no model 'm99'"):
        export_model(ws, "m99")
    with pytest.raises(NotFoundError):
        list_exports(ws, "m99")
    formats = {f["format"]: f for f in available_formats()}
    assert set(formats) == {"onnx", "openvino", "tflite", "coreml", "engine"} and formats["onnx"]["available"]
    if not formats["coreml"]["available"]:
        with pytest.raises(ValidationError, match="coreml is not available here.*coremltools"):
            export_model(ws, "m1", format="coreml")
    with pytest.raises(ValidationError, match="unknown export format 'pb'"):
        export_model(ws, "m1", format="pb")
    with pytest.raises(ValidationError, match="one of --half and --int8"):
        export_model(ws, "m1", half=True, int8=True)
    with pytest.raises(ValidationError, match="multiple of 32"):
        export_model(ws, "m1", imgsz=100)
    with pytest.raises(NotFoundError):
        verify_export(ws, info.id, version_ref="v99")


def test_cancelled_export_keeps_nothing(env) -> None:
    ws, _ = env
    before = (len(list_exports(ws)), sorted(p.name for p in (ws.root / "exports").iterdir()))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        export_model(ws, "m1", cancel=token)
    assert (len(list_exports(ws)), sorted(p.name for p in (ws.root / "exports").iterdir())) == before


def test_a_dynamic_int8_export_leaves_nothing_in_the_current_folder(env, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime's symbolic shape inference gives up on a dynamic graph and dumps it (sym_shape_infer_temp.onnx and
    <uuid>.data files) into the current folder: a user's export must not litter where they stand."""
    ws, _ = env
    cwd = tmp_path / "where-the-user-stands"
    cwd.mkdir()
    (cwd / "mine.data").write_text("the user's own file")
    monkeypatch.chdir(cwd)
    info = export_model(ws, "m1", int8=True, dynamic=True)
    assert info.precision == "int8" and info.dynamic
    assert sorted(p.name for p in cwd.iterdir()) == ["mine.data"]


@pytest.mark.skipif(not any(f["format"] == "openvino" and f["available"] for f in available_formats()),
                    reason="OpenVINO is not installed")
def test_openvino_int8_cancelled_mid_calibration_keeps_nothing_and_a_dynamic_ir_runs(env) -> None:
    """Cancel during NNCF's calibration: nothing kept (no row, no folder); a dynamic fp32 IR runs rectangular
    inputs in OpenVINO with the boxes of the dynamic ONNX export in onnxruntime."""
    ws, _ = env
    before = (len(list_exports(ws)), sorted(p.name for p in (ws.root / "exports").iterdir()))
    token, seen = CancelToken(), []

    def progress(fraction: float, message: str) -> None:
        if message.startswith("calibrating"):
            seen.append(message)
            if len(seen) == 3:
                token.cancel()

    with pytest.raises(Cancelled):
        export_model(ws, "m1", format="openvino", int8=True, progress=progress, cancel=token)
    assert len(seen) == 3
    assert (len(list_exports(ws)), sorted(p.name for p in (ws.root / "exports").iterdir())) == before
    ir = export_model(ws, "m1", format="openvino", dynamic=True)
    onnx = export_model(ws, "m1", dynamic=True)
    assert ir.dynamic and Path(ir.path).name == "model.xml" and ir.params["opset"] == onnx.opset
    image = np.full((90, 200, 3), 114, np.uint8)
    image[20:60, 40:100] = (30, 200, 30)
    a, b = Detector(Path(ir.path)), Detector(Path(onnx.path))
    assert a.rect and b.rect  # each image at its own stride-aligned size
    (boxes_a, scores_a, _), (boxes_b, scores_b, _) = a.predict_arrays([image], 0.01)[0], b.predict_arrays([image], 0.01)[0]
    assert len(boxes_a) == len(boxes_b) and np.allclose(boxes_a, boxes_b, atol=1e-2)
    assert np.allclose(scores_a, scores_b, atol=1e-3)


def test_cli_export_and_verify(env, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, info = env
    res = _invoke(ws, "export", "--list-formats", "--json")
    assert res.exit_code == 0 and {f["format"] for f in json.loads(res.stdout)} >= {"onnx", "coreml"}
    res = _invoke(ws, "export", "--list-formats")
    assert res.exit_code == 0 and "onnx" in res.stdout
    res = _invoke(ws, "export", "m1", "--dynamic", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["dynamic"] is True and data["path"].endswith(f"m1-fp32-{IMGSZ}-dynamic-1/model.onnx")
    res = _invoke(ws, "verify", str(data["id"]), "--version", "v2", "--json", "--latency-runs", "3")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert REPORT_KEYS <= set(report) and report["passed"] is True
    res = _invoke(ws, "verify", str(Path(info.path).parent), "--latency-runs", "0", "--allow-below-floor")  # v1: ~0
    assert res.exit_code == 0 and "gate passed" in res.stdout and "mAP50-95" in res.stdout
    res = _invoke(ws, "export", "--list", "m1")
    assert res.exit_code == 0 and "passed" in res.stdout
    assert json.loads(_invoke(ws, "export", "--list", "m1", "--json").stdout)[0]["id"] == info.id
    # a failing gate: demand a 1-point gain of fp32
    monkeypatch.setitem(verify_mod.THRESHOLDS, "fp32", -1.0)
    res = _invoke(ws, "verify", str(info.id), "--latency-runs", "0", "--json")
    assert res.exit_code == 1 and "gate failed" in res.stderr and "mAP50-95" in res.stderr
    assert json.loads(res.stdout)["passed"] is False and get_export(ws, info.id).passed is False
    # bad input: exit code 2 with a message
    for args, message in ((("verify", "999"), "no export 999"), (("export", "m99"), "no model 'm99'"),
                          (("export", "m1", "--half", "--int8"), "one of --half and --int8")):
        res = _invoke(ws, *args)
        assert res.exit_code == 2 and message in res.stderr, (args, res.stderr)
    if not {f["format"]: f for f in available_formats()}["coreml"]["available"]:
        res = _invoke(ws, "export", "m1", "--format", "coreml")
        assert res.exit_code == 2 and "coremltools" in res.stderr
    res = _invoke(ws, "export")
    assert res.exit_code == 2


def test_gate_fails_below_the_quality_floor_and_the_override_is_recorded(env) -> None:
    """Parity is not quality: the 3-epoch model finds nothing at v1's real labels, its export has perfect parity,
    and the gate fails naming the floor; the override passes it and says so; the registry marks the model."""
    ws, info = env
    r = verify_export(ws, info.id, latency_runs=0).to_dict()
    assert r["version"] == "v1" and r["parity_passed"] is True
    q = r["quality"]
    assert q["metric"] == "map50_95" and q["floor"] == verify_mod.DEFAULT_MIN_MAP50_95 == 0.05
    assert q["value"] == r["export"]["map50_95"] < 0.05 and q["passed"] is False and q["overridden"] is False
    assert r["passed"] is False and get_export(ws, info.id).passed is False
    res = _invoke(ws, "verify", str(info.id), "--latency-runs", "0")
    assert res.exit_code == 1 and "floor 0.050" in res.stderr and "--allow-below-floor" in res.stderr
    res = _invoke(ws, "verify", str(info.id), "--latency-runs", "0", "--allow-below-floor", "--json")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["passed"] is True and report["quality"]["overridden"] is True and report["quality"]["passed"] is False
    stored = get_export(ws, info.id)
    assert stored.passed is True and stored.verify["quality"]["overridden"] is True  # recorded with the export
    # a floor of 0 disables the check: passed, nothing overridden; a floor the model reaches on v2 passes as is
    r0 = verify_export(ws, info.id, latency_runs=0, min_map50_95=0.0).to_dict()
    assert r0["passed"] is True and r0["quality"] == {**r0["quality"], "passed": True, "overridden": False}
    r2 = verify_export(ws, info.id, "v2", latency_runs=0, min_map50_95=0.3).to_dict()
    assert r2["quality"]["value"] > 0.3 and r2["passed"] is True and r2["quality"]["overridden"] is False
    high = verify_export(ws, info.id, "v2", latency_runs=0, min_map50_95=1.0, allow_below_floor=False).to_dict()
    assert high["parity_passed"] is True and high["passed"] is False  # a floor above its score fails v2 too
    with pytest.raises(ValidationError, match="between 0 and 1"):
        verify_export(ws, info.id, latency_runs=0, min_map50_95=1.5)
    assert _invoke(ws, "verify", str(info.id), "--min-map50-95", "2").exit_code == 2
    # the registry marks the model: its mAP50-95 at training is below the floor
    listed = json.loads(_invoke(ws, "models", "list", "--json").stdout)
    m1 = next(m for m in listed if m["name"] == "m1")
    assert m1["below_floor"] is True
    assert "below floor" in _invoke(ws, "models", "list").stdout


def test_available_formats_says_whether_openvino_int8_is_possible(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenVINO's entry says whether NNCF (its int8 export) is installed, and how to install it when it is not."""
    from cvops.deploy import export as export_mod

    real = export_mod.importlib.util.find_spec
    for installed in (True, False):
        monkeypatch.setattr(export_mod.importlib.util, "find_spec",
                            lambda name, *a: (real("onnx") if installed else None) if name == "nncf" else real(name))
        formats = {f["format"]: f for f in available_formats()}
        openvino = formats["openvino"]
        assert set(openvino) == {"format", "available", "reason", "int8", "int8_reason"}
        assert openvino["int8"] is installed and "int8" not in formats["onnx"]
        assert openvino["int8_reason"] == "installed" if installed else "cvops-workbench[openvino]" in \
            openvino["int8_reason"]
