"""Migration 12: counts per status kept by triggers, and partial indexes over the images outside the trash, which
the gallery's id lists read instead of the whole table."""

from __future__ import annotations

from pathlib import Path

from helpers import make_image

from cvops import Workspace

from cvops.catalog import db as catalog, migrations
from cvops.catalog.statuses import STATUSES
from cvops.data.images import ImageFilter
from cvops.data.ingest import import_paths


def plan(ws: Workspace, sql: str) -> str:
    """SQLite's query plan of ``sql``, one line per step."""
    return "\n".join(row[3] for row in ws.db.execute(f"EXPLAIN QUERY PLAN {sql}"))


def counted(ws: Workspace) -> dict[str, int]:
    """Images per status counted from the rows themselves."""
    out = {s: 0 for s in STATUSES}
    out.update(ws.db.execute("SELECT status, COUNT(*) FROM images WHERE trashed_at IS NULL GROUP BY status"))
    return out


def test_counts_and_ids_read_the_live_indexes_and_stay_right(ws: Workspace, tmp_path: Path) -> None:
    for i in range(6):
        make_image(tmp_path / "src" / f"{i}.jpg", seed=i)
    ids = sorted(import_paths(ws, [tmp_path / "src"]).image_ids)
    assert migrations.status_counts_maintained(ws.db)
    counts = "SELECT status, COUNT(*) FROM images WHERE trashed_at IS NULL GROUP BY status"
    assert "COVERING INDEX idx_images_live_status" in plan(ws, counts)
    assert "COVERING INDEX idx_images_live_id" in plan(ws, "SELECT id FROM images WHERE trashed_at IS NULL ORDER BY id")
    assert "COVERING INDEX idx_images_live_status" in plan(
        ws, "SELECT id FROM images WHERE id > 0 AND status = 'done' AND trashed_at IS NULL ORDER BY id LIMIT 200")

    ws.annotations.set_status(ids[:3], "done")
    ws.annotations.trash([ids[0], ids[4]])
    assert ws.images.counts_by_status() == {"new": 2, "in_progress": 0, "done": 2, "needs_review": 0,
                                             "approved": 0, "rejected": 0}
    assert list(ws.images.ids()) == [ids[1], ids[2], ids[3], ids[5]]
    assert list(ws.images.ids(ImageFilter(status="done"))) == [ids[1], ids[2]]
    ws.annotations.restore([ids[0]])
    assert ws.images.counts_by_status()["done"] == 3
    assert list(ws.images.ids(order="-id")) == [ids[5], ids[3], ids[2], ids[1], ids[0]]


def test_the_kept_counts_follow_every_kind_of_change(ws: Workspace, tmp_path: Path) -> None:
    for i in range(8):
        make_image(tmp_path / "src" / f"{i}.jpg", seed=i)
    ids = sorted(import_paths(ws, [tmp_path / "src"]).image_ids)
    steps = [
        lambda: ws.annotations.set_status(ids[:4], "approved"),
        lambda: ws.annotations.trash(ids[2:6]),  # approved and new ones
        lambda: ws.annotations.set_status(ids[2:4], "rejected"),  # in the trash: not counted either way
        lambda: ws.log.undo(),
        lambda: ws.log.undo(),
        lambda: ws.log.redo(),
        lambda: ws.annotations.restore([ids[2]]),
        lambda: ws.annotations.empty_trash(),
        lambda: ws.db.execute("UPDATE images SET status = status, trashed_at = NULL WHERE id = ?", [ids[0]]),
    ]
    for step in steps:
        step()
        assert ws.images.counts_by_status() == counted(ws)
    assert sum(ws.images.counts_by_status().values()) == ws.images.count() == 5
    assert ws.stats()["by_status"] == counted(ws)


def test_counts_are_counted_when_a_rebuilt_table_lost_the_triggers(ws: Workspace, tmp_path: Path) -> None:
    for i in range(3):
        make_image(tmp_path / "src" / f"{i}.jpg", seed=i)
    ids = sorted(import_paths(ws, [tmp_path / "src"]).image_ids)
    ws.db.execute("DROP TRIGGER trg_images_counts_update")  # as a later migration that rebuilds `images` would
    ws.annotations.set_status(ids[:2], "done")
    assert not migrations.status_counts_maintained(ws.db)
    assert ws.images.counts_by_status()["done"] == 2 and ws.images.counts_by_status() == counted(ws)


def test_migration_12_adds_the_indexes_to_an_older_catalog(tmp_path: Path) -> None:
    root = tmp_path / "w"
    for sub in ("store", "tmp", "backups"):
        (root / sub).mkdir(parents=True)
    db = catalog.connect(root / "cvops.db")
    migrations.migrate(db, target=9)
    db.execute("INSERT INTO images (sha256, file_name, original_path, format, width, height, byte_size, status, "
               "created_at, updated_at) VALUES ('a', 'a.jpg', '/a.jpg', 'JPEG', 1, 1, 1, 'done', 0, 0), "
               "('b', 'b.jpg', '/b.jpg', 'JPEG', 1, 1, 1, 'done', 0, 0), ('c', 'c.jpg', '/c.jpg', 'JPEG', 1, 1, 1, "
               "'new', 0, 0)")
    db.conn.close()
    with Workspace.open(root) as ws:
        names = {r[0] for r in ws.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"idx_images_live_status", "idx_images_live_id"} <= names
        assert migrations.status_counts_maintained(ws.db)
        assert ws.images.counts_by_status() == {**{s: 0 for s in STATUSES}, "done": 2, "new": 1}
        migrations._m12_live_images(ws.db)  # idempotent: another order of migrations may run it again
        assert migrations.status_counts_maintained(ws.db) and ws.images.counts_by_status() == counted(ws)
