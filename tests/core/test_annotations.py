"""The annotation edit API: kinds, validation, review state, undo/redo across reopen, audit trail."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from helpers import make_image

from cvops import ValidationError, Workspace
from cvops.data.annotations import AnnotationEdit, NewAnnotation, clip_box, clip_polygon
from cvops.common.errors import NotFoundError
from cvops.data.ingest import import_paths


@pytest.fixture
def image_id(ws: Workspace, tmp_path: Path) -> int:
    make_image(tmp_path / "a.jpg", (100, 50))
    make_image(tmp_path / "b.jpg", (100, 50), seed=1)
    import_paths(ws, [tmp_path / "a.jpg", tmp_path / "b.jpg"])
    ws.classes.add("car")
    ws.classes.add("person")
    return ws.images.page()[0].id


def test_box_polygon_and_tag(ws: Workspace, image_id: int) -> None:
    box = ws.annotations.add_box(image_id, "car", (10, 5, 20.5, 10))
    poly = ws.annotations.add_polygon(image_id, "person", [(1, 1), (30, 1), (15, 20)], source="model",
                                      model_id="m1", confidence=0.75)
    tag = ws.annotations.add_tag(image_id, "car")
    anns = {a.id: a for a in ws.annotations.for_image(image_id)}
    assert anns[box].box == (10, 5, 20.5, 10) and anns[box].source == "manual"
    assert anns[poly].points == [[1, 1], [30, 1], [15, 20]]
    assert (anns[poly].source, anns[poly].model_id, anns[poly].confidence) == ("model", "m1", 0.75)
    assert anns[tag].kind == "tag" and anns[tag].box is None
    with pytest.raises(ValidationError, match="already has tag"):
        ws.annotations.add_tag(image_id, "CAR")


def test_geometry_is_clipped_or_rejected_with_a_reason() -> None:
    assert clip_box((-5, -5, 20, 20), 100, 50) == (0, 0, 15, 15)
    assert clip_box((90, 40, 20, 20), 100, 50) == (90, 40, 10, 10)
    cases = [((0, 0, -1, 5), "negative size"), ((0, 0, 0, 5), "zero area"), ((200, 0, 5, 5), "outside"),
             ((math.nan, 0, 5, 5), "finite"), ((0, 0, math.inf, 5), "finite"), ((1, 2, 3), "4 values")]
    for box, reason in cases:
        with pytest.raises(ValidationError, match=reason):
            clip_box(box, 100, 50)
    with pytest.raises(ValidationError, match="beyond"):
        clip_box((90, 40, 20, 20), 100, 50, clip=False)
    assert clip_polygon([(-10, -10), (50, 0), (50, 80)], 100, 50) == [[0, 0], [50, 0], [50, 50]]
    with pytest.raises(ValidationError, match="at least 3 points"):
        clip_polygon([(0, 0), (1, 1)], 100, 50)
    with pytest.raises(ValidationError, match="zero area"):
        clip_polygon([(0, 0), (10, 10), (20, 20)], 100, 50)
    with pytest.raises(ValidationError, match="finite"):
        clip_polygon([(0, 0), (10, math.nan), (20, 0)], 100, 50)


def test_invalid_items_reject_the_whole_batch(ws: Workspace, image_id: int) -> None:
    items = [NewAnnotation(image_id, "car", box=(1, 1, 5, 5)), NewAnnotation(image_id, "car", box=(1, 1, -5, 5))]
    with pytest.raises(ValidationError, match="annotation 1 on image"):
        ws.annotations.add_many(items)
    assert ws.annotations.for_image(image_id) == []
    ops_before = len(ws.log.history())
    with pytest.raises(NotFoundError):
        ws.annotations.add_box(image_id, "truck", (1, 1, 5, 5))
    with pytest.raises(NotFoundError):
        ws.annotations.add_box(99999, "car", (1, 1, 5, 5))
    with pytest.raises(ValidationError, match="confidence"):
        ws.annotations.add_box(image_id, "car", (1, 1, 5, 5), confidence=1.5)
    assert ws.annotations.for_image(image_id) == [] and len(ws.log.history()) == ops_before


def test_update_and_delete(ws: Workspace, image_id: int) -> None:
    aid = ws.annotations.add_box(image_id, "car", (10, 10, 10, 10))
    moved = ws.annotations.update(aid, box=(20, 20, 500, 5), class_id="person")
    assert moved.box == (20, 20, 80, 5) and moved.class_id == ws.classes.get("person").id
    with pytest.raises(ValidationError, match="not a polygon"):
        ws.annotations.update(aid, points=[(0, 0), (1, 0), (1, 1)])
    assert ws.annotations.delete([aid]) == 1
    with pytest.raises(NotFoundError):
        ws.annotations.delete([aid])


def test_undo_redo_are_unlimited_and_survive_reopen(ws: Workspace, image_id: int) -> None:
    ids = [ws.annotations.add_box(image_id, "car", (i, i, 5, 5)) for i in range(40)]
    ws.annotations.update(ids[0], box=(30, 30, 5, 5))
    ws.annotations.delete(ids[5:10])
    ws.annotations.set_status([image_id], "done")
    ws.annotations.set_comment(image_id, "check the mirror")
    snapshot = sorted((a.id, a.box) for a in ws.annotations.for_image(image_id))
    root = ws.root
    ws.close()

    ws2 = Workspace.open(root)
    with ws2:
        steps = 0
        while ws2.log.undo():
            steps += 1
        assert steps == 2 + 40 + 4  # 2 class adds, 40 boxes, update, delete, status, comment
        assert ws2.annotations.for_image(image_id) == [] and ws2.classes.list() == []
        assert ws2.images.get(image_id).status == "new"
    with Workspace.open(root) as ws3:
        while ws3.log.redo():
            pass
        assert sorted((a.id, a.box) for a in ws3.annotations.for_image(image_id)) == snapshot
        img = ws3.images.get(image_id)
        assert (img.status, img.comment) == ("done", "check the mirror")


def test_new_edit_after_undo_discards_the_redo_tail(ws: Workspace, image_id: int) -> None:
    a = ws.annotations.add_box(image_id, "car", (1, 1, 5, 5))
    ws.annotations.add_box(image_id, "car", (2, 2, 5, 5))
    ws.log.undo()
    assert ws.log.can_redo()
    ws.annotations.add_box(image_id, "person", (3, 3, 5, 5))
    assert not ws.log.can_redo() and ws.log.redo() is None
    assert [x.id for x in ws.annotations.for_image(image_id)][0] == a
    states = [op.state for op in ws.log.history()]
    assert "discarded" in states


def test_audit_trail_records_do_undo_redo(ws: Workspace, image_id: int) -> None:
    ws.annotations.add_box(image_id, "car", (1, 1, 5, 5))
    ws.log.undo()
    ws.log.redo()
    events = [(e.event, e.description) for e in ws.log.audit(3)]
    assert events == [("redo", f"added a box on image {image_id}"), ("undo", f"added a box on image {image_id}"),
                      ("do", f"added a box on image {image_id}")]
    assert all(e.at > 0 for e in ws.log.audit())


def test_status_values_are_validated(ws: Workspace, image_id: int) -> None:
    with pytest.raises(ValidationError, match="unknown status"):
        ws.annotations.set_status([image_id], "finished")
    assert ws.annotations.set_status([image_id], "approved") == 1
    assert ws.annotations.set_status([image_id], "approved") == 0
    assert ws.stats()["by_status"]["approved"] == 1


def test_deleting_an_image_row_cascades_to_annotations(ws: Workspace, image_id: int) -> None:
    ws.annotations.add_box(image_id, "car", (1, 1, 5, 5))
    ws.db.execute("DELETE FROM images WHERE id = ?", [image_id])
    assert ws.annotations.for_image(image_id) == []


def test_update_many_is_one_undo_step(ws: Workspace, image_id: int) -> None:
    box = ws.annotations.add_box(image_id, "car", (10, 5, 20, 10))
    poly = ws.annotations.add_polygon(image_id, "car", [(1, 1), (30, 1), (15, 20)])
    changed = ws.annotations.update_many([AnnotationEdit(box, box=(20, 5, 20, 10), class_id="person"),
                                          AnnotationEdit(poly, points=[(2, 2), (31, 2), (16, 21)]),
                                          AnnotationEdit(poly, class_id="car")], description="move 2")
    assert changed == 2
    assert ws.annotations.get(box).box == (20, 5, 20, 10)
    assert ws.annotations.get(poly).points == [[2, 2], [31, 2], [16, 21]]
    assert ws.log.history(1)[0].description == "move 2"
    ws.log.undo()
    assert ws.annotations.get(box).box == (10, 5, 20, 10)
    assert ws.annotations.get(poly).points == [[1, 1], [30, 1], [15, 20]]
    with pytest.raises(ValidationError, match="not a polygon"):
        ws.annotations.update_many([AnnotationEdit(poly, points=[(0, 0), (9, 0), (9, 9)]),
                                    AnnotationEdit(box, points=[(0, 0), (9, 0), (9, 9)])])
    assert ws.annotations.get(poly).points == [[1, 1], [30, 1], [15, 20]]
    assert ws.annotations.update_many([]) == 0
