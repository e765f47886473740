"""The field log of a bundle's ``run.py``: per image or video frame, what the model saw and found, for drift
monitoring (:mod:`cvops.monitoring.field` reads it back; its module docstring is the record format, schema v1).

Like :mod:`cvops.deploy.edge_runner` this file is two things at once: a bundle ships it verbatim as ``fieldlog.py``
next to ``run.py``, which loads it only when ``--field-log`` or ``--log`` is given, and the workbench imports it
(``cvops.deploy.field_log``) to compute the training data's reference with exactly the device's code
(:func:`observe`, :func:`image_stats`). It must therefore import nothing but the standard library, numpy and OpenCV
(never ``cvops``, torch or Ultralytics), and it takes the detector as ``run.py``'s ``Detector`` duck-typed.

On the device, ``run.py --field-log DIR`` writes (:class:`FieldLog`)::

    DIR/<device>/field-<YYYYmmddTHHMMSSZ>-<pid>.jsonl     one record per line, written and flushed line by line
    DIR/<device>/captures/<YYYY-MM-DD>/<time>-<stem>.jpg   images kept by the capture policy (off by default)

A log file is never written again once the next one is started (at ``max_mb`` per file); the oldest files are
deleted so that all the log files stay within ``keep_mb``. Captures: ``low_confidence`` (top confidence below T, or
no detection), ``near_threshold`` (a candidate within a band of the confidence threshold, on either side), ``random``
(a fraction of the images); at most ``daily_cap`` per UTC day (counted from what is on disk, so across restarts) and
``disk_mb`` in all (the oldest earlier days' captures make room; today's are never deleted). A write that fails (a
full disk, an unwritable folder) never stops inference: one warning, then the field log is suspended and retried
every ``retry_s`` seconds, each retry starting a new log file.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import cv2
import numpy as np

LOG_VERSION = 1
MB = 1_000_000
RETRY_S = 60.0
CAPTURE_QUALITY = 95
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_TIME = "%Y%m%dT%H%M%SZ"


def device_folder_name(device: str) -> str:
    """A device name as a folder name: letters, digits, ``.``, ``_`` and ``-`` kept, anything else ``_`` (the same
    rule as :func:`cvops.monitoring.field.device_folder_name`)."""
    name = _SAFE.sub("_", device.strip()).strip("._") or "device"
    return name[:100]


def encode_embedding(vector: Any) -> str:
    """A vector as the log stores it: base64 of its little-endian float16 values."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def image_stats(image: np.ndarray, imgsz: Optional[int] = None,
                full_size: Optional[tuple[float, float]] = None) -> dict[str, float]:
    """The scalar statistics of one image (BGR or grey, as OpenCV decodes it): brightness and contrast (mean and
    standard deviation of the grey levels, 0-255) and sharpness (variance of the Laplacian), computed on the image as
    the model sees it before padding — resized like the letterbox so that its long side is ``imgsz`` (when given) —
    and ``width``, ``height``, ``aspect`` of the full-size image (``full_size`` = (width, height), default: the
    image's own). A JPEG decoded at reduced scale therefore gives about the same values, cheaply. ValueError for an
    empty array."""
    if image is None or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("image_stats: expected a non-empty image array")
    grey = image if image.ndim == 2 or image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape[:2]
    if imgsz:
        gain = min(imgsz / h, imgsz / w)
        size = (max(1, int(round(w * gain))), max(1, int(round(h * gain))))
        if size != (w, h):
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)
    mean, sd = cv2.meanStdDev(grey)
    sharpness = float(cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_64F))[1][0, 0]) ** 2
    width, height = (float(v) for v in (full_size or (w, h)))
    return {"brightness": float(mean[0, 0]), "contrast": float(sd[0, 0]), "sharpness": sharpness,
            "width": width, "height": height, "aspect": width / height}


