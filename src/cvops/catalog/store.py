"""Content-addressed image store: ``store/<aa>/<bb>/<sha256><ext>``, written atomically.

A blob is written to ``tmp/`` while it is hashed (*staged*), made durable, then renamed into place and the renames made
durable (*published*), so a kill or a power cut at any moment leaves either no blob or a complete one. Import stages a
chunk of files in worker threads and publishes them together: on Linux one ``syncfs(2)`` before and one after the
renames replace an ``fsync`` per file and per folder (which cost milliseconds each on a journalling file system);
elsewhere each file and each touched folder is fsynced. Blobs without a catalog row (an import killed between the
rename and the commit) are orphans that ``cvops gc`` removes.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional, Sequence, Union

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


def _load_syncfs() -> Optional[Callable[[int], int]]:
    """libc's ``syncfs`` (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    except OSError:
        return None


_SYNCFS = _load_syncfs()
GROUP_SYNC = _SYNCFS is not None
"""True where :meth:`ImageStore.publish` makes a whole chunk durable with ``syncfs``; elsewhere stage with ``fsync``."""


def sync_filesystem(path: Path) -> bool:
    """Make everything written to the file system holding ``path`` durable with one ``syncfs(2)`` call; False where
    that is not available (not Linux, or the call failed), and the caller fsyncs file by file instead."""
    if _SYNCFS is None:
        return False
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return False
    try:
        return _SYNCFS(fd) == 0
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """fsync one file's content."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_file(path: Union[str, Path]) -> tuple[str, int]:
    """sha256 hex digest and byte size of a file, read in chunks. The one file hash of the core."""
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


def sha256_file(path: Union[str, Path]) -> str:
    """The sha256 hex digest of a file's bytes (:func:`hash_file` without the size)."""
    return hash_file(path)[0]


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



@dataclass
class Staged:
    """A blob written to ``tmp/`` and hashed, not yet in the store (see :meth:`ImageStore.publish`)."""

    tmp: Path
    sha256: str
    size: int
    ext: str
    fsynced: bool


class ImageStore:
    """The blob folder of one workspace."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp

    def path(self, sha256: str, ext: str) -> Path:
        """Absolute path of a blob."""
        return self.root / blob_relpath(sha256, ext)

    def image_file(self, sha256: str, fmt: str, in_place: Union[bool, int], original_path: str) -> Path:
        """Where a catalog image's bytes are (the columns of its ``images`` row): the original file of an in-place
        image, else its blob (named by the image format's extension)."""
        from cvops.common.fsnames import from_text
        from cvops.common.imageio import FORMAT_EXTENSION  # not at module level: it loads Pillow

        if in_place:
            return Path(from_text(original_path))
        return self.path(sha256, FORMAT_EXTENSION[fmt.upper()])

    def stage(self, source: Union[bytes, BinaryIO], ext: str, fsync: bool = False) -> Staged:
        """First half of adding a blob (:meth:`publish` is the second): write bytes (or a readable stream, copied in
        1 MiB chunks) to a temp file while hashing them; with ``fsync`` the temp file is fsynced here (a worker
        thread's share of the work where ``syncfs`` is missing)."""
        try:
            fd, tmp = tempfile.mkstemp(prefix="blob-", suffix=".part", dir=str(self.tmp))
        except FileNotFoundError:  # tmp/ removed by hand
            self.tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="blob-", suffix=".part", dir=str(self.tmp))
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                if isinstance(source, bytes):
                    sha, size = hashlib.sha256(source).hexdigest(), len(source)
                    view = memoryview(source)
                    while view:
                        view = view[out.write(view):]
                else:
                    digest, size = hashlib.sha256(), 0
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                    sha = digest.hexdigest()
                if fsync:
                    os.fsync(out.fileno())
            return Staged(Path(tmp), sha, size, ext, fsync)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def publish(self, staged: Sequence[Staged]) -> list[bool]:
        """Move staged blobs into the store, durably before returning; return per blob whether it was created
        (False: the same content was already stored, the temp file is dropped)."""
        if not all(s.fsynced for s in staged) and not sync_filesystem(self.tmp):
            for item in staged:
                if not item.fsynced:
                    fsync_file(item.tmp)
        created: list[bool] = []
        touched: set[Path] = set()
        for item in staged:
            dest = self.path(item.sha256, item.ext)
            try:
                present = dest.stat().st_size == item.size
            except FileNotFoundError:
                present = False
            if present:
                os.unlink(item.tmp)
                created.append(False)
                continue
            try:
                os.replace(item.tmp, dest)
            except FileNotFoundError:  # the first blob of its folder
                dest.parent.mkdir(parents=True, exist_ok=True)
                touched.update((self.root, dest.parent.parent))  # new folder entries
                os.replace(item.tmp, dest)
            touched.add(dest.parent)
            created.append(True)
        if touched and not sync_filesystem(self.root):
            for folder in touched:
                fsync_dir(folder)
        return created

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
