"""labelme: read wkentaro labelme JSON (one file per image) and MIT LabelMe XML; write labelme JSON.

JSON rectangles (two corners, any order) become boxes, polygons stay polygons, image-level ``flags`` set to true
become tags; ``group_id``, ``description`` and shape ``flags`` become attributes; polygons of one label sharing a
``group_id`` are the parts of one object and become one multi-part polygon. An image that is missing but
embedded as ``imageData`` is decoded into a temporary folder (``cvops-labelme-*``, removed at exit; the importer
copies from there), never into the dataset. LabelMe XML polygons stay polygons, ``bounding_box`` objects become
boxes, deleted objects are skipped and mask-only objects are reported.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import io
import json
import math
import shutil
import tempfile
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Any, Optional
from xml.etree.ElementTree import Element

from PIL import Image, UnidentifiedImageError

from cvops.data.annotations import PARTS
from cvops.formats.model import (
    DatasetItem, ExportData, ExportItem, ExportShape, FormatError, LabelShape, ParsedDataset, Problem, place_image,
    resolve_inside,
)
from cvops.formats.common import (
    EVERY, JsonFileError, first_appearance, image_index, load_json, parse_xml, read_lines, sniff_xml, text,
    typed_value, unique_name, walk,
)
from cvops.common.imageio import open_image
from cvops.common.jobs import CancelToken, Progress, no_progress

VERSION = "5.4.1"
SHAPE_TYPES = ("rectangle", "polygon")
UNSUPPORTED = ("circle", "line", "point", "points", "linestrip", "mask", "rotation", "ellipse", "cuboid")
DETECT_MAX_BYTES = 64 << 20
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp", "GIF": ".gif"}


# -- detection ------------------------------------------------------------------------------------------------------
def _json_kind(path: Path) -> Optional[bool]:
    """True for labelme JSON, False for COCO JSON (or too large to be labelme), None for other or broken JSON."""
    try:
        if path.stat().st_size > DETECT_MAX_BYTES:
            return False
        data = load_json(path)
    except (OSError, JsonFileError):
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("shapes"), list) and "imagePath" in data:
        return True
    return False if "images" in data or "annotations" in data else None


def _kind(path: Path) -> Optional[bool]:
    """True for a labelme JSON or LabelMe XML file, False for another telling file, None when it tells nothing."""
    if path.suffix.lower() == ".json":
        return _json_kind(path)
    kind = sniff_xml(path)
    return None if kind is None else kind == "labelme"


def detect(path: Path) -> bool:
    """A labelme JSON / LabelMe XML file, or a folder whose first telling annotation file (of the first 20 found,
    recursively) is one. VOC and CVAT XML and COCO JSON are not."""
    if path.is_file():
        return bool(_kind(path))
    if not path.is_dir():
        return False
    for f in islice(walk(path, (".json", ".xml")), 20):
        kind = _kind(f)
        if kind is not None:
            return kind
    return False


# -- reading --------------------------------------------------------------------------------------------------------
class _Reader:
    """State of one :func:`read`: the dataset root, problems and the lazily made temp folder for embedded images."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.cache: dict[Path, dict[str, Path]] = {}
        self.extract_dir: Optional[Path] = None

    def problem(self, path: Path, reason: str, element: Optional[str] = None, line: Optional[int] = None) -> None:
        self.problems.append(Problem(str(path), reason, line, element))

    def find(self, ann: Path, relative: str) -> tuple[Optional[Path], Optional[str]]:
        """An image named relative to an annotation file (inside the dataset), else the same file name beside it;
        and why the name was refused."""
        refused = None
        folder = ann.parent.relative_to(self.root).as_posix()
        try:
            candidate = resolve_inside(self.root, f"{folder}/{relative}")
            if candidate.is_file():
                return candidate, None
        except ValueError as exc:
            refused = str(exc)
        name = PurePosixPath(relative.replace("\\", "/")).name
        beside = ann.parent / name
        return (beside, refused) if name and beside.is_file() else (None, refused)

    def extract(self, ann: Path, data: str) -> Path:
        """Decode base64 ``imageData`` into the temp folder; raises ValueError with the reason."""
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("imageData is not valid base64") from None
        try:
            with open_image(io.BytesIO(raw)) as im:
                ext = EXTENSIONS.get(im.format or "")
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
            ext = None
        if ext is None:
            raise ValueError("imageData is not a supported image")
        if self.extract_dir is None:
            self.extract_dir = Path(tempfile.mkdtemp(prefix="cvops-labelme-"))
            atexit.register(shutil.rmtree, self.extract_dir, True)
        dest = self.extract_dir / ann.relative_to(self.root).with_suffix(ext)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(raw)
        return dest

    # -- labelme JSON -----------------------------------------------------------------------------------------------
    def read_json(self, path: Path) -> Optional[DatasetItem]:
        try:
            data = load_json(path)
        except JsonFileError as exc:
            self.problem(path, exc.problem.reason, line=exc.problem.line)
            return None
        if not isinstance(data, dict):
            self.problem(path, "not a labelme file: the JSON is not an object")
            return None
        missing = [k for k in ("shapes", "imagePath") if k not in data]
        if missing or not isinstance(data["shapes"], list):
            self.problem(path, f"not a labelme file: missing key {', '.join(map(repr, missing))}" if missing
                         else "'shapes' is not a list", element="shapes" if not missing else None)
            return None
        image = self._json_image(path, data)
        if image is None:
            return None
        item = DatasetItem(image, label_path=path, declared_size=self._json_size(path, data))
        for i, raw in enumerate(data["shapes"]):
            try:
                item.shapes.append(_json_shape(raw, Problem(str(path), "", element=f"shapes[{i}]")))
            except ValueError as exc:
                self.problem(path, f"shape skipped: {exc}", element=f"shapes[{i}]")
        item.shapes = _join_groups(item.shapes)
        flags = data.get("flags") or {}
        if not isinstance(flags, dict):
            self.problem(path, "'flags' is not an object; ignored", element="flags")
            flags = {}
        item.shapes += [LabelShape(str(k), "tag", origin=Problem(str(path), "", element=f"flags.{k}"))
                        for k, v in flags.items() if v is True]
        return item

    def _json_image(self, path: Path, data: dict[str, Any]) -> Optional[Path]:
        name = data.get("imagePath")
        image, refused = self.find(path, name) if isinstance(name, str) and name else (None, None)
        if image is not None:
            return image
        embedded = data.get("imageData")
        if isinstance(embedded, str) and embedded:
            try:
                return self.extract(path, embedded)
            except ValueError as exc:
                self.problem(path, str(exc), element="imageData")
                return None
        where = f"image {name!r} refused: {refused}" if refused else f"image {name!r} not found"
        self.problem(path, f"{where} and no imageData", element="imagePath")
        return None

    def _json_size(self, path: Path, data: dict[str, Any]) -> Optional[tuple[int, int]]:
        w, h = data.get("imageWidth"), data.get("imageHeight")
        if w is None and h is None:
            return None
        if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h)):
            return w, h
        self.problem(path, f"invalid imageWidth/imageHeight {w!r}x{h!r}; ignored", element="imageWidth")
        return None

    # -- LabelMe XML ------------------------------------------------------------------------------------------------
    def read_xml(self, path: Path) -> Optional[DatasetItem]:
        ann = parse_xml(path)
        if isinstance(ann, Problem):
            self.problems.append(ann)
            return None
        if ann.tag != "annotation":
            self.problem(path, f"not a LabelMe annotation (root element <{ann.tag}>)")
            return None
        filename, folder = text(ann, "filename"), text(ann, "folder")
        if filename is None:
            self.problem(path, "missing <filename>", element="filename")
            return None
        image, refused = self.find(path, filename)
        for rel in ([f"Images/{folder}/{filename}", f"{folder}/{filename}"] if folder and image is None else []):
            try:
                hit = resolve_inside(self.root, rel)
            except ValueError:
                continue
            if hit.is_file():
                image = hit
                break
        if image is None:
            self.problem(path, f"image {filename!r} " + (f"refused: {refused}" if refused else "not found"),
                         element="filename")
            return None
        item = DatasetItem(image, label_path=path, declared_size=_xml_size(ann))
        for i, obj in enumerate(ann.findall("object"), 1):
            where = f"object[{i}]"
            if text(obj, "deleted") == "1":
                continue
            try:
                item.shapes.append(_xml_shape(obj, where, Problem(str(path), "", element=where)))
            except ValueError as exc:
                self.problem(path, f"object skipped: {exc}", element=where)
        return item


