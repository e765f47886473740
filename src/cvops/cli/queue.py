"""``cvops queue``: the labeling queue (active learning): which unlabeled images to annotate first.

``cvops queue build --strategy uncertainty|diversity|mixed --budget N [--model M] [--conf 0.25] [--json]`` ranks
the unlabeled images with the model (default: the champion), replaces the queue and attaches the model's detections
to the queued images as suggestions; ``cvops queue show [--limit N] [--json]`` lists it (done = labelled since);
``cvops queue clear`` empties it. The annotator's "Next from queue" (Q) walks it. Exit codes: 0 ok, 1 cancelled, 2
usage error (no champion, unknown model, bad budget).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import click

from cvops.cli.base import WorkspaceRef, command_options, emit, job, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

STRATEGIES = ("uncertainty", "diversity", "mixed")  # cvops.monitoring.queue.STRATEGIES (not imported: start-up)


@click.group()
def queue() -> None:
    """The labeling queue: unlabeled images ranked by how much labeling them should help the model."""


@queue.command("build")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="uncertainty", show_default=True,
              help="uncertainty: the images the model is least sure of; diversity: spread over the embeddings, away "
                   "from what is labelled; mixed: the most diverse among the 3 x budget most uncertain.")
@click.option("--budget", type=click.IntRange(min=1), required=True, help="How many images to queue.")
@click.option("--model", "model_ref", default="champion", show_default=True,
              help="Registered model: name (m3), id, champion or latest.")
@click.option("--conf", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.25, show_default=True,
              help="The model's operating threshold: suggestions at or above it; uncertainty is measured around it.")
@command_options(workspace="ref")
def queue_build(strategy: str, budget: int, model_ref: str, conf: float, workspace: WorkspaceRef,
                as_json: bool) -> None:
    """Rank the unlabeled images with the model, keep the best BUDGET as the queue (replacing it) and attach the
    model's detections to them as suggestions."""
    from cvops.monitoring.queue import build_queue

    ws = workspace.open()
    with job("queue", as_json, library_output=True) as (progress, cancel):
        report = build_queue(ws, strategy, budget, model_ref, conf=conf, progress=progress, cancel=cancel)
    if as_json:
        emit(report.to_dict())
    elif report.cancelled:
        out.print("queue build cancelled: the queue is unchanged")
    else:
        out.print(f"queued {report.queued} of {report.candidates} unlabeled images by {strategy} with "
                  f"{report.model} in {report.seconds:.1f} s; {report.suggestions} suggestions attached"
                  + (f"; {report.skipped} unreadable images skipped" if report.skipped else ""))
        from rich.markup import escape

        for problem in report.problems:
            out.print(f"  [yellow]{escape(problem)}[/]")
        _table(report.items[:20], with_done=False)
        if report.queued > 20:
            out.print(f"  … {report.queued - 20} more: cvops queue show")
        if report.queued:
            out.print("  label them on the Annotate page: Q opens the next image of the queue")
    sys.exit(1 if report.cancelled else 0)


def _table(items: list, with_done: bool) -> None:
    from rich.table import Table

    if not items:
        return
    table = Table(box=None, pad_edge=False)
    for name in ("rank", "image", "file", "score") + (("done",) if with_done else ()):
        table.add_column(name, justify="right" if name in ("rank", "image", "score") else "left")
    for item in items:
        table.add_row(str(item.rank), str(item.image_id), item.file_name, f"{item.score:.3f}",
                      *(("yes" if item.done else "",) if with_done else ()))
    out.print(table)


@queue.command("show")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show only the first N entries.")
@command_options()
def queue_show(limit: Optional[int], ws: Workspace, as_json: bool) -> None:
    """List the queue in rank order; done = labelled since (manual annotations, or marked done / approved)."""
    from cvops.monitoring.queue import queue_progress, show_queue

    items = show_queue(ws, limit)
    labelled, total = queue_progress(ws)
    if as_json:
        emit({"items": [i.to_dict() for i in items], "labelled": labelled, "total": total})
        return
    if not total:
        out.print("the labeling queue is empty: cvops queue build --strategy uncertainty --budget 50")
        return
    out.print(f"{labelled} of {total} queued images labelled (strategy {items[0].strategy if items else '-'})")
    _table(items, with_done=True)


@queue.command("clear")
@command_options()
def queue_clear(ws: Workspace, as_json: bool) -> None:
    """Empty the queue (the images and their suggestions stay)."""
    from cvops.monitoring.queue import clear_queue

    removed = clear_queue(ws)
    if as_json:
        emit({"cleared": removed})
    else:
        out.print(f"cleared the queue ({removed} entr{'ies' if removed != 1 else 'y'})")


COMMANDS: tuple[click.Command, ...] = (queue,)
