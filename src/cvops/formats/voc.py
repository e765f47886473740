"""Pascal VOC XML: read (VOC tree, labelImg folders, ``annotations/`` + ``images/``) and write (VOC tree).

VOC ``<bndbox>`` values are 1-based inclusive pixel indices; we store 0-based continuous boxes:
``x = xmin - 1``, ``w = xmax - xmin + 1`` (the same as supervision). The writer does the inverse, writing integers
when integral and full-precision floats otherwise, so a round trip is exact. All XML goes through defusedxml; the
XML helpers live in :mod:`cvops.formats.common`.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Optional
from xml.etree.ElementTree import Element, ElementTree, SubElement, indent

from PIL import Image

from cvops.formats.model import (
    DatasetItem, ExportData, ExportItem, FormatError, LabelShape, ParsedDataset, Problem, place_image,
    resolve_inside,
)
from cvops.formats.common import (
    EVERY, IMAGE_EXTS, first_appearance, image_index, parse_xml, read_lines, sniff_xml, text, typed_value, unique_name,
    walk,
)
from cvops.common.imageio import open_image
from cvops.common.jobs import CancelToken, Progress, no_progress

SPLIT_ORDER = ("train", "val", "test")  # preferred over any other list; "trainval" comes last
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
FLAGS = ("truncated", "difficult", "occluded")
ANNOTATION_DIRS = ("Annotations", "annotations", "annots", "xml")
IMAGE_DIRS = ("JPEGImages", "images", "imgs")
SEARCH_DEPTH = 2  # how far below the folder given an annotation folder is looked for (VOCdevkit/VOC2012/...)


# -- detection ------------------------------------------------------------------------------------------------------
def _has_xml(folder: Path) -> bool:
    return next(iter(walk(folder, (".xml",))), None) is not None


def _annotations_dir(root: Path) -> Optional[Path]:
    """The first annotation folder (one of ANNOTATION_DIRS holding XML files) in ``root`` or up to SEARCH_DEPTH
    folders below it, breadth first."""
    level = [root]
    for _ in range(SEARCH_DEPTH + 1):
        for folder in level:
            for name in ANNOTATION_DIRS:
                if (folder / name).is_dir() and _has_xml(folder / name):
                    return folder / name
        level = [sub for folder in level for sub in sorted(folder.iterdir())
                 if sub.is_dir() and not sub.name.startswith(".") and sub.name not in ANNOTATION_DIRS]
    return None


def _xml_files(path: Path) -> tuple[Path, Path, list[Path]]:
    """Dataset root, annotation folder and its XML files: an annotation folder (``Annotations/``,
    ``annotations/``, ``annots/``, ``xml/``; its parent is the root), else every XML file under the folder (XML
    beside the images)."""
    if path.is_file():
        return path.parent, path.parent, [path]
    ann = _annotations_dir(path)
    if ann is None:
        return path, path, list(walk(path, (".xml",)))
    return ann.parent, ann, list(walk(ann, (".xml",)))


def detect(path: Path) -> bool:
    """A VOC XML file, or a folder whose XML files (in an annotation folder, else anywhere under it) are VOC: the
    first telling one of the first 20 decides (``<size>``/``<bndbox>``: VOC; LabelMe and CVAT XML are not). A tree
    with ``Annotations/`` and ``JPEGImages/`` or ``ImageSets/Main`` counts even when its files tell nothing (no
    objects)."""
    if path.is_file():
        return path.suffix.lower() == ".xml" and sniff_xml(path) == "voc"
    if not path.is_dir():
        return False
    ann = _annotations_dir(path)
    root = path if ann is None else ann.parent
    files = list(itertools.islice(walk(ann or path, (".xml",)), 20))
    for f in files:
        kind = sniff_xml(f)
        if kind:
            return kind == "voc"
    return bool(files) and ann is not None and (
        (root / "JPEGImages").is_dir() or (root / "ImageSets" / "Main").is_dir())


# -- reading --------------------------------------------------------------------------------------------------------
def _class_order(root: Path, problems: list[Problem]) -> list[str]:
    """Classes from ``classes.txt`` (exact names), else datumaro's ``labelmap.txt`` (``name:color:parts:actions``)."""
    if (root / "classes.txt").is_file():
        return read_lines(root / "classes.txt", problems)
    if (root / "labelmap.txt").is_file():
        return [line.split(":", 1)[0].strip() for line in read_lines(root / "labelmap.txt", problems)]
    return []


