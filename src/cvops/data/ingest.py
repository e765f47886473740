"""Import image files, folders and video frames into a workspace.

Worker threads read each file once (into memory, up to :data:`READ_WHOLE_LIMIT`), check its header from those bytes,
hash them and (copy mode) stage them in ``tmp/``; the calling thread publishes the chunk's blobs into the store
durably (:meth:`ImageStore.publish`: two ``syncfs`` calls per chunk on Linux) and then inserts the chunk's catalog
rows in one transaction. A cancel or a kill at any point leaves whole rows only; blobs written without a row are
orphans for ``cvops gc``, and importing again finishes the job (duplicates are recognised by content hash). The
import holds the workspace lock shared throughout, so ``gc`` never removes its files (ADR 0008).

Paths are kept losslessly (:mod:`cvops.common.fsnames`): a file name that is not valid UTF-8 imports like any other;
``file_name`` holds its printable form, ``original_path`` its exact bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from cvops.catalog.db import transaction
from cvops.common.fsnames import display, to_text
from cvops.common.imageio import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ImageInfo, ProbeError, os_error_reason, probe, read_source
from cvops.common.jobs import CancelToken, Progress, available_cpus, no_progress
from cvops.catalog.locks import heartbeat, workspace_lock
from cvops.catalog.store import GROUP_SYNC, Staged, hash_file
from cvops.data.images import insert_image
from cvops.data.workspace import Workspace

CHUNK = 128
VIDEO_CHUNK = 32
JPEG_QUALITY = 95
READ_WHOLE_LIMIT = 64 << 20  # larger files are streamed (read twice: header check, then hash and copy)


@dataclass
class ImportReport:
    """What an import did. ``errors`` and ``skipped`` are lists of ``{"path", "reason"}``."""

    imported: int = 0
    duplicates: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    videos: int = 0
    frames: int = 0
    batch_id: Optional[int] = None
    cancelled: bool = False
    image_ids: list[int] = field(default_factory=list)
    path_ids: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed and the import was not cancelled."""
        return not self.errors and not self.cancelled

    def to_dict(self) -> dict:
        """A JSON-ready dict (image ids and the path map left out)."""
        out = asdict(self)
        out.pop("image_ids")
        out.pop("path_ids")
        return out


@dataclass
class _Scan:
    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


LOOP = "symbolic link loop"


def _resolve(file: Path) -> tuple[Optional[Path], str]:
    """The file's resolved path, or None and why it cannot be followed (a symlink loop or a dangling symlink)."""
    try:
        return file.resolve(strict=True), ""
    except FileNotFoundError:
        if file.is_symlink():
            return None, f"broken symbolic link (points to {display(os.readlink(file))})"
        return None, "no such file or folder"
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        return None, LOOP
    except OSError as exc:
        return None, os_error_reason(exc)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop
        return False


def scan(paths: Sequence[Union[str, Path]], report: ImportReport, want_videos: bool) -> _Scan:
    """Collect image and video files under ``paths`` (recursively, sorted); report what cannot be imported.

    Symbolic links to files are followed (each target once); symbolic links to folders are not (reported as
    skipped), so a link back up the tree cannot make the walk endless. A symlink loop or a dangling link is reported
    as an error and the rest goes on.
    """
    found = _Scan()
    seen: set[Path] = set()

    def consider(file: Path, explicit: bool, real: bool) -> None:
        """Record ``file`` (``real``: already a resolved path, not a symlink) or report why it is left out."""
        ext = file.suffix.lower()
        wanted = ext in IMAGE_EXTENSIONS or (ext in VIDEO_EXTENSIONS and want_videos)
        if not wanted:
            if ext in VIDEO_EXTENSIONS:
                report.skipped.append({"path": display(file),
                                       "reason": "video file: use --video-stride N to extract frames"})
            elif explicit:
                report.errors.append({"path": display(file),
                                      "reason": f"unsupported file type {display(ext) or '(no extension)'!r}"})
            elif not _is_hidden(file):
                report.skipped.append({"path": display(file),
                                       "reason": f"not an image or video file ({display(ext) or 'no extension'})"})
            return
        resolved, problem = (file, "") if real else _resolve(file)
        if resolved is None:
            report.errors.append({"path": display(file), "reason": problem})
            return
        if resolved in seen:
            return
        seen.add(resolved)
        (found.images if ext in IMAGE_EXTENSIONS else found.videos).append(resolved)

    def walk(top: Path) -> None:
        """Depth-first, sorted by name; hidden entries left out; one ``scandir`` per folder (its entries say which
        are folders and symlinks without a ``stat`` per file)."""
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                report.errors.append({"path": display(folder), "reason": f"cannot list folder: {os_error_reason(exc)}"})
                continue
            subfolders = []
            for entry in entries:
                if entry.name.startswith(".") and _is_dir(entry):
                    continue
                if entry.is_symlink():
                    if _is_dir(entry):
                        report.skipped.append({"path": display(entry.path), "reason": "symbolic link to a folder: "
                                               "not followed (import its target instead)"})
                    elif _resolve(Path(entry.path))[1] == LOOP:  # whatever its name: it may be a folder loop
                        report.errors.append({"path": display(entry.path), "reason": LOOP})
                    else:
                        consider(Path(entry.path), explicit=False, real=False)
                elif entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                else:
                    consider(Path(entry.path), explicit=False, real=True)
            stack.extend(reversed(subfolders))

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            walk(path.resolve())
        elif path.is_file():
            consider(path, explicit=True, real=False)
        else:
            _, problem = _resolve(path)
            report.errors.append({"path": display(path), "reason": problem or "not a regular file or folder"})
    return found


