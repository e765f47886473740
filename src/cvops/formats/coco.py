"""COCO instances JSON: boxes, polygons and crowd regions, one JSON file per split.

Read: a single ``*.json`` file, or a folder holding such files at top level, in ``annotations/`` or in split
folders (``train/_annotations.coco.json``). Of the COCO task files datumaro writes side by side, ``instances_*``
win; captions and panoptic files are never read. Written: datumaro's / CVAT's layout,
``annotations/instances_<split>.json`` with the images in ``images/<split>/``. See ``docs/formats/coco.md``.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Optional

from cvops.data.annotations import CROWD, PARTS, polygon_area, polygon_rings
from cvops.formats.common import JsonFileError, load_json
from cvops.formats.model import (Box, DatasetItem, ExportClass, ExportData, ExportItem, ExportShape, FormatError,
                                 LabelShape, ParsedDataset, Problem, place_image, resolve_inside)
from cvops.common.jobs import CancelToken, Progress, no_progress

# Task prefixes of COCO file names, in the order a folder's files are preferred; "" is any other name.
TASKS = ("instances", "", "person_keypoints", "stuff", "labels", "image_info")
NEVER_READ = ("panoptic", "captions")
SPLIT_ALIASES = {"valid": "val", "validation": "val"}
KNOWN_SPLITS = re.compile(r"(train|val|valid|validation|test|dev|trainval|minival)(\d{4})?", re.I)
SPLIT_TOKEN = re.compile(r"[A-Za-z0-9-]+")
DETECT_MAX_FILES = 20
SEARCH_DEPTH = 3  # how deep below the folder given a COCO JSON file is looked for
PROGRESS_EVERY = 1000
NUMBER = (int, float)  # exact types: JSON numbers, not bool
RLE = "coco_rle"  # attribute of a crowd box read from an RLE mask: {size, counts, box} to write the mask back
INFO = {"description": "exported by CVOps Workbench", "version": "1.0", "year": "", "contributor": "", "url": "",
        "date_created": ""}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _not_instances(doc: Any) -> Optional[str]:
    """Why a parsed JSON document is not a COCO instances-shaped file, or None when it is."""
    if not isinstance(doc, dict):
        return "the top level is not a JSON object"
    for key in ("images", "annotations", "categories"):
        if key not in doc:
            return f"missing key {key!r}"
    if not isinstance(doc["images"], list):
        return "'images' is not a list"
    anns = doc["annotations"]
    if isinstance(anns, list) and anns and isinstance(anns[0], dict):
        if "segments_info" in anns[0]:
            return "a COCO panoptic file (annotations have 'segments_info')"
        if "caption" in anns[0]:
            return "a COCO captions file (annotations have 'caption')"
    return None


def _task_and_split(json_path: Path) -> tuple[str, Optional[str]]:
    """The task prefix (one of TASKS or NEVER_READ, else "") and raw split token of a COCO file name."""
    stem = json_path.stem
    for task in TASKS[:1] + TASKS[2:] + NEVER_READ:
        if stem.startswith(task + "_"):
            token = stem[len(task) + 1:]
            return task, token if SPLIT_TOKEN.fullmatch(token) else None
    token = stem.rsplit("_", 1)[-1]
    if KNOWN_SPLITS.fullmatch(token):
        return "", token
    if json_path.parent.name and KNOWN_SPLITS.fullmatch(json_path.parent.name):
        return "", json_path.parent.name
    return "", None


def _normalize_split(token: Optional[str]) -> Optional[str]:
    """``val2017`` -> ``val``, ``valid`` -> ``val``, ``default`` (CVAT, datumaro) -> no split; others unchanged."""
    if token is None or token.lower() == "default":
        return None
    name = re.sub(r"(?<=[A-Za-z])\d{4}$", "", token)
    return SPLIT_ALIASES.get(name.lower(), name)


def _candidates(folder: Path) -> list[Path]:
    """JSON files where a COCO dataset keeps them: top level, ``annotations/`` and split folders first, then any
    other JSON file up to SEARCH_DEPTH folders down (hidden folders skipped)."""
    dirs = [folder, folder / "annotations"]
    dirs += sorted(d for d in folder.iterdir() if d.is_dir() and KNOWN_SPLITS.fullmatch(d.name))
    found = [f for d in dirs if d.is_dir() for f in sorted(d.glob("*.json")) if f.is_file()]
    known = set(found)
    for dirpath, dirnames, filenames in os.walk(folder):
        level = len(Path(dirpath).relative_to(folder).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if level < SEARCH_DEPTH else []
        found += [f for f in (Path(dirpath) / n for n in sorted(filenames) if n.lower().endswith(".json"))
                  if f not in known]
    return found


def _groups(files: list[Path]) -> list[list[Path]]:
    """Candidate files grouped by task, in order of preference; panoptic and captions files left out."""
    by_task: dict[str, list[Path]] = {}
    for f in files:
        by_task.setdefault(_task_and_split(f)[0], []).append(f)
    return [by_task[t] for t in TASKS if t in by_task]


def _rle_counts(seg: dict[str, Any]) -> Optional[list[int]]:
    """The run lengths of an RLE mask: uncompressed (a list) or pycocotools' compressed string."""
    counts = seg.get("counts")
    if isinstance(counts, list):
        return counts if all(_is_int(c) and c >= 0 for c in counts) else None
    if not isinstance(counts, str):
        return None
    out: list[int] = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48 if p < len(counts) else -1
            if not 0 <= c < 64:
                return None
            x |= (c & 0x1F) << (5 * k)
            more, p, k = bool(c & 0x20), p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        x += out[-2] if len(out) > 2 else 0
        if x < 0:
            return None
        out.append(x)
    return out


