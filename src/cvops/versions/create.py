"""Dataset versions: frozen, content-addressed snapshots of images, annotations, the class schema and splits.

A version is a set of per-image *states*. A state (table ``version_states``) freezes one image: its content hash,
size, file name, split and its annotations as canonical JSON; the state's key is the sha256 of all of that, so an
image that did not change between two versions shares one state row. A version (``versions``) lists its states
(``version_members``), its class schema (``version_classes``) and a content hash over the sorted member keys, the
class schema and the split ratios: the same content gives the same hash, and creating a version of unchanged content
returns the existing one.

Creating a version is incremental: only images named by the operations done, undone or redone since the latest
version (the ``audit`` table, so an undo counts as a change), and images that entered or left the filtered set,
get new states. Images already in a version keep their split unless a re-split is asked for; new images get theirs
from :func:`cvops.data.splits.assign_splits`, grouped by :func:`cvops.data.splits.groups` (perceptual hashes are computed
only for the new images and kept in ``image_phash``).

Read-side helpers (listing, the states and files of a version's images, per-split counts) are here; the comparison
of two versions is in :mod:`cvops.versions.diff`, export data and materialization for training in
:mod:`cvops.versions.materialize`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple, Optional, Sequence, Union

from cvops.catalog.db import transaction
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

DEFAULT_RATIOS = "80/10/10"
ROUND = 6
VersionRef = Union[int, str]


class VersionState(NamedTuple):
    """One image frozen in a version (a ``version_states`` row, less its key)."""

    image_id: int
    sha256: str
    width: int
    height: int
    file_name: str
    split: str
    annotations: str  # canonical JSON (see :func:`canonical_annotation`)


class VersionImage(NamedTuple):
    """An image of a version as :func:`version_images` gives it: its frozen split and decoded annotations."""

    image_id: int
    sha256: str
    split: str
    annotations: list[dict[str, Any]]


class MemberFile(NamedTuple):
    """A version member's frozen state and the file that holds its bytes now (see :func:`member_files`)."""

    state: VersionState
    path: Path


class EmptyVersionError(ValidationError):
    """A version would hold no image; the message says why (the filter, and what the workspace holds). CLI exit 1."""

    code = "empty_version"
    exit_code = 1


@dataclass(frozen=True)
class VersionInfo:
    """One version. ``created`` is False when :func:`create_version` found identical content in an existing one."""

    id: int
    name: str
    message: str
    created_at: float
    content_hash: str
    seed: int
    ratios: Any
    filter: Any
    parent_id: Optional[int]
    stats: dict[str, Any]
    created: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _r(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(float(value), ROUND)


def canonical_annotation(ann_id: int, class_id: int, kind: str, x: Optional[float], y: Optional[float],
                         w: Optional[float], h: Optional[float], points: Optional[str],
                         attributes: Optional[str]) -> dict[str, Any]:
    """One annotation row as the canonical dict frozen in a state (coordinates rounded to 1e-6)."""
    pts = json.loads(points) if points else None
    return {"id": ann_id, "class_id": class_id, "kind": kind,
            "box": [_r(x), _r(y), _r(w), _r(h)] if kind == "box" else None,
            "points": [[_r(p[0]), _r(p[1])] for p in pts] if pts else None,
            "attributes": json.loads(attributes) if attributes else {}}


def state_hash(row: VersionState) -> str:
    """The key of a state: sha256 over every frozen field."""
    return hashlib.sha256("\x1f".join(str(v) for v in row).encode()).hexdigest()


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def _live_ids(ws: "Workspace", statuses: Optional[Sequence[str]]) -> set[int]:
    from cvops.data.images import ImageFilter

    return set(ws.images.ids(ImageFilter(statuses=tuple(statuses) if statuses else None)))


def _image_data(ws: "Workspace", ids: Sequence[int]) -> dict[int, tuple[tuple[Any, ...], list[dict[str, Any]]]]:
    """(sha256, width, height, file_name) and canonical annotations of each image, read in chunks."""
    out: dict[int, tuple[tuple[Any, ...], list[dict[str, Any]]]] = {}
    q = ws.db.execute
    for part in _chunks(sorted(ids)):
        marks = ", ".join("?" * len(part))
        for iid, sha, w, h, name in q(f"SELECT id, sha256, width, height, file_name FROM images WHERE id IN ({marks})",
                                      part):
            out[iid] = ((sha, w, h, name), [])
        for row in q(f"SELECT image_id, id, class_id, kind, x, y, w, h, points, attributes FROM annotations "
                     f"WHERE image_id IN ({marks}) AND source = 'manual' ORDER BY image_id, id", part):
            out[row[0]][1].append(canonical_annotation(*row[1:]))
    return out


def _touched_since(ws: "Workspace", audit_id: int) -> set[int]:
    """Images named by operations done, undone or redone after audit entry ``audit_id``."""
    touched: set[int] = set()
    for (changes,) in ws.db.execute(
            "SELECT o.changes FROM operations o WHERE o.id IN (SELECT operation_id FROM audit WHERE id > ?)",
            [audit_id]):
        for change in json.loads(changes):
            table = change["table"]
            if table not in ("annotations", "images"):
                continue
            key = "image_id" if table == "annotations" else "id"
            if "rows" in change:
                at = change["columns"].index(key)
                touched.update(r[at] for r in change["rows"])
            elif "row" in change:
                touched.add(change["row"][key])
            elif table == "images":
                touched.add(change["id"])
            else:
                row = ws.db.execute("SELECT image_id FROM annotations WHERE id = ?", [change["id"]]).fetchone()
                touched.update([row[0]] if row else [])
                touched.update(v for v in (change["before"].get("image_id"), change["after"].get("image_id")) if v)
    return touched


def _class_schema(ws: "Workspace") -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "color": c.color, "position": i} for i, c in enumerate(ws.classes.list())]


