"""File names that are not valid UTF-8, kept losslessly in the catalog and shown readably.

On POSIX a file name is bytes. Python gives an undecodable byte ``0xE9`` as the lone surrogate ``U+DCE9``
(``surrogateescape``), which SQLite's UTF-8 text, JSON and terminals all refuse. The catalog therefore stores paths as
*path text*: a path that is valid Unicode is stored unchanged (so every existing catalog reads the same); any other is
stored as ``MARK`` followed by the path with each undecodable byte written ``%XX``, any other lone surrogate ``%uXXXX``
and ``%`` itself ``%25``. :func:`from_text` gives back the exact OS path, :func:`display` a printable form with
``U+FFFD`` in place of undecodable bytes (what messages, JSON output and file-name columns use).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Union

MARK = "\ufffe"  # a Unicode noncharacter: never the first character of a real path
_ESCAPE = re.compile(r"%(?:u([0-9A-F]{4})|([0-9A-F]{2}))")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _needs_escape(text: str) -> bool:
    return text.startswith(MARK) or _SURROGATE.search(text) is not None


def to_text(path: Union[str, PurePath]) -> str:
    """The lossless catalog text of a path (unchanged when it is valid Unicode)."""
    text = str(path)
    if not _needs_escape(text):
        return text
    out = []
    for c in text:
        if "\udc80" <= c <= "\udcff":
            out.append(f"%{ord(c) - 0xDC00:02X}")
        elif "\ud800" <= c <= "\udfff":
            out.append(f"%u{ord(c):04X}")
        elif c == "%":
            out.append("%25")
        else:
            out.append(c)
    return MARK + "".join(out)


def from_text(text: str) -> str:
    """The OS path (a ``str`` with ``surrogateescape`` characters where needed) stored as ``text``."""
    if not text.startswith(MARK):
        return text

    def unescape(m: re.Match) -> str:
        if m.group(1):
            return chr(int(m.group(1), 16))
        byte = int(m.group(2), 16)
        return chr(0xDC00 + byte) if byte >= 0x80 else chr(byte)

    return _ESCAPE.sub(unescape, text[len(MARK):])


def display(path: Union[str, PurePath]) -> str:
    """A printable form of an OS path (for catalog text: ``display(from_text(text))``): undecodable bytes become
    ``U+FFFD``."""
    return _SURROGATE.sub("\ufffd", str(path))
