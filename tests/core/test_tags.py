"""The image tag vocabulary (migration 18): a catalog from before it keeps its tag annotations, names are validated,
tagging many images is one undo step, filters by tag (any, all, untagged), no class, export or version sees tags;
the ``cvops tags`` / ``cvops images tag`` commands with ``--json``; ``cvops stats`` counts suggestions apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import make_image

from cvops import Workspace
from cvops.catalog import db as catalog, migrations
from cvops.cli import cli
from cvops.common.errors import NotFoundError, ValidationError
from cvops.data.images import ImageFilter
from cvops.data.ingest import import_paths
from cvops.data.tags import MAX_TAG_NAME
from cvops.versions.create import create_version


def _images(ws: Workspace, folder: Path, count: int) -> list[int]:
    for i in range(count):
        make_image(folder / f"{i}.jpg", (64, 48), seed=i)
    return sorted(import_paths(ws, [folder]).image_ids)


@pytest.fixture
def five(ws: Workspace, tmp_path: Path) -> list[int]:
    ws.classes.add("car")
    return _images(ws, tmp_path / "src", 5)


def ids(ws: Workspace, **flt: object) -> list[int]:
    return list(ws.images.ids(ImageFilter(**flt)))  # type: ignore[arg-type]


def test_a_catalog_from_before_migration_18_keeps_its_tag_annotations(tmp_path: Path) -> None:
    root = tmp_path / "w"
    for sub in ("store", "tmp", "backups"):
        (root / sub).mkdir(parents=True)
    db = catalog.connect(root / "cvops.db")
    migrations.migrate(db, target=17)
    old = Workspace(root, db)
    images = _images(old, tmp_path / "src", 3)
    old.classes.add("car")
    old.classes.add("night")
    old.annotations.add_tags(images[:2], "night")  # what the Images page's "Add tag" did before the vocabulary
    old.annotations.add_box(images[0], "car", (1, 1, 10, 10))
    old.annotations.add_tag(images[2], "car")
    rows = db.execute("SELECT * FROM annotations ORDER BY id").fetchall()
    old.close()

    ws = Workspace.open(root)
    try:
        assert ws.migrated_from == 17 and migrations.schema_version(ws.db) >= 18
        assert len(list((root / "backups").glob("cvops-schema17-*.db"))) == 1
        assert ws.db.execute("SELECT * FROM annotations ORDER BY id").fetchall() == rows  # nothing moved or lost
        assert ws.tags.list() == [] and [c.name for c in ws.classes.list()] == ["car", "night"]
        assert ids(ws, tag_class_id=ws.classes.get("night").id) == images[:2]
        with pytest.raises(ValidationError, match="used by 1 boxes or polygons"):
            ws.tags.from_class("car")  # a class with drawn shapes stays a class
        tag, count = ws.tags.from_class("night")  # on request: the class becomes a tag, one undo step
        assert (tag.name, count) == ("night", 2) and ws.classes.find("night") is None
        assert ids(ws, tag_ids=(tag.id,)) == images[:2] and ws.stats()["by_kind"]["tag"] == 1
        ws.log.undo()
        assert ws.db.execute("SELECT * FROM annotations ORDER BY id").fetchall() == rows and ws.tags.list() == []
        assert ws.classes.get("night").id == 2
        ws.log.redo()
        assert ids(ws, tag_ids=(ws.tags.get("night").id,)) == images[:2]
    finally:
        ws.close()


@pytest.mark.parametrize("name, problem", [
    ("", "empty"), ("   ", "empty"), ("x" * (MAX_TAG_NAME + 1), "longer than"), ("a\tb", "control character"),
    ("line\nbreak", "control character"), ("zero\u200bwidth", "control character"), (7, "must be text"),
])
def test_bad_tag_names_are_refused_with_a_reason(ws: Workspace, name: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ws.tags.create(name)  # type: ignore[arg-type]
    assert ws.tags.list() == [] and ws.log.history() == []


def test_vocabulary_changes_are_undoable(ws: Workspace, five: list[int]) -> None:
    night = ws.tags.create("  night ")
    assert night.name == "night" and night.color is None
    with pytest.raises(ValidationError, match="already exists"):
        ws.tags.create("NIGHT")
    blurry = ws.tags.create("blurry", color="#FF0000")
    assert blurry.color == "#ff0000" and [t.name for t in ws.tags.list()] == ["night", "blurry"]
    with pytest.raises(ValidationError, match="#rrggbb"):
        ws.tags.recolor("blurry", "red")
    assert ws.tags.recolor("blurry", None).color is None
    with pytest.raises(ValidationError, match="merge instead"):
        ws.tags.rename("blurry", "Night")
    assert ws.tags.rename("night", "Night").name == "Night" and ws.tags.get(night.id).name == "Night"
    ws.log.undo()
    assert ws.tags.get(night.id).name == "night"
    with pytest.raises(NotFoundError, match="no tag 'dusk'"):
        ws.tags.get("dusk")

    ws.tags.tag(five[:3], "night")
    ws.tags.tag(five[2:4], "blurry")
    assert ws.tags.merge("blurry", "night") == 1  # five[3] gains night; five[2] had it
    assert ws.tags.find("blurry") is None and ids(ws, tag_ids=(night.id,)) == five[:4]
    ws.log.undo()
    assert ids(ws, tag_ids=(ws.tags.get("blurry").id,)) == five[2:4] and ids(ws, tag_ids=(night.id,)) == five[:3]
    assert ws.tags.delete("night") == 3 and ws.tags.find("night") is None and ids(ws, untagged=False) == five[2:4]
    ws.log.undo()
    assert ids(ws, tag_ids=(night.id,)) == five[:3]  # the tag and its links come back in one step
    with pytest.raises(ValidationError, match="into itself"):
        ws.tags.merge("night", "NIGHT")


def test_tagging_many_images_is_one_undo_step_and_never_a_class(ws: Workspace, five: list[int]) -> None:
    classes = ws.classes.list()
    assert ws.tags.tag([five[0], five[1], five[1]], "night", create=True) == 2
    assert ws.tags.tag(five, "night") == 3 and ws.log.history(1)[0].description == "tagged 3 images with 'night'"
    assert ws.tags.tag(five, "night") == 0
    assert ws.classes.list() == classes and ws.stats()["annotations"] == 0
    ws.log.undo()
    assert ids(ws, untagged=False) == five[:2]
    ws.log.redo()
    assert ids(ws, untagged=True) == []
    before = len(ws.log.history(100))
    with pytest.raises(NotFoundError, match="no image 999"):
        ws.tags.tag([five[0], 999], "night")
    with pytest.raises(NotFoundError, match="no tag"):
        ws.tags.tag(five, "dusk")  # without create
    assert len(ws.log.history(100)) == before
    assert ws.tags.untag(five[1:3] + five[1:3], "night") == 2 and ws.tags.untag(five[1:3], "night") == 0
    assert [t.name for t in ws.tags.of_image(five[0])] == ["night"] and ws.tags.of_image(five[1]) == []
    ws.log.undo()
    assert ids(ws, untagged=True) == []


def test_filters_by_tag_any_all_untagged(ws: Workspace, five: list[int]) -> None:
    ws.tags.tag(five[:3], "night", create=True)
    ws.tags.tag(five[2:4], "blurry", create=True)
    night, blurry = ws.tags.ids(["night", "BLURRY"])
    assert ids(ws, tag_ids=(night, blurry)) == five[:4]
    assert ids(ws, tag_ids=(night, blurry, night), tag_match="all") == [five[2]]
    assert ids(ws, untagged=True) == [five[4]] and ids(ws, untagged=False) == five[:4]
    ws.annotations.set_status([five[0]], "done")
    assert ids(ws, tag_ids=(night,), status="done") == [five[0]]
    with pytest.raises(ValidationError, match="any or all"):
        ids(ws, tag_ids=(night,), tag_match="most")
    ws.annotations.trash([five[1]])
    assert ws.tags.counts() == {night: 2, blurry: 2} and ws.stats()["tagged_images"] == 3
    assert ids(ws, tag_ids=(night,)) == [five[0], five[2]]
    ws.annotations.empty_trash()  # deleting an image for good takes its tags with it
    assert ws.db.execute("SELECT COUNT(*) FROM image_tags WHERE image_id = ?", [five[1]]).fetchone()[0] == 0
    assert ws.tags.counts() == {night: 2, blurry: 2}


def test_versions_and_exports_do_not_see_tags(ws: Workspace, five: list[int], tmp_path: Path) -> None:
    from cvops.versions.export import export_dataset

    ws.annotations.add_box(five[0], "car", (1, 1, 10, 10))
    first = create_version(ws, "before tags")
    ws.tags.tag(five, "night", create=True)
    again = create_version(ws, "after tags")
    assert (again.created, again.content_hash) == (False, first.content_hash)
    export_dataset(ws, tmp_path / "coco", "coco")
    doc = json.loads(next((tmp_path / "coco").rglob("*.json")).read_text())
    assert [c["name"] for c in doc["categories"]] == ["car"] and len(doc["annotations"]) == 1


def test_stats_count_manual_annotations_and_report_suggestions_apart(ws: Workspace, five: list[int]) -> None:
    ws.annotations.add_box(five[0], "car", (1, 1, 10, 10))
    ws.annotations.add_box(five[1], "car", (1, 1, 10, 10), source="model", model_id="m1", confidence=0.5)
    ws.annotations.add_box(five[1], "car", (5, 5, 10, 10), source="model", model_id="m1", confidence=0.7)
    stats = ws.stats()
    assert (stats["annotations"], stats["by_kind"]["box"], stats["annotated_images"]) == (1, 1, 1)
    assert (stats["suggestions"], stats["suggestions_by_kind"]["box"], stats["images_with_suggestions"]) == (2, 2, 1)
    result = CliRunner().invoke(cli, ["stats", "-w", str(ws.root)], catch_exceptions=False)
    assert "annotations 1 " in result.output and "suggestions pending: 2 on 1 images" in result.output
    ws.annotations.accept_suggestions([a.id for a in ws.annotations.for_image(five[1])])
    stats = ws.stats()
    assert (stats["annotations"], stats["suggestions"], stats["annotated_images"]) == (3, 0, 2)


def run(*args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return json.loads(result.output)


def test_cli_tags_and_image_tagging_with_json(ws: Workspace, five: list[int]) -> None:
    w = ["-w", str(ws.root)]
    assert [t["name"] for t in run("tags", "add", "night", "blurry", *w)["added"]] == ["night", "blurry"]
    assert run("tags", "add", "Night", *w, code=2)["error"]["code"] == "validation"
    assert run("tags", "add", " ", *w, code=2)["error"]["message"] == "tag name is empty"
    assert run("images", "tag", *map(str, five[:3]), "--tag", "night", *w) == {"tag": "night", "tagged": 3,
                                                                                "images": 3}
    assert run("images", "tag", str(five[3]), "--tag", "dusk", "--create", *w)["tagged"] == 1
    assert run("images", "tag", str(five[3]), "--tag", "dawn", *w, code=2)["error"]["code"] == "not_found"
    assert run("images", "untag", str(five[0]), str(five[4]), "--tag", "NIGHT", *w)["untagged"] == 1
    listed = run("tags", "list", *w)
    assert [(t["name"], t["images"]) for t in listed] == [("night", 2), ("blurry", 0), ("dusk", 1)]
    assert run("images", "list", "--tag", "night", "--tag", "dusk", *w)["total"] == 3
    assert run("images", "list", "--tag", "night", "--tag", "dusk", "--match", "all", *w)["total"] == 0
    assert [i["id"] for i in run("images", "list", "--untagged", *w)["images"]] == [five[0], five[4]]
    assert [i["tags"] for i in run("images", "list", "--limit", "4", *w)["images"]] == [[], ["night"], ["night"],
                                                                                      ["dusk"]]
    assert run("tags", "rename", "blurry", "soft", *w)["tag"]["name"] == "soft"
    assert run("tags", "recolor", "soft", "#00FF00", *w)["tag"]["color"] == "#00ff00"
    assert run("tags", "merge", "dusk", "night", *w) == {"merged": "dusk", "into": "night", "images": 1}
    assert run("tags", "delete", "soft", *w) == {"deleted": "soft", "images": 0}
    assert run("stats", *w)["tags"] == 1 and run("stats", *w)["tagged_images"] == 3
    ws.annotations.add_tag(five[0], "car")
    ws.classes.add("cloudy")
    ws.annotations.add_tag(five[4], "cloudy")
    assert run("tags", "from-class", "car", *w)["images"] == 1
    assert run("tags", "from-class", "cloudy", *w)["tag"]["name"] == "cloudy"
    assert [c.name for c in ws.classes.list()] == [] and run("stats", *w)["tagged_images"] == 5
