"""Image probing and decoding helpers (Pillow): header-level checks at import, reduced-size decodes for thumbnails.

Import reads only the header and checks the file's structure (end-of-image markers, declared data sizes), which finds
zero-byte, truncated and corrupt files at the cost of a few kilobytes of I/O. A full decode is available on request
(``verify``) and is what the health check does.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional, Union

from PIL import Image, UnidentifiedImageError

# Pillow warns above MAX_IMAGE_PIXELS and refuses twice that as a decompression bomb. We accept up to 1 gigapixel and
# reject larger images ourselves with a clear reason; Pillow's own limits sit above ours as a safety net.
MAX_PIXELS = 1_000_000_000
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < 2 * MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = 2 * MAX_PIXELS

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
FORMAT_EXTENSION = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "DIB": ".bmp", "TIFF": ".tif",
                    "WEBP": ".webp"}
FORMAT_NAME = {"MPO": "JPEG", "DIB": "BMP"}
ORIENTATION_TAG = 0x0112


class ProbeError(Exception):
    """The file is not an importable image; the message is the reason."""


@dataclass(frozen=True)
class ImageInfo:
    """What import records about an image: format and size after EXIF orientation."""

    format: str
    width: int
    height: int
    orientation: int

    @property
    def extension(self) -> str:
        """The store extension for this format."""
        return FORMAT_EXTENSION[self.format]


def open_image(path: Union[Path, BinaryIO]) -> Image.Image:
    """``PIL.Image.open`` without third-party patches.

    Importing Ultralytics replaces ``PIL.Image.open`` with a wrapper that, on an unidentified file, tries to pip-install
    a HEIF plugin (a network call) and then fails with ModuleNotFoundError. Corrupt files must give a clear reason
    instead, offline, so the core always calls Pillow's own function.
    """
    opener = Image.open
    patches = sys.modules.get("ultralytics.utils.patches")
    if patches is not None and opener is getattr(patches, "image_open", None):
        opener = getattr(patches, "_image_open", opener)
    return opener(path)


def _tail(fh: BinaryIO, size: int, n: int) -> bytes:
    fh.seek(max(0, size - n))
    return fh.read(n)


def _check_riff(head: bytes, size: int) -> None:
    """WebP is decoded as it is opened: check its RIFF size first, so truncation gets a clear reason."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        declared = struct.unpack("<I", head[4:8])[0] + 8
        if declared > size:
            raise ProbeError(f"truncated WebP: header declares {declared} bytes, file has {size}")


