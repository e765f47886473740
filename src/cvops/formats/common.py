"""Helpers shared by the dataset readers and writers: reading files safely (regular files only, never blocking on a
FIFO; JSON of any nesting without a traceback), safe XML parsing (defusedxml) and sniffing, image lookup, class
order, text lists and file naming.

Every "cannot read" message says what happened: ``permission denied``, ``not a regular file (a FIFO)``, ``is a
folder, not a file``, ``not UTF-8 text``, ``malformed JSON``, ``JSON nested too deeply``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterable, Optional, Union
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from cvops.common.errors import os_reason
from cvops.formats.model import DatasetItem, FormatError, Problem
from cvops.common.imageio import IMAGE_EXTENSIONS

IMAGE_EXTS = tuple(sorted(IMAGE_EXTENSIONS))
EVERY = 100  # files between progress reports and cancel checks


_SPECIAL = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"))


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for binary reading. Raises :class:`OSError` for what is not a regular file (a folder, a FIFO,
    a socket, a device: never blocks on a FIFO) and for what cannot be opened; :func:`read_reason` words it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
            raise OSError(None, f"not a regular file ({kind})", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def present(path: Path) -> bool:
    """Whether ``path`` is a file to read: a regular file, or a special one (a FIFO, a device) that the reader then
    reports as "not a regular file" instead of ignoring it silently. Folders and missing paths are not."""
    return path.exists() and not path.is_dir()


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`)."""
    with open_regular(path) as fh:
        return fh.read()


def read_text(path: Path) -> str:
    """The text of a regular UTF-8 file (with or without BOM); :class:`OSError` or :class:`UnicodeDecodeError`."""
    return read_bytes(path).decode("utf-8-sig")


