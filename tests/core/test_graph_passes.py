"""The ONNX graph passes every export gets change speed, not results: on hand-built graphs (what they rewrite and what
they must leave alone) and on a real Ultralytics yolo11n export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from cvops.deploy.graph_passes import apply_graph_passes, conv_per_chunk, embedding_output, softmax_last_axis


def _run(path: Path, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)


def _save(graph: onnx.GraphProto, path: Path, opset: int = 17) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9  # what onnxruntime reads (newer onnx writes a newer IR by default)
    onnx.save(model, str(path))


def _softmax_model(path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 4, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 4, 10])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 16, 4, 10])
    _save(helper.make_graph([helper.make_node("Softmax", ["x"], ["s"], axis=1, name="dfl"),
                             helper.make_node("Softmax", ["s"], ["y"], axis=-1, name="last"),
                             helper.make_node("Identity", ["s"], ["z"])], "g", [x], [y, z]), path)


def test_softmax_pass_keeps_outputs(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _softmax_model(path)
    feed = {"x": np.random.default_rng(1).normal(size=(1, 16, 4, 10)).astype(np.float32)}
    before = _run(path, feed)
    assert softmax_last_axis(path) == 1  # only the axis-1 softmax is rewritten
    onnx.checker.check_model(str(path))
    for a, b in zip(before, _run(path, feed)):
        assert np.allclose(a, b, atol=1e-7)
    assert softmax_last_axis(path) == 0  # idempotent


def _c2f_model(path: Path, sizes: list[int] | None, opset: int = 17, extra_reader: bool = False,
               sizes_as_node: bool = False) -> None:
    """x → Conv(3→8) → SiLU (Sigmoid·Mul) → Split(axis 1, ``sizes``) → outputs, plus a residual Add on the last
    chunk as in a C2f bottleneck; ``extra_reader`` lets a second node read the activation (the pass must refuse)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="cv1"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sig"),
             helper.make_node("Mul", ["c", "s"], ["a"], name="act")]
    outs = [f"y{i}" for i in range(len(sizes or [4, 4]))]
    split_inputs = ["a"]
    attrs: dict = {"axis": 1}
    if sizes is not None and opset < 13:
        attrs["split"] = sizes
    elif sizes is not None:
        split_inputs.append("sizes")
        if sizes_as_node:
            nodes.insert(0, helper.make_node("Constant", [], ["sizes"], value=numpy_helper.from_array(
                np.array(sizes, np.int64), "sizes_value")))
        else:
            inits.append(numpy_helper.from_array(np.array(sizes, np.int64), "sizes"))
    nodes.append(helper.make_node("Split", split_inputs, outs, name="split", **attrs))
    nodes.append(helper.make_node("Add", [outs[-1], outs[-1]], ["res"], name="residual"))
    dims = ["n", "c", "h", "w"]
    graph_outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, dims) for o in [*outs, "res"]]
    if extra_reader:
        nodes.append(helper.make_node("Identity", ["a"], ["peek"]))
        graph_outs.append(helper.make_tensor_value_info("peek", TensorProto.FLOAT, dims))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 16])
    _save(helper.make_graph(nodes, "c2f", [x], graph_outs, inits), path, opset)


@pytest.mark.parametrize(("sizes", "opset", "as_node"), [([4, 4], 17, False), ([2, 6], 17, True), ([3, 5], 11, False),
                                                         (None, 17, False)])
def test_conv_per_chunk_keeps_outputs(tmp_path: Path, sizes: list[int] | None, opset: int, as_node: bool) -> None:
    path = tmp_path / "m.onnx"
    _c2f_model(path, sizes, opset, sizes_as_node=as_node)
    feed = {"x": np.random.default_rng(2).normal(size=(1, 3, 12, 16)).astype(np.float32)}
    before = _run(path, feed)
    assert conv_per_chunk(path) == 1
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node].count("Split") == 0
    assert [n.op_type for n in model.graph.node].count("Conv") == 2
    assert {t.name for t in model.graph.initializer} == {f"cv1/{p}/chunk{k}" for p in ("weight", "bias") for k in (0, 1)}
    for a, b in zip(before, _run(path, feed)):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-5)
    assert conv_per_chunk(path) == 0  # idempotent


def test_conv_per_chunk_leaves_shared_activations_alone(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _c2f_model(path, [4, 4], extra_reader=True)
    data = path.read_bytes()
    assert conv_per_chunk(path) == 0 and path.read_bytes() == data


def test_passes_on_a_real_yolo11n_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from cvops.models.offline import make_offline

    make_offline(tmp_path / "ultralytics", block_network=True)
    monkeypatch.chdir(tmp_path)  # a model built from its YAML exports into the working directory
    from ultralytics import YOLO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notice about its legacy ONNX exporter, which Ultralytics uses
        plain = Path(YOLO("yolo11n.yaml").export(format="onnx", imgsz=160, dynamic=True, simplify=False,
                                                 verbose=False))
    ours = tmp_path / "ours.onnx"
    ours.write_bytes(plain.read_bytes())
    assert apply_graph_passes(ours) == {"embedding_output": 1, "softmax_last_axis": 1,
                                        "conv_per_chunk": 9}  # 8 C3k2 blocks and the C2PSA
    assert abs(ours.stat().st_size - plain.stat().st_size) < 0.02 * plain.stat().st_size  # no weights left behind
    images = np.random.default_rng(3).random((2, 3, 96, 160), dtype=np.float32)
    images[1, :, :48] = 0.0  # half of the second image black
    feed = {"images": images}
    (a,), (b, embedding) = _run(plain, feed), _run(ours, feed)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-3)
    assert embedding.shape == (2, 256) and np.all(np.isfinite(embedding))  # SPPF's 256 channels, one row per image
    assert not np.allclose(embedding[0], embedding[1], rtol=0.01, atol=0)  # it tells images apart (an untrained
    # model's features are tiny: compare relatively)
    assert embedding_output(ours) == 0  # once only


def test_embedding_output_of_a_graph_without_sppf_is_none(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _softmax_model(path)
    data = path.read_bytes()
    assert embedding_output(path) == 0 and path.read_bytes() == data
