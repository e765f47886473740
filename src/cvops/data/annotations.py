"""The Qt-free annotation edit API. Every change is an operation in the log (undo/redo, audit).

Geometry is in pixels of the oriented image (after EXIF rotation): boxes as ``x, y, w, h`` (top-left corner, size),
polygons as ``[[x, y], ...]``. Geometry is validated: clipped to the image, or rejected with a reason.

A multi-part polygon (one object drawn as several outlines, e.g. a COCO annotation whose segmentation holds several
polygons) is one ``polygon`` annotation: ``points`` holds the outlines one after the other and the attribute
``polygon_parts`` their lengths (``[4, 3]``: points 0-3, then 4-6), so the extent of ``points`` is the object's box
everywhere. A crowd region (COCO ``iscrowd: 1``) carries the attribute ``iscrowd: 1``: it is an area to ignore, not
an object (see ``docs/adr/0007-multipart-and-crowd.md``).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from cvops.catalog.db import SOURCES, Database, transaction
from cvops.catalog.statuses import STATUSES
from cvops.data.classes import ClassRef
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.text import counted, status_words
from cvops.catalog.oplog import Change, OperationLog, row_dict

Box = tuple[float, float, float, float]
Points = list[list[float]]

PARTS = "polygon_parts"  # attribute: lengths of the outlines of a multi-part polygon, concatenated in ``points``
CROWD = "iscrowd"  # attribute: 1 for a crowd (ignore) region


def is_crowd(attributes: Optional[dict[str, Any]]) -> bool:
    """True when the attributes mark a crowd (ignore) region (``iscrowd`` 1, true or "1")."""
    return bool(attributes) and attributes.get(CROWD) in (1, True, "1")  # type: ignore[union-attr]


def parts_error(sizes: Any, count: int) -> Optional[str]:
    """Why ``sizes`` is not a valid ``polygon_parts`` value for ``count`` points, or None when it is."""
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in sizes):
        return f"{PARTS} must be a list of at least 2 outline lengths, got {sizes!r}"
    if any(n < 3 for n in sizes):
        return f"each part of a multi-part polygon needs at least 3 points ({PARTS} {sizes})"
    if sum(sizes) != count:
        return f"{PARTS} {sizes} add up to {sum(sizes)} points, the polygon has {count}"
    return None


def polygon_rings(points: Sequence[Sequence[float]], attributes: Optional[dict[str, Any]] = None) -> list[Points]:
    """The outlines of a polygon: several for a valid multi-part polygon (attribute ``polygon_parts``), else one."""
    pts = [list(p) for p in points]
    sizes = (attributes or {}).get(PARTS)
    if sizes is None or parts_error(sizes, len(pts)) is not None:
        return [pts]
    rings, start = [], 0
    for n in sizes:
        rings.append(pts[start:start + n])
        start += n
    return rings


@dataclass(frozen=True)
class Annotation:
    """One annotation as stored."""

    id: int
    image_id: int
    class_id: int
    kind: str
    box: Optional[Box]
    points: Optional[Points]
    source: str = "manual"
    model_id: Optional[str] = None
    confidence: Optional[float] = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def rings(self) -> list[Points]:
        """A polygon's outlines (several for a multi-part polygon); empty for boxes and tags."""
        return polygon_rings(self.points, self.attributes) if self.kind == "polygon" and self.points else []

    @property
    def crowd(self) -> bool:
        """True for a crowd (ignore) region."""
        return is_crowd(self.attributes)


def _finite(*values: float) -> None:
    try:
        if all(math.isfinite(v) for v in values) and not any(isinstance(v, (bool, str)) for v in values):
            return
    except TypeError:
        pass
    bad = next(v for v in values if isinstance(v, (bool, str)) or not isinstance(v, (int, float))
               or not math.isfinite(v))
    raise ValidationError(f"coordinate {bad!r} is not a finite number")


