"""Migration 12: the partial indexes over the images outside the trash, which the counts by status and the
gallery's id list read instead of the whole table."""

from __future__ import annotations

from pathlib import Path

from helpers import make_image

from cvops import Workspace, catalog
from cvops.images import ImageFilter
from cvops.ingest import import_paths


def plan(ws: Workspace, sql: str) -> str:
    """SQLite's query plan of ``sql``, one line per step."""
    return "\n".join(row[3] for row in ws.db.execute(f"EXPLAIN QUERY PLAN {sql}"))


def test_counts_and_ids_read_the_live_indexes_and_stay_right(ws: Workspace, tmp_path: Path) -> None:
    for i in range(6):
        make_image(tmp_path / "src" / f"{i}.jpg", seed=i)
    ids = sorted(import_paths(ws, [tmp_path / "src"]).image_ids)
    counts = "SELECT status, COUNT(*) FROM images WHERE trashed_at IS NULL GROUP BY status"
    assert "COVERING INDEX idx_images_live_status" in plan(ws, counts)
    assert "COVERING INDEX idx_images_live_id" in plan(ws, "SELECT id FROM images WHERE trashed_at IS NULL ORDER BY id")

    ws.annotations.set_status(ids[:3], "done")
    ws.annotations.trash([ids[0], ids[4]])
    assert ws.images.counts_by_status() == {"new": 2, "in_progress": 0, "done": 2, "needs_review": 0,
                                             "approved": 0, "rejected": 0}
    assert list(ws.images.ids()) == [ids[1], ids[2], ids[3], ids[5]]
    assert list(ws.images.ids(ImageFilter(status="done"))) == [ids[1], ids[2]]
    ws.annotations.restore([ids[0]])
    assert ws.images.counts_by_status()["done"] == 3
    assert list(ws.images.ids(order="-id")) == [ids[5], ids[3], ids[2], ids[1], ids[0]]


def test_migration_12_adds_the_indexes_to_an_older_catalog(tmp_path: Path) -> None:
    root = tmp_path / "w"
    for sub in ("store", "tmp", "backups"):
        (root / sub).mkdir(parents=True)
    db = catalog.connect(root / "cvops.db")
    catalog.migrate(db, target=9)
    db.conn.close()
    with Workspace.open(root) as ws:
        names = {r[0] for r in ws.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"idx_images_live_status", "idx_images_live_id"} <= names
        catalog._m12_live_image_indexes(ws.db)  # idempotent: another order of migrations may have made them
