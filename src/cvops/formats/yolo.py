"""YOLO datasets: Ultralytics detection / segmentation layouts, darknet and Label Studio's YOLO export.

The label of ``.../images/x/a.jpg`` is ``.../labels/x/a.txt`` (the last ``images`` component replaced, as Ultralytics
does), else ``a.txt`` next to the image (darknet). Writing produces the Ultralytics layout. Reference:
``docs/formats/yolo.md``.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Optional

import yaml

from cvops.formats.common import merge_parts, present, read_reason, read_text
from cvops.data.annotations import is_crowd, polygon_rings
from cvops.formats.model import (DatasetItem, ExportData, ExportItem, ExportShape, FormatError, LabelShape,
                                 ParsedDataset, Problem, place_image, resolve_inside)
from cvops.common.imageio import IMAGE_EXTENSIONS
from cvops.common.jobs import CancelToken, Progress, no_progress

SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
LIST_FILES = ("train.txt", "val.txt", "valid.txt", "test.txt")
NAME_FILES = ("classes.txt", "obj.names", "_darknet.labels")
MAX_DEPTH = 4  # how deep an images/ + labels/ pair is looked for under the folder given
CHECK_EVERY = 100
NUMBER_FORMAT = "%.10g"  # 10 significant digits: 1e-5 px on a 10 000 px image


class YamlError(FormatError):
    """A data.yaml that cannot be read or parsed; ``problem`` names the file and the parser's line."""

    def __init__(self, path: Path, reason: str, line: Optional[int] = None) -> None:
        self.problem = Problem(str(path), reason, line=line)
        super().__init__(str(self.problem))


class _NotFound(ValueError):
    """A path inside the dataset that does not exist."""


def _load_yaml(path: Path) -> tuple[dict[str, Any], str]:
    """A data.yaml and its text; YamlError when it cannot be used at all."""
    try:
        text = read_text(path)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError(path, f"cannot read: {read_reason(exc)}") from exc
    except RecursionError:
        raise YamlError(path, "YAML nested too deeply to read") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlError(path, f"malformed YAML: {getattr(exc, 'problem', None) or exc}",
                        mark.line + 1 if mark is not None else None) from exc
    if not isinstance(data, dict):
        raise YamlError(path, "not a YOLO data.yaml (expected a mapping with names and train / val keys)")
    return data, text


def _find_yaml(folder: Path, problems: Optional[list[Problem]] = None) -> Optional[Path]:
    """The folder's data.yaml, else its first ``*.yaml`` / ``*.yml`` with names or nc (unparsable: to problems)."""
    if named := next((folder / n for n in ("data.yaml", "data.yml") if (folder / n).is_file()), None):
        return named
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            data, _ = _load_yaml(path)
        except YamlError as exc:
            if problems is not None:
                problems.append(exc.problem)
            continue
        if "names" in data or "nc" in data:
            return path
    return None