def _rle_bbox(seg: Any) -> Optional[Box]:
    """The bounding box of an RLE mask (column-major runs of 0s then 1s over ``size = [h, w]``), or None."""
    if not isinstance(seg, dict):
        return None
    size = seg.get("size")
    counts = _rle_counts(seg)
    if counts is None or not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v > 0 for v in size)):
        return None
    h, w = size
    pos, x0, y0, x1, y1 = 0, w, h, -1, -1
    for i, n in enumerate(counts):
        if i % 2 and n:
            end = pos + n - 1
            if end >= h * w:
                return None
            c0, c1 = pos // h, end // h
            x0, x1 = min(x0, c0), max(x1, c1)
            y0, y1 = (min(y0, pos % h), max(y1, end % h)) if c0 == c1 else (0, h - 1)
        pos += n
    return None if x1 < 0 else (float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1))


def _bbox(value: Any) -> tuple[Optional[Box], str]:
    """A valid ``[x, y, w, h]`` as a Box, or None and the reason (unrolled: it runs once per annotation)."""
    if type(value) is not list or len(value) != 4 or not (
            type(value[0]) in NUMBER and type(value[1]) in NUMBER and type(value[2]) in NUMBER
            and type(value[3]) in NUMBER):
        got = f"{len(value)} values" if isinstance(value, list) else repr(value)[:40]
        return None, f"bbox must be 4 numbers [x, y, width, height], got {got}"
    x, y, w, h = float(value[0]), float(value[1]), float(value[2]), float(value[3])
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(w) and math.isfinite(h)):
        return None, f"bbox {value} has a value that is not a finite number"
    if w <= 0 or h <= 0:
        return None, f"bbox {value} has a negative or zero width or height"
    return (x, y, w, h), ""


