"""Objects stay objects: a multi-part COCO polygon is one annotation through import, versions, training labels and
every export; crowd regions are kept, never training positives, and exported back as ``iscrowd: 1``; COCO category
ids survive a round trip; the training task is a choice (``--task``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from coco_testing import doc, image, write_json
from helpers import make_image

from cvops.data.annotations import NewAnnotation
from cvops.common.errors import ValidationError
from cvops.versions.export import export_dataset
from cvops.formats.importer import import_dataset
from cvops.formats.common import merge_parts
from cvops.training.runner import choose_task
from cvops.versions.materialize import materialize
from cvops.versions.create import create_version
from cvops.data.workspace import Workspace

W, H = 64, 48
PERSON = [[[4, 4], [20, 4], [20, 20], [4, 20]], [[40, 30], [60, 30], [50, 44]]]  # one person, two outlines
CROWD_RLE = {"counts": [2 * H + 10, 8, H - 8, 8, H - 8, 8, H - 18 + H * (W - 5)], "size": [H, W]}  # x 2..4, y 10..17


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    """A COCO dataset (train split) with sparse category ids 1, 3, 90: a two-part person, a crowd RLE region of
    cars, a toothbrush box, and two more images with a box each."""
    root = tmp_path / "coco"
    images = []
    for k, name in enumerate(("a.jpg", "b.jpg", "c.jpg")):
        make_image(root / "images" / "train" / name, (W, H), seed=k)
        images.append(image(k + 1, name, W, H))
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [4, 4, 56, 40],
         "segmentation": [[c for p in ring for c in p] for ring in PERSON]},
        {"id": 2, "image_id": 1, "category_id": 3, "iscrowd": 1, "bbox": [2, 10, 3, 8], "segmentation": CROWD_RLE},
        {"id": 3, "image_id": 1, "category_id": 90, "iscrowd": 0, "bbox": [30, 5, 10, 6], "segmentation": []},
        {"id": 4, "image_id": 2, "category_id": 3, "iscrowd": 0, "bbox": [5, 5, 20, 20], "segmentation": []},
        {"id": 5, "image_id": 3, "category_id": 1, "iscrowd": 0, "bbox": [10, 10, 30, 30], "segmentation": []},
    ]
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 90, "name": "toothbrush"}]
    write_json(root / "annotations" / "instances_train.json", doc(images, anns, cats))
    return root


@pytest.fixture
def imported(ws: Workspace, coco_root: Path) -> Workspace:
    report = import_dataset(ws, coco_root)
    assert report.annotations == 5 and not report.skipped, report.skipped
    return ws


def _label_lines(root: Path, split: str, stem: str) -> list[list[float]]:
    text = (root / "labels" / split / f"{stem}.txt").read_text()
    return [[float(v) for v in line.split()] for line in text.splitlines()]


def _class_index(root: Path, name: str) -> int:
    names = yaml.safe_load((root / "data.yaml").read_text())["names"]
    return next(int(k) for k, v in names.items() if v == name)


def test_multi_part_polygon_is_one_annotation_with_the_union_box(imported: Workspace) -> None:
    ws = imported
    person = ws.classes.get("person").id
    anns = [a for a in ws.annotations.for_image(1) if a.class_id == person]
    assert len(anns) == 1 and anns[0].kind == "polygon" and anns[0].rings == PERSON
    pts = np.array(anns[0].points)
    assert [*pts.min(0), *pts.max(0)] == [4, 4, 60, 44]  # the extent of every part
    crowd = [a for a in ws.annotations.for_image(1) if a.crowd]
    assert [(a.kind, a.box) for a in crowd] == [("box", (2.0, 10.0, 3.0, 8.0))]
    info = create_version(ws, "first", use_hints=True)
    assert info.stats["annotations"][str(person)] == {"train": 2}  # 1 on a.jpg (not 2 parts) + 1 on c.jpg
    # re-importing adds nothing
    again = import_dataset(ws, ws.root.parent / "coco")
    assert again.annotations == 0 and again.annotations_existing == 5


def test_editor_validates_parts_and_keeps_them_when_moving(imported: Workspace) -> None:
    ws = imported
    person = next(a for a in ws.annotations.for_image(1) if a.kind == "polygon")
    moved = [[x + 1, y + 1] for x, y in person.points]
    assert ws.annotations.update(person.id, points=moved).rings[1][0] == [41, 31]
    with pytest.raises(ValidationError, match="add up to 7 points, the polygon has 6"):
        ws.annotations.update(person.id, points=moved[:-1])
    with pytest.raises(ValidationError, match="at least 3 points"):
        ws.annotations.add_polygon(1, "person", moved, attributes={"polygon_parts": [2, 5]})


def test_yolo_exports_one_line_per_object_and_no_crowd(imported: Workspace, tmp_path: Path) -> None:
    ws = imported
    report = export_dataset(ws, tmp_path / "yolo", "yolo")
    out = tmp_path / "yolo"
    assert report.annotations == 4 and any("1 crowd (ignore) regions" in s["reason"] for s in report.skipped)
    lines = _label_lines(out, "train", "a")
    person, car = _class_index(out, "person"), _class_index(out, "car")
    assert sorted(int(line[0]) for line in lines) == sorted([person, _class_index(out, "toothbrush")])
    joined = next(line for line in lines if int(line[0]) == person)[1:]
    expected = [v for x, y in merge_parts(PERSON) for v in (x / W, y / H)]
    assert joined == pytest.approx(expected, abs=1e-9)  # parts joined as Ultralytics' COCO converter joins them
    assert all(int(line[0]) != car for line in lines)  # the crowd region is no positive


def test_training_labels_follow_the_task_and_never_hold_crowd(imported: Workspace) -> None:
    ws = imported
    info = create_version(ws, "v", use_hints=True)
    assert choose_task(ws, info.id)[0] == "segment"
    assert choose_task(ws, info.id, "detect") == ("detect", "chosen: a detector, trained on the box of each polygon")
    detect = materialize(ws, info.id, task="detect").parent
    segment = materialize(ws, info.id, task="segment").parent
    assert detect != segment
    person = _class_index(detect, "person")
    boxes = _label_lines(detect, "train", "a")
    assert all(len(line) == 5 for line in boxes) and len(boxes) == 2  # person and toothbrush; no crowd
    box = next(line for line in boxes if int(line[0]) == person)[1:]
    assert box == pytest.approx([32 / W, 24 / H, 56 / W, 40 / H])  # the box of both parts
    polygons = _label_lines(segment, "train", "a")
    assert len(polygons) == 2 and all(len(line) > 5 and len(line) % 2 == 1 for line in polygons)
    assert _label_lines(segment, "train", "b")[0][1:] == pytest.approx(
        [5 / W, 5 / H, 25 / W, 5 / H, 25 / W, 25 / H, 5 / W, 25 / H])  # a box as its 4 corners


def test_segment_task_needs_polygons(ws: Workspace) -> None:
    make_image(ws.root.parent / "x.jpg", (W, H))
    from cvops.data.ingest import import_paths

    iid = import_paths(ws, [ws.root.parent / "x.jpg"]).path_ids[str(ws.root.parent / "x.jpg")]
    ws.annotations.add_many([NewAnnotation(iid, ws.classes.add("a").id, "box", box=(1, 1, 10, 10))])
    info = create_version(ws, "boxes")
    assert choose_task(ws, info.id) == ("detect", "the version has boxes only, so a detector")
    with pytest.raises(ValidationError, match="no polygons"):
        choose_task(ws, info.id, "segment")
    with pytest.raises(ValidationError, match="unknown task"):
        choose_task(ws, info.id, "pose")


def test_coco_round_trip_keeps_parts_crowd_and_category_ids(imported: Workspace, coco_root: Path,
                                                            tmp_path: Path) -> None:
    ws = imported
    assert dict(ws.db.execute("SELECT name, coco_id FROM classes").fetchall()) == {"person": 1, "car": 3,
                                                                                   "toothbrush": 90}
    for version in (None, create_version(ws, "v", use_hints=True).name):
        out = tmp_path / f"coco-{version}"
        export_dataset(ws, out, "coco", version=version)
        written = json.loads((out / "annotations" / "instances_train.json").read_text())
        source = json.loads((coco_root / "annotations" / "instances_train.json").read_text())
        assert sorted((c["id"], c["name"]) for c in written["categories"]) == [(1, "person"), (3, "car"),
                                                                              (90, "toothbrush")]
        assert sorted(map(_key, written["annotations"])) == sorted(map(_key, source["annotations"]))


def _key(ann: dict) -> str:
    """An annotation's category, crowd flag, box and segmentation, numbers compared as floats."""
    keep = {k: ann[k] for k in ("category_id", "iscrowd", "bbox", "segmentation")}
    return json.dumps(json.loads(json.dumps(keep), parse_int=float), sort_keys=True)


