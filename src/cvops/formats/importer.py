"""Import a dataset (images + annotations + classes) into a workspace, through the foundation's ingest.

Pipeline: detect and read the format (a :class:`~cvops.formats.model.ParsedDataset`), rename classes with the class
map, probe every image and validate every shape against the real image size (nothing is written yet, so ``strict``
can refuse the whole import), ingest the images (dedupe by hash, copy or in place), create missing classes, add the
annotations that are not already there as one operation (one undo step), mark the images that came with annotations
``done`` (a second undo step), and record the source's splits as hints. Importing the same dataset twice adds no
duplicate annotations. Byte-identical image files of one dataset become one image (their labels merged, each merge
reported) and an object annotated twice (same class, IoU >= :data:`DUPLICATE_IOU`) is kept once and reported.
``dry_run`` reads and checks everything and reports what was detected, writing nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Optional

import yaml

from cvops import formats
from cvops.data.annotations import PARTS, NewAnnotation, clip_box, clip_polygon, polygon_rings
from cvops.catalog.db import transaction
from cvops.catalog.statuses import STATUSES
from cvops.catalog.store import sha256_file
from cvops.common.errors import ValidationError
from cvops.common.text import counted
from cvops.formats.common import read_reason, read_text
from cvops.formats.model import DatasetItem, FormatError, LabelShape, ParsedDataset, Problem
from cvops.common.imageio import ImageInfo, ProbeError, probe
from cvops.data.ingest import import_paths
from cvops.common.jobs import CancelToken, Progress, no_progress, sub_progress
from cvops.data.workspace import Workspace

# Coordinates this far outside the image are rounding, clipped silently; beyond it the clip is reported.
CLIP_TOLERANCE_PX = 0.5
# Two shapes of one class on one image overlapping at least this much are the same object annotated twice.
DUPLICATE_IOU = 0.9
# The status of images that arrive with annotations (``status=`` overrides it).
LABELLED_STATUS = "done"
DEFAULT_STATUS = "new"


class DatasetImportError(FormatError):
    """``strict`` import refused: the dataset has problems; nothing was written."""

    code = "refused"
    exit_code = 1

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"strict import refused: {len(problems)} problems, nothing was imported\n{shown}{more}")

    def details(self) -> dict[str, Any]:
        """Every problem, as ``{path, reason, line?, element?}``."""
        return {"problems": [p.to_dict() for p in self.problems]}


@dataclass
class DatasetImportReport:
    """What :func:`import_dataset` did. ``skipped`` lists what was not imported; ``warnings`` what was changed or
    is worth knowing (clipped geometry, size mismatches, merged duplicates, made-up class names); both as
    ``{path, reason, line?, element?}``. ``statuses``: images whose review status the import set, per status.
    ``detected``: the layout found (see :func:`describe`). With ``dry_run`` nothing was written and ``images`` /
    ``annotations`` are what an import would bring."""

    format: str
    source: str
    images: int = 0
    images_new: int = 0
    annotations: int = 0
    annotations_existing: int = 0
    classes_created: int = 0
    classes_created_names: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    detected: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was skipped and the import was not cancelled."""
        return not self.skipped and not self.cancelled

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def load_class_map(path: Path) -> dict[str, str]:
    """Read a class map file: a YAML/JSON mapping ``{source name: workspace name}``."""
    try:
        data = yaml.safe_load(read_text(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read class map: {read_reason(exc)}") from None
    except yaml.YAMLError as exc:
        raise FormatError(f"{path}: class map is not valid YAML/JSON: {exc}") from None
    except RecursionError:
        raise FormatError(f"{path}: class map is nested too deeply to read (it must be a flat mapping)") from None
    if not isinstance(data, dict) or not all(isinstance(k, (str, int)) and isinstance(v, (str, int))
                                             for k, v in data.items()):
        raise FormatError(f"{path}: class map must be a mapping of source class names to workspace class names")
    return {str(k).strip(): str(v).strip() for k, v in data.items()}


def _origin(shape: LabelShape, item: DatasetItem) -> Problem:
    return shape.origin or Problem(str(item.label_path or item.image_path), "")


def _problem(where: Problem, reason: str) -> Problem:
    return Problem(where.path, reason, where.line, where.element)


def _pixels(shape: LabelShape, width: int, height: int) -> LabelShape:
    if not shape.normalized:
        return shape
    box = None
    if shape.box is not None:
        x, y, w, h = shape.box
        box = (x * width, y * height, w * width, h * height)
    points = [[px * width, py * height] for px, py in shape.points] if shape.points is not None else None
    return LabelShape(shape.label, shape.kind, box, points, shape.attributes, False, shape.origin)


def _validate(shape: LabelShape, width: int, height: int) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """Pixel geometry for the catalog, and a warning when it had to be clipped; raises ValidationError."""
    if shape.kind == "box":
        if shape.box is None:
            raise ValidationError("box without coordinates")
        clipped = clip_box(shape.box, width, height)
        warn = None
        if clipped != tuple(shape.box) and max(abs(a - b) for a, b in zip(clipped, shape.box)) > CLIP_TOLERANCE_PX:
            warn = f"box ({', '.join(f'{v:g}' for v in shape.box)}) extends beyond the {width}x{height} image; clipped"
        return {"box": clipped}, warn
    if shape.kind == "polygon":
        if shape.points is None:
            raise ValidationError("polygon without points")
        clipped_pts = clip_polygon(shape.points, width, height, parts=shape.attributes.get(PARTS))
        moved = max(abs(a - b) for p, q in zip(clipped_pts, shape.points) for a, b in zip(p, q))
        warn = f"polygon extends beyond the {width}x{height} image; clipped" if moved > CLIP_TOLERANCE_PX else None
        return {"points": clipped_pts}, warn
    if shape.kind == "tag":
        return {}, None
    raise ValidationError(f"unknown annotation kind {shape.kind!r}")


def _signature(kind: str, class_id: int, box: Any, points: Any) -> tuple:
    """Identity of an annotation for idempotent re-import (geometry rounded to 1/1000 px)."""
    if kind == "box":
        return (kind, class_id, tuple(round(v, 3) for v in box))
    if kind == "polygon":
        return (kind, class_id, tuple(round(v, 3) for p in points for v in p))
    return (kind, class_id)


class _Shape(NamedTuple):
    """A validated shape: workspace class name, kind, attributes and pixel geometry (``box`` or ``points``)."""

    label: str
    kind: str
    attributes: dict[str, Any]
    geometry: dict[str, Any]
    origin: Problem


@dataclass
class _Prepared:
    item: DatasetItem
    path: Path  # the resolved image path
    info: ImageInfo
    shapes: list[_Shape]


def _prepare(parsed: ParsedDataset, class_map: dict[str, str], progress: Progress,
             cancel: CancelToken) -> tuple[list[_Prepared], list[Problem], list[Problem]]:
    """Probe images and validate shapes; nothing is written. Returns prepared items, skipped and warnings."""
    lowered = {k.lower(): v for k, v in class_map.items()}
    labels: dict[str, str] = {}
    skipped: list[Problem] = list(parsed.problems)
    warnings: list[Problem] = []
    prepared: list[_Prepared] = []
    seen: dict[Path, int] = {}
    for n, item in enumerate(parsed.items):
        if n % 200 == 0:
            cancel.raise_if_cancelled()
            progress(n / max(len(parsed.items), 1), f"checking {n}/{len(parsed.items)} images")
        try:
            info = probe(item.image_path)
        except ProbeError as exc:
            skipped.append(Problem(str(item.image_path), f"image skipped: {exc}"))
            continue
        width, height = info.width, info.height
        if item.declared_size and tuple(item.declared_size) != (width, height):
            dw, dh = item.declared_size
            warnings.append(Problem(str(item.label_path or item.image_path),
                                    f"annotation declares image size {dw}x{dh}, the image is {width}x{height}"))
        shapes = []
        for shape in item.shapes:
            label = labels.get(shape.label)
            if label is None:
                label = labels[shape.label] = lowered.get(shape.label.strip().lower(), shape.label.strip())
            if not label:
                skipped.append(_problem(_origin(shape, item), "annotation without a class name"))
                continue
            try:
                geometry, warn = _validate(_pixels(shape, width, height), width, height)
            except ValidationError as exc:
                skipped.append(_problem(_origin(shape, item), f"{shape.kind} skipped: {exc}"))
                continue
            if warn:
                warnings.append(_problem(_origin(shape, item), warn))
            shapes.append(_Shape(label, shape.kind, shape.attributes, geometry, _origin(shape, item)))
        key = item.image_path.resolve()
        if key in seen:  # the same file listed twice (e.g. in two split lists): merge its shapes
            prepared[seen[key]].shapes.extend(shapes)
            continue
        seen[key] = len(prepared)
        prepared.append(_Prepared(item, key, info, shapes))
    return prepared, skipped, warnings


def _where(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (``.`` for the root itself), or as is when outside it."""
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return str(path)


CLASS_SOURCES = {"coco": "categories", "voc": "<object><name> elements", "labelme": "shape labels",
                 "cvat": "<meta> labels"}


def describe(parsed: ParsedDataset, format: str) -> dict[str, Any]:
    """What a reader detected: format, root, image and label folders (relative to the root, with image counts),
    splits, where the class names came from and counts."""
    root = Path(parsed.root)
    images = Counter(_where(item.image_path.parent, root) for item in parsed.items)
    labels = Counter(_where(item.label_path.parent, root) for item in parsed.items if item.label_path is not None)
    splits = Counter(item.split or "(none)" for item in parsed.items)
    return {"format": format, "root": str(root), "image_folders": dict(sorted(images.items())),
            "label_folders": dict(sorted(labels.items())), "splits": dict(sorted(splits.items())),
            "class_names": {"source": parsed.class_source or CLASS_SOURCES.get(format, ""), "names": parsed.classes},
            "images": len(parsed.items), "labelled_images": sum(1 for i in parsed.items if i.shapes),
            "annotations": sum(len(i.shapes) for i in parsed.items)}


def _nothing_found(path: Path, name: str, parsed: ParsedDataset) -> FormatError:
    """The error of a read that found no image at all: where it looked, what it expected, and what it skipped."""
    shown = "".join(f"\n  {p}" for p in parsed.problems[:10])
    more = f"\n  … and {len(parsed.problems) - 10} more" if len(parsed.problems) > 10 else ""
    return FormatError(f"{path}: no {name} dataset found: no images (looked in {path} and its subfolders; expected "
                       f"{formats.EXPECTED[name]})" + (f"; problems:{shown}{more}" if shown else ""))


def import_dataset(ws: Optional[Workspace], path: Path, format: str = "auto",
                   class_map: Optional[dict[str, str]] = None, strict: bool = False, in_place: bool = False,
                   progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None,
                   status: Optional[str] = None, dry_run: bool = False) -> DatasetImportReport:
    """Import a dataset folder or annotation file in any supported format; see the module docstring.

    ``strict`` raises :class:`DatasetImportError` listing every problem and writes nothing when any shape or image
    would be skipped or changed. Otherwise problems are reported and the rest is imported. A dataset in which no
    image is found raises :class:`FormatError` saying where the reader looked and what it expected. Images that
    come with annotations get the status ``done`` when their status is ``new``; ``status`` sets that status on
    every image that comes with annotations instead. ``dry_run`` writes nothing (``ws`` may be None) and reports
    what was detected and would be imported.
    """
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    path = Path(path)
    if status is not None and status not in STATUSES:
        raise ValidationError(f"unknown status {status!r} (use one of {', '.join(STATUSES)})")
    name = formats.detect(path) if format == "auto" else formats.get(format).name
    report = DatasetImportReport(format=name, source=str(path), dry_run=dry_run)
    progress(0.0, f"reading {name} dataset")
    parsed = formats.get(name).load().read(path, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel)
    if not parsed.items:
        raise _nothing_found(path, name, parsed)
    report.detected = describe(parsed, name)
    prepared, skipped, warnings = _prepare(parsed, class_map or {}, sub_progress(progress, 0.2, 0.3), cancel)
    warnings = list(parsed.warnings) + warnings
    prepared = _merge_identical(prepared, warnings)
    for p in prepared:
        p.shapes = _dedupe(p, warnings)
    if strict and (skipped or warnings):
        raise DatasetImportError(skipped + warnings)
    report.skipped = [p.to_dict() for p in skipped]
    report.warnings = [p.to_dict() for p in warnings]
    if dry_run or ws is None:
        report.dry_run = True
        report.images = len(prepared)
        report.annotations = sum(len(p.shapes) for p in prepared)
        report.splits = dict(Counter(p.item.split for p in prepared if p.item.split))
        report.seconds = time.perf_counter() - started
        progress(1.0, "dry run: nothing written")
        return report

    ids = _ingest(ws, prepared, Path(parsed.root).resolve(), in_place, report, sub_progress(progress, 0.3, 0.8),
                  cancel)
    if report.cancelled:
        report.seconds = time.perf_counter() - started
        return report
    progress(0.8, "classes")
    class_ids = _classes(ws, parsed, prepared, class_map or {}, report)
    progress(0.85, "annotations")
    _annotations(ws, prepared, ids, class_ids, report, path)
    _statuses(ws, prepared, ids, status, report)
    _split_hints(ws, prepared, ids, f"{name}:{path.resolve()}", report)
    report.seconds = time.perf_counter() - started
    progress(1.0, "done")
    return report


def _label_name(p: _Prepared) -> str:
    return p.item.label_path.name if p.item.label_path is not None else "no label file"


def _merge_identical(prepared: list[_Prepared], warnings: list[Problem]) -> list[_Prepared]:
    """One entry per distinct image content: byte-identical files (several label files for one image) are merged
    into the first, each merge reported with both file names. Only files of equal size are hashed."""
    by_size: dict[int, list[int]] = defaultdict(list)
    for n, p in enumerate(prepared):
        try:
            by_size[os.stat(p.path).st_size].append(n)
        except OSError:
            continue
    drop: set[int] = set()
    for group in (g for g in by_size.values() if len(g) > 1):
        first: dict[str, int] = {}
        for n in group:
            try:
                digest = sha256_file(prepared[n].path)
            except OSError:
                continue
            if digest not in first:
                first[digest] = n
                continue
            keep, other = prepared[first[digest]], prepared[n]
            warnings.append(Problem(
                str(other.item.label_path or other.path),
                f"image {other.path.name} is byte-identical to {keep.path.name}: imported once, the annotations of "
                f"{_label_name(other)} and {_label_name(keep)} merged ({other.path} and {keep.path})"))
            keep.shapes.extend(other.shapes)
            drop.add(n)
    return [p for n, p in enumerate(prepared) if n not in drop]


def _box_iou(a: Any, b: Any) -> float:
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - ix * iy
    return ix * iy / union if union > 0 else 0.0


def _extent(points: list[list[float]]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def _overlap(a: _Shape, b: _Shape, width: int, height: int) -> float:
    """IoU of two boxes, or of two polygons (rasterized by pycocotools, only when their extents overlap at IoU >=
    0.5); 0 for other pairs."""
    if a.kind == b.kind == "box":
        return _box_iou(a.geometry["box"], b.geometry["box"])
    if a.kind == b.kind == "polygon":
        from pycocotools import mask as mask_utils

        if _box_iou(_extent(a.geometry["points"]), _extent(b.geometry["points"])) < 0.5:
            return 0.0
        flat = [[[v for pt in ring for v in pt] for ring in polygon_rings(s.geometry["points"], s.attributes)]
                for s in (a, b)]
        rles = [mask_utils.merge(mask_utils.frPyObjects(f, height, width)) for f in flat]
        return float(mask_utils.iou([rles[0]], [rles[1]], [0])[0][0])
    return 0.0


def _dedupe(p: _Prepared, warnings: list[Problem]) -> list[_Shape]:
    """The shapes of one image without repeats: a shape of the same class overlapping a kept one at IoU >=
    DUPLICATE_IOU is dropped and reported (tags are left to the idempotent add)."""
    kept: list[_Shape] = []
    for shape in p.shapes:
        twin = next(((k, iou) for k in kept if k.label.lower() == shape.label.lower() and k.kind == shape.kind
                     for iou in [_overlap(k, shape, p.info.width, p.info.height)] if iou >= DUPLICATE_IOU), None)
        if twin is None:
            kept.append(shape)
            continue
        first, iou = twin
        where = first.origin.path + (f":{first.origin.line}" if first.origin.line is not None else
                                     f" [{first.origin.element}]" if first.origin.element else "")
        warnings.append(_problem(shape.origin, f"the same object annotated twice: {shape.kind} of class "
                                               f"{shape.label!r} overlaps the one at {where} (IoU {iou:.2f}); "
                                               f"kept once"))
    return kept


def _ingest(ws: Workspace, prepared: list[_Prepared], root: Path, in_place: bool, report: DatasetImportReport,
            progress: Progress, cancel: CancelToken) -> dict[Path, int]:
    """Ingest the images; return resolved image path -> image id. Files outside the dataset folder (e.g. images
    extracted from embedded data into a temp folder) are always copied."""
    inside = [p.path for p in prepared if root in p.path.parents]
    outside = [p.path for p in prepared if root not in p.path.parents]
    probed = {p.path: p.info for p in prepared}
    ids: dict[Path, int] = {}
    for files, place, lo, hi in ((inside, in_place, 0.0, 0.9), (outside, False, 0.9, 1.0)):
        if not files:
            continue
        result = import_paths(ws, files, in_place=place, progress=sub_progress(progress, lo, hi), cancel=cancel,
                              probed=probed)
        report.images_new += result.imported
        report.cancelled = report.cancelled or result.cancelled
        report.skipped += [{"path": e["path"], "reason": f"image skipped: {e['reason']}"} for e in result.errors]
        ids.update({Path(k): v for k, v in result.path_ids.items()})
    report.images = len(ids)
    return ids


def _classes(ws: Workspace, parsed: ParsedDataset, prepared: list[_Prepared], class_map: dict[str, str],
             report: DatasetImportReport) -> dict[str, int]:
    """Match classes by name (case-insensitive), create the missing ones in the source's order."""
    lowered = {k.lower(): v for k, v in class_map.items()}
    names: list[str] = [lowered.get(c.strip().lower(), c.strip()) for c in parsed.classes if c.strip()]
    names += [shape.label for p in prepared for shape in p.shapes]
    ids: dict[str, int] = {}
    for name in names:
        key = name.lower()
        if key in ids:
            continue
        existing = ws.classes.find(name)
        if existing is None:
            existing = ws.classes.add(name)
            report.classes_created += 1
            report.classes_created_names.append(existing.name)
        ids[key] = existing.id
    _coco_ids(ws, parsed, class_map, ids)
    return ids


def _coco_ids(ws: Workspace, parsed: ParsedDataset, class_map: dict[str, str], ids: dict[str, int]) -> None:
    """Keep each class's source category id (``classes.coco_id``) where the class has none yet, so that a COCO
    export writes it back; an id another class holds already is not recorded twice."""
    if not parsed.category_ids:
        return
    lowered = {k.lower(): v for k, v in class_map.items()}
    with transaction(ws.db) as conn:
        for name, cid in parsed.category_ids.items():
            class_id = ids.get(lowered.get(name.strip().lower(), name.strip()).lower())
            if class_id is not None:
                conn.execute("UPDATE classes SET coco_id = ? WHERE id = ? AND coco_id IS NULL AND NOT EXISTS "
                             "(SELECT 1 FROM classes WHERE coco_id = ?)", [cid, class_id, cid])


def _annotations(ws: Workspace, prepared: list[_Prepared], ids: dict[Path, int], class_ids: dict[str, int],
                 report: DatasetImportReport, source: Path) -> None:
    """Add the shapes not already on their images, as one operation."""
    by_image: dict[int, list[_Shape]] = defaultdict(list)
    for p in prepared:
        image_id = ids.get(p.path)
        if image_id is not None:
            by_image[image_id].extend(p.shapes)
    existing: dict[int, Counter] = defaultdict(Counter)
    image_ids = list(by_image)
    for start in range(0, len(image_ids), 500):
        part = image_ids[start:start + 500]
        for image_id, kind, class_id, x, y, w, h, points in ws.db.execute(
            f"SELECT image_id, kind, class_id, x, y, w, h, points FROM annotations WHERE image_id IN "
            f"({', '.join('?' * len(part))})", part,
        ):
            pts = json.loads(points) if points else None
            existing[image_id][_signature(kind, class_id, (x, y, w, h), pts)] += 1
    items: list[NewAnnotation] = []
    for image_id, shapes in by_image.items():
        have = existing.get(image_id)
        for shape in shapes:
            geometry = shape.geometry
            class_id = class_ids[shape.label.lower()]
            if have is not None or shape.kind == "tag":  # only then can the shape be a repeat
                have = existing[image_id]
                sig = _signature(shape.kind, class_id, geometry.get("box"), geometry.get("points"))
                if have[sig] > 0:
                    have[sig] -= 1
                    report.annotations_existing += 1
                    continue
                if shape.kind == "tag":
                    have[sig] += 1  # a second identical tag in the source is the same tag
            items.append(NewAnnotation(image_id, class_id, shape.kind, box=geometry.get("box"),
                                       points=geometry.get("points"), attributes=shape.attributes))
    if items:
        ws.annotations.add_many(items, description=f"imported {report.format} dataset {source.name}: "
                                                   f"{counted(len(items), 'annotation')}", prevalidated=True)
    report.annotations = len(items)


def _statuses(ws: Workspace, prepared: list[_Prepared], ids: dict[Path, int], status: Optional[str],
              report: DatasetImportReport) -> None:
    """Images that came with annotations are labelled: ``done`` where still ``new`` (a re-import does not undo a
    review), or ``status`` on every one of them when given."""
    labelled = list(dict.fromkeys(ids[p.path] for p in prepared if p.shapes and p.path in ids))
    target = status or LABELLED_STATUS
    if status is None and labelled:
        wanted: list[int] = []
        for start in range(0, len(labelled), 500):
            part = labelled[start:start + 500]
            wanted += [r[0] for r in ws.db.execute(
                f"SELECT id FROM images WHERE status = ? AND id IN ({', '.join('?' * len(part))})",
                [DEFAULT_STATUS, *part])]
        labelled = wanted
    changed = ws.annotations.set_status(labelled, target) if labelled else 0
    if changed:
        report.statuses[target] = changed


def _split_hints(ws: Workspace, prepared: list[_Prepared], ids: dict[Path, int], source: str,
                 report: DatasetImportReport) -> None:
    rows = []
    for p in prepared:
        image_id = ids.get(p.path)
        if image_id is not None and p.item.split:
            rows.append((image_id, source, p.item.split, time.time()))
            report.splits[p.item.split] = report.splits.get(p.item.split, 0) + 1
    if rows:
        with transaction(ws.db) as conn:
            conn.executemany("INSERT OR REPLACE INTO split_hints (image_id, source, split, recorded_at) "
                             "VALUES (?, ?, ?, ?)", rows)
