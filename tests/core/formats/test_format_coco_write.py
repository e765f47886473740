"""COCO writer, interop (pycocotools, supervision) and datumaro's COCO fixtures."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import make_image
from hypothesis import given, settings
from hypothesis import strategies as st

from cvops.formats import coco
from cvops.formats.model import ExportClass, ExportData, ExportItem, ExportShape, FormatError

from coco_testing import (
    FIXTURES, doc, image, needs_fixtures, shapes_by_image, write_json,
)


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
            ExportShape(1, "polygon", points=[[5, 5], [15, 5], [15, 15], [30, 30], [40, 30], [40, 40]],
                        attributes={"polygon_parts": [3, 3]}),
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
    assert [a["id"] for a in anns] == [1, 2, 3, 4, 5]
    assert anns[0] == {"id": 1, "image_id": 10, "category_id": 7, "iscrowd": 0, "segmentation": [],
                       "area": 30.125 * 40.0, "bbox": [10.5, 20.25, 30.125, 40.0]}
    assert anns[1]["segmentation"] == [[1.5, 2.5, 50.0, 2.5, 50.0, 60.75, 1.5, 60.75]]
    assert anns[1]["bbox"] == [1.5, 2.5, 48.5, 58.25] and anns[1]["area"] == pytest.approx(48.5 * 58.25)
    assert anns[1]["attributes"] == {"occluded": True} and anns[1]["category_id"] == 3
    assert anns[2]["iscrowd"] == 1 and "attributes" not in anns[2]
    assert anns[2]["segmentation"]["size"] == [80, 100] and anns[2]["area"] == 8000.0  # the box's pixels as RLE
    # two parts of one source annotation are one COCO annotation again, parts in order
    assert anns[3]["segmentation"] == [[80, 10, 90, 10, 90, 20], [60, 60, 70, 60, 70, 70]]
    assert anns[3]["bbox"] == [60, 10, 30, 60] and anns[3]["area"] == pytest.approx(100.0)
    # a multi-part polygon is one annotation with one polygon per part; its box is the extent of all parts
    assert anns[4]["segmentation"] == [[5, 5, 15, 5, 15, 15], [30, 30, 40, 30, 40, 40]]
    assert anns[4]["bbox"] == [5, 5, 35, 35] and anns[4]["area"] == pytest.approx(100.0)
    assert "attributes" not in anns[4]
    val = json.loads((out / "annotations" / "instances_val.json").read_text())
    assert [a["id"] for a in val["annotations"]] == [6] and val["images"][0]["file_name"] == "sub/b.png"


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
    a, b = got["images/train/a.jpg"].shapes, got["images/val/sub/b.png"].shapes
    assert [(s.label, s.kind, s.box, s.points, s.attributes) for s in a] == [
        ("car", "box", (10.5, 20.25, 30.125, 40.0), None, {}),
        ("person", "polygon", None, [[1.5, 2.5], [50.0, 2.5], [50.0, 60.75], [1.5, 60.75]], {"occluded": True}),
        ("person", "box", (0.0, 0.0, 100.0, 80.0), None,
         {"iscrowd": 1, "coco_rle": {**coco._box_rle((0, 0, 100, 80), 100, 80), "box": [0.0, 0.0, 100.0, 80.0]}}),
        # an older import's parts (one shape each, joined by coco_id) come back as one multi-part polygon
        ("car", "polygon", None, [[80, 10], [90, 10], [90, 20], [60, 60], [70, 60], [70, 70]],
         {"polygon_parts": [3, 3]}),
        ("person", "polygon", None, [[5, 5], [15, 5], [15, 15], [30, 30], [40, 30], [40, 40]],
         {"polygon_parts": [3, 3]}),
    ]
    assert [(s.label, s.kind, s.box) for s in b] == [("unused", "box", (1.0, 2.0, 3.0, 4.0))]


def test_crowd_rle_and_sparse_category_ids_survive_a_round_trip(tmp_path: Path) -> None:
    """COCO in, export, COCO in again: the crowd region's RLE mask, the parts and the category ids 1, 3, 90."""
    src = tmp_path / "src"
    make_image(src / "a.jpg", (40, 30))
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 90, "name": "toothbrush"}]
    rle = {"counts": [65, 5, 25, 5, 25, 5, 1070], "size": [30, 40]}
    anns = [
        {"id": 1, "image_id": 1, "category_id": 90, "iscrowd": 1, "bbox": [2, 5, 3, 5], "segmentation": rle},
        {"id": 2, "image_id": 1, "category_id": 3, "iscrowd": 0, "bbox": [1, 1, 29, 19],
         "segmentation": [[1, 1, 10, 1, 10, 10], [20, 10, 30, 10, 30, 20]]},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [12, 12, 5, 5], "segmentation": []},
    ]
    write_json(src / "d.json", doc([image(1, "a.jpg", 40, 30)], anns, cats))
    first = coco.read(src / "d.json")
    names = first.classes
    classes = [ExportClass(i, 100 + i, n, "#000000", first.category_ids[n]) for i, n in enumerate(names)]
    index = {n: i for i, n in enumerate(names)}
    item = ExportItem(7, first.items[0].image_path, "a.jpg", 40, 30, "train",
                      [ExportShape(index[s.label], s.kind, s.box, s.points, s.attributes)
                       for s in first.items[0].shapes])
    coco.write(ExportData(classes, [item]), tmp_path / "out")
    written = json.loads((tmp_path / "out" / "annotations" / "instances_train.json").read_text())
    assert sorted((c["id"], c["name"]) for c in written["categories"]) == [(1, "person"), (3, "car"),
                                                                          (90, "toothbrush")]
    by_cat = {a["category_id"]: a for a in written["annotations"]}
    assert by_cat[90]["iscrowd"] == 1 and by_cat[90]["segmentation"] == rle and by_cat[90]["area"] == 15.0
    assert by_cat[3]["segmentation"] == anns[1]["segmentation"] and by_cat[3]["bbox"] == [1, 1, 29, 19]
    again = coco.read(tmp_path / "out")
    assert again.category_ids == first.category_ids == {"person": 1, "car": 3, "toothbrush": 90}
    assert [(s.label, s.kind, s.box, s.points, s.attributes) for s in again.items[0].shapes] == \
        [(s.label, s.kind, s.box, s.points, s.attributes) for s in first.items[0].shapes]


