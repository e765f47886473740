"""The edge runner's pre-processing matches Ultralytics' letterbox exactly, and its reduced-scale JPEG decode picks
the right scale and maps back to full size (EXIF rotation, progressive, non-JPEG and broken input)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest

from cvops.deploy.edge_runner import decode_image, jpeg_size, letterbox, nms, postprocess, read_image, to_tensor


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


@pytest.mark.parametrize("shape", [(384, 640, 3), (7, 5, 3), (32, 32, 4)])
def test_to_tensor_is_blob_from_image_bit_for_bit(shape: tuple[int, int, int]) -> None:
    image = np.random.default_rng(4).integers(0, 256, size=shape, dtype=np.uint8)
    expected = cv2.dnn.blobFromImage(image[:, :, :3], 1.0 / 255.0, swapRB=True)[0]
    tensor = to_tensor(image)
    assert tensor.dtype == np.float32 and tensor.flags.c_contiguous and np.array_equal(tensor, expected)


def test_postprocess_and_nms_match_torchvision() -> None:
    import torch
    from torchvision.ops import batched_nms

    rng = np.random.default_rng(5)
    anchors, classes = 400, 3
    xy, wh = rng.uniform(0, 600, (anchors, 2)), rng.uniform(5, 120, (anchors, 2))
    output = np.concatenate([xy, wh, rng.uniform(0, 1, (anchors, classes))], axis=1).T.astype(np.float32)
    boxes, scores, cls = postprocess(output, classes, conf=0.25, iou=0.5)
    pred = output.T
    best, label = pred[:, 4:].max(1), pred[:, 4:].argmax(1)
    mask = best > 0.25
    xyxy = np.concatenate([pred[mask, :2] - pred[mask, 2:4] / 2, pred[mask, :2] + pred[mask, 2:4] / 2], axis=1)
    keep = batched_nms(torch.from_numpy(xyxy), torch.from_numpy(best[mask]), torch.from_numpy(label[mask]), 0.5)
    keep = keep[:300]  # max_det
    assert np.array_equal(boxes, xyxy[keep.numpy()]) and np.array_equal(scores, best[mask][keep.numpy()])
    assert np.array_equal(cls, label[mask][keep.numpy()])
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).size == 0


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