def _hints(ws: "Workspace", ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    rows = ws.db.execute("SELECT image_id, split FROM split_hints h WHERE recorded_at = "
                         "(SELECT MAX(recorded_at) FROM split_hints WHERE image_id = h.image_id)").fetchall()
    return {i: s for i, s in rows if i in wanted}


def _assign(ws: "Workspace", data: dict[int, tuple[tuple[Any, ...], list[dict[str, Any]]]], ids: Sequence[int],
            ratios: Any, seed: int, keep: dict[int, str], grouping: bool,
            fixed: Optional[dict[int, str]] = None) -> dict[int, str]:
    """Splits for ``ids`` (those in ``keep`` keep theirs; new images follow their video or near duplicates among
    the already split images ``fixed``), via :mod:`cvops.data.splits`."""
    from cvops.data import splits

    if not ids:
        return {}
    group_of: dict[Any, str] = {}
    if grouping:
        group_of, phashes = splits.groups(ws, list(ids))
        ws.db.conn.executemany("INSERT OR REPLACE INTO image_phash (image_id, phash) VALUES (?, ?)",
                               [(i, p - (1 << 64) if p >= 1 << 63 else p) for i, p in phashes.items()])
        keep = {**_follow_existing(ws, ids, phashes, fixed or {}), **keep}
    items = [splits.SplitItem(i, frozenset(a["class_id"] for a in data[i][1]), str(group_of.get(i, f"image:{i}")))
             for i in ids]
    return dict(splits.assign_splits(items, ratios, seed, keep=keep or None))


def _follow_existing(ws: "Workspace", ids: Sequence[int], phashes: dict[int, int],
                     fixed: dict[int, str]) -> dict[int, str]:
    """Splits for new images that belong with images already split: frames of the same video, and near duplicates
    (by the perceptual hashes cached when those images were first grouped), so nothing leaks between splits."""
    from cvops.data import splits

    if not fixed:
        return {}
    follow: dict[int, str] = {}
    known: dict[int, int] = {}
    for part in _chunks(list(fixed)):
        for image_id, phash in ws.db.execute(
                f"SELECT image_id, phash FROM image_phash WHERE image_id IN ({', '.join('?' * len(part))})", part):
            known[image_id] = phash & ((1 << 64) - 1)
    for a, b in splits.near_duplicate_pairs({**known, **phashes}, 4):
        new, old = (a, b) if a in phashes and b in known else (b, a) if b in phashes and a in known else (None, None)
        if new is not None and new not in follow:
            follow[new] = fixed[old]
    for part in _chunks(list(ids)):
        for image_id, video_id in ws.db.execute(
                f"SELECT id, video_id FROM images WHERE video_id IS NOT NULL AND id IN ({', '.join('?' * len(part))})",
                part).fetchall():
            sibling = ws.db.execute(
                "SELECT id FROM images WHERE video_id = ? AND id != ? ORDER BY id", [video_id, image_id]).fetchall()
            split = next((fixed[r[0]] for r in sibling if r[0] in fixed), None)
            if split is not None and image_id not in follow:
                follow[image_id] = split
    return follow


def _stats_add(stats: dict[str, Any], split: str, anns: list[dict[str, Any]], sign: int) -> None:
    stats["images"][split] = stats["images"].get(split, 0) + sign
    per = stats["annotations"]
    for ann in anns:
        cls = per.setdefault(str(ann["class_id"]), {})
        cls[split] = cls.get(split, 0) + sign


def _split_key(item: tuple[str, Any]) -> tuple[int, str]:
    """train, val, test first, then other split names alphabetically."""
    return {"train": 0, "val": 1, "test": 2}.get(item[0], 3), item[0]


def _clean_stats(stats: dict[str, Any]) -> dict[str, Any]:
    images = {s: n for s, n in sorted(stats["images"].items(), key=_split_key) if n}
    anns = {c: {s: n for s, n in sorted(v.items(), key=_split_key) if n}
            for c, v in sorted(stats["annotations"].items(), key=lambda kv: int(kv[0]))}
    return {"images": images, "annotations": {c: v for c, v in anns.items() if v}}


def content_hash(member_hashes: Iterable[str], schema: list[dict[str, Any]], ratios: Any) -> str:
    """The content hash of a version: sorted member state keys, the class schema and the split ratios."""
    digest = hashlib.sha256()
    for key in sorted(member_hashes):
        digest.update(key.encode())
    digest.update(_dumps(schema).encode())
    digest.update(_dumps(ratios).encode())
    return digest.hexdigest()


def create_version(ws: "Workspace", message: str, ratios: Optional[str] = None, seed: int = 0,
                   statuses: Optional[Sequence[str]] = None, resplit: bool = False, use_hints: bool = False,
                   progress: Optional[Callable[[float, str], None]] = None, cancel: Optional[CancelToken] = None,
                   grouping: bool = True, incremental: bool = True) -> VersionInfo:
    """Freeze the (status-filtered) live images, annotations, class schema and splits as a new version.

    Returns the existing version when the content is identical (``created`` False). ``resplit`` assigns every split
    afresh; ``use_hints`` gives every image the split its latest dataset import recorded (a hint wins over the split
    it had in an earlier version: the split is part of the content, so this makes a new version). Raises
    :class:`EmptyVersionError` when no image matches. ``grouping``
    False skips near-duplicate grouping (each image its own group); ``incremental`` False recomputes every state
    (the result is the same; for checks and benchmarks). Images held by a benchmark set
    (:func:`benchmark_image_ids`) are left out of the version altogether.
    """
    from cvops.data import splits

    progress = progress or (lambda f, m: None)
    cancel = cancel or CancelToken()
    parsed = splits.parse_ratios(ratios or DEFAULT_RATIOS)
    wanted = sorted(set(statuses)) if statuses else None
    progress(0.0, "reading")
    with transaction(ws.db) as conn:
        parent = conn.execute("SELECT id, last_audit_id FROM versions ORDER BY id DESC LIMIT 1").fetchone()
        audit_now = conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit").fetchone()[0]
        live = _live_ids(ws, wanted)
        if not live:
            raise EmptyVersionError(empty_reason(ws, wanted))
        held = benchmark_image_ids(ws, live)
        if held and not live - held:
            raise EmptyVersionError(f"every image matching the filter ({len(held)}) is held by a benchmark set; "
                                    "a version needs at least one image outside them")
        live -= held
        hinted = _hints(ws, live) if use_hints else {}
        prev: dict[int, str] = {}  # image_id -> state hash in the parent
        if parent is not None:
            prev = dict(conn.execute("SELECT image_id, state_hash FROM version_members WHERE version_id = ?",
                                     [parent[0]]))
        if incremental and not resplit and parent is not None:
            touched = _touched_since(ws, parent[1]) | (live - prev.keys()) | hinted.keys()
            todo = sorted(i for i in live if i in touched)
        else:
            todo = sorted(live)
        cancel.raise_if_cancelled()
        data = _image_data(ws, todo)
        split_of = {} if resplit else _parent_splits(ws, parent[0] if parent else None, [i for i in todo if i in prev])
        fresh = [i for i in todo if i not in split_of]
        if fresh and not resplit:
            split_of.update(_earlier_splits(ws, fresh))
            fresh = [i for i in fresh if i not in split_of]
        progress(0.3, "assigning splits")
        keep = {i: s for i, s in hinted.items() if resplit or i in fresh}
        if resplit:
            split_of = _assign(ws, data, todo, parsed, seed, keep, grouping)
        else:
            fixed = dict(split_of)
            if parent is not None and fresh and grouping:  # every image already in a version, for grouping
                fixed = {**_parent_splits(ws, parent[0], list(prev)), **fixed}
            split_of.update(_assign(ws, data, fresh, parsed, seed, keep, grouping, fixed=fixed))
            split_of.update({i: s for i, s in hinted.items() if i in split_of})  # hints win over sticky splits
        cancel.raise_if_cancelled()
        progress(0.6, "freezing")
        new_states: dict[int, tuple[str, VersionState]] = {}
        for iid in todo:
            (sha, w, h, name), anns = data[iid]
            row = VersionState(iid, sha, w, h, name, split_of[iid], _dumps(anns))
            new_states[iid] = (state_hash(row), row)
        members = {i: prev[i] for i in live if i not in new_states}
        members.update({i: k for i, (k, _) in new_states.items()})
        schema = _class_schema(ws)
        chash = content_hash(members.values(), schema, parsed)
        existing = conn.execute("SELECT id FROM versions WHERE content_hash = ?", [chash]).fetchone()
        if existing is not None:
            info = get_version(ws, existing[0])
            return VersionInfo(**{**asdict(info), "created": False})
        stats = _version_stats(ws, parent[0] if parent is not None else None, prev, members, new_states)
        conn.executemany("INSERT OR IGNORE INTO version_states (hash, image_id, sha256, width, height, file_name, "
                         "split, annotations) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [(k, *row) for k, row in new_states.values()])
        number = conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0] + 1
        while conn.execute("SELECT 1 FROM versions WHERE name = ?", [f"v{number}"]).fetchone():
            number += 1
        cur = conn.execute(
            "INSERT INTO versions (name, message, created_at, content_hash, seed, ratios, filter, parent_id, "
            "last_audit_id, stats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [f"v{number}", message, time.time(), chash, seed, _dumps(parsed), _dumps({"status": wanted}),
             parent[0] if parent is not None else None, audit_now, _dumps(stats)])
        vid = int(cur.lastrowid)
        _insert_members(conn, vid, parent[0] if parent is not None else None, prev, members)
        conn.executemany("INSERT INTO version_classes (version_id, class_id, name, color, position) "
                         "VALUES (?, ?, ?, ?, ?)", [(vid, c["id"], c["name"], c["color"], c["position"])
                                                    for c in schema])
    progress(1.0, "done")
    return get_version(ws, vid)


