"""Train/val/test splits: deterministic, group-aware iterative stratification, and near-duplicate grouping.

Images of one group (frames of a video, near-duplicate pictures) always land in the same split, so no near copy of a
training image leaks into validation or test. Splits are a pure function of the items, the ratios and the seed.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from PIL import Image

from cvops.common.errors import ValidationError
from cvops.common.imageio import ProbeError, open_image
from cvops.common.jobs import CancelToken, Progress, no_progress

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

SPLIT_NAMES = ("train", "val", "test")
HASH_BITS = 64


@dataclass(frozen=True)
class SplitItem:
    """One image to place: its id, the class ids annotated on it (any kind) and its group key."""

    image_id: int
    classes: frozenset[int]
    group: str


def parse_ratios(text: str) -> dict[str, float]:
    """Parse ``"80/10/10"`` (or ``"0.8,0.2"``) into ``{"train": .8, "val": .1, "test": .1}``, normalised."""
    parts = [p for p in re.split(r"[/,:\s]+", text.strip()) if p]
    if len(parts) not in (2, 3):
        raise ValidationError(f"split ratios {text!r}: give 2 or 3 numbers, like 80/10/10")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValidationError(f"split ratios {text!r}: {', '.join(parts)} are not all numbers") from None
    return validate_ratios(dict(zip(SPLIT_NAMES, values)))


def validate_ratios(ratios: dict[str, float]) -> dict[str, float]:
    """Check that ratios are positive finite numbers summing to about 1 (or to about 100); return them normalised."""
    if not ratios:
        raise ValidationError("split ratios: at least one split is needed")
    for name, value in ratios.items():
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"split ratios: invalid split name {name!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise ValidationError(f"split ratios: {name} = {value!r} is not a positive number")
    total = float(sum(ratios.values()))
    if not (abs(total - 1.0) <= 0.02 or abs(total - 100.0) <= 2.0):
        raise ValidationError(f"split ratios sum to {total:g}; they must sum to 1 (or 100)")
    return {name: value / total for name, value in ratios.items()}


def _majority(splits: list[str]) -> str:
    """The most common split; ties go to the alphabetically first name (deterministic)."""
    counts = Counter(splits)
    return min(counts, key=lambda s: (-counts[s], s))


def assign_splits(items: Sequence[SplitItem], ratios: dict[str, float], seed: int,
                  keep: Optional[dict[int, str]] = None) -> dict[int, str]:
    """Assign every item to a split; return image_id -> split name.

    Iterative stratification over groups, rarest class first: each group goes to the split whose remaining need for
    that class (then for total size) is largest, ties broken by a seeded random order. Groups with a kept image follow
    their kept images' majority split. Groups without classes are spread by size. Deterministic for a seed,
    whatever the order of ``items``.
    """
    ratios = validate_ratios(ratios)
    keep = keep or {}
    members: dict[str, list[SplitItem]] = {}
    for item in sorted(items, key=lambda i: i.image_id):
        members.setdefault(item.group, []).append(item)
    rng = random.Random(seed)
    order = sorted(members)
    rng.shuffle(order)
    names = sorted(ratios)
    rng.shuffle(names)
    split_rank = {name: i for i, name in enumerate(names)}

    labels = {g: Counter(c for item in members[g] for c in item.classes) for g in order}
    class_totals: Counter[int] = Counter()
    for counts in labels.values():
        class_totals.update(counts)
    n_items = sum(len(m) for m in members.values())
    need_size = {s: ratios[s] * n_items for s in names}
    need = {s: {c: ratios[s] * n for c, n in class_totals.items()} for s in names}
    result: dict[int, str] = {}

    def place(group: str, split: str) -> None:
        for item in members[group]:
            result[item.image_id] = split
        if split in need_size:
            need_size[split] -= len(members[group])
            for c, n in labels[group].items():
                need[split][c] -= n

    pending: list[str] = []
    for group in order:
        kept = [keep[i.image_id] for i in members[group] if i.image_id in keep]
        if kept:
            place(group, _majority(kept))
        else:
            pending.append(group)

    remaining: Counter[int] = Counter()
    by_class: dict[int, list[str]] = {}
    for group in pending:
        for c, n in labels[group].items():
            remaining[c] += n
            by_class.setdefault(c, []).append(group)
    done: set[str] = set()
    while remaining:
        rarest = min(remaining, key=lambda c: (remaining[c], c))
        for group in by_class[rarest]:
            if group in done:
                continue
            split = max(names, key=lambda s: (need[s][rarest], need_size[s], -split_rank[s]))
            place(group, split)
            done.add(group)
            for c, n in labels[group].items():
                remaining[c] -= n
        remaining = Counter({c: n for c, n in remaining.items() if n > 0})
    unlabeled = sorted((g for g in pending if g not in done), key=lambda g: -len(members[g]))  # stable: seeded order
    for group in unlabeled:
        place(group, max(names, key=lambda s: (need_size[s], -split_rank[s])))
    return result


# -- near duplicates --------------------------------------------------------------------------------------------------
def perceptual_hash(path: Path) -> int:
    """A 64-bit difference hash (dHash) from a reduced decode: 9x8 grey pixels, one bit per horizontal neighbour pair."""
    with open_image(path) as im:
        im.draft("L", (64, 64))
        small = im.convert("L").resize((9, 8), Image.Resampling.BOX)
    px = small.tobytes()
    value = 0
    for row in range(8):
        for col in range(8):
            value = (value << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return value


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _bands(bits: int) -> list[tuple[int, int]]:
    """(shift, mask) of ``bits + 1`` bands over the hash: two hashes within ``bits`` share at least one band."""
    n = min(max(bits, 0) + 1, HASH_BITS)
    edges = [round(i * HASH_BITS / n) for i in range(n + 1)]
    return [(lo, (1 << (hi - lo)) - 1) for lo, hi in zip(edges, edges[1:])]


def near_duplicate_pairs(hashes: dict[int, int], max_bits: int) -> list[tuple[int, int]]:
    """Pairs of ids whose hashes differ in at most ``max_bits`` bits (multi-index search over hash bands)."""
    by_hash: dict[int, list[int]] = {}
    for image_id in sorted(hashes):
        by_hash.setdefault(hashes[image_id], []).append(image_id)
    pairs = [(ids[0], other) for ids in by_hash.values() for other in ids[1:]]
    seen: set[tuple[int, int]] = set()
    for shift, mask in _bands(max_bits):
        buckets: dict[int, list[int]] = {}
        for h in by_hash:
            buckets.setdefault((h >> shift) & mask, []).append(h)
        for bucket in buckets.values():
            for i, a in enumerate(bucket):
                for b in bucket[i + 1:]:
                    key = (a, b) if a < b else (b, a)
                    if key not in seen and hamming(a, b) <= max_bits:
                        seen.add(key)
                        pairs.append((by_hash[a][0], by_hash[b][0]))
    return pairs


def groups(ws: "Workspace", image_ids: Sequence[int], near_duplicate_bits: int = 4,
           progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None,
           known: Optional[Mapping[int, Optional[int]]] = None) -> tuple[dict[int, str], dict[int, int]]:
    """Group images that must share a split; return (image_id -> group key, image_id -> perceptual hash).

    Frames of one video share ``"video:<video_id>"``; near duplicates (Hamming distance <= ``near_duplicate_bits``)
    are joined into ``"dup:<smallest id>"``; any other image is ``"image:<id>"``. Images that cannot be decoded get
    no hash. ``known`` gives hashes computed elsewhere (None: the image has none), e.g. on a Ray cluster.
    Raises :class:`cvops.common.jobs.Cancelled` when cancelled.
    """
    progress = progress or no_progress
    records = ws.images.many(image_ids)
    hashes: dict[int, int] = {}
    uf = _UnionFind()
    first_frame: dict[int, int] = {}
    for n, record in enumerate(records, 1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if known is not None:
            if known.get(record.id) is not None:
                hashes[record.id] = int(known[record.id] or 0)
        else:
            try:
                hashes[record.id] = perceptual_hash(ws.images.path(record))
            except (OSError, ValueError, SyntaxError, ProbeError, Image.DecompressionBombError):
                pass
        if record.video_id is not None:
            uf.union(first_frame.setdefault(record.video_id, record.id), record.id)
        if n % 64 == 0 or n == len(records):
            progress(n / len(records), f"hashed {n} of {len(records)} images")
    for a, b in near_duplicate_pairs(hashes, near_duplicate_bits):
        uf.union(a, b)
    components: dict[int, list[int]] = {}
    for record in records:
        components.setdefault(uf.find(record.id), []).append(record.id)
    videos = {r.id: r.video_id for r in records if r.video_id is not None}
    keys: dict[int, str] = {}
    for root, ids in components.items():
        video_ids = [videos[i] for i in ids if i in videos]
        key = f"video:{min(video_ids)}" if video_ids else f"dup:{root}" if len(ids) > 1 else f"image:{root}"
        keys.update((i, key) for i in ids)
    return keys, hashes
