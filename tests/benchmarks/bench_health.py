"""Health-check throughput: ``cvops.data.health.check`` over a workspace of real JPEGs (information; no target).

Data: ``--n`` (default 500) synthetic 1280x720 JPEGs (quality 90) with 3 boxes each, imported in copy mode and marked
done (generation and import untimed). Measured: one ``check()`` over every image — a full decode of every image, the
perceptual hashes and near-duplicate search, and the annotation checks — as images per second and seconds.
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2

from cvops.data.annotations import NewAnnotation
from cvops.data.health import check
from cvops.data.ingest import import_paths
from cvops.data.workspace import Workspace

from _common import emit, environment, log, synthetic_photo, temp_root


def run(n: int) -> dict:
    """Build the workspace, run the check once, return the figures."""
    with temp_root("health") as root:
        src = root / "src"
        src.mkdir()
        for i in range(n):
            cv2.imwrite(str(src / f"img_{i:05d}.jpg"), synthetic_photo(i, 1280, 720, 4.0),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
        log(f"generated {n} JPEGs")
        ws = Workspace.create(root / "ws")
        report = import_paths(ws, [src])
        ws.classes.add("thing")
        ws.annotations.add_many([NewAnnotation(i, "thing", box=(20 + 100 * k, 40, 80, 60))
                                 for i in report.image_ids for k in range(3)])
        ws.annotations.set_status(report.image_ids, "done")
        started = time.perf_counter()
        result = check(ws)
        seconds = time.perf_counter() - started
        ws.close()
    return {
        "benchmark": "health",
        "images": n,
        "image_size": [1280, 720],
        "check": {"seconds": round(seconds, 3), "images_per_second": round(n / seconds, 1),
                  "findings": dict(result.kinds()), "errors": len(result.errors)},
        "target": {},
        "pass": {"checked_every_image": result.images_checked == n},
        "environment": environment(),
    }


def main() -> int:
    """Parse arguments, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500, help="images (default 500)")
    result = run(parser.parse_args().n)
    emit(result)
    return 0 if result["pass"]["checked_every_image"] else 1


if __name__ == "__main__":
    sys.exit(main())