def _split_lists(root: Path, problems: list[Problem]) -> dict[str, tuple[str, str]]:
    """Item id -> (split, list file) from ``ImageSets/Main/<split>.txt``; per-class lists (``cat_train.txt``) are
    ignored; an id in several lists gets train/val/test before other names and ``trainval`` last."""
    main = root / "ImageSets" / "Main"
    lists = sorted(main.glob("*.txt")) if main.is_dir() else []
    stems = {p.stem for p in lists} | set(SPLIT_ORDER) | {"trainval"}
    lists = [p for p in lists if not any(p.stem.endswith("_" + s) for s in stems)]
    rank = {s: i for i, s in enumerate(SPLIT_ORDER)}
    lists.sort(key=lambda p: (rank.get(p.stem, len(rank) + (p.stem == "trainval")), p.stem))
    out: dict[str, tuple[str, str]] = {}
    for p in lists:
        for line in read_lines(p, problems):
            out.setdefault(line.split()[0], (p.stem, str(p)))
    return out


def _find_image(root: Path, xml: Path, item_id: str, filename: Optional[str], folder: Optional[str],
                cache: dict[Path, dict[str, Path]], path_text: Optional[str] = None
                ) -> tuple[Optional[Path], Optional[str]]:
    """The image of an annotation, and why a named file was refused. Tries ``<filename>`` (then the file name of a
    possibly stale ``<path>``) in ``JPEGImages/``, ``images/``, ``imgs/`` (each with the XML's subfolder), beside
    the XML, ``<folder>/`` and the root; then the same stem with any image extension there (a ``<filename>``
    without extension included)."""
    sub = PurePosixPath(item_id).parent
    dirs = [root / name / sub for name in IMAGE_DIRS[:1]] + [xml.parent]
    dirs += [root / folder] if folder and "/" not in folder and "\\" not in folder and folder != ".." else []
    dirs += [root / name / sub for name in IMAGE_DIRS[1:]] + [root / name for name in IMAGE_DIRS[1:]] + [root]
    dirs = list(dict.fromkeys(dirs))
    refused = None
    names = [filename] if filename else []
    stale = PureWindowsPath(path_text).name if path_text else ""  # a Windows path splits on / and \\ alike
    if stale and stale not in names:
        names.append(stale)
    stems = [PurePosixPath(item_id).name.lower()]
    for name in reversed(names):
        plain = PurePosixPath(name.replace("\\", "/"))
        stems[:0] = [plain.stem.lower(), plain.name.lower()]
    stems = list(dict.fromkeys(stems))
    for name in names:
        for d in dirs:
            try:
                candidate = resolve_inside(root, os.path.relpath(d, root).replace(os.sep, "/") + "/" + name)
            except ValueError as exc:
                refused = refused or str(exc)
                break
            if candidate.is_file():
                return candidate, None
    for d in dirs:
        for stem in stems:
            hit = image_index(d, cache).get(stem)
            if hit is not None:
                return hit, refused
    return None, refused


class ShapeError(ValueError):
    """A shape that cannot be read: ``element`` says where, the message why."""

    def __init__(self, element: str, reason: str) -> None:
        super().__init__(reason)
        self.element = element


def _number(el: Element, tag: str, where: str) -> float:
    raw = text(el, tag)
    if raw is None:
        raise ShapeError(where, f"missing <{tag}>")
    try:
        value = float(raw)
    except ValueError:
        raise ShapeError(where, f"non-numeric <{tag}> {raw!r}") from None
    if not math.isfinite(value):
        raise ShapeError(where, f"non-finite <{tag}> {raw!r}")
    return value