def clip_box(box: Sequence[float], width: int, height: int, clip: bool = True) -> Box:
    """Validate a box against an image of ``width`` x ``height``; clip it or raise :class:`ValidationError`."""
    if len(box) != 4:
        raise ValidationError(f"a box needs 4 values (x, y, w, h), got {len(box)}")
    x, y, w, h = box
    _finite(x, y, w, h)
    if w < 0 or h < 0:
        raise ValidationError(f"box has negative size ({w} x {h})")
    if w == 0 or h == 0:
        raise ValidationError(f"box has zero area ({w} x {h})")
    x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValidationError(f"box ({x}, {y}, {w}, {h}) lies outside the {width}x{height} image")
    clipped = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
    if not clip and clipped != (float(x), float(y), float(w), float(h)):
        raise ValidationError(f"box ({x}, {y}, {w}, {h}) extends beyond the {width}x{height} image")
    return clipped


def polygon_area(points: Points) -> float:
    """Area of a simple polygon (shoelace)."""
    n = len(points)
    return abs(sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
                   for i in range(n))) / 2.0


def clip_polygon(points: Sequence[Sequence[float]], width: int, height: int, clip: bool = True,
                 parts: Optional[Sequence[int]] = None) -> Points:
    """Validate a polygon (>= 3 points); clamp its points to the image or raise :class:`ValidationError`.

    ``parts`` (the ``polygon_parts`` attribute) are the lengths of the outlines of a multi-part polygon: each is
    checked on its own and the area is their sum."""
    pts = [list(p) for p in points]
    if len(pts) < 3:
        raise ValidationError(f"a polygon needs at least 3 points, got {len(pts)}")
    if parts is not None and (why := parts_error(list(parts), len(pts))):
        raise ValidationError(why)
    out: Points = []
    for p in pts:
        if len(p) != 2:
            raise ValidationError(f"polygon point {p!r} does not have 2 coordinates")
        _finite(*p)
        cx, cy = min(max(float(p[0]), 0.0), float(width)), min(max(float(p[1]), 0.0), float(height))
        if not clip and (cx, cy) != (p[0], p[1]):
            raise ValidationError(f"polygon point {p!r} lies outside the {width}x{height} image")
        out.append([cx, cy])
    rings = polygon_rings(out, {PARTS: list(parts)}) if parts is not None else [out]
    if sum(polygon_area(r) for r in rings) <= 0:
        raise ValidationError("polygon has zero area inside the image")
    return out


def _to_annotation(row: dict[str, Any]) -> Annotation:
    box = (row["x"], row["y"], row["w"], row["h"]) if row["kind"] == "box" else None
    return Annotation(
        id=row["id"], image_id=row["image_id"], class_id=row["class_id"], kind=row["kind"], box=box,
        points=json.loads(row["points"]) if row["points"] else None, source=row["source"],
        model_id=row["model_id"], confidence=row["confidence"],
        attributes=json.loads(row["attributes"]) if row["attributes"] not in (None, "", "{}") else {},
    )


@dataclass
class NewAnnotation:
    """An annotation to add (used by :meth:`AnnotationEditor.add_many`)."""

    image_id: int
    class_id: ClassRef
    kind: str = "box"
    box: Optional[Sequence[float]] = None
    points: Optional[Sequence[Sequence[float]]] = None
    source: str = "manual"
    model_id: Optional[str] = None
    confidence: Optional[float] = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnnotationEdit:
    """Changes to one annotation for :meth:`AnnotationEditor.update_many`; None leaves a field as it is."""

    annotation_id: int
    class_id: Optional[ClassRef] = None
    box: Optional[Sequence[float]] = None
    points: Optional[Sequence[Sequence[float]]] = None
    attributes: Optional[dict[str, Any]] = None


