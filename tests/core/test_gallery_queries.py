"""Queries and edits the desktop gallery and annotator rely on: id lists in an order, tag filters, trash with undo,
paste of shapes between images."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_image

from cvops import ValidationError, Workspace
from cvops.data.images import ImageFilter
from cvops.data.ingest import import_paths
from cvops.catalog.maintenance import gc


@pytest.fixture
def five(ws: Workspace, tmp_path: Path) -> list[int]:
    for i, name in enumerate(["c.jpg", "A.jpg", "e.jpg", "b.jpg", "d.jpg"]):
        make_image(tmp_path / "src" / name, (100 - i * 10, 50), seed=i)
    report = import_paths(ws, [tmp_path / "src"])
    ws.classes.add("car")
    ws.classes.add("night")
    return sorted(report.image_ids)


def test_ids_in_every_order_and_many_keeps_order(ws: Workspace, five: list[int]) -> None:
    assert list(ws.images.ids()) == five
    assert list(ws.images.ids(order="-id")) == five[::-1]
    names = [r.file_name for r in ws.images.many(ws.images.ids(order="file_name"))]
    assert names == ["A.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert [r.id for r in ws.images.many([five[3], 999, five[0]])] == [five[3], five[0]]
    with pytest.raises(ValidationError, match="unknown order"):
        ws.images.ids(order="size")


def test_tag_filter_differs_from_class_filter(ws: Workspace, five: list[int]) -> None:
    night = ws.classes.get("night").id
    ws.annotations.add_tag(five[0], "night")
    ws.annotations.add_box(five[1], "night", (1, 1, 5, 5))
    assert list(ws.images.ids(ImageFilter(tag_class_id=night))) == [five[0]]
    assert list(ws.images.ids(ImageFilter(class_id=night))) == five[:2]


def test_trash_hides_images_and_undo_restores(ws: Workspace, five: list[int]) -> None:
    ws.annotations.add_box(five[0], "car", (1, 1, 5, 5))
    assert ws.annotations.trash(five[:2]) == 2
    assert list(ws.images.ids()) == five[2:]
    assert list(ws.images.ids(ImageFilter(trashed=True))) == five[:2]
    stats = ws.stats()
    assert (stats["images"], stats["trashed"], stats["annotations"]) == (3, 2, 0)
    ws.log.undo()
    assert list(ws.images.ids()) == five and ws.stats()["annotations"] == 1
    ws.log.redo()
    assert ws.annotations.restore([five[1]]) == 1
    assert list(ws.images.ids()) == five[1:]


def test_empty_trash_deletes_for_good_and_gc_frees_blobs(ws: Workspace, five: list[int]) -> None:
    ws.annotations.trash([five[0]])
    assert gc(ws).orphan_blobs == 0, "trashed images keep their blobs"
    assert ws.annotations.empty_trash() == 1
    assert not ws.log.can_undo()
    assert ws.images.count(ImageFilter(trashed=None)) == 4
    assert gc(ws).orphan_blobs == 1


def test_paste_clips_to_the_target_and_skips_repeated_tags(ws: Workspace, five: list[int]) -> None:
    by_name = {r.file_name: r for r in ws.images.many(five)}
    big, small = by_name["c.jpg"].id, by_name["d.jpg"].id  # 100x50 and 60x50
    ws.annotations.add_box(big, "car", (50, 10, 40, 20))
    ws.annotations.add_box(big, "car", (80, 10, 10, 10))  # lies outside the smaller image
    ws.annotations.add_tag(big, "night")
    ws.annotations.add_tag(small, "night")
    ids = ws.annotations.paste(small, ws.annotations.for_image(big))
    assert len(ids) == 1
    assert ws.annotations.get(ids[0]).box == (50, 10, 10, 20)
    ws.log.undo()
    assert len(ws.annotations.for_image(small)) == 1
