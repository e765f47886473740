"""Class schema semantics: ids, names, colors, order, merge, delete — each one undoable transaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_image

from cvops import ValidationError, Workspace
from cvops.common.errors import NotFoundError
from cvops.data.ingest import import_paths


@pytest.fixture
def labelled(ws: Workspace, tmp_path: Path) -> Workspace:
    for i in range(3):
        make_image(tmp_path / "src" / f"{i}.jpg", (100, 80), seed=i)
    import_paths(ws, [tmp_path / "src"])
    for name in ("cat", "dog", "bird"):
        ws.classes.add(name)
    ids = [r.id for r in ws.images.page()]
    ws.annotations.add_box(ids[0], "cat", (1, 1, 10, 10))
    ws.annotations.add_box(ids[1], "cat", (1, 1, 10, 10))
    ws.annotations.add_box(ids[1], "dog", (5, 5, 10, 10))
    ws.annotations.add_tag(ids[2], "cat")
    ws.annotations.add_tag(ids[2], "dog")
    return ws


def test_names_are_unique_case_insensitive_and_validated(ws: Workspace) -> None:
    ws.classes.add("Cat")
    with pytest.raises(ValidationError, match="already exists"):
        ws.classes.add("cAT ")
    for bad in ("", "   ", "a\nb", "x" * 201):
        with pytest.raises(ValidationError):
            ws.classes.add(bad)
    with pytest.raises(ValidationError, match="#rrggbb"):
        ws.classes.add("dog", color="red")
    assert ws.classes.get("CAT").name == "Cat"
    assert ws.classes.add("Ünïcödé 猫").name == "Ünïcödé 猫"


def test_ids_are_stable_and_never_reused(ws: Workspace) -> None:
    a = ws.classes.add("a")
    b = ws.classes.add("b")
    ws.classes.delete("b")
    c = ws.classes.add("c")
    assert c.id > b.id > a.id
    renamed = ws.classes.rename("a", "alpha")
    assert renamed.id == a.id and ws.classes.get(a.id).name == "alpha"


def test_rename_recolor_reorder(ws: Workspace) -> None:
    for n in ("a", "b", "c"):
        ws.classes.add(n)
    with pytest.raises(ValidationError, match="merge instead"):
        ws.classes.rename("a", "B")
    assert ws.classes.rename("a", "A").name == "A"  # case-only rename of itself is allowed
    assert ws.classes.recolor("b", "#ABCDEF").color == "#abcdef"
    assert [c.name for c in ws.classes.reorder(["c", "A", "b"])] == ["c", "A", "b"]
    with pytest.raises(ValidationError, match="every class exactly once"):
        ws.classes.reorder(["c", "A"])
    ws.log.undo()
    ws.log.undo()
    assert [c.name for c in ws.classes.list()] == ["A", "b", "c"] and ws.classes.get("b").color != "#abcdef"


def test_merge_moves_every_annotation_and_dedupes_tags(labelled: Workspace) -> None:
    ws = labelled
    cat, dog = ws.classes.get("cat"), ws.classes.get("dog")
    moved = ws.classes.merge("dog", "cat")
    assert moved == 1  # the box; dog's tag on image 3 duplicated cat's tag and was removed
    with pytest.raises(NotFoundError):
        ws.classes.get("dog")
    usage = ws.classes.usage()
    assert usage[cat.id] == {"annotations": 4, "images": 3}
    # one undo step restores the class, its id and its annotations
    ws.log.undo()
    assert ws.classes.get("dog").id == dog.id
    assert ws.classes.usage()[dog.id] == {"annotations": 2, "images": 2}
    with pytest.raises(ValidationError):
        ws.classes.merge("cat", "CAT")


def test_delete_is_refused_while_used_unless_reassigned_or_dropped(labelled: Workspace) -> None:
    ws = labelled
    with pytest.raises(ValidationError, match="used by 3 annotations on 3 images"):
        ws.classes.delete("cat")
    assert ws.classes.delete("bird") == {"reassigned": 0, "dropped": 0}
    assert ws.classes.delete("dog", drop=True) == {"reassigned": 0, "dropped": 2}
    assert ws.stats()["annotations"] == 3
    assert ws.classes.delete("cat", reassign_to=ws.classes.add("animal").id) == {"reassigned": 3, "dropped": 0}
    assert ws.classes.usage()[ws.classes.get("animal").id]["annotations"] == 3
    with pytest.raises(ValidationError, match="either"):
        ws.classes.delete("animal", reassign_to="x", drop=True)


def test_a_failed_change_leaves_nothing_behind(labelled: Workspace) -> None:
    ws = labelled
    before = (ws.stats(), len(ws.log.history(1000)))
    with pytest.raises(NotFoundError):
        ws.classes.merge("cat", "no-such-class")
    assert (ws.stats(), len(ws.log.history(1000))) == before
