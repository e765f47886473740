"""Dataset versions: content hashes, immutability, incremental creation, splits, diff, export and materialization."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import make_image

from cvops import Workspace
from cvops.cli import cli
from cvops.common.errors import NotFoundError
from cvops.versions.export import export_dataset
from cvops.data.ingest import import_paths
from cvops.versions.diff import diff_versions
from cvops.versions.materialize import materialize
from cvops.versions.create import create_version, get_version, list_versions, version_images


def _build(root: Path, n: int = 12) -> Workspace:
    """A workspace with ``n`` distinct images, two classes and a box on every image (class alternating)."""
    src = root / "src"
    for i in range(n):
        make_image(src / f"img{i:03d}.png", size=(40 + i, 30), fmt="PNG", seed=i)
    ws = Workspace.create(root / "ws")
    import_paths(ws, [src], workers=1)
    ws.classes.add("cat")
    ws.classes.add("dog")
    for k, iid in enumerate(ws.images.ids()):
        ws.annotations.add_box(iid, "cat" if k % 2 == 0 else "dog", (1, 2, 10, 12))
    return ws


@pytest.fixture
def vws(tmp_path: Path):
    ws = _build(tmp_path)
    yield ws
    ws.close()


def _from_scratch(ws: Workspace) -> str:
    """The content hash that a full (non-incremental) computation gives, without storing a version."""
    ws.db.execute("SAVEPOINT probe")
    try:
        info = create_version(ws, "probe", incremental=False, grouping=False)
        return info.content_hash
    finally:
        ws.db.execute("ROLLBACK TO probe")
        ws.db.execute("RELEASE probe")


def test_create_is_stable_and_unchanged_content_returns_existing(vws: Workspace) -> None:
    v1 = create_version(vws, "first")
    assert v1.name == "v1" and v1.created and len(v1.content_hash) == 64
    assert sum(v1.stats["images"].values()) == 12
    again = create_version(vws, "again")
    assert not again.created and again.id == v1.id and again.content_hash == v1.content_hash
    assert [v.name for v in list_versions(vws)] == ["v1"]
    assert get_version(vws, "v1") == get_version(vws, v1.id) == get_version(vws, v1.content_hash[:8])
    with pytest.raises(NotFoundError):
        get_version(vws, "v9")


def test_later_edits_never_change_a_version(vws: Workspace) -> None:
    v1 = create_version(vws, "first")
    before = version_images(vws, v1.id)
    ids = list(vws.images.ids())
    ann = vws.annotations.for_image(ids[0])[0]
    vws.annotations.add_box(ids[1], "dog", (5, 5, 5, 5))
    vws.annotations.update(ann.id, box=(3, 3, 8, 8))
    vws.annotations.delete([vws.annotations.for_image(ids[2])[0].id])
    vws.classes.rename("cat", "kitten")
    vws.annotations.trash([ids[3]])
    assert version_images(vws, v1.id) == before
    v2 = create_version(vws, "second")
    assert v2.created and v2.content_hash != v1.content_hash
    assert version_images(vws, v1.id) == before
    assert [c for c in get_version(vws, "v1").stats["annotations"]] == [c for c in v1.stats["annotations"]]


def test_incremental_equals_from_scratch_and_undo_counts(vws: Workspace) -> None:
    create_version(vws, "first")
    ids = list(vws.images.ids())
    ann = vws.annotations.for_image(ids[4])[0]
    vws.annotations.update(ann.id, box=(2, 2, 9, 9))
    vws.annotations.trash([ids[5]])
    expected = _from_scratch(vws)
    v2 = create_version(vws, "inc")
    assert v2.content_hash == expected
    vws.log.undo()  # restores image 5: an undo is a change too
    expected = _from_scratch(vws)
    v3 = create_version(vws, "after undo")
    assert v3.content_hash == expected and v3.created


def test_same_seed_same_split_in_two_workspaces(tmp_path: Path) -> None:
    a, b = _build(tmp_path / "a"), _build(tmp_path / "b")
    try:
        va, vb = create_version(a, "x", seed=7), create_version(b, "x", seed=7)
        splits_a = [(i, s) for i, _, s, _ in version_images(a, va.id)]
        assert splits_a == [(i, s) for i, _, s, _ in version_images(b, vb.id)]
        assert va.content_hash == vb.content_hash
    finally:
        a.close()
        b.close()


def test_new_image_gets_a_split_old_ones_keep_theirs(vws: Workspace, tmp_path: Path) -> None:
    v1 = create_version(vws, "first")
    old = {i: s for i, _, s, _ in version_images(vws, v1.id)}
    make_image(tmp_path / "more" / "new.png", size=(90, 20), fmt="PNG", seed=99)
    import_paths(vws, [tmp_path / "more"], workers=1)
    v2 = create_version(vws, "second", seed=3, ratios="34/33/33")
    new = {i: s for i, _, s, _ in version_images(vws, v2.id)}
    assert len(new) == 13 and {i: new[i] for i in old} == old
    assert set(new) - set(old) and new[max(new)] in ("train", "val", "test")
    assert v2.content_hash == _from_scratch_same_splits(vws, v2.content_hash)


def _from_scratch_same_splits(ws: Workspace, expected: str) -> str:
    """A full recomputation keeps the splits of the latest version, so it must reproduce its hash."""
    ws.db.execute("SAVEPOINT probe")
    try:
        return create_version(ws, "probe", ratios="34/33/33", incremental=False).content_hash
    finally:
        ws.db.execute("ROLLBACK TO probe")
        ws.db.execute("RELEASE probe")


def test_resplit_is_deterministic(tmp_path: Path) -> None:
    a, b = _build(tmp_path / "a", 30), _build(tmp_path / "b", 30)
    try:
        for ws in (a, b):
            create_version(ws, "first", seed=0)
        ra = create_version(a, "resplit", seed=5, resplit=True)
        rb = create_version(b, "resplit", seed=5, resplit=True)
        assert ra.content_hash == rb.content_hash
        moved = diff_versions(a, "v1", ra.name)["images_moved"]
        assert ra.created and moved, "a different seed moves some images"
        assert all(m["from"] != m["to"] for m in moved)
    finally:
        a.close()
        b.close()


def test_hints_honoured_with_use_hints(vws: Workspace) -> None:
    ids = list(vws.images.ids())
    vws.db.conn.executemany("INSERT INTO split_hints (image_id, source, split, recorded_at) VALUES (?, 'yolo:x', ?, 1)",
                       [(i, "test") for i in ids[:6]])
    info = create_version(vws, "hinted", use_hints=True)
    splits = {i: s for i, _, s, _ in version_images(vws, info.id)}
    assert all(splits[i] == "test" for i in ids[:6])


def test_diff_on_crafted_changes(vws: Workspace, tmp_path: Path) -> None:
    create_version(vws, "first")
    ids = list(vws.images.ids())
    anns = {i: vws.annotations.for_image(i)[0] for i in ids}
    added_ann = vws.annotations.add_box(ids[0], "dog", (4, 4, 4, 4))
    vws.annotations.delete([anns[ids[1]].id])
    vws.annotations.update(anns[ids[2]].id, box=(3, 3, 9, 9))
    vws.annotations.update(anns[ids[3]].id, class_id="dog")  # odd indexes are dogs already: no change
    vws.annotations.update(anns[ids[4]].id, class_id="dog")  # even indexes were cats
    vws.classes.rename("cat", "kitten")
    vws.classes.add("bird")
    vws.annotations.trash([ids[5], ids[6]])  # a dog and a cat leave
    make_image(tmp_path / "more" / "n.png", size=(77, 21), fmt="PNG", seed=123)
    import_paths(vws, [tmp_path / "more"], workers=1)
    new_id = max(vws.images.ids())
    new_ann = vws.annotations.add_box(new_id, "kitten", (1, 1, 5, 5))
    new_dog = vws.annotations.add_box(new_id, "dog", (2, 2, 5, 5))
    create_version(vws, "second")
    d = diff_versions(vws, "v1", "v2")
    assert d["images_added"] == [new_id] and d["images_removed"] == [ids[5], ids[6]]
    assert d["images_moved"] == []
    assert {(a["image_id"], a["id"]) for a in d["annotations_added"]} == {(ids[0], added_ann), (new_id, new_ann),
                                                                         (new_id, new_dog)}
    assert [(a["image_id"], a["id"], a["class"]) for a in d["annotations_removed"]] == [
        (ids[1], anns[ids[1]].id, "dog"), (ids[5], anns[ids[5]].id, "dog"), (ids[6], anns[ids[6]].id, "cat")]
    changed = {a["image_id"]: a for a in d["annotations_changed"]}
    assert changed[ids[2]]["changed"] == ["geometry"]
    assert changed[ids[4]]["changed"] == ["class_id"] and changed[ids[4]]["from_class"] == "cat"
    assert ids[3] not in changed
    assert d["classes_added"] == ["bird"] and d["classes_removed"] == []
    assert d["classes_renamed"] == [{"id": anns[ids[0]].class_id, "from": "cat", "to": "kitten"}]
    # by class id, named as in v2: cat/kitten -1 (image 4 to dog) +1 (new image) -1 (image 6 trashed);
    # dog +1 (image 0) -1 (image 1) +1 (image 4) -1 (image 5 trashed) +1 (new image)
    assert d["class_count_deltas"] == {"kitten": -1, "dog": 1}
    totals_a = {k: sum(v.values()) for k, v in get_version(vws, "v1").stats["annotations"].items()}
    totals_b = {k: sum(v.values()) for k, v in get_version(vws, "v2").stats["annotations"].items()}
    assert {k: totals_b[k] - totals_a[k] for k in totals_a} == {str(anns[ids[0]].class_id): -1,
                                                               str(anns[ids[1]].class_id): 1}


def test_export_dataset_version_is_exact_after_edits(vws: Workspace, tmp_path: Path) -> None:
    v1 = create_version(vws, "first")
    ids = list(vws.images.ids())
    vws.annotations.add_box(ids[0], "dog", (5, 5, 5, 5))
    vws.annotations.trash([ids[1]])
    vws.classes.rename("cat", "kitten")
    report = export_dataset(vws, tmp_path / "out", "yolo", version=v1.name)
    assert report.images == 12 and report.annotations == 12
    assert report.splits == v1.stats["images"]
    doc = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert list(doc["names"].values()) == ["cat", "dog"]
    live = export_dataset(vws, tmp_path / "live", "yolo")
    assert live.images == 11 and live.annotations == 12


def test_materialize_hardlinks_and_cache(vws: Workspace) -> None:
    v1 = create_version(vws, "first")
    path = materialize(vws, v1.name)
    assert path.name == "data.yaml" and path.parent.name == v1.content_hash
    doc = yaml.safe_load(path.read_text())
    assert doc["nc"] == 2
    images = [p for p in (path.parent / "images").rglob("*") if p.is_file()]
    assert len(images) == 12 and all(os.stat(p).st_nlink >= 2 for p in images)
    started = time.perf_counter()
    assert materialize(vws, v1.id) == path
    assert time.perf_counter() - started < 0.5


def test_cli_json_contracts(vws: Workspace) -> None:
    runner = CliRunner()
    w = ["-w", str(vws.root)]
    res = runner.invoke(cli, ["version", "create", "-m", "one", "--split", "80/10/10", "--seed", "1",
                              "--filter", "status=new", "--json", *w])
    assert res.exit_code == 0, res.output
    one = json.loads(res.output)
    assert one["created"] is True and one["name"] == "v1" and one["filter"] == {"status": ["new"]}
    res = runner.invoke(cli, ["version", "create", "-m", "again", "--seed", "1", "--filter", "status=new", "--json",
                              *w])
    assert json.loads(res.output)["created"] is False
    vws.annotations.trash([list(vws.images.ids())[0]])
    res = runner.invoke(cli, ["version", "create", "-m", "two", "--json", *w])
    assert json.loads(res.output)["name"] == "v2"
    listed = json.loads(runner.invoke(cli, ["version", "list", "--json", *w]).output)
    assert [v["name"] for v in listed] == ["v1", "v2"]
    shown = json.loads(runner.invoke(cli, ["version", "show", "v1", "--json", *w]).output)
    assert shown["images"] == 12 and set(shown["annotations_per_class"]) == {"cat", "dog"}
    diff = json.loads(runner.invoke(cli, ["version", "diff", "v1", "v2", "--json", *w]).output)
    assert set(diff) >= {"images_added", "images_removed", "images_moved", "annotations_added",
                         "annotations_removed", "annotations_changed", "classes_added", "classes_removed",
                         "classes_renamed", "class_count_deltas"}
    assert len(diff["images_removed"]) == 1 and sum(diff["class_count_deltas"].values()) == -1
    res = runner.invoke(cli, ["version", "materialize", "v2", "--json", *w])
    assert res.exit_code == 0 and Path(json.loads(res.output)["data_yaml"]).is_file()
    for args in (["version", "show", "v7"], ["version", "create", "-m", "x", "--split", "1/2/3/4"]):
        assert runner.invoke(cli, [*args, *w]).exit_code == 2
    assert runner.invoke(cli, ["version", "create", "-m", "x", "--filter", "status=bogus", *w]).exit_code == 2
    for args in (["version", "list"], ["version", "show", "v1"], ["version", "diff", "v1", "v2"],
                 ["version", "create", "-m", "three"]):
        assert runner.invoke(cli, [*args, *w]).exit_code == 0


def test_a_new_near_duplicate_joins_the_split_of_its_original(tmp_path: Path) -> None:
    """Leakage guard: an image added later that is a re-encoded copy of a versioned image gets that image's split."""
    import cv2
    import numpy as np

    from cvops.data.ingest import import_paths
    from cvops.versions.create import create_version, version_images

    ws = Workspace.create(tmp_path / "ws")
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        base = cv2.resize(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), (160, 120), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(src / f"{i}.png"), base)
    import_paths(ws, [src])
    first = {r[0]: r[2] for r in version_images(ws, create_version(ws, "v1", ratios="50/50", seed=3).name)}
    original = next(r.id for r in ws.images.many(sorted(first)) if r.file_name == "5.png")
    copy = tmp_path / "copy.jpg"
    cv2.imwrite(str(copy), cv2.imread(str(src / "5.png")), [cv2.IMWRITE_JPEG_QUALITY, 80])
    new_id = import_paths(ws, [copy]).image_ids[0]
    from cvops.data import splits as splits_mod
    from cvops.versions.create import _follow_existing

    phash = splits_mod.perceptual_hash(copy)
    assert _follow_existing(ws, [new_id], {new_id: phash}, first) == {new_id: first[original]}
    for seed in (3, 4, 5, 6):
        splits = {r[0]: r[2] for r in version_images(ws, create_version(ws, f"v{seed}", ratios="50/50",
                                                                             seed=seed).name)}
        assert splits[new_id] == first[original]
    ws.close()


