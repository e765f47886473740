"""The workspace lock and import heartbeats (ADR 0008).

Imports hold ``locks/workspace.lock`` *shared* from before their first blob is written until their last row is
committed; ``cvops gc`` takes it *exclusive* (without waiting) before it removes orphan blobs and temp files, so it
never removes the files of an import in progress, and an import that starts while gc removes files waits for it.
POSIX uses ``flock(2)``; the operating system releases the lock when its process dies, however it dies. Windows has no
shared ``msvcrt`` lock: there every holder takes it exclusive (imports into one workspace run one after another).

An import also touches ``locks/batch-<id>.heartbeat`` every :data:`HEARTBEAT_SECONDS` while it runs. Where a file
lock does not reach other machines (some network shares), a fresh heartbeat is what tells ``gc`` that an import
recorded by another host is still running; a ``running`` batch whose heartbeat is older than :data:`STALE_SECONDS`
is abandoned (see :func:`cvops.catalog.maintenance.running_imports`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

LOCK_DIR = "locks"
LOCK_NAME = "workspace.lock"
HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 15 * 60.0


class WorkspaceBusy(Exception):
    """The workspace lock is held by another holder and the caller asked not to wait."""


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int, exclusive: bool) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _lock(fd: int, exclusive: bool) -> None:
        while not _try_lock(fd, exclusive):
            time.sleep(0.2)
else:
    import fcntl

    def _try_lock(fd: int, exclusive: bool) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _lock(fd: int, exclusive: bool) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)


def lock_dir(root: Path) -> Path:
    """The workspace's ``locks/`` folder (created on first use: older workspaces lack it)."""
    folder = root / LOCK_DIR
    folder.mkdir(exist_ok=True)
    return folder


@contextlib.contextmanager
def workspace_lock(root: Path, exclusive: bool, wait: bool = True,
                   on_wait: Optional[Callable[[], None]] = None, name: str = LOCK_NAME) -> Iterator[None]:
    """Hold the workspace lock of the workspace at ``root`` (or the lock file ``name`` in its ``locks/``) for the
    block.

    Without ``wait``, raise :class:`WorkspaceBusy` when it is held in a conflicting mode; with it, call ``on_wait``
    (if given) once and block until it is free.
    """
    fd = os.open(str(lock_dir(root) / name), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _try_lock(fd, exclusive):
            if not wait:
                raise WorkspaceBusy(str(root))
            if on_wait is not None:
                on_wait()
            _lock(fd, exclusive)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def heartbeat_path(root: Path, batch_id: int) -> Path:
    """The heartbeat file of an import batch."""
    return root / LOCK_DIR / f"batch-{batch_id}.heartbeat"


def heartbeat_age(root: Path, batch_id: int) -> Optional[float]:
    """Seconds since the batch's heartbeat was last touched (None when it has no heartbeat file)."""
    try:
        return time.time() - heartbeat_path(root, batch_id).stat().st_mtime
    except OSError:
        return None


@contextlib.contextmanager
def heartbeat(root: Path, batch_id: int, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Touch the batch's heartbeat file now and every ``every`` seconds (a daemon thread) until the block ends, then
    remove it."""
    path = heartbeat_path(root, batch_id)
    lock_dir(root)
    path.touch()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            with contextlib.suppress(OSError):
                os.utime(path)

    thread = threading.Thread(target=beat, name=f"cvops-heartbeat-{batch_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        with contextlib.suppress(OSError):
            path.unlink()