def test_category_ids_fall_back_to_the_class_id_when_absent_or_conflicting() -> None:
    classes = [ExportClass(0, 5, "a", "#000000", 3), ExportClass(1, 6, "b", "#000000", 3),
               ExportClass(2, 3, "c", "#000000"), ExportClass(3, 8, "d", "#000000", 1)]
    # 3 is claimed twice: both fall back; c's own id 3 is free then; d keeps its imported id 1
    assert coco.category_ids(classes) == {0: 5, 1: 6, 2: 3, 3: 1}
    clash = [ExportClass(0, 1, "a", "#000000"), ExportClass(1, 2, "b", "#000000", 1)]
    assert coco.category_ids(clash) == {0: 2, 1: 1}


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
    assert len(gt.getImgIds()) == 2 and len(gt.getAnnIds()) == 5 and sorted(gt.getCatIds()) == [3, 7, 12]
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


@needs_fixtures
@pytest.mark.parametrize("name", ["coco_instances", "coco_stuff"])
def test_datumaro_crowd_rle_regions_are_kept_and_written_back(name: str, tmp_path: Path) -> None:
    """Every ``iscrowd: 1`` RLE region of datumaro's fixtures is read as a crowd box holding its mask, and a COCO
    export writes it back as it was: ``iscrowd: 1``, the same RLE, bbox and category id."""
    root = FIXTURES / name
    source = {(a["image_id"], a["id"]): a for f in sorted((root / "annotations").glob("*.json"))
              for a in json.loads(f.read_text())["annotations"] if a.get("iscrowd")}
    assert source and all(isinstance(a["segmentation"], dict) for a in source.values())
    ds = coco.read(root)
    crowd = [s for it in ds.items for s in it.shapes if s.attributes.get("iscrowd") == 1]
    assert len(crowd) == len(source) and all(s.kind == "box" and "coco_rle" in s.attributes for s in crowd)
    classes = [ExportClass(i, 50 + i, n, "#000000", ds.category_ids[n]) for i, n in enumerate(ds.classes)]
    index = {n: i for i, n in enumerate(ds.classes)}
    items = []
    for k, it in enumerate(ds.items):
        w, h = it.declared_size
        items.append(ExportItem(k + 1, it.image_path, f"{k}_{it.image_path.name}", w, h, it.split or "train",
                                [ExportShape(index[s.label], s.kind, s.box, s.points, s.attributes)
                                 for s in it.shapes]))
    coco.write(ExportData(classes, items), tmp_path / "out")
    written = [a for f in sorted((tmp_path / "out" / "annotations").glob("*.json"))
               for a in json.loads(f.read_text())["annotations"] if a["iscrowd"]]
    key = lambda a: (a["category_id"], a["bbox"], json.dumps(a["segmentation"], sort_keys=True))  # noqa: E731
    assert sorted(map(key, written)) == sorted(map(key, source.values()))
