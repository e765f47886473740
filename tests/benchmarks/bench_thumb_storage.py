"""Thumbnail storage for the ADR "thumbnails as loose files vs SQLite blobs" (information, no pass/fail target).

Data: ``--n`` (default 5,000) thumbnail-sized JPEGs (synthetic 256x144 images at quality 85, about 12 KB each),
encoded in memory first (untimed) and keyed by their sha256.

Measured for both layouts, dirty pages written back (``sync``) before each timed phase:

* ``loose_files``: ``<root>/aa/bb/<sha256>.jpg`` fan-out folders, each file written with a plain ``write`` (no
  fsync);
* ``sqlite_blobs``: one table ``thumbs (sha256 TEXT PRIMARY KEY, data BLOB)`` in WAL mode with
  ``synchronous = NORMAL`` (the project's setting), inserts in transactions of 500; the timing includes the final
  close (WAL checkpoint).

Figures: write throughput; random reads of ``--reads`` (default 1,000) items, cold (the files and the database
evicted from the page cache with ``posix_fadvise(DONTNEED)``; directory and inode caches stay warm) and warm (the
same keys again), the SQLite side on a freshly opened connection each time (on a virtual machine whose host caches
the disk image, "cold" reads may still come from host memory); disk usage (sum of ``st_blocks * 512``
of the files, folders counted separately, against the database file); file-system entries.

``recommendation`` compares the layouts on each figure (a difference under 10 % is a tie) and names the layout
that wins more of them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

from _common import (MB, emit, encode_jpeg, environment, evict, flush_writes, log, percentile, synthetic_photo,
                     temp_root)

BATCH = 500
TIE = 0.10


def make_thumbs(n: int) -> dict[str, bytes]:
    """``n`` distinct thumbnail JPEGs keyed by sha256."""
    thumbs = {}
    for i in range(n):
        data = encode_jpeg(synthetic_photo(i, 256, 144, noise_sigma=8.0), 85)
        thumbs[hashlib.sha256(data).hexdigest()] = data
    return thumbs


def loose_path(root: Path, sha: str) -> Path:
    """Fan-out location of a loose thumbnail file."""
    return root / sha[:2] / sha[2:4] / f"{sha}.jpg"


def write_loose(root: Path, thumbs: dict[str, bytes]) -> None:
    """Write every thumbnail as a loose file (plain write, no fsync)."""
    for sha, data in thumbs.items():
        path = loose_path(root, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous = NORMAL, autocommit (explicit transactions)."""
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def write_sqlite(db_path: Path, thumbs: dict[str, bytes]) -> None:
    """Insert every thumbnail into a new database, 500 per transaction, then close it."""
    conn = connect(db_path)
    conn.execute("CREATE TABLE thumbs (sha256 TEXT PRIMARY KEY, data BLOB)")
    items = list(thumbs.items())
    for start in range(0, len(items), BATCH):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO thumbs (sha256, data) VALUES (?, ?)", items[start:start + BATCH])
        conn.execute("COMMIT")
    conn.close()


def read_loose(root: Path, keys: list[str]) -> list[float]:
    """Per-item seconds of reading the loose files of ``keys``."""
    times = []
    for sha in keys:
        started = time.perf_counter()
        loose_path(root, sha).read_bytes()
        times.append(time.perf_counter() - started)
    return times