def _observe(detector: Any, image: np.ndarray, scale: tuple[float, float], conf: Optional[float],
             iou: Optional[float], source: str, frame: Optional[int], device: str, band: float = 0.0
             ) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
    """:func:`observe`, plus whether a candidate lies within ``band`` of the threshold (one forward pass and one
    post-processing at ``conf - band``, split afterwards: NMS keeps the same boxes above ``conf`` either way)."""
    conf = float(detector.conf if conf is None else conf)
    started = time.perf_counter()
    boxes, scores, classes = detector.predict_arrays([image], max(conf - band, 0.0), iou)[0]
    keep = scores > conf
    dets = detector.to_detections(boxes[keep], scores[keep], classes[keep], scale)
    ms = (time.perf_counter() - started) * 1000
    near = bool(band) and bool(np.any(np.abs(scores - conf) <= band))
    embedding = detector.embeddings[0] if detector.embeddings else None
    full = (image.shape[1] * scale[0], image.shape[0] * scale[1])
    stats = image_stats(image, detector.imgsz, (round(full[0]), round(full[1])))
    record = {"v": LOG_VERSION, "time": round(time.time(), 3), "device": device, "source": source, "frame": frame,
              "model_sha256": detector.model_sha256, "latency_ms": round(ms, 2), "conf": conf,
              "stats": {k: round(v, 4) for k, v in stats.items()},
              "detections": [[d["class_index"], d["confidence"], *d["box"]] for d in dets],
              "embedding": None if embedding is None else encode_embedding(embedding),
              "capture": None, "capture_reason": None}
    return dets, record, near


