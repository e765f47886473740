"""The operation log's descriptions read like a person wrote them (the GUI's and the CLI's undo and redo messages
show them): past tense, counts with thousands separators and the right plural, statuses as words."""

from __future__ import annotations

from helpers import make_image

from cvops.common.text import counted, status_words
from cvops.data.ingest import import_paths
from cvops.data.workspace import Workspace


def test_counted_and_status_words() -> None:
    assert counted(1, "image") == "1 image"
    assert counted(0, "image") == "0 images"
    assert counted(10_000, "image") == "10,000 images"
    assert counted(2, "box", "boxes") == "2 boxes"
    assert status_words("needs_review") == "needs review"


def test_bulk_operations_are_described_in_words(ws: Workspace, tmp_path) -> None:  # noqa: ANN001
    paths = [make_image(tmp_path / f"im{i}.jpg", (32, 24), seed=i) for i in range(3)]
    import_paths(ws, paths)
    ids = list(ws.images.ids())
    ws.classes.add("car")

    def last() -> str:
        return ws.log.history(1)[0].description

    ws.annotations.set_status(ids, "needs_review")
    assert last() == "marked 3 images as needs review"
    boxes = [ws.annotations.add_box(i, "car", (1, 1, 5, 5)) for i in ids]
    assert last() == f"added a box on image {ids[-1]}"
    ws.annotations.delete(boxes)
    assert last() == "deleted 3 annotations"
    ws.annotations.trash(ids[:1])
    assert last() == "moved 1 image to the trash"
    ws.annotations.restore(ids[:1])
    assert last() == "restored 1 image from the trash"
    op = ws.log.undo()
    assert op is not None and op.description == "restored 1 image from the trash"
    assert ws.log.row_ids(op.id, "images") == ids[:1]
    ws.log.undo()
    delete = ws.log.undo()
    assert delete is not None and ws.log.row_ids(delete.id, "annotations") == boxes
