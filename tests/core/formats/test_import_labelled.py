"""Labelled data is treated as labelled: status ``done`` for images that come with annotations, byte-identical
images with several label files merged and reported, an object annotated twice kept once, zero-area boxes reported
per file and element in every reader (never widened to one pixel)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import make_image

from cvops import Workspace
from cvops.cli import cli
from cvops.formats.importer import import_dataset


def yolo(root: Path, labels: dict[str, str], names: str = "[car, person]") -> Path:
    for n, (stem, text) in enumerate(labels.items()):
        make_image(root / "images" / "train" / f"{stem}.jpg", (100, 50), seed=n)
        if text is not None:
            (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
            (root / "labels" / "train" / f"{stem}.txt").write_text(text)
    (root / "data.yaml").write_text(f"train: images/train\nval: images/train\nnames: {names}\n")
    return root


def statuses(ws: Workspace) -> dict[str, str]:
    return {i.file_name: i.status for i in ws.images.page()}


def test_images_with_annotations_are_done_the_others_keep_the_default(ws: Workspace, tmp_path: Path) -> None:
    ds = yolo(tmp_path / "ds", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "", "c": None})
    report = import_dataset(ws, ds)
    assert statuses(ws) == {"a.jpg": "done", "b.jpg": "new", "c.jpg": "new"}
    assert report.statuses == {"done": 1}
    # A reviewed image is not set back by a re-import.
    (a,) = [i.id for i in ws.images.page() if i.file_name == "a.jpg"]
    ws.annotations.set_status([a], "approved")
    assert import_dataset(ws, ds).statuses == {} and statuses(ws)["a.jpg"] == "approved"
    # The default New-version filter (done, approved) now holds the labelled image.
    from cvops.versions.create import create_version

    info = create_version(ws, "labelled", statuses=("done", "approved"))
    assert sum(info.stats["images"].values()) == 1


def test_status_option_overrides(ws: Workspace, tmp_path: Path) -> None:
    ds = yolo(tmp_path / "ds", {"a": "0 0.5 0.5 0.2 0.2\n", "b": ""})
    result = CliRunner().invoke(cli, ["import-dataset", str(ds), "--status", "needs_review", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "1 images marked needs_review" in result.output
    assert statuses(ws) == {"a.jpg": "needs_review", "b.jpg": "new"}
    bad = CliRunner().invoke(cli, ["import-dataset", str(ds), "--status", "finished", "-w", str(ws.root)])
    assert bad.exit_code == 2 and "finished" in bad.output


def test_status_is_its_own_undo_step_after_the_annotations(ws: Workspace, tmp_path: Path) -> None:
    import_dataset(ws, yolo(tmp_path / "ds", {"a": "0 0.5 0.5 0.2 0.2\n"}))
    ws.log.undo()
    assert statuses(ws) == {"a.jpg": "new"} and ws.stats()["annotations"] == 1
    ws.log.undo()
    assert ws.stats()["annotations"] == 0


def test_byte_identical_images_with_two_label_files_are_merged_and_reported(ws: Workspace, tmp_path: Path) -> None:
    ds = yolo(tmp_path / "ds", {"a": "0 0.1 0.1 0.1 0.1\n", "b": "1 0.7 0.7 0.2 0.2\n0 0.1 0.1 0.1 0.1\n"})
    shutil.copyfile(ds / "images" / "train" / "a.jpg", ds / "images" / "train" / "b.jpg")
    report = import_dataset(ws, ds)
    assert report.images == 1 and ws.stats()["images"] == 1
    assert report.annotations == 2  # car once (same object in both files), person from b.txt
    reasons = [w["reason"] for w in report.warnings]
    assert reasons[0].startswith("image b.jpg is byte-identical to a.jpg: imported once, the annotations of b.txt "
                                 "and a.txt merged")
    assert "the same object annotated twice: box of class 'car'" in reasons[1] and "a.txt:1" in reasons[1]
    assert len(reasons) == 2


def test_same_object_twice_in_one_file_at_iou_0_9_is_kept_once(ws: Workspace, tmp_path: Path) -> None:
    # IoU of these two boxes: 0.2x0.2 vs shifted by 0.002 (0.2 px on 100 px) -> ~0.98; the third is another object.
    ds = yolo(tmp_path / "ds", {"a": "0 0.5 0.5 0.2 0.2\n0 0.502 0.5 0.2 0.2\n0 0.6 0.5 0.2 0.2\n"
                                     "1 0.5 0.5 0.2 0.2\n"})
    report = import_dataset(ws, ds)
    assert report.annotations == 3  # the person box on the car box is a different class: kept
    (warning,) = report.warnings
    assert warning["line"] == 2 and "IoU 0.98" in warning["reason"]


def test_same_polygon_twice_is_kept_once(ws: Workspace, tmp_path: Path) -> None:
    poly = "0 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5"
    ds = yolo(tmp_path / "ds", {"a": f"{poly}\n{poly}\n0 0.6 0.6 0.9 0.6 0.9 0.9\n"})
    report = import_dataset(ws, ds)
    assert report.annotations == 2 and len(report.warnings) == 1
    assert "polygon of class 'car'" in report.warnings[0]["reason"]


# -- zero-area boxes: reported per file and element, never widened --------------------------------------------------
def test_zero_area_voc_box_is_reported_not_widened(ws: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "voc"
    make_image(root / "JPEGImages" / "a.jpg", (64, 48))
    (root / "Annotations").mkdir()
    objects = "".join(f"<object><name>cat</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
                      f"<ymax>{d}</ymax></bndbox></object>" for a, b, c, d in ((5, 5, 5, 20), (1, 1, 10, 10),
                                                                              (3, 7, 30, 7)))
    xml = root / "Annotations" / "a.xml"
    xml.write_text(f"<annotation><filename>a.jpg</filename>{objects}</annotation>")
    report = import_dataset(ws, root)
    assert report.annotations == 1
    assert [(s["path"], s["element"], s["reason"].split(":")[0]) for s in report.skipped] == [
        (str(xml), "object[1]/bndbox", "object skipped"), (str(xml), "object[3]/bndbox", "object skipped")]
    assert all("zero area" in s["reason"] for s in report.skipped)
    (ann,) = ws.annotations.for_image(ws.images.page()[0].id)
    assert ann.box == (0.0, 0.0, 10.0, 10.0)


def test_zero_area_boxes_in_other_readers_are_reported(ws: Workspace, tmp_path: Path) -> None:
    coco = tmp_path / "coco"
    make_image(coco / "a.jpg", (64, 48))
    (coco / "instances_train.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 10], "iscrowd": 0},
                        {"id": 8, "image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "cat"}]}))
    report = import_dataset(ws, coco)
    assert report.annotations == 1
    assert [(s["element"], "zero width or height" in s["reason"]) for s in report.skipped] == [
        ("annotations[0] id=7", True)]

    labelme = tmp_path / "labelme"
    make_image(labelme / "b.jpg", (64, 48), seed=2)
    (labelme / "b.json").write_text(json.dumps({
        "version": "5.4.1", "imagePath": "b.jpg", "imageHeight": 48, "imageWidth": 64, "shapes": [
            {"label": "cat", "shape_type": "rectangle", "points": [[3, 3], [3, 20]]},
            {"label": "cat", "shape_type": "rectangle", "points": [[3, 3], [13, 20]]}]}))
    report = import_dataset(ws, labelme)
    assert report.annotations == 1 and len(report.skipped) == 1
    assert "zero width or height" in report.skipped[0]["reason"] and report.skipped[0]["path"].endswith("b.json")

    cvat = tmp_path / "cvat"
    make_image(cvat / "c.jpg", (64, 48), seed=3)
    (cvat / "annotations.xml").write_text(
        '<annotations><version>1.1</version><image id="0" name="c.jpg" width="64" height="48">'
        '<box label="cat" xtl="4" ytl="4" xbr="4" ybr="9" occluded="0"/>'
        '<box label="cat" xtl="4" ytl="4" xbr="14" ybr="9" occluded="0"/></image></annotations>')
    report = import_dataset(ws, cvat)
    assert report.annotations == 1 and len(report.skipped) == 1 and "no area" in report.skipped[0]["reason"]


@pytest.mark.parametrize("line", ["0 0.5 0.5 0 0.2", "0 0.5 0.5 0.2 0"])
def test_zero_area_yolo_box_is_reported_with_its_line(ws: Workspace, tmp_path: Path, line: str) -> None:
    report = import_dataset(ws, yolo(tmp_path / "ds", {"a": f"0 0.5 0.5 0.2 0.2\n{line}\n"}))
    assert report.annotations == 1
    (skip,) = report.skipped
    assert skip["line"] == 2 and skip["path"].endswith("a.txt") and "zero or negative size" in skip["reason"]


def test_an_export_of_no_images_exits_1_saying_why_and_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    from cvops.versions.export import EmptyExportError, export_dataset

    import_dataset(ws, yolo(tmp_path / "ds", {"a": "", "b": ""}))
    with pytest.raises(EmptyExportError, match="no image has status done: an export needs at least one image.*2 new"):
        export_dataset(ws, tmp_path / "out", "yolo", statuses=["done"])
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))
    result = CliRunner().invoke(cli, ["export-dataset", str(tmp_path / "out"), "--format", "coco", "--status",
                                      "done,approved", "--json", "-w", str(ws.root)])
    assert result.exit_code == 1 and json.loads(result.output)["error"]["code"] == "empty_export"
    text = CliRunner().invoke(cli, ["export-dataset", str(tmp_path / "out"), "--format", "voc", "--status", "done",
                                    "-w", str(ws.root)])
    assert text.exit_code == 1 and "an export needs at least one image" in text.output
    assert not (tmp_path / "out").exists()
