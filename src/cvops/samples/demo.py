"""The headless demo: generate the shapes dataset, import it into a fresh workspace, label it, run the health check
and freeze a first dataset version (80/10/10 split of the done images).

Later stages (training, export) extend this pipeline.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Optional

from cvops.data.annotations import NewAnnotation
from cvops.data.health import check
from cvops.data.ingest import import_paths
from cvops.common.jobs import CancelToken, Progress, no_progress, sub_progress
from cvops.samples import shapes
from cvops.versions.create import create_version
from cvops.data.workspace import Workspace


def run_demo(path: Path, count: int = 128, seed: int = 0, progress: Optional[Progress] = None,
             cancel: Optional[CancelToken] = None) -> dict:
    """Create a demo workspace at ``path`` (which must not hold one) and return a summary of what was done. A
    ``cancel`` raises :class:`~cvops.common.jobs.Cancelled`, leaving the workspace as far as it got."""
    progress = progress or no_progress
    ws = Workspace.create(path)
    try:
        with tempfile.TemporaryDirectory(prefix="cvops-demo-") as tmp:
            progress(0.0, f"generating {count} shapes images")
            samples = shapes.generate(Path(tmp), count=count, seed=seed)
            report = import_paths(ws, [tmp], progress=sub_progress(progress, 0.2, 0.6), cancel=cancel)
            if cancel is not None:
                cancel.raise_if_cancelled()  # a half import makes no demo
            by_name = {s.path.name: s for s in samples}
            for name in shapes.CLASSES:
                ws.classes.add(name)
            items = []
            ids = []
            for image in ws.images.page(limit=count + 1):
                sample = by_name[image.file_name]
                ids.append(image.id)
                items += [NewAnnotation(image.id, sh.label, "box", box=sh.box) for sh in sample.shapes]
            ws.annotations.add_many(items, description="added the demo labels")
            # A realistic mix of review states: most done, some waiting for review, a few untouched.
            ws.annotations.set_status(ids[: int(len(ids) * 0.8)], "done")
            ws.annotations.set_status(ids[int(len(ids) * 0.8): int(len(ids) * 0.9)], "needs_review")
            thumbs = ws.thumbnails.generate(progress=sub_progress(progress, 0.6, 0.8), cancel=cancel)
        health = check(ws, progress=sub_progress(progress, 0.8, 0.95), cancel=cancel)
        if cancel is not None:
            cancel.raise_if_cancelled()
        version = create_version(ws, "demo: first version", ratios="80/10/10", seed=seed,
                                 statuses=("done", "approved"))
        summary = {
            "workspace": str(ws.root),
            "generated": count,
            "import": report.to_dict(),
            "thumbnails": thumbs.made,
            "stats": ws.stats(),
            "check": {"errors": len(health.errors), "warnings": len(health.warnings),
                      "kinds": dict(health.kinds())},
            "version": {"name": version.name, "content_hash": version.content_hash, "images": version.stats},
        }
    finally:
        ws.close()
    progress(1.0, "done")
    return summary


def reset_demo(path: Path) -> None:
    """Remove a previous demo workspace folder (only one that holds a CVOps catalog)."""
    if (path / "cvops.db").exists():
        shutil.rmtree(path)
