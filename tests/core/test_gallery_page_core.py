"""Core calls the desktop Images page relies on: bulk tags, annotation counts per image, classes used as tags, and
thumbnails made from a hash and a path without touching the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_image, truncate

from cvops import Workspace
from cvops.common.errors import NotFoundError
from cvops.data.ingest import import_paths


@pytest.fixture
def four(ws: Workspace, tmp_path: Path) -> list[int]:
    for i in range(4):
        make_image(tmp_path / "src" / f"{i}.jpg", (300, 200), seed=i)
    ws.classes.add("car")
    ws.classes.add("night")
    return sorted(import_paths(ws, [tmp_path / "src"]).image_ids)


def test_add_tags_skips_tagged_images_and_undoes_in_one_step(ws: Workspace, four: list[int]) -> None:
    ws.annotations.add_tag(four[0], "night")
    assert ws.annotations.add_tags([four[0], four[1], four[1], four[2]], "night") == 2
    assert ws.annotations.add_tags([four[0]], "night") == 0
    tagged = {i for i in four if any(a.kind == "tag" for a in ws.annotations.for_image(i))}
    assert tagged == set(four[:3])
    ws.log.undo()
    assert [i for i in four if ws.annotations.for_image(i)] == [four[0]]
    with pytest.raises(NotFoundError):
        ws.annotations.add_tags([four[3]], "no-such-class")


def test_annotation_counts_and_tag_classes(ws: Workspace, four: list[int]) -> None:
    assert ws.classes.tag_class_ids() == []
    ws.annotations.add_box(four[1], "car", (1, 1, 5, 5))
    ws.annotations.add_box(four[1], "car", (2, 2, 5, 5))
    ws.annotations.add_tag(four[2], "night")
    assert ws.images.annotation_counts(four) == {four[1]: 2, four[2]: 1}
    assert ws.images.annotation_counts([]) == {}
    assert ws.classes.tag_class_ids() == [ws.classes.get("night").id]


def test_ensure_makes_caches_and_remembers_failures(ws: Workspace, four: list[int], tmp_path: Path) -> None:
    image = ws.images.get(four[0])
    data = ws.thumbnails.ensure(image.sha256, ws.images.path(image))
    assert data is not None and data == ws.thumbnails.cached(image.sha256)
    bad = truncate(make_image(tmp_path / "bad.jpg", (300, 200), seed=9), 0.3)
    assert ws.thumbnails.ensure("f" * 64, bad) is None
    assert ws.thumbnails.error("f" * 64)
    assert ws.thumbnails.ensure("f" * 64, ws.images.path(image)) is None  # a failure is not retried