def _flag(raw: str) -> Any:
    value = typed_value(raw)
    return bool(value) if value in (0, 1) and not isinstance(value, float) else value


def _attributes(obj: Element) -> dict[str, Any]:
    """truncated/difficult/occluded (0/1 -> bool), pose unless Unspecified, datumaro ``<attributes>``."""
    attrs: dict[str, Any] = {}
    for tag in FLAGS:
        raw = text(obj, tag)
        if raw is not None:
            attrs[tag] = _flag(raw)
    pose = text(obj, "pose")
    if pose and pose.lower() != "unspecified":
        attrs["pose"] = pose
    for attr in obj.findall("attributes/attribute"):
        name = text(attr, "name")
        if name:
            attrs[name] = typed_value(text(attr, "value") or "")
    return attrs


def _shape(obj: Element, where: str, origin: Problem) -> LabelShape:
    """One ``<object>`` as a box (or a supervision-style ``<polygon>`` of ``x1``/``y1``... points, 1-based);
    raises :class:`ShapeError`."""
    name = text(obj, "name")
    if name is None:
        raise ShapeError(where, "missing <name>")
    poly = obj.find("polygon")
    if poly is not None and len(poly):
        coords = [_number(poly, c.tag, f"{where}/polygon") - 1 for c in poly]
        if len(coords) % 2 or len(coords) < 6:
            raise ShapeError(f"{where}/polygon", "<polygon> needs at least 3 x/y pairs")
        points = [[coords[i], coords[i + 1]] for i in range(0, len(coords), 2)]
        return LabelShape(name, "polygon", points=points, attributes=_attributes(obj), origin=origin)
    box = obj.find("bndbox")
    if box is None:
        raise ShapeError(where, "missing <bndbox>")
    xmin, ymin, xmax, ymax = (_number(box, t, f"{where}/bndbox") for t in ("xmin", "ymin", "xmax", "ymax"))
    w, h = xmax - xmin + 1, ymax - ymin + 1  # a sub-pixel box (as the writer writes it) has xmax < xmin
    if xmax == xmin or ymax == ymin or w <= 0 or h <= 0:  # zero area is reported, never widened to one pixel
        raise ShapeError(f"{where}/bndbox", f"{'negative size' if w <= 0 or h <= 0 else 'zero area'}: "
                                            f"xmin {xmin:g}, ymin {ymin:g}, xmax {xmax:g}, ymax {ymax:g}")
    return LabelShape(name, "box", box=(xmin - 1, ymin - 1, w, h), attributes=_attributes(obj), origin=origin)


def _folder_split(path: Path, root: Path) -> Optional[str]:
    """The split a folder on the way from the root names (Roboflow's ``train/``, ``valid/``, ``test/``)."""
    try:
        parts = path.relative_to(root).parts[:-1]
    except ValueError:
        return None
    return next((SPLIT_FOLDERS[p.lower()] for p in parts if p.lower() in SPLIT_FOLDERS), None)


def _declared_size(ann: Element, path: Path, problems: list[Problem]) -> Optional[tuple[int, int]]:
    size = ann.find("size")
    if size is None:
        return None
    try:
        w, h = (float(text(size, t) or "0") for t in ("width", "height"))
    except ValueError:
        problems.append(Problem(str(path), "non-numeric image size; ignored", element="size"))
        return None
    if w == 0 or h == 0:  # unknown (labelImg writes 0)
        return None
    if w < 0 or h < 0 or not w.is_integer() or not h.is_integer():
        problems.append(Problem(str(path), f"invalid image size {w:g}x{h:g}; ignored", element="size"))
        return None
    return int(w), int(h)


