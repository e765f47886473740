"""Dataset formats: YOLO, COCO, Pascal VOC, labelme and CVAT XML.

The table :data:`FORMATS` declares each format's capabilities; :func:`detect` picks the format of a folder or file.
Readers return a :class:`~cvops.formats.model.ParsedDataset`; writers take an
:class:`~cvops.formats.model.ExportData`. Importing into a workspace lives in ``importer.py``; writing a workspace's or a version's data in a format is
:mod:`cvops.versions.export` (a layer up).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cvops.formats.model import FormatError


@dataclass(frozen=True)
class FormatSpec:
    """One dataset format: its name, what it can do and where its code lives."""

    name: str
    title: str
    module: str
    can_import: bool
    can_export: bool

    def load(self) -> ModuleType:
        """The module with ``detect(path)``, ``read(path, progress, cancel)`` and (if it exports)
        ``write(data, out, progress, cancel)``."""
        return importlib.import_module(f"cvops.formats.{self.module}")


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("yolo", "Ultralytics / darknet YOLO (detection, segmentation)", "yolo", True, True),
        FormatSpec("coco", "COCO instances JSON", "coco", True, True),
        FormatSpec("voc", "Pascal VOC XML", "voc", True, True),
        FormatSpec("labelme", "labelme JSON (and LabelMe XML on import)", "labelme", True, True),
        FormatSpec("cvat", "CVAT for images 1.1 XML", "cvat", True, False),
    )
}
# What each reader looks for in the folder given (for the message when nothing is found).
EXPECTED: dict[str, str] = {
    "yolo": "a data.yaml with names and train/val/test here or one folder down, obj.data, train.txt, or images/ + "
            "labels/ folders (at any depth, e.g. Roboflow's train/ valid/ test/) with one .txt label file per image",
    "coco": "a COCO instances JSON file (images, annotations, categories) here or up to 3 folders down, with the "
            "images beside it, in its parent, an images/ or a split-named folder",
    "voc": "Pascal VOC XML files in Annotations/, annotations/, annots/ or xml/ (here or up to 2 folders down) or "
           "beside the images, the images in JPEGImages/, images/, imgs/ or beside the XML",
    "labelme": "labelme JSON files (shapes, imagePath) or LabelMe XML files under the folder",
    "cvat": "a CVAT for images 1.1 XML file (<annotations> with <image> elements) at the top of the folder",
}
# The annotation kinds each format's writer can hold; an export reports the rest as skipped.
KINDS: dict[str, tuple[str, ...]] = {"yolo": ("box", "polygon"), "coco": ("box", "polygon"), "voc": ("box",),
                                     "labelme": ("box", "polygon", "tag")}
IMPORT_FORMATS = tuple(n for n, s in FORMATS.items() if s.can_import)
EXPORT_FORMATS = tuple(n for n, s in FORMATS.items() if s.can_export)


def get(name: str, purpose: str = "import") -> FormatSpec:
    """The spec of a format by name, checked against what it can do."""
    spec = FORMATS.get(name.lower())
    if spec is None:
        raise FormatError(f"unknown format {name!r} (use one of {', '.join(FORMATS)})")
    if purpose == "export" and not spec.can_export:
        raise FormatError(f"format {name!r} can be imported but not exported (export: {', '.join(EXPORT_FORMATS)})")
    return spec


def detect(path: Path) -> str:
    """The name of the format of a dataset folder or annotation file; raises FormatError when none fits."""
    if not path.exists():
        raise FormatError(f"{path}: no such file or folder")
    for name, spec in FORMATS.items():
        if spec.load().detect(path):
            return name
    expected = "".join(f"\n  {name}: {EXPECTED[name]}" for name in IMPORT_FORMATS)
    raise FormatError(f"{path}: cannot tell the dataset format: no known layout found in {path} or its subfolders; "
                      f"pass --format ({', '.join(IMPORT_FORMATS)}) or point at a folder holding one of:{expected}")
