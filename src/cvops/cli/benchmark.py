"""``cvops benchmark ...``: create, list and show benchmark sets, and their leaderboard of evaluated models."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cvops.cli.base import command_options, emit, fmt_value, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.group()
def benchmark() -> None:
    """Benchmark sets: frozen images and annotations no later version trains or validates on."""


@benchmark.command("create")
@click.argument("name")
@click.option("--from-version", "version_ref", required=True, metavar="V", help="The version to take the images from.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]),
              help="The split of V to freeze.")
@click.option("--message", "-m", default="", help="What this benchmark is for.")
@command_options()
def create_cmd(name: str, version_ref: str, split: str, message: str, ws: Workspace, as_json: bool) -> None:
    """Freeze every image of a split of version V, with its annotations, as benchmark NAME.

    Later versions leave these images out (no training or validation on them)."""
    from cvops.benchmarks.sets import create_benchmark

    info = create_benchmark(ws, name, version_ref, split=split, message=message)
    if as_json:
        emit(info.to_dict())
        return
    out.print(f"created benchmark {info.name} ({info.content_hash[:12]}): {info.images} images from "
              f"{info.version}/{info.split}; later versions leave them out")


@benchmark.command("list")
@command_options()
def list_cmd(ws: Workspace, as_json: bool) -> None:
    """List benchmark sets, oldest first."""
    from rich.table import Table

    from cvops.benchmarks.sets import list_benchmarks

    infos = list_benchmarks(ws)
    if as_json:
        emit([i.to_dict() for i in infos])
        return
    table = Table("name", "hash", "images", "from", "message")
    for i in infos:
        table.add_row(i.name, i.content_hash[:12], str(i.images), f"{i.version}/{i.split}", i.message)
    out.print(table)


@benchmark.command("show")
@click.argument("ref", metavar="NAME")
@command_options()
def show_cmd(ref: str, ws: Workspace, as_json: bool) -> None:
    """Show benchmark NAME: its source, images, annotations per class and evaluations."""
    from cvops.benchmarks.sets import benchmark_summary

    summary = benchmark_summary(ws, ref)
    if as_json:
        emit(summary)
        return
    out.print(f"{summary['name']} ({summary['content_hash'][:12]}): {summary['images']} images from "
              f"{summary['version']}/{summary['split']}; {summary['evaluations']} evaluation(s)")
    if summary["message"]:
        out.print(summary["message"])
    out.print("annotations: " + (", ".join(f"{k} {v}" for k, v in summary["stats"]["annotations"].items()) or "none"))


@benchmark.command("leaderboard")
@click.argument("ref", metavar="NAME")
@command_options()
def leaderboard_cmd(ref: str, ws: Workspace, as_json: bool) -> None:
    """Every model evaluated on benchmark NAME (its latest evaluation), best mAP50-95 first."""
    import datetime

    from rich.table import Table

    from cvops.benchmarks.sets import leaderboard

    rows = leaderboard(ws, ref)
    if as_json:
        emit(rows)
        return
    if not rows:
        out.print(f"no model evaluated on {ref} yet (cvops evaluate MODEL --benchmark {ref})")
        return
    classes = list(rows[0]["per_class_ap"])
    table = Table("#", "model", "mAP50-95", "mAP50", *classes, "evaluated")
    for r in rows:
        when = datetime.datetime.fromtimestamp(r["evaluated_at"]).strftime("%Y-%m-%d %H:%M")
        table.add_row(str(r["rank"]), r["model"], fmt_value(r["map50_95"]), fmt_value(r["map50"]),
                      *(fmt_value(r["per_class_ap"].get(c)) for c in classes), when)
    out.print(table)


COMMANDS: tuple[click.Command, ...] = (benchmark,)
