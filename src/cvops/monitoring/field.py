"""The field log: what a deployed bundle's ``run.py --field-log DIR`` writes per image, and reading it back.

On the device, ``DIR/<device>/`` holds the log files ``field-<UTC time>-<pid>.jsonl`` (a file is never written
again once the next one is started; the oldest are deleted beyond a size budget) and ``captures/<date>/`` the images
the capture policy kept. :func:`cvops.monitoring.pull.pull` copies them into the workspace: the logs verbatim to
``WORKSPACE/monitoring/devices/<device>/logs/``, the captured images into the catalog.

One JSON object per line (:data:`LOG_VERSION` 1)::

    {"v": 1, "time": 1764790000.123, "device": "cam-01", "source": "/data/in/img1.jpg", "frame": null,
     "model_sha256": "<sha256 of model.onnx>", "latency_ms": 12.3, "conf": 0.25,
     "stats": {"brightness": .., "contrast": .., "sharpness": .., "width": .., "height": .., "aspect": ..},
     "detections": [[class_index, confidence, x, y, w, h], ...],
     "embedding": "<base64 of little-endian float16 values>" or null,
     "capture": "captures/2026-12-03/<file>.jpg" or null, "capture_reason": "low_confidence" or null}

``time`` is seconds since the epoch (UTC); boxes are in full-size image pixels, detections those at or above
``conf``. A line that is not such an object (malformed JSON, a missing or mistyped key, a last line cut short) is
reported by :func:`read_log`, naming the file and line, and skipped.
"""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

import numpy as np

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

LOG_VERSION = 1
LOG_GLOB = "field-*.jsonl"
DEVICES_DIR = Path("monitoring") / "devices"
STAT_KEYS = ("brightness", "contrast", "sharpness", "width", "height", "aspect")
_NUMBER = (int, float)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def device_folder_name(device: str) -> str:
    """A device name as a folder name: letters, digits, ``.``, ``_`` and ``-`` kept, anything else ``_``."""
    name = _SAFE.sub("_", device.strip()).strip("._") or "device"
    return name[:100]


def device_dir(ws: "Workspace", device: str) -> Path:
    """Where the workspace keeps a device's pulled logs (``<dir>/logs``)."""
    return ws.root / DEVICES_DIR / device_folder_name(device)


def encode_embedding(vector: Any) -> str:
    """A vector as the log stores it: base64 of its little-endian float16 values."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def decode_embedding(text: str) -> np.ndarray:
    """The float32 vector of :func:`encode_embedding`'s text; ValueError when it is not one."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if not raw or len(raw) % 2:
        raise ValueError("embedding is not a whole number of float16 values")
    return np.frombuffer(raw, dtype="<f2").astype(np.float32)


def _problem(record: Any) -> Optional[str]:
    """Why a decoded line is not a valid record, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("v") != LOG_VERSION:
        return f"unknown log version {record.get('v')!r} (this workbench reads {LOG_VERSION})"
    for key, kind, what in (("time", _NUMBER, "number"), ("latency_ms", _NUMBER, "number"), ("device", str, "text"),
                            ("model_sha256", str, "text"), ("stats", dict, "object"), ("detections", list, "list")):
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            return f"{key!r} is missing or not a {what}"
    stats = record["stats"]
    try:
        if all(math.isfinite(stats[k]) for k in STAT_KEYS):
            bad = []
        else:
            bad = [k for k in STAT_KEYS if not math.isfinite(stats[k])]
    except (KeyError, TypeError):
        bad = [k for k in STAT_KEYS if not isinstance(stats.get(k), _NUMBER)]
    if bad:
        return f"stats {', '.join(bad)} missing or not finite numbers"
    for det in record["detections"]:
        try:
            if len(det) == 6 and 0.0 <= det[1] <= 1.0 and math.isfinite(sum(det)) and isinstance(det, list):
                continue
        except TypeError:
            pass
        return f"detection {det!r} is not [class_index, confidence 0-1, x, y, w, h]"
    embedding = record.get("embedding")
    if embedding is not None:
        if not isinstance(embedding, str):
            return "embedding is not a base64 string"
        try:
            record["embedding"] = decode_embedding(embedding)
        except ValueError as exc:
            return f"embedding: {exc}"
    if record.get("capture") is not None and not isinstance(record["capture"], str):
        return "capture is not a path"
    return None


def read_log(path: Path, since: Optional[float] = None, until: Optional[float] = None
             ) -> tuple[list[dict[str, Any]], list[str]]:
    """The valid records of one log file (embeddings decoded to float32 arrays), those with ``since <= time <
    until`` when given, and the problems found (``"FILE line N: why"``) for the lines skipped."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [f"{path}: cannot read: {exc.strerror or exc}"]
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if number == len(lines):  # no end of line after it: cut short while being written, or truncated
            problems.append(f"{path} line {number}: truncated (no end of line), skipped")
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{path} line {number}: not JSON ({exc}), skipped")
            continue
        why = _problem(record)
        if why:
            problems.append(f"{path} line {number}: {why}, skipped")
            continue
        if (since is None or record["time"] >= since) and (until is None or record["time"] < until):
            records.append(record)
    return records, problems


def log_files(ws: "Workspace", device: Optional[str] = None) -> list[Path]:
    """The pulled log files, of one device or all, by device then name (the name starts with its UTC time)."""
    root = ws.root / DEVICES_DIR
    folders = [device_dir(ws, device)] if device else sorted(p for p in root.glob("*") if p.is_dir())
    return [f for folder in folders for f in sorted((folder / "logs").glob(LOG_GLOB))]


def devices(ws: "Workspace") -> list[str]:
    """The devices whose logs were pulled into the workspace (folder names)."""
    root = ws.root / DEVICES_DIR
    return sorted(p.name for p in root.glob("*") if (p / "logs").is_dir())


def load_records(ws: "Workspace", device: Optional[str] = None, since: Optional[float] = None,
                 until: Optional[float] = None, files: Optional[Iterable[Path]] = None
                 ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every valid pulled record (of ``device``, in ``[since, until)``), oldest first, and the problems found."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for path in (files if files is not None else log_files(ws, device)):
        found, issues = read_log(path, since, until)
        records += found
        problems += issues
    records.sort(key=lambda r: r["time"])
    return records, problems
