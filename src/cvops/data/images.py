"""Image queries over the catalog: filtered keyset pages, counts and file locations."""

from __future__ import annotations

import sqlite3
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from cvops.catalog.migrations import status_counts_maintained
from cvops.catalog.statuses import STATUSES
from cvops.common.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

COLUMNS = ("id", "sha256", "file_name", "original_path", "in_place", "format", "width", "height", "byte_size",
           "status", "comment", "batch_id", "video_id", "frame_index", "timestamp_ms", "file_mtime_ns", "trashed_at")
ORDERS = {"id": "id", "-id": "id DESC", "file_name": "file_name COLLATE NOCASE, id", "status": "status, id",
          "-created": "created_at DESC, id DESC"}
TAG_MATCHES = ("any", "all")


def insert_image(conn: sqlite3.Connection, row: dict[str, Any]) -> Optional[int]:
    """Insert one ``images`` row (its columns by name); the new id, or None when an image with that content hash
    (``sha256``) is already in the catalog."""
    cols = list(row)
    cur = conn.execute(
        f"INSERT INTO images ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
        "ON CONFLICT(sha256) DO NOTHING",
        [row[c] for c in cols],
    )
    return int(cur.lastrowid) if cur.rowcount == 1 else None


@dataclass(frozen=True)
class ImageRecord:
    """One image of the catalog. ``width``/``height`` are after EXIF orientation."""

    id: int
    sha256: str
    file_name: str
    original_path: str
    in_place: int
    format: str
    width: int
    height: int
    byte_size: int
    status: str
    comment: str
    batch_id: Optional[int]
    video_id: Optional[int]
    frame_index: Optional[int]
    timestamp_ms: Optional[float]
    file_mtime_ns: Optional[int]
    trashed_at: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {c: getattr(self, c) for c in COLUMNS}


