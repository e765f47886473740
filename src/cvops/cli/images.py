"""``cvops images list``: browse the images of the workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import click

from cvops.catalog.statuses import STATUSES
from cvops.cli.base import command_options, emit, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.group()
def images() -> None:
    """Browse the images of the workspace."""


@images.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only images with this review status.")
@click.option("--class", "cls", default=None, help="Only images with an annotation of this class (name or id).")
@click.option("--search", default=None, help="Only images whose file name contains this text.")
@click.option("--annotated/--unannotated", default=None, help="Only images with / without annotations.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--after", type=int, default=0, help="Start after this image id (keyset paging).")
@command_options()
def images_list(status: Optional[str], cls: Optional[str], search: Optional[str], annotated: Optional[bool],
                limit: int, after: int, ws: Workspace, as_json: bool) -> None:
    """List images, filtered and paged."""
    from rich.table import Table

    from cvops.data.images import ImageFilter

    class_id = ws.classes.get(cls).id if cls else None
    flt = ImageFilter(status=status, class_id=class_id, annotated=annotated, search=search)
    page = ws.images.page(flt, after_id=after, limit=limit)
    if as_json:
        emit({"total": ws.images.count(flt), "images": [r.to_dict() for r in page]})
        return
    table = Table("id", "file", "size", "format", "status", "sha256")
    for r in page:
        table.add_row(str(r.id), r.file_name, f"{r.width}x{r.height}", r.format, r.status, r.sha256[:12])
    out.print(table)
    out.print(f"{len(page)} of {ws.images.count(flt)} matching images")


COMMANDS: tuple[click.Command, ...] = (images,)
