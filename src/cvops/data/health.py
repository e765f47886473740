"""The health gate: checks a set of images and annotations for defects before a dataset version is frozen.

Every finding names the images and annotations involved. Errors block a release; warnings and info do not. Decoding
every pixel dominates the run time, so the report gives the decode rate (images per second).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Sequence

from cvops.data.annotations import Annotation, polygon_area
from cvops.common.imageio import ProbeError, decode_full
from cvops.data.images import ImageFilter, ImageRecord
from cvops.common.jobs import Cancelled, CancelToken, Progress, no_progress, sub_progress
from cvops.data.splits import groups, near_duplicate_pairs, perceptual_hash
from cvops.data.thresholds import DUPLICATE_IOU

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

SEVERITIES = ("error", "warning", "info")
REVIEWED = ("done", "approved")
TRAINING_SPLITS = ("train", "val")
NEAR_DUPLICATE_BITS = 4  # as :func:`cvops.data.splits.groups`
BACKGROUND = "background"
EPSILON = 1e-6


class Decoded(NamedTuple):
    """One image decoded elsewhere: its pixel digest (:func:`decode_full`) or the reason it failed, and its
    perceptual hash (None when it has none)."""

    pixels: Optional[str]
    error: Optional[str]
    phash: Optional[int]


Decoder = Callable[[Sequence[ImageRecord], Progress, CancelToken], dict[int, Decoded]]
"""Decodes images elsewhere (``cvops.scaleout``: over a Ray cluster's workers) for :func:`check`; raises
:class:`Cancelled` when cancelled."""


@dataclass
class Finding:
    """One defect: its kind, severity, a readable message and the images/annotations (and split) involved."""

    kind: str
    severity: str
    message: str
    image_ids: list[int] = field(default_factory=list)
    annotation_ids: list[int] = field(default_factory=list)
    split: Optional[str] = None


@dataclass
class HealthReport:
    """The findings of one health check."""

    findings: list[Finding]
    images_checked: int
    seconds: float
    cancelled: bool
    images_per_second: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        """Findings that block a release."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings worth a look."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors

    def kinds(self) -> Counter[str]:
        """Number of findings per kind."""
        return Counter(f.kind for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"ok": self.ok, "images_checked": self.images_checked, "seconds": round(self.seconds, 3),
                "images_per_second": round(self.images_per_second, 1), "cancelled": self.cancelled,
                "counts": {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES},
                "findings": [asdict(f) for f in self.findings]}


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _geometry(image: ImageRecord, ann: Annotation) -> list[Finding]:
    """Degenerate and out-of-bounds findings for one annotation."""
    ids = ([image.id], [ann.id])
    if ann.kind == "box":
        if ann.box is None or ann.box[2] < 1 or ann.box[3] < 1:
            size = "no box" if ann.box is None else f"{ann.box[2]:g} x {ann.box[3]:g} px"
            return [Finding("degenerate_box", "error", f"image {image.id}: box {ann.id} is degenerate ({size})", *ids)]
        x, y, w, h = ann.box
        outside = x < -EPSILON or y < -EPSILON or x + w > image.width + EPSILON or y + h > image.height + EPSILON
        where = f"box {ann.id} ({x:g}, {y:g}, {w:g}, {h:g})"
    elif ann.kind == "polygon":
        points = ann.points or []
        area = sum(polygon_area(ring) for ring in ann.rings if len(ring) >= 3)  # every part of a multi-part polygon
        if area < 1:
            return [Finding("degenerate_box", "error",
                            f"image {image.id}: polygon {ann.id} is degenerate (area {area:g} px², "
                            f"{len(points)} points)", *ids)]
        outside = any(not (-EPSILON <= px <= image.width + EPSILON and -EPSILON <= py <= image.height + EPSILON)
                      for px, py in points)
        where = f"polygon {ann.id}"
    else:
        return []
    if outside:
        return [Finding("out_of_bounds", "error",
                        f"image {image.id}: {where} extends beyond the {image.width}x{image.height} image", *ids)]
    return []


def _duplicate_boxes(image_id: int, anns: list[Annotation], threshold: float = DUPLICATE_IOU) -> list[Finding]:
    """A warning per pair of boxes of one class overlapping at IoU >= ``threshold``."""
    boxes = [(a, a.box) for a in anns if a.kind == "box" and a.box is not None]
    out = []
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            if a.class_id != b.class_id:
                continue
            iou = _iou(box_a, box_b)
            if iou >= threshold:
                out.append(Finding("duplicate_box", "warning", f"image {image_id}: boxes {a.id} and {b.id} of "
                                   f"class {a.class_id} overlap (IoU {iou:.2f})", [image_id], [a.id, b.id]))
    return out


def _duplicates(keys: dict[int, str], pixels: dict[int, str], splits: Optional[dict[int, str]]) -> list[Finding]:
    """Exact pixel duplicates (same decoded pixels), near duplicates, and groups that cross splits (leakage)."""
    out: list[Finding] = []
    split_of = splits or {}
    exact: dict[str, list[int]] = defaultdict(list)
    for image_id in sorted(pixels):
        exact[pixels[image_id]].append(image_id)
    for ids in exact.values():
        if len(ids) > 1:
            crossing = len({split_of.get(i) for i in ids}) > 1
            out.append(Finding("exact_duplicate", "error" if crossing else "warning",
                               f"images {', '.join(map(str, ids))} have identical pixels"
                               + (" and are in different splits" if crossing else ""), ids, []))
    members: dict[str, list[int]] = defaultdict(list)
    for image_id in sorted(keys):
        members[keys[image_id]].append(image_id)
    for key, ids in sorted(members.items()):
        if len(ids) < 2:
            continue
        in_splits = sorted({split_of[i] for i in ids if i in split_of})
        what = f"video frames {key}" if key.startswith("video:") else "near-duplicate images"
        if len(in_splits) > 1:
            out.append(Finding("leakage", "error", f"{what} ({len(ids)} images: {', '.join(map(str, ids[:10]))}"
                               f"{' ...' if len(ids) > 10 else ''}) are spread over splits {', '.join(in_splits)}",
                               ids, []))
        elif key.startswith("dup:") and len({pixels.get(i) for i in ids}) > 1:
            out.append(Finding("near_duplicate", "warning",
                               f"{what}: {', '.join(map(str, ids))}", ids, [], in_splits[0] if in_splits else None))
    return out


def _benchmark_leakage(ws: "Workspace", phashes: dict[int, int], splits: Optional[dict[int, str]],
                       max_bits: int = NEAR_DUPLICATE_BITS) -> list[Finding]:
    """Checked images that would train or validate (split train or val; any split when none is given) and are near
    duplicates of an image held by a benchmark set (error: a model would be scored on what it learnt from)."""
    held: dict[int, list[str]] = defaultdict(list)
    for image_id, name in ws.db.execute("SELECT m.image_id, b.name FROM benchmark_members m JOIN benchmarks b "
                                        "ON b.id = m.benchmark_id ORDER BY b.id"):
        held[image_id].append(name)
    if not held:
        return []
    same_bytes = {i for (i,) in ws.db.execute(  # left out of versions like the members themselves
        "SELECT id FROM images WHERE sha256 IN (SELECT sha256 FROM benchmark_members)")}
    candidates = {i: h for i, h in phashes.items()
                  if i not in held and i not in same_bytes and (splits is None or splits.get(i) in TRAINING_SPLITS)}
    if not candidates:
        return []
    bench_hashes = {i: phashes[i] for i in held if i in phashes}
    cached = [i for i in held if i not in bench_hashes]
    for part in range(0, len(cached), 500):
        ids = cached[part:part + 500]
        bench_hashes.update((i, p & ((1 << 64) - 1)) for i, p in ws.db.execute(
            f"SELECT image_id, phash FROM image_phash WHERE image_id IN ({', '.join('?' * len(ids))})", ids))
    missing = [i for i in held if i not in bench_hashes]
    if missing:
        for record in ws.images.many(missing):
            try:
                bench_hashes[record.id] = perceptual_hash(ws.images.path(record))
            except (ProbeError, OSError, ValueError, SyntaxError):
                continue
    near_of: dict[int, set[int]] = defaultdict(set)
    for a, b in near_duplicate_pairs({**candidates, **bench_hashes}, max_bits):
        if (a in candidates) != (b in candidates):
            near_of[a if a in candidates else b].add(b if a in candidates else a)
    out: list[Finding] = []
    for image_id, found in sorted(near_of.items()):
        near = sorted(found)
        where = f" (split {splits[image_id]})" if splits else ""
        names = sorted({n for b in near for n in held[b]})
        out.append(Finding("benchmark_leakage", "error",
                           f"image {image_id}{where} is a near duplicate of benchmark image(s) "
                           f"{', '.join(map(str, near[:10]))} of {', '.join(names)}: a model trained on it "
                           f"would be scored on what it learnt", [image_id, *near], [],
                           splits.get(image_id) if splits else None))
    return out


def _class_findings(images: list[ImageRecord], anns: dict[int, list[Annotation]], names: dict[int, str],
                    splits: Optional[dict[int, str]], min_examples: int, imbalance_ratio: float) -> list[Finding]:
    """Few examples per class (per split) and class imbalance; the background class is left out."""
    out: list[Finding] = []
    counted = {c for c, n in names.items() if n.lower() != BACKGROUND}
    counted.update(a.class_id for r in images for a in anns.get(r.id, []) if names.get(a.class_id, "").lower()
                   != BACKGROUND)
    split_names = sorted(set(splits.values())) if splits else [None]
    per: dict[tuple[Optional[str], int], list[Annotation]] = defaultdict(list)
    totals: Counter[int] = Counter()
    for r in images:
        split = splits.get(r.id) if splits else None
        for a in anns.get(r.id, []):
            if a.class_id in counted:
                per[(split, a.class_id)].append(a)
                totals[a.class_id] += 1
    for split in split_names:
        for cid in sorted(counted):
            found = per[(split, cid)]
            if len(found) < min_examples:
                where = f" in split {split}" if split else ""
                out.append(Finding("few_examples", "warning",
                                   f"class {names.get(cid, cid)!s} has {len(found)} annotation(s){where}, "
                                   f"fewer than {min_examples}", sorted({a.image_id for a in found}),
                                   [a.id for a in found], split))
    present = {c: n for c, n in totals.items() if n > 0}
    if len(present) > 1:
        most = max(present, key=lambda c: (present[c], -c))
        least = min(present, key=lambda c: (present[c], c))
        if present[most] / present[least] > imbalance_ratio:
            rare = [a for r in images for a in anns.get(r.id, []) if a.class_id == least]
            out.append(Finding("class_imbalance", "warning",
                               f"class {names.get(most, most)!s} has {present[most]} annotations, class "
                               f"{names.get(least, least)!s} only {present[least]} (ratio "
                               f"{present[most] / present[least]:.1f} > {imbalance_ratio:g})",
                               sorted({a.image_id for a in rare}), [a.id for a in rare]))
    return out


def check(ws: "Workspace", image_ids: Optional[Sequence[int]] = None, splits: Optional[dict[int, str]] = None,
          annotations: Optional[dict[int, list[Annotation]]] = None, min_size: int = 32, min_examples: int = 1,
          imbalance_ratio: float = 10.0, progress: Optional[Progress] = None,
          cancel: Optional[CancelToken] = None, duplicate_iou: float = DUPLICATE_IOU,
          decoder: Optional[Decoder] = None) -> HealthReport:
    """Check images (default: every live image) with their annotations (default: the current ones) and optional
    splits (image_id -> split name). Boxes of one class overlapping at IoU >= ``duplicate_iou`` are reported as
    duplicates. ``decoder`` decodes and hashes the images elsewhere (the parallel part); the findings are the same.
    A cancelled check returns what it found so far with ``cancelled`` set."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    ids = list(ws.images.ids(ImageFilter())) if image_ids is None else list(dict.fromkeys(image_ids))
    images = ws.images.many(ids)
    if annotations is None:
        annotations = {r.id: ws.annotations.for_image(r.id) for r in images}
    names = {c.id: c.name for c in ws.classes.list()}
    findings: list[Finding] = []
    unlabeled: list[int] = []
    unreviewed: list[int] = []
    decodable: list[int] = []
    pixels: dict[int, str] = {}
    checked = 0
    decode_seconds = 0.0
    decode_progress = sub_progress(progress, 0.0, 0.8)
    cancelled = False
    decoded: Optional[dict[int, Decoded]] = None
    if decoder is not None:
        t0 = time.perf_counter()
        try:
            decoded = decoder(images, decode_progress, cancel)
        except Cancelled:
            decoded, images = {}, []
            cancelled = True
        decode_seconds = time.perf_counter() - t0
    for record in images:
        if cancel.cancelled:
            cancelled = True
            break
        t0 = time.perf_counter()
        try:
            if decoded is not None:
                if decoded[record.id].error is not None:
                    raise ProbeError(decoded[record.id].error)
                pixels[record.id] = str(decoded[record.id].pixels)
            else:
                pixels[record.id] = decode_full(ws.images.path(record))
            decodable.append(record.id)
        except ProbeError as exc:
            findings.append(Finding("undecodable", "error", f"image {record.id} ({record.file_name}): {exc}",
                                    [record.id], []))
        decode_seconds += 0.0 if decoded is not None else time.perf_counter() - t0
        if record.width < min_size or record.height < min_size:
            findings.append(Finding("tiny_image", "warning", f"image {record.id} ({record.file_name}) is "
                                    f"{record.width}x{record.height}, under {min_size} px", [record.id], []))
        anns = annotations.get(record.id, [])
        for ann in anns:
            findings.extend(_geometry(record, ann))
        findings.extend(_duplicate_boxes(record.id, anns, duplicate_iou))
        if not anns:  # a 'background' tag is an annotation: such images are labeled on purpose
            unlabeled.append(record.id)
        if record.status not in REVIEWED:
            unreviewed.append(record.id)
        checked += 1
        if checked % 16 == 0 or checked == len(images):
            decode_progress(checked / len(images), f"checked {checked} of {len(images)} images")
    if not cancelled:
        try:
            keys, phashes = groups(ws, decodable, progress=sub_progress(progress, 0.8, 1.0), cancel=cancel,
                                   known=None if decoded is None else {i: d.phash for i, d in decoded.items()})
            findings.extend(_duplicates(keys, pixels, splits))
            findings.extend(_benchmark_leakage(ws, phashes, splits))
        except Cancelled:
            cancelled = True
    if unlabeled:
        findings.append(Finding("unlabeled", "warning", f"{len(unlabeled)} image(s) have no annotations "
                                f"(tag them '{BACKGROUND}' if that is intended)", unlabeled, []))
    if unreviewed:
        findings.append(Finding("not_reviewed", "info", f"{len(unreviewed)} image(s) are not reviewed "
                                f"(status not {' or '.join(REVIEWED)})", unreviewed, []))
    findings.extend(_class_findings(images[:checked], annotations, names, splits, min_examples, imbalance_ratio))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: order[f.severity])
    progress(1.0, "cancelled" if cancelled else "done")
    return HealthReport(findings, checked, time.perf_counter() - started, cancelled,
                        checked / decode_seconds if decode_seconds > 0 else 0.0)
