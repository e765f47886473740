"""Catalog query speed on a large workspace: open, filtered keyset pages and counts by status.

Data: a workspace made with ``Workspace.create`` holding ``--n`` (default 1,000,000) synthetic image rows (random
review statuses, fake sha256 values, one import batch), 3 classes and ``--annotations`` (default 0.3 x n) boxes on
random images, inserted with ``executemany`` in one transaction (untimed). The database is then closed.

Measured on a new ``Workspace.open`` (the database file is in the page cache, as it is after any recent use; the
counts are also measured cold, see below):

* open: ``Workspace.open`` alone (the first ``ws.stats()`` is reported separately). Target: <= 1 s.
* status page: ``ws.images.page(ImageFilter(status="done"), after_id=X, limit=200)`` for ``--samples`` (default 50)
  random ``X``; median and p95. Target: p95 <= 10 ms (the median is reported too).
* counts: ``ws.images.counts_by_status()``, median of 5. Target: <= 200 ms. Also cold (``cold_ms``, the target
  applies too): the catalog's files dropped from the OS page cache first (as after a reboot), then a new
  ``Workspace.open`` and one count.
* information only: pages filtered by class, by a common file-name search and by a search that matches nothing
  (a full scan), and the database file size.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from cvops.catalog.db import transaction
from cvops.catalog.statuses import STATUSES
from cvops.data.images import ImageFilter
from cvops.data.workspace import CATALOG_NAME, Workspace

from _common import MB, drop_from_page_cache, emit, environment, log, percentile, temp_root

CLASSES = ("car", "person", "bicycle")
CAMERAS = 20
PAGE = 200
TARGET_OPEN_S = 1.0
TARGET_PAGE_MS = 10.0
TARGET_COUNTS_MS = 200.0


def file_name(i: int) -> str:
    """Synthetic file names: ``camCC_IIIIIII.jpg`` (20 cameras, so ``camCC_`` matches 1 row in 20)."""
    return f"cam{i % CAMERAS:02d}_{i:07d}.jpg"


def image_rows(n: int, batch_id: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Rows for the images INSERT: ids 1..n, random statuses and sizes."""
    now = time.time()
    for i in range(1, n + 1):
        name = file_name(i)
        yield (
            i, hashlib.sha256(str(i).encode()).hexdigest(), name, f"/data/site{i % 7}/{name}",
            1920, 1080, rng.randint(200_000, 600_000), batch_id, rng.choice(STATUSES), now, now,
        )


