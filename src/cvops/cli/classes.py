"""``cvops classes ...``: the label schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import click

from cvops.cli.base import command_options, emit, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.group()
def classes() -> None:
    """List and change the label schema (classes)."""


@classes.command("list")
@command_options()
def classes_list(ws: Workspace, as_json: bool) -> None:
    """List classes in order, with usage counts."""
    from rich.table import Table

    usage = ws.classes.usage()
    rows = [{"id": c.id, "name": c.name, "color": c.color, "position": c.position, "description": c.description,
             **usage.get(c.id, {"annotations": 0, "images": 0})} for c in ws.classes.list()]
    if as_json:
        emit(rows)
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
@command_options(json=False)
def classes_add(names: tuple[str, ...], color: Optional[str], description: str, ws: Workspace) -> None:
    """Add one or more classes."""
    for name in names:
        c = ws.classes.add(name, color=color, description=description)
        out.print(f"added class {c.id} {c.name!r} {c.color}")


@classes.command("rename")
@click.argument("cls")
@click.argument("new_name")
@command_options(json=False)
def classes_rename(cls: str, new_name: str, ws: Workspace) -> None:
    """Rename class CLS (name or id) to NEW_NAME; its id stays."""
    c = ws.classes.rename(cls, new_name)
    out.print(f"class {c.id} is now {c.name!r}")


@classes.command("recolor")
@click.argument("cls")
@click.argument("color")
@command_options(json=False)
def classes_recolor(cls: str, color: str, ws: Workspace) -> None:
    """Set the color (#rrggbb) of class CLS."""
    c = ws.classes.recolor(cls, color)
    out.print(f"class {c.name!r} is now {c.color}")


@classes.command("reorder")
@click.argument("order", nargs=-1, required=True)
@command_options(json=False)
def classes_reorder(order: tuple[str, ...], ws: Workspace) -> None:
    """Set the display order: name every class once, in the new order."""
    result = ws.classes.reorder(list(order))
    out.print("order: " + ", ".join(c.name for c in result))


@classes.command("merge")
@click.argument("source")
@click.argument("target")
@command_options(json=False)
def classes_merge(source: str, target: str, ws: Workspace) -> None:
    """Move every annotation of SOURCE to TARGET and delete SOURCE."""
    moved = ws.classes.merge(source, target)
    out.print(f"merged {source!r} into {target!r}: {moved} annotations moved")


@classes.command("delete")
@click.argument("cls")
@click.option("--reassign-to", default=None, help="Move the class's annotations to this class first.")
@click.option("--drop", is_flag=True, help="Delete the class's annotations too.")
@command_options(json=False)
def classes_delete(cls: str, reassign_to: Optional[str], drop: bool, ws: Workspace) -> None:
    """Delete class CLS (refused while it is used, unless --reassign-to or --drop)."""
    counts = ws.classes.delete(cls, reassign_to=reassign_to, drop=drop)
    out.print(f"deleted class {cls!r}: {counts['reassigned']} annotations reassigned, {counts['dropped']} dropped")


COMMANDS: tuple[click.Command, ...] = (classes,)
