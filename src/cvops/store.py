"""Content-addressed image store: ``store/<aa>/<bb>/<sha256><ext>``, written atomically.

A blob is written to ``tmp/`` while it is hashed, fsynced, then renamed into place, so a kill at any moment leaves
either no blob or a complete one. Blobs without a catalog row (an import killed between the rename and the commit)
are orphans that ``cvops gc`` removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

CHUNK = 1 << 20


def blob_relpath(sha256: str, ext: str) -> str:
    """The store-relative path of a blob, fanned out over two folder levels."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{ext}"


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def hash_file(path: Path) -> tuple[str, int]:
    """sha256 hex digest and byte size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _make_dirs(folder: Path, fsync: bool) -> None:
    """Create ``folder`` and missing parents; with ``fsync``, make each new entry durable in its parent."""
    if folder.is_dir():
        return
    _make_dirs(folder.parent, fsync)
    try:
        folder.mkdir()
    except FileExistsError:
        return
    if fsync:
        fsync_dir(folder.parent)


def atomic_write_bytes(dest: Path, data: bytes, fsync: bool = True) -> None:
    """Replace ``dest`` with ``data`` atomically (temp file in the same folder + fsync + os.replace + fsync of the
    folder)."""
    _make_dirs(dest.parent, fsync)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=str(dest.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, dest)
        if fsync:
            fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise



class ImageStore:
    """The blob folder of one workspace."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp

    def path(self, sha256: str, ext: str) -> Path:
        """Absolute path of a blob."""
        return self.root / blob_relpath(sha256, ext)

    def add_file(self, src: Path, ext: str, fsync: bool = True) -> tuple[str, int, bool]:
        """Copy ``src`` into the store while hashing it; return ``(sha256, size, created)``.

        ``created`` is False when the blob was already present (same content).
        """
        with open(src, "rb", buffering=0) as fh:
            return self.add_stream(fh, ext, fsync=fsync)

    def add_stream(self, fh: BinaryIO, ext: str, fsync: bool = True) -> tuple[str, int, bool]:
        """Store the bytes of a readable stream; see :meth:`add_file`."""
        digest = hashlib.sha256()
        size = 0
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="blob-", suffix=".part", dir=str(self.tmp))
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = fh.read(CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                if fsync:
                    out.flush()
                    os.fsync(out.fileno())
            sha = digest.hexdigest()
            dest = self.path(sha, ext)
            if dest.exists() and dest.stat().st_size == size:
                os.unlink(tmp)
                return sha, size, False
            _make_dirs(dest.parent, fsync)
            os.replace(tmp, dest)
            if fsync:
                fsync_dir(dest.parent)
            return sha, size, True
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def add_bytes(self, data: bytes, ext: str, fsync: bool = True) -> tuple[str, bool]:
        """Store in-memory bytes; return ``(sha256, created)``."""
        sha = hashlib.sha256(data).hexdigest()
        dest = self.path(sha, ext)
        if dest.exists() and dest.stat().st_size == len(data):
            return sha, False
        atomic_write_bytes(dest, data, fsync=fsync)
        return sha, True

    def iter_blobs(self) -> Iterator[tuple[str, Path]]:
        """Every blob in the store as ``(sha256, path)``."""
        if not self.root.exists():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for blob in sorted(second.iterdir()):
                    name = blob.name
                    sha = name.split(".", 1)[0]
                    if len(sha) == 64 and not name.startswith("."):
                        yield sha, blob

    def find(self, sha256: str) -> Optional[Path]:
        """The blob with this hash, whatever its extension, or None."""
        folder = self.root / sha256[:2] / sha256[2:4]
        if not folder.exists():
            return None
        for blob in folder.glob(sha256 + "*"):
            return blob
        return None
