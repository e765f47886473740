"""The reference a field window is compared with: the deployed model run over its training version's held-out images.

A field record names its model by the sha256 of the ONNX file the device ran; that file is an export of this
workspace (``exports.sha256``), so the model, and the version it was trained on, are known. The reference is what
the *same* code the device runs (:func:`cvops.deploy.field_log.observe`: the bundle's pre-processing, image
statistics, detections and embedding) gives on that version's **val and test** images: images the model did not
train on, so its confidence there is what it is on new images like them (on its training images it is surer, and
every field window would look drifted). With fewer than :data:`MIN_HELD_OUT` held-out images the train split is
added. At most :data:`MAX_IMAGES` images, a fixed random sample.

The records are kept as a field log (schema v1, ``device = "reference"``) in
``WORKSPACE/monitoring/reference/<sha256 prefix>-v<version id>.jsonl``, so a report computes them once per model.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cvops.catalog.store import atomic_write_bytes
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken, Progress, no_progress
from cvops.monitoring.field import encode_embedding, read_log

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

REFERENCE_DIR = Path("monitoring") / "reference"
HELD_OUT = ("val", "test")
MIN_HELD_OUT = 30
MAX_IMAGES = 1000


@dataclass
class Reference:
    """A model's reference records and where they come from."""

    model: str
    model_id: int
    export_id: int
    model_sha256: str
    version: str
    version_id: int
    splits: list[str]
    names: list[str]  # the model's class names, by class index
    records: list[dict[str, Any]] = field(repr=False)

    def describe(self) -> str:
        """``model m3 (export 4, ONNX 1a2b3c4d) on version v2's val+test images (64)``."""
        return (f"model {self.model} (export {self.export_id}, ONNX {self.model_sha256[:8]}) on version "
                f"{self.version}'s {'+'.join(self.splits)} images ({len(self.records)})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the records."""
        return {"model": self.model, "model_id": self.model_id, "export_id": self.export_id,
                "model_sha256": self.model_sha256, "version": self.version, "version_id": self.version_id,
                "splits": self.splits, "classes": self.names, "images": len(self.records),
                "described": self.describe()}


def export_of(ws: "Workspace", model_sha256: str) -> Any:
    """The export (:class:`cvops.deploy.export.ExportInfo`) whose file has this sha256; NotFoundError otherwise."""
    from cvops.deploy.export import get_export

    row = ws.db.execute("SELECT id FROM exports WHERE sha256 = ? ORDER BY id DESC LIMIT 1", [model_sha256]).fetchone()
    if row is None:
        raise NotFoundError(f"the field log's model (ONNX sha256 {model_sha256[:12]}…) is not an export of this "
                            "workspace: pull the logs into the workspace the deployed model was exported from")
    return get_export(ws, int(row[0]))


def _items(ws: "Workspace", version_id: int) -> tuple[list[tuple[int, Path]], list[str]]:
    from cvops.versions.create import member_files

    by_split: dict[str, list[tuple[int, Path]]] = {}
    for member in member_files(ws, version_id):
        if member.path.is_file():
            by_split.setdefault(member.state.split, []).append((member.state.image_id, member.path))
    splits = [s for s in HELD_OUT if by_split.get(s)]
    items = [i for s in splits for i in by_split[s]]
    if len(items) < MIN_HELD_OUT and by_split.get("train"):
        splits.append("train")
        items += by_split["train"]
    if not items:
        raise ValidationError(f"version {version_id} has no readable images to take a reference from")
    if len(items) > MAX_IMAGES:
        items = sorted(random.Random(0).sample(items, MAX_IMAGES))
    return items, splits


def reference_for(ws: "Workspace", model_sha256: str, progress: Optional[Progress] = None,
                  cancel: Optional[CancelToken] = None) -> Reference:
    """The reference of the deployed model with this ONNX sha256 (computed once, then read from the workspace)."""
    from cvops.models.registry import get_model
    from cvops.versions.create import get_version

    progress = progress or no_progress
    export = export_of(ws, model_sha256)
    model = get_model(ws, export.model_id)
    version = get_version(ws, model.version_id)
    names = [str(c.get("name")) for c in sorted(model.classes, key=lambda c: c["index"])]
    path = ws.root / REFERENCE_DIR / f"{model_sha256[:16]}-v{version.id}.jsonl"
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        records, problems = read_log(path)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not problems and records:
            return Reference(model.name, model.id, export.id, model_sha256, version.name, version.id,
                             list(meta.get("splits", [])), names, records)
    items, splits = _items(ws, version.id)
    records = _observe(Path(export.path), items, progress, cancel)
    if not records:
        raise ValidationError(f"none of version {version.name}'s images could be read for the reference")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, b"".join(json.dumps(_encoded(r)).encode() + b"\n" for r in records))
    atomic_write_bytes(meta_path, json.dumps({"model": model.name, "export_id": export.id, "version": version.name,
                                              "splits": splits, "images": len(records)}).encode())
    return Reference(model.name, model.id, export.id, model_sha256, version.name, version.id, splits, names,
                     read_log(path)[0])


def _encoded(record: dict[str, Any]) -> dict[str, Any]:
    embedding = record.get("embedding")
    return {**record, "embedding": None if embedding is None or isinstance(embedding, str)
            else encode_embedding(embedding)}


def _observe(onnx: Path, items: list[tuple[int, Path]], progress: Progress, cancel: Optional[CancelToken]
             ) -> list[dict[str, Any]]:
    """The device's records of these images, by the device's code."""
    from cvops.deploy import field_log
    from cvops.deploy.edge_runner import Detector, read_image

    detector = Detector(onnx)
    records = []
    for n, (image_id, path) in enumerate(items):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if n % 20 == 0:
            progress(n / len(items), f"reference: image {n + 1} of {len(items)}")
        decoded = read_image(path, detector.imgsz)
        if decoded is None:
            continue
        image, sx, sy = decoded
        records.append(field_log.observe(detector, image, (sx, sy), source=f"image {image_id}")[1])
    progress(1.0, f"reference: {len(records)} images")
    return records