def observe(detector: Any, image: np.ndarray, scale: tuple[float, float] = (1.0, 1.0),
            conf: Optional[float] = None, iou: Optional[float] = None, source: str = "",
            frame: Optional[int] = None, device: str = "reference") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``detector`` (``run.py``'s ``Detector``) on one BGR image as ``run.py --field-log`` does: its detections
    (as ``Detector.detections`` returns them, boxes times ``scale``) and the field-log record (schema v1, no
    capture): time, device, source, frame, model sha256, latency (the detect time), threshold, image statistics,
    detections ``[class_index, confidence, x, y, w, h]``, the embedding (null for a model without one)."""
    dets, record, _ = _observe(detector, image, scale, conf, iou, source, frame, device)
    return dets, record


def prediction_record(source: str, frame: Optional[int], dets: list[dict[str, Any]], ms: float) -> dict[str, Any]:
    """A line of ``run.py --log``, the prediction log: time, source, frame, latency, detections per class and their
    confidences."""
    counts: dict[str, int] = {}
    confs: dict[str, list[float]] = {}
    for d in dets:
        counts[d["name"]] = counts.get(d["name"], 0) + 1
        confs.setdefault(d["name"], []).append(d["confidence"])
    return {"time": round(time.time(), 3), "source": source, "frame": frame, "latency_ms": round(ms, 2),
            "count": len(dets), "counts": counts, "confidences": confs,
            "mean_confidence": round(sum(d["confidence"] for d in dets) / len(dets), 5) if dets else None}


def _open_for_append(path: Path) -> int:
    """A new file opened for appending (never an existing one: a closed log file is never written again)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _warn(message: str) -> None:
    print(f"run.py: {message}", file=sys.stderr, flush=True)


class FieldLog:
    """The writer of ``DIR/<device>/``: log files with rotation and a size budget, and the capture policy (see the
    module docs). ``low_conf``, ``near_band`` and ``rate`` switch the capture rules on (None: off); ``seed`` makes
    the random rule reproducible. Every write error is caught: :meth:`write` never raises ``OSError``."""

    def __init__(self, root: Path, device: str, max_mb: float = 10, keep_mb: float = 100,
                 low_conf: Optional[float] = None, near_band: Optional[float] = None, rate: Optional[float] = None,
                 seed: Optional[int] = None, daily_cap: int = 200, disk_mb: float = 500, retry_s: float = RETRY_S,
                 warn: Callable[[str], None] = _warn) -> None:
        problems = [f"{name} must be {what}" for name, ok, what in (
            ("--log-max-mb", max_mb > 0, "above 0"), ("--log-keep-mb", keep_mb >= max_mb, "at least --log-max-mb"),
            ("--capture-low-conf", low_conf is None or low_conf > 0, "above 0"),
            ("--capture-near-threshold", near_band is None or 0 < near_band < 1, "between 0 and 1"),
            ("--capture-rate", rate is None or 0 <= rate <= 1, "between 0 and 1"),
            ("--capture-daily-cap", daily_cap >= 0, "0 or more"), ("--capture-disk-mb", disk_mb >= 0, "0 or more"))
            if not ok]
        if problems:
            raise ValueError("; ".join(problems))
        self.device = device
        self.folder = Path(root) / device_folder_name(device)
        self.max_bytes, self.keep_bytes = int(max_mb * MB), int(keep_mb * MB)
        self.low_conf, self.near_band, self.rate = low_conf, near_band or 0.0, rate
        self.random = random.Random(seed)
        self.daily_cap, self.disk_bytes = daily_cap, int(disk_mb * MB)
        self.retry_s, self.warn = retry_s, warn
        self.written = self.dropped = self.captured = 0
        self._fd: Optional[int] = None
        self._path: Optional[Path] = None
        self._size = self._stamp = 0
        self._captures: Optional[list[tuple[str, Path, int]]] = None  # (day, path, bytes), oldest first
        self._suspended_until: Optional[float] = None
        self._failing = False

    @property
    def path(self) -> Optional[Path]:
        """The log file being written (None before the first record and while suspended)."""
        return self._path

    def write(self, record: dict[str, Any], image: Any = None, near: bool = False) -> None:
        """Apply the capture policy to ``image`` (the full-size frame, or a function that returns it; None: never
        captured), then append ``record`` (``near``: a candidate was near the threshold). On an ``OSError`` warn
        once, drop records until ``retry_s`` has passed, then try again."""
        now = time.time()
        if self._suspended_until is not None and now < self._suspended_until:
            self.dropped += 1
            return
        try:
            reason = self._reason(record, near) if image is not None else None
            if reason:
                record["capture"] = self._capture(image() if callable(image) else image, record, now)
                record["capture_reason"] = reason if record["capture"] else None
            line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
            if self._fd is None or (self._size and self._size + len(line) > self.max_bytes):
                self._rotate(now)
            _write_all(self._fd, line)  # type: ignore[arg-type]
            self._size += len(line)
            self.written += 1
        except OSError as exc:
            self._close()
            self.dropped += 1
            self._suspended_until = now + self.retry_s
            if not self._failing:
                self.warn(f"warning: field log suspended, inference goes on ({exc.strerror or exc}: "
                          f"{exc.filename or self.folder}); retrying every {self.retry_s:g} s")
            self._failing = True
            return
        if self._failing:
            self.warn(f"field log resumed in {self._path} ({self.dropped} records dropped so far)")
        self._failing, self._suspended_until = False, None

    def close(self) -> None:
        """Close the current log file."""
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd, self._path = self._fd, None, None
            try:
                os.close(fd)
            except OSError:  # a failing disk may report its error on close: the lines are written or lost already
                pass

    def _reason(self, record: dict[str, Any], near: bool) -> Optional[str]:
        top = max((d[1] for d in record["detections"]), default=None)
        if self.low_conf is not None and (top is None or top < self.low_conf):
            return "low_confidence"
        if near:
            return "near_threshold"
        if self.rate is not None and self.random.random() < self.rate:
            return "random"
        return None

    def _rotate(self, now: float) -> None:
        """Start a new log file, deleting the oldest ones so that all of them stay within ``keep_bytes``."""
        self._close()
        self.folder.mkdir(parents=True, exist_ok=True)
        files = sorted(self.folder.glob("field-*.jsonl"))
        sizes = [p.stat().st_size for p in files]
        while files and sum(sizes) + self.max_bytes > self.keep_bytes:
            files.pop(0).unlink()
            sizes.pop(0)
        stamp = max(int(now), self._stamp + 1)  # a name later than any this process used (deleted ones included)
        while True:
            path = self.folder / f"field-{time.strftime(_NAME_TIME, time.gmtime(stamp))}-{os.getpid()}.jsonl"
            if not path.exists():
                break
            stamp += 1
        self._fd, self._path, self._size, self._stamp = _open_for_append(path), path, 0, stamp

    def _capture(self, image: Optional[np.ndarray], record: dict[str, Any], now: float) -> Optional[str]:
        """Save ``image`` as a JPEG within the daily cap and the disk budget; its path relative to the device
        folder, or None when a limit leaves no room."""
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        if image is None:
            return None
        if self._captures is None:
            found = sorted((p.parent.name, p) for p in (self.folder / "captures").glob("*/*.jpg") if p.is_file())
            self._captures = [(d, p, p.stat().st_size) for d, p in found]
        if sum(1 for d, _, _ in self._captures if d == day) >= self.daily_cap:
            return None
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, CAPTURE_QUALITY])
        if not ok:
            return None
        data = buffer.tobytes()
        used = sum(size for _, _, size in self._captures)
        while used + len(data) > self.disk_bytes and self._captures and self._captures[0][0] < day:
            _, oldest, size = self._captures.pop(0)  # an earlier day's capture makes room; today's stay
            oldest.unlink(missing_ok=True)
            used -= size
        if used + len(data) > self.disk_bytes:
            return None
        stem = device_folder_name(Path(str(record["source"]).replace(":", "_")).stem)[:60]
        if record.get("frame") is not None:
            stem += f"_f{record['frame']:06d}"
        folder = self.folder / "captures" / day
        folder.mkdir(parents=True, exist_ok=True)
        base = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}{int(now * 1000) % 1000:03d}Z-{stem}"
        path, n = folder / f"{base}.jpg", 1
        while path.exists():
            path, n = folder / f"{base}-{n}.jpg", n + 1
        fd = _open_for_append(path)
        try:
            _write_all(fd, data)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        self._captures.append((day, path, len(data)))
        self.captured += 1
        return path.relative_to(self.folder).as_posix()