def _polygon(part: Any) -> tuple[Optional[list[list[float]]], str]:
    """Points of one flat polygon ``[x1, y1, x2, y2, ...]``, or None and the reason."""
    if not isinstance(part, list) or not all(_is_number(v) for v in part):
        return None, "polygon must be a list of numbers [x1, y1, x2, y2, ...]"
    if len(part) % 2:
        return None, f"polygon has an odd number of coordinates ({len(part)})"
    if len(part) < 6:
        return None, f"polygon has {len(part) // 2} points (needs at least 3)"
    if not all(math.isfinite(v) for v in part):
        return None, "polygon has a coordinate that is not a finite number"
    return [[float(part[i]), float(part[i + 1])] for i in range(0, len(part), 2)], ""


class _Reader:
    """State of one ``read()``: classes, items by resolved image path, problems."""

    def __init__(self, root: Path, progress: Optional[Progress], cancel: Optional[CancelToken]) -> None:
        self.root, self.progress, self.cancel = root, progress or no_progress, cancel
        self.problems: list[Problem] = []
        self.items: list[DatasetItem] = []
        self.seen_files: dict[str, str] = {}  # resolved image path -> where it was first listed
        self.category_ids: dict[int, tuple[str, str]] = {}  # id -> (name, file) as first seen
        self.class_ids: dict[str, int] = {}  # class name -> lowest category id
        self.total = self.done = 0

    def problem(self, json_path: Path, reason: str, element: Optional[str] = None) -> None:
        self.problems.append(Problem(str(json_path), reason, element=element))

    def categories(self, json_path: Path, cats: Any) -> Optional[dict[int, str]]:
        """The file's category id -> name map; conflicts with other files are reported."""
        if not isinstance(cats, list):
            self.problem(json_path, "'categories' is not a list; its annotations are skipped")
            return None
        names: dict[int, str] = {}
        for i, cat in enumerate(cats):
            element = f"categories[{i}]"
            if not isinstance(cat, dict) or not _is_int(cat.get("id")):
                self.problem(json_path, "category has no integer 'id'", element)
                continue
            cid, name = cat["id"], cat.get("name")
            if not isinstance(name, str) or not name.strip():
                self.problem(json_path, f"category id {cid} has no name", element)
                continue
            if cid in names:
                self.problem(json_path, f"duplicate category id {cid} ({name!r}; keeping {names[cid]!r})", element)
                continue
            names[cid] = name
            known = self.category_ids.setdefault(cid, (name, json_path.name))
            if known[0] != name:
                self.problem(json_path, f"category id {cid} is {name!r} here but {known[0]!r} in {known[1]}",
                             element)
            self.class_ids[name] = min(cid, self.class_ids.get(name, cid))
        return names

    def find_image(self, name: str, bases: list[str]) -> tuple[Optional[Path], str]:
        """The first existing ``base/name``, or None and why (not found, or a path leaving the dataset)."""
        plain = "\\" not in name and "\x00" not in name and not name.startswith("/") and name[1:2] != ":" \
            and ".." not in name.split("/")
        escape = ""
        for base in bases:
            if plain:
                candidate = os.path.join(self.root, base, name)
            else:
                try:
                    candidate = str(resolve_inside(self.root, f"{base}/{name}" if base else name))
                except ValueError as err:
                    escape = escape or str(err)
                    continue
            if os.path.isfile(candidate):
                return Path(candidate), ""
        looked = ", ".join(f"{b}/" if b else "./" for b in bases)
        return None, escape or f"image file not found: {name!r} (looked in {looked} of {self.root})"

    def image_bases(self, json_path: Path, token: Optional[str], split: Optional[str]) -> list[str]:
        """Folders (relative to the root) where ``file_name`` may be, in order."""
        here = os.path.relpath(json_path.parent, self.root).replace(os.sep, "/")
        names = list(dict.fromkeys(n for n in (token, split) if n))
        bases = [f"images/{n}" for n in names] + ["images", "" if here == "." else here, ""]
        bases += names + ([f"{split}2017"] if split else [])
        # Relative to the JSON file deeper in the folder: its images/ and, from its parent (annotations/ + a
        # split-named or images/ sibling), the parent's images/<split>/, images/, <split>/ and the parent itself.
        if here != ".":
            parent = os.path.dirname(here)
            bases += [f"{here}/images/{n}" for n in names] + [f"{here}/images"]
            bases += [f"{parent}/{b}" if parent else b for b in
                      [*(f"images/{n}" for n in names), "images", *names, *([f"{split}2017"] if split else [])]]
            bases += [parent]
        return list(dict.fromkeys(bases))

    def images(self, json_path: Path, images: list[Any], split: Optional[str],
               bases: list[str]) -> dict[int, Optional[DatasetItem]]:
        """Items of a file's images by id (None for images that are skipped)."""
        by_id: dict[int, Optional[DatasetItem]] = {}
        first: dict[int, int] = {}
        for i, img in enumerate(images):
            element = f"images[{i}]"
            if not isinstance(img, dict) or not _is_int(img.get("id")):
                self.problem(json_path, "image has no integer 'id'", element)
                continue
            iid = img["id"]
            element += f" id={iid}"
            if iid in first:
                self.problem(json_path, f"duplicate image id {iid} (first at images[{first[iid]}])", element)
                continue
            first[iid] = i
            by_id[iid] = None
            name = img.get("file_name")
            if not isinstance(name, str) or not name:
                self.problem(json_path, "image has no 'file_name'", element)
                continue
            image_path, why = self.find_image(name, bases)
            if image_path is None:
                self.problem(json_path, why, element)
                continue
            key = str(image_path)
            if key in self.seen_files:
                self.problem(json_path, f"duplicate file name {name!r} (also {self.seen_files[key]}); skipped",
                             element)
                continue
            self.seen_files[key] = f"{element} of {json_path.name}"
            w, h = img.get("width"), img.get("height")
            size = (w, h) if _is_int(w) and _is_int(h) and w > 0 and h > 0 else None
            if size is None and (w is not None or h is not None):
                self.problem(json_path, f"invalid image size width={w!r} height={h!r}; ignored", element)
            item = DatasetItem(image_path=image_path, split=split, label_path=json_path, declared_size=size)
            by_id[iid] = item
            self.items.append(item)
        return by_id

    def annotation(self, json_path: Path, i: int, ann: Any, by_id: dict[int, Optional[DatasetItem]],
                   names: dict[int, str], tags: bool) -> None:
        """Turn one annotation into shapes on its item, or report why it is skipped."""
        if not isinstance(ann, dict):
            self.problem(json_path, "annotation is not a JSON object", f"annotations[{i}]")
            return
        ann_id = ann.get("id")
        element = f"annotations[{i}]" + (f" id={ann_id}" if ann_id is not None else "")
        image_id, cat_id = ann.get("image_id"), ann.get("category_id")
        if type(image_id) is not int or image_id not in by_id:
            self.problem(json_path, f"image_id {image_id!r} is not in images", element)
            return
        if type(cat_id) is not int or cat_id not in names:
            self.problem(json_path, f"category_id {cat_id!r} is not in categories", element)
            return
        item = by_id[image_id]
        if item is None:
            return  # its image was skipped and reported
        label = names[cat_id]
        origin = Problem(str(json_path), "", element=element)
        attrs: dict[str, Any] = {}
        if isinstance(ann.get("attributes"), dict):
            attrs.update(ann["attributes"])
        if tags:
            item.shapes.append(LabelShape(label, "tag", attributes=attrs, origin=origin))
            return
        seg = ann.get("segmentation")
        crowd = ann.get("iscrowd") in (1, True)
        if crowd:
            attrs[CROWD] = 1
        if seg and isinstance(seg, list):
            parts: list[list[list[float]]] = []
            for k, part in enumerate(seg):
                if part == []:
                    continue
                points, why = _polygon(part)
                if points is None:
                    self.problem(json_path, f"segmentation[{k}]: {why}; part skipped", element)
                else:
                    parts.append(points)
            if parts:  # one object, however many outlines: they follow each other in points
                if len(parts) > 1:
                    attrs[PARTS] = [len(p) for p in parts]
                item.shapes.append(LabelShape(label, "polygon", points=[p for part in parts for p in part],
                                              attributes=attrs, origin=origin))
                return
        elif seg not in (None, []) and not isinstance(seg, (dict, list)):
            self.problem(json_path, "segmentation is neither a list of polygons nor an RLE object; "
                         "using the bbox", element)
        box, why = _bbox(ann.get("bbox"))
        if box is None and isinstance(seg, dict):  # an RLE mask: crowd region, or a mask from another tool
            box = _rle_bbox(seg)
            why += " and the RLE mask cannot be decoded"
        if box is None:
            self.problem(json_path, why + "; annotation skipped", element)
            return
        if crowd and isinstance(seg, dict) and _rle_bbox(seg) is not None:
            attrs[RLE] = {"size": seg["size"], "counts": seg["counts"], "box": list(box)}
        item.shapes.append(LabelShape(label, "box", box=box, attributes=attrs, origin=origin))

    def file(self, json_path: Path, doc: dict[str, Any], token: Optional[str], tags: bool) -> None:
        """Read one parsed COCO file."""
        split = _normalize_split(token)
        names = self.categories(json_path, doc["categories"])
        by_id = self.images(json_path, doc["images"], split, self.image_bases(json_path, token, split))
        anns = doc["annotations"]
        if not isinstance(anns, list):
            self.problem(json_path, "'annotations' is not a list; images read without annotations")
            return
        if names is None:
            return
        for i, ann in enumerate(anns):
            self.annotation(json_path, i, ann, by_id, names, tags)
            self.done += 1
            if self.done % PROGRESS_EVERY == 0:
                if self.cancel is not None:
                    self.cancel.raise_if_cancelled()
                self.progress(self.done / max(self.total, 1), f"read {self.done}/{self.total} annotations")


