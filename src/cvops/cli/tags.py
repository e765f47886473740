"""``cvops tags ...``: the image tag vocabulary (``night``, ``blurry``), apart from the detection classes. Tagging
images is ``cvops images tag`` / ``cvops images untag``; filtering by tag is ``cvops images list --tag``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import click

from cvops.cli.base import command_options, emit, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.group()
def tags() -> None:
    """List and change the image tag vocabulary (not classes: tags never reach exports or versions)."""


@tags.command("list")
@command_options()
def tags_list(ws: Workspace, as_json: bool) -> None:
    """List tags in order, with the number of images (outside the trash) carrying each."""
    from rich.table import Table

    counts = ws.tags.counts()
    rows = [{**t.to_dict(), "images": counts.get(t.id, 0)} for t in ws.tags.list()]
    if as_json:
        emit(rows)
        return
    table = Table("id", "name", "color", "images")
    for r in rows:
        table.add_row(str(r["id"]), r["name"], f"[{r['color']}]■[/] {r['color']}" if r["color"] else "-",
                      str(r["images"]))
    out.print(table)
    stats = ws.stats()
    untagged = stats["images"] - stats["tagged_images"]
    out.print(f"{len(rows)} tags; {untagged} images untagged")


@tags.command("add")
@click.argument("names", nargs=-1, required=True)
@click.option("--color", default=None, help="#rrggbb (default: none).")
@command_options()
def tags_add(names: tuple[str, ...], color: Optional[str], ws: Workspace, as_json: bool) -> None:
    """Add one or more tags (each one undo step)."""
    added = [ws.tags.create(name, color=color) for name in names]
    if as_json:
        emit({"added": [t.to_dict() for t in added]})
        return
    for t in added:
        out.print(f"added tag {t.id} {t.name!r}")


@tags.command("rename")
@click.argument("tag")
@click.argument("new_name")
@command_options()
def tags_rename(tag: str, new_name: str, ws: Workspace, as_json: bool) -> None:
    """Rename TAG (name or id) to NEW_NAME; its id and images stay."""
    t = ws.tags.rename(tag, new_name)
    if as_json:
        emit({"tag": t.to_dict()})
    else:
        out.print(f"tag {t.id} is now {t.name!r}")


@tags.command("recolor")
@click.argument("tag")
@click.argument("color")
@command_options()
def tags_recolor(tag: str, color: str, ws: Workspace, as_json: bool) -> None:
    """Set the colour (#rrggbb, or "none") of TAG."""
    t = ws.tags.recolor(tag, None if color.lower() == "none" else color)
    if as_json:
        emit({"tag": t.to_dict()})
    else:
        out.print(f"tag {t.name!r} is now {t.color or 'without a colour'}")


@tags.command("delete")
@click.argument("tag")
@command_options()
def tags_delete(tag: str, ws: Workspace, as_json: bool) -> None:
    """Delete TAG and take it off every image (one undo step)."""
    name = ws.tags.get(tag).name
    count = ws.tags.delete(tag)
    if as_json:
        emit({"deleted": name, "images": count})
    else:
        out.print(f"deleted tag {name!r} (it was on {count} images)")


@tags.command("merge")
@click.argument("source")
@click.argument("target")
@command_options()
def tags_merge(source: str, target: str, ws: Workspace, as_json: bool) -> None:
    """Give every image of SOURCE the tag TARGET and delete SOURCE (one undo step)."""
    src, dst = ws.tags.get(source).name, ws.tags.get(target).name
    gained = ws.tags.merge(source, target)
    if as_json:
        emit({"merged": src, "into": dst, "images": gained})
    else:
        out.print(f"merged tag {src!r} into {dst!r}: {gained} images gained it")


@tags.command("from-class")
@click.argument("cls")
@command_options()
def tags_from_class(cls: str, ws: Workspace, as_json: bool) -> None:
    """Turn class CLS, used only as an image-level label (no boxes, no polygons), into a tag: its images get the
    tag, its labels and the class go (one undo step). For classes that earlier versions' tagging created."""
    tag, count = ws.tags.from_class(cls)
    if as_json:
        emit({"tag": tag.to_dict(), "images": count})
    else:
        out.print(f"class {cls!r} is now tag {tag.id} {tag.name!r} on {count} images")


COMMANDS: tuple[click.Command, ...] = (tags,)