def read_reason(exc: Exception) -> str:
    """Why a file could not be read, in words: ``permission denied``, ``not a regular file (a FIFO)``, ``not UTF-8
    text (byte 0xff at offset 3)``, ..."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if isinstance(exc, OSError):
        return os_reason(exc)
    return str(exc)


class JsonFileError(FormatError):
    """A JSON file that cannot be used: unreadable, not UTF-8, malformed or nested too deeply. ``problem`` names the
    file (and line) and the reason."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def load_json(path: Path) -> Any:
    """The parsed JSON of a UTF-8 file (with or without BOM). Raises :class:`JsonFileError` naming the file for a
    file that cannot be read, is not a regular file, is not UTF-8, is malformed (with line and column) or is nested
    too deeply for the parser (``[[[[...]]]]``: no RecursionError escapes)."""
    try:
        return json.loads(read_bytes(path).decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise JsonFileError(Problem(str(path), f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                                    line=exc.lineno)) from None
    except RecursionError:
        raise JsonFileError(Problem(str(path), "JSON nested too deeply to read (arrays or objects inside each "
                                               "other, beyond the parser's recursion limit)")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JsonFileError(Problem(str(path), f"cannot read the file: {read_reason(exc)}")) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise JsonFileError(Problem(str(path), f"invalid JSON: {exc}")) from None


def parse_xml(path: Path) -> Union[Element, Problem]:
    """The root element of an XML file, or a :class:`Problem` saying why it cannot be read (malformed with line and
    column, entity declarations, external references, unreadable)."""
    try:
        with open_regular(path) as fh:
            return DET.parse(fh).getroot()
    except ParseError as exc:
        line, column = exc.position
        return Problem(str(path), f"malformed XML: {exc} (line {line}, column {column})", line=line)
    except EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            return Problem(str(path), f"XML declares the external entity {exc.name!r} ({exc.sysid or exc.pubid}); "
                                      "external entities are refused")
        return Problem(str(path), f"XML declares the entity {exc.name!r}; entities are refused (entity expansion)")
    except ExternalReferenceForbidden as exc:
        return Problem(str(path), f"XML references the external resource {exc.sysid or exc.pubid!r}; "
                                  "external references are refused")
    except DTDForbidden:
        return Problem(str(path), "XML has a document type declaration with entities; refused")
    except DefusedXmlException as exc:
        return Problem(str(path), f"unsafe XML refused: {exc}")
    except OSError as exc:
        return Problem(str(path), f"cannot read: {read_reason(exc)}")


def sniff_xml(path: Path) -> Optional[str]:
    """``"voc"``, ``"labelme"`` (MIT LabelMe XML), ``"cvat"`` or None, from the first telling elements of a file
    (streamed, so a large file is not read whole)."""
    try:
        with open_regular(path) as fh:
            root = None
            for _, el in DET.iterparse(fh, events=("start",)):
                if root is None:
                    root = el.tag
                    if root not in ("annotation", "annotations"):
                        return None
                    continue
                if root == "annotations":
                    return "cvat" if el.tag in ("version", "meta", "image", "track", "tag") else None
                if el.tag in ("imagesize", "pt", "segm"):
                    return "labelme"
                if el.tag in ("size", "bndbox"):
                    return "voc"
    except (ParseError, DefusedXmlException, OSError):
        return None
    return None


def text(el: Optional[Element], tag: str) -> Optional[str]:
    """The stripped text of child ``tag`` of ``el`` (None when absent or empty)."""
    child = el.find(tag) if el is not None else None
    value = (child.text or "").strip() if child is not None else ""
    return value or None


def typed_value(raw: str) -> Any:
    """An attribute value as written: ``true``/``false`` -> bool, canonical integers and floats -> numbers, else the
    string."""
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            value = kind(raw)
        except ValueError:
            continue
        if repr(value) == raw and (kind is int or math.isfinite(value)):
            return value
    return raw


def image_index(folder: Path, cache: dict[Path, dict[str, Path]]) -> dict[str, Path]:
    """Lower-cased stem -> image file of a folder (not recursive), cached."""
    if folder not in cache:
        found: dict[str, Path] = {}
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.suffix.lower() in IMAGE_EXTS and p.is_file():
                    found.setdefault(p.stem.lower(), p)
        cache[folder] = found
    return cache[folder]


def walk(folder: Path, suffixes: tuple[str, ...]) -> Iterable[Path]:
    """Files under ``folder`` with one of ``suffixes``, sorted, depth first, skipping hidden folders; lazy."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(suffixes):
                yield Path(dirpath) / name


def first_appearance(classes: list[str], items: list[DatasetItem]) -> list[str]:
    """``classes`` followed by the labels of ``items`` not in it, in order of first appearance."""
    out = list(dict.fromkeys(classes))
    seen = set(out)
    for item in items:
        for shape in item.shapes:
            if shape.label not in seen:
                seen.add(shape.label)
                out.append(shape.label)
    return out


def read_lines(path: Path, problems: list[Problem]) -> list[str]:
    """Non-empty, non-comment stripped lines of a text file; a problem when it cannot be read."""
    try:
        lines = read_text(path).splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), f"cannot read: {read_reason(exc)}"))
        return []
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def unique_name(file_name: str, image_id: int, taken: set[str]) -> str:
    """``file_name``, or ``<stem>_<image_id>[_n]<ext>`` when its stem (case-insensitive) is already taken."""
    p = PurePosixPath(file_name.replace("\\", "/"))
    name, n = file_name, 0
    while str(PurePosixPath(name).with_suffix("")).lower() in taken:
        n += 1
        name = str(p.with_name(f"{p.stem}_{image_id}{'_' + str(n) if n > 1 else ''}{p.suffix}"))
    taken.add(str(PurePosixPath(name).with_suffix("")).lower())
    return name


def merge_parts(rings: list[list[list[float]]]) -> list[list[float]]:
    """The outlines of a multi-part polygon joined into one, as Ultralytics' own COCO converter joins them
    (``ultralytics.data.converter.merge_multi_segment``: each part linked to the next at their closest points)."""
    import numpy as np

    from cvops.common.quiet import quiet_ultralytics

    quiet_ultralytics()
    from ultralytics.data.converter import merge_multi_segment

    joined = np.concatenate(merge_multi_segment([[c for p in ring for c in p] for ring in rings]), axis=0)
    return joined.tolist()
