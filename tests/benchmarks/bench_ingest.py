"""Ingest throughput: ``cvops.ingest.import_paths`` (copy mode) against a plain read-hash-copy loop.

Data: ``--n`` (default 2,000) synthetic 1920x1080 JPEGs at quality 90 (about 360 KB each), generated first (untimed).

Measured, all reading from the page cache (an untimed warm-up pass of the baseline loads the files first):

* baseline: one thread reads each file in 1 MiB chunks, hashes it with sha256 and writes a copy to a destination
  folder (no fsync); timed once before and once after the ingest, the mean of the two runs is used;
* ingest: ``import_paths(ws, [folder])`` into a fresh ``Workspace.create`` workspace, copy mode (probe, hash,
  atomic store write with fsync, catalog rows).

Dirty pages are written back (``sync``) before each timed phase. Figures: seconds, files/s and MB/s of each, and
``ratio = ingest_seconds / baseline_seconds``. Target: ratio <= 1.3.

The import must report every file imported and no errors; otherwise the figures mean nothing and the script exits
with status 1 after printing them. A missed speed target is reported as ``"pass": false`` with exit status 0.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from cvops.ingest import import_paths
from cvops.workspace import Workspace

from _common import MB, emit, environment, flush_writes, log, temp_root, write_photos

CHUNK = 1 << 20
TARGET_RATIO = 1.3


def copy_loop(files: list[Path], dest: Path) -> None:
    """The baseline: read in 1 MiB chunks, sha256, write a copy into ``dest`` (a new folder)."""
    dest.mkdir()
    for src in files:
        digest = hashlib.sha256()
        with open(src, "rb", buffering=0) as fin, open(dest / src.name, "wb") as fout:
            while chunk := fin.read(CHUNK):
                digest.update(chunk)
                fout.write(chunk)
        digest.hexdigest()


def timed_copy_loop(files: list[Path], dest: Path) -> float:
    """Seconds of one baseline run; the copies are removed (untimed) and written back first."""
    flush_writes()
    started = time.perf_counter()
    copy_loop(files, dest)
    seconds = time.perf_counter() - started
    shutil.rmtree(dest)
    return seconds


def rates(seconds: float, n_files: int, n_bytes: int) -> dict[str, float]:
    """Seconds, files/s and MB/s of a run over the data set."""
    return {
        "seconds": round(seconds, 3),
        "files_per_s": round(n_files / seconds, 1),
        "mb_per_s": round(n_bytes / MB / seconds, 1),
    }


def run(n: int) -> tuple[dict[str, Any], bool]:
    """Generate the data, run the phases; return the result and whether the import was complete."""
    with temp_root("ingest") as root:
        files = write_photos(root / "src", n)
        n_bytes = sum(f.stat().st_size for f in files)

        log("baseline warm-up pass")
        copy_loop(files, root / "warmup")
        shutil.rmtree(root / "warmup")

        log("baseline run 1")
        baseline_1 = timed_copy_loop(files, root / "copy")
        log(f"baseline run 1: {baseline_1:.2f} s")

        ws = Workspace.create(root / "ws")
        try:
            flush_writes()
            log("ingest")
            started = time.perf_counter()
            report = import_paths(ws, [root / "src"])
            ingest_seconds = time.perf_counter() - started
        finally:
            ws.close()
        log(f"ingest: {ingest_seconds:.2f} s, imported {report.imported}, errors {len(report.errors)}")

        log("baseline run 2")
        baseline_2 = timed_copy_loop(files, root / "copy")
        log(f"baseline run 2: {baseline_2:.2f} s")

    baseline_seconds = (baseline_1 + baseline_2) / 2
    ratio = ingest_seconds / baseline_seconds
    complete = report.imported == n and not report.errors
    result = {
        "benchmark": "ingest",
        "files": n,
        "total_mb": round(n_bytes / MB, 1),
        "mean_file_kb": round(n_bytes / n / 1000, 1),
        "baseline": {**rates(baseline_seconds, n, n_bytes), "runs_seconds": [round(baseline_1, 3),
                                                                             round(baseline_2, 3)]},
        "ingest": {**rates(ingest_seconds, n, n_bytes), "imported": report.imported,
                   "duplicates": report.duplicates, "errors": len(report.errors),
                   "first_errors": report.errors[:5]},
        "ratio": round(ratio, 3),
        "target": {"ratio_max": TARGET_RATIO},
        "pass": {"ratio": ratio <= TARGET_RATIO, "imported_all_without_errors": complete},
        "environment": environment(),
    }
    return result, complete


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of JPEGs (default 2000)")
    args = parser.parse_args()
    result, complete = run(args.n)
    emit(result)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
