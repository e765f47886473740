"""Data in and out: ``import`` (image files, video frames), ``import-dataset`` and ``export-dataset``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from cvops.catalog.statuses import STATUSES
from cvops.cli.base import WorkspaceRef, command_options, emit, job, out, status_list

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--in-place", is_flag=True, help="Reference files where they are instead of copying them.")
@click.option("--video-stride", type=click.IntRange(min=1), default=None,
              help="Extract every Nth frame of video files (videos are skipped without this).")
@click.option("--verify", is_flag=True, help="Decode every pixel at import (slower; default checks structure).")
@command_options()
def import_(paths: tuple[Path, ...], in_place: bool, video_stride: Optional[int], verify: bool, ws: Workspace,
            as_json: bool) -> None:
    """Import image files and folders (recursively): JPEG, PNG, BMP, TIFF, WebP, and video frames."""
    from cvops.data.ingest import import_paths

    with job("import", as_json) as (progress, cancel):
        report = import_paths(ws, list(paths), in_place=in_place, video_stride=video_stride, verify=verify,
                              progress=progress, cancel=cancel)
    if as_json:
        emit(report.to_dict())
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


def _print_problems(title: str, problems: list[dict], limit: int = 20) -> None:
    for p in problems[:limit]:
        where = f":{p['line']}" if "line" in p else (f" [{p['element']}]" if "element" in p else "")
        out.print(f"  [yellow]{title}[/] {p['path']}{where}: {p['reason']}")
    if len(problems) > limit:
        out.print(f"  [dim]… and {len(problems) - limit} more ({title})[/]")


@click.command("import-dataset")
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
@command_options(workspace="ref")
def import_dataset_cmd(path: Path, fmt: str, class_map: Optional[Path], strict: bool, in_place: bool,
                       status: Optional[str], dry_run: bool, workspace: WorkspaceRef, as_json: bool) -> None:
    """Import a labelled dataset (YOLO, COCO, Pascal VOC, labelme, CVAT XML): images, annotations and classes.

    Point it at the folder you downloaded: the layout is found inside it. Images that come with annotations are
    marked done. Exit 1 when something was skipped; non-zero with a message when no dataset is found."""
    from cvops.formats.importer import import_dataset, load_class_map

    ws = None if dry_run else workspace.open()
    mapping = load_class_map(class_map) if class_map else None
    with job("import-dataset", as_json) as (progress, cancel):  # a strict refusal: exit 1, error code "refused"
        report = import_dataset(ws, path, format=fmt, class_map=mapping, strict=strict, in_place=in_place,
                                progress=progress, cancel=cancel, status=status, dry_run=dry_run)
    if as_json:
        emit(report.to_dict())
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


@click.command("export-dataset")
@click.argument("out_dir", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yolo", "coco", "voc", "labelme"]), required=True)
@click.option("--status", "statuses", default=None, callback=status_list,
              help="Only images with these statuses, e.g. done,approved.")
@click.option("--images", "images_mode", type=click.Choice(["copy", "hardlink", "symlink"]), default="copy",
              show_default=True, help="How image files are placed in the export.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (only once the new export is complete).")
@click.option("--version", "version", default=None, help="Export exactly this dataset version (v3, id, hash prefix).")
@command_options()
def export_dataset_cmd(out_dir: Path, fmt: str, statuses: Optional[list[str]], images_mode: str, overwrite: bool,
                       version: Optional[str], ws: Workspace, as_json: bool) -> None:
    """Export images and annotations as a dataset folder (written to a temporary folder, then renamed into place)."""
    from cvops.versions.export import export_dataset

    with job("export-dataset", as_json) as (progress, cancel):  # an empty export: exit 1, code "empty_export"
        report = export_dataset(ws, out_dir, fmt, statuses=statuses, images_mode=images_mode,
                                overwrite=overwrite, progress=progress, cancel=cancel, version=version)
    if as_json:
        emit(report.to_dict())
    else:
        out.print(f"exported {report.images} images, {report.annotations} annotations, {report.classes} classes "
                  f"as {report.format} to {report.out} in {report.seconds:.1f} s")
        _print_problems("skipped", report.skipped)


COMMANDS: tuple[click.Command, ...] = (import_, import_dataset_cmd, export_dataset_cmd)