def benchmark_image_ids(ws: "Workspace", ids: Iterable[int]) -> set[int]:
    """The images among ``ids`` that a benchmark set holds: its members, and images with the same bytes (sha256) as
    a member. :func:`create_version` leaves them out, so no later version trains or validates on a benchmark."""
    wanted = set(ids)
    if not ws.db.execute("SELECT 1 FROM benchmark_members LIMIT 1").fetchone():
        return set()
    held = {i for (i,) in ws.db.execute("SELECT DISTINCT image_id FROM benchmark_members") if i in wanted}
    held.update(i for (i,) in ws.db.execute(
        "SELECT id FROM images WHERE sha256 IN (SELECT sha256 FROM benchmark_members)") if i in wanted)
    return held


def empty_reason(ws: "Workspace", statuses: Optional[Sequence[str]], what: str = "a version") -> str:
    """Why ``what`` (a version, an export) would be empty: the status filter and the images per status the
    workspace holds."""
    by_status = {s: n for s, n in ws.images.counts_by_status().items() if n}
    if not by_status:
        return f"no images in the workspace: {what} needs at least one image (import some first)"
    held = ", ".join(f"{n} {s}" for s, n in by_status.items())
    return (f"no image has status {' or '.join(statuses or [])}: {what} needs at least one image (the workspace "
            f"holds {held}; mark images done or change the status filter)")