def _point(raw: Any) -> list[float]:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
        raise ValueError(f"point {raw!r} is not an [x, y] pair of numbers")
    if not all(math.isfinite(v) for v in raw):
        raise ValueError(f"point {raw!r} is not finite (NaN or infinity)")
    return [float(raw[0]), float(raw[1])]


def _json_shape(raw: Any, origin: Problem) -> LabelShape:
    """One labelme shape; raises ValueError with the reason."""
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError("missing label")
    kind = raw.get("shape_type") or "polygon"
    if kind not in SHAPE_TYPES:
        raise ValueError(f"{'unsupported' if kind in UNSUPPORTED else 'unknown'} shape type {kind!r}")
    points = raw.get("points")
    if not isinstance(points, list):
        raise ValueError("missing points")
    pts = [_point(p) for p in points]
    attrs: dict[str, Any] = {}
    if raw.get("group_id") is not None:
        attrs["group_id"] = raw["group_id"]
    if isinstance(raw.get("description"), str) and raw["description"]:
        attrs["description"] = raw["description"]
    for key in ("flags", "attributes"):
        if isinstance(raw.get(key), dict):
            attrs.update(raw[key])
    if kind == "rectangle":
        if len(pts) != 2:
            raise ValueError(f"a rectangle needs 2 points, it has {len(pts)}")
        (x1, y1), (x2, y2) = pts
        if x1 == x2 or y1 == y2:
            raise ValueError("rectangle has zero width or height")
        return LabelShape(label, "box", box=(min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)),
                          attributes=attrs, origin=origin)
    if len(pts) < 3:
        raise ValueError(f"a polygon needs at least 3 points, it has {len(pts)}")
    return LabelShape(label, "polygon", points=pts, attributes=attrs, origin=origin)


