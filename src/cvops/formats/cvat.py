"""CVAT XML 1.1 (import only): "CVAT for images" and, for tracked boxes and polygons, "CVAT for video".

Images: ``<image name width height subset?>`` with ``<box>``, ``<polygon>`` and ``<tag>``; nested
``<attribute name>`` values are typed by the label's attribute spec in ``<meta>`` (checkbox -> bool, number -> int
or float). Rotated boxes become 4-point polygons. Video: every ``<track>`` shape that is not ``outside`` becomes a
shape of frame N, whose image is ``images/frame_{N:06d}.<ext>``. Polylines, points, ellipses, cuboids, masks and
skeletons are reported as unsupported. Class order: the ``<meta>`` label list (skeletons and their points left out).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional
from xml.etree.ElementTree import Element

from cvops.formats.model import DatasetItem, FormatError, LabelShape, ParsedDataset, Problem, resolve_inside
from cvops.formats.common import EVERY, first_appearance, image_index, parse_xml, sniff_xml, text, typed_value
from cvops.common.jobs import CancelToken, Progress, no_progress

SUPPORTED = ("box", "polygon", "tag")
UNSUPPORTED = ("polyline", "points", "ellipse", "cuboid", "mask", "skeleton")
KNOWN_SPLITS = ("train", "val", "test", "trainval")
FRAME = re.compile(r"frame_(\d+)")


def _xml_files(path: Path) -> list[Path]:
    """The file itself, or the XML files at the top of a folder."""
    if path.is_file():
        return [path]
    return [p for p in sorted(path.glob("*.xml")) if p.is_file()] if path.is_dir() else []


def detect(path: Path) -> bool:
    """A CVAT XML file (root ``<annotations>`` starting with ``<version>``/``<meta>``), or a folder holding one at
    its top level."""
    return any(p.suffix.lower() == ".xml" and sniff_xml(p) == "cvat" for p in _xml_files(path))


class _Meta:
    """What ``<meta>`` says: class order, attribute input types per label, the task's subset and frame size."""

    def __init__(self, root: Element) -> None:
        meta = root.find("meta")
        self.classes: list[str] = []
        self.skipped: set[str] = set()
        self.types: dict[tuple[str, str], str] = {}
        for labels in meta.iter("labels") if meta is not None else ():
            for label in labels.findall("label"):
                name = text(label, "name") or ""
                if text(label, "type") == "skeleton" or label.find("parent") is not None:
                    self.skipped.add(name)
                    continue
                self.classes.append(name)
                for attr in label.findall("attributes/attribute"):
                    self.types[(name, text(attr, "name") or "")] = text(attr, "input_type") or ""
        task = meta.find("task") if meta is not None else None
        self.subset = text(task, "subset")
        size = task.find("original_size") if task is not None else None
        try:
            w, h = int(text(size, "width") or 0), int(text(size, "height") or 0)
        except ValueError:
            w = h = 0
        self.frame_size = (w, h) if w > 0 and h > 0 else None

    def value(self, label: str, name: str, raw: str) -> Any:
        """An attribute value typed by its spec (checkbox, number), else as written."""
        kind = self.types.get((label, name))
        if kind == "checkbox" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if kind == "number":
            number = typed_value(raw)
            return number if isinstance(number, (int, float)) and not isinstance(number, bool) else raw
        return raw if kind else typed_value(raw)


def _float(el: Element, name: str) -> float:
    raw = el.get(name)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"missing or non-numeric {name}={raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"non-finite {name}={raw!r}")
    return value


def _points(el: Element) -> list[list[float]]:
    raw = el.get("points") or ""
    try:
        pts = [[float(v) for v in pair.split(",")] for pair in raw.split(";") if pair.strip()]
    except ValueError:
        raise ValueError(f"non-numeric points {raw!r}") from None
    if any(len(p) != 2 or not all(math.isfinite(v) for v in p) for p in pts):
        raise ValueError(f"points {raw!r} are not finite x,y pairs")
    if len(pts) < 3:
        raise ValueError(f"a polygon needs at least 3 points, it has {len(pts)}")
    return pts


def _rotated(x1: float, y1: float, x2: float, y2: float, degrees: float) -> list[list[float]]:
    """The corners of a box rotated clockwise about its centre."""
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    return [[cx + (x - cx) * cos - (y - cy) * sin, cy + (x - cx) * sin + (y - cy) * cos]
            for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]


def _shape(el: Element, label: str, meta: _Meta, origin: Problem) -> LabelShape:
    """One ``<box>``/``<polygon>``/``<tag>``; raises ValueError with the reason."""
    if el.tag in UNSUPPORTED:
        raise ValueError(f"unsupported shape type {el.tag!r}")
    if el.tag not in SUPPORTED:
        raise ValueError(f"unknown element <{el.tag}>")
    if not label:
        raise ValueError("missing label")
    attrs: dict[str, Any] = {}
    if el.get("occluded") is not None:
        attrs["occluded"] = el.get("occluded") == "1"
    for key in ("z_order", "group_id"):
        if el.get(key) not in (None, "", "0"):
            attrs[key] = typed_value(el.get(key) or "")
    for attr in el.findall("attribute"):
        if attr.get("name"):
            attrs[attr.get("name") or ""] = meta.value(label, attr.get("name") or "", (attr.text or "").strip())
    if el.tag == "tag":
        return LabelShape(label, "tag", attributes=attrs, origin=origin)
    if el.tag == "polygon":
        return LabelShape(label, "polygon", points=_points(el), attributes=attrs, origin=origin)
    x1, y1, x2, y2 = (_float(el, k) for k in ("xtl", "ytl", "xbr", "ybr"))
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box has no area (xtl={x1:g}, ytl={y1:g}, xbr={x2:g}, ybr={y2:g})")
    rotation = _float(el, "rotation") if el.get("rotation") else 0.0
    if rotation % 360:
        return LabelShape(label, "polygon", points=_rotated(x1, y1, x2, y2, rotation), attributes=attrs,
                          origin=origin)
    return LabelShape(label, "box", box=(x1, y1, x2 - x1, y2 - y1), attributes=attrs, origin=origin)


