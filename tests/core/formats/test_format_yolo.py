"""YOLO reader and writer: every layout, every reported problem, write -> read round trip, real fixtures, and
Ultralytics training on what we write."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_image

from cvops.formats import yolo
from cvops.formats.model import (FormatError)
from cvops.common.jobs import CancelToken, Cancelled

from yolo_testing import NAMES_10, by_name, put, reasons, shared


# ------------------------------------------------------------------------------------------------ detect


DETECTED = {
    "data.yaml": {"data.yaml": "train: images\nnames: [a]\n"},
    "other yaml with names": {"coco8.yml": "train: images\nnames: {0: a}\n"},
    "obj.data": {"obj.data": "classes = 1\nnames = obj.names\n"},
    "obj.names": {"obj.names": "a\n"},
    "images + labels": {"images/a.jpg": None, "labels/a.txt": "0 0.5 0.5 0.1 0.1\n"},
    "classes.txt + labels": {"classes.txt": "a\n", "labels/train/a.txt": ""},
    "train.txt of images": {"train.txt": "data/obj_train_data/a.jpg\n"},
    "malformed data.yaml": {"data.yaml": "names: [a\n"},
}
NOT_DETECTED = {
    "coco": {"annotations/instances.json": "{}", "images/a.jpg": None},
    "voc": {"Annotations/a.xml": "<annotation/>", "JPEGImages/a.jpg": None, "ImageSets/Main/train.txt": "a\n"},
    "labelme": {"a.json": "{}", "a.jpg": None},
    "cvat": {"annotations.xml": "<annotations/>", "images/a.jpg": None},
    "classification": {"train/cat/a.jpg": None, "train/dog/b.jpg": None},
    "yaml without names": {"config.yaml": "lr: 0.1\n", "images/a.jpg": None},
    "images without labels": {"images/a.jpg": None},
    "train.txt not of images": {"train.txt": "a\nb\n"},
    "empty": {},
}


@pytest.mark.parametrize("name", DETECTED)
def test_detect_yolo_layouts(tmp_path: Path, name: str) -> None:
    assert yolo.detect(put(tmp_path / "ds", DETECTED[name]))


@pytest.mark.parametrize("name", NOT_DETECTED)
def test_detect_is_false_for_other_layouts(tmp_path: Path, name: str) -> None:
    root = put(tmp_path / "ds", NOT_DETECTED[name])
    root.mkdir(exist_ok=True)
    assert not yolo.detect(root)


def test_detect_files(tmp_path: Path) -> None:
    put(tmp_path, {"data.yaml": "names: [a]\n", "obj.data": "train = train.txt\n", "x.yaml": "a: 1\n",
                   "bad.yaml": "a: [\n", "model.data": "\x00\x01binary"})
    assert yolo.detect(tmp_path / "data.yaml") and yolo.detect(tmp_path / "obj.data")
    assert not any(yolo.detect(tmp_path / n) for n in ("x.yaml", "bad.yaml", "model.data", "missing.yaml"))


def test_detect_is_false_for_the_other_formats_fixtures() -> None:
    folders = [p for fmt in ("coco_dataset", "voc_dataset", "labelme_dataset", "cvat_dataset")
               for p in (shared(fmt), *sorted(q for q in shared(fmt).iterdir() if q.is_dir()))]
    assert folders and not [p for p in folders if yolo.detect(p)]


# ------------------------------------------------------------------------------------------------ layouts


def test_data_yaml_with_split_folders_and_dict_names(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {
        "data.yaml": "path: .\ntrain: images/train\nval: images/val\ntest: images/test\n" + NAMES_10,
        "images/train/a.jpg": None, "labels/train/a.txt": "2 0.5 0.5 0.2 0.4\n4 0.25 0.75 0.1 0.1\n",
        "images/val/b.PNG": None, "labels/val/b.txt": "9 0.1 0.2 0.3 0.4 0.5 0.9\n",
        "images/test/sub/c.webp": None, "labels/test/sub/c.txt": "",
    })
    ds = yolo.read(root)
    assert ds.format == "yolo" and ds.problems == [] and ds.root == root
    assert ds.classes == [f"label_{i}" for i in range(10)]
    items = by_name(ds)
    assert {n: i.split for n, i in items.items()} == {"a.jpg": "train", "b.PNG": "val", "c.webp": "test"}
    a = items["a.jpg"]
    assert a.label_path == root / "labels/train/a.txt"
    assert [(s.label, s.kind, s.normalized) for s in a.shapes] == [("label_2", "box", True), ("label_4", "box", True)]
    assert a.shapes[0].box == pytest.approx((0.4, 0.3, 0.2, 0.4))
    assert (a.shapes[1].origin.path, a.shapes[1].origin.line) == (str(root / "labels/train/a.txt"), 2)
    b = items["b.PNG"].shapes[0]
    assert (b.label, b.kind, b.points) == ("label_9", "polygon", [[0.1, 0.2], [0.3, 0.4], [0.5, 0.9]])
    assert items["c.webp"].shapes == []


def test_names_as_list_sparse_dict_and_nc(tmp_path: Path) -> None:
    files = {"images/train/a.jpg": None, "labels/train/a.txt": "7 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2 0.2\n"}
    ds = yolo.read(put(tmp_path / "sparse", {**files, "data.yaml": "train: images/train\nnames: {7: car, 3: bus}\n"}))
    assert ds.classes == ["bus", "car"] and [s.label for s in ds.items[0].shapes] == ["car", "bus"]
    listed = "train: images/train\nnames: [a, b, c, d, e, f, g, h]\n"
    ds = yolo.read(put(tmp_path / "list", {**files, "data.yaml": listed}))
    assert ds.classes == list("abcdefgh") and [s.label for s in ds.items[0].shapes] == ["h", "d"]
    ds = yolo.read(put(tmp_path / "nc", {**files, "data.yaml": "train: images/train\nnc: 8\n"}))
    assert ds.classes == [f"class_{i}" for i in range(8)] and ds.problems == []


def test_missing_class_names_use_ids_and_are_reported(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"images/a.jpg": None, "labels/a.txt": "2 0.5 0.5 0.2 0.2\n"})
    ds = yolo.read(root)
    assert ds.classes == ["class_0", "class_1", "class_2"] and ds.items[0].shapes[0].label == "class_2"
    assert ds.problems == []  # a warning, not something skipped
    assert [w.reason for w in ds.warnings] == ["no class names (data.yaml names, classes.txt or obj.names): classes "
                                               "are named class_<id>"]


def test_bad_names_entries_are_reported(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"images/train/a.jpg": None, "labels/train/a.txt": "0 0.5 0.5 0.2 0.2\n",
                                 "data.yaml": "train: images/train\nnc: 3\nnames:\n  0: a\n  x: b\n  1: a\n"})
    ds = yolo.read(root)
    assert ds.classes == ["a"]
    assert reasons(ds) == [
        ("data.yaml", 3, "class id 'x' in names is not a non-negative integer"),
        ("data.yaml", 2, "nc: 3 does not match the 2 names; the names are used"),
        ("ds", None, "duplicate class name 'a' (ids 0 and 1): one class"),
    ]


def test_path_key_is_relative_to_the_yaml(tmp_path: Path) -> None:
    put(tmp_path / "ds", {"config/data.yaml": "path: ../data\ntrain: images\nnames: [a]\n",
                          "data/images/a.jpg": None, "data/labels/a.txt": "0 0.5 0.5 0.2 0.2\n"})
    ds = yolo.read(tmp_path / "ds" / "config" / "data.yaml")
    assert ds.root == tmp_path / "ds" / "data" and len(ds.items[0].shapes) == 1 and ds.problems == []


def test_path_key_that_does_not_exist_falls_back_to_the_yaml_folder(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "path: /content/datasets/x\ntrain: images\nnames: [a]\n",
                                 "images/a.jpg": None, "labels/a.txt": ""})
    ds = yolo.read(root)
    assert ds.root == root and len(ds.items) == 1
    assert ds.problems == []  # a warning: the stale path of a Colab / Ultralytics export is common
    assert [(Path(w.path).name, w.line, w.reason) for w in ds.warnings] == [
        ("data.yaml", 1, "path: /content/datasets/x is not a folder; the yaml's folder is used")]


def test_split_lists_relative_dot_absolute_and_lists_of_entries(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {
        "images/a.jpg": None, "images/b.jpg": None, "images/c.jpg": None, "images/d.jpg": None,
        "labels/a.txt": "0 0.5 0.5 0.2 0.2\n", "labels/b.txt": "", "labels/c.txt": "", "labels/d.txt": "",
        "lists/train.txt": "./../images/a.jpg\nimages/b.jpg\n\n",
        "data.yaml": "train: [lists/train.txt, images/d.jpg]\nval: val.txt\nnames: [a]\n",
    })
    (root / "val.txt").write_text(f"{root / 'images' / 'c.jpg'}\n")
    ds = yolo.read(root)
    assert ds.problems == []
    assert {n: i.split for n, i in by_name(ds).items()} == {"a.jpg": "train", "b.jpg": "train", "d.jpg": "train",
                                                           "c.jpg": "val"}
    assert len(by_name(ds)["a.jpg"].shapes) == 1


def test_absolute_paths_outside_the_root_are_allowed_in_lists_only(tmp_path: Path) -> None:
    outside = make_image(tmp_path / "elsewhere" / "images" / "x.jpg")
    put(tmp_path / "elsewhere", {"labels/x.txt": "0 0.5 0.5 0.2 0.2\n"})
    root = put(tmp_path / "ds", {"train.txt": f"{outside}\n", "data.yaml": f"train: train.txt\nval: {outside.parent}\n"
                                                                          "names: [a]\n"})
    ds = yolo.read(root)
    assert [(i.image_path, i.split, len(i.shapes)) for i in ds.items] == [(outside, "train", 1)]
    folder = outside.parent
    reason = f"{folder}: absolute path {str(folder)!r} is not allowed in a dataset file"
    assert reasons(ds) == [("data.yaml", 2, reason)]


def test_label_path_replaces_the_last_images_component(tmp_path: Path) -> None:
    root = put(tmp_path / "images" / "ds", {"data.yaml": "train: images/train\nnames: [a]\n",
                                            "images/train/images/a.jpg": None,
                                            "images/train/labels/a.txt": "0 0.5 0.5 0.2 0.2\n"})
    ds = yolo.read(root)
    assert ds.items[0].label_path == root / "images/train/labels/a.txt" and len(ds.items[0].shapes) == 1


def test_roboflow_layout_with_parent_paths(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['a']\n",
                                 "train/images/a.jpg": None, "train/labels/a.txt": "0 0.5 0.5 0.2 0.2\n",
                                 "valid/images/b.jpg": None, "valid/labels/b.txt": "0 0.5 0.5 0.2 0.2\n",
                                 "README.roboflow.txt": "exported"})
    ds = yolo.read(root)
    assert ds.problems == [] and {(i.image_path.name, i.split, len(i.shapes)) for i in ds.items} == {
        ("a.jpg", "train", 1), ("b.jpg", "val", 1)}


def test_split_folders_without_yaml(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"classes.txt": "a\nb\n\n", "images/train/a.jpg": None, "images/valid/b.jpg": None,
                                 "images/extra/c.jpg": None, "labels/train/a.txt": "1 0.5 0.5 0.2 0.2\n",
                                 "labels/valid/b.txt": "0 0.5 0.5 0.2 0.2\n"})
    ds = yolo.read(root)
    assert ds.classes == ["a", "b"] and ds.problems == []
    assert {n: (i.split, [s.label for s in i.shapes]) for n, i in by_name(ds).items()} == {
        "a.jpg": ("train", ["b"]), "b.jpg": ("val", ["a"]), "c.jpg": (None, [])}


def test_split_lists_without_yaml(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"obj.names": "a\n", "train.txt": "imgs/a.jpg\n", "val.txt": "imgs/b.jpg\n",
                                 "imgs/a.jpg": None, "imgs/a.txt": "0 0.5 0.5 0.2 0.2\n", "imgs/b.jpg": None})
    ds = yolo.read(root)
    assert ds.problems == [] and {n: (i.split, len(i.shapes)) for n, i in by_name(ds).items()} == {
        "a.jpg": ("train", 1), "b.jpg": ("val", 0)}


def test_darknet_obj_data_with_data_prefixes(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {
        "obj.data": "classes = 2\ntrain = data/train.txt\nvalid = data/valid.txt\nnames = data/obj.names\n"
                    "backup = backup/\n",
        "obj.names": "cat\ndog\n", "train.txt": "data/obj_train_data/a.jpg\n",
        "valid.txt": "data/obj_valid_data/b.jpg\n",
        "obj_train_data/a.jpg": None, "obj_train_data/a.txt": "1 0.5 0.5 0.2 0.2\n",
        "obj_valid_data/b.jpg": None, "obj_valid_data/b.txt": "0 0.5 0.5 0.2 0.2\n",
    })
    for target in (root, root / "obj.data"):
        ds = yolo.read(target)
        assert ds.classes == ["cat", "dog"] and ds.problems == []
        assert {n: (i.split, [s.label for s in i.shapes]) for n, i in by_name(ds).items()} == {
            "a.jpg": ("train", ["dog"]), "b.jpg": ("val", ["cat"])}


def test_label_studio_layout_with_mixed_extensions(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"classes.txt": "door\nbus\n", "images/a.JPG": None, "images/b.png": None,
                                 "images/c.jpeg": None, "images/d.bmp": None, "images/e.TIFF": None,
                                 "labels/a.txt": "1 0.5 0.5 0.2 0.2\n", "labels/b.txt": "0 0.5 0.5 0.2 0.2\n",
                                 "labels/c.txt": "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.1 0.1\n"})
    ds = yolo.read(root)
    assert ds.problems == [] and ds.classes == ["door", "bus"]
    assert {n: (i.split, len(i.shapes)) for n, i in by_name(ds).items()} == {
        "a.JPG": (None, 1), "b.png": (None, 1), "c.jpeg": (None, 2), "d.bmp": (None, 0), "e.TIFF": (None, 0)}


def test_background_images_have_no_shapes(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nnames: [a]\n", "images/none.jpg": None,
                                 "images/empty.jpg": None, "labels/empty.txt": "\n  \n"})
    ds = yolo.read(root)
    assert ds.problems == [] and {n: (i.shapes, i.label_path is None) for n, i in by_name(ds).items()} == {
        "none.jpg": ([], True), "empty.jpg": ([], False)}


def test_oriented_box_lines_are_four_point_polygons(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nnames: [a]\n", "images/a.jpg": None,
                                 "labels/a.txt": "0 0.1 0.1 0.4 0.1 0.4 0.3 0.1 0.3\n"})
    shape = yolo.read(root).items[0].shapes[0]
    assert shape.kind == "polygon" and shape.points == [[0.1, 0.1], [0.4, 0.1], [0.4, 0.3], [0.1, 0.3]]


def test_val_pointing_at_train_is_not_a_duplicate(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images/train\nval: images/train\nnames: [a]\n",
                                 "images/train/a.jpg": None})
    ds = yolo.read(root)
    assert ds.problems == [] and [i.split for i in ds.items] == ["train"]


def test_a_missing_split_is_silent_when_another_exists(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images/train\nval: images/val\nnames: [a]\n",
                                 "images/val/a.jpg": None})
    ds = yolo.read(root)
    assert ds.problems == [] and [i.split for i in ds.items] == ["val"]
    (root / "images" / "val" / "a.jpg").unlink()
    (root / "images" / "val").rmdir()
    assert reasons(yolo.read(root)) == [("data.yaml", 1, "images/train: not found"),
                                        ("data.yaml", 2, "images/val: not found")]


def test_pose_lines_keep_their_box(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nkpt_shape: [2, 3]\nnames: [p]\n", "images/a.jpg": None,
                                 "labels/a.txt": "0 0.5 0.5 0.2 0.2 0.1 0.1 2 0.2 0.2 1\n0 0.5 0.5 0.2 0.2\n"})
    ds = yolo.read(root)
    assert [(s.kind, s.box) for s in ds.items[0].shapes] == [("box", pytest.approx((0.4, 0.4, 0.2, 0.2)))]
    assert reasons(ds) == [
        ("data.yaml", 2, "pose keypoints (kpt_shape) are not supported: only the boxes are read"),
        ("a.txt", 2, "5 values; a pose line has 11 (class, box, keypoints)"),
    ]


def test_progress_and_cancel(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    put(root, {"data.yaml": "train: images\nnames: [a]\n", "images/a.jpg": None})
    for i in range(250):
        (root / "images" / f"copy_{i:03d}.jpg").write_bytes((root / "images" / "a.jpg").read_bytes())
    seen: list[tuple[float, str]] = []
    ds = yolo.read(root, progress=lambda f, m: seen.append((f, m)))
    assert len(ds.items) == 251 and len(seen) >= 4
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        yolo.read(root, cancel=token)


# ------------------------------------------------------------------------------------------------ problems


BAD_LINES = [
    ("0 0.5 0.5 0.2", "4 values; expected 5 (class cx cy w h) or a class and 3 or more x y pairs"),
    ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4", "8 values; expected 5 (class cx cy w h) or a class and 3 or more x y pairs"),
    ("0 0.5 0.5 0.2 abc", "non-numeric value 'abc'"),
    ("car 0.5 0.5 0.2 0.2", "non-numeric class id 'car'"),
    ("1.5 0.5 0.5 0.2 0.2", "class id '1.5' is not a non-negative integer"),
    ("-1 0.5 0.5 0.2 0.2", "class id '-1' is not a non-negative integer"),
    ("5 0.5 0.5 0.2 0.2", "class id 5 is out of range (2 class names)"),
    ("0 nan 0.5 0.2 0.2", "value 'nan' is not finite"),
    ("0 0.5 inf 0.2 0.2", "value 'inf' is not finite"),
    ("0 0.5 0.5 0 0.2", "box has zero or negative size (0 x 0.2)"),
    ("0 0.5 0.5 0.2 -0.1", "box has zero or negative size (0.2 x -0.1)"),
    ("0 0.1 0.1 0.2 0.2 0.3 0.3", "polygon has zero area"),
]


@pytest.mark.parametrize("line,reason", BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_bad_label_lines_are_reported_and_skipped(tmp_path: Path, line: str, reason: str) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nnames: [a, b]\n", "images/a.jpg": None,
                                 "labels/a.txt": f"1 0.5 0.5 0.2 0.2\n{line}\n1.0 0.5 0.5 0.2 0.2\n"})
    ds = yolo.read(root)
    assert [s.origin.line for s in ds.items[0].shapes] == [1, 3]
    assert [(p.path, p.line, p.reason) for p in ds.problems] == [(str(root / "labels" / "a.txt"), 2, reason)]


def test_coordinates_outside_the_image_are_kept_for_the_importer(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nnames: [a]\n", "images/a.jpg": None,
                                 "labels/a.txt": "0 0.95 0.5 0.3 0.2\n0 3 3 0.1 0.1\n0 -0.1 0.1 0.5 0.1 0.5 1.2\n"})
    ds = yolo.read(root)
    assert ds.problems == [] and [s.kind for s in ds.items[0].shapes] == ["box", "box", "polygon"]


def test_label_files_without_an_image(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images/train\nnames: [a]\n", "images/train/a.jpg": None,
                                 "labels/train/a.txt": "", "labels/train/ghost.txt": "0 0.5 0.5 0.2 0.2\n",
                                 "labels/train/deep/ghost2.txt": ""})
    ds = yolo.read(root)
    assert sorted(reasons(ds)) == [("ghost.txt", None, "label file has no image"),
                                   ("ghost2.txt", None, "label file has no image")]


def test_subset_lists_do_not_orphan_the_other_labels(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: train.txt\nnames: [a]\n", "train.txt": "images/a.jpg\n",
                                 "images/a.jpg": None, "images/b.jpg": None, "labels/a.txt": "", "labels/b.txt": ""})
    ds = yolo.read(root)
    assert ds.problems == [] and [i.image_path.name for i in ds.items] == ["a.jpg"]


def test_bad_entries_in_image_lists(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: train.txt\nnames: [a]\n", "images/a.jpg": None,
                                 "notes.md": "x"})
    (root / "train.txt").write_text(f"images/a.jpg\nimages/missing.jpg\n../../outside/x.jpg\n{tmp_path}/nope.jpg\n"
                                    "notes.md\n../images/b.jpg\n")
    ds = yolo.read(root)
    assert [i.image_path.name for i in ds.items] == ["a.jpg"]
    assert reasons(ds) == [
        ("train.txt", 2, "image images/missing.jpg: not found"),
        ("train.txt", 3, "image ../../outside/x.jpg: path '../../outside/x.jpg' escapes the dataset folder"),
        ("train.txt", 4, f"image {tmp_path}/nope.jpg: not found"),
        ("train.txt", 5, "image notes.md: not an image file"),
        ("train.txt", 6, "image ../images/b.jpg: not found"),  # also tried as images/b.jpg, as Ultralytics does
    ]


def test_yaml_entries_escaping_the_root_are_reported(tmp_path: Path) -> None:
    make_image(tmp_path / "secret" / "x.jpg")
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nval: ../../secret\ntest: 5\nnames: [a]\n",
                                 "images/a.jpg": None})
    ds = yolo.read(root)
    assert [i.image_path.name for i in ds.items] == ["a.jpg"]
    assert reasons(ds) == [("data.yaml", 2, "../../secret: path '../../secret' escapes the dataset folder"),
                           ("data.yaml", 3, "test must be a path or a list of paths")]


def test_same_image_in_two_splits_is_reported_once_and_kept_in_the_first(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nval: val.txt\nnames: [a]\n", "images/a.jpg": None,
                                 "images/b.jpg": None, "val.txt": "images/a.jpg\n", "other/images/a.jpg": None})
    ds = yolo.read(root)
    assert [(i.image_path.name, i.split) for i in ds.items] == [("a.jpg", "train"), ("b.jpg", "train")]
    assert reasons(ds) == [("a.jpg", None, "duplicate file name: the image is in split 'train' and 'val'; kept in "
                                           "'train'")]


def test_same_file_name_in_two_split_folders_is_fine(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images/train\nval: images/val\nnames: [a]\n",
                                 "images/train/a.jpg": None, "images/val/a.jpg": None})
    ds = yolo.read(root)
    assert ds.problems == [] and sorted(i.split for i in ds.items) == ["train", "val"]


def test_images_sharing_a_label_file_are_reported(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nnames: [a]\n", "images/a.jpg": None,
                                 "images/a.png": None, "labels/a.txt": "0 0.5 0.5 0.2 0.2\n"})
    ds = yolo.read(root)
    assert [len(i.shapes) for i in ds.items] == [1, 1]
    assert reasons(ds) == [("a.txt", None, "label file shared by a.jpg and a.png (same stem): both get its shapes")]


def test_unreadable_label_file_is_reported(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nnames: [a]\n", "images/a.jpg": None})
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_bytes(b"\xff\xfe\x00bad")
    ds = yolo.read(root)
    assert len(ds.items) == 1 and ds.items[0].shapes == []
    assert [(n, line) for n, line, _ in reasons(ds)] == [("a.txt", None)]
    assert reasons(ds)[0][2].startswith("cannot read the label file: ")


def test_malformed_data_yaml_is_a_format_error_with_its_line(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"data.yaml": "train: images\nnames: [a, b\nval: x\n", "images/a.jpg": None})
    with pytest.raises(FormatError, match=r"data\.yaml:3: malformed YAML"):
        yolo.read(root)
    (root / "data.yaml").write_text("- just\n- a list\n")
    with pytest.raises(FormatError, match="not a YOLO data.yaml"):
        yolo.read(root)


def test_other_malformed_yaml_files_are_reported_not_fatal(tmp_path: Path) -> None:
    root = put(tmp_path / "ds", {"hyp.yaml": "lr: [0.1\n", "classes.txt": "a\n", "images/a.jpg": None,
                                 "labels/a.txt": "0 0.5 0.5 0.2 0.2\n"})
    ds = yolo.read(root)
    assert len(ds.items[0].shapes) == 1
    assert [(n, line) for n, line, _ in reasons(ds)] == [("hyp.yaml", 2)]


def test_not_a_yolo_folder_is_a_format_error(tmp_path: Path) -> None:
    put(tmp_path / "cls", {"train/cat/a.jpg": None})
    with pytest.raises(FormatError, match="no YOLO dataset found"):
        yolo.read(tmp_path / "cls")
    with pytest.raises(FormatError, match="not a YOLO dataset folder"):
        yolo.read(tmp_path / "missing")