@dataclass(frozen=True)
class ImageFilter:
    """Gallery filters; every field is optional and they combine with AND. ``tag_class_id`` keeps images with an
    image-level label (annotation of kind ``tag``) of that class; ``tag_ids`` keeps images with any (``tag_match``
    "any") or all ("all") of these vocabulary tags (:mod:`cvops.data.tags`); ``untagged`` True keeps images without
    a tag, False images with one; ``trashed`` False (default) hides trashed images, True shows only them, None both."""

    status: Optional[str] = None
    statuses: Optional[tuple[str, ...]] = None
    class_id: Optional[int] = None
    tag_class_id: Optional[int] = None
    annotated: Optional[bool] = None
    search: Optional[str] = None
    trashed: Optional[bool] = False
    tag_ids: Optional[tuple[int, ...]] = None
    tag_match: str = "any"
    untagged: Optional[bool] = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and parameters for these filters."""
        parts: list[str] = []
        params: list[Any] = []
        wanted = ((self.status,) if self.status is not None else ()) + tuple(self.statuses or ())
        for status in wanted:
            if status not in STATUSES:
                raise ValidationError(f"unknown status {status!r} (use one of {', '.join(STATUSES)})")
        if self.status is not None:
            parts.append("status = ?")
            params.append(self.status)
        if self.statuses:
            parts.append(f"status IN ({', '.join('?' * len(self.statuses))})")
            params.extend(self.statuses)
        if self.class_id is not None:
            parts.append("EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = images.id AND a.class_id = ?)")
            params.append(self.class_id)
        if self.tag_class_id is not None:
            parts.append("EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = images.id AND a.class_id = ? "
                         "AND a.kind = 'tag')")
            params.append(self.tag_class_id)
        if self.tag_ids:
            if self.tag_match not in TAG_MATCHES:
                raise ValidationError(f"unknown tag match {self.tag_match!r} (use any or all)")
            wanted_tags = tuple(dict.fromkeys(self.tag_ids))
            inner = (f"FROM image_tags t WHERE t.image_id = images.id AND t.tag_id IN "
                     f"({', '.join('?' * len(wanted_tags))})")
            parts.append(f"EXISTS (SELECT 1 {inner})" if self.tag_match == "any" else
                         f"(SELECT COUNT(*) {inner}) = {len(wanted_tags)}")
            params.extend(wanted_tags)
        if self.untagged is not None:
            parts.append(("NOT " if self.untagged else "") +
                         "EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = images.id)")
        if self.trashed is not None:
            parts.append("trashed_at IS NOT NULL" if self.trashed else "trashed_at IS NULL")
        if self.annotated is not None:
            parts.append(("" if self.annotated else "NOT ") +
                         "EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = images.id)")
        if self.search:
            parts.append("file_name LIKE ? ESCAPE '\\'")
            term = self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{term}%")
        return (" AND ".join(parts) or "1"), params


class ImageQueries:
    """Read access to the images of a workspace."""

    def __init__(self, ws: "Workspace") -> None:
        self.ws = ws

    def get(self, image_id: int) -> ImageRecord:
        """One image by id."""
        row = self.ws.db.execute(f"SELECT {', '.join(COLUMNS)} FROM images WHERE id = ?", [image_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no image {image_id}")
        return ImageRecord(*row)

    def by_sha256(self, sha256: str) -> Optional[ImageRecord]:
        """The image with this content hash, or None."""
        row = self.ws.db.execute(f"SELECT {', '.join(COLUMNS)} FROM images WHERE sha256 = ?", [sha256]).fetchone()
        return ImageRecord(*row) if row else None

    def page(self, flt: ImageFilter = ImageFilter(), after_id: int = 0, limit: int = 200) -> list[ImageRecord]:
        """Up to ``limit`` images with id greater than ``after_id``, in id order (keyset paging)."""
        where, params = flt.where()
        rows = self.ws.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM images WHERE id > ? AND {where} ORDER BY id LIMIT ?",
            [after_id, *params, limit],
        ).fetchall()
        return [ImageRecord(*r) for r in rows]

    def ids(self, flt: ImageFilter = ImageFilter(), order: str = "id", limit: Optional[int] = None) -> array:
        """The ids of every matching image (the first ``limit`` only, if given) in ``order`` (see ``ORDERS``), as a
        compact array: the gallery maps rows to ids with it (a million ids take 8 MB)."""
        if order not in ORDERS:
            raise ValidationError(f"unknown order {order!r} (use one of {', '.join(ORDERS)})")
        where, params = flt.where()
        sql = f"SELECT id FROM images WHERE {where} ORDER BY {ORDERS[order]}"
        if limit is not None:
            sql, params = f"{sql} LIMIT ?", [*params, int(limit)]
        cur = self.ws.db.execute(sql, params)
        out = array("q")
        while True:
            rows = cur.fetchmany(65536)
            if not rows:
                return out
            out.extend(r[0] for r in rows)

    def many(self, ids: Sequence[int]) -> list[ImageRecord]:
        """The images with these ids, in the order given (unknown ids are left out)."""
        found: dict[int, ImageRecord] = {}
        wanted = list(ids)
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            for row in self.ws.db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM images WHERE id IN ({', '.join('?' * len(part))})", part
            ):
                found[row[0]] = ImageRecord(*row)
        return [found[i] for i in wanted if i in found]

    def annotation_counts(self, ids: Sequence[int]) -> dict[int, int]:
        """Number of annotations (tags included) per image, for those of ``ids`` that have any."""
        out: dict[int, int] = {}
        wanted = list(ids)
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            out.update(self.ws.db.execute(
                f"SELECT image_id, COUNT(*) FROM annotations WHERE image_id IN ({', '.join('?' * len(part))}) "
                "GROUP BY image_id", part).fetchall())
        return out

    def count(self, flt: ImageFilter = ImageFilter()) -> int:
        """Number of images matching the filters."""
        where, params = flt.where()
        return int(self.ws.db.execute(f"SELECT COUNT(*) FROM images WHERE {where}", params).fetchone()[0])

    def counts_by_status(self) -> dict[str, int]:
        """Images per review status, trashed images left out (every status present, zero included). Read from the
        counts the catalog keeps (migration 12), or counted where those are not kept."""
        out = {s: 0 for s in STATUSES}
        if status_counts_maintained(self.ws.db):
            sql = "SELECT status, n FROM image_status_counts WHERE n != 0"
        else:
            sql = "SELECT status, COUNT(*) FROM images WHERE trashed_at IS NULL GROUP BY status"
        for status, n in self.ws.db.execute(sql):
            out[status] = n
        return out

    def path(self, image: ImageRecord) -> Path:
        """Where the image's bytes are: the store blob, or the original file for in-place images."""
        return self.ws.store.image_file(image.sha256, image.format, image.in_place, image.original_path)
