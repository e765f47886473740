"""``cvops check``: the pre-training health gate, over the live workspace or a frozen dataset version."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Optional

import click

from cvops.cli.base import command_options, emit, job, out
from cvops.data.thresholds import DUPLICATE_IOU

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


SEVERITY_COLOR = {"error": "red", "warning": "yellow", "info": "dim"}


@click.command()
@click.option("--version", "version_ref", default=None, help="Check this dataset version (default: the workspace).")
@click.option("--min-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Images smaller than this (either side, px) are reported as tiny.")
@click.option("--min-examples", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fewest annotations a class should have in each split.")
@click.option("--imbalance", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="Largest allowed ratio between the most and least frequent class.")
@click.option("--duplicate-iou", type=click.FloatRange(min=0, max=1, min_open=True), default=DUPLICATE_IOU,
              show_default=True, help="Boxes of one class overlapping at least this IoU are reported as duplicates.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Decode and hash the images on the workers of the Ray cluster at ADDRESS (docs/scale-out.md).")
@command_options()
def check(version_ref: Optional[str], min_size: int, min_examples: int, imbalance: float,
          duplicate_iou: float, ray_address: Optional[str], ws: Workspace, as_json: bool) -> None:
    """Health gate before training: undecodable, tiny and duplicate images, leakage across splits, bad boxes,
    unlabeled images, rare classes, imbalance, unreviewed images. Exit 1 when an error is found."""
    from cvops.data.health import check as check_workspace
    from cvops.versions.check import check_version

    options: dict[str, Any] = {"min_size": min_size, "min_examples": min_examples, "imbalance_ratio": imbalance,
                               "duplicate_iou": duplicate_iou}
    if ray_address:
        from cvops.scaleout.cluster import require_ray
        from cvops.scaleout.inference import cluster_decoder

        require_ray()  # before any work: say how to install Ray
        options["decoder"] = cluster_decoder(ws, ray_address)
    with job("check", as_json) as (progress, cancel):
        if version_ref:
            report = check_version(ws, version_ref, progress=progress, cancel=cancel, **options)
        else:
            report = check_workspace(ws, progress=progress, cancel=cancel, **options)
    if as_json:
        emit(report.to_dict())
    else:
        out.print(f"checked {report.images_checked} images in {report.seconds:.1f} s: "
                  f"{len(report.errors)} errors, {len(report.warnings)} warnings")
        for f in report.findings:
            color = SEVERITY_COLOR.get(f.severity, "")
            where = f" [{f.split}]" if f.split else ""
            images = ", ".join(str(i) for i in f.image_ids[:10]) + (" …" if len(f.image_ids) > 10 else "")
            out.print(f"  [{color}]{f.severity:<7}[/] {f.kind}{where}: {f.message}"
                      + (f" (images {images})" if images else ""))
    sys.exit(1 if report.errors or report.cancelled else 0)


COMMANDS: tuple[click.Command, ...] = (check,)