def test_pending_model_suggestions_stay_out_of_versions_and_exports(vws: Workspace, tmp_path: Path) -> None:
    from cvops.data.annotations import NewAnnotation

    first = vws.images.ids()[0]
    vws.annotations.add_many([NewAnnotation(first, "dog", "box", box=(5, 5, 8, 8), source="model", model_id="m1",
                                            confidence=0.9)])
    info = create_version(vws, "with a pending suggestion")
    boxes = {iid: anns for iid, _, _, anns in version_images(vws, info.id)}
    assert len(boxes[first]) == 1 and boxes[first][0]["class_id"] == vws.classes.get("cat").id
    report = export_dataset(vws, tmp_path / "coco", "coco")
    data = json.loads(next((tmp_path / "coco").rglob("*.json")).read_text())
    assert len(data["annotations"]) == 12 and report.annotations == 12


def test_use_hints_after_an_earlier_version_of_the_same_images_makes_a_new_version(vws: Workspace,
                                                                                    tmp_path: Path) -> None:
    """The split is part of the content: hints recorded after (or ignored by) an earlier version give a new one."""
    first = create_version(vws, "random 80/10/10")
    ids = list(vws.images.ids())
    before = {i: s for i, _, s, _ in version_images(vws, first.id)}
    wanted = {i: ("val" if before[i] == "train" else "train") for i in ids[:4]}
    vws.db.conn.executemany("INSERT INTO split_hints (image_id, source, split, recorded_at) VALUES (?, 'yolo:x', ?, 1)",
                            list(wanted.items()))
    assert create_version(vws, "no hints asked").created is False  # sticky splits without --use-hints
    result = CliRunner().invoke(cli, ["version", "create", "-m", "hinted", "--use-hints", "--json",
                                      "-w", str(vws.root)])
    assert result.exit_code == 0, result.output
    hinted = json.loads(result.output)
    assert hinted["created"] is True and hinted["content_hash"] != first.content_hash
    after = {i: s for i, _, s, _ in version_images(vws, hinted["id"])}
    assert {i: after[i] for i in wanted} == wanted
    assert {i: after[i] for i in ids[4:]} == {i: before[i] for i in ids[4:]}
    assert create_version(vws, "again", use_hints=True).created is False
    assert create_version(vws, "from scratch", use_hints=True, incremental=False).content_hash == hinted["content_hash"]


def test_a_version_of_no_images_exits_1_saying_why(vws: Workspace, tmp_path: Path) -> None:
    from cvops.versions.create import EmptyVersionError

    with pytest.raises(EmptyVersionError, match="no image has status approved or done.*holds 12 new"):
        create_version(vws, "empty", statuses=("done", "approved"))
    result = CliRunner().invoke(cli, ["version", "create", "-m", "x", "--filter", "status=done", "-w", str(vws.root)])
    assert result.exit_code == 1 and "no image has status done" in result.output and list_versions(vws) == []
    as_json = CliRunner().invoke(cli, ["version", "create", "-m", "x", "--filter", "status=done", "--json",
                                       "-w", str(vws.root)])
    assert as_json.exit_code == 1 and json.loads(as_json.output)["error"]["code"] == "empty_version"
    empty = Workspace.create(tmp_path / "empty")
    with pytest.raises(EmptyVersionError, match="no images in the workspace"):
        create_version(empty, "nothing")
    empty.close()
