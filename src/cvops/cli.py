"""The ``cvops`` command line: a thin layer over the core API.

Every command takes ``--workspace/-w DIR`` (default: the current directory). Exit codes: 0 ok, 1 problems found or
partial result, 2 usage error (bad arguments, no workspace, a refused change).

Errors are handled in one place, :class:`CvopsGroup` (the root group), for every command: a :class:`CvopsError`
(its ``code`` and ``exit_code``), a click usage error, an :class:`OSError`, a cancelled job. With ``--json`` the
error is one JSON object on stdout, ``{"error": {"code": ..., "message": ...}}``, with the same exit code as without.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Optional, Sequence

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cvops import __version__
from cvops.catalog.db import STATUSES
from cvops.common.errors import CvopsError, WorkspaceError, os_reason
from cvops.common.jobs import CancelToken, Cancelled
from cvops.data.workspace import Workspace

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _workspace_option(fn: Callable) -> Callable:
    return click.option("--workspace", "-w", "workspace", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help="Workspace folder (default: the group's -w, $CVOPS_WORKSPACE, or .).")(fn)


def _json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of text.")(fn)


def _resolve(ctx: click.Context, workspace: Optional[Path]) -> Path:
    root = ctx.find_root()
    return workspace or (root.obj or {}).get("workspace") or Path(os.environ.get("CVOPS_WORKSPACE", "."))


def _open(ctx: click.Context, workspace: Optional[Path]) -> Workspace:
    ws = Workspace.open(_resolve(ctx, workspace))
    if ws.migrated_from is not None:
        err.print(f"[yellow]catalog migrated from schema {ws.migrated_from}; backup in {ws.root / 'backups'}[/]")
    ctx.call_on_close(ws.close)
    return ws


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


JSON_FLAG = "cvops.json"  # key in the (shared) click context meta: whether the command was given --json


def _wants_json(args: Sequence[str]) -> bool:
    """Whether ``--json`` is among the raw arguments (before a ``--``): for errors raised before a command parsed
    its options."""
    args = list(args)
    return "--json" in (args[:args.index("--")] if "--" in args else args)


def error_info(exc: BaseException) -> tuple[str, str, int, dict[str, Any]]:
    """``(code, message, exit code, extra fields)`` of an error the CLI reports; code ``internal`` (exit 1) for an
    exception that is not one of the expected kinds (a bug)."""
    if isinstance(exc, CvopsError):
        return exc.code, str(exc), exc.exit_code, exc.details()
    if isinstance(exc, click.FileError):
        return "io", exc.format_message(), exc.exit_code, {"path": exc.ui_filename}
    if isinstance(exc, click.ClickException):
        return "usage", exc.format_message(), exc.exit_code, {}
    if isinstance(exc, Cancelled):
        return "cancelled", str(exc) or "cancelled", 1, {}
    if isinstance(exc, OSError):
        path = exc.filename
        return "io", f"{path}: {os_reason(exc)}" if path else os_reason(exc), 2, {"path": str(path)} if path else {}
    return "internal", f"{type(exc).__name__}: {exc}", 1, {}


def fail(exc: BaseException, as_json: bool) -> NoReturn:
    """Report ``exc`` and exit with its code: ``{"error": {"code", "message", ...}}`` on stdout with ``as_json``
    (nothing else goes to stdout), else ``error: message`` on stderr (click's own format for usage errors)."""
    code, message, exit_code, extra = error_info(exc)
    if as_json:
        _emit({"error": {"code": code, "message": message, **extra}})
    elif isinstance(exc, click.ClickException):
        exc.show()
    else:
        err.print(Text.assemble(("error:", "red"), " ", message))
    sys.exit(exit_code)


class CvopsGroup(click.Group):
    """The root ``cvops`` group: every error of every command (and click's usage errors) goes through :func:`fail`,
    as JSON when ``--json`` was given. Unexpected exceptions keep their traceback (on stderr)."""

    def make_context(self, info_name: Optional[str], args: list[str], parent: Optional[click.Context] = None,
                     **extra: Any) -> click.Context:
        as_json = _wants_json(args)
        try:
            ctx = super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            fail(exc, as_json)
        ctx.meta[JSON_FLAG] = as_json
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            as_json = bool(ctx.meta.get(JSON_FLAG))
            if error_info(exc)[0] == "internal":
                if not as_json:
                    raise
                traceback.print_exc(file=sys.stderr)
            fail(exc, as_json)


def _handle_errors(fn: Callable) -> Callable:
    """Record whether the command was given ``--json`` (its ``as_json`` option), so that :class:`CvopsGroup`
    reports an error the way the command was asked to."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "as_json" in kwargs:
            click.get_current_context().meta[JSON_FLAG] = bool(kwargs["as_json"])
        return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _job(label: str, quiet: bool, library_output: bool = False
         ) -> Iterator[tuple[Callable[[float, str], None], CancelToken]]:
    """A progress bar on stderr and a cancel token that the first Ctrl+C triggers.

    ``library_output``: the job runs Ultralytics in this process, which prints to stdout (settings notices, model
    summaries); send that to stderr so stdout holds only the command's report.
    """
    cancel = CancelToken()

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        err.print("[yellow]cancelling after the current step (Ctrl+C again to abort)…[/]")
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    show = not quiet and err.is_terminal
    bar = Progress(TextColumn(f"{label} [progress.description]{{task.description}}"), BarColumn(),
                   TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=err, transient=True,
                   disable=not show)
    redirect = contextlib.redirect_stdout(sys.stderr) if library_output else contextlib.nullcontext()
    try:
        with bar, redirect:
            task = bar.add_task("", total=1.0)
            yield (lambda f, m: bar.update(task, completed=f, description=m)), cancel
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@click.group(cls=CvopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workspace", "-w", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Workspace folder for every subcommand (default: $CVOPS_WORKSPACE or .).")
@click.version_option(__version__, prog_name="cvops")
@click.pass_context
def cli(ctx: click.Context, workspace: Optional[Path]) -> None:
    """CVOps Workbench: import, label, version, train, export and deploy computer-vision datasets and models."""
    ctx.obj = {"workspace": workspace}


# -- workspace ---------------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_json_option
@_handle_errors
def init(directory: Path, as_json: bool) -> None:
    """Create a new workspace in DIRECTORY."""
    ws = Workspace.create(directory)
    ws.close()
    if as_json:
        _emit({"workspace": str(ws.root)})
    else:
        out.print(f"created workspace {ws.root}")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--in-place", is_flag=True, help="Reference files where they are instead of copying them.")
@click.option("--video-stride", type=click.IntRange(min=1), default=None,
              help="Extract every Nth frame of video files (videos are skipped without this).")
@click.option("--verify", is_flag=True, help="Decode every pixel at import (slower; default checks structure).")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def import_(ctx: click.Context, paths: tuple[Path, ...], in_place: bool, video_stride: Optional[int], verify: bool,
            workspace: Optional[Path], as_json: bool) -> None:
    """Import image files and folders (recursively): JPEG, PNG, BMP, TIFF, WebP, and video frames."""
    from cvops.data.ingest import import_paths

    ws = _open(ctx, workspace)
    with _job("import", as_json) as (progress, cancel):
        report = import_paths(ws, list(paths), in_place=in_place, video_stride=video_stride, verify=verify,
                              progress=progress, cancel=cancel)
    if as_json:
        _emit(report.to_dict())
    else:
        out.print(f"imported {report.imported}, duplicates {report.duplicates}, errors {len(report.errors)}"
                  + (f", frames {report.frames} from {report.videos} videos" if report.videos else "")
                  + (f", skipped {len(report.skipped)}" if report.skipped else "")
                  + (" [yellow](cancelled)[/]" if report.cancelled else "") + f" in {report.seconds:.1f} s")
        for e in report.errors:
            out.print(f"  [red]error[/] {e['path']}: {e['reason']}")
        for s in report.skipped[:20]:
            out.print(f"  [dim]skipped {s['path']}: {s['reason']}[/]")
        if len(report.skipped) > 20:
            out.print(f"  [dim]… and {len(report.skipped) - 20} more skipped[/]")
    sys.exit(0 if report.ok else 1)


@cli.command()
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def stats(ctx: click.Context, workspace: Optional[Path], as_json: bool) -> None:
    """Counts of images, annotations, classes, and images per review status."""
    ws = _open(ctx, workspace)
    data = ws.stats()
    if as_json:
        _emit({**data, **{f"status_{k}": v for k, v in data["by_status"].items()}})
        return
    out.print(f"[bold]{ws.root}[/]")
    out.print(f"images {data['images']}  annotations {data['annotations']}  classes {data['classes']}  "
              f"videos {data['videos']}  annotated images {data['annotated_images']}")
    out.print("status  " + "  ".join(f"{k} {v}" for k, v in data["by_status"].items()))


# -- classes -----------------------------------------------------------------------------------------------------------
@cli.group()
def classes() -> None:
    """List and change the label schema (classes)."""


@classes.command("list")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def classes_list(ctx: click.Context, workspace: Optional[Path], as_json: bool) -> None:
    """List classes in order, with usage counts."""
    ws = _open(ctx, workspace)
    usage = ws.classes.usage()
    rows = [{"id": c.id, "name": c.name, "color": c.color, "position": c.position, "description": c.description,
             **usage.get(c.id, {"annotations": 0, "images": 0})} for c in ws.classes.list()]
    if as_json:
        _emit(rows)
        return
    table = Table("id", "name", "color", "annotations", "images", "description")
    for r in rows:
        table.add_row(str(r["id"]), r["name"], f"[{r['color']}]■[/] {r['color']}", str(r["annotations"]),
                      str(r["images"]), r["description"])
    out.print(table)


@classes.command("add")
@click.argument("names", nargs=-1, required=True)
@click.option("--color", default=None, help="#rrggbb (default: next palette color).")
@click.option("--description", default="", help="What the class means, for annotators.")
@_workspace_option
@click.pass_context
@_handle_errors
def classes_add(ctx: click.Context, names: tuple[str, ...], color: Optional[str], description: str,
                workspace: Optional[Path]) -> None:
    """Add one or more classes."""
    ws = _open(ctx, workspace)
    for name in names:
        c = ws.classes.add(name, color=color, description=description)
        out.print(f"added class {c.id} {c.name!r} {c.color}")


@classes.command("rename")
@click.argument("cls")
@click.argument("new_name")
@_workspace_option
@click.pass_context
@_handle_errors
def classes_rename(ctx: click.Context, cls: str, new_name: str, workspace: Optional[Path]) -> None:
    """Rename class CLS (name or id) to NEW_NAME; its id stays."""
    c = _open(ctx, workspace).classes.rename(cls, new_name)
    out.print(f"class {c.id} is now {c.name!r}")


@classes.command("recolor")
@click.argument("cls")
@click.argument("color")
@_workspace_option
@click.pass_context
@_handle_errors
def classes_recolor(ctx: click.Context, cls: str, color: str, workspace: Optional[Path]) -> None:
    """Set the color (#rrggbb) of class CLS."""
    c = _open(ctx, workspace).classes.recolor(cls, color)
    out.print(f"class {c.name!r} is now {c.color}")


@classes.command("reorder")
@click.argument("order", nargs=-1, required=True)
@_workspace_option
@click.pass_context
@_handle_errors
def classes_reorder(ctx: click.Context, order: tuple[str, ...], workspace: Optional[Path]) -> None:
    """Set the display order: name every class once, in the new order."""
    result = _open(ctx, workspace).classes.reorder(list(order))
    out.print("order: " + ", ".join(c.name for c in result))


@classes.command("merge")
@click.argument("source")
@click.argument("target")
@_workspace_option
@click.pass_context
@_handle_errors
def classes_merge(ctx: click.Context, source: str, target: str, workspace: Optional[Path]) -> None:
    """Move every annotation of SOURCE to TARGET and delete SOURCE."""
    moved = _open(ctx, workspace).classes.merge(source, target)
    out.print(f"merged {source!r} into {target!r}: {moved} annotations moved")


@classes.command("delete")
@click.argument("cls")
@click.option("--reassign-to", default=None, help="Move the class's annotations to this class first.")
@click.option("--drop", is_flag=True, help="Delete the class's annotations too.")
@_workspace_option
@click.pass_context
@_handle_errors
def classes_delete(ctx: click.Context, cls: str, reassign_to: Optional[str], drop: bool,
                   workspace: Optional[Path]) -> None:
    """Delete class CLS (refused while it is used, unless --reassign-to or --drop)."""
    counts = _open(ctx, workspace).classes.delete(cls, reassign_to=reassign_to, drop=drop)
    out.print(f"deleted class {cls!r}: {counts['reassigned']} annotations reassigned, {counts['dropped']} dropped")


# -- images ------------------------------------------------------------------------------------------------------------
@cli.group()
def images() -> None:
    """Browse the images of the workspace."""


@images.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only images with this review status.")
@click.option("--class", "cls", default=None, help="Only images with an annotation of this class (name or id).")
@click.option("--search", default=None, help="Only images whose file name contains this text.")
@click.option("--annotated/--unannotated", default=None, help="Only images with / without annotations.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--after", type=int, default=0, help="Start after this image id (keyset paging).")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def images_list(ctx: click.Context, status: Optional[str], cls: Optional[str], search: Optional[str],
                annotated: Optional[bool], limit: int, after: int, workspace: Optional[Path], as_json: bool) -> None:
    """List images, filtered and paged."""
    from cvops.data.images import ImageFilter

    ws = _open(ctx, workspace)
    class_id = ws.classes.get(cls).id if cls else None
    flt = ImageFilter(status=status, class_id=class_id, annotated=annotated, search=search)
    page = ws.images.page(flt, after_id=after, limit=limit)
    if as_json:
        _emit({"total": ws.images.count(flt), "images": [r.to_dict() for r in page]})
        return
    table = Table("id", "file", "size", "format", "status", "sha256")
    for r in page:
        table.add_row(str(r.id), r.file_name, f"{r.width}x{r.height}", r.format, r.status, r.sha256[:12])
    out.print(table)
    out.print(f"{len(page)} of {ws.images.count(flt)} matching images")


# -- datasets ----------------------------------------------------------------------------------------------------------
def _print_problems(title: str, problems: list[dict], limit: int = 20) -> None:
    for p in problems[:limit]:
        where = f":{p['line']}" if "line" in p else (f" [{p['element']}]" if "element" in p else "")
        out.print(f"  [yellow]{title}[/] {p['path']}{where}: {p['reason']}")
    if len(problems) > limit:
        out.print(f"  [dim]… and {len(problems) - limit} more ({title})[/]")


@cli.command("import-dataset")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "yolo", "coco", "voc", "labelme", "cvat"]),
              default="auto", show_default=True, help="Dataset format (auto: detect the layout).")