def _subfolders(folder: Path) -> list[Path]:
    """The visible subfolders of a folder, sorted (none when it cannot be listed)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def find_yaml(folder: Path, problems: Optional[list[Problem]] = None) -> Optional[Path]:
    """The data.yaml of a folder, else of its first subfolder that has one (a download often wraps the dataset in
    one more folder)."""
    found = _find_yaml(folder, problems)
    for sub in [] if found else _subfolders(folder):
        if found := _find_yaml(sub, problems):
            break
    return found


def label_folders(folder: Path, depth: int = MAX_DEPTH) -> list[Path]:
    """``labels/`` folders with an ``images/`` sibling, at any depth up to ``depth`` below ``folder`` (hidden
    folders skipped), each holding at least one ``.txt`` file."""
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(folder):
        here = Path(dirpath)
        level = len(here.relative_to(folder).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if level < depth else []
        if here.name == "labels" and (here.parent / "images").is_dir() and next(here.rglob("*.txt"), None):
            found.append(here)
            dirnames[:] = []
    return found


def _darknet_keys(path: Path) -> dict[str, tuple[str, int]]:
    """``key = value`` lines of an ``obj.data`` file: key -> (value, line number)."""
    keys: dict[str, tuple[str, int]] = {}
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh.read(65536).splitlines(), 1):
            key, sep, value = line.partition("=")
            if sep and key.strip():
                keys.setdefault(key.strip().lower(), (value.strip(), number))
    return keys


def detect(path: Path) -> bool:
    """True for a YOLO dataset folder (data.yaml with names at the top or one folder down, darknet obj.data /
    obj.names / train.txt, images/ + labels/ siblings at any depth, classes.txt + labels/) or a path to its
    data.yaml / obj.data."""
    path = Path(path)
    try:
        if path.is_file():
            if path.suffix.lower() in (".yaml", ".yml"):
                return any(key in _load_yaml(path)[0] for key in ("names", "nc"))
            return path.suffix.lower() == ".data" and bool(_darknet_keys(path).keys() & {"names", "train", "valid"})
        if not path.is_dir():
            return False
        if any((path / name).is_file() for name in ("obj.data", "obj.names")) or find_yaml(path):
            return True
        labels = path / "labels"
        if (labels.is_dir() and next(labels.rglob("*.txt"), None) is not None
                and ((path / "images").is_dir() or any((path / n).is_file() for n in NAME_FILES))):
            return True
        if label_folders(path):
            return True
        if not (path / "train.txt").is_file():
            return False
        with open(path / "train.txt", encoding="utf-8-sig", errors="replace") as fh:
            first = next((line.strip() for line in fh if line.strip()), "")
        return os.path.splitext(first)[1].lower() in IMAGE_EXTENSIONS
    except (OSError, YamlError):
        return False


def _swap_component(path: Path, old: str, new: str) -> Optional[Path]:
    """``path`` with its last ``old`` component replaced by ``new``; None when there is none."""
    parts = path.parts
    if old not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index(old)
    return Path(*parts[:i], new, *parts[i + 1:])


def _number(token: str, what: str = "value") -> float:
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"non-numeric {what} {token!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {token!r} is not finite")
    return value


class _Reader:
    """State of one read: root, class names, sources (split, images) and problems."""

    def __init__(self, root: Path, progress: Optional[Progress], cancel: Optional[CancelToken]) -> None:
        self.root = root
        self.fence = root  # paths named in dataset files must stay inside this folder (the one given to read)
        self.progress = progress or no_progress
        self.cancel = cancel
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.class_source = ""
        self.names: Optional[dict[int, str]] = None  # None: no names anywhere; classes come from the label ids
        self.seen_ids: set[int] = set()
        self.keypoints = 0  # values after the box on a pose line (kpt_shape); 0 for detection / segmentation
        self.meta: set[Path] = set()  # names and list files: never label files
        self.sources: list[tuple[Optional[str], list[Path]]] = []
        self.label_trees: set[Path] = set()  # folders searched (recursively) for label files without an image
        self.used: dict[Path, Path] = {}  # label file -> first image it labelled

    def report(self, path: Path | str, reason: str, line: Optional[int] = None) -> None:
        self.problems.append(Problem(str(path), reason, line=line))

    def warn(self, path: Path | str, reason: str, line: Optional[int] = None) -> None:
        self.warnings.append(Problem(str(path), reason, line=line))

    def text(self, path: Path, what: str) -> str:
        """A text file's content; empty (and reported) when it cannot be read."""
        try:
            return read_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            self.report(path, f"cannot read the {what}: {read_reason(exc)}")
            return ""

    def check(self, fraction: float, message: str) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        self.progress(fraction, message)

    def resolve(self, relative: str, base: Optional[Path] = None) -> Path:
        """A path from a dataset file, inside the root; as written, else without a leading ``../`` (as Ultralytics
        does) or ``data/`` (CVAT's darknet export). ValueError with the reason; _NotFound: inside but missing."""
        relative = relative.strip().replace("\\", "/")
        if base is not None and relative and not relative.startswith("/"):
            relative = os.path.relpath(os.path.join(base, relative), os.path.abspath(self.root)).replace(os.sep, "/")
        error: Optional[ValueError] = None
        for candidate in [relative] + [relative[len(p):] for p in ("../", "data/") if relative.startswith(p)]:
            try:
                path = self.inside(candidate)
            except ValueError as exc:
                error = error or exc
                continue
            if path.exists():
                return path
            error = _NotFound("not found")
        raise error or _NotFound("not found")

    def inside(self, relative: str) -> Path:
        """``root / relative``, which must stay inside the folder given to read (ValueError otherwise)."""
        if self.fence == self.root or relative.startswith("/") or relative[1:2] == ":":
            return resolve_inside(self.root, relative)
        target = os.path.normpath(os.path.join(self.root, relative))
        try:
            return resolve_inside(self.fence, os.path.relpath(target, self.fence).replace(os.sep, "/"))
        except ValueError:
            raise ValueError(f"path {relative!r} escapes the dataset folder") from None

    def read_list(self, listing: Path) -> list[Path]:
        """The images of a ``.txt`` list: one path a line, absolute, ``./`` (the list's folder) or root-relative."""
        self.meta.add(listing)
        images: list[Path] = []
        for number, line in enumerate(self.text(listing, "image list").splitlines(), 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            try:
                if os.path.isabs(entry):  # Ultralytics allows absolute paths in lists
                    path = Path(entry)
                    if not path.is_file():
                        raise ValueError("not found")
                else:
                    path = self.resolve(entry, listing.parent if entry.startswith("./") else None)
                if path.suffix.lower() not in IMAGE_EXTENSIONS:
                    raise ValueError("not an image file")
            except ValueError as exc:
                self.report(listing, f"image {entry}: {exc}", number)
                continue
            images.append(path)
        return images

    def expand(self, entry: str, origin: Path, line: Optional[int], missing: list[Problem]) -> list[Path]:
        """The images a data.yaml / obj.data entry names (folder, ``.txt`` list, image); missing ones to ``missing``."""
        try:
            path = self.resolve(entry)
        except ValueError as exc:
            problem = Problem(str(origin), f"{entry}: {exc}", line=line)
            (missing if isinstance(exc, _NotFound) else self.problems).append(problem)
            return []
        if path.is_dir():
            self.label_trees.add(_swap_component(path, "images", "labels") or path)
            return self.scan(path)
        return [path] if path.suffix.lower() in IMAGE_EXTENSIONS else self.read_list(path)

    @staticmethod
    def scan(folder: Path) -> list[Path]:
        """Image files under a folder, recursively, sorted; hidden folders are skipped."""
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS
                      and not any(part.startswith(".") for part in p.relative_to(folder).parts) and p.is_file())

    def set_names(self, data: dict[str, Any], origin: Path, lines: dict[str, int]) -> None:
        """Class names from data.yaml: ``names`` as a list or {id: name} (sparse ids allowed), else ``nc``."""
        names, nc = data.get("names"), data.get("nc")
        if isinstance(names, list):
            mapping = dict(enumerate(names))
        elif isinstance(names, dict):
            mapping = {int(str(k)): v for k, v in names.items() if not isinstance(k, bool) and str(k).isdigit()}
            for key in (k for k in names if isinstance(k, bool) or not str(k).isdigit()):
                self.report(origin, f"class id {key!r} in names is not a non-negative integer", lines.get("names"))
        elif names is None and isinstance(nc, int) and not isinstance(nc, bool) and nc >= 0:
            mapping = dict.fromkeys(range(nc))
        else:
            if names is not None:
                self.report(origin, "names must be a list or a {id: name} mapping", lines.get("names"))
            return
        if names is not None and isinstance(nc, int) and nc != len(mapping):
            self.report(origin, f"nc: {nc} does not match the {len(mapping)} names; the names are used",
                        lines.get("nc"))
        self.names = {k: ("" if v is None else str(v).strip()) or f"class_{k}" for k, v in sorted(mapping.items())}

    def read_names(self, path: Path) -> None:
        """Class names from ``classes.txt`` / ``obj.names``: one a line, in id order."""
        self.meta.add(path)
        self.class_source = str(path)
        lines = [line.strip() for line in self.text(path, "class names").splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        self.names = {i: name or f"class_{i}" for i, name in enumerate(lines)}

    def classes(self) -> list[str]:
        """Class names in id order (a duplicate name once; reported)."""
        if self.names is None:
            self.class_source = "class_<id> (no data.yaml names, classes.txt or obj.names)"
            self.warn(self.root, "no class names (data.yaml names, classes.txt or obj.names): classes are named "
                                 "class_<id>")
            return [f"class_{i}" for i in range(max(self.seen_ids) + 1)] if self.seen_ids else []
        first: dict[str, int] = {}
        for key, name in self.names.items():
            if name in first:
                self.report(self.root, f"duplicate class name {name!r} (ids {first[name]} and {key}): one class")
            first.setdefault(name, key)
        return list(first)

    def class_name(self, token: str) -> str:
        value = _number(token, "class id")
        if not value.is_integer() or value < 0:
            raise ValueError(f"class id {token!r} is not a non-negative integer")
        if self.names is None:
            self.seen_ids.add(int(value))
        elif int(value) not in self.names:
            raise ValueError(f"class id {int(value)} is out of range ({len(self.names)} class names)")
        return f"class_{int(value)}" if self.names is None else self.names[int(value)]

    def from_yaml(self, path: Path) -> None:
        data, text = _load_yaml(path)
        self.meta.add(path)
        lines: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if match := re.match(r"(\w+)\s*:", line):
                lines.setdefault(match.group(1), number)
        self.root = path.parent
        if data.get("path") not in (None, ""):  # relative to the yaml's folder (Ultralytics: to the working dir)
            given = str(data["path"])
            root = next((r for r in (Path(os.path.normpath(base / given)) for base in (path.parent, self.fence))
                         if r.is_dir()), None)
            if root is not None:
                self.root = root
                if self.fence not in (root, *root.parents):
                    self.fence = root
            else:
                self.warn(path, f"path: {given} is not a folder; the yaml's folder is used", lines.get("path"))
        self.set_names(data, path, lines)
        self.class_source = f"{path.name} names" if data.get("names") is not None else f"{path.name} nc"
        kpt = data.get("kpt_shape")
        if isinstance(kpt, list) and len(kpt) == 2 and all(isinstance(v, int) and v > 0 for v in kpt):
            self.keypoints = kpt[0] * kpt[1]
            self.report(path, "pose keypoints (kpt_shape) are not supported: only the boxes are read",
                        lines.get("kpt_shape"))
        elif kpt is not None:
            self.report(path, "kpt_shape must be [keypoints, 2 or 3]; it is ignored", lines.get("kpt_shape"))
        seen: list[list[str]] = []  # val: same as train is the Ultralytics idiom without a validation set
        missing: list[Problem] = []
        for key in ("train", "val", "validation", "test"):
            if not (value := data.get(key)):
                continue
            entries = [value] if isinstance(value, str) else value
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                self.report(path, f"{key} must be a path or a list of paths", lines.get(key))
            elif entries not in seen:
                seen.append(entries)
                images = [p for entry in entries for p in self.expand(entry, path, lines.get(key), missing)]
                self.sources.append((SPLITS[key], images))
        self.finish(missing)

    def from_darknet(self, path: Path) -> None:
        keys = _darknet_keys(path)
        self.meta.add(path)
        value, line = keys.get("names", ("obj.names", None))
        try:
            self.read_names(self.resolve(value))
        except ValueError as exc:
            self.report(path, f"names file {value}: {exc}", line)
        missing: list[Problem] = []
        for key in (k for k in ("train", "valid", "val", "test") if k in keys):
            self.sources.append((SPLITS[key], self.expand(keys[key][0], path, keys[key][1], missing)))
        self.finish(missing)

    def finish(self, missing: list[Problem]) -> None:
        """No split named: read the folder. Splits named but none of their paths exists: report them (a split
        that is absent while others exist is not a problem: exports often name a train folder they do not ship)."""
        if not self.sources:
            self.from_folder()
        elif not any(images for _, images in self.sources):
            self.problems.extend(missing)

    def from_folder(self) -> None:
        """No data.yaml / obj.data: names from classes.txt / obj.names, images from train.txt / val.txt / test.txt
        lists, else every image under the folder (split from ``images/<split>/`` or ``<split>/images/``)."""
        if self.names is None:
            names_file = next((self.root / n for n in NAME_FILES if (self.root / n).is_file()), None)
            if names_file is not None:
                self.read_names(names_file)
        lists = [self.root / n for n in LIST_FILES if (self.root / n).is_file()]
        if lists:
            self.sources.extend((SPLITS[p.stem], self.read_list(p)) for p in lists)
            return
        trees = label_folders(self.root)
        if self.names is None and not (self.root / "labels").is_dir() and not trees:
            raise FormatError(f"{self.root}: no YOLO dataset found (looked for data.yaml here and one folder down, "
                              f"obj.data, obj.names, classes.txt, train.txt and images/ + labels/ folders up to "
                              f"{MAX_DEPTH} levels deep; classification folders are not supported)")
        if self.names is None:  # Roboflow's train/ valid/ test/ without a yaml: names beside the images
            names_file = next((d / n for t in trees for d in (t.parent, t.parent.parent) for n in NAME_FILES
                               if (d / n).is_file() and self.root in (d, *d.parents)), None)
            if names_file is not None:
                self.read_names(names_file)
        self.label_trees.update(trees)
        by_split: dict[Optional[str], list[Path]] = {}
        for image in self.scan(self.root):
            parts = image.relative_to(self.root).parts[:-1]
            split = None
            if "images" in parts:
                at = len(parts) - 1 - parts[::-1].index("images")
                split = next((SPLITS[p] for p in (*parts[at + 1:at + 2], *parts[max(at - 1, 0):at]) if p in SPLITS),
                             None)
            by_split.setdefault(split, []).append(image)
        self.label_trees.add(self.root / "labels")
        self.sources.extend(by_split.items())

    def label_of(self, image: Path) -> Optional[Path]:
        """``labels/`` for the last ``images`` component, else a ``.txt`` next to the image."""
        mirrored = _swap_component(image, "images", "labels")
        candidates = [mirrored.with_suffix(".txt")] if mirrored else []
        return next((c for c in [*candidates, image.with_suffix(".txt")] if c not in self.meta and present(c)), None)

    def parse_label(self, label: Path, image: Path) -> list[LabelShape]:
        if label in self.used:
            self.report(label, f"label file shared by {self.used[label].name} and {image.name} (same stem): both "
                               "get its shapes")
        self.used.setdefault(label, image)
        shapes = []
        for number, line in enumerate(self.text(label, "label file").splitlines(), 1):
            if line.strip():
                try:
                    shapes.append(self.parse_line(line.split(), label, number))
                except ValueError as exc:
                    self.report(label, str(exc), number)
        return shapes

    def parse_line(self, tokens: list[str], label: Path, number: int) -> LabelShape:
        """``cls cx cy w h`` -> box; ``cls x1 y1 x2 y2 x3 y3 ...`` -> polygon (9 values: an oriented box);
        pose: ``cls cx cy w h`` + keypoints -> box. Raises ValueError with the reason."""
        count = len(tokens)
        if self.keypoints and count != 5 + self.keypoints:
            raise ValueError(f"{count} values; a pose line has {5 + self.keypoints} (class, box, keypoints)")
        if not self.keypoints and count != 5 and (count < 7 or count % 2 == 0):
            raise ValueError(f"{count} values; expected 5 (class cx cy w h) or a class and 3 or more x y pairs")
        name = self.class_name(tokens[0])
        values = [_number(t) for t in tokens[1:]]
        origin = Problem(str(label), "", line=number)
        if count == 5 or self.keypoints:
            cx, cy, w, h = values[:4]
            if w <= 0 or h <= 0:
                raise ValueError(f"box has zero or negative size ({w:g} x {h:g})")
            return LabelShape(name, "box", box=(cx - w / 2, cy - h / 2, w, h), normalized=True, origin=origin)
        points = [[values[i], values[i + 1]] for i in range(0, len(values), 2)]
        if abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(points, points[1:] + points[:1]))) <= 1e-12:
            raise ValueError("polygon has zero area")
        return LabelShape(name, "polygon", points=points, normalized=True, origin=origin)

    def orphans(self) -> None:
        """Report label files that no image (of any extension) goes with."""
        stems: dict[Path, set[str]] = {}

        def has_image(folder: Optional[Path], stem: str) -> bool:
            if folder is not None and folder not in stems:
                stems[folder] = {p.stem for p in folder.glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS}
            return folder is not None and stem in stems[folder]

        files = {p for tree in self.label_trees if tree.is_dir() for p in tree.rglob("*.txt")}
        files |= {p for label in self.used for p in label.parent.glob("*.txt")}
        for label in sorted(files - set(self.used) - self.meta):
            if not any(has_image(f, label.stem) for f in (_swap_component(label.parent, "labels", "images"),
                                                         label.parent)):
                self.report(label, "label file has no image")

    def collect(self) -> list[DatasetItem]:
        """Items from the sources: one per image file (a file in two splits is reported and kept in the first)."""
        split_of: dict[Path, Optional[str]] = {}
        queue: list[tuple[Path, Optional[str]]] = []
        for split, images in self.sources:
            for image in (Path(os.path.abspath(p)) for p in images):
                if image not in split_of:
                    split_of[image] = split
                    queue.append((image, split))
                elif split_of[image] != split:
                    self.report(image, f"duplicate file name: the image is in split {split_of[image]!r} and "
                                       f"{split!r}; kept in {split_of[image]!r}")
        items = []
        for i, (image, split) in enumerate(queue):
            if i % CHECK_EVERY == 0:
                self.check(i / len(queue), f"reading YOLO labels ({i}/{len(queue)})")
            label = self.label_of(image)
            items.append(DatasetItem(image, self.parse_label(label, image) if label else [], split, label))
        return items