def _parse(json_path: Path) -> tuple[Any, Optional[Problem]]:
    """The parsed document of a file (UTF-8, with or without BOM), or the problem that kept it from parsing."""
    try:
        return load_json(json_path), None
    except JsonFileError as err:
        return None, err.problem


def _choose(path: Path, limit: Optional[int] = None) -> tuple[list[tuple[Path, dict[str, Any]]], list[Problem]]:
    """The parsed files of the most preferred task group holding a COCO instances file, and the problems of the
    group's files that cannot be read (valid JSON of another kind with a generic name is skipped silently).
    ``limit`` caps the number of files parsed."""
    if not path.exists():
        raise FormatError(f"{path}: no such file or folder")
    skipped: list[Problem] = []
    found = [path] if path.is_file() else _candidates(path)
    for group in [[path]] if path.is_file() else _groups(found):
        docs, problems = [], []
        for f in group[:limit]:
            doc, problem = _parse(f)
            why = _not_instances(doc) if problem is None else None
            if problem is None and why is None:
                docs.append((f, doc))
            elif problem is not None or path.is_file() or _task_and_split(f)[0]:
                problems.append(problem or Problem(str(f), f"not a COCO instances file: {why}"))
        if docs:
            return docs, problems
        skipped += problems
    if len(skipped) == 1:
        raise FormatError(str(skipped[0]))
    seen = f"found {', '.join(f.name for f in found[:5])}; " if found else ""
    raise FormatError(f"{path}: no COCO instances JSON file ({seen}looked for *.json at the top, in annotations/, "
                      f"in split folders and up to {SEARCH_DEPTH} folders down; captions and panoptic files are not "
                      "read)" + "".join(f"; {p}" for p in skipped))