def os_error_reason(exc: OSError) -> str:
    """What an operating-system error on a file means for the user ("permission denied", not a decoder message)."""
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "no such file (deleted or moved while importing?)"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(exc, IsADirectoryError):
        return "not a regular file (a folder)"
    return f"cannot read file: {(exc.strerror or str(exc)).lower()}"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO/named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def check_regular(path: Path) -> os.stat_result:
    """``stat`` a file to be read; raise :class:`ProbeError` when it cannot be, or is not a regular file (a FIFO,
    socket or device would block or never end: they are never opened)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ProbeError(os_error_reason(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise ProbeError(f"not a regular file ({_kind(st.st_mode)})")
    return st


def read_source(path: Path, limit: int) -> tuple[Optional[bytes], os.stat_result]:
    """A regular file's bytes (``None`` when it is over ``limit`` bytes: stream it instead) and its ``stat``;
    :class:`ProbeError` with the reason ("permission denied", "not a regular file", ...) when it cannot be read."""
    st = check_regular(path)
    if st.st_size > limit:
        return None, st
    try:
        with open(path, "rb", buffering=0) as fh:
            data = fh.read()
    except OSError as exc:
        raise ProbeError(os_error_reason(exc)) from None
    return data, st


def _check_complete(fh: BinaryIO, im: Image.Image, size: int) -> None:
    """Raise ProbeError when the file ends before the data its header declares."""
    fmt = im.format
    if fmt in ("JPEG", "MPO"):
        tail = _tail(fh, size, 65536).rstrip(b"\x00\r\n\t ")
        if not tail.endswith(b"\xff\xd9") and b"\xff\xd9" not in tail[-4096:]:
            raise ProbeError("truncated JPEG: no end-of-image marker")
    elif fmt == "PNG":
        if b"IEND" not in _tail(fh, size, 1024):
            raise ProbeError("truncated PNG: no IEND chunk")
    elif fmt == "TIFF":
        counts = im.tag_v2.get(279) or im.tag_v2.get(325)
        offsets = im.tag_v2.get(273) or im.tag_v2.get(324)
        if counts and offsets:
            end = max(int(o) + int(c) for o, c in zip(offsets, counts))
            if end > size:
                raise ProbeError(f"truncated TIFF: image data ends at byte {end}, file has {size}")
    elif fmt in ("BMP", "DIB") and im.tile and im.tile[0][0] == "raw":
        offset = im.tile[0][2]
        args = im.tile[0][3]
        stride = args[1] if isinstance(args, tuple) and len(args) > 1 and args[1] else 0
        if stride and offset + stride * im.size[1] > size:
            raise ProbeError(f"truncated BMP: pixel data needs {offset + stride * im.size[1]} bytes, file has {size}")
    for tile in im.tile or ():
        if tile[2] is not None and tile[2] >= size:
            raise ProbeError(f"truncated {fmt}: image data starts at byte {tile[2]}, file has {size}")


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1 when absent or unreadable), read from the header only.

    PNG's ``getexif()`` decodes the whole image to find an eXIf chunk after the pixel data; use the chunks already
    parsed before the pixels instead (where cameras and editors put it).
    """
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
            return int(exif.get(ORIENTATION_TAG, 1) or 1)
        return int(im.getexif().get(ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block does not make the pixels unusable
        return 1


def probe(path: Path, full_decode: bool = False, data: Optional[bytes] = None) -> ImageInfo:
    """Read an image's header and check its structure; raise :class:`ProbeError` with a reason when unusable.

    ``data`` is the file's content when the caller has already read it (no second read then).
    """
    if data is None:
        size = check_regular(path).st_size
    else:
        size = len(data)
    if size == 0:
        raise ProbeError("empty file (0 bytes)")
    try:
        with (io.BytesIO(data) if data is not None else open(path, "rb")) as fh:
            _check_riff(fh.read(12), size)
            fh.seek(0)
            with open_image(fh) as im:
                fmt = im.format or "?"
                if fmt not in FORMAT_EXTENSION:
                    raise ProbeError(f"unsupported image format {fmt} (supported: JPEG, PNG, BMP, TIFF, WebP)")
                width, height = im.size
                if width <= 0 or height <= 0:
                    raise ProbeError(f"invalid image size {width}x{height}")
                if width * height > MAX_PIXELS:
                    raise ProbeError(f"image too large: {width}x{height} is over {MAX_PIXELS // 1_000_000} megapixels")
                orientation = _orientation(im)
                _check_complete(fh, im, size)
            if full_decode:
                fh.seek(0)
                with open_image(fh) as im:
                    im.verify()  # checksums (PNG CRCs) that a plain decode skips
                fh.seek(0)
                with open_image(fh) as im:
                    im.load()
    except ProbeError:
        raise
    except UnidentifiedImageError:
        raise ProbeError("not a recognized image (corrupt file or unsupported format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # the warning when made an error
        raise ProbeError(f"image too large: {exc}") from None
    except OSError as exc:
        if exc.errno is not None:  # the operating system failed to open or read the file: not the image's fault
            raise ProbeError(os_error_reason(exc)) from None
        raise ProbeError(f"corrupt image data: {exc}") from None
    except (SyntaxError, ValueError, struct.error, IndexError, KeyError, TypeError) as exc:
        raise ProbeError(f"corrupt image data: {exc}") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(FORMAT_NAME.get(fmt, fmt), width, height, orientation if 1 <= orientation <= 8 else 1)


def decode_full(path: Path) -> str:
    """Decode every pixel and return a digest of them (equal digests = identical pixels, whatever the encoding);
    raise :class:`ProbeError` naming the problem when decoding fails."""
    probe(path)
    try:
        with open_image(path) as im:
            if im.format == "PNG":
                im.verify()  # checksums (PNG CRCs) that a plain decode skips
        with open_image(path) as im:
            im.load()
            digest = hashlib.sha256(f"{im.mode}:{im.size}".encode())
            digest.update(im.tobytes())
            return digest.hexdigest()
    except OSError as exc:
        if exc.errno is not None:
            raise ProbeError(os_error_reason(exc)) from None
        raise ProbeError(f"corrupt image data: {exc}") from None
    except (SyntaxError, ValueError, struct.error, IndexError, KeyError, TypeError) as exc:
        raise ProbeError(f"corrupt image data: {exc}") from None