def _parent_splits(ws: "Workspace", parent_id: Optional[int], ids: Sequence[int]) -> dict[int, str]:
    """The split each of ``ids`` has in the parent version."""
    out: dict[int, str] = {}
    for part in _chunks(list(ids)):
        out.update(ws.db.execute(
            f"SELECT m.image_id, s.split FROM version_members m JOIN version_states s ON s.hash = m.state_hash "
            f"WHERE m.version_id = ? AND m.image_id IN ({', '.join('?' * len(part))})", [parent_id, *part]))
    return out


def _insert_members(conn: Any, vid: int, parent_id: Optional[int], prev: dict[int, str],
                    members: dict[int, str]) -> None:
    """Store the members of version ``vid``: the parent's rows copied in SQL, then only the differences applied."""
    if parent_id is None:
        conn.executemany("INSERT INTO version_members (version_id, image_id, state_hash) VALUES (?, ?, ?)",
                         [(vid, i, k) for i, k in members.items()])
        return
    conn.execute("INSERT INTO version_members (version_id, image_id, state_hash) SELECT ?, image_id, state_hash "
                 "FROM version_members WHERE version_id = ?", [vid, parent_id])
    conn.executemany("DELETE FROM version_members WHERE version_id = ? AND image_id = ?",
                     [(vid, i) for i in prev.keys() - members.keys()])
    conn.executemany("INSERT OR REPLACE INTO version_members (version_id, image_id, state_hash) VALUES (?, ?, ?)",
                     [(vid, i, k) for i, k in members.items() if prev.get(i) != k])


