"""Export the workspace (or part of it) as a dataset in a supported format.

The export is written into a temporary folder beside the destination and renamed into place only when every file
was written, so a failed or cancelled export leaves nothing half-written. Class order is the workspace's order
(``ExportClass.index``: YOLO ids, ``classes.txt``); COCO category ids are the ids the classes were imported with
(``classes.coco_id``) where known and unique, else the workspace's stable class ids.

Objects stay objects in every format: a multi-part polygon is one COCO annotation with several polygons, one YOLO
line (a box, or its parts joined as Ultralytics joins them) and in labelme one polygon per part sharing a
``group_id``. Crowd (ignore) regions go to COCO as ``iscrowd: 1`` and keep their ``iscrowd`` attribute in labelme
and VOC; YOLO labels are training data and leave them out (reported as skipped).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from cvops import formats
from cvops.formats import KINDS
from cvops.formats.common import unique_name
from cvops.data.annotations import PARTS, is_crowd, polygon_rings
from cvops.formats.model import IMAGE_MODES, ExportClass, ExportData, ExportItem, ExportShape, FormatError
from cvops.data.images import ImageFilter
from cvops.common.jobs import CancelToken, Progress, no_progress, sub_progress
from cvops.data.workspace import Workspace
from cvops.versions.materialize import export_data

DEFAULT_SPLIT = "train"


class EmptyExportError(FormatError):
    """An export would hold no image; the message says why. Nothing is written. CLI exit 1."""

    code = "empty_export"
    exit_code = 1


@dataclass
class ExportReport:
    """What :func:`export_dataset` wrote."""

    format: str
    out: str
    images: int = 0
    annotations: int = 0
    classes: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def collect(ws: Workspace, fmt: str, statuses: Optional[Sequence[str]] = None,
            report: Optional[ExportReport] = None, version: Optional[Union[int, str]] = None) -> ExportData:
    """Gather classes, images (filtered by status) and their annotations for a writer; with ``version`` (a name,
    id or content-hash prefix), exactly that version's frozen classes, images, splits and annotations instead."""
    if version is not None:
        return export_data(ws, version, KINDS[fmt], fmt, report)
    classes = [ExportClass(i, c.id, c.name, c.color) for i, c in enumerate(ws.classes.list())]
    index = {c.id: c.index for c in classes}
    allowed = KINDS[fmt]
    flt = ImageFilter(statuses=tuple(statuses) if statuses else None)
    hints = dict(ws.db.execute(
        "SELECT image_id, split FROM split_hints h WHERE recorded_at = "
        "(SELECT MAX(recorded_at) FROM split_hints WHERE image_id = h.image_id)").fetchall())
    items: list[ExportItem] = []
    by_id: dict[int, ExportItem] = {}
    taken: set[str] = set()
    after = 0
    while True:
        page = ws.images.page(flt, after_id=after, limit=1000)
        if not page:
            break
        for image in page:
            split = hints.get(image.id, DEFAULT_SPLIT)
            name = unique_name(image.file_name, image.id, taken)
            item = ExportItem(image.id, ws.images.path(image), name, image.width, image.height, split)
            items.append(item)
            by_id[image.id] = item
        after = page[-1].id
    skipped_kinds: dict[str, int] = {}
    for image_id, class_id, kind, x, y, w, h, points, attributes in ws.db.execute(
        "SELECT image_id, class_id, kind, x, y, w, h, points, attributes FROM annotations WHERE source = 'manual' "
        "ORDER BY image_id, id"
    ):
        item = by_id.get(image_id)
        if item is None:
            continue
        if kind not in allowed:
            skipped_kinds[kind] = skipped_kinds.get(kind, 0) + 1
            continue
        item.shapes.append(ExportShape(index[class_id], kind, (x, y, w, h) if kind == "box" else None,
                                       json.loads(points) if points else None, json.loads(attributes or "{}")))
    if report is not None:
        for kind, count in skipped_kinds.items():
            report.skipped.append({"path": "", "reason": f"{count} {kind} annotations cannot be written in "
                                                         f"{fmt} format (it holds {', '.join(allowed)})"})
    return ExportData(classes, items)


def _with_coco_ids(ws: Workspace, data: ExportData) -> None:
    """Fill in each class's ``coco_id`` (the category id it was imported with) from the workspace's classes."""
    known = dict(ws.db.execute("SELECT id, coco_id FROM classes WHERE coco_id IS NOT NULL").fetchall())
    data.classes = [replace(c, coco_id=known.get(c.id)) for c in data.classes]


