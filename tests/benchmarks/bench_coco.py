"""COCO dataset speed: reading the JSON, a full workspace import in place, and an export.

Data: ``--n-images`` (default 10,000) distinct 64x48 PNGs in ``images/train/`` and one
``annotations/instances_train.json`` with ``--n-annotations`` (default 100,000) boxes spread evenly over them,
12 categories with sparse ids; generated first (untimed).

Measured, each once, after writing dirty pages back (``sync``):

* read: ``cvops.formats.coco.read()`` of the dataset folder (JSON parse, validation, image lookup);
* import: ``cvops.formats.importer.import_dataset(ws, root, format="coco", in_place=True)`` into a fresh workspace
  (read, probe and hash every image, catalog rows, classes, the annotations as one operation);
* export: ``cvops.versions.export.export_dataset(ws, out, format="coco", images_mode="symlink")``.

Targets: import <= 10 s, export <= 10 s (read is reported; it is part of the import). The import must bring in every
image and annotation with nothing skipped, and the export, read back (untimed), must hold them all; otherwise the
figures mean nothing and the script exits with status 1 after printing them. A missed speed target is reported as
``"pass": false`` with exit status 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cvops.formats import coco
from cvops.data.workspace import Workspace

from _common import emit, environment, flush_writes, log, temp_root

TARGET_IMPORT_S = 10.0
TARGET_EXPORT_S = 10.0
WIDTH, HEIGHT = 64, 48
CATEGORY_IDS = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233]


def write_images(folder: Path, n: int) -> list[str]:
    """``n`` distinct small PNGs (a gradient with the index written into the first pixels); their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, WIDTH, dtype=np.uint8)
    base = np.dstack([np.tile(ramp, (HEIGHT, 1))] * 3)
    names = []
    for i in range(n):
        img = base.copy()
        img[0, :4, 0] = np.frombuffer(i.to_bytes(4, "little"), np.uint8)
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise RuntimeError("PNG encoding failed")
        name = f"img_{i:06d}.png"
        (folder / name).write_bytes(buf.tobytes())
        names.append(name)
        if (i + 1) % 2500 == 0 or i + 1 == n:
            log(f"generated {i + 1}/{n} PNGs")
    return names


def write_annotations(path: Path, names: list[str], n_annotations: int, seed: int = 0) -> None:
    """A COCO instances file with ``n_annotations`` boxes inside the images, round-robin over the images."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(2, 20, n_annotations).round(2)
    h = rng.uniform(2, 16, n_annotations).round(2)
    x = (rng.uniform(0, 1, n_annotations) * (WIDTH - w)).round(2)
    y = (rng.uniform(0, 1, n_annotations) * (HEIGHT - h)).round(2)
    cats = rng.choice(CATEGORY_IDS, n_annotations)
    doc = {
        "info": {}, "licenses": [],
        "categories": [{"id": c, "name": f"class_{c}", "supercategory": ""} for c in CATEGORY_IDS],
        "images": [{"id": i + 1, "file_name": n, "width": WIDTH, "height": HEIGHT} for i, n in enumerate(names)],
        "annotations": [{"id": k + 1, "image_id": k % len(names) + 1, "category_id": int(cats[k]),
                         "bbox": [float(x[k]), float(y[k]), float(w[k]), float(h[k])],
                         "area": float(w[k] * h[k]), "segmentation": [], "iscrowd": 0}
                        for k in range(n_annotations)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    log(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")


def timed(label: str, fn: Any) -> tuple[Any, float]:
    """Run ``fn()`` after a sync; its result and seconds."""
    flush_writes()
    log(label)
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    log(f"{label}: {seconds:.2f} s")
    return result, seconds


def run(n_images: int, n_annotations: int) -> tuple[dict[str, Any], bool]:
    """Generate the data, run the phases; return the result and whether every phase was complete."""
    try:
        from cvops.versions.export import export_dataset
        from cvops.formats.importer import import_dataset
    except ImportError as exc:
        raise SystemExit(f"bench_coco: the workspace import/export is not available ({exc}); "
                         "it needs cvops.formats.importer.import_dataset and cvops.versions.export.export_dataset")
    with temp_root("coco") as root:
        ds = root / "ds"
        names = write_images(ds / "images" / "train", n_images)
        write_annotations(ds / "annotations" / "instances_train.json", names, n_annotations)

        parsed, read_s = timed("read", lambda: coco.read(ds))
        read_shapes = sum(len(i.shapes) for i in parsed.items)
        del parsed

        ws = Workspace.create(root / "ws")
        try:
            report, import_s = timed("import", lambda: import_dataset(ws, ds, format="coco", in_place=True))
            export, export_s = timed("export", lambda: export_dataset(ws, root / "out", format="coco",
                                                                      images_mode="symlink"))
        finally:
            ws.close()
        back = coco.read(root / "out")
        back_images, back_shapes = len(back.items), sum(len(i.shapes) for i in back.items)

    complete = (read_shapes == n_annotations and report.images == n_images and report.annotations == n_annotations
                and not report.skipped and back_images == n_images and back_shapes == n_annotations
                and not back.problems)
    result = {
        "benchmark": "coco",
        "images": n_images,
        "annotations": n_annotations,
        "read": {"seconds": round(read_s, 3), "annotations_per_s": round(n_annotations / read_s),
                 "shapes": read_shapes},
        "import": {"seconds": round(import_s, 3), "images": report.images, "annotations": report.annotations,
                   "skipped": len(report.skipped), "first_skipped": report.skipped[:5]},
        "export": {"seconds": round(export_s, 3), "images": export.images, "annotations": export.annotations,
                   "read_back_images": back_images, "read_back_annotations": back_shapes},
        "target": {"import_seconds_max": TARGET_IMPORT_S, "export_seconds_max": TARGET_EXPORT_S},
        "pass": {"import": import_s <= TARGET_IMPORT_S, "export": export_s <= TARGET_EXPORT_S,
                 "complete": complete},
        "environment": environment(),
    }
    return result, complete


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=10_000, help="number of images (default 10000)")
    parser.add_argument("--n-annotations", type=int, default=100_000, help="number of boxes (default 100000)")
    args = parser.parse_args()
    result, complete = run(args.n_images, args.n_annotations)
    emit(result)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