class AnnotationEditor:
    """Adds, changes and removes annotations and per-image review state, through the operation log."""

    def __init__(self, db: Database, log: OperationLog) -> None:
        self.db = db
        self.log = log

    # -- reading ------------------------------------------------------------------------------------------------------
    def for_image(self, image_id: int) -> list[Annotation]:
        """The annotations of one image, oldest first."""
        cur = self.db.execute("SELECT * FROM annotations WHERE image_id = ? ORDER BY id", [image_id])
        cols = [d[0] for d in cur.description]
        return [_to_annotation(dict(zip(cols, v))) for v in cur.fetchall()]

    def get(self, annotation_id: int) -> Annotation:
        """One annotation by id."""
        row = row_dict(self.db.conn, "annotations", annotation_id)
        if row is None:
            raise NotFoundError(f"no annotation {annotation_id}")
        return _to_annotation(row)

    # -- helpers ------------------------------------------------------------------------------------------------------
    def _image_size(self, image_id: int) -> tuple[int, int]:
        row = self.db.execute("SELECT width, height FROM images WHERE id = ?", [image_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no image {image_id}")
        return int(row[0]), int(row[1])

    def _class_id(self, ref: ClassRef) -> int:
        if isinstance(ref, int) and not isinstance(ref, bool):
            if self.db.execute("SELECT 1 FROM classes WHERE id = ?", [ref]).fetchone() is None:
                raise NotFoundError(f"no class {ref}")
            return ref
        row = self.db.execute("SELECT id FROM classes WHERE name = ? COLLATE NOCASE", [str(ref).strip()]).fetchone()
        if row is None:
            raise NotFoundError(f"no class {ref!r}")
        return int(row[0])

    def _new_row(self, item: NewAnnotation, clip: Optional[bool], tags: set[tuple[int, int]],
                 cache: dict[Any, Any]) -> dict[str, Any]:
        """A validated row; ``clip=None`` trusts geometry that the caller validated already."""
        size_key = ("size", item.image_id)
        if size_key not in cache:
            cache[size_key] = self._image_size(item.image_id)
        width, height = cache[size_key]
        class_key = ("class", item.class_id)
        if class_key not in cache:
            cache[class_key] = self._class_id(item.class_id)
        class_id = cache[class_key]
        if item.source not in SOURCES:
            raise ValidationError(f"unknown source {item.source!r} (use one of {', '.join(SOURCES)})")
        if item.confidence is not None:
            _finite(item.confidence)
            if not 0.0 <= item.confidence <= 1.0:
                raise ValidationError(f"confidence {item.confidence} is outside 0..1")
        now = time.time()
        row: dict[str, Any] = {
            "image_id": item.image_id, "class_id": class_id, "kind": item.kind, "x": None, "y": None, "w": None,
            "h": None, "points": None, "source": item.source, "model_id": item.model_id,
            "confidence": item.confidence,
            "attributes": json.dumps(item.attributes, sort_keys=True) if item.attributes else "{}",
            "created_at": now, "updated_at": now,
        }
        if item.kind == "box":
            if item.box is None:
                raise ValidationError("a box annotation needs a box")
            box = item.box if clip is None else clip_box(item.box, width, height, clip)
            row["x"], row["y"], row["w"], row["h"] = box
        elif item.kind == "polygon":
            if item.points is None:
                raise ValidationError("a polygon annotation needs points")
            parts = item.attributes.get(PARTS) if item.attributes else None
            if clip is None and parts is not None and (why := parts_error(parts, len(item.points))):
                raise ValidationError(why)
            row["points"] = json.dumps(item.points if clip is None else
                                       clip_polygon(item.points, width, height, clip, parts))
        elif item.kind == "tag":
            key = (item.image_id, class_id)
            exists = self.db.execute(
                "SELECT 1 FROM annotations WHERE image_id = ? AND class_id = ? AND kind = 'tag'", list(key)
            ).fetchone()
            if exists or key in tags:
                raise ValidationError(f"image {item.image_id} already has tag class {class_id}")
            tags.add(key)
        else:
            raise ValidationError(f"unknown annotation kind {item.kind!r} (use box, polygon or tag)")
        return row

    # -- adding -------------------------------------------------------------------------------------------------------
    def add_many(self, items: Iterable[NewAnnotation], description: str = "", clip: bool = True,
                 prevalidated: bool = False) -> list[int]:
        """Add several annotations as one operation (one undo step); return their ids.

        Any invalid item rejects the whole call with a :class:`ValidationError` naming it. ``prevalidated`` skips the
        geometry checks for items that already went through :func:`clip_box` / :func:`clip_polygon` (bulk import).
        """
        with transaction(self.db):
            tags: set[tuple[int, int]] = set()
            cache: dict[Any, Any] = {}
            rows: list[dict[str, Any]] = []
            for i, item in enumerate(items):
                try:
                    rows.append(self._new_row(item, None if prevalidated else clip, tags, cache))
                except ValidationError as exc:
                    raise ValidationError(f"annotation {i} on image {item.image_id}: {exc}") from None
            if not rows:
                return []
            ids = list(self.log.next_ids("annotations", len(rows)))
            columns = ["id", *rows[0]]
            change: Change = {"table": "annotations", "op": "insert_rows", "columns": columns,
                              "rows": [[aid, *row.values()] for aid, row in zip(ids, rows)]}
            text = description or f"added {counted(len(rows), 'annotation')}"
            self.log.record("annotation.add", text, [change])
        return ids

    def add_box(self, image_id: int, class_id: ClassRef, box: Sequence[float], **kw: Any) -> int:
        """Add a box ``(x, y, w, h)``; return its id."""
        return self.add_many([NewAnnotation(image_id, class_id, "box", box=box, **kw)],
                             description=f"added a box on image {image_id}")[0]

    def add_polygon(self, image_id: int, class_id: ClassRef, points: Sequence[Sequence[float]], **kw: Any) -> int:
        """Add a polygon (>= 3 points); return its id."""
        return self.add_many([NewAnnotation(image_id, class_id, "polygon", points=points, **kw)],
                             description=f"added a polygon on image {image_id}")[0]

    def add_tag(self, image_id: int, class_id: ClassRef, **kw: Any) -> int:
        """Add an image-level tag; return its id."""
        return self.add_many([NewAnnotation(image_id, class_id, "tag", **kw)],
                             description=f"tagged image {image_id}")[0]

    def add_tags(self, image_ids: Iterable[int], class_id: ClassRef) -> int:
        """Tag several images with one class (one undo step), leaving out images that have that tag already; return
        how many were tagged."""
        ids = list(dict.fromkeys(image_ids))
        with transaction(self.db) as conn:
            cid = self._class_id(class_id)
            have: set[int] = set()
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                have.update(r[0] for r in conn.execute(
                    f"SELECT image_id FROM annotations WHERE class_id = ? AND kind = 'tag' "
                    f"AND image_id IN ({', '.join('?' * len(part))})", [cid, *part]))
            todo = [i for i in ids if i not in have]
            self.add_many([NewAnnotation(i, cid, "tag") for i in todo],
                          description=f"tagged {counted(len(todo), 'image')} with class {cid}")
        return len(todo)

    # -- changing -----------------------------------------------------------------------------------------------------
    def _change(self, conn: sqlite3.Connection, edit: AnnotationEdit, clip: bool, now: float) -> Optional[Change]:
        """The log change for one edit, or None when it changes nothing."""
        row = row_dict(conn, "annotations", edit.annotation_id)
        if row is None:
            raise NotFoundError(f"no annotation {edit.annotation_id}")
        width, height = self._image_size(row["image_id"])
        after: dict[str, Any] = {}
        if edit.class_id is not None:
            after["class_id"] = self._class_id(edit.class_id)
        if edit.box is not None:
            if row["kind"] != "box":
                raise ValidationError(f"annotation {edit.annotation_id} is a {row['kind']}, not a box")
            after.update(zip("xywh", clip_box(edit.box, width, height, clip)))
        attributes = edit.attributes if edit.attributes is not None else json.loads(row["attributes"] or "{}")
        if edit.points is not None:
            if row["kind"] != "polygon":
                raise ValidationError(f"annotation {edit.annotation_id} is a {row['kind']}, not a polygon")
            after["points"] = json.dumps(clip_polygon(edit.points, width, height, clip, attributes.get(PARTS)))
        elif edit.attributes is not None and row["kind"] == "polygon" and PARTS in attributes:
            if why := parts_error(attributes[PARTS], len(json.loads(row["points"] or "[]"))):
                raise ValidationError(f"annotation {edit.annotation_id}: {why}")
        if edit.attributes is not None:
            after["attributes"] = json.dumps(edit.attributes, sort_keys=True)
        after = {k: v for k, v in after.items() if row[k] != v}
        if not after:
            return None
        after["updated_at"] = now
        return {"table": "annotations", "op": "update", "id": edit.annotation_id,
                "before": {k: row[k] for k in after}, "after": after}

    def update(self, annotation_id: int, *, class_id: Optional[ClassRef] = None, box: Optional[Sequence[float]] = None,
               points: Optional[Sequence[Sequence[float]]] = None, attributes: Optional[dict[str, Any]] = None,
               clip: bool = True) -> Annotation:
        """Change an annotation's class, geometry or attributes (one undo step)."""
        self.update_many([AnnotationEdit(annotation_id, class_id, box, points, attributes)],
                         description=f"changed annotation {annotation_id}", clip=clip)
        return self.get(annotation_id)

    def update_many(self, edits: Iterable[AnnotationEdit], description: str = "", clip: bool = True) -> int:
        """Change several annotations as one operation (one undo step: moving or re-classing a selection); return
        how many changed. Any invalid edit rejects the whole call."""
        with transaction(self.db) as conn:
            now = time.time()
            changes = [c for c in (self._change(conn, e, clip, now) for e in edits) if c is not None]
            if changes:
                text = description or f"changed {counted(len(changes), 'annotation')}"
                self.log.record("annotation.update", text, changes)
        return len(changes)

    def delete(self, annotation_ids: Iterable[int]) -> int:
        """Remove annotations (one undo step); return how many were removed. Unknown ids are an error."""
        ids = list(dict.fromkeys(annotation_ids))
        with transaction(self.db) as conn:
            changes: list[Change] = []
            for aid in ids:
                row = row_dict(conn, "annotations", aid)
                if row is None:
                    raise NotFoundError(f"no annotation {aid}")
                changes.append({"table": "annotations", "op": "delete", "row": row})
            if changes:
                self.log.record("annotation.delete", f"deleted {counted(len(changes), 'annotation')}", changes)
        return len(ids)

    def replace(self, remove_ids: Iterable[int], items: Iterable[NewAnnotation], description: str,
                action: str = "annotation.replace") -> list[int]:
        """Remove annotations and add others as one operation (one undo step); return the new ids. Pre-labeling
        replaces a model's pending suggestions this way."""
        with transaction(self.db) as conn:
            changes: list[Change] = []
            for aid in dict.fromkeys(remove_ids):
                row = row_dict(conn, "annotations", aid)
                if row is None:
                    raise NotFoundError(f"no annotation {aid}")
                changes.append({"table": "annotations", "op": "delete", "row": row})
            tags: set[tuple[int, int]] = set()
            cache: dict[Any, Any] = {}
            rows = [self._new_row(item, True, tags, cache) for item in items]
            ids = list(self.log.next_ids("annotations", len(rows))) if rows else []
            if rows:
                changes.append({"table": "annotations", "op": "insert_rows", "columns": ["id", *rows[0]],
                                "rows": [[aid, *row.values()] for aid, row in zip(ids, rows)]})
            if changes:
                self.log.record(action, description, changes)
        return ids

    def accept_suggestions(self, annotation_ids: Iterable[int], description: str = "") -> int:
        """Turn model suggestions (source ``model``) into manual annotations, as one undo step; the model and its
        confidence move into the attributes (``suggested_by``, ``suggested_confidence``) for provenance. Manual
        annotations among the ids are left as they are; return how many were accepted."""
        with transaction(self.db) as conn:
            changes: list[Change] = []
            now = time.time()
            for aid in dict.fromkeys(annotation_ids):
                row = row_dict(conn, "annotations", aid)
                if row is None:
                    raise NotFoundError(f"no annotation {aid}")
                if row["source"] != "model":
                    continue
                attributes = json.loads(row["attributes"] or "{}")
                attributes.update({"suggested_by": row["model_id"], "suggested_confidence": row["confidence"]})
                after = {"source": "manual", "model_id": None, "confidence": None,
                         "attributes": json.dumps(attributes, sort_keys=True), "updated_at": now}
                changes.append({"table": "annotations", "op": "update", "id": aid,
                                "before": {k: row[k] for k in after}, "after": after})
            if changes:
                text = description or f"accepted {counted(len(changes), 'suggestion')}"
                self.log.record("annotation.accept", text, changes)
        return len(changes)

    def paste(self, image_id: int, shapes: Sequence[Annotation], description: str = "") -> list[int]:
        """Copy ``shapes`` (from any image) onto ``image_id`` as manual annotations, clipped to its size, as one
        undo step. Tags the image already has are left out."""
        width, height = self._image_size(image_id)
        have = {a.class_id for a in self.for_image(image_id) if a.kind == "tag"}
        items = []
        for a in shapes:
            if a.kind == "tag" and a.class_id in have:
                continue
            try:
                if a.kind == "box" and a.box:
                    clip_box(a.box, width, height)
                elif a.kind == "polygon" and a.points:
                    clip_polygon(a.points, width, height, parts=a.attributes.get(PARTS))
            except ValidationError:
                continue  # entirely outside this (smaller) image
            items.append(NewAnnotation(image_id, a.class_id, a.kind, box=a.box, points=a.points,
                                       attributes=dict(a.attributes)))
        text = description or f"pasted {counted(len(items), 'shape')} on image {image_id}"
        return self.add_many(items, description=text)

    # -- trash ----------------------------------------------------------------------------------------------------
    def trash(self, image_ids: Iterable[int]) -> int:
        """Move images to the trash (hidden from galleries, exports and counts; one undo step); return how many."""
        return self._set_trashed(image_ids, time.time())

    def restore(self, image_ids: Iterable[int]) -> int:
        """Take images out of the trash (one undo step); return how many."""
        return self._set_trashed(image_ids, None)

    def _set_trashed(self, image_ids: Iterable[int], when: Optional[float]) -> int:
        ids = list(dict.fromkeys(image_ids))
        with transaction(self.db) as conn:
            changes: list[Change] = []
            for iid in ids:
                row = conn.execute("SELECT trashed_at FROM images WHERE id = ?", [iid]).fetchone()
                if row is None:
                    raise NotFoundError(f"no image {iid}")
                if (row[0] is None) != (when is None):
                    changes.append({"table": "images", "op": "update", "id": iid, "before": {"trashed_at": row[0]},
                                    "after": {"trashed_at": when}})
            if changes:
                what = "moved {} to the trash" if when is not None else "restored {} from the trash"
                self.log.record("image.trash" if when is not None else "image.restore",
                                what.format(counted(len(changes), "image")), changes)
        return len(changes)

    def empty_trash(self) -> int:
        """Delete trashed images and their annotations for good; return how many. This cannot be undone and clears
        the undo history (older operations may refer to the deleted rows); ``cvops gc`` then frees their blobs."""
        with transaction(self.db) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM images WHERE trashed_at IS NOT NULL")]
            if not ids:
                return 0
            conn.execute("UPDATE operations SET state = 'discarded' WHERE state IN ('done', 'undone')")
            conn.execute("DELETE FROM images WHERE trashed_at IS NOT NULL")
        return len(ids)

    # -- review state -------------------------------------------------------------------------------------------------
    def set_status(self, image_ids: Iterable[int], status: str) -> int:
        """Set the review status of images (one undo step); return how many changed."""
        if status not in STATUSES:
            raise ValidationError(f"unknown status {status!r} (use one of {', '.join(STATUSES)})")
        ids = list(dict.fromkeys(image_ids))
        with transaction(self.db) as conn:
            changes: list[Change] = []
            now = time.time()
            for iid in ids:
                row = conn.execute("SELECT status, updated_at FROM images WHERE id = ?", [iid]).fetchone()
                if row is None:
                    raise NotFoundError(f"no image {iid}")
                if row[0] != status:
                    changes.append({"table": "images", "op": "update", "id": iid,
                                    "before": {"status": row[0], "updated_at": row[1]},
                                    "after": {"status": status, "updated_at": now}})
            if changes:
                self.log.record("image.status", f"marked {counted(len(changes), 'image')} as {status_words(status)}",
                                changes)
        return len(changes)

    def set_comment(self, image_id: int, comment: str) -> None:
        """Set an image's review comment (one undo step)."""
        with transaction(self.db) as conn:
            row = conn.execute("SELECT comment, updated_at FROM images WHERE id = ?", [image_id]).fetchone()
            if row is None:
                raise NotFoundError(f"no image {image_id}")
            if row[0] != comment:
                self.log.record("image.comment", f"commented on image {image_id}", [
                    {"table": "images", "op": "update", "id": image_id,
                     "before": {"comment": row[0], "updated_at": row[1]},
                     "after": {"comment": comment, "updated_at": time.time()}}])