@click.option("--class-map", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML/JSON mapping of source class names to workspace class names.")
@click.option("--strict", is_flag=True, help="Refuse the whole import (write nothing) if anything is wrong.")
@click.option("--in-place", is_flag=True, help="Reference images where they are instead of copying them.")
@click.option("--status", "status", type=click.Choice(list(STATUSES)), default=None,
              help="Status of the images that come with annotations (default: done, where still new).")
@click.option("--dry-run", is_flag=True, help="Show what was detected and would be imported; write nothing.")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def import_dataset_cmd(ctx: click.Context, path: Path, fmt: str, class_map: Optional[Path], strict: bool,
                       in_place: bool, status: Optional[str], dry_run: bool, workspace: Optional[Path],
                       as_json: bool) -> None:
    """Import a labelled dataset (YOLO, COCO, Pascal VOC, labelme, CVAT XML): images, annotations and classes.

    Point it at the folder you downloaded: the layout is found inside it. Images that come with annotations are
    marked done. Exit 1 when something was skipped; non-zero with a message when no dataset is found."""
    from cvops.formats.importer import import_dataset, load_class_map

    ws = None if dry_run else _open(ctx, workspace)
    mapping = load_class_map(class_map) if class_map else None
    with _job("import-dataset", as_json) as (progress, cancel):  # a strict refusal: exit 1, error code "refused"
        report = import_dataset(ws, path, format=fmt, class_map=mapping, strict=strict, in_place=in_place,
                                progress=progress, cancel=cancel, status=status, dry_run=dry_run)
    if as_json:
        _emit(report.to_dict())
    elif dry_run:
        _print_detected(report.detected)
        out.print(f"would import {report.images} images and {report.annotations} annotations "
                  f"({len(report.skipped)} skipped, {len(report.warnings)} warnings); nothing was written")
        _print_problems("skipped", report.skipped)
        _print_problems("warning", report.warnings)
    else:
        out.print(f"{report.format} dataset {report.source}: {report.images} images ({report.images_new} new), "
                  f"{report.annotations} annotations added ({report.annotations_existing} already present), "
                  f"{report.classes_created} classes created"
                  + (f"; splits {report.splits}" if report.splits else "")
                  + "".join(f"; {n} images marked {s}" for s, n in report.statuses.items())
                  + (" [yellow](cancelled)[/]" if report.cancelled else ""))
        _print_problems("skipped", report.skipped)
        _print_problems("warning", report.warnings)
    sys.exit(0 if report.ok else 1)


def _print_detected(detected: dict[str, Any]) -> None:
    """The layout a dry run detected, one fact a line."""
    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} ({v})" for k, v in d.items()) or "-"

    names = detected["class_names"]
    shown = ", ".join(names["names"][:20]) + (" …" if len(names["names"]) > 20 else "")
    out.print(f"format: {detected['format']}\nroot: {detected['root']}\n"
              f"image folders: {counts(detected['image_folders'])}\n"
              f"label folders: {counts(detected['label_folders'])}\n"
              f"splits: {counts(detected['splits'])}\n"
              f"class names ({len(names['names'])}) from {names['source']}: {shown or '-'}\n"
              f"images: {detected['images']} ({detected['labelled_images']} with annotations), "
              f"annotations: {detected['annotations']}")


