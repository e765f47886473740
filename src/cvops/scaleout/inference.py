"""Dataset-wide work spread over a Ray cluster's workers: pre-labeling and the health check's decoding.

The images go out in chunks, one Ray task each (1 CPU). A task reads each image from its path when the node sees
the same file there (shared storage: same path, same size), otherwise the whole chunk is sent again with the
image bytes (``data="ship"`` always sends them). Nothing is written while tasks run: the results are merged here
once every chunk has arrived and stored as the local path stores them, in one transaction — a lost cluster or a
cancel leaves the catalog as it was.

:func:`prelabel` equals :func:`cvops.assist.prelabel.prelabel` exactly (the same ONNX model in onnxruntime, the
same batches of ``batch`` images: chunks hold whole batches), except that all suggestions are one undo step.
:func:`cluster_decoder` is a :data:`cvops.data.health.Decoder` for :func:`cvops.data.health.check`: each worker
decodes every pixel (the digest) and computes the perceptual hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from cvops.common.errors import ValidationError
from cvops.common.jobs import Cancelled, CancelToken, Progress, no_progress
from cvops.scaleout.cluster import call, connect, node_temp, require_ray

if TYPE_CHECKING:
    from cvops.assist.prelabel import PrelabelReport
    from cvops.data.health import Decoder
    from cvops.data.images import ImageFilter, ImageRecord
    from cvops.data.workspace import Workspace
    from cvops.models.registry import ModelRef

DATA_MODES = ("auto", "ship")
CHUNK = 64  # images per task (rounded up to whole pre-label batches)
Item = tuple[int, str, int]  # image id, path, size in bytes
_detectors: dict[str, Any] = {}  # on a worker: the ONNX model by sha256, loaded once per process


class _Files:
    """On a worker: the chunk's images as paths, written to a temporary folder when their bytes were shipped."""

    def __init__(self, items: Sequence[Item], blobs: Optional[dict[int, bytes]]) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="cvops-chunk-", dir=node_temp()) if blobs is not None else None
        self.paths: dict[int, Path] = {}
        self.missing: list[int] = []
        for image_id, path, size in items:
            if blobs is not None:  # shipped; a file the sender could not read is not readable here either
                self.paths[image_id] = Path(path)
                if image_id in blobs and self.tmp is not None:
                    self.paths[image_id] = Path(self.tmp.name) / f"{image_id}-{Path(path).name}"
                    self.paths[image_id].write_bytes(blobs[image_id])
            elif os.path.isfile(path) and os.path.getsize(path) == size:
                self.paths[image_id] = Path(path)
            else:
                self.missing.append(image_id)

    def close(self) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()


def _detect(items: list[Item], blobs: Optional[dict[int, bytes]], onnx: bytes, conf: float, iou: float,
            batch: int) -> dict[str, Any]:
    """A Ray task: detections of a chunk, batch by batch as the local pre-label does (or the ids it cannot see)."""
    from cvops.common.imageio import ProbeError
    from cvops.data.pixels import load_pixels
    from cvops.deploy.edge_runner import Detector

    files = _Files(items, blobs)
    try:
        if files.missing:
            return {"missing": files.missing}
        sha = hashlib.sha256(onnx).hexdigest()
        if sha not in _detectors:
            path = Path(node_temp() or tempfile.gettempdir()) / f"cvops-prelabel-{sha}.onnx"
            if not path.is_file():
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(onnx)
                os.replace(tmp, path)
            _detectors[sha] = Detector(path)
        detector = _detectors[sha]
        found: dict[int, Any] = {}
        skipped = 0
        ids = [i for i, _, _ in items]
        for start in range(0, len(ids), batch):
            pixels, kept = [], []
            for image_id in ids[start:start + batch]:
                try:
                    pixels.append(load_pixels(files.paths[image_id]))
                    kept.append(image_id)
                except ProbeError:
                    skipped += 1
            found.update(zip(kept, detector.predict_arrays(pixels, conf, iou) if pixels else []))
        return {"found": found, "skipped": skipped}
    finally:
        files.close()


def _decode(items: list[Item], blobs: Optional[dict[int, bytes]]) -> dict[str, Any]:
    """A Ray task: pixel digest (or the reason decoding failed) and perceptual hash of each image of a chunk."""
    from PIL import Image

    from cvops.common.imageio import ProbeError, decode_full
    from cvops.data.splits import perceptual_hash

    files = _Files(items, blobs)
    try:
        if files.missing:
            return {"missing": files.missing}
        out: dict[int, tuple[Optional[str], Optional[str], Optional[int]]] = {}
        for image_id, path in files.paths.items():
            pixels = error = phash = None
            try:
                pixels = decode_full(path)
            except ProbeError as exc:
                error = str(exc)
            if error is None:
                try:
                    phash = perceptual_hash(path)
                except (OSError, ValueError, SyntaxError, ProbeError, Image.DecompressionBombError):
                    pass
            out[image_id] = (pixels, error, phash)
        return {"decoded": out}
    finally:
        files.close()


