"""The edge runner's pre-processing matches Ultralytics' letterbox exactly, its reduced-scale JPEG decode picks the
right scale and maps back to full size (EXIF rotation, progressive, non-JPEG and broken input), and the export's
softmax graph pass changes speed, not results."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from cvops.deploy.edge_runner import decode_image, jpeg_size, letterbox, read_image
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


def _jpeg(shape: tuple[int, int], progressive: bool = False, orientation: int = 0) -> bytes:
    from PIL import Image

    gradient = np.linspace(0, 255, shape[0] * shape[1] * 3).reshape(*shape, 3).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(gradient[:, ::-1]))
    exif = image.getexif()
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, progressive=progressive, exif=exif)
    return out.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_size_reads_the_frame_header(progressive: bool) -> None:
    data = _jpeg((721, 1283), progressive, orientation=6)  # an EXIF segment comes before the frame header
    assert jpeg_size(data) == (1283, 721)
    assert jpeg_size(cv2.imencode(".png", np.zeros((5, 7, 3), np.uint8))[1].tobytes()) is None
    assert jpeg_size(b"") is None and jpeg_size(b"not an image at all") is None
    assert jpeg_size(data[:30]) is None  # cut before the frame header
    assert jpeg_size(b"\xff\xd8\xff\xe0\xff\xff") is None  # a segment length running past the end


@pytest.mark.parametrize(("imgsz", "factor"), [(None, 1), (2000, 1), (700, 1), (641, 2), (640, 2), (320, 4),
                                               (160, 8), (100, 8)])
def test_decode_scale_keeps_the_long_side_at_least_the_input_size(imgsz: int | None, factor: int) -> None:
    image, fx, fy = decode_image(_jpeg((721, 1283)), imgsz)  # type: ignore[misc]
    assert image.shape == (-(-721 // factor), -(-1283 // factor), 3)
    assert factor == 1 or max(image.shape[:2]) >= (imgsz or 0)
    assert (fx * image.shape[1], fy * image.shape[0]) == pytest.approx((1283, 721))
    full = cv2.imdecode(np.frombuffer(_jpeg((721, 1283)), np.uint8), cv2.IMREAD_COLOR)
    shrunk = cv2.resize(full, image.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - image.astype(int)).mean() < 2.0  # the same picture, only smaller


def test_decode_applies_exif_rotation_and_maps_back_to_the_rotated_size() -> None:
    image, fx, fy = decode_image(_jpeg((721, 1283), orientation=6), 640)  # type: ignore[misc]
    assert image.shape[:2] == (642, 361)  # rotated 90 degrees, then half size
    assert (fx * image.shape[1], fy * image.shape[0]) == pytest.approx((721, 1283))
    full, gx, gy = decode_image(_jpeg((721, 1283), orientation=6))  # type: ignore[misc]
    assert full.shape[:2] == (1283, 721) and (gx, gy) == (1.0, 1.0)


def test_other_formats_and_broken_files(tmp_path: Path) -> None:
    png = cv2.imencode(".png", np.zeros((1000, 1500, 3), np.uint8))[1].tobytes()
    image, fx, fy = decode_image(png, 160)  # type: ignore[misc]
    assert image.shape == (1000, 1500, 3) and (fx, fy) == (1.0, 1.0)  # only JPEGs scale in the decoder
    assert decode_image(b"", 640) is None and decode_image(b"garbage", 640) is None
    assert read_image(tmp_path / "missing.jpg", 640) is None
    (tmp_path / "broken.jpg").write_bytes(_jpeg((400, 600))[:200])
    assert read_image(tmp_path / "broken.jpg", 100) is None


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