def read(path: Path, progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None) -> ParsedDataset:
    """Read a YOLO dataset folder (or its data.yaml / obj.data) into a ParsedDataset with format ``yolo``."""
    path = Path(os.path.abspath(path))
    reader = _Reader(path if path.is_dir() else path.parent, progress, cancel)
    reader.check(0.0, "reading the YOLO dataset layout")
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml", ".data"):
        (reader.from_darknet if path.suffix.lower() == ".data" else reader.from_yaml)(path)
    elif not path.is_dir():
        raise FormatError(f"{path}: not a YOLO dataset folder, data.yaml or obj.data")
    elif data_yaml := find_yaml(path, reader.problems):
        reader.from_yaml(data_yaml)
    elif (path / "obj.data").is_file():
        reader.from_darknet(path / "obj.data")
    else:
        reader.from_folder()
    items = reader.collect()
    reader.orphans()
    reader.check(1.0, f"read {len(items)} images")
    classes = reader.classes()
    return ParsedDataset("yolo", reader.root, classes, items, reader.problems, warnings=reader.warnings,
                         class_source=reader.class_source)


def _label_line(shape: ExportShape, item: ExportItem, task: Optional[str] = None) -> Optional[str]:
    """``index cx cy w h`` for a box, ``index x1 y1 ...`` for a polygon (normalized; a multi-part polygon's parts
    joined as Ultralytics joins them); ``task`` ``detect`` writes a polygon as its box, ``segment`` a box as its 4
    corners. None for tags and crowd regions (ignore regions are never training positives)."""
    if is_crowd(shape.attributes):
        return None
    if shape.kind == "box" and shape.box is not None:
        x, y, w, h = shape.box
        if task == "segment":
            points: Optional[list[list[float]]] = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
        else:
            points = None
            values = [(x + w / 2) / item.width, (y + h / 2) / item.height, w / item.width, h / item.height]
    elif shape.kind == "polygon" and shape.points:
        if task == "detect":
            xs, ys = [p[0] for p in shape.points], [p[1] for p in shape.points]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
            points = None
            values = [(x0 + x1) / 2 / item.width, (y0 + y1) / 2 / item.height, (x1 - x0) / item.width,
                      (y1 - y0) / item.height]
        else:
            rings = polygon_rings(shape.points, shape.attributes)
            points = merge_parts(rings) if len(rings) > 1 else shape.points
    else:
        return None
    if points is not None:
        values = [v for px, py in points for v in (px / item.width, py / item.height)]
    return " ".join([str(shape.class_index)] + [NUMBER_FORMAT % v for v in values])


