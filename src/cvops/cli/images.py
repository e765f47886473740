"""``cvops images list``: browse the images of the workspace; ``cvops images tag`` / ``untag``: image tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

import click

from cvops.catalog.statuses import STATUSES
from cvops.cli.base import command_options, emit, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.group()
def images() -> None:
    """Browse the images of the workspace and tag them."""


@images.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only images with this review status.")
@click.option("--class", "cls", default=None, help="Only images with an annotation of this class (name or id).")
@click.option("--search", default=None, help="Only images whose file name contains this text.")
@click.option("--annotated/--unannotated", default=None, help="Only images with / without annotations.")
@click.option("--tag", "tags", multiple=True, help="Only images with this tag (name or id; repeat for several).")
@click.option("--match", type=click.Choice(["any", "all"]), default="any", show_default=True,
              help="With several --tag: images with any of them, or with all.")
@click.option("--untagged/--tagged", default=None, help="Only images without / with any tag.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--after", type=int, default=0, help="Start after this image id (keyset paging).")
@command_options()
def images_list(status: Optional[str], cls: Optional[str], search: Optional[str], annotated: Optional[bool],
                tags: tuple[str, ...], match: str, untagged: Optional[bool], limit: int, after: int, ws: Workspace,
                as_json: bool) -> None:
    """List images, filtered and paged."""
    from rich.table import Table

    from cvops.data.images import ImageFilter

    class_id = ws.classes.get(cls).id if cls else None
    flt = ImageFilter(status=status, class_id=class_id, annotated=annotated, search=search,
                      tag_ids=ws.tags.ids(tags) if tags else None, tag_match=match, untagged=untagged)
    page = ws.images.page(flt, after_id=after, limit=limit)
    tag_names = ws.tags.names_of_images([r.id for r in page])
    if as_json:
        emit({"total": ws.images.count(flt),
              "images": [{**r.to_dict(), "tags": tag_names.get(r.id, [])} for r in page]})
        return
    table = Table("id", "file", "size", "format", "status", "tags", "sha256")
    for r in page:
        table.add_row(str(r.id), r.file_name, f"{r.width}x{r.height}", r.format, r.status,
                      ", ".join(tag_names.get(r.id, [])), r.sha256[:12])
    out.print(table)
    out.print(f"{len(page)} of {ws.images.count(flt)} matching images")


@images.command("tag")
@click.argument("image_ids", metavar="IMAGES...", nargs=-1, required=True, type=int)
@click.option("--tag", "tag", required=True, help="The tag (name or id).")
@click.option("--create", is_flag=True, help="Create the tag when no tag has that name.")
@command_options()
def images_tag(image_ids: Sequence[int], tag: str, create: bool, ws: Workspace, as_json: bool) -> None:
    """Tag IMAGES (ids) with --tag, as one undo step; images that have it already are left."""
    count = ws.tags.tag(image_ids, tag, create=create)
    name = ws.tags.get(tag).name
    if as_json:
        emit({"tag": name, "tagged": count, "images": len(set(image_ids))})
    else:
        out.print(f"tagged {count} of {len(set(image_ids))} images {name!r} (cvops undo takes it back)")


@images.command("untag")
@click.argument("image_ids", metavar="IMAGES...", nargs=-1, required=True, type=int)
@click.option("--tag", "tag", required=True, help="The tag (name or id).")
@command_options()
def images_untag(image_ids: Sequence[int], tag: str, ws: Workspace, as_json: bool) -> None:
    """Take --tag off IMAGES (ids), as one undo step."""
    count = ws.tags.untag(image_ids, tag)
    name = ws.tags.get(tag).name
    if as_json:
        emit({"tag": name, "untagged": count, "images": len(set(image_ids))})
    else:
        out.print(f"untagged {count} of {len(set(image_ids))} images {name!r} (cvops undo takes it back)")


COMMANDS: tuple[click.Command, ...] = (images,)