def _join_groups(shapes: list[LabelShape]) -> list[LabelShape]:
    """Polygons of one label sharing an integer ``group_id`` are the parts of one object (labelme's grouping, and how
    the labelme export writes a multi-part polygon): one multi-part polygon, where the first part stood."""
    groups: dict[tuple[str, int], list[LabelShape]] = {}
    for shape in shapes:
        gid = shape.attributes.get("group_id")
        if shape.kind == "polygon" and isinstance(gid, int) and not isinstance(gid, bool):
            groups.setdefault((shape.label, gid), []).append(shape)
    out: list[LabelShape] = []
    for shape in shapes:
        gid = shape.attributes.get("group_id")
        parts = groups.get((shape.label, gid), []) if shape.kind == "polygon" and isinstance(gid, int) else []
        if len(parts) < 2:
            out.append(shape)
        elif shape is parts[0]:
            out.append(LabelShape(shape.label, "polygon", points=[p for part in parts for p in part.points or []],
                                  attributes={**shape.attributes, PARTS: [len(part.points or []) for part in parts]},
                                  origin=shape.origin))
    return out


def _xml_size(ann: Element) -> Optional[tuple[int, int]]:
    size = ann.find("imagesize")
    try:
        w, h = int(text(size, "ncols") or 0), int(text(size, "nrows") or 0)
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None


def _xml_shape(obj: Element, where: str, origin: Problem) -> LabelShape:
    """One LabelMe XML object; raises ValueError with the reason."""
    name = text(obj, "name")
    if name is None:
        raise ValueError("missing <name>")
    poly = obj.find("polygon")
    if poly is None:
        raise ValueError("unsupported shape type 'mask' (<segm>)" if obj.find("segm") is not None
                         else "missing <polygon>")
    pts = []
    for k, pt in enumerate(poly.findall("pt"), 1):
        try:
            pts.append(_point([float(text(pt, "x")), float(text(pt, "y"))]))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"pt[{k}] has a missing or non-numeric <x>/<y>") from None
    attrs: dict[str, Any] = {}
    occluded = text(obj, "occluded")
    if occluded in ("yes", "no"):
        attrs["occluded"] = occluded == "yes"
    for part in (text(obj, "attributes") or "").split(","):
        key, eq, value = part.strip().partition("=")
        if key.strip():
            attrs[key.strip()] = typed_value(value.strip()) if eq else True
    if text(obj, "type") == "bounding_box":
        if len(pts) != 4:
            raise ValueError(f"a bounding_box needs 4 points, it has {len(pts)}")
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        if max(xs) == min(xs) or max(ys) == min(ys):
            raise ValueError("bounding_box has zero width or height")
        return LabelShape(name, "box", box=(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)),
                          attributes=attrs, origin=origin)
    if len(pts) < 3:
        raise ValueError(f"a polygon needs at least 3 points, it has {len(pts)}")
    return LabelShape(name, "polygon", points=pts, attributes=attrs, origin=origin)