def write(data: ExportData, out: Path, progress: Optional[Progress] = None,
          cancel: Optional[CancelToken] = None) -> None:
    """Write the Ultralytics layout into the empty folder ``out``: ``images/<split>/``, ``labels/<split>/``,
    ``data.yaml`` and ``classes.txt``. Tags are not representable and are left out, and so are crowd regions
    (YOLO has no ignore regions; Ultralytics' COCO converter leaves them out too). ``data.task`` chooses boxes or
    polygons (see :class:`ExportData`)."""
    out, report, total = Path(out), progress or no_progress, len(data.items)
    labels: dict[Path, str] = {}
    for i, item in enumerate(data.items):
        if i % CHECK_EVERY == 0:
            if cancel is not None:
                cancel.raise_if_cancelled()
            report(i / total, f"writing YOLO images and labels ({i}/{total})")
        try:
            image = resolve_inside(out / "images", f"{item.split}/{item.file_name}")
            label = resolve_inside(out / "labels", f"{item.split}/{item.file_name}").with_suffix(".txt")
        except ValueError as exc:
            raise FormatError(f"{item.file_name} (split {item.split!r}): {exc}") from exc
        if label in labels:
            raise FormatError(f"{item.file_name} and {labels[label]} would share the label file "
                              f"{label.relative_to(out)}: YOLO needs file names whose stems differ within a split")
        labels[label] = item.file_name
        place_image(item.source, image, data.images_mode)
        label.parent.mkdir(parents=True, exist_ok=True)
        lines = [line for line in (_label_line(s, item, data.task) for s in item.shapes) if line is not None]
        label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    doc: dict[str, Any] = {split: f"images/{split}" for split in data.splits}
    if "val" not in doc and "train" in doc:
        doc["val"] = doc["train"]  # Ultralytics needs a val key to train
    classes = sorted(data.classes, key=lambda c: c.index)
    doc["nc"] = len(classes)
    doc["names"] = {c.index: c.name for c in classes}
    (out / "data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (out / "classes.txt").write_text("".join(c.name + "\n" for c in classes), encoding="utf-8")
    report(1.0, f"wrote {total} images")
