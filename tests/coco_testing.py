"""Helpers shared by the COCO reader and writer tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from prerequisites import SHARED, needs_shared

from cvops.formats.model import ParsedDataset

FIXTURES = SHARED / "formats" / "coco_dataset"
needs_fixtures = needs_shared("formats", "coco_dataset")  # the datumaro COCO fixtures

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