@dataclass
class _Prepared:
    path: Path
    info: Optional[ImageInfo] = None
    sha256: str = ""
    size: int = 0
    mtime_ns: Optional[int] = None
    staged: Optional[Staged] = None
    error: Optional[str] = None


def _store_error(exc: OSError) -> str:
    return f"cannot store the file in the workspace: {(exc.strerror or str(exc)).lower()}"


def _prepare(ws: Workspace, path: Path, in_place: bool, verify: bool, info: Optional[ImageInfo]) -> _Prepared:
    """Read, check and hash one file and (copy mode) stage it in ``tmp/``. Runs in a worker thread; never raises
    for bad files."""
    item = _Prepared(path)
    try:
        data, st = read_source(path, READ_WHOLE_LIMIT)
        item.info = info if info is not None and not verify else probe(path, full_decode=verify, data=data)
        ext = item.info.extension
        if in_place:
            item.mtime_ns = st.st_mtime_ns
            if data is None:
                item.sha256, item.size = hash_file(path)
            else:
                item.sha256, item.size = hashlib.sha256(data).hexdigest(), len(data)
        elif data is None:
            with open(path, "rb", buffering=0) as fh:
                item.staged = ws.store.stage(fh, ext, fsync=not GROUP_SYNC)
        else:
            try:
                item.staged = ws.store.stage(data, ext, fsync=not GROUP_SYNC)
            except OSError as exc:  # the file was read: writing its copy failed (a full disk, ...)
                item.error = _store_error(exc)
                return item
        if item.staged is not None:
            item.sha256, item.size = item.staged.sha256, item.staged.size
    except ProbeError as exc:
        item.error = str(exc)
    except OSError as exc:
        item.error = os_error_reason(exc)
    return item


def _start_batch(ws: Workspace, sources: Iterable[str], in_place: bool) -> int:
    with transaction(ws.db) as conn:
        cur = conn.execute(
            "INSERT INTO batches (started_at, mode, sources, state, pid, host) VALUES (?, ?, ?, 'running', ?, ?)",
            [time.time(), "in_place" if in_place else "copy", json.dumps([to_text(s) for s in sources]), os.getpid(),
             socket.gethostname()],
        )
        return int(cur.lastrowid)


def import_paths(
    ws: Workspace,
    paths: Sequence[Union[str, Path]],
    *,
    in_place: bool = False,
    video_stride: Optional[int] = None,
    verify: bool = False,
    progress: Optional[Progress] = None,
    cancel: Optional[CancelToken] = None,
    workers: Optional[int] = None,
    probed: Optional[dict[Path, ImageInfo]] = None,
) -> ImportReport:
    """Import image files and folders (recursively) and, with ``video_stride``, every Nth frame of video files.

    ``in_place`` records files where they are (hash, size and mtime) instead of copying them into the store.
    ``verify`` decodes every pixel at import (slower; the default checks headers and file structure).
    Corrupt, truncated, empty and unsupported files are reported in ``errors`` with the reason and skipped.
    ``report.image_ids`` lists the new images; ``report.path_ids`` maps each imported or duplicate file (resolved
    path) to its image id. ``probed`` supplies header information already read (resolved path -> ImageInfo), so a
    caller that validated the files first does not read their headers twice.
    """
    if video_stride is not None and video_stride < 1:
        raise ValueError("video stride must be >= 1")
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    report = ImportReport()
    progress(0.0, "scanning")
    found = scan(paths, report, want_videos=video_stride is not None)

    def waiting() -> None:
        progress(0.0, "waiting for `cvops gc` to finish")

    with workspace_lock(ws.root, exclusive=False, on_wait=waiting):
        report.batch_id = _start_batch(ws, [str(p) for p in paths], in_place)
        with heartbeat(ws.root, report.batch_id):
            try:
                _import_found(ws, found, report, in_place=in_place, video_stride=video_stride, verify=verify,
                              progress=progress, cancel=cancel, workers=workers, probed=probed or {})
            except BaseException:
                _finish_batch(ws, report, state="interrupted")
                raise
            report.seconds = time.perf_counter() - started
            _finish_batch(ws, report, state="cancelled" if report.cancelled else "done")
    progress(1.0, "cancelled" if report.cancelled else "done")
    return report