def test_labelme_gets_one_polygon_per_part_in_one_group(imported: Workspace, tmp_path: Path) -> None:
    export_dataset(imported, tmp_path / "lm", "labelme")
    shapes = json.loads((tmp_path / "lm" / "a.json").read_text())["shapes"]
    person = [s for s in shapes if s["label"] == "person"]
    assert [p["points"] for p in person] == PERSON and len({p["group_id"] for p in person}) == 1
    assert person[0]["group_id"] is not None and "attributes" not in person[0]
    crowd = [s for s in shapes if s["label"] == "car"]
    assert crowd[0]["attributes"] == {"iscrowd": 1}  # kept as a flag; the RLE mask stays COCO's


def test_labelme_parts_of_one_group_come_back_as_one_object(imported: Workspace, tmp_path: Path) -> None:
    """The labelme export's grouped parts import as one multi-part polygon again; a box sharing the group stays a
    box, and polygons of another label or group stay apart."""
    export_dataset(imported, tmp_path / "lm", "labelme")
    doc_path = tmp_path / "lm" / "a.json"
    data = json.loads(doc_path.read_text())
    gid = next(s["group_id"] for s in data["shapes"] if s["label"] == "person")
    data["shapes"] += [{"label": "person", "points": [[2, 30], [12, 30], [2, 44]], "group_id": gid + 1,
                        "shape_type": "polygon", "flags": {}},
                       {"label": "person", "points": [[30, 2], [40, 12]], "group_id": gid, "shape_type": "rectangle",
                        "flags": {}}]
    doc_path.write_text(json.dumps(data))
    again = Workspace.create(tmp_path / "again")
    try:
        report = import_dataset(again, tmp_path / "lm", format="labelme")
        assert report.skipped == []
        person = again.classes.get("person").id
        anns = [a for a in again.annotations.for_image(again.images.ids()[0]) if a.class_id == person]
        polygons = sorted((a for a in anns if a.kind == "polygon"), key=lambda a: len(a.rings))
        assert [len(a.rings) for a in polygons] == [1, 2] and polygons[1].rings == PERSON
        assert polygons[1].attributes["polygon_parts"] == [4, 3] and polygons[1].attributes["group_id"] == gid
        assert [a.kind for a in anns].count("box") == 1
    finally:
        again.close()


