"""Our exports, written from a real workspace, load in other tools with identical boxes: supervision's
DetectionDataset.from_yolo / from_coco / from_pascal_voc, and pycocotools."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from cvops import Workspace
from cvops.data.annotations import NewAnnotation
from cvops.versions.export import export_dataset
from cvops.data.ingest import import_paths
from cvops.samples import shapes

if TYPE_CHECKING:
    import supervision as sv


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("interop")
    samples = shapes.generate(root / "src", count=10, size=96, seed=3, ext=".jpg")
    ws = Workspace.create(root / "ws")
    report = import_paths(ws, [root / "src"])
    for name in shapes.CLASSES:
        ws.classes.add(name)
    ws.annotations.add_many([NewAnnotation(report.path_ids[str(s.path.resolve())], sh.label, box=sh.box)
                             for s in samples for sh in s.shapes])
    yield ws
    ws.close()


def expected(ws: Workspace) -> dict[str, np.ndarray]:
    """file name -> xyxy boxes sorted."""
    out = {}
    for image in ws.images.page(limit=100):
        boxes = [(x, y, x + w, y + h) for x, y, w, h in (a.box for a in ws.annotations.for_image(image.id))]
        out[image.file_name] = np.array(sorted(boxes), dtype=float).reshape(-1, 4)
    return out


def compare(ds: sv.DetectionDataset, want: dict[str, np.ndarray], tolerance: float) -> None:
    got = {Path(path).name: np.array(sorted(map(tuple, det.xyxy)), dtype=float).reshape(-1, 4)
           for path, _, det in ds}
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].shape == want[name].shape, name
        assert np.abs(got[name] - want[name]).max(initial=0) <= tolerance, name
    assert sum(len(v) for v in got.values()) == sum(len(v) for v in want.values())


def test_supervision_reads_our_yolo_export(workspace: Workspace, tmp_path: Path) -> None:
    import supervision as sv  # here, not at module level: quicker collection

    export_dataset(workspace, tmp_path / "yolo", "yolo")
    ds = sv.DetectionDataset.from_yolo(images_directory_path=str(tmp_path / "yolo" / "images" / "train"),
                                       annotations_directory_path=str(tmp_path / "yolo" / "labels" / "train"),
                                       data_yaml_path=str(tmp_path / "yolo" / "data.yaml"))
    assert ds.classes == list(shapes.CLASSES)
    compare(ds, expected(workspace), 0.01)


def test_supervision_reads_our_coco_export(workspace: Workspace, tmp_path: Path) -> None:
    import supervision as sv  # here, not at module level: quicker collection

    export_dataset(workspace, tmp_path / "coco", "coco")
    ds = sv.DetectionDataset.from_coco(images_directory_path=str(tmp_path / "coco" / "images" / "train"),
                                       annotations_path=str(tmp_path / "coco" / "annotations" /
                                                            "instances_train.json"))
    assert set(ds.classes) == set(shapes.CLASSES)
    compare(ds, expected(workspace), 0.01)


def test_supervision_reads_our_voc_export(workspace: Workspace, tmp_path: Path) -> None:
    import supervision as sv  # here, not at module level: quicker collection

    export_dataset(workspace, tmp_path / "voc", "voc")
    ds = sv.DetectionDataset.from_pascal_voc(images_directory_path=str(tmp_path / "voc" / "JPEGImages"),
                                             annotations_directory_path=str(tmp_path / "voc" / "Annotations"))
    compare(ds, expected(workspace), 0.01)


def test_pycocotools_evaluates_our_coco_export(workspace: Workspace, tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    export_dataset(workspace, tmp_path / "coco", "coco")
    gt = COCO(str(tmp_path / "coco" / "annotations" / "instances_train.json"))
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in gt.dataset["annotations"]]
    evaluator = COCOeval(gt, gt.loadRes(dets), "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)
    assert len(gt.getImgIds()) == 10 and len(gt.getCatIds()) == 3