def _earlier_splits(ws: "Workspace", ids: Sequence[int]) -> dict[int, str]:
    """The split each image had in its most recently frozen state, for images that were in an earlier version."""
    out: dict[int, str] = {}
    for part in _chunks(list(ids)):
        out.update(ws.db.execute(
            f"SELECT image_id, split FROM version_states WHERE rowid IN (SELECT MAX(rowid) FROM version_states "
            f"WHERE image_id IN ({', '.join('?' * len(part))}) GROUP BY image_id)", part).fetchall())
    return out


def _version_stats(ws: "Workspace", parent_id: Optional[int], prev: dict[int, str],
                   members: dict[int, str], new_states: dict[int, tuple[str, VersionState]]) -> dict[str, Any]:
    """Images per split and annotations per class and split: the parent's stats adjusted by the states that left
    and came, or counted from scratch for a first version."""
    if parent_id is None:
        stats: dict[str, Any] = {"images": {}, "annotations": {}}
    else:
        stats = json.loads(ws.db.execute("SELECT stats FROM versions WHERE id = ?", [parent_id]).fetchone()[0])
        gone = [k for i, k in prev.items() if members.get(i) != k]
        for part in _chunks(gone):  # type: ignore[arg-type]
            for split, anns in ws.db.execute(
                    f"SELECT split, annotations FROM version_states WHERE hash IN ({', '.join('?' * len(part))})",
                    part):
                _stats_add(stats, split, json.loads(anns), -1)
    for iid, (key, row) in new_states.items():
        if parent_id is None or prev.get(iid) != key:
            _stats_add(stats, row.split, json.loads(row.annotations), 1)
    return _clean_stats(stats)


# -- reading ----------------------------------------------------------------------------------------------------------
_COLS = "id, name, message, created_at, content_hash, seed, ratios, filter, parent_id, stats"


def _info(row: Sequence[Any]) -> VersionInfo:
    vid, name, message, created_at, chash, seed, ratios, flt, parent_id, stats = row
    return VersionInfo(vid, name, message, created_at, chash, seed, json.loads(ratios), json.loads(flt), parent_id,
                       json.loads(stats))