def test_old_workspace_rows_stay_valid(ws: Workspace) -> None:
    """Single polygons and the parts of an older COCO import (one polygon each, joined by coco_id) still export."""
    make_image(ws.root.parent / "y.jpg", (W, H))
    from cvops.data.ingest import import_paths

    iid = import_paths(ws, [ws.root.parent / "y.jpg"]).path_ids[str(ws.root.parent / "y.jpg")]
    cid = ws.classes.add("a").id
    ws.annotations.add_many([
        NewAnnotation(iid, cid, "polygon", points=PERSON[1], attributes={"coco_id": 7, "part": 1}),
        NewAnnotation(iid, cid, "polygon", points=PERSON[0], attributes={"coco_id": 7, "part": 0})])
    export_dataset(ws, ws.root.parent / "out", "coco")
    anns = json.loads((ws.root.parent / "out" / "annotations" / "instances_train.json").read_text())["annotations"]
    assert [a["segmentation"] for a in anns] == [[[c for p in ring for c in p] for ring in PERSON]]
    assert anns[0]["category_id"] == cid


@pytest.mark.slow
def test_cli_train_task_detect_on_polygons_trains_a_detector(imported: Workspace) -> None:
    """One tiny real run (1 epoch, 64 px, 3 images): ``cvops train --task detect`` on a version with polygons trains
    a detector on each object's box, and says so in the JSON result and the started event."""
    from click.testing import CliRunner

    from cvops.cli import cli

    ws = imported
    name = create_version(ws, "polygons", use_hints=True).name
    result = CliRunner().invoke(cli, ["train", "--version", name, "--task", "detect", "--epochs", "1", "--imgsz", "64",
                                      "--batch", "4", "--device", "cpu", "-w", str(ws.root), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    assert out["state"] == "finished" and out["task"] == "detect"
    assert out["task_reason"] == "chosen: a detector, trained on the box of each polygon"
    events = [json.loads(line) for line in (Path(out["run_dir"]) / "events.jsonl").read_text().splitlines()]
    assert next(e for e in events if e["event"] == "started")["task"] == "detect"
    config = json.loads((Path(out["run_dir"]) / "config.json").read_text())
    assert config["model"] == "yolo11n.yaml" and config["task"] == "detect"
    labels = Path(config["data_yaml"]).parent / "labels" / "train" / "a.txt"
    assert all(len(line.split()) == 5 for line in labels.read_text().splitlines())
