"""COCO instances reader and writer: layouts, every bad input reported (never a crash), write -> read round trip,
pycocotools and supervision interop, and conformance with datumaro's COCO fixtures."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
from helpers import make_image
from hypothesis import given, settings
from hypothesis import strategies as st

from cvops.formats import coco
from cvops.formats.model import ExportClass, ExportData, ExportItem, ExportShape, FormatError, ParsedDataset
from cvops.jobs import Cancelled, CancelToken

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
FIXTURES = SHARED / "formats" / "coco_dataset"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared datumaro COCO fixtures not found at "
                                                                  f"{FIXTURES}")

CATEGORIES = [{"id": 1, "name": "car", "supercategory": ""}, {"id": 5, "name": "person", "supercategory": ""}]


def doc(images: list[Any], annotations: list[Any], categories: Optional[list[Any]] = None) -> dict[str, Any]:
    return {"images": images, "annotations": annotations,
            "categories": CATEGORIES if categories is None else categories}


def image(iid: int, name: str, w: int = 64, h: int = 48) -> dict[str, Any]:
    return {"id": iid, "file_name": name, "width": w, "height": h}


def box_ann(aid: int, iid: int, bbox: Any, cat: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": aid, "image_id": iid, "category_id": cat, "bbox": bbox, "segmentation": [], "iscrowd": 0,
            **extra}


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def shapes_by_image(ds: ParsedDataset) -> dict[str, list[tuple]]:
    return {it.image_path.name: [(s.label, s.kind, s.box, s.points) for s in it.shapes] for it in ds.items}


def problems(ds: ParsedDataset, text: str) -> list:
    return [p for p in ds.problems if text in p.reason]


# --- detection -----------------------------------------------------------------------------------------------------

def test_detect_files_and_folders(tmp_path: Path) -> None:
    inst = write_json(tmp_path / "ds" / "annotations" / "instances_train.json", doc([], []))
    assert coco.detect(inst) and coco.detect(tmp_path / "ds")
    top = write_json(tmp_path / "top" / "mydata.json", doc([], []))
    assert coco.detect(top) and coco.detect(tmp_path / "top")
    labelme = write_json(tmp_path / "lm" / "a.json", {"version": "5.0", "shapes": [], "imagePath": "a.jpg"})
    assert not coco.detect(labelme) and not coco.detect(tmp_path / "lm")
    panoptic = write_json(tmp_path / "pan" / "annotations" / "panoptic_val.json",
                          doc([image(1, "a.jpg")], [{"image_id": 1, "file_name": "a.png", "segments_info": []}]))
    assert not coco.detect(panoptic) and not coco.detect(tmp_path / "pan")
    captions = write_json(tmp_path / "cap" / "mycaptions.json",
                          doc([image(1, "a.jpg")], [{"id": 1, "image_id": 1, "caption": "hi"}], []))
    assert not coco.detect(captions) and not coco.detect(tmp_path / "cap")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a.txt").write_text("x")
    for path in ("bad.json", "list.json", "empty", "a.txt"):
        assert not coco.detect(tmp_path / path)


# --- layouts -------------------------------------------------------------------------------------------------------

def test_datumaro_layout_with_splits(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_image(root / "images" / "train" / "a.jpg")
    make_image(root / "images" / "train" / "empty.jpg", seed=1)
    make_image(root / "images" / "val" / "a.jpg", seed=2)  # the same name in another split is another image
    write_json(root / "annotations" / "instances_train.json",
               doc([image(1, "a.jpg"), image(2, "empty.jpg", 30, 20)], [box_ann(1, 1, [1, 2, 3, 4])]))
    write_json(root / "annotations" / "instances_val.json",
               doc([image(1, "a.jpg")], [box_ann(1, 1, [5.5, 6.25, 7, 8], cat=5)]))
    ds = coco.read(root)
    assert ds.format == "coco" and ds.root == root and not ds.problems
    assert ds.classes == ["car", "person"]
    got = {(it.split, it.image_path.relative_to(root).as_posix()): it for it in ds.items}
    assert set(got) == {("train", "images/train/a.jpg"), ("train", "images/train/empty.jpg"),
                        ("val", "images/val/a.jpg")}
    assert [(s.label, s.kind, s.box, s.attributes) for s in got["train", "images/train/a.jpg"].shapes] == [
        ("car", "box", (1.0, 2.0, 3.0, 4.0), {})]
    assert got["val", "images/val/a.jpg"].shapes[0].box == (5.5, 6.25, 7.0, 8.0)
    assert got["train", "images/train/empty.jpg"].shapes == []
    assert got["train", "images/train/empty.jpg"].declared_size == (30, 20)
    assert got["train", "images/train/a.jpg"].label_path == root / "annotations" / "instances_train.json"
    origin = got["val", "images/val/a.jpg"].shapes[0].origin
    assert origin.path.endswith("instances_val.json") and origin.element == "annotations[0] id=1"


def test_original_coco_2017_layout(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    make_image(root / "val2017" / "000000000139.jpg")
    write_json(root / "annotations" / "instances_val2017.json",
               doc([image(139, "000000000139.jpg")], [box_ann(7, 139, [1, 1, 2, 2])]))
    ds = coco.read(root)
    assert [(it.split, it.image_path.name, len(it.shapes)) for it in ds.items] == [("val", "000000000139.jpg", 1)]
    single = coco.read(root / "annotations" / "instances_val2017.json")
    assert single.root == root and [it.image_path for it in single.items] == [it.image_path for it in ds.items]


@pytest.mark.parametrize("json_name, split", [("mydata_train.json", "train"), ("export.json", None),
                                              ("coco_val.json", "val")])
def test_generic_file_names_at_top_level(tmp_path: Path, json_name: str, split: Optional[str]) -> None:
    make_image(tmp_path / "images" / "a.jpg")
    write_json(tmp_path / json_name, doc([image(1, "a.jpg")], [box_ann(1, 1, [1, 1, 2, 2])]))
    for ds in (coco.read(tmp_path), coco.read(tmp_path / json_name)):
        assert [(it.split, it.image_path.name) for it in ds.items] == [(split, "a.jpg")] and not ds.problems


def test_images_next_to_the_json_and_in_split_folders(tmp_path: Path) -> None:
    # Roboflow's layout: one _annotations.coco.json per split folder, images beside it; "valid" means val.
    for split, folder in (("train", "train"), ("val", "valid")):
        make_image(tmp_path / folder / f"{split}.jpg")
        write_json(tmp_path / folder / "_annotations.coco.json",
                   doc([image(0, f"{split}.jpg")], [box_ann(0, 0, [1, 1, 2, 2])]))
    ds = coco.read(tmp_path)
    assert sorted((it.split, it.image_path.name) for it in ds.items) == [("train", "train.jpg"), ("val", "val.jpg")]


def test_cvat_default_subset_has_no_split_and_attributes_are_kept(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "default" / "a.jpg")
    ann = box_ann(1, 1, [1, 1, 2, 2], attributes={"occluded": False, "color": "red"})
    write_json(tmp_path / "annotations" / "instances_default.json", doc([image(1, "a.jpg")], [ann]))
    (item,) = coco.read(tmp_path).items
    assert item.split is None and item.shapes[0].attributes == {"occluded": False, "color": "red"}


def test_file_name_with_sub_folders(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "cam1" / "a.jpg")
    write_json(tmp_path / "labels.json", doc([image(1, "images/cam1/a.jpg"), image(2, "cam1/a.jpg")], []))
    ds = coco.read(tmp_path / "labels.json")
    assert [it.image_path for it in ds.items] == [tmp_path / "images" / "cam1" / "a.jpg"]
    assert [p.element for p in problems(ds, "duplicate file name")] == ["images[1] id=2"]


# --- categories ----------------------------------------------------------------------------------------------------

def test_sparse_category_ids_sorted_and_merged_by_name(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg")
    make_image(tmp_path / "images" / "val" / "b.jpg", seed=1)
    cats_train = [{"id": 90, "name": "zebra"}, {"id": 3, "name": "car"}, {"id": 17, "name": "dog"}]
    cats_val = [{"id": 3, "name": "car"}, {"id": 44, "name": "bottle"}, {"id": 17, "name": "cat"}]
    write_json(tmp_path / "annotations" / "instances_train.json",
               doc([image(1, "a.jpg")], [box_ann(1, 1, [1, 1, 2, 2], cat=90)], cats_train))
    write_json(tmp_path / "annotations" / "instances_val.json",
               doc([image(1, "b.jpg")], [box_ann(1, 1, [1, 1, 2, 2], cat=17)], cats_val))
    ds = coco.read(tmp_path)
    assert ds.classes == ["car", "cat", "dog", "bottle", "zebra"]
    assert shapes_by_image(ds)["b.jpg"][0][0] == "cat"  # each file's own id -> name mapping is used
    (conflict,) = problems(ds, "category id 17")
    assert conflict.path.endswith("instances_val.json") and conflict.element == "categories[2]"
    assert "'cat' here but 'dog' in instances_train.json" in conflict.reason


def test_bad_categories_are_reported(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    cats = [{"id": 1, "name": "car"}, {"id": "2", "name": "x"}, {"id": 3}, {"id": 1, "name": "again"}, "oops",
            {"id": 4, "name": "car"}]
    write_json(tmp_path / "c.json", doc([image(1, "a.jpg")], [box_ann(1, 1, [1, 1, 2, 2], cat=4)], cats))
    ds = coco.read(tmp_path / "c.json")
    assert ds.classes == ["car"] and shapes_by_image(ds)["a.jpg"][0][0] == "car"
    assert [p.element for p in problems(ds, "no integer 'id'")] == ["categories[1]", "categories[4]"]
    assert [p.element for p in problems(ds, "has no name")] == ["categories[2]"]
    assert [p.element for p in problems(ds, "duplicate category id 1")] == ["categories[3]"]


# --- geometry ------------------------------------------------------------------------------------------------------

def test_polygons_multi_part_crowd_and_box_only(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg", (100, 80))
    anns = [
        {"id": 11, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0,
         "segmentation": [[0, 0, 10, 0, 10, 10]]},
        {"id": 12, "image_id": 1, "category_id": 5, "bbox": [20, 20, 30, 30], "iscrowd": 0,
         "segmentation": [[20, 20, 30, 20, 30, 30], [40, 40, 50, 40, 50, 50, 40, 50]]},
        {"id": 13, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 1,
         "segmentation": {"counts": [6, 3, 10], "size": [5, 4]}},
        {"id": 14, "image_id": 1, "category_id": 1, "bbox": [5, 5, 5, 5], "iscrowd": 0, "segmentation": []},
        {"id": 15, "image_id": 1, "category_id": 1, "bbox": [6, 6, 6, 6]},
    ]
    write_json(tmp_path / "d.json", doc([image(1, "a.jpg", 100, 80)], anns))
    ds = coco.read(tmp_path / "d.json")
    assert not ds.problems
    got = [(s.label, s.kind, s.box, s.points, s.attributes) for s in ds.items[0].shapes]
    assert got == [
        ("car", "polygon", None, [[0, 0], [10, 0], [10, 10]], {}),
        ("person", "polygon", None, [[20, 20], [30, 20], [30, 30]], {"coco_id": 12, "part": 0}),
        ("person", "polygon", None, [[40, 40], [50, 40], [50, 50], [40, 50]], {"coco_id": 12, "part": 1}),
        ("car", "box", (1.0, 2.0, 3.0, 4.0), None, {"iscrowd": 1}),
        ("car", "box", (5.0, 5.0, 5.0, 5.0), None, {}),
        ("car", "box", (6.0, 6.0, 6.0, 6.0), None, {}),
    ]


def _runs(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F")
    runs, current, count = [], 0, 0
    for v in flat:
        if v != current:
            runs.append(count)
            current, count = v, 0
        count += 1
    return runs + [count]


def test_crowd_without_bbox_uses_the_rle_mask(tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(3)
    make_image(tmp_path / "a.jpg", (40, 30))
    anns, expected = [], []
    for k in range(30):
        m = np.zeros((30, 40), np.uint8)
        x0, y0 = int(rng.integers(0, 39)), int(rng.integers(0, 29))
        m[y0:int(rng.integers(y0 + 1, 31)), x0:int(rng.integers(x0 + 1, 41))] = 1
        m[int(rng.integers(0, 30)), int(rng.integers(0, 40))] = 1
        rle = mask_utils.encode(np.asfortranarray(m))
        counts: Any = rle["counts"].decode() if k % 2 else _runs(m)
        anns.append({"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 1,
                     "segmentation": {"counts": counts, "size": [30, 40]}})
        expected.append(tuple(float(v) for v in mask_utils.toBbox(rle)))
    anns.append({"id": 99, "image_id": 1, "category_id": 1, "iscrowd": 1,
                 "segmentation": {"counts": "!!", "size": [30, 40]}})
    anns.append({"id": 100, "image_id": 1, "category_id": 1, "iscrowd": 1})
    write_json(tmp_path / "d.json", doc([image(1, "a.jpg", 40, 30)], anns))
    ds = coco.read(tmp_path / "d.json")
    assert [s.box for s in ds.items[0].shapes] == expected
    assert all(s.attributes == {"iscrowd": 1} for s in ds.items[0].shapes)
    assert [p.element for p in problems(ds, "RLE mask cannot be decoded")] == ["annotations[30] id=99"]
    assert [p.element for p in problems(ds, "got None")] == ["annotations[30] id=99", "annotations[31] id=100"]


def test_rle_without_crowd_flag_becomes_a_box(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 4, 4],
           "segmentation": {"counts": [0, 5], "size": [5, 5]}}
    write_json(tmp_path / "d.json", doc([image(1, "a.jpg")], [ann]))
    ds = coco.read(tmp_path / "d.json")
    assert shapes_by_image(ds) == {"a.jpg": [("car", "box", (1.0, 1.0, 4.0, 4.0), None)]} and not ds.problems


# --- bad input -----------------------------------------------------------------------------------------------------

def test_every_bad_annotation_is_reported_with_element_and_reason(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_image(root / "images" / "a.jpg")
    make_image(root / "images" / "b.jpg", seed=1)
    make_image(tmp_path / "outside.jpg", seed=2)
    images = [image(1, "a.jpg"), image(1, "b.jpg"), image(2, "missing.jpg"), image(3, "../outside.jpg"),
              image(4, "/etc/passwd"), {"id": 5}, {"file_name": "b.jpg"}, "junk", image(6, "a.jpg")]
    anns = [
        box_ann(1, 1, [1, 1, 2, 2]),                                     # fine
        box_ann(2, 1, [1, 2, 3]),                                        # 3 numbers
        box_ann(3, 1, [1, 2, 3, 4, 5]),                                  # 5 numbers
        box_ann(4, 1, [1, "2", 3, 4]),                                   # a string
        box_ann(5, 1, [1, 2, float("nan"), 4]),                          # NaN
        box_ann(6, 1, [1, 2, -3, 4]),                                    # negative width
        box_ann(7, 1, [1, 2, 3, 0]),                                     # zero height
        box_ann(8, 99, [1, 1, 2, 2]),                                    # unknown image
        box_ann(9, 1, [1, 1, 2, 2], cat=42),                             # unknown category
        {"id": 10, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 2, 2]], "bbox": [1, 1, 2, 2]},
        {"id": 11, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 2, 2, 3]], "bbox": "x"},
        {"id": 12, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 2, 2, 3, 3], [1, 2]]},
        {"id": 13, "image_id": 1, "category_id": 1, "segmentation": "rle?", "bbox": [2, 2, 2, 2]},
        "not an object",
        {"id": 15, "image_id": "1", "category_id": 1, "bbox": [1, 1, 2, 2]},
        box_ann(16, 2, [1, 1, 2, 2]),                                    # its image was skipped: no extra report
        {"id": 17, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 2, 2, float("inf"), 3]], "bbox": None},
    ]
    path = write_json(root / "data.json", doc(images, anns))  # json.dumps writes NaN and Infinity as such
    ds = coco.read(path)
    expected = {
        ("images[1] id=1", "duplicate image id 1"),
        ("images[2] id=2", "image file not found: 'missing.jpg'"),
        ("images[3] id=3", "escapes the dataset folder"),
        ("images[4] id=4", "absolute path"),
        ("images[5] id=5", "no 'file_name'"),
        ("images[6]", "no integer 'id'"),
        ("images[7]", "no integer 'id'"),
        ("images[8] id=6", "duplicate file name 'a.jpg'"),
        ("annotations[1] id=2", "bbox must be 4 numbers [x, y, width, height], got 3 values"),
        ("annotations[2] id=3", "got 5 values"),
        ("annotations[3] id=4", "got 4 values"),
        ("annotations[4] id=5", "not a finite number"),
        ("annotations[5] id=6", "negative or zero width or height"),
        ("annotations[6] id=7", "negative or zero width or height"),
        ("annotations[7] id=8", "image_id 99 is not in images"),
        ("annotations[8] id=9", "category_id 42 is not in categories"),
        ("annotations[9] id=10", "segmentation[0]: polygon has 2 points (needs at least 3)"),
        ("annotations[10] id=11", "segmentation[0]: polygon has an odd number of coordinates (5)"),
        ("annotations[10] id=11", "got 'x'"),
        ("annotations[11] id=12", "segmentation[1]: polygon has 1 points"),
        ("annotations[12] id=13", "neither a list of polygons nor an RLE object"),
        ("annotations[13]", "annotation is not a JSON object"),
        ("annotations[14] id=15", "image_id '1' is not in images"),
        ("annotations[16] id=17", "segmentation[0]: polygon has a coordinate that is not a finite number"),
        ("annotations[16] id=17", "got None"),
    }
    found = {(p.element, p.reason) for p in ds.problems}
    for element, text in expected:
        assert any(e == element and text in r for e, r in found), (element, text, sorted(found, key=str))
    assert len(ds.problems) == len(expected), sorted(found, key=str)
    assert all(p.path == str(path) for p in ds.problems)
    # What is usable is read: the good box, the polygon fallback to its bbox, the valid part, the bbox of 13.
    assert shapes_by_image(ds) == {"a.jpg": [
        ("car", "box", (1.0, 1.0, 2.0, 2.0), None),
        ("car", "box", (1.0, 1.0, 2.0, 2.0), None),
        ("car", "polygon", None, [[1, 1], [2, 2], [3, 3]]),
        ("car", "box", (2.0, 2.0, 2.0, 2.0), None),
    ]}


def test_invalid_declared_size_is_reported_and_ignored(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    make_image(tmp_path / "b.jpg", seed=1)
    write_json(tmp_path / "d.json", doc([image(1, "a.jpg", w=0), {"id": 2, "file_name": "b.jpg"}], []))
    ds = coco.read(tmp_path / "d.json")
    assert [it.declared_size for it in ds.items] == [None, None]
    assert [p.element for p in problems(ds, "invalid image size")] == ["images[0] id=1"]


def test_malformed_single_file_is_a_format_error_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "instances_train.json"
    path.write_text('{\n  "images": [],\n  "annotations": [,]\n}')
    with pytest.raises(FormatError, match=r"instances_train\.json:3: invalid JSON: .*\(column 19\)"):
        coco.read(path)
    with pytest.raises(FormatError, match=r"instances_train\.json:3: invalid JSON"):
        coco.read(tmp_path)
    path.write_bytes(b'{"images": "\xff"}')
    with pytest.raises(FormatError, match="cannot read the file"):
        coco.read(path)


@pytest.mark.parametrize("content, reason", [
    ({"annotations": [], "categories": []}, "missing key 'images'"),
    ({"images": [], "categories": []}, "missing key 'annotations'"),
    ({"images": [], "annotations": []}, "missing key 'categories'"),
    ({"images": {}, "annotations": [], "categories": []}, "'images' is not a list"),
    ([1, 2], "top level is not a JSON object"),
    ({"images": [], "annotations": [{"image_id": 1, "segments_info": []}], "categories": []}, "panoptic"),
])
def test_a_file_that_is_not_coco_instances_is_a_format_error(tmp_path: Path, content: Any, reason: str) -> None:
    path = write_json(tmp_path / "x.json", content)
    with pytest.raises(FormatError, match=f"x.json: not a COCO instances file: .*{reason}"):
        coco.read(path)
    with pytest.raises(FormatError, match="no COCO instances JSON file"):
        coco.read(tmp_path)


def test_wrong_types_of_annotations_and_categories(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg")
    make_image(tmp_path / "images" / "val" / "b.jpg", seed=1)
    write_json(tmp_path / "annotations" / "instances_train.json",
               {"images": [image(1, "a.jpg")], "annotations": {"oops": 1}, "categories": CATEGORIES})
    write_json(tmp_path / "annotations" / "instances_val.json",
               {"images": [image(1, "b.jpg")], "annotations": [box_ann(1, 1, [1, 1, 2, 2])], "categories": "x"})
    ds = coco.read(tmp_path)
    assert sorted(it.image_path.name for it in ds.items) == ["a.jpg", "b.jpg"]
    assert all(not it.shapes for it in ds.items)
    assert problems(ds, "'annotations' is not a list")[0].path.endswith("instances_train.json")
    assert problems(ds, "'categories' is not a list")[0].path.endswith("instances_val.json")


def test_one_malformed_split_file_is_reported_and_the_others_read(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg")
    write_json(tmp_path / "annotations" / "instances_train.json",
               doc([image(1, "a.jpg")], [box_ann(1, 1, [1, 1, 2, 2])]))
    (tmp_path / "annotations" / "instances_val.json").write_text('{"images": [}')
    ds = coco.read(tmp_path)
    assert [it.image_path.name for it in ds.items] == ["a.jpg"]
    (bad,) = ds.problems
    assert bad.path.endswith("instances_val.json") and bad.line == 1 and "invalid JSON" in bad.reason
    assert "column 13" in bad.reason


def test_same_file_in_two_splits_is_a_duplicate_file_name(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "a.jpg")
    for split in ("train", "val"):
        write_json(tmp_path / "annotations" / f"instances_{split}.json",
                   doc([image(3, "a.jpg")], [box_ann(1, 3, [1, 1, 2, 2])]))
    ds = coco.read(tmp_path)
    assert [(it.split, len(it.shapes)) for it in ds.items] == [("train", 1)]
    (dup,) = problems(ds, "duplicate file name 'a.jpg'")
    assert dup.path.endswith("instances_val.json") and dup.element == "images[0] id=3"
    assert "images[0] id=3 of instances_train.json" in dup.reason


def test_captions_panoptic_and_other_tasks_are_left_alone_when_instances_exist(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg")
    write_json(tmp_path / "annotations" / "instances_train.json",
               doc([image(1, "a.jpg")], [box_ann(1, 1, [1, 1, 2, 2])]))
    write_json(tmp_path / "annotations" / "person_keypoints_train.json",
               doc([image(1, "a.jpg")], [box_ann(1, 1, [3, 3, 2, 2], keypoints=[1, 1, 2])]))
    write_json(tmp_path / "annotations" / "captions_train.json",
               doc([image(1, "a.jpg")], [{"id": 1, "image_id": 1, "caption": "x"}], []))
    (tmp_path / "annotations" / "panoptic_train.json").write_text("{broken")
    ds = coco.read(tmp_path)
    assert shapes_by_image(ds) == {"a.jpg": [("car", "box", (1.0, 1.0, 2.0, 2.0), None)]} and not ds.problems


def test_progress_and_cancel(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    anns = [box_ann(i, 1, [1, 1, 2, 2]) for i in range(2500)]
    write_json(tmp_path / "d.json", doc([image(1, "a.jpg")], anns))
    seen: list[float] = []
    ds = coco.read(tmp_path / "d.json", progress=lambda f, m: seen.append(f))
    assert len(ds.items[0].shapes) == 2500
    assert seen[0] == 0.0 and seen[-1] == 1.0 and 0.39 < seen[1] < 0.41 and len(seen) == 4
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        coco.read(tmp_path / "d.json", cancel=token)


# --- writing -------------------------------------------------------------------------------------------------------

@pytest.fixture
def export_data(tmp_path: Path) -> ExportData:
    src = tmp_path / "src"
    a = make_image(src / "a.jpg", (100, 80))
    b = make_image(src / "b.png", (60, 40), fmt="PNG", seed=1)
    c = make_image(src / "c.jpg", (50, 50), seed=2)
    classes = [ExportClass(0, 7, "car", "#ff0000"), ExportClass(1, 3, "person", "#00ff00"),
               ExportClass(2, 12, "unused", "#0000ff")]
    return ExportData(classes, [
        ExportItem(10, a, "a.jpg", 100, 80, "train", [
            ExportShape(0, "box", box=(10.5, 20.25, 30.125, 40.0)),
            ExportShape(1, "polygon", points=[[1.5, 2.5], [50.0, 2.5], [50.0, 60.75], [1.5, 60.75]],
                        attributes={"occluded": True}),
            ExportShape(1, "box", box=(0.0, 0.0, 100.0, 80.0), attributes={"iscrowd": 1}),
            ExportShape(0, "tag"),
            ExportShape(0, "polygon", points=[[60, 60], [70, 60], [70, 70]], attributes={"coco_id": 5, "part": 1}),
            ExportShape(0, "polygon", points=[[80, 10], [90, 10], [90, 20]], attributes={"coco_id": 5, "part": 0}),
        ]),
        ExportItem(11, b, "sub/b.png", 60, 40, "val", [ExportShape(2, "box", box=(1.0, 2.0, 3.0, 4.0))]),
        ExportItem(12, c, "c.jpg", 50, 50, "train", []),
    ], images_mode="copy")


def test_write_layout_and_content(export_data: ExportData, tmp_path: Path) -> None:
    out = tmp_path / "out"
    coco.write(export_data, out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "annotations/instances_train.json", "annotations/instances_val.json", "images/train/a.jpg",
        "images/train/c.jpg", "images/val/sub/b.png"]
    train = json.loads((out / "annotations" / "instances_train.json").read_text())
    assert set(train) == {"info", "licenses", "categories", "images", "annotations"}
    assert train["categories"] == [{"id": 7, "name": "car", "supercategory": ""},
                                   {"id": 3, "name": "person", "supercategory": ""},
                                   {"id": 12, "name": "unused", "supercategory": ""}]
    assert train["images"] == [{"id": 10, "width": 100, "height": 80, "file_name": "a.jpg"},
                               {"id": 12, "width": 50, "height": 50, "file_name": "c.jpg"}]
    anns = train["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3, 4]
    assert anns[0] == {"id": 1, "image_id": 10, "category_id": 7, "iscrowd": 0, "segmentation": [],
                       "area": 30.125 * 40.0, "bbox": [10.5, 20.25, 30.125, 40.0]}
    assert anns[1]["segmentation"] == [[1.5, 2.5, 50.0, 2.5, 50.0, 60.75, 1.5, 60.75]]
    assert anns[1]["bbox"] == [1.5, 2.5, 48.5, 58.25] and anns[1]["area"] == pytest.approx(48.5 * 58.25)
    assert anns[1]["attributes"] == {"occluded": True} and anns[1]["category_id"] == 3
    assert anns[2]["iscrowd"] == 1 and "attributes" not in anns[2]
    # two parts of one source annotation are one COCO annotation again, parts in order
    assert anns[3]["segmentation"] == [[80, 10, 90, 10, 90, 20], [60, 60, 70, 60, 70, 70]]
    assert anns[3]["bbox"] == [60, 10, 30, 60] and anns[3]["area"] == pytest.approx(100.0)
    val = json.loads((out / "annotations" / "instances_val.json").read_text())
    assert [a["id"] for a in val["annotations"]] == [5] and val["images"][0]["file_name"] == "sub/b.png"


def test_write_refuses_non_finite_numbers(export_data: ExportData, tmp_path: Path) -> None:
    export_data.items[0].shapes[0].box = (float("nan"), 0.0, 1.0, 1.0)
    with pytest.raises(FormatError, match="split 'train'"):
        coco.write(export_data, tmp_path / "out")


def test_write_read_round_trip(export_data: ExportData, tmp_path: Path) -> None:
    out = tmp_path / "out"
    coco.write(export_data, out)
    assert coco.detect(out)
    ds = coco.read(out)
    assert not ds.problems
    assert ds.classes == ["person", "car", "unused"]  # COCO order is category id order
    got = {it.image_path.relative_to(out).as_posix(): it for it in ds.items}
    assert {k: (v.split, v.declared_size) for k, v in got.items()} == {
        "images/train/a.jpg": ("train", (100, 80)), "images/train/c.jpg": ("train", (50, 50)),
        "images/val/sub/b.png": ("val", (60, 40))}
    names = {c.index: c.name for c in export_data.classes}
    for item in export_data.items:
        read_shapes = got[f"images/{item.split}/{item.file_name}"].shapes
        written = [s for s in item.shapes if s.kind != "tag"]
        assert len(read_shapes) == len(written)
        key = {"box": lambda s: s.box, "polygon": lambda s: s.points[0]}
        for want in written:
            match = [s for s in read_shapes if s.kind == want.kind and s.label == names[want.class_index]
                     and np.allclose(key[s.kind](s), key[want.kind](want), atol=0.01)]
            assert match, want
            geometry = match[0].box if want.kind == "box" else match[0].points
            assert np.allclose(geometry, want.box if want.kind == "box" else want.points, atol=0.01)
            assert match[0].attributes == want.attributes or want.attributes.get("coco_id") == 5


@pytest.fixture(scope="module")
def source_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image(tmp_path_factory.mktemp("src") / "img.png", (200, 150), fmt="PNG")


coordinate = st.floats(0, 150, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(boxes=st.lists(st.tuples(coordinate, coordinate, st.floats(0.01, 50), st.floats(0.01, 50)), max_size=6),
       polygons=st.lists(st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=7), max_size=4))
def test_round_trip_property(source_image: Path, boxes: list, polygons: list) -> None:
    shapes = [ExportShape(i % 2, "box", box=b) for i, b in enumerate(boxes)]
    shapes += [ExportShape(i % 2, "polygon", points=[list(p) for p in pts]) for i, pts in enumerate(polygons)]
    data = ExportData([ExportClass(0, 1, "a", "#fff"), ExportClass(1, 2, "b", "#000")],
                      [ExportItem(1, source_image, "img.png", 200, 150, "test", shapes)], images_mode="symlink")
    with tempfile.TemporaryDirectory() as tmp:
        coco.write(data, Path(tmp) / "out")
        ds = coco.read(Path(tmp) / "out")
    assert not ds.problems and ds.items[0].split == "test"
    got = ds.items[0].shapes
    assert [(s.kind, s.label) for s in got] == [(s.kind, "ab"[s.class_index]) for s in shapes]
    for want, have in zip(shapes, got):
        assert np.allclose(have.box if want.kind == "box" else have.points,
                           want.box if want.kind == "box" else want.points, atol=0.01)


# --- interop -------------------------------------------------------------------------------------------------------

def test_pycocotools_loads_the_export_and_scores_ground_truth_as_perfect(export_data: ExportData,
                                                                         tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = tmp_path / "out"
    coco.write(export_data, out)
    gt = COCO(str(out / "annotations" / "instances_train.json"))
    assert len(gt.getImgIds()) == 2 and len(gt.getAnnIds()) == 4 and sorted(gt.getCatIds()) == [3, 7, 12]
    detections = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
                  for a in gt.dataset["annotations"] if not a["iscrowd"]]
    evaluation = COCOeval(gt, gt.loadRes(detections), iouType="bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def expected_xyxy(item: ExportItem, names: dict[int, str]) -> list[tuple]:
    """(class, x0, y0, x1, y1) of each COCO annotation an item becomes: boxes, polygons, parts joined by coco_id."""
    points: dict[Any, tuple[str, list]] = {}
    for k, s in enumerate(item.shapes):
        if s.kind == "box":
            x, y, w, h = s.box
            points[k] = (names[s.class_index], [[x, y], [x + w, y + h]])
        elif s.kind == "polygon":
            key = ("coco", s.attributes["coco_id"], s.class_index) if "coco_id" in s.attributes else k
            points.setdefault(key, (names[s.class_index], []))[1].extend(s.points)
    return [(name, min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))
            for name, pts in points.values()]


def test_supervision_loads_the_export_with_the_same_boxes(export_data: ExportData, tmp_path: Path) -> None:
    import supervision as sv

    out = tmp_path / "out"
    coco.write(export_data, out)
    names = {c.index: c.name for c in export_data.classes}
    for split in ("train", "val"):
        ds = sv.DetectionDataset.from_coco(images_directory_path=str(out / "images" / split),
                                           annotations_path=str(out / "annotations" / f"instances_{split}.json"))
        assert sorted(ds.classes) == sorted(names.values())
        for item in (i for i in export_data.items if i.split == split):
            dets = ds.annotations[str((out / "images" / split / item.file_name).resolve())]
            want = expected_xyxy(item, names)
            have = [(ds.classes[c], *map(float, xyxy)) for c, xyxy in zip(dets.class_id, dets.xyxy)]
            assert len(have) == len(want)
            for w, h in zip(sorted(want), sorted(have)):
                assert w[0] == h[0] and np.allclose(w[1:], h[1:], atol=0.01)


# --- datumaro fixtures ---------------------------------------------------------------------------------------------

def expected_from_json(files: list[Path]) -> tuple[list[str], int, dict[str, list[tuple]]]:
    """Classes (names by id), image count and the shapes per image file name, computed from the JSON itself."""
    ids: dict[int, str] = {}
    n_images, shapes = 0, {}
    for f in files:
        data = json.loads(f.read_text())
        cats = {c["id"]: c["name"] for c in data["categories"]}
        ids.update(cats)
        names = {img["id"]: img["file_name"] for img in data["images"]}
        n_images += len(data["images"])
        for name in names.values():
            shapes.setdefault(name, [])
        for ann in data["annotations"]:
            seg = ann.get("segmentation")
            if isinstance(seg, list) and seg and not ann.get("iscrowd"):
                for part in seg:
                    pts = [[float(part[i]), float(part[i + 1])] for i in range(0, len(part), 2)]
                    shapes[names[ann["image_id"]]].append((cats[ann["category_id"]], "polygon", None, pts))
            elif "bbox" in ann:
                shapes[names[ann["image_id"]]].append((cats[ann["category_id"]], "box", tuple(ann["bbox"]), None))
            else:
                shapes[names[ann["image_id"]]].append((cats[ann["category_id"]], "tag", None, None))
    classes = list(dict.fromkeys(ids[k] for k in sorted(ids)))
    return classes, n_images, shapes


@needs_fixtures
@pytest.mark.parametrize("name, task", [("coco", "instances"), ("coco_instances", "instances"),
                                        ("coco_person_keypoints", "person_keypoints"), ("coco_stuff", "stuff"),
                                        ("coco_labels", "labels"), ("coco_image_info", "image_info")])
def test_datumaro_fixtures_are_read_exactly(name: str, task: str) -> None:
    root = FIXTURES / name
    files = sorted((root / "annotations").glob(f"{task}_*.json"))
    classes, n_images, shapes = expected_from_json(files)
    assert coco.detect(root)
    ds = coco.read(root)
    assert not ds.problems, [str(p) for p in ds.problems]
    assert ds.classes == classes and len(ds.items) == n_images
    assert {it.split for it in ds.items} == {f.stem[len(task) + 1:] for f in files}
    assert shapes_by_image(ds) == shapes
    assert all(it.image_path.is_file() and it.image_path.parent.name == it.split for it in ds.items)
    n_annotations = sum(len(json.loads(f.read_text())["annotations"]) for f in files)
    assert sum(len(it.shapes) for it in ds.items) == n_annotations


@needs_fixtures
def test_datumaro_coco_fixture_counts() -> None:
    """The mixed-task fixture: only instances_* are read — 2 images, 3 annotations, classes a, b, c."""
    ds = coco.read(FIXTURES / "coco")
    assert (len(ds.items), sum(len(i.shapes) for i in ds.items), ds.classes) == (2, 3, ["a", "b", "c"])
    crowd = [s for i in ds.items for s in i.shapes if s.attributes.get("iscrowd")]
    assert [(s.label, s.box) for s in crowd] == [("b", (0.0, 0.0, 1.0, 9.0))]
    polygon = [s for i in ds.items for s in i.shapes if s.kind == "polygon"]
    assert [(s.label, s.attributes) for s in polygon] == [("a", {"x": 1, "y": "hello"})]


@needs_fixtures
@pytest.mark.parametrize("name, kind", [("coco_captions", "captions"), ("coco_panoptic", "panoptic")])
def test_datumaro_captions_and_panoptic_are_not_instances(name: str, kind: str) -> None:
    assert not coco.detect(FIXTURES / name)
    with pytest.raises(FormatError, match="no COCO instances JSON file"):
        coco.read(FIXTURES / name)
    for f in sorted((FIXTURES / name / "annotations").glob("*.json")):
        assert not coco.detect(f)
        with pytest.raises(FormatError, match=kind):
            coco.read(f)


@needs_fixtures
def test_every_datumaro_coco_file_is_read_or_refused_cleanly() -> None:
    for f in sorted(FIXTURES.glob("*/annotations/*.json")):
        detected = coco.detect(f)
        try:
            ds = coco.read(f)
        except FormatError:
            assert not detected, f
            continue
        assert detected and ds.items, f
        assert not ds.problems, (f, [str(p) for p in ds.problems])