class _Reader:
    """State of one :func:`read`."""

    def __init__(self, out: ParsedDataset, progress: Progress, cancel: CancelToken) -> None:
        self.out = out
        self.progress = progress
        self.cancel = cancel
        self.cache: dict[Path, dict[str, Path]] = {}

    def problem(self, xml: Path, reason: str, element: str) -> None:
        self.out.problems.append(Problem(str(xml), reason, element=element))

    def _image(self, xml: Path, name: str, subset: Optional[str]) -> tuple[Optional[Path], Optional[str]]:
        """``images/<name>``, ``images/<subset>/<name>``, then ``<name>`` beside the XML; and why it was refused."""
        base = xml.parent
        for rel in (f"images/{name}", f"images/{subset}/{name}" if subset else None, name):
            if rel is None:
                continue
            try:
                candidate = resolve_inside(base, rel)
            except ValueError as exc:
                return None, str(exc)
            if candidate.is_file():
                return candidate, None
        return None, None

    def images(self, xml: Path, root: Element, meta: _Meta, split: Optional[str]) -> None:
        elements = root.findall("image")
        for n, img in enumerate(elements):
            if n % EVERY == 0:
                self.cancel.raise_if_cancelled()
                self.progress(n / max(len(elements), 1), f"reading {n}/{len(elements)} CVAT images")
            name = img.get("name") or ""
            where = f"image[{name or n + 1}]"
            if not name:
                self.problem(xml, "image without a name", where)
                continue
            subset = img.get("subset") or split
            image, refused = self._image(xml, name, subset)
            if image is None:
                self.problem(xml, f"image {name!r} " + (f"refused: {refused}" if refused else "not found"), where)
                continue
            try:
                size: Optional[tuple[int, int]] = (int(img.get("width") or 0), int(img.get("height") or 0))
            except ValueError:
                size = None
            item = DatasetItem(image, split=subset, label_path=xml,
                               declared_size=size if size and min(size) > 0 else None)
            counts: dict[str, int] = {}
            for el in img:
                counts[el.tag] = counts.get(el.tag, 0) + 1
                element = f"{where}/{el.tag}[{counts[el.tag]}]"
                try:
                    item.shapes.append(_shape(el, el.get("label") or "", meta, Problem(str(xml), "", element=element)))
                except ValueError as exc:
                    self.problem(xml, f"shape skipped: {exc}", element)
            self.out.items.append(item)

    def tracks(self, xml: Path, root: Element, meta: _Meta, split: Optional[str]) -> None:
        """CVAT for video: shapes per frame from the tracks; frames are ``images/frame_{N:06d}.*``."""
        frames: dict[int, list[LabelShape]] = {}
        for t, track in enumerate(root.findall("track"), 1):
            self.cancel.raise_if_cancelled()
            where = f"track[{track.get('id', t)}]"
            for el in track:
                if el.tag == "track" or el.get("outside") == "1":
                    continue  # skeleton point tracks (their skeleton is reported) and hidden frames
                element = f"{where}/{el.tag}[frame={el.get('frame')}]"
                try:
                    frame = int(el.get("frame") or "")
                    shape = _shape(el, track.get("label") or "", meta, Problem(str(xml), "", element=element))
                except ValueError as exc:
                    self.problem(xml, f"shape skipped: {exc}", element)
                    continue
                shape.attributes["track_id"] = typed_value(track.get("id") or str(t))
                frames.setdefault(frame, []).append(shape)
        files: dict[int, Path] = {}
        for stem, image in sorted(image_index(xml.parent / "images", self.cache).items()):
            m = FRAME.fullmatch(stem)
            if m:
                files.setdefault(int(m.group(1)), image)
        for frame in sorted(set(files) | set(frames)):
            if frame not in files:
                self.problem(xml, f"image of frame {frame} not found (images/frame_{frame:06d}.*); "
                                  f"{len(frames[frame])} shapes skipped", f"frame[{frame}]")
                continue
            self.out.items.append(DatasetItem(files[frame], frames.get(frame, []), split, xml, meta.frame_size))


def read(path: Path, progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None) -> ParsedDataset:
    """Read a CVAT XML file, or every CVAT XML file at the top of a folder. Split: the image's ``subset``, else
    ``<meta><task><subset>``, else the file's name when it is train/val/test/trainval."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    path = Path(path)
    files = _xml_files(path)
    if not files:
        raise FormatError(f"{path}: no XML file to read as CVAT XML")
    out = ParsedDataset("cvat", path if path.is_dir() else path.parent)
    reader = _Reader(out, progress, cancel)
    classes: list[str] = []
    for xml in files:
        root = parse_xml(xml)
        if isinstance(root, Problem):
            out.problems.append(root)
            continue
        if root.tag != "annotations":
            out.problems.append(Problem(str(xml), f"not a CVAT XML file (root element <{root.tag}>); skipped"))
            continue
        meta = _Meta(root)
        classes += [c for c in meta.classes if c not in classes]
        split = meta.subset or (xml.stem.lower() if xml.stem.lower() in KNOWN_SPLITS else None)
        reader.images(xml, root, meta, split)
        if root.find("track") is not None:
            reader.tracks(xml, root, meta, split)
    out.classes = first_appearance(classes, out.items)
    out.class_source = "<meta> labels" if classes else "shape labels"
    progress(1.0, f"read {len(out.items)} images")
    return out