def _read_xml(xml: Path, root: Path, ann_dir: Path, splits: dict[str, tuple[str, str]],
              cache: dict[Path, dict[str, Path]], problems: list[Problem]) -> Optional[DatasetItem]:
    ann = parse_xml(xml)
    if isinstance(ann, Problem):
        problems.append(ann)
        return None
    if ann.tag != "annotation":
        problems.append(Problem(str(xml), f"not a Pascal VOC annotation (root element <{ann.tag}>)"))
        return None
    item_id = xml.relative_to(ann_dir).with_suffix("").as_posix()
    filename = text(ann, "filename")
    image, refused = _find_image(root, xml, item_id, filename, text(ann, "folder"), cache, text(ann, "path"))
    if image is None:
        reason = (f"image {filename!r} refused: {refused}" if refused else
                  f"image {filename!r} not found" if filename else
                  "missing <filename> and no image named like the XML file")
        problems.append(Problem(str(xml), reason, element="filename"))
        return None
    item = DatasetItem(image, split=splits.get(item_id, (None, ""))[0] or _folder_split(xml, root), label_path=xml,
                       declared_size=_declared_size(ann, xml, problems))
    for i, obj in enumerate(ann.findall("object"), 1):
        where = f"object[{i}]"
        try:
            item.shapes.append(_shape(obj, where, Problem(str(xml), "", element=where)))
        except ShapeError as exc:
            problems.append(Problem(str(xml), f"object skipped: {exc}", element=exc.element))
    return item


def read(path: Path, progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None) -> ParsedDataset:
    """Read a VOC tree (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main``), a folder of XML files with images
    alongside, a folder with ``annotations/`` and ``images/``, or one XML file. Images without an annotation (in
    ``JPEGImages/``, else in the folders where annotated images were found) become items without shapes."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file or folder")
    root, ann_dir, files = _xml_files(path)
    out = ParsedDataset("voc", root)
    splits = _split_lists(root, out.problems)
    cache: dict[Path, dict[str, Path]] = {}
    for n, xml in enumerate(files):
        if n % EVERY == 0:
            cancel.raise_if_cancelled()
            progress(n / max(len(files), 1), f"reading {n}/{len(files)} VOC files")
        item = _read_xml(xml, root, ann_dir, splits, cache, out.problems)
        if item is not None:
            out.items.append(item)
    used = {item.image_path for item in out.items}
    listed = {xml.relative_to(ann_dir).with_suffix("").as_posix() for xml in files}
    jpeg = root / "JPEGImages"
    folders = [] if path.is_file() else [jpeg] if jpeg.is_dir() else sorted({p.parent for p in used})
    for folder in folders:
        images = walk(folder, IMAGE_EXTS) if folder == jpeg else image_index(folder, cache).values()
        for image in sorted(images):
            if image not in used:
                item_id = image.relative_to(folder).with_suffix("").as_posix()
                listed.add(item_id)
                out.items.append(DatasetItem(image, split=splits.get(item_id, (None, ""))[0]
                                             or _folder_split(image, root)))
    for item_id, (split, list_file) in splits.items():
        if item_id not in listed:
            out.problems.append(Problem(list_file, f"{item_id!r} is listed but has no annotation and no image"))
    out.classes = first_appearance(_class_order(root, out.problems), out.items)
    out.class_source = next((str(root / n) for n in ("classes.txt", "labelmap.txt") if (root / n).is_file()),
                            "<object><name> elements")
    progress(1.0, f"read {len(out.items)} images")
    return out


# -- writing --------------------------------------------------------------------------------------------------------
def _num(value: float) -> str:
    """An integer when integral, else the float at full precision."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _depth(path: Path) -> int:
    try:
        with open_image(path) as im:
            return len(im.getbands())
    except (OSError, ValueError, Image.DecompressionBombError):
        return 3


def _flag_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, (bool, int)) else str(value)


