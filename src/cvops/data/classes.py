"""The label schema: classes with stable integer ids (never reused), unique case-insensitive names, colors,
order and descriptions. Every change is one transaction recorded in the operation log, so it can be undone.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Optional, Union

from cvops.catalog.db import Database, transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.text import counted
from cvops.catalog.oplog import Change, OperationLog, row_dict

# A qualitative palette that stays distinguishable on photos (Tableau 20, reordered for contrast).
PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe", "#008080",
    "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075", "#808080", "#ffe119",
)
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_NAME = 200

ClassRef = Union[int, str]


@dataclass(frozen=True)
class ClassInfo:
    """One class of the label schema."""

    id: int
    name: str
    color: str
    position: int
    description: str


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValidationError(f"class name must be text, not {type(name).__name__}")
    clean = name.strip()
    if not clean:
        raise ValidationError("class name is empty")
    if len(clean) > MAX_NAME:
        raise ValidationError(f"class name is longer than {MAX_NAME} characters")
    if any(ch in clean for ch in "\n\r\t\x00"):
        raise ValidationError(f"class name {clean!r} contains a control character")
    return clean


def _check_color(color: str) -> str:
    if not isinstance(color, str) or not _COLOR.match(color):
        raise ValidationError(f"color {color!r} is not of the form #rrggbb")
    return color.lower()


class ClassManager:
    """Reads and changes the classes of one workspace."""

    def __init__(self, db: Database, log: OperationLog) -> None:
        self.db = db
        self.log = log

    # -- reading ------------------------------------------------------------------------------------------------------
    def list(self) -> list[ClassInfo]:
        """All classes in display order."""
        rows = self.db.execute(
            "SELECT id, name, color, position, description FROM classes ORDER BY position, id"
        ).fetchall()
        return [ClassInfo(*r) for r in rows]

    def get(self, ref: ClassRef) -> ClassInfo:
        """A class by id or (case-insensitive) name."""
        if isinstance(ref, bool):
            raise NotFoundError(f"no class {ref!r}")
        if isinstance(ref, int):
            row = self.db.execute(
                "SELECT id, name, color, position, description FROM classes WHERE id = ?", [ref]
            ).fetchone()
        else:
            row = self.db.execute(
                "SELECT id, name, color, position, description FROM classes WHERE name = ? COLLATE NOCASE",
                [str(ref).strip()],
            ).fetchone()
            if row is None and str(ref).strip().isdigit():
                return self.get(int(str(ref).strip()))
        if row is None:
            raise NotFoundError(f"no class {ref!r}")
        return ClassInfo(*row)

    def find(self, name: str) -> Optional[ClassInfo]:
        """A class by case-insensitive name, or None."""
        row = self.db.execute(
            "SELECT id, name, color, position, description FROM classes WHERE name = ? COLLATE NOCASE", [name.strip()]
        ).fetchone()
        return ClassInfo(*row) if row else None

    def usage(self) -> dict[int, dict[str, int]]:
        """Per class id: number of annotations and of images using it."""
        out = {c.id: {"annotations": 0, "images": 0} for c in self.list()}
        for class_id, n_ann, n_img in self.db.execute(
            "SELECT class_id, COUNT(*), COUNT(DISTINCT image_id) FROM annotations GROUP BY class_id"
        ):
            out[class_id] = {"annotations": n_ann, "images": n_img}
        return out

    def tag_class_ids(self) -> list[int]:
        """Ids of the classes used as an image-level tag on some image, in display order."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM classes c WHERE EXISTS (SELECT 1 FROM annotations a WHERE a.class_id = c.id "
            "AND a.kind = 'tag') ORDER BY position, id")]

    # -- changing -----------------------------------------------------------------------------------------------------
    def add(self, name: str, color: Optional[str] = None, description: str = "") -> ClassInfo:
        """Add a class at the end of the order; the name must be new (case-insensitive)."""
        name = _check_name(name)
        with transaction(self.db) as conn:
            if self.find(name):
                raise ValidationError(f"a class named {self.find(name).name!r} already exists")
            count, max_pos = conn.execute("SELECT COUNT(*), COALESCE(MAX(position), -1) FROM classes").fetchone()
            color = _check_color(color) if color else PALETTE[count % len(PALETTE)]
            row = {"name": name, "color": color, "position": max_pos + 1, "description": description or "",
                   "created_at": time.time()}
            _, done = self.log.record("class.add", f"added class {name!r}", [{"table": "classes", "op": "insert",
                                                                             "row": row}])
        return self.get(int(done[0]["row"]["id"]))

    def ensure(self, name: str) -> ClassInfo:
        """The class of that name, created when missing."""
        return self.find(name) or self.add(name)

    def _update(self, ref: ClassRef, action: str, description: str, **after: object) -> ClassInfo:
        with transaction(self.db) as conn:
            info = self.get(ref)
            before = row_dict(conn, "classes", info.id)
            self.log.record(action, description.format(name=info.name), [
                {"table": "classes", "op": "update", "id": info.id, "before": {k: before[k] for k in after},
                 "after": after}])
        return self.get(info.id)

    def rename(self, ref: ClassRef, new_name: str) -> ClassInfo:
        """Rename a class; the id stays the same. Refused when another class has that name."""
        new_name = _check_name(new_name)
        other = self.find(new_name)
        info = self.get(ref)
        if other and other.id != info.id:
            raise ValidationError(f"a class named {other.name!r} already exists; merge instead of renaming")
        return self._update(info.id, "class.rename", f"renamed class {{name!r}} to {new_name!r}", name=new_name)

    def recolor(self, ref: ClassRef, color: str) -> ClassInfo:
        """Change a class's color (#rrggbb)."""
        return self._update(ref, "class.recolor", f"recoloured class {{name!r}} to {color}", color=_check_color(color))

    def describe(self, ref: ClassRef, description: str) -> ClassInfo:
        """Change a class's description."""
        return self._update(ref, "class.describe", "described class {name!r}", description=str(description))

    def reorder(self, ordered: list[ClassRef]) -> list[ClassInfo]:
        """Set the display order: ``ordered`` must name every class exactly once."""
        with transaction(self.db):
            current = self.list()
            ids = [self.get(r).id for r in ordered]
            if sorted(ids) != sorted(c.id for c in current) or len(set(ids)) != len(ids):
                raise ValidationError("reorder must list every class exactly once")
            pos = {c.id: c.position for c in current}
            changes: list[Change] = [
                {"table": "classes", "op": "update", "id": cid, "before": {"position": pos[cid]},
                 "after": {"position": i}}
                for i, cid in enumerate(ids) if pos[cid] != i
            ]
            if changes:
                self.log.record("class.reorder", "reordered the classes", changes)
        return self.list()

    def merge(self, source: ClassRef, target: ClassRef) -> int:
        """Move every annotation of ``source`` to ``target`` and delete ``source``; return the number moved.

        An image tag that would become a duplicate of an existing ``target`` tag is removed instead of moved.
        """
        with transaction(self.db) as conn:
            src, dst = self.get(source), self.get(target)
            if src.id == dst.id:
                raise ValidationError("cannot merge a class into itself")
            changes: list[Change] = []
            tagged = {r[0] for r in conn.execute(
                "SELECT image_id FROM annotations WHERE class_id = ? AND kind = 'tag'", [dst.id])}
            moved = 0
            cur = conn.execute("SELECT * FROM annotations WHERE class_id = ?", [src.id])
            cols = [d[0] for d in cur.description]
            now = time.time()
            for values in cur.fetchall():
                row = dict(zip(cols, values))
                if row["kind"] == "tag" and row["image_id"] in tagged:
                    changes.append({"table": "annotations", "op": "delete", "row": row})
                    continue
                changes.append({"table": "annotations", "op": "update", "id": row["id"],
                                "before": {"class_id": src.id, "updated_at": row["updated_at"]},
                                "after": {"class_id": dst.id, "updated_at": now}})
                moved += 1
            changes.append({"table": "classes", "op": "delete", "row": row_dict(conn, "classes", src.id)})
            self.log.record("class.merge",
                            f"merged class {src.name!r} into {dst.name!r} ({counted(moved, 'annotation')})",
                            changes)
        return moved

    def delete(self, ref: ClassRef, reassign_to: Optional[ClassRef] = None, drop: bool = False) -> dict[str, int]:
        """Delete a class. Refused while annotations use it, unless ``reassign_to`` (merge) or ``drop`` is given.

        Returns counts: ``{"reassigned": n, "dropped": m}``.
        """
        if reassign_to is not None and drop:
            raise ValidationError("choose either reassign or drop, not both")
        if reassign_to is not None:
            return {"reassigned": self.merge(ref, reassign_to), "dropped": 0}
        with transaction(self.db) as conn:
            info = self.get(ref)
            cur = conn.execute("SELECT * FROM annotations WHERE class_id = ?", [info.id])
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, v)) for v in cur.fetchall()]
            if rows and not drop:
                images = len({r["image_id"] for r in rows})
                raise ValidationError(
                    f"class {info.name!r} is used by {len(rows)} annotations on {images} images; "
                    "reassign them to another class or drop them"
                )
            changes: list[Change] = [{"table": "annotations", "op": "delete", "row": r} for r in rows]
            changes.append({"table": "classes", "op": "delete", "row": row_dict(conn, "classes", info.id)})
            self.log.record("class.delete",
                            f"deleted class {info.name!r} ({counted(len(rows), 'annotation')} dropped)", changes)
        return {"reassigned": 0, "dropped": len(rows)}