def list_versions(ws: "Workspace") -> list[VersionInfo]:
    """Every version, oldest first."""
    return [_info(r) for r in ws.db.execute(f"SELECT {_COLS} FROM versions ORDER BY id")]


def get_version(ws: "Workspace", ref: VersionRef) -> VersionInfo:
    """A version by name (``v3``), id, or a content-hash prefix (at least 6 characters, unambiguous)."""
    q = ws.db.execute
    text = str(ref).strip()
    row = None
    if isinstance(ref, int) or text.isdigit():
        row = q(f"SELECT {_COLS} FROM versions WHERE id = ?", [int(text)]).fetchone()
    if row is None:
        row = q(f"SELECT {_COLS} FROM versions WHERE name = ?", [text]).fetchone()
    if row is None and len(text) >= 6:
        rows = q(f"SELECT {_COLS} FROM versions WHERE content_hash LIKE ?", [text.lower() + "%"]).fetchall()
        if len(rows) > 1:
            raise ValidationError(f"version hash prefix {text!r} is ambiguous")
        row = rows[0] if rows else None
    if row is None:
        raise NotFoundError(f"no version {text!r} (use a name like v1, an id, or a content-hash prefix)")
    return _info(row)


_STATE_COLS = "s.image_id, s.sha256, s.width, s.height, s.file_name, s.split, s.annotations"


def version_states(ws: "Workspace", ref: VersionRef) -> dict[int, VersionState]:
    """The frozen state of every image of a version, by image id."""
    vid = get_version(ws, ref).id
    states = (VersionState(*r) for r in ws.db.execute(
        f"SELECT {_STATE_COLS} FROM version_members m JOIN version_states s ON s.hash = m.state_hash "
        "WHERE m.version_id = ?", [vid]))
    return {s.image_id: s for s in states}


def version_images(ws: "Workspace", ref: VersionRef) -> list[VersionImage]:
    """Every image of a version (id, content hash, split, annotations), in image id order."""
    states = version_states(ws, ref)
    return [VersionImage(i, s.sha256, s.split, json.loads(s.annotations)) for i, s in sorted(states.items())]


def member_files(ws: "Workspace", version_id: int) -> Iterator[MemberFile]:
    """Every member of a version with the file holding its bytes, in image id order: the image's store blob or
    in-place original; for an image no longer in the catalog (emptied from the trash), its blob while the store still
    holds it, else the blob path it had (which does not exist: callers leave such members out)."""
    for row in ws.db.execute(
            f"SELECT {_STATE_COLS}, i.format, i.in_place, i.original_path FROM version_members m "
            "JOIN version_states s ON s.hash = m.state_hash LEFT JOIN images i ON i.sha256 = s.sha256 "
            "WHERE m.version_id = ? ORDER BY s.image_id", [version_id]):
        state, (fmt, in_place, original) = VersionState(*row[:7]), row[7:]
        if fmt is not None:
            path = ws.store.image_file(state.sha256, fmt, in_place, original)
        else:
            path = ws.store.find(state.sha256) or ws.store.path(state.sha256, "")
        yield MemberFile(state, path)


def version_classes(ws: "Workspace", ref: VersionRef) -> list[dict[str, Any]]:
    """The frozen class schema of a version, in order: ``{id, name, color, position}``."""
    vid = get_version(ws, ref).id
    return [{"id": i, "name": n, "color": c, "position": p} for i, n, c, p in ws.db.execute(
        "SELECT class_id, name, color, position FROM version_classes WHERE version_id = ? ORDER BY position", [vid])]


def version_summary(ws: "Workspace", ref: VersionRef) -> dict[str, Any]:
    """A version with its classes, images per split and annotations per class name and split."""
    info = get_version(ws, ref)
    classes = version_classes(ws, info.id)
    names = {str(c["id"]): c["name"] for c in classes}
    per_class = {names.get(k, k): v for k, v in info.stats["annotations"].items()}
    return {**info.to_dict(), "classes": classes, "images_per_split": info.stats["images"],
            "images": sum(info.stats["images"].values()), "annotations_per_class": per_class}