def read(path: Path, progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None) -> ParsedDataset:
    """Read every labelme JSON and LabelMe XML file under a folder (or one file). Images without an annotation in
    the folders where annotated images were found become items without shapes. Class order: ``classes.txt`` if
    present, then first appearance."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file or folder")
    root = path if path.is_dir() else path.parent
    files = list(walk(path, (".json", ".xml"))) if path.is_dir() else [path]
    reader = _Reader(root)
    out = ParsedDataset("labelme", root, problems=reader.problems)
    for n, f in enumerate(files):
        if n % EVERY == 0:
            cancel.raise_if_cancelled()
            progress(n / max(len(files), 1), f"reading {n}/{len(files)} labelme files")
        item = reader.read_json(f) if f.suffix.lower() == ".json" else reader.read_xml(f)
        if item is not None:
            out.items.append(item)
    used = {item.image_path for item in out.items}
    if path.is_dir():
        for folder in sorted({p.parent for p in used if reader.extract_dir not in p.parents}):
            out.items += [DatasetItem(p) for p in sorted(image_index(folder, reader.cache).values()) if p not in used]
    classes = read_lines(root / "classes.txt", reader.problems) if (root / "classes.txt").is_file() else []
    out.classes = first_appearance(classes, out.items)
    out.class_source = str(root / "classes.txt") if classes else "shape labels"
    progress(1.0, f"read {len(out.items)} images")
    return out


# -- writing --------------------------------------------------------------------------------------------------------
def _shape_json(shape: ExportShape, names: list[str]) -> dict[str, Any]:
    attrs = dict(shape.attributes)
    group_id = attrs.pop("group_id") if isinstance(attrs.get("group_id"), int) else None
    description = attrs.pop("description") if isinstance(attrs.get("description"), str) else ""
    flags = {k: attrs.pop(k) for k in list(attrs) if isinstance(attrs[k], bool)}
    if shape.kind == "box":
        x, y, w, h = shape.box
        points, kind = [[x, y], [x + w, y + h]], "rectangle"
    else:
        points, kind = [list(p) for p in shape.points], "polygon"
    out = {"label": names[shape.class_index], "points": points, "group_id": group_id, "description": description,
           "shape_type": kind, "flags": flags, "mask": None}
    if attrs:
        out["attributes"] = attrs
    return out


def _document(item: ExportItem, image_name: str, names: list[str]) -> dict[str, Any]:
    shapes = [s for s in item.shapes if s.kind in ("box", "polygon") and (s.box or s.points)]
    return {"version": VERSION, "flags": {names[s.class_index]: True for s in item.shapes if s.kind == "tag"},
            "shapes": [_shape_json(s, names) for s in shapes], "imagePath": image_name, "imageData": None,
            "imageHeight": item.height, "imageWidth": item.width}


def write(data: ExportData, out: Path, progress: Optional[Progress] = None,
          cancel: Optional[CancelToken] = None) -> None:
    """Write each image to ``out/<file_name>`` with ``<stem>.json`` beside it (boxes as rectangles, polygons,
    tags as image flags, ``imageData`` null) and ``classes.txt`` with the class order. Splits are not kept."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    out = Path(out)
    names = [c.name for c in sorted(data.classes, key=lambda c: c.index)]
    taken: set[str] = set()
    for n, item in enumerate(data.items):
        if n % EVERY == 0:
            cancel.raise_if_cancelled()
            progress(n / max(len(data.items), 1), f"writing {n}/{len(data.items)} images")
        file_name = unique_name(item.file_name, item.image_id, taken)
        try:
            dest = resolve_inside(out, file_name)
        except ValueError as exc:
            raise FormatError(f"cannot export image {item.image_id}: {exc}") from None
        place_image(item.source, dest, data.images_mode)
        doc = _document(item, dest.name, names)
        dest.with_suffix(".json").write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "classes.txt").write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    progress(1.0, f"wrote {len(data.items)} images")

