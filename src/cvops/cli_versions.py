"""``cvops version ...``: create, list, show, diff and materialize dataset versions (registered on :data:`cli.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click
from rich.table import Table

from cvops.catalog.db import STATUSES
from cvops.cli import _handle_errors, _job, _json_option, _open, _emit, _workspace_option, cli, out


def _statuses(text: Optional[str]) -> Optional[list[str]]:
    """``status=done,approved`` (or ``done,approved``) as a status list."""
    if not text:
        return None
    key, eq, value = text.partition("=")
    if eq and key.strip() != "status":
        raise click.BadParameter(f"unknown filter {key!r} (use status=...)", param_hint="--filter")
    wanted = [s.strip() for s in (value if eq else text).split(",") if s.strip()]
    for status in wanted:
        if status not in STATUSES:
            raise click.BadParameter(f"unknown status {status!r} (use {', '.join(STATUSES)})", param_hint="--filter")
    return wanted


@cli.group()
def version() -> None:
    """Dataset versions: frozen images, annotations, classes and splits."""


@version.command("create")
@click.option("--message", "-m", required=True, help="What this version is for.")
@click.option("--split", "ratios", default="80/10/10", show_default=True, help="train/val/test ratios.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split assignment.")
@click.option("--filter", "flt", default=None, help="Only images matching, e.g. status=done,approved.")
@click.option("--resplit", is_flag=True, help="Assign every split afresh (otherwise images keep theirs).")
@click.option("--use-hints", is_flag=True, help="Keep the split recorded by a dataset import where there is one.")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def create_cmd(ctx: click.Context, message: str, ratios: str, seed: int, flt: Optional[str], resplit: bool,
               use_hints: bool, workspace: Optional[Path], as_json: bool) -> None:
    """Freeze the current images, annotations, classes and splits as a new version (or find the identical one).

    Exit 1, saying why, when no image matches the filter."""
    from cvops.versions.create import create_version

    wanted = _statuses(flt)
    ws = _open(ctx, workspace)
    with _job("version", as_json) as (progress, cancel):  # an empty version: exit 1, code "empty_version"
        info = create_version(ws, message, ratios=ratios, seed=seed, statuses=wanted, resplit=resplit,
                              use_hints=use_hints, progress=progress, cancel=cancel)
    if as_json:
        _emit(info.to_dict())
        return
    verb = "created" if info.created else "unchanged content: existing version"
    out.print(f"{verb} {info.name} ({info.content_hash[:12]}): {sum(info.stats['images'].values())} images "
              f"{info.stats['images']}")


@version.command("list")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def list_cmd(ctx: click.Context, workspace: Optional[Path], as_json: bool) -> None:
    """List versions, oldest first."""
    from cvops.versions.create import list_versions

    infos = list_versions(_open(ctx, workspace))
    if as_json:
        _emit([i.to_dict() for i in infos])
        return
    table = Table("name", "hash", "images", "splits", "message")
    for i in infos:
        table.add_row(i.name, i.content_hash[:12], str(sum(i.stats["images"].values())),
                      " ".join(f"{k}={v}" for k, v in i.stats["images"].items()), i.message)
    out.print(table)


@version.command("show")
@click.argument("ref", metavar="V")
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def show_cmd(ctx: click.Context, ref: str, workspace: Optional[Path], as_json: bool) -> None:
    """Show version V: images per split and annotations per class and split."""
    from cvops.versions.create import version_summary

    summary = version_summary(_open(ctx, workspace), ref)
    if as_json:
        _emit(summary)
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
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def diff_cmd(ctx: click.Context, a: str, b: str, workspace: Optional[Path], as_json: bool) -> None:
    """What changed from version A to version B: images, splits, annotations, classes, counts per class."""
    from cvops.versions.diff import diff_versions

    diff = diff_versions(_open(ctx, workspace), a, b)
    if as_json:
        _emit(diff)
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
@_workspace_option
@_json_option
@click.pass_context
@_handle_errors
def materialize_cmd(ctx: click.Context, ref: str, workspace: Optional[Path], as_json: bool) -> None:
    """Build (once) a YOLO layout of version V from hard links into the store; print its data.yaml."""
    from cvops.versions.materialize import materialize

    path = materialize(_open(ctx, workspace), ref)
    if as_json:
        _emit({"data_yaml": str(path)})
    else:
        out.print(str(path))
