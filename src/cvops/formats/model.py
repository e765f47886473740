"""The format-neutral model that every dataset reader produces and every writer consumes.

Readers (``yolo.py``, ``coco.py``, ...) turn files into a :class:`ParsedDataset`: the source's classes in order,
one :class:`DatasetItem` per image with its :class:`LabelShape` list, and every :class:`Problem` found (file, line or
element, reason). Readers never touch a workspace; :mod:`cvops.formats.importer` does that. Writers receive an
:class:`ExportData` (classes in order, items with pixel geometry) and write into a folder that
:mod:`cvops.versions.export` renames into place when everything succeeded.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cvops.common.errors import CvopsError

Box = tuple[float, float, float, float]


class FormatError(CvopsError):
    """A dataset cannot be read or written at all (not a per-file problem); the message says why."""

    code = "format"


@dataclass
class Problem:
    """Something in the source that was skipped or could not be read, with where and why."""

    path: str
    reason: str
    line: Optional[int] = None
    element: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """``{path, reason}`` plus ``line`` / ``element`` when known."""
        out: dict[str, Any] = {"path": self.path, "reason": self.reason}
        if self.line is not None:
            out["line"] = self.line
        if self.element is not None:
            out["element"] = self.element
        return out

    def __str__(self) -> str:
        where = f":{self.line}" if self.line is not None else (f" [{self.element}]" if self.element else "")
        return f"{self.path}{where}: {self.reason}"


@dataclass
class LabelShape:
    """One annotation as read from a dataset file.

    ``box`` is ``(x, y, w, h)``; ``points`` is ``[[x, y], ...]``. With ``normalized`` the coordinates are fractions
    of the (EXIF-oriented) image width and height (YOLO); otherwise pixels. ``origin`` names the file and line or
    element, for messages.
    """

    label: str
    kind: str
    box: Optional[Box] = None
    points: Optional[list[list[float]]] = None
    attributes: dict[str, Any] = field(default_factory=dict)
    normalized: bool = False
    origin: Optional[Problem] = None


@dataclass
class DatasetItem:
    """One image of a dataset: where its file is, its shapes, its split (if the source says), and the size the
    annotation file declares (checked against the real image on import)."""

    image_path: Path
    shapes: list[LabelShape] = field(default_factory=list)
    split: Optional[str] = None
    label_path: Optional[Path] = None
    declared_size: Optional[tuple[int, int]] = None


@dataclass
class ParsedDataset:
    """What a reader found: classes in the source's order, items, problems (what is skipped) and warnings (what
    was read but is worth knowing, e.g. classes named ``class_<id>``); ``class_source`` says where the class names
    came from (a file, or how they were made up), for ``import-dataset --dry-run``. ``category_ids`` maps a class
    name to its id in the source (COCO category id), kept with the class so an export can write it back."""

    format: str
    root: Path
    classes: list[str] = field(default_factory=list)
    items: list[DatasetItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    category_ids: dict[str, int] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    class_source: str = ""


@dataclass(frozen=True)
class ExportClass:
    """A class as exported: ``index`` is its 0-based position in the class order (YOLO id); ``id`` is the
    workspace's stable class id; ``coco_id`` the category id the class had in an imported COCO dataset (written
    back as the COCO category id when set and unique, else ``id`` is)."""

    index: int
    id: int
    name: str
    color: str
    coco_id: Optional[int] = None


@dataclass
class ExportShape:
    """One annotation to write, in pixels of the oriented image. A multi-part polygon has its outlines one after the
    other in ``points`` and their lengths in ``attributes["polygon_parts"]``; a crowd region has
    ``attributes["iscrowd"] == 1`` (see :mod:`cvops.data.annotations`)."""

    class_index: int
    kind: str
    box: Optional[Box] = None
    points: Optional[list[list[float]]] = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportItem:
    """One image to write: the source file, the file name to use in the export (unique within the export),
    its size, split and shapes."""

    image_id: int
    source: Path
    file_name: str
    width: int
    height: int
    split: str
    shapes: list[ExportShape] = field(default_factory=list)


@dataclass
class ExportData:
    """Everything a writer needs. ``task`` tells the YOLO writer what the labels are for: ``detect`` writes every
    object as a box (a polygon's extent), ``segment`` every object as a polygon (a box's 4 corners), None each as it
    is."""

    classes: list[ExportClass]
    items: list[ExportItem]
    images_mode: str = "copy"
    task: Optional[str] = None

    @property
    def splits(self) -> list[str]:
        """The splits present, in train/val/test order first."""
        order = {"train": 0, "val": 1, "test": 2}
        return sorted({i.split for i in self.items}, key=lambda s: (order.get(s, 3), s))


IMAGE_MODES = ("copy", "hardlink", "symlink")


def place_image(src: Path, dest: Path, mode: str) -> None:
    """Put an image file into an export: a copy, a hard link (falls back to a copy across file systems) or a
    symbolic link."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mode == "copy":
        shutil.copyfile(src, dest)
    elif mode == "hardlink":
        try:
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)
    elif mode == "symlink":
        os.symlink(os.path.abspath(src), dest)
    else:
        raise FormatError(f"unknown images mode {mode!r} (use one of {', '.join(IMAGE_MODES)})")


def resolve_inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths and ``..`` that would leave ``root`` (checked lexically, so a
    symlinked image folder inside the dataset still works).

    Raises ValueError with a reason.
    """
    if not relative or "\x00" in relative:
        raise ValueError("empty or invalid file name")
    rel = relative.replace("\\", "/")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise ValueError(f"absolute path {relative!r} is not allowed in a dataset file")
    base = Path(os.path.abspath(root))
    target = Path(os.path.normpath(base / rel))
    if target != base and base not in target.parents:
        raise ValueError(f"path {relative!r} escapes the dataset folder")
    return target