def detect(path: Path) -> bool:
    """True for a COCO instances JSON file or a folder holding one (at most a few files are parsed)."""
    if path.is_file() and path.suffix.lower() != ".json":
        return False
    try:
        return bool(_choose(path, DETECT_MAX_FILES)[0])
    except (FormatError, OSError):
        return False


def read(path: Path, progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None) -> ParsedDataset:
    """Read a COCO instances JSON file, or a folder of them (one per split)."""
    path = Path(os.path.abspath(path))
    docs, problems = _choose(path)
    root = path if path.is_dir() else path.parent.parent if path.parent.name == "annotations" else path.parent
    reader = _Reader(root, progress, cancel)
    reader.problems += problems
    reader.total = sum(len(d["annotations"]) for _, d in docs if isinstance(d["annotations"], list))
    reader.progress(0.0, f"reading {reader.total} annotations")
    for f, doc in docs:
        task, token = _task_and_split(f)
        reader.file(f, doc, token, tags=task == "labels")
    reader.progress(1.0, f"read {len(reader.items)} images, {reader.done} annotations")
    classes = sorted(reader.class_ids, key=lambda n: (reader.class_ids[n], n))
    return ParsedDataset("coco", reader.root, classes=classes, items=reader.items, problems=reader.problems,
                         category_ids=dict(reader.class_ids))