def run_chunks(address: str, fn: Callable[..., dict[str, Any]], chunks: list[list[Item]], args: tuple[Any, ...],
               data: str = "auto", progress: Optional[Progress] = None,
               cancel: Optional[CancelToken] = None) -> list[dict[str, Any]]:
    """Run ``fn(chunk, blobs, *args)`` as one Ray task per chunk (on a connected cluster); the results in chunk
    order. A chunk a node cannot see is sent again with its image bytes. Raises :class:`Cancelled` (the tasks are
    cancelled) or :class:`cvops.scaleout.cluster.ClusterError`."""
    if data not in DATA_MODES:
        raise ValidationError(f"unknown data mode {data!r} (use {', '.join(DATA_MODES)})")
    ray = require_ray()
    progress = progress or no_progress
    task = ray.remote(num_cpus=1, max_retries=0)(fn)

    def blobs(chunk: list[Item]) -> dict[int, bytes]:
        return {image_id: Path(path).read_bytes() for image_id, path, size in chunk if size >= 0}

    def submit(i: int, ship: bool) -> Any:
        return task.remote(chunks[i], blobs(chunks[i]) if ship else None, *args)

    pending = {call(address, lambda i=i: submit(i, data == "ship")): i for i in range(len(chunks))}
    results: dict[int, dict[str, Any]] = {}
    try:
        while pending:
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            ready, _ = call(address, lambda: ray.wait(list(pending), num_returns=1, timeout=0.2))
            for ref in ready:
                i = pending.pop(ref)
                result = call(address, lambda ref=ref: ray.get(ref))
                if "missing" in result:  # this node does not see the files: send them
                    pending[call(address, lambda i=i: submit(i, True))] = i
                    continue
                results[i] = result
                progress(len(results) / len(chunks), f"{len(results)} of {len(chunks)} chunks done")
    except BaseException:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # the cluster may be gone already
                pass
        raise
    return [results[i] for i in range(len(chunks))]


def _items(ws: "Workspace", records: Sequence["ImageRecord"]) -> list[Item]:
    out = []
    for record in records:
        path = ws.images.path(record)
        out.append((record.id, str(path), path.stat().st_size if path.is_file() else -1))
    return out


def prelabel(ws: "Workspace", address: str, model_ref: "ModelRef" = "champion",
             image_ids: Optional[Sequence[int]] = None, conf: float = 0.25, iou: float = 0.7, batch: int = 8,
             progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None,
             flt: Optional["ImageFilter"] = None, data: str = "auto", chunk: int = CHUNK) -> "PrelabelReport":
    """:func:`cvops.assist.prelabel.prelabel` on the Ray cluster at ``address`` (see the module doc); the report's
    ``cancelled`` is set, and nothing stored, when ``cancel`` fires before every chunk came back."""
    from cvops.assist.prelabel import plan_prelabel, store_suggestions

    started = time.perf_counter()
    batch = max(1, int(batch))
    report_ = progress or no_progress
    plan = plan_prelabel(ws, model_ref, image_ids, conf, iou, flt, progress, cancel)
    if plan.onnx is None:
        return plan.report
    model, report, mapping, ids, onnx = plan.model, plan.report, plan.mapping, plan.ids, plan.onnx
    size = -(-max(chunk, batch) // batch) * batch
    records = {r.id: r for r in ws.images.many(ids)}
    chunks = [_items(ws, [records[i] for i in ids[s:s + size]]) for s in range(0, len(ids), size)]
    with connect(address) as ray:
        report_(0.0, f"pre-labelling {len(ids)} images in {len(chunks)} chunks on {address}")
        onnx_ref = call(address, lambda: ray.put(onnx.read_bytes()))
        try:
            results = run_chunks(address, _detect, chunks, (onnx_ref, conf, iou, batch), data,
                                 lambda f, m: report_(0.99 * f, m), cancel)
        except Cancelled:
            report.cancelled, report.seconds = True, time.perf_counter() - started
            return report
        del onnx_ref
    found = {image_id: dets for result in results for image_id, dets in result["found"].items()}
    report.skipped_images += sum(r["skipped"] for r in results)
    stored, with_suggestions = store_suggestions(ws, model.name, mapping, found)
    report.images, report.image_ids = len(found), list(found)
    report.suggestions, report.images_with_suggestions = stored, with_suggestions
    report_(1.0, f"{len(found)} images, {stored} suggestions")
    report.seconds = time.perf_counter() - started
    return report


def cluster_decoder(ws: "Workspace", address: str, data: str = "auto", chunk: int = CHUNK) -> "Decoder":
    """A :data:`cvops.data.health.Decoder` that decodes and hashes the images on the Ray cluster at ``address``."""
    from cvops.data.health import Decoded

    def decode(records: Sequence["ImageRecord"], progress: Progress, cancel: CancelToken) -> dict[int, "Decoded"]:
        items = _items(ws, records)
        chunks = [items[s:s + chunk] for s in range(0, len(items), chunk)]
        with connect(address):
            results = run_chunks(address, _decode, chunks, (), data, progress, cancel)
        return {i: Decoded(*value) for r in results for i, value in r["decoded"].items()}

    return decode
