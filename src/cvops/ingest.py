"""Import image files, folders and video frames into a workspace.

Files are read, hashed and (in copy mode) stored by worker threads; catalog rows are inserted by the calling thread
in one transaction per chunk, after the chunk's blobs are durable. A cancel or a kill at any point leaves whole rows
only; blobs written without a row are orphans for ``cvops gc``, and importing again finishes the job (duplicates are
recognised by content hash).
"""

from __future__ import annotations

import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from cvops.catalog import transaction
from cvops.imageio import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ImageInfo, ProbeError, probe
from cvops.jobs import CancelToken, Progress, no_progress
from cvops.store import hash_file
from cvops.workspace import Workspace

CHUNK = 128
VIDEO_CHUNK = 32
JPEG_QUALITY = 95


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


def scan(paths: Sequence[Union[str, Path]], report: ImportReport, want_videos: bool) -> _Scan:
    """Collect image and video files under ``paths`` (recursively, sorted); report what cannot be imported."""
    found = _Scan()
    seen: set[Path] = set()

    def consider(file: Path, explicit: bool) -> None:
        resolved = file.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        ext = file.suffix.lower()
        if ext in IMAGE_EXTENSIONS:
            found.images.append(resolved)
        elif ext in VIDEO_EXTENSIONS:
            if want_videos:
                found.videos.append(resolved)
            else:
                report.skipped.append({"path": str(file), "reason": "video file: use --video-stride N to extract frames"})
        elif explicit:
            report.errors.append({"path": str(file), "reason": f"unsupported file type {ext or '(no extension)'!r}"})
        elif not _is_hidden(file):
            report.skipped.append({"path": str(file), "reason": f"not an image or video file ({ext or 'no extension'})"})

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    consider(Path(dirpath) / name, explicit=False)
        elif path.is_file():
            consider(path, explicit=True)
        else:
            report.errors.append({"path": str(path), "reason": "no such file or folder"})
    return found


@dataclass
class _Prepared:
    path: Path
    info: Optional[ImageInfo] = None
    sha256: str = ""
    size: int = 0
    mtime_ns: Optional[int] = None
    error: Optional[str] = None


def _prepare(ws: Workspace, path: Path, in_place: bool, verify: bool, info: Optional[ImageInfo]) -> _Prepared:
    """Probe (unless ``info`` is given), hash and (copy mode) store one file. Runs in a worker thread; never raises
    for bad files."""
    item = _Prepared(path)
    try:
        item.info = info if info is not None and not verify else probe(path, full_decode=verify)
        if in_place:
            st = path.stat()
            item.sha256, item.size = hash_file(path)
            item.mtime_ns = st.st_mtime_ns
        else:
            item.sha256, item.size, _ = ws.store.add_file(path, item.info.extension)
    except ProbeError as exc:
        item.error = str(exc)
    except OSError as exc:
        item.error = f"cannot read file: {exc.strerror or exc}"
    return item


def insert_image(conn, row: dict) -> Optional[int]:
    cols = list(row)
    cur = conn.execute(
        f"INSERT INTO images ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
        "ON CONFLICT(sha256) DO NOTHING",
        [row[c] for c in cols],
    )
    return int(cur.lastrowid) if cur.rowcount == 1 else None


def _start_batch(ws: Workspace, sources: Iterable[str], in_place: bool) -> int:
    with transaction(ws.db) as conn:
        cur = conn.execute(
            "INSERT INTO batches (started_at, mode, sources, state, pid, host) VALUES (?, ?, ?, 'running', ?, ?)",
            [time.time(), "in_place" if in_place else "copy", json.dumps(list(sources)), os.getpid(),
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
    report.batch_id = _start_batch(ws, [str(p) for p in paths], in_place)
    total = len(found.images) + len(found.videos)
    done = 0
    workers = workers or min(4, (os.cpu_count() or 2) + 2)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cvops-import") as pool:
        for start in range(0, len(found.images), CHUNK):
            if cancel.cancelled:
                report.cancelled = True
                break
            chunk = found.images[start:start + CHUNK]
            known = probed or {}
            prepared = list(pool.map(lambda p: _prepare(ws, p, in_place, verify, known.get(p)), chunk))
            _commit_chunk(ws, prepared, in_place, report)
            done += len(chunk)
            progress(done / max(total, 1), f"imported {report.imported}, duplicates {report.duplicates}")
    for video in found.videos:
        if cancel.cancelled:
            report.cancelled = True
            break
        from cvops.video import import_video

        import_video(ws, video, video_stride or 1, report, cancel)
        done += 1
        progress(done / max(total, 1), f"video {video.name}: {report.frames} frames")
    report.seconds = time.perf_counter() - started
    _finish_batch(ws, report)
    progress(1.0, "cancelled" if report.cancelled else "done")
    return report


def _commit_chunk(ws: Workspace, prepared: list[_Prepared], in_place: bool, report: ImportReport) -> None:
    now = time.time()
    with transaction(ws.db) as conn:
        for item in prepared:
            if item.error:
                report.errors.append({"path": str(item.path), "reason": item.error})
                continue
            assert item.info is not None
            image_id = insert_image(conn, {
                "sha256": item.sha256, "file_name": item.path.name, "original_path": str(item.path),
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


def _finish_batch(ws: Workspace, report: ImportReport) -> None:
    with transaction(ws.db) as conn:
        conn.execute(
            "UPDATE batches SET finished_at = ?, state = ?, imported = ?, duplicates = ?, errors = ? WHERE id = ?",
            [time.time(), "cancelled" if report.cancelled else "done", report.imported, report.duplicates,
             len(report.errors), report.batch_id],
        )
