"""YOLO writer, write/read round trips, the shared real-world fixtures and Ultralytics training on our export."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import make_image
from hypothesis import given, settings
from hypothesis import strategies as st

from cvops.formats import yolo
from cvops.formats.model import (ExportClass, ExportData, ExportItem, ExportShape, FormatError,
                                 LabelShape)
from cvops.common.jobs import CancelToken, Cancelled

from yolo_testing import by_name, reasons, shared


# ------------------------------------------------------------------------------------------------ writing


def export_data(tmp_path: Path, sizes: list[tuple[int, int]], splits: list[str]) -> ExportData:
    classes = [ExportClass(0, 11, "car", "#ff0000"), ExportClass(1, 5, "person", "#00ff00"),
               ExportClass(2, 7, "ünïcode name", "#0000ff")]
    items = []
    for i, ((w, h), split) in enumerate(zip(sizes, splits)):
        source = make_image(tmp_path / "src" / f"img_{i}.png", (w, h), "PNG", seed=i)
        shapes = [ExportShape(i % 3, "box", box=(w * 0.1234567891, h * 0.2345678912, w * 0.3456789123,
                                                 h * 0.4567891234)),
                  ExportShape(1, "polygon", points=[[0.0, 0.0], [w * 0.987654321, h * 0.1], [w / 3, float(h)]]),
                  ExportShape(2, "tag")] if i % 4 != 3 else []
        items.append(ExportItem(i + 1, source, f"img_{i}.png", w, h, split, shapes))
    return ExportData(classes, items)


def pixels(shape: LabelShape, w: int, h: int) -> list[float]:
    if shape.kind == "box":
        x, y, bw, bh = shape.box
        return [x * w, y * h, bw * w, bh * h]
    return [v for px, py in shape.points for v in (px * w, py * h)]


def test_write_layout_and_data_yaml(tmp_path: Path) -> None:
    data = export_data(tmp_path, [(64, 48), (64, 48), (40, 30), (64, 48)], ["train", "train", "test", "train"])
    out = tmp_path / "out"
    out.mkdir()
    yolo.write(data, out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "classes.txt", "data.yaml", "images/test/img_2.png", "images/train/img_0.png", "images/train/img_1.png",
        "images/train/img_3.png", "labels/test/img_2.txt", "labels/train/img_0.txt", "labels/train/img_1.txt",
        "labels/train/img_3.txt"]
    doc = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert doc == {"train": "images/train", "test": "images/test", "val": "images/train", "nc": 3,
                   "names": {0: "car", 1: "person", 2: "ünïcode name"}}
    assert (out / "classes.txt").read_text(encoding="utf-8") == "car\nperson\nünïcode name\n"
    assert (out / "labels/train/img_3.txt").read_text() == ""
    lines = (out / "labels/train/img_0.txt").read_text().splitlines()
    assert lines == ["0 0.2962962452 0.4629624529 0.3456789123 0.4567891234",
                     "1 0 0 0.987654321 0.1 0.3333333333 1"]
    assert (out / "images/train/img_0.png").read_bytes() == data.items[0].source.read_bytes()


def test_write_symlinks_images_when_asked(tmp_path: Path) -> None:
    data = export_data(tmp_path, [(64, 48)], ["val"])
    data.images_mode = "symlink"
    yolo.write(data, tmp_path)
    image = tmp_path / "images" / "val" / "img_0.png"
    assert image.is_symlink() and image.resolve() == data.items[0].source.resolve()
    assert "train" not in yaml.safe_load((tmp_path / "data.yaml").read_text())


def test_write_refuses_two_images_sharing_a_label_file(tmp_path: Path) -> None:
    data = export_data(tmp_path, [(64, 48), (64, 48)], ["train", "train"])
    data.items[1].file_name = "img_0.jpg"
    with pytest.raises(FormatError, match="would share the label file labels/train/img_0.txt"):
        yolo.write(data, tmp_path / "out")


def test_write_refuses_names_escaping_the_folder(tmp_path: Path) -> None:
    data = export_data(tmp_path, [(64, 48)], ["train"])
    data.items[0].file_name = "../../evil.png"
    with pytest.raises(FormatError, match="escapes"):
        yolo.write(data, tmp_path / "out")


def test_write_progress_and_cancel(tmp_path: Path) -> None:
    data = export_data(tmp_path, [(16, 16)] * 3, ["train"] * 3)
    seen: list[float] = []
    yolo.write(data, tmp_path / "out", progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        yolo.write(data, tmp_path / "out2", cancel=token)


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    sizes = [(64, 48), (1920, 1080), (33, 77), (64, 48), (300, 200)]
    data = export_data(tmp_path, sizes, ["train", "val", "test", "val", "train"])
    out = tmp_path / "out"
    out.mkdir()
    yolo.write(data, out)
    assert yolo.detect(out)
    ds = yolo.read(out)
    assert ds.problems == [] and ds.classes == [c.name for c in data.classes]
    items = by_name(ds)
    assert len(items) == len(data.items)
    for item in data.items:
        back = items[item.file_name]
        assert back.split == item.split
        written = [s for s in item.shapes if s.kind != "tag"]
        assert [(s.kind, data.classes[s.class_index].name) for s in written] == [(s.kind, s.label) for s in back.shapes]
        for original, read_back in zip(written, back.shapes):
            expected = list(original.box) if original.kind == "box" else [v for p in original.points for v in p]
            got = pixels(read_back, item.width, item.height)
            assert max(abs(a - b) for a, b in zip(expected, got)) <= 0.01


@settings(max_examples=40, deadline=None)
@given(w=st.integers(1, 60000), h=st.integers(1, 60000), fx=st.floats(0, 0.9), fy=st.floats(0, 0.9),
       fw=st.floats(1e-6, 0.1), fh=st.floats(1e-6, 0.1))
def test_box_precision_on_huge_images(w: int, h: int, fx: float, fy: float, fw: float, fh: float) -> None:
    """The reader never decodes images, so a small file stands in for a huge one of the declared size."""
    box = (fx * w, fy * h, fw * w, fh * h)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = make_image(root / "src.png", (8, 8), "PNG")
        yolo.write(ExportData([ExportClass(0, 1, "a", "#000000")],
                              [ExportItem(1, source, "x.png", w, h, "train", [ExportShape(0, "box", box=box)])]),
                   root / "out")
        shape = yolo.read(root / "out").items[0].shapes[0]
    assert max(abs(a - b) for a, b in zip(box, pixels(shape, w, h))) <= 0.01


# ------------------------------------------------------------------------------------------------ real fixtures


FIXTURES = {
    # folder: (classes, split, [(kind, label, geometry)])
    "yolov8_detection": ("label_", "train", [("box", "label_2", (0.0, 0.2, 0.266667, 0.2)),
                                              ("box", "label_4", (0.2, 0.3, 0.133333, 0.3))]),
    "yolov8_detection_with_list_of_names": ("label_", "train", [("box", "label_2", (0.0, 0.2, 0.266667, 0.2)),
                                                                 ("box", "label_4", (0.2, 0.3, 0.133333, 0.3))]),
    "yolov8_detection_with_list_of_imgs": ("label_", "train", [("box", "label_2", (0.0, 0.2, 0.266667, 0.2)),
                                                                ("box", "label_4", (0.2, 0.3, 0.133333, 0.3))]),
    "yolov8_detection_with_subset_txt": ("label_", "train", [("box", "label_2", (0.0, 0.2, 0.266667, 0.2)),
                                                              ("box", "label_4", (0.2, 0.3, 0.133333, 0.3))]),
    "yolo": ("label_", "train", [("box", "label_2", (0.0, 0.2, 0.266667, 0.2)),
                                 ("box", "label_4", (0.2, 0.3, 0.133333, 0.3))]),
    "yolov8_segmentation": ("label_", "train", [("polygon", "label_2", (0.1, 0.1, 0.4, 0.1, 0.4, 0.5)),
                                                 ("polygon", "label_4", (0.2, 0.15, 0.4, 0.15, 0.4, 0.75, 0.3, 0.75,
                                                                         0.25, 0.3))]),
    "yolov8_oriented_boxes": ("label_", "train", [
        ("polygon", "label_2", (0.146731, 0.151795, 0.319936, 0.301795, 0.186603, 0.648205, 0.013397, 0.498205)),
        ("polygon", "label_4", (0.557735, 0.090192, 0.357735, 0.609808, 0.242265, 0.509808, 0.442265, -0.009808))]),
    "yolov8_pose": ("skeleton", "train", [("box", "skeleton_label", (0.0, 0.2, 0.266667, 0.2))]),
    "yolov8_pose_two_values_per_point": ("skeleton", "train", [("box", "skeleton_label", (0.0, 0.2, 0.266667, 0.2))]),
}


@pytest.mark.parametrize("folder", FIXTURES)
def test_shared_yolo_fixtures(folder: str) -> None:
    root = shared("yolo_dataset", folder)
    assert yolo.detect(root)
    ds = yolo.read(root)
    prefix, split, shapes = FIXTURES[folder]
    expected_classes = ["skeleton_label"] if prefix == "skeleton" else [f"label_{i}" for i in range(10)]
    assert ds.classes == expected_classes
    assert [(i.image_path.name, i.split) for i in ds.items] == [("1.jpg", split)]
    got = [(s.kind, s.label, tuple(s.box) if s.box else tuple(v for p in s.points for v in p))
           for s in ds.items[0].shapes]
    assert [(k, n) for k, n, _ in got] == [(k, n) for k, n, _ in shapes]
    for (_, _, g), (_, _, e) in zip(got, shapes):
        assert g == pytest.approx(e, abs=1e-6)
    if "pose" in folder:
        assert reasons(ds) == [("data.yaml", 4, "pose keypoints (kpt_shape) are not supported: only the boxes are "
                                                "read")]
    else:
        assert ds.problems == []


def test_shared_classification_fixture_is_a_clear_error() -> None:
    root = shared("yolo_dataset", "yolov8_classification")
    assert not yolo.detect(root)
    with pytest.raises(FormatError, match="classification folders are not supported"):
        yolo.read(root)


def test_shared_label_studio_export() -> None:
    root = shared("label_studio_yolo")
    assert yolo.detect(root)
    ds = yolo.read(root)
    assert ds.problems == [] and ds.classes == ["closed_door", "opened_door", "bus", "number"]
    counts = {n: len(i.shapes) for n, i in by_name(ds).items()}
    assert counts == {"img_1.jpg": 4, "img_2.png": 4, "img_3.png": 4, "img_4.png": 4, "img_5.jpg": 3,
                      "img_6.jpeg": 4, "img_7.jpeg": 2}
    assert all(i.split is None and s.kind == "box" for i in ds.items for s in i.shapes)
    labels = [s.label for i in ds.items for s in i.shapes]
    assert {n: labels.count(n) for n in ds.classes} == {"closed_door": 10, "opened_door": 1, "bus": 8, "number": 6}
    bus = by_name(ds)["img_1.jpg"].shapes[0]
    assert bus.label == "bus" and bus.box == pytest.approx((0.49765625 - 0.9640625 / 2, 0.46200607902735563 -
                                                            0.8693009118541033 / 2, 0.9640625, 0.8693009118541033))


# ------------------------------------------------------------------------------------------------ Ultralytics


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ultralytics_trains_on_what_we_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics-config"))  # no settings written under ~
    attempts: list[object] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def recording_connect(self: socket.socket, address: object) -> None:
        if self.family != socket.AF_UNIX:
            attempts.append(address)
        return connect(self, address)

    def recording_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        attempts.append(host)
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    from cvops.samples.shapes import CLASSES, generate

    samples = generate(tmp_path / "shapes", count=8, size=64, seed=3)
    classes = [ExportClass(i, i + 1, name, "#ffffff") for i, name in enumerate(CLASSES)]
    items = [ExportItem(i + 1, s.path, s.path.name, s.width, s.height, "train" if i < 6 else "val",
                        [ExportShape(CLASSES.index(sh.label), "box", box=sh.box) for sh in s.shapes])
             for i, s in enumerate(samples)]
    out = tmp_path / "export"
    out.mkdir()
    yolo.write(ExportData(classes, items), out)

    import ultralytics.data.utils
    import ultralytics.utils
    from ultralytics import YOLO

    monkeypatch.setattr(ultralytics.utils, "ONLINE", False)  # in case another test imported it without the env
    # check_det_dataset fetches Arial.ttf from GitHub (for plots) even with plots=False and YOLO_OFFLINE=1.
    monkeypatch.setattr(ultralytics.data.utils, "check_font", lambda *args, **kwargs: None)
    model = YOLO("yolo11n.yaml")
    model.train(data=str(out / "data.yaml"), epochs=1, imgsz=64, batch=4, workers=0, device="cpu", plots=False,
                val=True, project=str(tmp_path / "runs"), name="train", exist_ok=True, amp=False, verbose=False)
    run = tmp_path / "runs" / "train"
    assert (run / "weights" / "last.pt").is_file() and (run / "results.csv").is_file()
    for split, part in (("train", samples[:6]), ("val", samples[6:])):
        cache = np.load(out / "labels" / f"{split}.cache", allow_pickle=True).item()
        assert cache["msgs"] == [], f"Ultralytics found problems in our {split} labels"
        assert sum(len(label["cls"]) for label in cache["labels"]) == sum(len(s.shapes) for s in part)
    assert attempts == [], "Ultralytics looked up or connected to hosts"