def _rle_area(seg: dict[str, Any]) -> float:
    """The number of mask pixels of an RLE (the odd runs)."""
    return float(sum((_rle_counts(seg) or [])[1::2]))


def _crowd_rle(shape: ExportShape, item: ExportItem) -> Optional[dict[str, Any]]:
    """The RLE mask a crowd box was read with, when it still fits: same image size, box unchanged since."""
    rle = shape.attributes.get(RLE)
    if not isinstance(rle, dict) or shape.box is None or rle.get("size") != [item.height, item.width]:
        return None
    box = rle.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)
            and all(abs(a - b) < 1e-3 for a, b in zip(box, shape.box))):
        return None
    seg = {"size": rle["size"], "counts": rle.get("counts")}
    return seg if _rle_counts(seg) is not None else None


def _box_rle(box: Box, width: int, height: int) -> dict[str, Any]:
    """An uncompressed RLE mask (column-major) of the pixels a box covers, rounded outwards to whole pixels."""
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(width, math.ceil(box[0] + box[2])), min(height, math.ceil(box[1] + box[3]))
    counts: list[int] = []
    if x1 <= x0 or y1 <= y0:
        return {"size": [height, width], "counts": [width * height]}
    gap = x0 * height + y0  # zeros before the first covered pixel
    for _ in range(x0, x1):
        counts += [gap, y1 - y0]
        gap = height - y1 + y0
    counts.append((height - y1) + (width - x1) * height)
    return {"size": [height, width], "counts": counts}


