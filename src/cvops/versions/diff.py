"""Comparing two dataset versions.

:func:`diff_versions` reads only the states that differ between the two versions (shared states are skipped by
key), so its cost follows the size of the change. A version's export data and its materialization for training are
in :mod:`cvops.versions.materialize`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cvops.versions.create import VersionRef, get_version, version_classes

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

ANNOTATION_FIELDS = ("class_id", "kind", "box", "points", "attributes")


def _member_keys(ws: "Workspace", version_id: int) -> set[str]:
    return {r[0] for r in ws.db.execute("SELECT state_hash FROM version_members WHERE version_id = ?", [version_id])}


def _states(ws: "Workspace", keys: set[str]) -> dict[int, tuple[str, list[dict[str, Any]]]]:
    """image_id -> (split, annotations) of the given state keys."""
    out: dict[int, tuple[str, list[dict[str, Any]]]] = {}
    wanted = sorted(keys)
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        for iid, split, anns in ws.db.execute(
                f"SELECT image_id, split, annotations FROM version_states WHERE hash IN ({', '.join('?' * len(part))})",
                part):
            out[iid] = (split, json.loads(anns))
    return out


def _count(target: dict[int, int], anns: list[dict[str, Any]], sign: int) -> None:
    for ann in anns:
        target[ann["class_id"]] = target.get(ann["class_id"], 0) + sign


def diff_versions(ws: "Workspace", a: VersionRef, b: VersionRef) -> dict[str, Any]:
    """What changed from version ``a`` to version ``b``.

    Keys: ``images_added``/``images_removed`` (image ids), ``images_moved`` (``{image_id, from, to}``),
    ``annotations_added``/``annotations_removed`` (``{image_id, id, class}``; those of added and removed images
    included), ``annotations_changed`` (``{image_id, id, class, changed: [...]}``; a class change also gives
    ``from_class``), ``classes_added``/``classes_removed`` (names), ``classes_renamed`` (``{id, from, to}``),
    ``class_count_deltas`` ``{class: delta}`` (annotations per class, counted by class id and named as in ``b``;
    zero deltas left out).
    """
    va, vb = get_version(ws, a), get_version(ws, b)
    ca, cb = version_classes(ws, va.id), version_classes(ws, vb.id)
    names_a = {c["id"]: c["name"] for c in ca}
    names_b = {c["id"]: c["name"] for c in cb}
    keys_a, keys_b = _member_keys(ws, va.id), _member_keys(ws, vb.id)
    old, new = _states(ws, keys_a - keys_b), _states(ws, keys_b - keys_a)
    # An unchanged image has the same state in both and is in neither; one in both changed.
    deltas: dict[int, int] = {}  # by class id, so a renamed class keeps one count
    out: dict[str, Any] = {"from": va.name, "to": vb.name, "images_added": [], "images_removed": [],
                           "images_moved": [], "annotations_added": [], "annotations_removed": [],
                           "annotations_changed": []}
    for iid in sorted(old.keys() | new.keys()):
        if iid not in old:
            out["images_added"].append(iid)
            _diff_annotations(out, iid, [], new[iid][1], names_a, names_b)
            _count(deltas, new[iid][1], 1)
            continue
        if iid not in new:
            out["images_removed"].append(iid)
            _diff_annotations(out, iid, old[iid][1], [], names_a, names_b)
            _count(deltas, old[iid][1], -1)
            continue
        (split_a, anns_a), (split_b, anns_b) = old[iid], new[iid]
        if split_a != split_b:
            out["images_moved"].append({"image_id": iid, "from": split_a, "to": split_b})
        _diff_annotations(out, iid, anns_a, anns_b, names_a, names_b)
        _count(deltas, anns_a, -1)
        _count(deltas, anns_b, 1)
    out["classes_added"] = [names_b[i] for i in names_b if i not in names_a]
    out["classes_removed"] = [names_a[i] for i in names_a if i not in names_b]
    out["classes_renamed"] = [{"id": i, "from": names_a[i], "to": names_b[i]} for i in names_b
                              if i in names_a and names_a[i] != names_b[i]]
    out["class_count_deltas"] = {names_b.get(k, names_a.get(k, str(k))): v for k, v in sorted(deltas.items()) if v}
    return out


def _diff_annotations(out: dict[str, Any], iid: int, anns_a: list[dict[str, Any]], anns_b: list[dict[str, Any]],
                      names_a: dict[int, str], names_b: dict[int, str]) -> None:
    by_a = {x["id"]: x for x in anns_a}
    by_b = {x["id"]: x for x in anns_b}
    for aid in sorted(by_b.keys() - by_a.keys()):
        out["annotations_added"].append({"image_id": iid, "id": aid, "class": names_b.get(by_b[aid]["class_id"])})
    for aid in sorted(by_a.keys() - by_b.keys()):
        out["annotations_removed"].append({"image_id": iid, "id": aid, "class": names_a.get(by_a[aid]["class_id"])})
    for aid in sorted(by_a.keys() & by_b.keys()):
        x, y = by_a[aid], by_b[aid]
        changed = [f for f in ANNOTATION_FIELDS if x.get(f) != y.get(f)]
        if changed:
            entry = {"image_id": iid, "id": aid, "class": names_b.get(y["class_id"]),
                     "changed": ["geometry" if f in ("box", "points") else f for f in changed]}
            entry["changed"] = list(dict.fromkeys(entry["changed"]))
            if "class_id" in changed:
                entry["from_class"] = names_a.get(x["class_id"])
            out["annotations_changed"].append(entry)
