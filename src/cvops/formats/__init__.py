"""Dataset formats: YOLO, COCO, Pascal VOC, labelme and CVAT XML.

The table :data:`FORMATS` declares each format's capabilities; :func:`detect` picks the format of a folder or file.
Readers return a :class:`~cvops.formats.model.ParsedDataset`; writers take an
:class:`~cvops.formats.model.ExportData`. Workspace-side work lives in ``importer.py`` and ``exporter.py``.
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
    raise FormatError(f"{path}: cannot tell the dataset format; pass --format ({', '.join(IMPORT_FORMATS)})")
