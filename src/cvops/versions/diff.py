"""Comparing two dataset versions, exporting a version, and materializing one for training.

:func:`diff_versions` reads only the states that differ between the two versions (shared states are skipped by
key), so its cost follows the size of the change. :func:`export_data` builds a writer's :class:`ExportData` from a
version's frozen states and classes (used by ``export_dataset(..., version=...)``). :func:`materialize` writes a YOLO
layout of hard links into the image store under ``cache/materialized/<content hash>/`` once, and reuses it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cvops.formats.model import ExportClass, ExportData, ExportItem, ExportShape
from cvops.common.fsnames import from_text
from cvops.common.imageio import FORMAT_EXTENSION
from cvops.versions.create import VersionRef, get_version, version_classes

if TYPE_CHECKING:
    from cvops.versions.export import ExportReport
    from cvops.data.workspace import Workspace

ANNOTATION_FIELDS = ("class_id", "kind", "box", "points", "attributes")


def _member_keys(ws: "Workspace", version_id: int) -> set[str]:
    return {r[0] for r in ws.db.execute("SELECT state_hash FROM version_members WHERE version_id = ?", [version_id])}


def _states(ws: "Workspace", keys: set[str]) -> dict[int, tuple[str, list[dict[str, Any]]]]:
    """image_id -> (split, annotations) of the given state keys."""
    out: dict[int, tuple[str, list[dict[str, Any]]]] = {}
    wanted = sorted(keys)
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        for iid, split, anns in ws.db.execute(
                f"SELECT image_id, split, annotations FROM version_states WHERE hash IN ({', '.join('?' * len(part))})",
                part):
            out[iid] = (split, json.loads(anns))
    return out


def _count(target: dict[int, int], anns: list[dict[str, Any]], sign: int) -> None:
    for ann in anns:
        target[ann["class_id"]] = target.get(ann["class_id"], 0) + sign


def diff_versions(ws: "Workspace", a: VersionRef, b: VersionRef) -> dict[str, Any]:
    """What changed from version ``a`` to version ``b``.

    Keys: ``images_added``/``images_removed`` (image ids), ``images_moved`` (``{image_id, from, to}``),
    ``annotations_added``/``annotations_removed`` (``{image_id, id, class}``; those of added and removed images
    included), ``annotations_changed`` (``{image_id, id, class, changed: [...]}``; a class change also gives
    ``from_class``), ``classes_added``/``classes_removed`` (names), ``classes_renamed`` (``{id, from, to}``),
    ``class_count_deltas`` ``{class: delta}`` (annotations per class, counted by class id and named as in ``b``;
    zero deltas left out).
    """
    va, vb = get_version(ws, a), get_version(ws, b)
    ca, cb = version_classes(ws, va.id), version_classes(ws, vb.id)
    names_a = {c["id"]: c["name"] for c in ca}
    names_b = {c["id"]: c["name"] for c in cb}
    keys_a, keys_b = _member_keys(ws, va.id), _member_keys(ws, vb.id)
    old, new = _states(ws, keys_a - keys_b), _states(ws, keys_b - keys_a)
    # An unchanged image has the same state in both and is in neither; one in both changed.
    deltas: dict[int, int] = {}  # by class id, so a renamed class keeps one count
    out: dict[str, Any] = {"from": va.name, "to": vb.name, "images_added": [], "images_removed": [],
                           "images_moved": [], "annotations_added": [], "annotations_removed": [],
                           "annotations_changed": []}
    for iid in sorted(old.keys() | new.keys()):
        if iid not in old:
            out["images_added"].append(iid)
            _diff_annotations(out, iid, [], new[iid][1], names_a, names_b)
            _count(deltas, new[iid][1], 1)
            continue
        if iid not in new:
            out["images_removed"].append(iid)
            _diff_annotations(out, iid, old[iid][1], [], names_a, names_b)
            _count(deltas, old[iid][1], -1)
            continue
        (split_a, anns_a), (split_b, anns_b) = old[iid], new[iid]
        if split_a != split_b:
            out["images_moved"].append({"image_id": iid, "from": split_a, "to": split_b})
        _diff_annotations(out, iid, anns_a, anns_b, names_a, names_b)
        _count(deltas, anns_a, -1)
        _count(deltas, anns_b, 1)
    out["classes_added"] = [names_b[i] for i in names_b if i not in names_a]
    out["classes_removed"] = [names_a[i] for i in names_a if i not in names_b]
    out["classes_renamed"] = [{"id": i, "from": names_a[i], "to": names_b[i]} for i in names_b
                              if i in names_a and names_a[i] != names_b[i]]
    out["class_count_deltas"] = {names_b.get(k, names_a.get(k, str(k))): v for k, v in sorted(deltas.items()) if v}
    return out


def _diff_annotations(out: dict[str, Any], iid: int, anns_a: list[dict[str, Any]], anns_b: list[dict[str, Any]],
                      names_a: dict[int, str], names_b: dict[int, str]) -> None:
    by_a = {x["id"]: x for x in anns_a}
    by_b = {x["id"]: x for x in anns_b}
    for aid in sorted(by_b.keys() - by_a.keys()):
        out["annotations_added"].append({"image_id": iid, "id": aid, "class": names_b.get(by_b[aid]["class_id"])})
    for aid in sorted(by_a.keys() - by_b.keys()):
        out["annotations_removed"].append({"image_id": iid, "id": aid, "class": names_a.get(by_a[aid]["class_id"])})
    for aid in sorted(by_a.keys() & by_b.keys()):
        x, y = by_a[aid], by_b[aid]
        changed = [f for f in ANNOTATION_FIELDS if x.get(f) != y.get(f)]
        if changed:
            entry = {"image_id": iid, "id": aid, "class": names_b.get(y["class_id"]),
                     "changed": ["geometry" if f in ("box", "points") else f for f in changed]}
            entry["changed"] = list(dict.fromkeys(entry["changed"]))
            if "class_id" in changed:
                entry["from_class"] = names_a.get(x["class_id"])
            out["annotations_changed"].append(entry)


def export_data(ws: "Workspace", ref: VersionRef, allowed: tuple[str, ...], fmt: str,
                report: Optional["ExportReport"] = None) -> ExportData:
    """A writer's data for a version: its frozen classes (in order), images, splits and annotations of the kinds
    ``allowed``. Image bytes come from the workspace (store blob by content hash, or the in-place original)."""
    from cvops.versions.export import _unique_name

    info = get_version(ws, ref)
    classes = [ExportClass(i, c["id"], c["name"], c["color"]) for i, c in enumerate(version_classes(ws, info.id))]
    index = {c.id: c.index for c in classes}
    items: list[ExportItem] = []
    taken: set[str] = set()
    skipped: dict[str, int] = {}
    for iid, sha, w, h, name, split, anns, fmt_name, in_place, original in ws.db.execute(
            "SELECT s.image_id, s.sha256, s.width, s.height, s.file_name, s.split, s.annotations, i.format, "
            "i.in_place, i.original_path FROM version_members m JOIN version_states s ON s.hash = m.state_hash "
            "LEFT JOIN images i ON i.sha256 = s.sha256 WHERE m.version_id = ? ORDER BY s.image_id", [info.id]):
        if fmt_name is None:
            source = ws.store.root / "missing" / sha
        elif in_place:
            source = Path(from_text(original))
        else:
            source = ws.store.path(sha, FORMAT_EXTENSION[fmt_name.upper()])
        item = ExportItem(iid, source, _unique_name(name, iid, taken), w, h, split)
        for ann in json.loads(anns):
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
    from cvops.versions.export import KINDS

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
