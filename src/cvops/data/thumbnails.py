"""Thumbnail cache: 256 px JPEGs made from a reduced-size decode, stored as blobs in ``thumbs.db``.

A separate SQLite file (not the catalog, not loose files) — see docs/adr/0003-thumbnail-storage.md for the
measurements behind the choice. Thumbnails are made on demand (:meth:`ThumbnailCache.get`) or in the background
(:meth:`ThumbnailCache.generate`); an image that cannot be decoded is remembered with its error so it is not retried
on every paint.
"""

from __future__ import annotations

import io
import math
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

from PIL import Image, ImageOps

from cvops.common.imageio import ORIENTATION_TAG, open_image  # also raises Pillow's pixel limit for huge images

from cvops.common.jobs import CancelToken, Progress, no_progress

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

THUMB_SIZE = 256
JPEG_QUALITY = 85
# Decode JPEGs at a DCT scale down to 90 % of the target size (e.g. 1/8 of 1920 px = 240 for 256), then resize up:
# about 1.4x faster than decoding at 1/4 scale, for an imperceptible loss at thumbnail size.
DRAFT_SLACK = 0.9


def make_thumbnail(path: Path, size: int = THUMB_SIZE) -> tuple[bytes, int, int]:
    """Decode ``path`` at reduced size, apply EXIF orientation and return ``(jpeg_bytes, width, height)``.

    The longer side becomes ``size`` (smaller images keep their size). JPEGs are decoded at the smallest DCT scale
    (1/2, 1/4, 1/8) that yields at least ``DRAFT_SLACK`` of the target, then resized to it exactly.
    """
    with open_image(path) as im:
        w, h = im.size
        scale = min(1.0, size / max(w, h))
        target = (max(1, round(w * scale)), max(1, round(h * scale)))
        if scale < 1:
            im.draft("RGB", (math.ceil(target[0] * DRAFT_SLACK), math.ceil(target[1] * DRAFT_SLACK)))
        orientation = im.getexif().get(ORIENTATION_TAG, 1)
        im = ImageOps.exif_transpose(im)
        if orientation in (5, 6, 7, 8):
            target = (target[1], target[0])
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGBA").convert("RGB") if "A" in im.mode or im.mode == "P" else im.convert("RGB")
        if im.size != target:
            im = im.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
        out = io.BytesIO()
        im.save(out, "JPEG", quality=JPEG_QUALITY)
        return out.getvalue(), im.size[0], im.size[1]


@dataclass
class ThumbnailReport:
    """What :meth:`ThumbnailCache.generate` did."""

    made: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    cancelled: bool = False


class ThumbnailCache:
    """Thumbnails of one workspace, keyed by image content hash."""

    def __init__(self, ws: "Workspace") -> None:
        self.ws = ws
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(ws.root / "thumbs.db"), timeout=30, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS thumbs (sha256 TEXT PRIMARY KEY, width INTEGER, height INTEGER, data BLOB, "
            "error TEXT, created_at REAL NOT NULL)"
        )

    def close(self) -> None:
        """Close the cache database."""
        self._conn.close()

    def cached(self, sha256: str) -> Optional[bytes]:
        """The cached thumbnail, or None when not made yet (or the image failed to decode)."""
        with self._lock:
            row = self._conn.execute("SELECT data FROM thumbs WHERE sha256 = ?", [sha256]).fetchone()
        return row[0] if row else None

    def error(self, sha256: str) -> Optional[str]:
        """The decode error remembered for an image, or None."""
        with self._lock:
            row = self._conn.execute("SELECT error FROM thumbs WHERE sha256 = ?", [sha256]).fetchone()
        return row[0] if row else None

    def get(self, image_id: int) -> Optional[bytes]:
        """The thumbnail of an image, made now when missing; None when the image cannot be decoded."""
        image = self.ws.images.get(image_id)
        return self.ensure(image.sha256, self.ws.images.path(image))

    def ensure(self, sha256: str, path: Path) -> Optional[bytes]:
        """The thumbnail of the image with this hash whose bytes are at ``path``: cached, or made now; None when it
        cannot be decoded. Uses only the cache database (never the catalog), so any thread may call it."""
        data = self.cached(sha256)
        if data is not None:
            return data
        if self.error(sha256):
            return None
        return self._make(sha256, path)[0]

    def _make(self, sha256: str, path: Path) -> tuple[Optional[bytes], Optional[str]]:
        try:
            data, width, height = make_thumbnail(path)
            error = None
        except Exception as exc:  # any decode failure is recorded for this image, never raised into a paint
            data, width, height, error = None, None, None, f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO thumbs (sha256, width, height, data, error, created_at) VALUES (?,?,?,?,?,?)",
                [sha256, width, height, data, error, time.time()],
            )
        return data, error

    def missing(self, image_ids: Optional[Iterable[int]] = None) -> list[tuple[int, str]]:
        """``(image_id, sha256)`` of images that have no cache entry yet."""
        if image_ids is None:
            rows = self.ws.db.execute("SELECT id, sha256 FROM images ORDER BY id").fetchall()
        else:
            ids = list(image_ids)
            rows = []
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                rows += self.ws.db.execute(
                    f"SELECT id, sha256 FROM images WHERE id IN ({','.join('?' * len(part))}) ORDER BY id", part
                ).fetchall()
        with self._lock:
            have = {r[0] for r in self._conn.execute("SELECT sha256 FROM thumbs")}
        return [(i, s) for i, s in rows if s not in have]

    def generate(self, image_ids: Optional[Iterable[int]] = None, progress: Optional[Progress] = None,
                 cancel: Optional[CancelToken] = None) -> ThumbnailReport:
        """Make the missing thumbnails (of all images, or of ``image_ids``); a cancelable job."""
        progress = progress or no_progress
        cancel = cancel or CancelToken()
        todo = self.missing(image_ids)
        report = ThumbnailReport()
        for n, (image_id, sha) in enumerate(todo):
            if cancel.cancelled:
                report.cancelled = True
                break
            image = self.ws.images.get(image_id)
            data, error = self._make(sha, self.ws.images.path(image))
            if data is None:
                report.errors.append({"path": image.original_path, "reason": f"cannot decode: {error}"})
            else:
                report.made += 1
            if n % 16 == 0:
                progress((n + 1) / len(todo), f"thumbnails {n + 1}/{len(todo)}")
        progress(1.0, "cancelled" if report.cancelled else "done")
        return report

    def prune(self) -> int:
        """Remove cache entries of images no longer in the catalog; return how many."""
        shas = {r[0] for r in self.ws.db.execute("SELECT sha256 FROM images")}
        with self._lock:
            stale = [r[0] for r in self._conn.execute("SELECT sha256 FROM thumbs") if r[0] not in shas]
            for start in range(0, len(stale), 500):
                part = stale[start:start + 500]
                self._conn.execute(f"DELETE FROM thumbs WHERE sha256 IN ({','.join('?' * len(part))})", part)
        return len(stale)
