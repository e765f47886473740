"""The workspace as a whole: ``init``, ``stats``, ``undo``, ``redo``, ``history``, ``doctor``, ``gc``,
``thumbnails`` and ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from cvops.cli.base import command_options, emit, job, out
from cvops.common.errors import WorkspaceError

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@command_options(workspace=None)
def init(directory: Path, as_json: bool) -> None:
    """Create a new workspace in DIRECTORY."""
    from cvops.data.workspace import Workspace

    ws = Workspace.create(directory)
    ws.close()
    if as_json:
        emit({"workspace": str(ws.root)})
    else:
        out.print(f"created workspace {ws.root}")


@click.command()
@command_options()
def stats(ws: Workspace, as_json: bool) -> None:
    """Counts of images, annotations (manual ones: what a version freezes), classes, images per review status,
    pending model suggestions and image tags."""
    data = ws.stats()
    if as_json:
        emit({**data, **{f"status_{k}": v for k, v in data["by_status"].items()}})
        return
    out.print(f"[bold]{ws.root}[/]")
    out.print(f"images {data['images']}  annotations {data['annotations']}  classes {data['classes']}  "
              f"videos {data['videos']}  annotated images {data['annotated_images']}")
    out.print(f"suggestions pending: {data['suggestions']} on {data['images_with_suggestions']} images  "
              f"tags {data['tags']} on {data['tagged_images']} images")
    out.print("status  " + "  ".join(f"{k} {v}" for k, v in data["by_status"].items()))


@click.command()
@command_options(json=False)
def undo(ws: Workspace) -> None:
    """Undo the last edit (annotations, statuses, classes)."""
    op = ws.log.undo()
    out.print(f"undid: {op.description}" if op else "nothing to undo")


@click.command()
@command_options(json=False)
def redo(ws: Workspace) -> None:
    """Redo the last undone edit."""
    op = ws.log.redo()
    out.print(f"redid: {op.description}" if op else "nothing to redo")


@click.command()
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@command_options()
def history(limit: int, ws: Workspace, as_json: bool) -> None:
    """The audit trail: what was done, undone and redone, newest first."""
    import time

    entries = ws.log.audit(limit)
    if as_json:
        emit([e.__dict__ for e in entries])
        return
    for e in entries:
        out.print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(e.at))}  {e.event:<4}  "
                  f"#{e.operation_id}  {e.description}")


@click.command()
@click.option("--quick", is_flag=True, help="Check sizes and mtimes; hash only files that look changed.")
@command_options()
def doctor(quick: bool, ws: Workspace, as_json: bool) -> None:
    """Check catalog integrity, store hashes and referenced (in-place) files."""
    from cvops.catalog.maintenance import doctor as run_doctor

    with job("doctor", as_json) as (progress, cancel):
        report = run_doctor(ws, quick=quick, progress=progress, cancel=cancel)
    if as_json:
        emit(report.to_dict())
    else:
        out.print(f"checked {report.images_checked} images, hashed {report.blobs_hashed} files: "
                  + ("[green]no problems[/]" if report.ok else f"[red]{len(report.problems)} problems[/]"))
        for p in report.problems:
            out.print(f"  [red]{p['kind']}[/] {p.get('path', '')} {p['reason']}")
        for w in report.warnings:
            out.print(f"  [yellow]{w['kind']}[/] {w['reason']}")
    sys.exit(0 if report.ok else 1)


@click.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@command_options()
def gc(dry_run: bool, ws: Workspace, as_json: bool) -> None:
    """Remove orphan blobs and temp files, close interrupted imports, prune stale thumbnails."""
    from cvops.catalog.maintenance import gc as run_gc

    report = run_gc(ws, dry_run=dry_run)
    if as_json:
        emit(report.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {report.orphan_blobs} orphan blobs ({report.bytes_freed / 1e6:.1f} MB), "
              f"{report.temp_files} temp files; {report.interrupted_batches} interrupted imports closed; "
              f"{report.thumbnails_pruned} stale thumbnails pruned")
    for s in report.skipped:
        out.print(f"  [yellow]skipped[/] {s}")


@click.command()
@command_options()
def thumbnails(ws: Workspace, as_json: bool) -> None:
    """Make missing thumbnails (256 px) for every image."""
    with job("thumbnails", as_json) as (progress, cancel):
        report = ws.thumbnails.generate(progress=progress, cancel=cancel)
    if as_json:
        emit(report.__dict__)
    else:
        out.print(f"made {report.made} thumbnails, {len(report.errors)} images could not be decoded")
        for e in report.errors:
            out.print(f"  [red]error[/] {e['path']}: {e['reason']}")
    sys.exit(0 if not report.errors and not report.cancelled else 1)


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", type=click.IntRange(min=1), default=128, show_default=True, help="Images to generate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing demo workspace in DIRECTORY.")
@click.option("--loop", is_flag=True,
              help="Also set up the continuous-training loop: a benchmark of harder 'field' images, pipeline.yaml and "
                   "an incoming/ folder to watch (docs/pipelines.md).")
@click.option("--batch", type=click.IntRange(min=1), default=None, metavar="N",
              help="Instead: add a labelled batch of N harder images to DIRECTORY/incoming/ of an existing demo "
                   "(new data for cvops pipeline watch).")
@command_options(workspace=None)
def demo(directory: Optional[Path], count: int, seed: int, force: bool, loop: bool, batch: Optional[int],
         as_json: bool) -> None:
    """Generate the synthetic "shapes" dataset, import and label it in a fresh workspace (default: ./demo-workspace).

    With --loop, also the continuous-training loop to try `cvops pipeline run` and `cvops pipeline watch` on; with
    --batch N, new labelled images for it."""
    from cvops.samples.demo import reset_demo, run_demo

    directory = directory or Path("demo-workspace")
    if batch is not None:
        _demo_batch(directory, batch, seed, as_json)
        return
    if force:
        reset_demo(directory)
    elif (directory / "cvops.db").exists():
        raise WorkspaceError(f"{directory} already holds a workspace; use --force to replace it")
    with job("demo", as_json) as (progress, cancel):
        summary = run_demo(directory, count=count, seed=seed, progress=progress, cancel=cancel)
        if loop:
            summary["loop"] = _demo_loop(directory)
    if as_json:
        emit(summary)
        return
    s = summary["stats"]
    out.print(f"[bold]demo workspace[/] {summary['workspace']}")
    out.print(f"  generated {summary['generated']} synthetic shapes images (circle, square, triangle)")
    out.print(f"  imported {summary['import']['imported']} images, {summary['import']['duplicates']} duplicates, "
              f"{len(summary['import']['errors'])} errors")
    out.print(f"  labelled {s['annotations']} boxes in {s['classes']} classes; made {summary['thumbnails']} thumbnails")
    out.print("  status  " + "  ".join(f"{k} {v}" for k, v in s["by_status"].items() if v))
    c, v = summary["check"], summary["version"]
    out.print(f"  health check: {c['errors']} errors, {c['warnings']} warnings "
              f"({', '.join(f'{k} {n}' for k, n in c['kinds'].items()) or 'nothing found'})")
    out.print(f"  froze dataset version {v['name']} ({v['content_hash'][:12]}) of the done images, split 80/10/10")
    if loop:
        lp = summary["loop"]
        out.print(f"  loop: benchmark {lp['benchmark']} ({lp['benchmark_images']} field images, pinned), "
                  f"{lp['pipeline']}, watched folder {lp['incoming']}")
        w = summary["workspace"]
        out.print(f"next: cvops pipeline run -w {w}                       # the first champion, deployed to {w}/edge\n"
                  f"      cvops pipeline watch -w {w} --min-new 100     # continuous training (Ctrl+C stops)\n"
                  f"      cvops demo {w} --batch 100                     # meanwhile: new labelled images arrive")
        return
    out.print(f"next: cvops -w {summary['workspace']} stats | version show {v['name']} | check | doctor")


def _demo_loop(directory: Path) -> dict[str, Any]:
    """Set up the continuous-training loop in the demo workspace: field benchmark, pipeline.yaml, incoming/."""
    from cvops.data.workspace import Workspace
    from cvops.pipelines.demo import add_field_benchmark, write_loop_pipeline

    with Workspace.open(directory) as ws:
        bench = add_field_benchmark(ws)
        pipeline = write_loop_pipeline(ws.root / "pipeline.yaml", device="auto")
        (ws.root / "incoming").mkdir(exist_ok=True)
        return {"benchmark": bench.name, "benchmark_images": bench.images, "pipeline": str(pipeline),
                "incoming": str(ws.root / "incoming")}


def _demo_batch(directory: Path, count: int, seed: int, as_json: bool) -> None:
    """Write a labelled batch of harder images into the demo workspace's incoming/ folder."""
    from cvops.data.workspace import Workspace
    from cvops.pipelines.demo import next_batch, write_batch

    with Workspace.open(directory) as ws:  # a workspace, or a clear error
        folder = next_batch(ws.root / "incoming")
    index = int(folder.name.split("-")[1])
    write_batch(folder, count=count, seed=seed + 1000 * index)
    if as_json:
        emit({"batch": str(folder), "images": count})
    else:
        out.print(f"wrote {count} labelled images of the harder variant to {folder}")


COMMANDS: tuple[click.Command, ...] = (init, stats, undo, redo, history, doctor, gc, thumbnails, demo)