def annotation_rows(n: int, n_images: int, class_ids: list[int], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Rows for the annotations INSERT: boxes of random classes on random images."""
    now = time.time()
    for _ in range(n):
        x, y = rng.uniform(0, 1800), rng.uniform(0, 1000)
        yield rng.randint(1, n_images), rng.choice(class_ids), x, y, rng.uniform(10, 120), rng.uniform(10, 80), now, now


def build(root: Path, n_images: int, n_annotations: int, rng: random.Random) -> list[int]:
    """Create the workspace and bulk-load it; return the class ids."""
    ws = Workspace.create(root)
    try:
        class_ids = [ws.classes.add(name).id for name in CLASSES]
        conn = ws.db.conn
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB page cache for the bulk load only
        with transaction(ws.db):
            batch_id = conn.execute(
                "INSERT INTO batches (started_at, finished_at, mode, sources, state, imported) "
                "VALUES (?, ?, 'copy', '[\"/data\"]', 'done', ?)",
                [time.time(), time.time(), n_images],
            ).lastrowid
            conn.executemany(
                "INSERT INTO images (id, sha256, file_name, original_path, in_place, format, width, height, "
                "byte_size, batch_id, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 0, 'JPEG', ?, ?, ?, ?, ?, ?, ?)",
                image_rows(n_images, int(batch_id), rng),
            )
            log(f"inserted {n_images} images")
            conn.executemany(
                "INSERT INTO annotations (image_id, class_id, kind, x, y, w, h, created_at, updated_at) "
                "VALUES (?, ?, 'box', ?, ?, ?, ?, ?, ?)",
                annotation_rows(n_annotations, n_images, class_ids, rng),
            )
            log(f"inserted {n_annotations} annotations")
    finally:
        ws.close()
    return class_ids


def ms(fn: Callable[[], object]) -> float:
    """Milliseconds one call of ``fn`` takes."""
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def page_timings(ws: Workspace, flt: ImageFilter, after_ids: list[int]) -> dict[str, Any]:
    """Median and p95 ms of a 200-row page per ``after_id``, and the smallest page seen."""
    times, sizes = [], []
    for after_id in after_ids:
        started = time.perf_counter()
        rows = ws.images.page(flt, after_id=after_id, limit=PAGE)
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(len(rows))
    return {
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(percentile(times, 95), 3),
        "max_ms": round(max(times), 3),
        "samples": len(times),
        "min_rows": min(sizes),
    }


def measure(root: Path, n_images: int, class_ids: list[int], samples: int, rng: random.Random) -> dict[str, Any]:
    """Open the workspace anew and time the queries."""
    started = time.perf_counter()
    ws = Workspace.open(root)
    open_s = time.perf_counter() - started
    try:
        first_stats_ms = ms(ws.stats)
        after_ids = [rng.randrange(0, int(n_images * 0.95)) for _ in range(samples)]
        log("status pages")
        status_page = page_timings(ws, ImageFilter(status="done"), after_ids)
        counts_ms = [ms(ws.images.counts_by_status) for _ in range(5)]
        log("information-only pages")
        info_pages = {
            "class": page_timings(ws, ImageFilter(class_id=class_ids[0]), after_ids),
            "search_common": page_timings(ws, ImageFilter(search="cam07_"), after_ids),
            "search_no_match": page_timings(ws, ImageFilter(search="no-such-name"), after_ids[:5]),
        }
    finally:
        ws.close()
    drop_from_page_cache(sorted(root.glob(CATALOG_NAME + "*")))
    with Workspace.open(root) as cold:
        cold_counts_ms = ms(cold.images.counts_by_status)
    reopen_s = []
    for _ in range(5):
        started = time.perf_counter()
        again = Workspace.open(root)
        reopen_s.append(time.perf_counter() - started)
        again.close()
    return {
        "open": {"first_s": round(open_s, 4), "reopen_median_s": round(statistics.median(reopen_s), 4),
                 "first_stats_ms": round(first_stats_ms, 1)},
        "status_page": status_page,
        "counts_by_status": {"median_ms": round(statistics.median(counts_ms), 2),
                             "runs_ms": [round(t, 2) for t in counts_ms], "cold_ms": round(cold_counts_ms, 2)},
        "info_pages": info_pages,
    }


def run(n_images: int, n_annotations: int, samples: int, seed: int) -> dict[str, Any]:
    """Build the catalog in a temporary folder, measure, clean up; return the result."""
    rng = random.Random(seed)
    with temp_root("catalog") as tmp:
        root = tmp / "ws"
        started = time.perf_counter()
        class_ids = build(root, n_images, n_annotations, rng)
        build_s = time.perf_counter() - started
        log(f"built in {build_s:.1f} s")
        db_bytes = sum(p.stat().st_size for p in root.glob(CATALOG_NAME + "*"))
        figures = measure(root, n_images, class_ids, samples, rng)
    open_ok = figures["open"]["first_s"] <= TARGET_OPEN_S
    page_ok = figures["status_page"]["p95_ms"] <= TARGET_PAGE_MS
    counts = figures["counts_by_status"]
    counts_ok = max(counts["median_ms"], counts["cold_ms"]) <= TARGET_COUNTS_MS
    return {
        "benchmark": "catalog",
        "images": n_images,
        "annotations": n_annotations,
        "classes": len(class_ids),
        "db_mb": round(db_bytes / MB, 1),
        "build_s": round(build_s, 1),
        **figures,
        "target": {"open_s_max": TARGET_OPEN_S, "status_page_p95_ms_max": TARGET_PAGE_MS,
                   "counts_by_status_ms_max": TARGET_COUNTS_MS},
        "pass": {"open": open_ok, "status_page": page_ok, "counts_by_status": counts_ok},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="image rows (default 1,000,000)")
    parser.add_argument("--annotations", type=int, help="annotation rows (default 0.3 x n)")
    parser.add_argument("--samples", type=int, default=50, help="random page positions per filter (default 50)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n_annotations = args.annotations if args.annotations is not None else int(args.n * 0.3)
    emit(run(args.n, n_annotations, args.samples, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