def default_workers() -> int:
    """Worker threads for import: one per usable CPU core (at least 2, at most 8). The threads mostly read, hash and
    write, which release the GIL; more threads than cores only add contention (measured: 4 threads on 2 cores cost
    about 25% more CPU than 2)."""
    return max(2, min(8, available_cpus()))


def _import_found(ws: Workspace, found: _Scan, report: ImportReport, *, in_place: bool, video_stride: Optional[int],
                  verify: bool, progress: Progress, cancel: CancelToken, workers: Optional[int],
                  probed: dict[Path, ImageInfo]) -> None:
    total = len(found.images) + len(found.videos)
    done = 0
    chunks = [found.images[start:start + CHUNK] for start in range(0, len(found.images), CHUNK)]
    with ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="cvops-import") as pool:

        def submit(chunk: list[Path]) -> list[Future[_Prepared]]:
            return [pool.submit(_prepare, ws, p, in_place, verify, probed.get(p)) for p in chunk]

        # The workers prepare the next chunk while this thread publishes and commits the current one.
        pending = submit(chunks[0]) if chunks else []
        for n in range(len(chunks)):
            prepared = [f.result() for f in pending]
            if cancel.cancelled:
                report.cancelled = True
                _discard(prepared)
                break
            pending = submit(chunks[n + 1]) if n + 1 < len(chunks) else []
            _publish_chunk(ws, prepared)
            _commit_chunk(ws, prepared, in_place, report)
            done += len(prepared)
            progress(done / max(total, 1), f"imported {report.imported}, duplicates {report.duplicates}")
        if report.cancelled:
            _discard([f.result() for f in pending])
    for video in found.videos:
        if cancel.cancelled:
            report.cancelled = True
            break
        from cvops.data.video import import_video

        import_video(ws, video, video_stride or 1, report, cancel)
        done += 1
        progress(done / max(total, 1), f"video {display(video.name)}: {report.frames} frames")


def _discard(prepared: list[_Prepared]) -> None:
    """Remove the staged temp files of a chunk that will not be committed (import cancelled)."""
    for item in prepared:
        if item.staged is not None:
            with contextlib.suppress(OSError):
                item.staged.tmp.unlink()


def _publish_chunk(ws: Workspace, prepared: list[_Prepared]) -> None:
    """Move the chunk's staged blobs into the store, durably; on failure every staged item gets the error."""
    staged = [item.staged for item in prepared if item.staged is not None]
    if not staged:
        return
    try:
        ws.store.publish(staged)
    except OSError as exc:
        for item in prepared:
            if item.staged is not None:
                item.error = _store_error(exc)
                with contextlib.suppress(OSError):
                    item.staged.tmp.unlink()


def _commit_chunk(ws: Workspace, prepared: list[_Prepared], in_place: bool, report: ImportReport) -> None:
    now = time.time()
    with transaction(ws.db) as conn:
        for item in prepared:
            if item.error:
                report.errors.append({"path": display(item.path), "reason": item.error})
                continue
            assert item.info is not None
            image_id = insert_image(conn, {
                "sha256": item.sha256, "file_name": display(item.path.name), "original_path": to_text(item.path),
                "in_place": int(in_place), "format": item.info.format, "width": item.info.width,
                "height": item.info.height, "byte_size": item.size, "file_mtime_ns": item.mtime_ns,
                "batch_id": report.batch_id, "created_at": now, "updated_at": now,
            })
            if image_id is None:
                report.duplicates += 1
                image_id = int(conn.execute("SELECT id FROM images WHERE sha256 = ?", [item.sha256]).fetchone()[0])
            else:
                report.imported += 1
                report.image_ids.append(image_id)
            report.path_ids[str(item.path)] = image_id


def _finish_batch(ws: Workspace, report: ImportReport, state: str) -> None:
    with transaction(ws.db) as conn:
        conn.execute(
            "UPDATE batches SET finished_at = ?, state = ?, imported = ?, duplicates = ?, errors = ? WHERE id = ?",
            [time.time(), state, report.imported, report.duplicates, len(report.errors), report.batch_id],
        )
