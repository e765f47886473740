"""Workspace health: ``doctor`` (catalog integrity, store hashes, referenced files) and ``gc`` (orphans, temp files,
interrupted imports, stale thumbnails).

An import batch recorded as ``running`` is *live* (see :func:`running_imports`) when

* it was started on this host by a process that still exists, or on another host, **and**
* its heartbeat file (``locks/batch-<id>.heartbeat``, touched every 30 s while the import runs) is younger than
  :data:`cvops.catalog.locks.STALE_SECONDS` (15 minutes); a batch without a heartbeat file (written by an older version)
  counts from its start time instead.

Any other ``running`` batch is abandoned (its process was killed, the machine renamed, the disk moved to another
computer): ``gc`` marks it ``interrupted``. Removing files needs more than that: ``gc`` takes the workspace lock
exclusive (ADR 0008), which no import holding it shared can be running under, and still leaves files alone while a
live batch exists (an import on another host whose file system does not share locks).
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from cvops.catalog.db import transaction
from cvops.common.jobs import CancelToken, Progress, no_progress, process_alive
from cvops.catalog.locks import LOCK_DIR, STALE_SECONDS, WorkspaceBusy, heartbeat_age, workspace_lock
from cvops.catalog.store import hash_file

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@dataclass
class DoctorReport:
    """Problems make the workspace unhealthy (exit 1); warnings are things ``cvops gc`` tidies."""

    problems: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    images_checked: int = 0
    blobs_hashed: int = 0
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems and not self.cancelled

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"ok": self.ok, **asdict(self)}


def _batch_live(ws: Workspace, batch_id: int, pid: Optional[int], host: Optional[str], started_at: float) -> bool:
    if host == socket.gethostname() and not process_alive(pid):
        return False
    age = heartbeat_age(ws.root, batch_id)
    return (time.time() - started_at if age is None else age) < STALE_SECONDS


def running_imports(ws: Workspace) -> list[dict]:
    """Import batches recorded as running that are live: started here by a process that still exists, or on another
    host, and with a heartbeat younger than ``STALE_SECONDS`` (see the module docstring)."""
    rows = ws.db.execute("SELECT id, pid, host, started_at FROM batches WHERE state = 'running'").fetchall()
    return [{"batch_id": r[0], "pid": r[1], "host": r[2], "started_at": r[3]} for r in rows
            if _batch_live(ws, r[0], r[1], r[2], r[3])]


def _orphans(ws: Workspace) -> list[Path]:
    known = {r[0] for r in ws.db.execute("SELECT sha256 FROM images WHERE in_place = 0")}
    return [blob for sha, blob in ws.store.iter_blobs() if sha not in known]


def doctor(ws: Workspace, quick: bool = False, progress: Optional[Progress] = None,
           cancel: Optional[CancelToken] = None) -> DoctorReport:
    """Check the catalog (integrity, foreign keys), every stored blob (present, size, sha256 unless ``quick``) and
    every in-place file (present, unmodified)."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    report = DoctorReport()
    progress(0.0, "catalog integrity")
    for (line,) in ws.db.execute("PRAGMA integrity_check"):
        if line != "ok":
            report.problems.append({"kind": "catalog", "reason": f"integrity_check: {line}"})
    for table, rowid, parent, _ in ws.db.execute("PRAGMA foreign_key_check"):
        report.problems.append({"kind": "catalog", "reason": f"{table} row {rowid} refers to a missing {parent} row"})
    rows = ws.db.execute(
        "SELECT id, sha256, format, byte_size, in_place, original_path, file_mtime_ns FROM images ORDER BY id"
    ).fetchall()
    for n, (image_id, sha, fmt, size, in_place, original, mtime_ns) in enumerate(rows):
        if cancel.cancelled:
            report.cancelled = True
            break
        path = ws.store.image_file(sha, fmt, in_place, original)
        problem = _check_file(path, sha, size, mtime_ns, bool(in_place), quick, report)
        if problem:
            report.problems.append({"kind": problem[0], "image_id": image_id, "path": str(path), "reason": problem[1]})
        report.images_checked += 1
        if n % 64 == 0:
            progress(0.05 + 0.9 * n / max(len(rows), 1), f"checked {n}/{len(rows)} images")
    progress(0.95, "store")
    orphans = _orphans(ws)
    if orphans:
        report.warnings.append({"kind": "orphan_blobs", "count": len(orphans),
                                "reason": f"{len(orphans)} blobs in the store have no catalog row; `cvops gc` removes them"})
    leftovers = list(ws.store.tmp.glob("*")) if ws.store.tmp.exists() else []
    if leftovers:
        report.warnings.append({"kind": "temp_files", "count": len(leftovers),
                                "reason": f"{len(leftovers)} temporary files; `cvops gc` removes them"})
    live = {r["batch_id"] for r in running_imports(ws)}
    for batch_id, started in ws.db.execute("SELECT id, started_at FROM batches WHERE state = 'running'"):
        if batch_id not in live:
            report.warnings.append({"kind": "interrupted_import", "batch_id": batch_id,
                                    "reason": f"import batch {batch_id} was interrupted; import the same files again "
                                              "to finish it"})
    progress(1.0, "done")
    return report


