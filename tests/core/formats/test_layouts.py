"""Every common downloaded layout imports at its top folder (``import-dataset PATH --format auto``): Roboflow and
Ultralytics YOLO, Pascal VOC variants, COCO with split-named image folders; nothing-found errors and ``--dry-run``.

The fixtures are built the way the tools lay their exports out on disk (small random images written with cv2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from prerequisites import shared_path

from cvops import Workspace
from cvops.cli import cli
from cvops.formats.importer import import_dataset
from cvops.formats.model import FormatError

W, H = 64, 48


def image(path: Path, seed: int, size: tuple[int, int] = (W, H)) -> Path:
    """A random-content image written with cv2 (JPEG or PNG by extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def text(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def yolo_split(root: Path, split: str, stems: list[str], line: str = "0 0.5 0.5 0.25 0.25", seed: int = 0) -> None:
    """``root/<split>/images/<stem>.jpg`` + ``root/<split>/labels/<stem>.txt`` (Roboflow's export)."""
    for n, stem in enumerate(stems):
        image(root / split / "images" / f"{stem}.jpg", seed + n)
        text(root / split / "labels" / f"{stem}.txt", line + "\n")


def roboflow(root: Path, yaml: bool = True, classes_txt: bool = False) -> Path:
    """A Roboflow YOLOv8 export: train/ valid/ test/ each with images/ + labels/, data.yaml with ../ paths."""
    yolo_split(root, "train", ["a", "b"], seed=1)
    yolo_split(root, "valid", ["c"], "1 0.3 0.3 0.2 0.2", seed=10)
    yolo_split(root, "test", ["d"], seed=20)
    if yaml:
        text(root / "data.yaml", "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 2\n"
                                 "names: ['cat', 'dog']\n\nroboflow:\n  workspace: ws\n  project: pets\n")
    if classes_txt:
        text(root / "classes.txt", "cat\ndog\n")
    text(root / "README.roboflow.txt", "Exported from roboflow.com\n")
    return root


def counts(ws: Workspace) -> tuple[int, int]:
    stats = ws.stats()
    return stats["images"], stats["annotations"]


def hints(ws: Workspace) -> dict[str, str]:
    return dict(ws.db.execute("SELECT i.file_name, h.split FROM split_hints h JOIN images i ON i.id = h.image_id"))


def classes(ws: Workspace) -> list[str]:
    return [c.name for c in ws.classes.list()]


# -- YOLO -------------------------------------------------------------------------------------------------------------
def test_roboflow_export_with_data_yaml_imports_at_its_top_folder(ws: Workspace, tmp_path: Path) -> None:
    report = import_dataset(ws, roboflow(tmp_path / "pets.v1i.yolov8"))
    assert report.format == "yolo" and report.ok and report.skipped == [] and report.warnings == []
    assert counts(ws) == (4, 4) and classes(ws) == ["cat", "dog"]
    assert hints(ws) == {"a.jpg": "train", "b.jpg": "train", "c.jpg": "val", "d.jpg": "test"}
    assert report.splits == {"train": 2, "val": 1, "test": 1}
    dog = ws.classes.find("dog")
    assert dog is not None
    (c,) = [i for i in ws.images.page() if i.file_name == "c.jpg"]
    assert [a.class_id for a in ws.annotations.for_image(c.id)] == [dog.id]


def test_ultralytics_yaml_one_level_down_with_relative_path(ws: Workspace, tmp_path: Path) -> None:
    top = tmp_path / "download"
    for split, seed in (("train", 1), ("val", 5)):
        image(top / "datasets" / "coco8" / "images" / split / f"{split}0.jpg", seed)
        text(top / "datasets" / "coco8" / "labels" / split / f"{split}0.txt", "1 0.5 0.5 0.4 0.4\n")
    text(top / "cfg" / "coco8.yaml", "path: ../datasets/coco8\ntrain: images/train\nval: images/val\n"
                                     "names:\n  0: person\n  1: bicycle\n")
    report = import_dataset(ws, top)
    assert report.format == "yolo" and report.ok and report.warnings == []
    assert counts(ws) == (2, 2) and classes(ws) == ["person", "bicycle"]
    assert hints(ws) == {"train0.jpg": "train", "val0.jpg": "val"}
    assert report.detected["root"] == str(top / "datasets" / "coco8")
    assert report.detected["class_names"]["source"] == "coco8.yaml names"


def test_yaml_path_escaping_the_folder_given_is_refused(ws: Workspace, tmp_path: Path) -> None:
    image(tmp_path / "outside" / "x.jpg", 3)
    top = tmp_path / "top"
    yolo_split(top, "train", ["a"])
    text(top / "data.yaml", "train: ../outside\nval: train/images\nnames: [cat]\n")
    report = import_dataset(ws, top)
    assert [i.file_name for i in ws.images.page()] == ["a.jpg"] and report.ok


@pytest.mark.parametrize("with_names", [True, False], ids=["classes_txt", "no_names"])
def test_roboflow_without_yaml(ws: Workspace, tmp_path: Path, with_names: bool) -> None:
    report = import_dataset(ws, roboflow(tmp_path / "export", yaml=False, classes_txt=with_names))
    assert report.format == "yolo" and report.skipped == [] and report.ok
    assert counts(ws) == (4, 4)
    assert hints(ws) == {"a.jpg": "train", "b.jpg": "train", "c.jpg": "val", "d.jpg": "test"}
    if with_names:
        assert classes(ws) == ["cat", "dog"] and report.warnings == []
        assert report.detected["class_names"]["source"] == str(tmp_path / "export" / "classes.txt")
    else:
        assert classes(ws) == ["class_0", "class_1"]
        (warning,) = report.warnings
        assert "classes are named class_<id>" in warning["reason"]


def test_images_and_labels_pair_deep_down(ws: Workspace, tmp_path: Path) -> None:
    top = tmp_path / "dl"
    image(top / "project" / "data" / "images" / "a.jpg", 1)
    text(top / "project" / "data" / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    text(top / "project" / "data" / "classes.txt", "bird\n")
    report = import_dataset(ws, top)
    assert report.format == "yolo" and report.ok and counts(ws) == (1, 1) and classes(ws) == ["bird"]


def test_label_studio_yolo_imports_at_its_top_folder(ws: Workspace) -> None:
    folder = shared_path("formats", "label_studio_yolo")
    report = import_dataset(ws, folder)
    assert report.format == "yolo" and report.images == 7 and report.annotations > 0
    assert ws.stats()["images"] == 7


# -- Pascal VOC -------------------------------------------------------------------------------------------------------
def voc_xml(filename: Optional[str], boxes: list[tuple[str, tuple[float, float, float, float]]],
            path: Optional[str] = None, folder: str = "images") -> str:
    objects = "".join(f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                      f"<ymax>{b[3]}</ymax></bndbox></object>" for n, b in boxes)
    return (f"<annotation><folder>{folder}</folder>" + (f"<filename>{filename}</filename>" if filename else "")
            + (f"<path>{path}</path>" if path else "")
            + f"<size><width>{W}</width><height>{H}</height><depth>3</depth></size>{objects}</annotation>")


def test_voc_annots_and_imgs(ws: Workspace, tmp_path: Path) -> None:
    top = tmp_path / "fruit"
    for n, stem in enumerate(("apple_1", "apple_2")):
        image(top / "imgs" / f"{stem}.jpg", n)
        text(top / "annots" / f"{stem}.xml", voc_xml(f"{stem}.jpg", [("apple", (5, 5, 30, 30))]))
    report = import_dataset(ws, top)
    assert report.format == "voc" and report.ok and counts(ws) == (2, 2)
    assert report.detected["image_folders"] == {"imgs": 2} and report.detected["label_folders"] == {"annots": 2}


def test_voc_xml_beside_images_with_stale_path_and_filename_without_extension(ws: Workspace, tmp_path: Path
                                                                             ) -> None:
    top = tmp_path / "labelimg"
    image(top / "train" / "a.jpg", 1)
    image(top / "valid" / "b.png", 2)
    image(top / "valid" / "c.jpg", 3)
    # labelImg on another machine: <filename> renamed since, <path> absolute and stale (Windows).
    text(top / "train" / "a.xml", voc_xml("IMG_0001.jpg", [("cat", (1, 1, 20, 20))],
                                          path="C:\\Users\\me\\Pictures\\a.jpg"))
    text(top / "valid" / "b.xml", voc_xml("b", [("dog", (2, 2, 30, 30))]))  # no extension
    text(top / "valid" / "c.xml", voc_xml("gone.jpg", [("dog", (3, 3, 12, 12))], path="/home/x/gone.jpg"))
    report = import_dataset(ws, top)
    assert report.format == "voc" and report.skipped == [] and report.ok
    assert counts(ws) == (3, 3)
    assert hints(ws) == {"a.jpg": "train", "b.png": "val", "c.jpg": "val"}


def test_voc_devkit_one_folder_down(ws: Workspace, tmp_path: Path) -> None:
    top = tmp_path / "VOCdevkit"
    image(top / "VOC2012" / "JPEGImages" / "2008_000001.jpg", 4)
    text(top / "VOC2012" / "Annotations" / "2008_000001.xml", voc_xml("2008_000001.jpg", [("car", (1, 2, 40, 30))]))
    text(top / "VOC2012" / "ImageSets" / "Main" / "val.txt", "2008_000001\n")
    report = import_dataset(ws, top)
    assert report.format == "voc" and report.ok and counts(ws) == (1, 1) and hints(ws) == {"2008_000001.jpg": "val"}


def test_raccoon_imports_at_its_top_folder(ws: Workspace) -> None:
    folder = shared_path("raccoon")
    report = import_dataset(ws, folder)
    assert report.format == "voc" and report.skipped == []
    assert report.detected["images"] == 200 and report.detected["annotations"] == 217
    # The dataset holds 4 pairs of byte-identical images (raccoon-116.jpg == raccoon-11.jpg, ...), each with its own
    # XML: one image each, both file names reported; one of them has the same raccoon boxed in both files.
    merges = [w["reason"] for w in report.warnings if "byte-identical" in w["reason"]]
    assert len(merges) == 4
    assert any("raccoon-116.jpg is byte-identical to raccoon-11.jpg" in m and "raccoon-116.xml and raccoon-11.xml"
               in m for m in merges)
    twice = [w for w in report.warnings if "the same object annotated twice" in w["reason"]]
    assert [(Path(w["path"]).name, w["element"]) for w in twice] == [("raccoon-116.xml", "object[1]")]
    assert report.images == 196 and report.annotations == 216 == ws.stats()["annotations"]
    assert ws.images.counts_by_status()["done"] == 196


# -- COCO -------------------------------------------------------------------------------------------------------------
def coco_doc(names: list[str], boxes: Optional[list[list[float]]] = None) -> dict[str, Any]:
    return {"images": [{"id": i + 1, "file_name": n, "width": W, "height": H} for i, n in enumerate(names)],
            "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 3, "bbox": b, "area": b[2] * b[3],
                             "iscrowd": 0, "segmentation": []} for i, b in enumerate(boxes or [])],
            "categories": [{"id": 3, "name": "car", "supercategory": "vehicle"}]}


def test_coco_2017_layout_with_split_named_sibling(ws: Workspace, tmp_path: Path) -> None:
    top = tmp_path / "coco_subset"
    image(top / "train2017" / "000000000009.jpg", 1)
    image(top / "val2017" / "000000000139.jpg", 2)
    text(top / "annotations" / "instances_train2017.json",
         json.dumps(coco_doc(["000000000009.jpg"], [[1, 2, 10, 10]])))
    text(top / "annotations" / "instances_val2017.json", json.dumps(coco_doc(["000000000139.jpg"], [[3, 3, 9, 9]])))
    report = import_dataset(ws, top)
    assert report.format == "coco" and report.ok and counts(ws) == (2, 2)
    assert hints(ws) == {"000000000009.jpg": "train", "000000000139.jpg": "val"}


def test_coco_json_next_to_images_deeper_down(ws: Workspace, tmp_path: Path) -> None:
    top = tmp_path / "download"
    image(top / "dataset" / "pics" / "a.jpg", 1)
    image(top / "dataset" / "pics" / "b.jpg", 2)
    text(top / "dataset" / "pics" / "labels.json", json.dumps(coco_doc(["a.jpg", "b.jpg"], [[1, 1, 5, 5]])))
    report = import_dataset(ws, top)
    assert report.format == "coco" and report.ok and counts(ws) == (2, 1)


def test_coco_annotations_folder_deeper_with_images_sibling(ws: Workspace, tmp_path: Path) -> None:
    top = tmp_path / "zip"
    image(top / "coco" / "images" / "train" / "a.jpg", 1)
    text(top / "coco" / "annotations" / "instances_train.json", json.dumps(coco_doc(["a.jpg"], [[1, 1, 5, 5]])))
    report = import_dataset(ws, top)
    assert report.format == "coco" and report.ok and counts(ws) == (1, 1) and hints(ws) == {"a.jpg": "train"}


# -- nothing found, dry run -------------------------------------------------------------------------------------------
def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_format_that_finds_nothing_exits_non_zero_saying_where_and_what(ws: Workspace, tmp_path: Path) -> None:
    ds = roboflow(tmp_path / "yolo_export")
    for fmt, expected in (("voc", "Annotations/"), ("coco", "COCO instances JSON"), ("labelme", "labelme JSON"),
                          ("cvat", "CVAT")):
        result = run("import-dataset", str(ds), "--format", fmt, "-w", str(ws.root))
        assert result.exit_code != 0, (fmt, result.output)
        assert str(ds) in result.output and expected in result.output, (fmt, result.output)
        assert "0 images" not in result.output
    with pytest.raises(FormatError, match="no voc dataset found.*looked in"):
        import_dataset(ws, ds, format="voc")
    assert counts(ws) == (0, 0)


def test_auto_that_detects_nothing_lists_what_it_expects(ws: Workspace, tmp_path: Path) -> None:
    image(tmp_path / "photos" / "a.jpg", 1)
    result = run("import-dataset", str(tmp_path / "photos"), "-w", str(ws.root))
    assert result.exit_code != 0
    assert "cannot tell the dataset format" in result.output and "data.yaml" in result.output
    assert "JPEGImages/" in result.output


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dry_run_reports_the_layout_and_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    ds = roboflow(tmp_path / "export")
    ws.close()
    before = snapshot(ws.root)
    result = run("import-dataset", str(ds), "--dry-run", "--json", "-w", str(ws.root))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] is True and report["images"] == 4 and report["annotations"] == 4
    detected = report["detected"]
    assert detected["format"] == "yolo" and detected["root"] == str(ds)
    assert detected["image_folders"] == {"test/images": 1, "train/images": 2, "valid/images": 1}
    assert detected["label_folders"] == {"test/labels": 1, "train/labels": 2, "valid/labels": 1}
    assert detected["splits"] == {"test": 1, "train": 2, "val": 1}
    assert detected["class_names"] == {"source": "data.yaml names", "names": ["cat", "dog"]}
    assert (detected["images"], detected["labelled_images"], detected["annotations"]) == (4, 4, 4)
    text_run = run("import-dataset", str(ds), "--dry-run", "-w", str(ws.root))
    assert text_run.exit_code == 0
    assert "format: yolo" in text_run.output and "train/images (2)" in text_run.output
    assert "class names (2) from data.yaml names: cat, dog" in text_run.output
    assert "nothing was written" in text_run.output
    assert snapshot(ws.root) == before
    with Workspace.open(ws.root) as again:
        assert again.stats()["images"] == 0