def _annotation(item: ExportItem, file_name: str, names: list[str]) -> tuple[Element, int]:
    """The ``<annotation>`` of one image and the number of shapes left out (VOC holds boxes only)."""
    ann = Element("annotation")
    SubElement(ann, "folder").text = "JPEGImages"
    SubElement(ann, "filename").text = file_name
    size = SubElement(ann, "size")
    for tag, value in (("width", item.width), ("height", item.height), ("depth", _depth(item.source))):
        SubElement(size, tag).text = str(value)
    SubElement(ann, "segmented").text = "0"
    skipped = 0
    for shape in item.shapes:
        if shape.kind != "box" or shape.box is None:
            skipped += 1
            continue
        attrs = dict(shape.attributes)
        obj = SubElement(ann, "object")
        SubElement(obj, "name").text = names[shape.class_index]
        SubElement(obj, "pose").text = str(attrs.pop("pose", "Unspecified"))
        for tag in FLAGS:
            if tag in attrs or tag != "occluded":  # truncated and difficult always, occluded when known
                SubElement(obj, tag).text = _flag_text(attrs.pop(tag, 0))
        x, y, w, h = shape.box
        box = SubElement(obj, "bndbox")
        for tag, value in (("xmin", x + 1), ("ymin", y + 1), ("xmax", x + w), ("ymax", y + h)):
            SubElement(box, tag).text = _num(value)
        if attrs:
            extra = SubElement(obj, "attributes")
            for key, value in attrs.items():
                attr = SubElement(extra, "attribute")
                SubElement(attr, "name").text = str(key)
                SubElement(attr, "value").text = str(value).lower() if isinstance(value, bool) else str(value)
    return ann, skipped


def write(data: ExportData, out: Path, progress: Optional[Progress] = None,
          cancel: Optional[CancelToken] = None) -> None:
    """Write ``Annotations/<id>.xml``, ``JPEGImages/<file_name>``, ``ImageSets/Main/<split>.txt``,
    ``labelmap.txt`` and ``classes.txt``. Only boxes are written; polygons and tags are left out (counted in the
    last progress message)."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    out = Path(out)
    names = [c.name for c in sorted(data.classes, key=lambda c: c.index)]
    taken: set[str] = set()
    split_ids: dict[str, list[str]] = {}
    skipped = 0
    for n, item in enumerate(data.items):
        if n % EVERY == 0:
            cancel.raise_if_cancelled()
            progress(n / max(len(data.items), 1), f"writing {n}/{len(data.items)} images")
        file_name = unique_name(item.file_name, item.image_id, taken)
        item_id = PurePosixPath(file_name.replace("\\", "/")).with_suffix("").as_posix()
        try:
            image_dest = resolve_inside(out / "JPEGImages", file_name)
            xml_dest = resolve_inside(out / "Annotations", item_id + ".xml")
        except ValueError as exc:
            raise FormatError(f"cannot export image {item.image_id}: {exc}") from None
        place_image(item.source, image_dest, data.images_mode)
        ann, left_out = _annotation(item, PurePosixPath(file_name).name, names)
        skipped += left_out
        indent(ann, space="  ")
        xml_dest.parent.mkdir(parents=True, exist_ok=True)
        ElementTree(ann).write(xml_dest, encoding="utf-8", xml_declaration=True)
        split_ids.setdefault(item.split, []).append(item_id)
    main = out / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    for split in data.splits:
        (main / f"{split}.txt").write_text("".join(f"{i}\n" for i in split_ids[split]), encoding="utf-8")
    colors = [_rgb(c.color) for c in sorted(data.classes, key=lambda c: c.index)]
    (out / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n" + "".join(
        f"{name}:{color}::\n" for name, color in zip(names, colors)), encoding="utf-8")
    (out / "classes.txt").write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    note = f"; {skipped} polygons/tags left out (VOC holds boxes only)" if skipped else ""
    progress(1.0, f"wrote {len(data.items)} images{note}")


def _rgb(color: str) -> str:
    """``#rrggbb`` -> ``r,g,b`` (empty when not a hex color)."""
    m = re.fullmatch(r"#?([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", color or "")
    return ",".join(str(int(g, 16)) for g in m.groups()) if m else ""