def _check_file(path: Path, sha: str, size: int, mtime_ns: Optional[int], in_place: bool, quick: bool,
                report: DoctorReport) -> Optional[tuple[str, str]]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return ("missing", "referenced file is missing (moved or deleted)" if in_place else "store blob is missing")
    except OSError as exc:
        return ("unreadable", f"cannot stat: {exc.strerror or exc}")
    unchanged = st.st_size == size and (not in_place or st.st_mtime_ns == mtime_ns)
    if st.st_size != size:
        return ("modified", f"size changed from {size} to {st.st_size} bytes")
    if quick and unchanged:
        return None
    try:
        actual, _ = hash_file(path)
    except OSError as exc:
        return ("unreadable", f"cannot read: {exc.strerror or exc}")
    report.blobs_hashed += 1
    if actual != sha:
        return ("modified", "content changed (sha256 differs from the catalog)")
    return None


@dataclass
class GcReport:
    """What ``gc`` removed (or would remove, with ``dry_run``)."""

    orphan_blobs: int = 0
    bytes_freed: int = 0
    temp_files: int = 0
    interrupted_batches: int = 0
    thumbnails_pruned: int = 0
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def gc(ws: Workspace, dry_run: bool = False) -> GcReport:
    """Remove orphan blobs and temp files, mark abandoned import batches interrupted, prune stale thumbnails.

    Orphans and temp files are removed only under the workspace lock taken exclusive (never while an import holds
    it: that import's blobs are orphans only until it commits, and an import that starts meanwhile waits), and only
    when no live import batch is recorded (one on another host may not share the lock).
    """
    report = GcReport(dry_run=dry_run)
    live = running_imports(ws)
    live_ids = {b["batch_id"] for b in live}
    dead = [r[0] for r in ws.db.execute("SELECT id FROM batches WHERE state = 'running'") if r[0] not in live_ids]
    report.interrupted_batches = len(dead)
    if dead and not dry_run:
        with transaction(ws.db) as conn:
            conn.executemany("UPDATE batches SET state = 'interrupted', finished_at = ? WHERE id = ?",
                             [(time.time(), b) for b in dead])
    try:
        with workspace_lock(ws.root, exclusive=True, wait=False):
            live = running_imports(ws)  # again, under the lock: an import may have started meanwhile
            if live:
                report.skipped.append("orphan blobs and temp files: an import is running (batch " + ", ".join(
                    f"{b['batch_id']}, pid {b['pid']} on {b['host']}" for b in live) + ")")
            else:
                _remove_files(ws, report, dry_run)
    except WorkspaceBusy:
        report.skipped.append("orphan blobs and temp files: an import is running in this workspace (it holds the "
                              "workspace lock); run `cvops gc` again when it has finished")
    if not dry_run:
        report.thumbnails_pruned = ws.thumbnails.prune()
    return report


def _remove_files(ws: Workspace, report: GcReport, dry_run: bool) -> None:
    """Orphan blobs, temp files and heartbeat files of finished batches (the caller holds the lock exclusive)."""
    for blob in _orphans(ws):
        report.orphan_blobs += 1
        report.bytes_freed += blob.stat().st_size
        if not dry_run:
            blob.unlink(missing_ok=True)
    if ws.store.tmp.exists():
        for tmp in ws.store.tmp.iterdir():
            report.temp_files += 1
            if not dry_run and tmp.is_file():
                tmp.unlink(missing_ok=True)
    if not dry_run and (ws.root / LOCK_DIR).is_dir():
        running = {r[0] for r in ws.db.execute("SELECT id FROM batches WHERE state = 'running'")}
        for beat in (ws.root / LOCK_DIR).glob("batch-*.heartbeat"):
            with contextlib.suppress(ValueError):
                if int(beat.stem.split("-", 1)[1]) not in running:
                    beat.unlink(missing_ok=True)