class Recorder:
    """What ``run.py`` does per image when ``--log`` or ``--field-log`` is given (``args``: its parsed options):
    detect, time it, append the prediction log line, write the field-log record with its capture (of the full-size
    frame: a JPEG decoded at reduced scale is read again at full size, only when it is captured)."""

    def __init__(self, detector: Any, args: Any) -> None:
        self.detector = detector
        self.device = args.device or socket.gethostname() or "device"
        self.field = FieldLog(args.field_log, self.device, args.log_max_mb, args.log_keep_mb, args.capture_low_conf,
                              args.capture_near_threshold, args.capture_rate, args.capture_seed,
                              args.capture_daily_cap, args.capture_disk_mb) if args.field_log else None
        conf = detector.conf if args.conf is None else args.conf
        if self.field and self.field.near_band >= conf:
            raise ValueError(f"--capture-near-threshold must be below the confidence threshold ({conf:g})")
        self.log = args.log.open("a", encoding="utf-8", buffering=1) if args.log else None  # line-buffered

    def observe(self, image: np.ndarray, scale: tuple[float, float], source: str, frame: Optional[int],
                conf: Optional[float], iou: Optional[float]) -> list[dict[str, Any]]:
        """One image or frame: its detections, after logging them."""
        if self.field is None:
            started = time.perf_counter()
            dets = self.detector.detections(image, conf, iou, scale)
            ms = (time.perf_counter() - started) * 1000
        else:
            dets, record, near = _observe(self.detector, image, scale, conf, iou, source, frame, self.device,
                                          self.field.near_band)
            ms = record["latency_ms"]
            self.field.write(record, lambda: self._full_size(image, scale, source), near)
        if self.log:
            try:
                self.log.write(json.dumps(prediction_record(source, frame, dets, ms)) + "\n")
            except OSError as exc:  # a full disk stops the prediction log, never inference
                _warn(f"warning: the prediction log {self.log.name} stopped, inference goes on "
                      f"({exc.strerror or exc})")
                self._close_log()
        return dets

    @staticmethod
    def _full_size(image: np.ndarray, scale: tuple[float, float], source: str) -> np.ndarray:
        if scale == (1.0, 1.0):
            return image
        try:  # decoded as run.py decodes at full size: EXIF orientation applied
            full = cv2.imdecode(np.fromfile(source, np.uint8), cv2.IMREAD_COLOR)
        except (OSError, ValueError):
            full = None
        return image if full is None else full

    def close(self) -> None:
        """Close the log files."""
        self._close_log()
        if self.field:
            self.field.close()

    def _close_log(self) -> None:
        log, self.log = self.log, None
        try:
            if log:
                log.close()
        except OSError:  # what was left in its buffer could not be written either
            pass