def read_sqlite(db_path: Path, keys: list[str]) -> list[float]:
    """Per-item seconds; the connection is opened first and its cost added to the first read."""
    started = time.perf_counter()
    conn = connect(db_path)
    times = []
    try:
        for sha in keys:
            conn.execute("SELECT data FROM thumbs WHERE sha256 = ?", [sha]).fetchone()
            now = time.perf_counter()
            times.append(now - started)
            started = now
    finally:
        conn.close()
    return times


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes, after writing back dirty pages."""
    flush_writes()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def write_figures(seconds: float, n: int, payload: int) -> dict[str, float]:
    """Seconds, items/s and MB/s of writing ``n`` thumbnails of ``payload`` bytes in all."""
    return {"seconds": round(seconds, 3), "items_per_s": round(n / seconds, 1),
            "mb_per_s": round(payload / MB / seconds, 1)}


def read_figures(times: list[float]) -> dict[str, float]:
    """Total seconds, items/s, median and p95 of per-item read times."""
    total = sum(times)
    return {
        "seconds": round(total, 4),
        "items_per_s": round(len(times) / total, 1),
        "median_us": round(statistics.median(times) * 1e6, 1),
        "p95_us": round(percentile(times, 95) * 1e6, 1),
    }


def loose_usage(root: Path) -> dict[str, int]:
    """Files, folders and their allocated bytes under ``root``."""
    files = dirs = file_bytes = dir_bytes = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirs += len(dirnames)
        dir_bytes += sum(os.stat(os.path.join(dirpath, d)).st_blocks * 512 for d in dirnames)
        files += len(filenames)
        file_bytes += sum(os.stat(os.path.join(dirpath, f)).st_blocks * 512 for f in filenames)
    return {"files": files, "folders": dirs, "file_bytes": file_bytes, "folder_bytes": dir_bytes}


def recommend(layouts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per figure, the better layout (or a tie under 10 %); the layout with more wins is recommended."""
    loose, blobs = layouts["loose_files"], layouts["sqlite_blobs"]
    criteria = {  # name: (loose value, sqlite value, higher is better)
        "write_items_per_s": (loose["write"]["items_per_s"], blobs["write"]["items_per_s"], True),
        "cold_read_items_per_s": (loose["read_cold"]["items_per_s"], blobs["read_cold"]["items_per_s"], True),
        "warm_read_items_per_s": (loose["read_warm"]["items_per_s"], blobs["read_warm"]["items_per_s"], True),
        "disk_bytes": (loose["disk_bytes"], blobs["disk_bytes"], False),
        "fs_entries": (loose["fs_entries"], blobs["fs_entries"], False),
    }
    winners = {}
    for name, (a, b, higher_better) in criteria.items():
        if abs(a - b) <= TIE * max(a, b):
            winners[name] = "tie"
        else:
            winners[name] = "loose_files" if (a > b) == higher_better else "sqlite_blobs"
    wins = {k: sum(1 for w in winners.values() if w == k) for k in ("loose_files", "sqlite_blobs")}
    choice = max(wins, key=lambda k: wins[k]) if wins["loose_files"] != wins["sqlite_blobs"] else "tie"
    return {"choice": choice, "wins": wins, "per_figure": winners,
            "rule": f"better layout per figure, differences under {TIE:.0%} are ties; most wins is recommended"}


def run(n: int, reads: int, seed: int) -> dict[str, Any]:
    """Make the data, measure both layouts in a temporary folder, clean up; return the result."""
    rng = random.Random(seed)
    with temp_root("thumb-storage") as tmp:
        log(f"encoding {n} thumbnails")
        thumbs = make_thumbs(n)
        payload = sum(len(d) for d in thumbs.values())
        keys = rng.sample(list(thumbs), min(reads, len(thumbs)))
        files_root, db_path = tmp / "files", tmp / "thumbs.db"

        log("loose files: write")
        loose_write_s = timed(lambda: write_loose(files_root, thumbs))
        log("sqlite: write")
        sqlite_write_s = timed(lambda: write_sqlite(db_path, thumbs))

        flush_writes()
        evict([loose_path(files_root, sha) for sha in thumbs])
        evict([db_path])
        log("reads: cold, then warm")
        loose_cold, sqlite_cold = read_loose(files_root, keys), read_sqlite(db_path, keys)
        loose_warm, sqlite_warm = read_loose(files_root, keys), read_sqlite(db_path, keys)

        usage = loose_usage(files_root)
        db_stat = db_path.stat()
        leftover = [p.name for p in tmp.glob("thumbs.db-*")]

    layouts = {
        "loose_files": {
            "write": write_figures(loose_write_s, n, payload),
            "read_cold": read_figures(loose_cold),
            "read_warm": read_figures(loose_warm),
            "disk_bytes": usage["file_bytes"] + usage["folder_bytes"],
            "disk_detail": usage,
            "fs_entries": usage["files"] + usage["folders"],
        },
        "sqlite_blobs": {
            "write": write_figures(sqlite_write_s, n, payload),
            "read_cold": read_figures(sqlite_cold),
            "read_warm": read_figures(sqlite_warm),
            "disk_bytes": db_stat.st_blocks * 512,
            "disk_detail": {"file_size": db_stat.st_size, "files_left_after_close": leftover},
            "fs_entries": 1 + len(leftover),
        },
    }
    for layout in layouts.values():
        layout["disk_overhead_pct"] = round((layout["disk_bytes"] / payload - 1) * 100, 1)
    return {
        "benchmark": "thumb_storage",
        "thumbnails": n,
        "payload_mb": round(payload / MB, 2),
        "mean_thumb_kb": round(payload / n / 1000, 1),
        "reads": len(keys),
        **layouts,
        "recommendation": recommend(layouts),
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="thumbnails (default 5000)")
    parser.add_argument("--reads", type=int, default=1000, help="random reads (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    emit(run(args.n, args.reads, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
