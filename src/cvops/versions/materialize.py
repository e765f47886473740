"""A version as a writer's export data, and materialized as a YOLO dataset for training.

:func:`export_data` builds a writer's :class:`~cvops.formats.model.ExportData` from a version's frozen states and
classes (used by ``export_dataset(..., version=...)``). :func:`materialize` writes a YOLO layout of hard links into the
image store under ``cache/materialized/<content hash>/`` once, and reuses it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from cvops.formats import KINDS
from cvops.formats.common import unique_name
from cvops.formats.model import ExportClass, ExportData, ExportItem, ExportShape
from cvops.versions.create import VersionRef, get_version, member_files, version_classes

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace
    from cvops.versions.export import ExportReport


def export_data(ws: "Workspace", ref: VersionRef, allowed: tuple[str, ...], fmt: str,
                report: Optional["ExportReport"] = None) -> ExportData:
    """A writer's data for a version: its frozen classes (in order), images, splits and annotations of the kinds
    ``allowed``. Image bytes come from the workspace (store blob by content hash, or the in-place original)."""
    info = get_version(ws, ref)
    classes = [ExportClass(i, c["id"], c["name"], c["color"]) for i, c in enumerate(version_classes(ws, info.id))]
    index = {c.id: c.index for c in classes}
    items: list[ExportItem] = []
    taken: set[str] = set()
    skipped: dict[str, int] = {}
    for state, source in member_files(ws, info.id):
        item = ExportItem(state.image_id, source, unique_name(state.file_name, state.image_id, taken), state.width,
                          state.height, state.split)
        for ann in json.loads(state.annotations):
            if ann["kind"] not in allowed:
                skipped[ann["kind"]] = skipped.get(ann["kind"], 0) + 1
                continue
            item.shapes.append(ExportShape(index[ann["class_id"]], ann["kind"],
                                           tuple(ann["box"]) if ann["box"] else None, ann["points"],
                                           ann["attributes"]))
        items.append(item)
    if report is not None:
        for kind, count in skipped.items():
            report.skipped.append({"path": "", "reason": f"{count} {kind} annotations cannot be written in "
                                                         f"{fmt} format (it holds {', '.join(allowed)})"})
    return ExportData(classes, items)


def _boxes_as_polygons(data: ExportData) -> None:
    """Write boxes as 4-corner polygons: Ultralytics reads a label file with any polygon line as all polygons, and
    would misread ``cx cy w h`` as two points."""
    for item in data.items:
        for shape in item.shapes:
            if shape.kind == "box" and shape.box is not None:
                x, y, w, h = shape.box
                shape.kind, shape.points, shape.box = "polygon", [[x, y], [x + w, y], [x + w, y + h], [x, y + h]], None


def materialize(ws: "Workspace", ref: VersionRef, root: Optional[Path] = None, images_mode: str = "hardlink",
                task: Optional[str] = None) -> Path:
    """A YOLO layout of the version for training, built once and cached by content hash; returns its data.yaml.

    ``task`` ``detect`` writes every object as a box (a polygon's extent), ``segment`` every object as a polygon;
    None writes boxes when the version has no polygon, else polygons. Crowd regions are never written.

    Images are hard links into the store (a copy where the cache is on another file system; pass
    ``images_mode="symlink"`` to link instead), so materializing costs no image storage. The layout is written to a
    temporary folder and renamed into place, so an interrupted build leaves no half-written cache entry. Images whose
    file is gone (purged and collected) are left out.
    """
    from cvops.formats import yolo

    info = get_version(ws, ref)
    base = Path(root) if root is not None else ws.root / "cache" / "materialized"
    dest = base / (info.content_hash if task is None else f"{info.content_hash}-{task}")
    if (dest / "data.yaml").is_file():
        return dest / "data.yaml"
    base.mkdir(parents=True, exist_ok=True)
    data = export_data(ws, info.id, KINDS["yolo"], "yolo")
    data.items = [i for i in data.items if i.source.exists()]
    data.images_mode = images_mode
    data.task = task
    if task is None and any(sh.kind == "polygon" for item in data.items for sh in item.shapes):
        _boxes_as_polygons(data)
    tmp = Path(tempfile.mkdtemp(prefix=f".{info.content_hash}.tmp-", dir=base))
    try:
        yolo.write(data, tmp)
        if dest.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest / "data.yaml"