@cli.command("export-dataset")
@click.argument("out_dir", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yolo", "coco", "voc", "labelme"]), required=True)
@click.option("--status", "statuses", default=None, help="Only images with these statuses, e.g. done,approved.")
@click.option("--images", "images_mode", type=click.Choice(["copy", "hardlink", "symlink"]), default="copy",
              show_default=True, help="How image files are placed in the export.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (only once the new export is complete).")
@click.option("--version", "version", default=None, help="Export exactly this dataset version (v3, id, hash prefix).")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def export_dataset_cmd(ctx: click.Context, out_dir: Path, fmt: str, statuses: Optional[str], images_mode: str,
                       overwrite: bool, version: Optional[str], workspace: Optional[Path], as_json: bool) -> None:
    """Export images and annotations as a dataset folder (written to a temporary folder, then renamed into place)."""
    from cvops.versions.export import export_dataset

    wanted = [s.strip() for s in statuses.split(",") if s.strip()] if statuses else None
    for status in wanted or ():
        if status not in STATUSES:
            raise click.BadParameter(f"unknown status {status!r} (use {', '.join(STATUSES)})", param_hint="--status")
    ws = _open(ctx, workspace)
    with _job("export-dataset", as_json) as (progress, cancel):  # an empty export: exit 1, code "empty_export"
        report = export_dataset(ws, out_dir, fmt, statuses=wanted, images_mode=images_mode, overwrite=overwrite,
                                progress=progress, cancel=cancel, version=version)
    if as_json:
        _emit(report.to_dict())
    else:
        out.print(f"exported {report.images} images, {report.annotations} annotations, {report.classes} classes "
                  f"as {report.format} to {report.out} in {report.seconds:.1f} s")
        _print_problems("skipped", report.skipped)


# -- history -----------------------------------------------------------------------------------------------------------
@cli.command()
@_workspace_option
@click.pass_context
@_handle_errors
def undo(ctx: click.Context, workspace: Optional[Path]) -> None:
    """Undo the last edit (annotations, statuses, classes)."""
    op = _open(ctx, workspace).log.undo()
    out.print(f"undid: {op.description}" if op else "nothing to undo")


@cli.command()
@_workspace_option
@click.pass_context
@_handle_errors
def redo(ctx: click.Context, workspace: Optional[Path]) -> None:
    """Redo the last undone edit."""
    op = _open(ctx, workspace).log.redo()
    out.print(f"redid: {op.description}" if op else "nothing to redo")


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def history(ctx: click.Context, limit: int, workspace: Optional[Path], as_json: bool) -> None:
    """The audit trail: what was done, undone and redone, newest first."""
    import time as _time

    entries = _open(ctx, workspace).log.audit(limit)
    if as_json:
        _emit([e.__dict__ for e in entries])
        return
    for e in entries:
        out.print(f"{_time.strftime('%Y-%m-%d %H:%M:%S', _time.localtime(e.at))}  {e.event:<4}  "
                  f"#{e.operation_id}  {e.description}")


# -- maintenance -------------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--quick", is_flag=True, help="Check sizes and mtimes; hash only files that look changed.")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def doctor(ctx: click.Context, quick: bool, workspace: Optional[Path], as_json: bool) -> None:
    """Check catalog integrity, store hashes and referenced (in-place) files."""
    from cvops.catalog.maintenance import doctor as run_doctor

    ws = _open(ctx, workspace)
    with _job("doctor", as_json) as (progress, cancel):
        report = run_doctor(ws, quick=quick, progress=progress, cancel=cancel)
    if as_json:
        _emit(report.to_dict())
    else:
        out.print(f"checked {report.images_checked} images, hashed {report.blobs_hashed} files: "
                  + ("[green]no problems[/]" if report.ok else f"[red]{len(report.problems)} problems[/]"))
        for p in report.problems:
            out.print(f"  [red]{p['kind']}[/] {p.get('path', '')} {p['reason']}")
        for w in report.warnings:
            out.print(f"  [yellow]{w['kind']}[/] {w['reason']}")
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def gc(ctx: click.Context, dry_run: bool, workspace: Optional[Path], as_json: bool) -> None:
    """Remove orphan blobs and temp files, close interrupted imports, prune stale thumbnails."""
    from cvops.catalog.maintenance import gc as run_gc

    report = run_gc(_open(ctx, workspace), dry_run=dry_run)
    if as_json:
        _emit(report.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {report.orphan_blobs} orphan blobs ({report.bytes_freed / 1e6:.1f} MB), "
              f"{report.temp_files} temp files; {report.interrupted_batches} interrupted imports closed; "
              f"{report.thumbnails_pruned} stale thumbnails pruned")
    for s in report.skipped:
        out.print(f"  [yellow]skipped[/] {s}")


@cli.command()
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def thumbnails(ctx: click.Context, workspace: Optional[Path], as_json: bool) -> None:
    """Make missing thumbnails (256 px) for every image."""
    ws = _open(ctx, workspace)
    with _job("thumbnails", as_json) as (progress, cancel):
        report = ws.thumbnails.generate(progress=progress, cancel=cancel)
    if as_json:
        _emit(report.__dict__)
    else:
        out.print(f"made {report.made} thumbnails, {len(report.errors)} images could not be decoded")
        for e in report.errors:
            out.print(f"  [red]error[/] {e['path']}: {e['reason']}")
    sys.exit(0 if not report.errors and not report.cancelled else 1)


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", type=click.IntRange(min=1), default=128, show_default=True, help="Images to generate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing demo workspace in DIRECTORY.")
@_json_option
@_handle_errors
def demo(directory: Optional[Path], count: int, seed: int, force: bool, as_json: bool) -> None:
    """Generate the synthetic "shapes" dataset, import and label it in a fresh workspace (default: ./demo-workspace)."""
    from cvops.samples.demo import reset_demo, run_demo

    directory = directory or Path("demo-workspace")
    if force:
        reset_demo(directory)
    elif (directory / "cvops.db").exists():
        raise WorkspaceError(f"{directory} already holds a workspace; use --force to replace it")
    with _job("demo", as_json) as (progress, cancel):
        summary = run_demo(directory, count=count, seed=seed, progress=progress, cancel=cancel)
    if as_json:
        _emit(summary)
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
    out.print(f"next: cvops -w {summary['workspace']} stats | version show {v['name']} | check | doctor")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cvops")


from cvops import (  # noqa: E402,F401  (register the commands they define)
    cli_bundle, cli_check, cli_export, cli_prelabel, cli_training, cli_versions,
)


if __name__ == "__main__":  # python -m cvops.cli: run the imported module's group, where every command registered
    from cvops.cli import main as registered_main

    registered_main()