def _annotations(item: ExportItem, category_ids: dict[int, int]) -> list[dict[str, Any]]:
    """The COCO annotations of one item (ids not set). A multi-part polygon is one annotation with one polygon per
    part; a crowd region is written with ``iscrowd: 1`` (a box: the RLE mask it was read with when the box is
    unchanged, else the box's pixels as an RLE mask; a polygon as polygons). Polygons of an older import sharing a ``coco_id`` and class (one part each,
    attribute ``part``) become one multi-part annotation again, parts in ``part`` order."""
    out: list[dict[str, Any]] = []
    groups: dict[tuple[Any, int], list[tuple[Any, list[list[float]]]]] = {}
    for shape in item.shapes:
        if shape.kind == "tag":
            continue  # COCO has no image-level labels
        crowd = shape.attributes.get(CROWD) in (1, True, "1")
        key = (shape.attributes.get("coco_id"), shape.class_index)
        legacy = shape.kind == "polygon" and bool(shape.points) and key[0] is not None and "part" in shape.attributes
        if legacy and key in groups:
            groups[key].append((shape.attributes.get("part"), shape.points or []))
            continue
        ann: dict[str, Any] = {"image_id": item.image_id, "category_id": category_ids[shape.class_index],
                               "iscrowd": 1 if crowd else 0}
        if shape.kind == "box" and shape.box is not None:
            x, y, w, h = shape.box
            ann.update(segmentation=[], area=w * h, bbox=[x, y, w, h])
            if crowd:  # pycocotools reads a crowd region's mask: the one it came with, else the box's pixels
                rle = _crowd_rle(shape, item) or _box_rle(shape.box, item.width, item.height)
                ann.update(segmentation=rle, area=_rle_area(rle))
        elif shape.kind == "polygon" and shape.points:
            if legacy:
                ann["_parts"] = groups[key] = [(shape.attributes.get("part"), shape.points)]
            else:
                ann["_parts"] = list(enumerate(polygon_rings(shape.points, shape.attributes)))
        else:
            raise FormatError(f"{item.file_name}: cannot write a {shape.kind!r} shape without geometry to COCO")
        attrs = {k: v for k, v in shape.attributes.items() if k not in (CROWD, "coco_id", "part", PARTS, RLE)}
        if attrs:
            ann["attributes"] = attrs
        out.append(ann)
    for ann in out:
        polygons = ann.pop("_parts", None)
        if polygons is not None:
            polygons.sort(key=lambda p: p[0] if _is_int(p[0]) else 0)
            xs = [p[0] for _, points in polygons for p in points]
            ys = [p[1] for _, points in polygons for p in points]
            ann.update(segmentation=[[c for p in points for c in p] for _, points in polygons],
                       area=sum(polygon_area(points) for _, points in polygons),
                       bbox=[min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
    return out


def category_ids(classes: list[ExportClass]) -> dict[int, int]:
    """The COCO category id of each class index: the class's ``coco_id`` (the id it was imported with) where that is
    set and no other class claims it, else the workspace class id, else (taken) the next free id."""
    claims: dict[int, int] = {}
    for c in classes:
        if c.coco_id is not None:
            claims[c.coco_id] = claims.get(c.coco_id, 0) + 1
    out: dict[int, int] = {}
    for c in classes:  # unique imported ids first, so that fallbacks step around them
        if c.coco_id is not None and claims[c.coco_id] == 1:
            out[c.index] = c.coco_id
    taken = set(out.values())
    for c in classes:
        if c.index in out:
            continue
        cid = c.id
        while cid in taken:
            cid = max(taken) + 1
        out[c.index] = cid
        taken.add(cid)
    return out


def write(data: ExportData, out: Path, progress: Optional[Progress] = None,
          cancel: Optional[CancelToken] = None) -> None:
    """Write ``annotations/instances_<split>.json`` per split and the images into ``images/<split>/``."""
    progress = progress or no_progress
    out = Path(out)
    classes = sorted(data.classes, key=lambda c: c.index)
    ids = category_ids(classes)
    categories = [{"id": ids[c.index], "name": c.name, "supercategory": ""} for c in classes]
    total, done, next_id = max(len(data.items), 1), 0, 1
    for split in data.splits:
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        for item in (i for i in data.items if i.split == split):
            place_image(item.source, out / "images" / split / item.file_name, data.images_mode)
            images.append({"id": item.image_id, "width": item.width, "height": item.height,
                           "file_name": item.file_name})
            for ann in _annotations(item, ids):
                annotations.append({"id": next_id, **ann})
                next_id += 1
            done += 1
            if done % PROGRESS_EVERY == 0:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                progress(done / total, f"wrote {done}/{total} images")
        doc = {"info": INFO, "licenses": [], "categories": categories, "images": images, "annotations": annotations}
        try:
            text = json.dumps(doc, ensure_ascii=False, allow_nan=False)
        except ValueError as err:
            raise FormatError(f"split {split!r}: cannot write COCO JSON: {err}") from err
        (out / "annotations").mkdir(parents=True, exist_ok=True)
        (out / "annotations" / f"instances_{split}.json").write_text(text, encoding="utf-8")
    progress(1.0, f"wrote {len(data.items)} images, {next_id - 1} annotations")
