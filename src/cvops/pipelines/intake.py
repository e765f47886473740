"""The data steps of a pipeline: ``ingest`` (folders of images, or labelled batches read as datasets), ``check``
(the health gate) and ``version`` (freeze a dataset version): their inputs, how they run, whether their outputs
still exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken, Cancelled, Progress, sub_progress
from cvops.pipelines.context import StepContext, StepFailed, data_fingerprint, folder_listing, hash_inputs, resolve

UNIMPORTED_MAX = 10000  # files an ingest left out that the watch does not count as new (duplicates, unreadable)


def in_ingest(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    folders = {}
    for folder in s["folders"]:
        path = resolve(c.pipeline, folder)
        if not path.is_dir():
            raise ValidationError(f"ingest folder {path} does not exist or is not a folder")
        folders[str(path)] = hash_inputs(folder_listing(path))
    return {"folders": folders, "mode": s["mode"], "format": s["format"]}


def batch_folders(folder: Path) -> list[Path]:
    """The batches of a watched folder read as datasets: its (non-hidden) subfolders, each one labelled batch."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def batch_hash(batch: Path) -> str:
    """The content hash of a batch folder's listing (relative paths, sizes, modification times)."""
    return hash_inputs(folder_listing(batch))


def _import_batches(c: StepContext, s: dict[str, Any], folders: list[Path], progress: Progress,
                    cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    """Each subfolder not imported unchanged before is imported as a dataset (images and their annotations)."""
    from cvops.common.errors import CvopsError
    from cvops.formats.importer import import_dataset

    seen = dict((c.last.outputs.get("batches") or {}) if c.last else {})
    todo = [(b, batch_hash(b)) for f in folders for b in batch_folders(f)]
    todo = [(b, h) for b, h in todo if seen.get(str(b)) != h]
    out = {"imported": 0, "duplicates": 0, "annotations": 0, "errors": 0, "batches": seen, "unreadable": []}
    for i, (batch, digest) in enumerate(todo):
        cancel.raise_if_cancelled()
        seen[str(batch)] = digest  # read once: a batch is read again only when it changes
        try:
            report = import_dataset(c.ws, batch, format=s["format"], in_place=s["mode"] == "in_place",
                                    progress=sub_progress(progress, i / len(todo), (i + 1) / len(todo)),
                                    cancel=cancel)
        except CvopsError as exc:
            out["errors"] += 1
            out["unreadable"].append(str(batch))
            log(f"skipped batch {batch.name}: {exc}")
            continue
        if report.cancelled:
            raise Cancelled()
        out["imported"] += report.images_new
        out["duplicates"] += report.images - report.images_new
        out["annotations"] += report.annotations
        out["errors"] += len(report.skipped)
        log(f"batch {batch.name} ({report.format}): {report.images_new} new image(s), {report.annotations} "
            f"annotation(s), {len(report.skipped)} skipped, {len(report.warnings)} warning(s)")
    if not todo:
        log("no new or changed batch folders")
    return out


def run_ingest(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
                cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.data.ingest import import_paths

    folders = [Path(f) for f in inputs["folders"]]
    if s["format"] != "images":
        return _import_batches(c, s, folders, progress, cancel, log)
    report = import_paths(c.ws, folders, in_place=s["mode"] == "in_place", progress=progress, cancel=cancel)
    if report.cancelled:
        raise Cancelled()
    for e in report.errors[:20]:
        log(f"skipped {e['path']}: {e['reason']}")
    log(f"imported {report.imported} new image(s), {report.duplicates} already in the workspace")
    imported = set(report.image_ids)
    unimported = [p for p, i in report.path_ids.items() if i not in imported] + [e["path"] for e in report.errors]
    return {"imported": report.imported, "duplicates": report.duplicates, "errors": len(report.errors),
            "unimported": unimported[:UNIMPORTED_MAX]}


def in_check(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    return {"data": data_fingerprint(c.ws), "settings": s}


def run_check(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
               cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.data.health import check

    report = check(c.ws, min_size=s["min_size"], min_examples=s["min_examples"],
                   imbalance_ratio=s["imbalance_ratio"], progress=progress, cancel=cancel)
    if report.cancelled:
        raise Cancelled()
    for f in report.findings[:50]:
        log(f"{f.severity}: {f.message}")
    out = {"images": report.images_checked, "errors": len(report.errors), "warnings": len(report.warnings),
           "kinds": dict(report.kinds())}
    if out["errors"] > s["max_errors"]:
        raise StepFailed(f"health gate: {out['errors']} error(s), more than max_errors {s['max_errors']}", out)
    if s["max_warnings"] is not None and out["warnings"] > s["max_warnings"]:
        raise StepFailed(f"health gate: {out['warnings']} warning(s), more than max_warnings {s['max_warnings']}",
                         out)
    return out


def in_version(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    return {"data": data_fingerprint(c.ws), "filter": s["filter"], "split": s["split"], "seed": s["seed"]}


def run_version(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
                 cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.versions.create import create_version

    info = create_version(c.ws, s["message"], ratios=s["split"], seed=s["seed"], statuses=s["filter"],
                          progress=progress, cancel=cancel)
    log(f"version {info.name} ({'new' if info.created else 'unchanged content: existing version'}), "
        f"hash {info.content_hash[:12]}")
    return {"created": info.created, "stats": info.stats,
            "context": {"version": info.name, "version_id": info.id, "version_hash": info.content_hash}}


def valid_version(c: StepContext, outputs: dict[str, Any]) -> bool:
    from cvops.versions.create import get_version

    ctx = outputs.get("context", {})
    try:
        return get_version(c.ws, ctx["version_id"]).content_hash == ctx["version_hash"]
    except (NotFoundError, KeyError):
        return False
