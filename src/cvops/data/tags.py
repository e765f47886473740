"""Image tags: a vocabulary of its own (``night``, ``blurry``, ``site-b``), apart from the detection classes.

A tag has a stable id, a name unique case-insensitively, an optional colour and a position; images link to tags
(``image_tags``, migration 18). Tags organise and filter images; no class, export or version sees them. Every change
is one operation in the log (one undo step), however many images it touches.

Annotations of kind ``tag`` are something else: image-level *class labels* (classification), which the CVAT, COCO and
labelme formats read (labelme writes them back) and versions freeze. :meth:`TagManager.from_class` turns a class that only served as such a label into a
vocabulary tag, on request.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

from cvops.catalog.db import Database, transaction
from cvops.catalog.oplog import Change, OperationLog, row_dict
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.text import counted
from cvops.data.classes import ClassManager, ClassRef, _check_color

MAX_TAG_NAME = 64
TagRef = Union[int, str]
_CHUNK = 500
LINK_COLUMNS = ("id", "image_id", "tag_id", "created_at")


@dataclass(frozen=True)
class TagInfo:
    """One tag of the vocabulary."""

    id: int
    name: str
    color: Optional[str]
    position: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {"id": self.id, "name": self.name, "color": self.color, "position": self.position}


def check_tag_name(name: object) -> str:
    """The tag name, stripped; :class:`ValidationError` saying why when it is empty, too long or has a control
    character."""
    if not isinstance(name, str):
        raise ValidationError(f"tag name must be text, not {type(name).__name__}")
    clean = name.strip()
    if not clean:
        raise ValidationError("tag name is empty")
    if len(clean) > MAX_TAG_NAME:
        raise ValidationError(f"tag name {clean[:20]!r}… is longer than {MAX_TAG_NAME} characters")
    bad = next((ch for ch in clean if unicodedata.category(ch).startswith("C")), None)
    if bad is not None:
        raise ValidationError(f"tag name {clean!r} contains a control character (U+{ord(bad):04X})")
    return clean


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


class TagManager:
    """Reads and changes the tag vocabulary of one workspace and which images carry which tags."""

    def __init__(self, db: Database, log: OperationLog) -> None:
        self.db = db
        self.log = log

    # -- reading ------------------------------------------------------------------------------------------------------
    def list(self) -> list[TagInfo]:
        """Every tag, in display order."""
        rows = self.db.execute("SELECT id, name, color, position FROM tags ORDER BY position, id")
        return [TagInfo(*r) for r in rows]

    def find(self, name: str) -> Optional[TagInfo]:
        """A tag by case-insensitive name, or None."""
        row = self.db.execute("SELECT id, name, color, position FROM tags WHERE name = ? COLLATE NOCASE",
                              [str(name).strip()]).fetchone()
        return TagInfo(*row) if row else None

    def get(self, ref: TagRef) -> TagInfo:
        """A tag by id or case-insensitive name (a name made of digits is tried as a name first)."""
        if isinstance(ref, bool):
            raise NotFoundError(f"no tag {ref!r}")
        if isinstance(ref, int):
            row = self.db.execute("SELECT id, name, color, position FROM tags WHERE id = ?", [ref]).fetchone()
            if row is None:
                raise NotFoundError(f"no tag {ref} (cvops tags list shows them)")
            return TagInfo(*row)
        found = self.find(ref)
        if found is None and str(ref).strip().isdigit():
            return self.get(int(str(ref).strip()))
        if found is None:
            raise NotFoundError(f"no tag {str(ref).strip()!r} (cvops tags list shows them)")
        return found

    def of_image(self, image_id: int) -> list[TagInfo]:
        """The tags of one image, in display order."""
        return [TagInfo(*r) for r in self.db.execute(
            "SELECT t.id, t.name, t.color, t.position FROM tags t JOIN image_tags l ON l.tag_id = t.id "
            "WHERE l.image_id = ? ORDER BY t.position, t.id", [image_id])]

    def names_of_images(self, image_ids: Sequence[int]) -> dict[int, list[str]]:
        """The tag names of each of these images that has tags, in display order."""
        out: dict[int, list[str]] = {}
        for part in _chunks(list(image_ids)):
            for image_id, name in self.db.execute(
                    f"SELECT l.image_id, t.name FROM image_tags l JOIN tags t ON t.id = l.tag_id "
                    f"WHERE l.image_id IN ({', '.join('?' * len(part))}) ORDER BY t.position, t.id", part):
                out.setdefault(image_id, []).append(name)
        return out

    def counts(self) -> dict[int, int]:
        """Per tag id: how many images outside the trash carry it (every tag, zero included)."""
        out = {t.id: 0 for t in self.list()}
        out.update(self.db.execute(
            "SELECT l.tag_id, COUNT(*) FROM image_tags l JOIN images i ON i.id = l.image_id "
            "WHERE i.trashed_at IS NULL GROUP BY l.tag_id"))
        return out

    def ids(self, refs: Iterable[TagRef]) -> tuple[int, ...]:
        """The ids of tags named by id or name, in the order given, repeats left out (for an image filter)."""
        return tuple(dict.fromkeys(self.get(r).id for r in refs))

    # -- the vocabulary -----------------------------------------------------------------------------------------------
    def _new_tag(self, name: str, color: Optional[str]) -> tuple[dict[str, object], Change]:
        """The row and log change of a new tag, with its id (call inside the write transaction)."""
        name = check_tag_name(name)
        if (other := self.find(name)) is not None:
            raise ValidationError(f"a tag named {other.name!r} already exists")
        position = self.db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM tags").fetchone()[0]
        row = {"id": self.log.next_ids("tags", 1)[0], "name": name, "color": _check_color(color) if color else None,
               "position": position, "created_at": time.time()}
        return row, {"table": "tags", "op": "insert", "row": row}

    def create(self, name: str, color: Optional[str] = None) -> TagInfo:
        """Add a tag at the end of the order (one undo step); the name must be new, case-insensitively."""
        with transaction(self.db):
            row, change = self._new_tag(name, color)
            self.log.record("tag.add", f"added tag {row['name']!r}", [change])
        return self.get(int(row["id"]))  # type: ignore[arg-type]

    def _update(self, ref: TagRef, action: str, description: str, **after: object) -> TagInfo:
        with transaction(self.db) as conn:
            info = self.get(ref)
            before = row_dict(conn, "tags", info.id) or {}
            if any(before[k] != v for k, v in after.items()):
                self.log.record(action, description.format(name=info.name), [
                    {"table": "tags", "op": "update", "id": info.id, "before": {k: before[k] for k in after},
                     "after": after}])
        return self.get(info.id)

    def rename(self, ref: TagRef, new_name: str) -> TagInfo:
        """Rename a tag (its id and images stay); refused when another tag has that name (merge instead)."""
        new_name = check_tag_name(new_name)
        info, other = self.get(ref), self.find(new_name)
        if other is not None and other.id != info.id:
            raise ValidationError(f"a tag named {other.name!r} already exists; merge instead of renaming")
        return self._update(info.id, "tag.rename", f"renamed tag {{name!r}} to {new_name!r}", name=new_name)

    def recolor(self, ref: TagRef, color: Optional[str]) -> TagInfo:
        """Set a tag's colour (#rrggbb), or clear it with None or ""."""
        value = _check_color(color) if color else None
        return self._update(ref, "tag.recolor", f"recoloured tag {{name!r}} to {value or 'none'}", color=value)

    def _links(self, tag_id: int, image_ids: Optional[Sequence[int]] = None) -> list[list[object]]:
        """The ``image_tags`` rows of a tag (of these images only, if given), as lists in :data:`LINK_COLUMNS`."""
        cols = ", ".join(LINK_COLUMNS)
        if image_ids is None:
            return [list(r) for r in self.db.execute(
                f"SELECT {cols} FROM image_tags WHERE tag_id = ? ORDER BY id", [tag_id])]
        out: list[list[object]] = []
        for part in _chunks(list(dict.fromkeys(image_ids))):
            out += [list(r) for r in self.db.execute(
                f"SELECT {cols} FROM image_tags WHERE tag_id = ? AND image_id IN ({', '.join('?' * len(part))}) "
                "ORDER BY id", [tag_id, *part])]
        return out

    def delete(self, ref: TagRef) -> int:
        """Delete a tag and take it off every image (one undo step); return how many images had it."""
        with transaction(self.db) as conn:
            info = self.get(ref)
            links = self._links(info.id)
            changes: list[Change] = []
            if links:
                changes.append({"table": "image_tags", "op": "delete_rows", "columns": list(LINK_COLUMNS),
                                "rows": links})
            changes.append({"table": "tags", "op": "delete", "row": row_dict(conn, "tags", info.id)})
            self.log.record("tag.delete", f"deleted tag {info.name!r} ({counted(len(links), 'image')})", changes)
        return len(links)

    def merge(self, source: TagRef, target: TagRef) -> int:
        """Give every image of ``source`` the tag ``target`` and delete ``source`` (one undo step); return how many
        images gained ``target``."""
        with transaction(self.db) as conn:
            src, dst = self.get(source), self.get(target)
            if src.id == dst.id:
                raise ValidationError("cannot merge a tag into itself")
            links = self._links(src.id)
            changes: list[Change] = []
            if links:
                changes.append({"table": "image_tags", "op": "delete_rows", "columns": list(LINK_COLUMNS),
                                "rows": links})
            gained = self._link_changes([int(r[1]) for r in links], dst.id)  # type: ignore[call-overload]
            changes += gained
            changes.append({"table": "tags", "op": "delete", "row": row_dict(conn, "tags", src.id)})
            moved = len(gained[0]["rows"]) if gained else 0
            self.log.record("tag.merge",
                            f"merged tag {src.name!r} into {dst.name!r} ({counted(moved, 'image')} gained it)",
                            changes)
        return moved

    # -- tagging images -----------------------------------------------------------------------------------------------
    def _link_changes(self, image_ids: Sequence[int], tag_id: int) -> list[Change]:
        """The change linking ``tag_id`` to those images that lack it (none when all have it)."""
        ids = list(dict.fromkeys(image_ids))
        have = {int(r[1]) for r in self._links(tag_id, ids)}  # type: ignore[call-overload]
        todo = [i for i in ids if i not in have]
        if not todo:
            return []
        now = time.time()
        link_ids = self.log.next_ids("image_tags", len(todo))
        return [{"table": "image_tags", "op": "insert_rows", "columns": list(LINK_COLUMNS),
                 "rows": [[lid, iid, tag_id, now] for lid, iid in zip(link_ids, todo)]}]

    def _check_images(self, image_ids: Sequence[int]) -> list[int]:
        ids = list(dict.fromkeys(int(i) for i in image_ids))
        found: set[int] = set()
        for part in _chunks(ids):
            found.update(r[0] for r in self.db.execute(
                f"SELECT id FROM images WHERE id IN ({', '.join('?' * len(part))})", part))
        missing = [i for i in ids if i not in found]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise NotFoundError(f"no image {', '.join(map(str, missing[:5]))}{more}")
        return ids

    def tag(self, image_ids: Iterable[int], ref: TagRef, create: bool = False, color: Optional[str] = None) -> int:
        """Put a tag on images (one undo step; images that have it already are left); return how many gained it.

        ``create``: when no tag has that name, create it in the same step (``color`` for the new tag)."""
        with transaction(self.db):
            ids = self._check_images(list(image_ids))
            changes: list[Change] = []
            info = self.find(ref) if isinstance(ref, str) and create else None
            if isinstance(ref, str) and create and info is None:
                row, change = self._new_tag(ref, color)
                changes.append(change)
                tag_id, name = int(row["id"]), str(row["name"])  # type: ignore[call-overload]
            else:
                info = info or self.get(ref)
                tag_id, name = info.id, info.name
            links = self._link_changes(ids, tag_id)
            changes += links
            count = len(links[0]["rows"]) if links else 0
            if changes:
                self.log.record("image.tag", f"tagged {counted(count, 'image')} with {name!r}", changes)
        return count

    def untag(self, image_ids: Iterable[int], ref: TagRef) -> int:
        """Take a tag off images (one undo step); return how many had it."""
        with transaction(self.db):
            ids = self._check_images(list(image_ids))
            info = self.get(ref)
            links = self._links(info.id, ids)
            if links:
                self.log.record("image.untag", f"removed tag {info.name!r} from {counted(len(links), 'image')}", [
                    {"table": "image_tags", "op": "delete_rows", "columns": list(LINK_COLUMNS), "rows": links}])
        return len(links)

    def from_class(self, ref: ClassRef) -> tuple[TagInfo, int]:
        """Turn a class used only as an image-level label (annotations of kind ``tag``, nothing drawn) into a
        vocabulary tag of the same name, as one undo step: its images get the tag (an existing tag of that name is
        reused), its tag annotations and the class itself are deleted. Returns the tag and how many images have it.
        Refused while boxes or polygons use the class."""
        with transaction(self.db) as conn:
            info_class = ClassManager(self.db, self.log).get(ref)
            class_id, name = info_class.id, info_class.name
            drawn = conn.execute("SELECT COUNT(*) FROM annotations WHERE class_id = ? AND kind != 'tag'",
                                 [class_id]).fetchone()[0]
            if drawn:
                raise ValidationError(f"class {name!r} is used by {drawn} boxes or polygons; only a class used "
                                      "as an image-level label alone can become a tag")
            cur = conn.execute("SELECT * FROM annotations WHERE class_id = ? ORDER BY id", [class_id])
            cols = [d[0] for d in cur.description]
            annotations = [list(v) for v in cur.fetchall()]
            changes: list[Change] = []
            if annotations:
                changes.append({"table": "annotations", "op": "delete_rows", "columns": cols, "rows": annotations})
            changes.append({"table": "classes", "op": "delete", "row": row_dict(conn, "classes", class_id)})
            info = self.find(name)
            if info is None:
                new, change = self._new_tag(name, None)
                changes.append(change)
                tag_id = int(new["id"])  # type: ignore[call-overload]
            else:
                tag_id = info.id
            images = list(dict.fromkeys(int(a[cols.index("image_id")]) for a in annotations))
            changes += self._link_changes(images, tag_id)
            self.log.record("tag.from_class",
                            f"turned class {name!r} into a tag ({counted(len(images), 'image')})", changes)
        return self.get(tag_id), len(images)
