"""``cvops prelabel``: model suggestions for unlabeled images, and bulk accept / reject of them.

``cvops prelabel [--model M] [--filter unlabeled|all|status=...] [--images ID,...] [--conf 0.25] [--json]`` runs
the model (default: the champion); ``cvops prelabel accept --above 0.6`` and ``cvops prelabel reject --below 0.3``
review the pending suggestions in bulk. Exit codes: 0 ok, 1 cancelled, 2 usage error (no champion, unknown model).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import click

from cvops.cli.base import WorkspaceRef, command_options, emit, job, out, parse_statuses

if TYPE_CHECKING:
    from cvops.data.images import ImageFilter
    from cvops.data.workspace import Workspace


def _image_ids(text: Optional[str]) -> Optional[list[int]]:
    """``3,4,10`` as ids."""
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of image ids", param_hint="--images"
                                 ) from None


def _filter(text: str) -> Optional[ImageFilter]:
    """``unlabeled`` (None: the default scope), ``all``, or ``status=...``."""
    from cvops.data.images import ImageFilter

    if text.strip() == "unlabeled":
        return None
    if text.strip() == "all":
        return ImageFilter()
    return ImageFilter(statuses=tuple(parse_statuses(text) or ()))


@click.group(invoke_without_command=True)
@click.option("--model", "model_ref", default="champion", show_default=True,
              help="Registered model: name (m3), id, champion or latest.")
@click.option("--filter", "flt", default="unlabeled", show_default=True,
              help="Which images: unlabeled (no manual annotations), all, or status=new,in_progress. Images with "
                   "manual annotations are skipped.")
@click.option("--images", "images", default=None,
              help="Exactly these image ids (comma-separated); suggestions go alongside manual annotations.")
@click.option("--conf", type=click.FloatRange(0, 1), default=0.25, show_default=True, help="Confidence threshold.")
@click.option("--iou", type=click.FloatRange(0, 1), default=0.7, show_default=True, help="NMS IoU threshold.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images per batch (each batch is one undo step).")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Spread the inference over the workers of the Ray cluster at ADDRESS (docs/scale-out.md); the "
                   "suggestions are stored here once all came back, as one undo step.")
@command_options(workspace="ref")
def prelabel(model_ref: str, flt: str, images: Optional[str], conf: float, iou: float, batch: int,
             ray_address: Optional[str], workspace: WorkspaceRef, as_json: bool) -> None:
    """Pre-label images with a model (default: the champion): its detections become suggestions to accept or
    reject in the annotator, or in bulk with `prelabel accept --above` / `prelabel reject --below`."""
    if click.get_current_context().invoked_subcommand is not None:
        return  # accept / reject: they use this -w unless given their own
    from cvops.assist.prelabel import prelabel as run

    ids = _image_ids(images)
    scope = None if ids is not None else _filter(flt)
    if ray_address:
        from cvops.scaleout.cluster import require_ray

        require_ray()  # before any work: say how to install Ray
    ws = workspace.open()
    # Ultralytics (a first ONNX export) logs to stdout: keep stdout for the report.
    with job("prelabel", as_json, library_output=True) as (progress, cancel):
        if ray_address:
            from cvops.scaleout.inference import prelabel as run_on_cluster

            report = run_on_cluster(ws, ray_address, model_ref, image_ids=ids, conf=conf, iou=iou, batch=batch,
                                    progress=progress, cancel=cancel, flt=scope)
        else:
            report = run(ws, model_ref, image_ids=ids, conf=conf, iou=iou, batch=batch, progress=progress,
                         cancel=cancel, flt=scope)
    if as_json:
        emit(report.to_dict())
    else:
        out.print(f"pre-labeled {report.images} images with {report.model} in {report.seconds:.1f} s: "
                  f"{report.suggestions} suggestions on {report.images_with_suggestions} images"
                  + (f", {report.skipped_images} skipped" if report.skipped_images else "")
                  + (" (cancelled)" if report.cancelled else ""))
        if report.unknown_classes:
            out.print(f"  [yellow]{report.unknown_classes} model class(es) no longer exist:[/] "
                      f"{', '.join(report.unknown_class_names)}")
        if report.suggestions:
            out.print("  review them on the Annotate page, or: cvops prelabel accept --above 0.6")
    sys.exit(1 if report.cancelled else 0)


def _review(ws: Workspace, as_json: bool, key: str, count: int) -> None:
    from cvops.assist.prelabel import pending_count

    left = pending_count(ws)
    if as_json:
        emit({key: count, "pending": left})
    else:
        out.print(f"{key} {count} suggestion{'s' if count != 1 else ''}; {left} still pending")


@prelabel.command("accept")
@click.option("--above", type=click.FloatRange(0, 1), required=True,
              help="Accept pending suggestions with confidence at or above this.")
@click.option("--images", "images", default=None, help="Only on these image ids (comma-separated).")
@command_options()
def prelabel_accept(above: float, images: Optional[str], ws: Workspace, as_json: bool) -> None:
    """Accept suggestions in bulk: they become manual annotations (one undo step)."""
    from cvops.assist.prelabel import accept_above

    _review(ws, as_json, "accepted", accept_above(ws, above, _image_ids(images)))


@prelabel.command("reject")
@click.option("--below", type=click.FloatRange(0, 1), required=True,
              help="Reject (delete) pending suggestions with confidence below this.")
@click.option("--images", "images", default=None, help="Only on these image ids (comma-separated).")
@command_options()
def prelabel_reject(below: float, images: Optional[str], ws: Workspace, as_json: bool) -> None:
    """Reject suggestions in bulk: they are deleted (one undo step); manual annotations are never touched."""
    from cvops.assist.prelabel import reject_below

    _review(ws, as_json, "rejected", reject_below(ws, below, _image_ids(images)))


COMMANDS: tuple[click.Command, ...] = (prelabel,)
