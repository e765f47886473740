"""The health check of a frozen dataset version: its member images, splits and annotations as frozen, through
:func:`cvops.data.health.check` (the same gate the live workspace goes through before a version is created)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvops.data.annotations import Annotation
from cvops.data.health import HealthReport, check
from cvops.versions.create import VersionRef, version_images

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


def frozen_annotation(image_id: int, a: dict[str, Any]) -> Annotation:
    """A version's frozen annotation dict as an :class:`Annotation`."""
    return Annotation(id=a["id"], image_id=image_id, class_id=a["class_id"], kind=a["kind"],
                      box=tuple(a["box"]) if a.get("box") else None, points=a.get("points"),
                      attributes=a.get("attributes") or {})


def check_version(ws: "Workspace", ref: VersionRef, **options: Any) -> HealthReport:
    """Run the health check on version ``ref`` as frozen; ``options`` are :func:`~cvops.data.health.check`'s
    thresholds, ``progress`` and ``cancel``."""
    rows = version_images(ws, ref)
    return check(ws, image_ids=[r.image_id for r in rows], splits={r.image_id: r.split for r in rows},
                 annotations={r.image_id: [frozen_annotation(r.image_id, a) for a in r.annotations] for r in rows},
                 **options)