def _labelme_parts(item: ExportItem) -> None:
    """Split multi-part polygons into one labelme polygon per part, grouped by a ``group_id`` new in the image."""
    used = [s.attributes["group_id"] for s in item.shapes if isinstance(s.attributes.get("group_id"), int)]
    next_group = max(used, default=0) + 1
    shapes: list[ExportShape] = []
    for shape in item.shapes:
        rings = polygon_rings(shape.points, shape.attributes) if shape.kind == "polygon" and shape.points else []
        if len(rings) < 2:
            shapes.append(shape)
            continue
        attrs = {k: v for k, v in shape.attributes.items() if k != PARTS}
        if not isinstance(attrs.get("group_id"), int):
            attrs["group_id"], next_group = next_group, next_group + 1
        shapes += [ExportShape(shape.class_index, "polygon", points=ring, attributes=dict(attrs)) for ring in rings]
    item.shapes = shapes


def _adapt(data: ExportData, fmt: str, report: ExportReport) -> int:
    """Fit multi-part polygons and crowd regions to the format (see the module doc); return how many annotations
    (objects, however many parts) are written."""
    crowd = 0
    objects = sum(len(i.shapes) for i in data.items)
    for item in data.items:
        if fmt == "yolo":
            kept = [s for s in item.shapes if not is_crowd(s.attributes)]
            crowd += len(item.shapes) - len(kept)
            item.shapes = kept
            continue
        if fmt != "coco":  # the RLE mask a crowd region came with means something to COCO only
            for shape in item.shapes:
                shape.attributes.pop("coco_rle", None)
        if fmt == "labelme":
            _labelme_parts(item)
    if crowd:
        report.skipped.append({"path": "", "reason": f"{crowd} crowd (ignore) regions are not written: YOLO labels "
                                                     "are training data and have no ignore regions"})
    return objects - crowd


def _place(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished export into place (replacing an existing one only with ``overwrite``)."""
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        if not overwrite:
            raise FormatError(f"{out} already exists and is not empty; use --overwrite to replace it")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()
        return
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)


def _empty_reason(ws: Workspace, statuses: Optional[Sequence[str]], version: Optional[Union[int, str]],
                  missing: int) -> str:
    """Why an export would hold no image; nothing was written."""
    from cvops.versions.create import empty_reason

    if missing:
        return f"all {missing} images of the export are missing on disk (run cvops doctor); nothing was exported"
    if version is not None:
        return f"version {version} holds no image; nothing was exported"
    return empty_reason(ws, statuses, "an export") + "; nothing was exported"


def export_dataset(ws: Workspace, out: Path, format: str, statuses: Optional[Sequence[str]] = None,
                   images_mode: str = "copy", overwrite: bool = False, progress: Optional[Progress] = None,
                   cancel: Optional[CancelToken] = None, version: Optional[Union[int, str]] = None) -> ExportReport:
    """Write the workspace's images with the given statuses (all when None) and their annotations to ``out``; with
    ``version``, exactly that dataset version (``statuses`` then does not apply)."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    spec = formats.get(format, purpose="export")
    if images_mode not in IMAGE_MODES:
        raise FormatError(f"unknown images mode {images_mode!r} (use one of {', '.join(IMAGE_MODES)})")
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise FormatError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FormatError(f"{out} already exists and is not empty; use --overwrite to replace it")
    report = ExportReport(format=spec.name, out=str(out))
    progress(0.0, "collecting")
    data = collect(ws, spec.name, statuses, report, version=version)
    data.images_mode = images_mode
    missing = [i for i in data.items if not i.source.exists()]
    for item in missing:
        report.skipped.append({"path": str(item.source), "reason": "image file is missing (run cvops doctor)"})
    data.items = [i for i in data.items if i.source.exists()]
    if not data.items:
        raise EmptyExportError(_empty_reason(ws, statuses, version, len(missing)))
    _with_coco_ids(ws, data)
    objects = _adapt(data, spec.name, report)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        spec.load().write(data, tmp, progress=sub_progress(progress, 0.05, 0.95), cancel=cancel)
        cancel.raise_if_cancelled()
        _place(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.images = len(data.items)
    report.annotations = objects
    report.classes = len(data.classes)
    for item in data.items:
        report.splits[item.split] = report.splits.get(item.split, 0) + 1
    report.seconds = time.perf_counter() - started
    progress(1.0, "done")
    return report

