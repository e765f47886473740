"""The images a device captured (its capture policy), ranked by how unsure the model was, and sending some of them
to the front of the labeling queue (the Monitor page's grid and its "Send to labeling").

A captured image is a pulled field record with a ``capture`` path (relative to the device's field folder, see
:mod:`cvops.monitoring.field`). ``cvops monitor pull`` imports the file into the catalog and notes in its manifest
which image it became (:func:`cvops.monitoring.pull.field_images`); :func:`captured_images` joins the two. How
unsure the model was (:func:`unsureness`): the field log keeps the detections at or above the threshold ``conf`` the
device ran with, so the model's least sure decision is its least confident kept box; the closer that box is to the
threshold, the likelier the decision is wrong. ``unsure = 1 - (c_min - conf) / (1 - conf)``, 1 at the threshold and
0 for a box of confidence 1. An image without any detection at or above the threshold (the model found nothing it
would report: an empty scene, or a missed object) counts as at the threshold: 1.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from cvops.common.errors import ValidationError
from cvops.monitoring.field import device_folder_name, load_records

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

DEFAULT_CONF = 0.25  # a record without its ``conf``: the bundle's default threshold
SENT_STRATEGY = "field"  # the strategy the labeling queue shows for images sent from the Monitor page


@dataclass(frozen=True)
class Capture:
    """One captured image: where the device saved it, why and when, what the model found, how unsure it was
    (:func:`unsureness`) and the catalog image it became (None until pulled and imported, or when trashed)."""

    capture: str
    reason: Optional[str]
    time: float
    detections: int
    least_confidence: Optional[float]
    conf: float
    unsure: float
    image_id: Optional[int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"capture": self.capture, "reason": self.reason, "time": self.time, "detections": self.detections,
                "least_confidence": self.least_confidence, "conf": self.conf, "unsure": round(self.unsure, 6),
                "image_id": self.image_id}


def unsureness(record: dict[str, Any]) -> float:
    """How unsure the model was on a field record, 0-1 (module doc): its least confident detection's margin above
    the threshold, scaled so that 1 is at the threshold (or nothing detected) and 0 is full confidence."""
    conf = float(record.get("conf") or DEFAULT_CONF)
    scores = [float(d[1]) for d in record.get("detections") or []]
    if not scores or conf >= 1.0:
        return 1.0
    margin = max(0.0, min(scores) - conf)
    return max(0.0, min(1.0, 1.0 - margin / (1.0 - conf)))


def _imported(ws: "Workspace", device: str) -> dict[str, int]:
    """The capture path -> catalog image id of a device's pulled captures (:func:`cvops.monitoring.pull.field_images`,
    the pull manifest), images in the trash left out."""
    from cvops.monitoring.pull import field_images

    pulled = {str(r["capture"]): int(r["image_id"]) for r in field_images(ws, device_folder_name(device))}
    if not pulled:
        return {}
    ids = sorted(set(pulled.values()))
    live: set[int] = set()
    for first in range(0, len(ids), 900):  # SQLite's limit on parameters
        chunk = ids[first:first + 900]
        live.update(int(r[0]) for r in ws.db.execute(
            f"SELECT id FROM images WHERE id IN ({','.join('?' * len(chunk))}) AND trashed_at IS NULL", chunk))
    return {path: image_id for path, image_id in pulled.items() if image_id in live}


def captured_images(ws: "Workspace", device: str, since: Optional[float] = None, until: Optional[float] = None
                    ) -> tuple[list[Capture], list[str]]:
    """A device's captured images (its records with a ``capture``), most unsure first (ties: newest first), and the
    problems met reading its logs. A capture path logged twice (a record repeated) is listed once, newest record."""
    records, problems = load_records(ws, device, since, until)
    imported = _imported(ws, device)
    found: dict[str, Capture] = {}
    for r in records:
        path = r.get("capture")
        if not path:
            continue
        scores = [float(d[1]) for d in r["detections"]]
        found[path] = Capture(path, r.get("capture_reason"), float(r["time"]), len(scores),
                              min(scores) if scores else None, float(r.get("conf") or DEFAULT_CONF), unsureness(r),
                              imported.get(path))
    return sorted(found.values(), key=lambda c: (-c.unsure, -c.time, c.capture)), problems


def send_to_labeling(ws: "Workspace", image_ids: Sequence[int], score: Optional[Sequence[float]] = None) -> int:
    """Put these images at the front of the labeling queue (``label_queue``, :mod:`cvops.monitoring.queue`), in
    this order, ahead of what was queued; an image queued already moves to the front. ``score``: one per image (the
    queue's score column; default 1.0). Returns how many are queued now. ValidationError for an unknown or trashed
    image, or a catalog without the queue (an older workbench)."""
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    if not ids:
        return 0
    scores = [1.0] * len(ids) if score is None else [float(s) for s in score]
    if len(scores) != len(image_ids):
        raise ValidationError(f"{len(scores)} scores for {len(image_ids)} images")
    by_id = dict(zip((int(i) for i in image_ids), scores))
    names = ",".join("?" * len(ids))
    live = {int(r[0]) for r in ws.db.execute(
        f"SELECT id FROM images WHERE id IN ({names}) AND trashed_at IS NULL", ids).fetchall()}
    missing = [i for i in ids if i not in live]
    if missing:
        raise ValidationError(f"not in the catalog (or in the trash): image {', '.join(map(str, missing[:10]))}")
    from cvops.monitoring.queue import put_first

    try:
        return put_first(ws, [(i, by_id[i]) for i in ids], SENT_STRATEGY)
    except sqlite3.OperationalError as exc:
        if "label_queue" in str(exc):
            raise ValidationError("this catalog has no labeling queue (open it with a newer workbench)") from None
        raise
