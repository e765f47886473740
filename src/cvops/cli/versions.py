"""``cvops version ...``: create, list, show, diff and materialize dataset versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import click

from cvops.cli.base import command_options, emit, job, out, status_list

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.group()
def version() -> None:
    """Dataset versions: frozen images, annotations, classes and splits."""


@version.command("create")
@click.option("--message", "-m", required=True, help="What this version is for.")
@click.option("--split", "ratios", default="80/10/10", show_default=True, help="train/val/test ratios.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split assignment.")
@click.option("--filter", "flt", default=None, callback=status_list,
              help="Only images matching, e.g. status=done,approved.")
@click.option("--resplit", is_flag=True, help="Assign every split afresh (otherwise images keep theirs).")
@click.option("--use-hints", is_flag=True, help="Keep the split recorded by a dataset import where there is one.")
@command_options()
def create_cmd(message: str, ratios: str, seed: int, flt: Optional[list[str]], resplit: bool,
               use_hints: bool, ws: Workspace, as_json: bool) -> None:
    """Freeze the current images, annotations, classes and splits as a new version (or find the identical one).

    Exit 1, saying why, when no image matches the filter."""
    from cvops.versions.create import create_version

    with job("version", as_json) as (progress, cancel):  # an empty version: exit 1, code "empty_version"
        info = create_version(ws, message, ratios=ratios, seed=seed, statuses=flt, resplit=resplit,
                              use_hints=use_hints, progress=progress, cancel=cancel)
    if as_json:
        emit(info.to_dict())
        return
    verb = "created" if info.created else "unchanged content: existing version"
    out.print(f"{verb} {info.name} ({info.content_hash[:12]}): {sum(info.stats['images'].values())} images "
              f"{info.stats['images']}")


@version.command("list")
@command_options()
def list_cmd(ws: Workspace, as_json: bool) -> None:
    """List versions, oldest first."""
    from rich.table import Table

    from cvops.versions.create import list_versions

    infos = list_versions(ws)
    if as_json:
        emit([i.to_dict() for i in infos])
        return
    table = Table("name", "hash", "images", "splits", "message")
    for i in infos:
        table.add_row(i.name, i.content_hash[:12], str(sum(i.stats["images"].values())),
                      " ".join(f"{k}={v}" for k, v in i.stats["images"].items()), i.message)
    out.print(table)


@version.command("show")
@click.argument("ref", metavar="V")
@command_options()
def show_cmd(ref: str, ws: Workspace, as_json: bool) -> None:
    """Show version V: images per split and annotations per class and split."""
    from rich.table import Table

    from cvops.versions.create import version_summary

    summary = version_summary(ws, ref)
    if as_json:
        emit(summary)
        return
    out.print(f"{summary['name']} ({summary['content_hash'][:12]}): {summary['message']}")
    out.print("images: " + ", ".join(f"{k} {v}" for k, v in summary["images_per_split"].items()))
    table = Table("class", *summary["images_per_split"])
    for name, per in summary["annotations_per_class"].items():
        table.add_row(name, *(str(per.get(s, 0)) for s in summary["images_per_split"]))
    out.print(table)


@version.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@command_options()
def diff_cmd(a: str, b: str, ws: Workspace, as_json: bool) -> None:
    """What changed from version A to version B: images, splits, annotations, classes, counts per class."""
    from cvops.versions.diff import diff_versions

    diff = diff_versions(ws, a, b)
    if as_json:
        emit(diff)
        return
    lines: list[tuple[str, Any]] = [
        ("images added", len(diff["images_added"])), ("images removed", len(diff["images_removed"])),
        ("images moved between splits", len(diff["images_moved"])),
        ("annotations added", len(diff["annotations_added"])),
        ("annotations removed", len(diff["annotations_removed"])),
        ("annotations changed", len(diff["annotations_changed"])),
        ("classes added", ", ".join(diff["classes_added"]) or "-"),
        ("classes removed", ", ".join(diff["classes_removed"]) or "-"),
        ("classes renamed", ", ".join(f"{r['from']} -> {r['to']}" for r in diff["classes_renamed"]) or "-"),
        ("count deltas", ", ".join(f"{k} {v:+d}" for k, v in diff["class_count_deltas"].items()) or "-")]
    out.print(f"{diff['from']} -> {diff['to']}")
    for label, value in lines:
        out.print(f"  {label}: {value}")


@version.command("materialize")
@click.argument("ref", metavar="V")
@command_options()
def materialize_cmd(ref: str, ws: Workspace, as_json: bool) -> None:
    """Build (once) a YOLO layout of version V from hard links into the store; print its data.yaml."""
    from cvops.versions.materialize import materialize

    path = materialize(ws, ref)
    if as_json:
        emit({"data_yaml": str(path)})
    else:
        out.print(str(path))


COMMANDS: tuple[click.Command, ...] = (version,)
