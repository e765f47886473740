"""Thumbnails: size, EXIF orientation, cache hits, undecodable images remembered."""

from __future__ import annotations

import io
from pathlib import Path

from helpers import make_image, truncate
from PIL import Image

from cvops import Workspace
from cvops.data.ingest import import_paths
from cvops.data.thumbnails import make_thumbnail


def test_thumbnail_fits_256_and_respects_exif_orientation(tmp_path: Path) -> None:
    data, w, h = make_thumbnail(make_image(tmp_path / "r.jpg", (1024, 512), orientation=6))
    assert (w, h) == (128, 256)
    assert Image.open(io.BytesIO(data)).size == (128, 256)
    data, w, h = make_thumbnail(make_image(tmp_path / "small.png", (40, 30), "PNG"))
    assert (w, h) == (40, 30)


def test_cache_generates_once_and_remembers_errors(ws: Workspace, tmp_path: Path) -> None:
    for i in range(5):
        make_image(tmp_path / "src" / f"{i}.jpg", (600, 400), seed=i)
    import_paths(ws, [tmp_path / "src"])
    first = ws.thumbnails.generate()
    assert (first.made, first.errors) == (5, [])
    assert ws.thumbnails.generate().made == 0
    image = ws.images.page()[0]
    assert ws.thumbnails.get(image.id) == ws.thumbnails.cached(image.sha256)

    # An in-place image whose file got damaged after import: the error is recorded, not raised.
    bad = make_image(tmp_path / "later.jpg", (600, 400), seed=99)
    import_paths(ws, [bad], in_place=True)
    truncate(bad, 0.3)
    rec = ws.images.page(after_id=image.id + 4)[0]
    assert ws.thumbnails.get(rec.id) is None
    assert ws.thumbnails.error(rec.sha256)


def test_prune_removes_entries_of_deleted_images(ws: Workspace, tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    import_paths(ws, [tmp_path / "a.jpg"])
    ws.thumbnails.generate()
    ws.db.execute("DELETE FROM images")
    assert ws.thumbnails.prune() == 1
