"""The edge runner's pre-processing matches Ultralytics' letterbox exactly, and the export's softmax graph pass
changes speed, not results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from cvops.deploy.edge_runner import letterbox
from cvops.deploy.export import softmax_last_axis


@pytest.mark.parametrize("shape", [(720, 1280), (500, 300), (640, 640), (97, 211)])
@pytest.mark.parametrize("rect", [False, True])
def test_letterbox_matches_ultralytics(shape: tuple[int, int], rect: bool) -> None:
    from ultralytics.data.augment import LetterBox

    image = np.random.default_rng(0).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    ours, gain, (left, top) = letterbox(image, 640, 32 if rect else 0)
    theirs = LetterBox((640, 640), auto=rect, stride=32)(image=image)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    if rect:
        assert ours.shape[0] % 32 == 0 and ours.shape[1] % 32 == 0
    assert gain == pytest.approx(min(640 / shape[0], 640 / shape[1]))


def _softmax_model(path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 4, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 4, 10])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 16, 4, 10])
    graph = helper.make_graph([helper.make_node("Softmax", ["x"], ["s"], axis=1, name="dfl"),
                               helper.make_node("Softmax", ["s"], ["y"], axis=-1, name="last"),
                               helper.make_node("Identity", ["s"], ["z"])], "g", [x], [y, z])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # what onnxruntime reads (newer onnx writes a newer IR by default)
    onnx.save(model, str(path))


def test_softmax_pass_keeps_outputs(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _softmax_model(path)
    feed = {"x": np.random.default_rng(1).normal(size=(1, 16, 4, 10)).astype(np.float32)}
    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)
    assert softmax_last_axis(path) == 1  # only the axis-1 softmax is rewritten
    onnx.checker.check_model(str(path))
    after = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)
    for a, b in zip(before, after):
        assert np.allclose(a, b, atol=1e-7)
    assert softmax_last_axis(path) == 0  # idempotent
