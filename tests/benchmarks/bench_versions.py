"""Dataset version speed: create from scratch, create after one edit, and diff.

Data: a workspace made with ``Workspace.create`` holding ``--n`` (default 10,000) synthetic image rows (fake sha256
values, no image files), 3 classes and 3 boxes per image, inserted with ``executemany`` (untimed). Because there are
no files, near-duplicate grouping (perceptual hashes) is skipped with ``create_version(..., grouping=False)``: every
image is its own split group. With files, grouping costs one decode per *new* image and nothing for images already
in a version.

Measured:

* scratch: the first ``create_version`` (every state computed, splits assigned for every image).
* one change: ``ws.annotations.update`` of one box, then ``create_version`` (incremental). Target: <= 0.1 s at 10,000
  images. Also checked: its content hash equals a from-scratch computation of the same content.
* diff: ``diff_versions`` of the two versions above (one image differs), and of the first version against a
  ``resplit`` with another seed (most images differ).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

from cvops.catalog.db import transaction
from cvops.versions.diff import diff_versions
from cvops.versions.create import create_version
from cvops.data.workspace import Workspace

from _common import emit, environment, log, temp_root

CLASSES = ("car", "person", "bicycle")
PER_IMAGE = 3
TARGET_ONE_CHANGE_S = 0.1


def build(root: Path, n: int, rng: random.Random) -> Workspace:
    """A workspace with ``n`` image rows and ``PER_IMAGE`` boxes each."""
    ws = Workspace.create(root)
    class_ids = [ws.classes.add(name).id for name in CLASSES]
    now = time.time()
    with transaction(ws.db) as conn:
        conn.executemany(
            "INSERT INTO images (id, sha256, file_name, original_path, format, width, height, byte_size, status, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, 'JPEG', 1920, 1080, 1000, 'done', ?, ?)",
            ((i, hashlib.sha256(str(i).encode()).hexdigest(), f"img_{i:07d}.jpg", f"/data/img_{i:07d}.jpg", now, now)
             for i in range(1, n + 1)))
        conn.executemany(
            "INSERT INTO annotations (image_id, class_id, kind, x, y, w, h, created_at, updated_at) "
            "VALUES (?, ?, 'box', ?, ?, ?, ?, ?, ?)",
            ((i, rng.choice(class_ids), rng.uniform(0, 1800), rng.uniform(0, 1000), rng.uniform(10, 120),
              rng.uniform(10, 80), now, now) for i in range(1, n + 1) for _ in range(PER_IMAGE)))
    log(f"inserted {n} images, {n * PER_IMAGE} annotations")
    return ws


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """The result of ``fn`` and the seconds it took."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def scratch_hash(ws: Workspace) -> str:
    """The content hash a full recomputation gives, rolled back so nothing is stored."""
    ws.db.execute("SAVEPOINT probe")
    try:
        return create_version(ws, "probe", incremental=False, grouping=False).content_hash
    finally:
        ws.db.execute("ROLLBACK TO probe")
        ws.db.execute("RELEASE probe")


def run(n: int, seed: int) -> dict[str, Any]:
    """Build, measure, clean up; return the result."""
    rng = random.Random(seed)
    with temp_root("versions") as tmp:
        ws = build(tmp / "ws", n, rng)
        try:
            v1, scratch_s = timed(lambda: create_version(ws, "scratch", grouping=False))
            log(f"scratch {scratch_s:.3f} s")
            ann_id = ws.db.execute("SELECT id FROM annotations WHERE image_id = ? LIMIT 1", [n // 2]).fetchone()[0]
            ws.annotations.update(ann_id, box=(10, 10, 50, 50))
            v2, one_s = timed(lambda: create_version(ws, "one change", grouping=False))
            log(f"one change {one_s:.3f} s")
            same = v2.content_hash == scratch_hash(ws)
            small_diff, small_s = timed(lambda: diff_versions(ws, v1.id, v2.id))
            v3, resplit_s = timed(lambda: create_version(ws, "resplit", seed=seed + 1, resplit=True, grouping=False))
            big_diff, big_s = timed(lambda: diff_versions(ws, v1.id, v3.id))
            log(f"diffs {small_s:.3f} s / {big_s:.3f} s")
        finally:
            ws.close()
    return {
        "benchmark": "versions",
        "images": n,
        "annotations": n * PER_IMAGE,
        "create_scratch_s": round(scratch_s, 3),
        "create_one_change_s": round(one_s, 4),
        "create_resplit_s": round(resplit_s, 3),
        "incremental_equals_scratch": same,
        "diff_one_change_s": round(small_s, 4),
        "diff_one_change": {"annotations_changed": len(small_diff["annotations_changed"])},
        "diff_resplit_s": round(big_s, 3),
        "diff_resplit": {"images_moved": len(big_diff["images_moved"])},
        "target": {"create_one_change_s_max": TARGET_ONE_CHANGE_S, "at_images": 10_000},
        "pass": {"create_one_change": same and (one_s <= TARGET_ONE_CHANGE_S or n > 10_000)},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="image rows (default 10,000; 1000000 for the big run)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    emit(run(args.n, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
