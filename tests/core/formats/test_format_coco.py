"""COCO instances reader and writer: layouts, every bad input reported (never a crash), write -> read round trip,
pycocotools and supervision interop, and conformance with datumaro's COCO fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
from helpers import make_image

from cvops.formats import coco
from cvops.formats.model import FormatError
from cvops.common.jobs import Cancelled, CancelToken

from coco_testing import (
    CATEGORIES, box_ann, doc, image, problems, shapes_by_image, write_json,
)


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
        {"id": 16, "image_id": 1, "category_id": 5, "bbox": [60, 60, 10, 10], "iscrowd": 1,
         "segmentation": [[60, 60, 70, 60, 70, 70], [60, 62, 61, 70, 60, 70]]},
    ]
    write_json(tmp_path / "d.json", doc([image(1, "a.jpg", 100, 80)], anns))
    ds = coco.read(tmp_path / "d.json")
    assert not ds.problems
    got = [(s.label, s.kind, s.box, s.points, s.attributes) for s in ds.items[0].shapes]
    rle = {"counts": [6, 3, 10], "size": [5, 4], "box": [1.0, 2.0, 3.0, 4.0]}
    assert got == [
        ("car", "polygon", None, [[0, 0], [10, 0], [10, 10]], {}),
        # several polygons of one annotation: one object, its outlines one after the other
        ("person", "polygon", None, [[20, 20], [30, 20], [30, 30], [40, 40], [50, 40], [50, 50], [40, 50]],
         {"polygon_parts": [3, 4]}),
        ("car", "box", (1.0, 2.0, 3.0, 4.0), None, {"iscrowd": 1, "coco_rle": rle}),
        ("car", "box", (5.0, 5.0, 5.0, 5.0), None, {}),
        ("car", "box", (6.0, 6.0, 6.0, 6.0), None, {}),
        ("person", "polygon", None, [[60, 60], [70, 60], [70, 70], [60, 62], [61, 70], [60, 70]],
         {"iscrowd": 1, "polygon_parts": [3, 3]}),
    ]
    assert ds.category_ids == {"car": 1, "person": 5}


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
    assert all(s.attributes["iscrowd"] == 1 and s.attributes["coco_rle"]["size"] == [30, 40]
               for s in ds.items[0].shapes)
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
    with pytest.raises(FormatError, match=r"instances_train\.json:3: malformed JSON: .*\(line 3, column 19\)"):
        coco.read(path)
    with pytest.raises(FormatError, match=r"instances_train\.json:3: malformed JSON"):
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
    assert bad.path.endswith("instances_val.json") and bad.line == 1 and "malformed JSON" in bad.reason
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
