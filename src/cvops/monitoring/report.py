"""The drift report: does what a device saw lately still look like the deployed model's training data?

For each device, a **window** of its pulled field records (the last :data:`DEFAULT_WINDOW` images, or those in
``[since, until)``) is compared with the model's :mod:`reference <cvops.monitoring.reference>` on these signals:

- the image statistics ``brightness``, ``contrast``, ``sharpness``, ``width``, ``height``, ``aspect`` (KS test,
  Wasserstein score in reference standard deviations);
- ``embedding``: the model's pooled backbone features (MMD², permutation test; at most :data:`MAX_EMBEDDINGS` per
  side);
- the predictions: ``confidence`` (of every detection), ``detections_per_image`` (KS, Wasserstein) and
  ``class_mix`` (chi-square, total variation);
- ``latency``: the window against the device's own first :data:`DEFAULT_WINDOW` records with this model (its
  baseline: the workstation's latency says nothing about the device's), Mann-Whitney U, ratio of medians.

Thresholds are :mod:`cvops.monitoring.drift`'s, but a signal warns only when its p-value is below 0.01 divided by
the number of signals (Bonferroni: with a dozen signals, a report on data like the reference would otherwise warn
one time in ten); an alarm needs p < 0.001 *and* the signal's minimum effect. Only the window's newest model is compared (records of an older
model, from before a redeployment, are left out and counted). A report in alarm raises a drift alarm for the
pipeline watches (:func:`cvops.pipelines.watch.raise_alarm`, one pending alarm per device at most). Every report is
kept in ``WORKSPACE/monitoring/reports/`` (the Monitor page shows the last one).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from cvops.catalog.store import atomic_write_bytes
from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken, Progress, no_progress
from cvops.monitoring import drift
from cvops.monitoring.field import STAT_KEYS, devices, load_records
from cvops.monitoring.reference import Reference, reference_for

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

DEFAULT_WINDOW = 200
MAX_EMBEDDINGS = 500
REPORTS_DIR = Path("monitoring") / "reports"
ALARM_SOURCE = "monitor"
_WORDS = {  # signal -> (words when its mean went up, words when it went down)
    "brightness": ("brighter", "darker"), "contrast": ("more contrasted", "flatter (less contrast)"),
    "sharpness": ("sharper", "blurrier"), "width": ("wider", "narrower"), "height": ("taller", "shorter"),
    "aspect": ("of a wider shape", "of a taller shape"),
    "confidence": ("the model is surer of its detections", "the model is less sure of its detections"),
    "detections_per_image": ("more objects are found per image", "fewer objects are found per image"),
}


@dataclass
class DeviceReport:
    """One device's window compared with the reference."""

    device: str
    status: str
    images: int
    first: Optional[float]
    last: Optional[float]
    signals: list[drift.Signal]
    other_models: int = 0
    verdict: str = ""
    reference: Optional[dict[str, Any]] = None  # what this device's window was compared with

    @property
    def moved(self) -> list[str]:
        """The signals in alarm."""
        return drift.moved(self.signals)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"device": self.device, "status": self.status, "images": self.images, "first": self.first,
                "last": self.last, "moved": self.moved, "warned": drift.moved(self.signals, "warn"),
                "other_models": self.other_models, "verdict": self.verdict, "reference": self.reference,
                "signals": [s.to_dict() for s in self.signals]}


@dataclass
class MonitorReport:
    """A report over one or more devices; ``status`` is the worst of theirs; ``reference`` the last device's (each
    device's own is in its report: devices may run different models)."""

    status: str
    reference: Optional[dict[str, Any]]
    devices: list[DeviceReport]
    problems: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    alarm_raised: Optional[str] = None
    path: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"status": self.status, "reference": self.reference, "created_at": self.created_at,
                "devices": [d.to_dict() for d in self.devices], "problems": self.problems,
                "alarm_raised": self.alarm_raised, "path": self.path}


def parse_time(text: str, now: Optional[float] = None) -> float:
    """``--since``/``--until``: a duration back from now (``24h``, ``7d``, ``90m``) or an ISO date or date-time
    (UTC unless it says otherwise); ValidationError otherwise."""
    from cvops.pipelines.watch import parse_duration

    text = text.strip()
    try:
        return (time.time() if now is None else now) - parse_duration(text)
    except ValidationError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"not a time: {text!r} (a duration back from now like 24h or 7d, or an ISO date "
                              "like 2026-12-01 or 2026-12-01T08:00)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _confidences(records: Sequence[dict[str, Any]]) -> list[float]:
    return [float(d[1]) for r in records for d in r["detections"]]


def _class_counts(records: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        for d in r["detections"]:
            i = int(d[0])
            key = names[i] if 0 <= i < len(names) else f"class {i}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def _embeddings(records: Sequence[dict[str, Any]]) -> Optional[np.ndarray]:
    vectors = [r["embedding"] for r in records if r.get("embedding") is not None]
    if len(vectors) > MAX_EMBEDDINGS:  # a fixed random sample: the permutation test is quadratic in it
        vectors = [vectors[i] for i in np.random.default_rng(0).choice(len(vectors), MAX_EMBEDDINGS, replace=False)]
    if len(vectors) < 2 or len({v.shape for v in vectors}) > 1:
        return None
    return np.stack(vectors).astype(np.float64)


def compare_window(reference: Sequence[dict[str, Any]], window: Sequence[dict[str, Any]],
                   baseline: Sequence[dict[str, Any]] = (), names: Sequence[str] = ()) -> list[drift.Signal]:
    """Every signal of ``window`` against ``reference`` (and its latency against ``baseline``); a signal without
    enough data on either side (fewer than 2 values) is left out."""
    signals = [drift.compare_feature(k, [r["stats"][k] for r in reference], [r["stats"][k] for r in window])
               for k in STAT_KEYS]
    ref_emb, cur_emb = _embeddings(reference), _embeddings(window)
    if ref_emb is not None and cur_emb is not None and ref_emb.shape[1] == cur_emb.shape[1]:
        signals.append(drift.compare_embeddings("embedding", ref_emb, cur_emb))
    ref_conf, cur_conf = _confidences(reference), _confidences(window)
    if len(ref_conf) >= 2 and len(cur_conf) >= 2:
        signals.append(drift.compare_feature("confidence", ref_conf, cur_conf))
    signals.append(drift.compare_feature("detections_per_image", [len(r["detections"]) for r in reference],
                                         [len(r["detections"]) for r in window]))
    ref_mix, cur_mix = _class_counts(reference, names), _class_counts(window, names)
    if ref_mix and cur_mix:
        signals.append(drift.compare_counts("class_mix", ref_mix, cur_mix))
    if len(baseline) >= 2:
        signals.append(drift.compare_latency("latency", [r["latency_ms"] for r in baseline],
                                             [r["latency_ms"] for r in window]))
    warn_p = drift.WARN_P / len(signals)  # Bonferroni: one report of k signals warns at ~1 % on data like the reference
    return [replace(s, status="ok") if s.status == "warn" and s.p_value >= warn_p else s for s in signals]


def verdict(device: str, status: str, signals: Sequence[drift.Signal], reference: str) -> str:
    """The report in words a domain expert reads: what moved, which way, and what to do."""
    if status == "ok":
        return (f"{device}: OK — what the device sees still looks like the training data ({reference}); nothing to "
                "do.")
    moved = [s for s in signals if s.status == status]
    parts = []
    for s in moved:
        if s.name in _WORDS:
            parts.append(f"images are {_WORDS[s.name][s.shift < 0]} ({s.shift:+.1f} sd)" if s.name in STAT_KEYS
                         else f"{_WORDS[s.name][s.shift < 0]} ({s.detail})")
        elif s.name == "embedding":
            parts.append("the model sees different content (new backgrounds, objects or viewpoints)")
        elif s.name == "class_mix":
            parts.append(f"the mix of classes changed ({s.detail})")
        elif s.name == "latency":
            parts.append(f"inference got slower on the device ({s.detail})")
    what = "; ".join(parts)
    if status == "warn":
        return f"{device}: WARNING — possibly drifting: {what}. Keep an eye on the next reports."
    return (f"{device}: ALARM — the field no longer looks like the training data ({reference}): {what}. Pull the "
            "captured images (cvops monitor pull), label the most useful first (cvops queue build), and let the "
            "pipeline retrain and gate a challenger.")


def _device_report(ws: "Workspace", device: str, since: Optional[float], until: Optional[float], window: int,
                   references: dict[str, Reference], problems: list[str], progress: Progress,
                   cancel: Optional[CancelToken]) -> tuple[Optional[DeviceReport], Optional[Reference]]:
    every, issues = load_records(ws, device)
    problems += issues
    records = [r for r in every if (since is None or r["time"] >= since) and (until is None or r["time"] < until)]
    if not records:
        problems.append(f"{device}: no field records{' in the window' if since or until else ''}")
        return None, None
    sha = records[-1]["model_sha256"]
    mine = [r for r in records if r["model_sha256"] == sha]
    current = mine if since is not None else mine[-window:]
    if len(current) < 2:
        problems.append(f"{device}: only {len(current)} record(s) of its current model in the window")
        return None, None
    if sha not in references:
        references[sha] = reference_for(ws, sha, progress, cancel)
    ref = references[sha]
    start = current[0]["time"]
    baseline = [r for r in every if r["model_sha256"] == sha and r["time"] < start][:window]
    signals = compare_window(ref.records, current, baseline, ref.names)
    status = drift.worst(signals)
    return DeviceReport(device, status, len(current), current[0]["time"], current[-1]["time"], signals,
                        len(records) - len(mine), verdict(device, status, signals, ref.describe()),
                        ref.to_dict()), ref


def monitor_report(ws: "Workspace", device: Optional[str] = None, since: Optional[float] = None,
                   until: Optional[float] = None, window: int = DEFAULT_WINDOW, raise_alarms: bool = True,
                   progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None) -> MonitorReport:
    """Compare each device's window (or ``device``'s) with its model's reference; see the module doc.

    Raises NotFoundError when no logs were pulled (or none of ``device``), ValidationError for a bad window."""
    if window < 2:
        raise ValidationError(f"a window needs at least 2 images (got {window})")
    known = devices(ws)
    if device is not None and device not in known:
        raise NotFoundError(f"no field logs of device {device!r} in this workspace"
                            + (f" (devices: {', '.join(known)})" if known else "; pull them first: cvops monitor "
                               "pull SOURCE"))
    if not known:
        raise NotFoundError("no field logs in this workspace: pull them first: cvops monitor pull SOURCE")
    references: dict[str, Reference] = {}
    problems: list[str] = []
    reports, last_ref = [], None
    for name in [device] if device else known:
        found, ref = _device_report(ws, name, since, until, window, references, problems, progress or no_progress,
                                    cancel)
        if found is not None:
            reports.append(found)
            last_ref = ref
    status = drift.worst([s for d in reports for s in d.signals])
    report = MonitorReport(status, last_ref.to_dict() if last_ref else None, reports, problems)
    if raise_alarms:
        report.alarm_raised = _raise(ws, report)
    report.path = str(_keep(ws, report))
    return report


def _raise(ws: "Workspace", report: MonitorReport) -> Optional[str]:
    """One pending alarm per device in alarm (a second report of the same drift does not pile up alarms)."""
    from cvops.pipelines.watch import pending_alarms, raise_alarm

    pending = {a.get("source") for _, a in pending_alarms(ws)}
    raised = None
    for d in report.devices:
        source = f"{ALARM_SOURCE}:{d.device}"
        if d.status == "alarm" and source not in pending:
            raised = str(raise_alarm(ws, source, d.verdict, {"moved": d.moved, "images": d.images,
                                                              "reference": report.reference}))
    return raised


def _keep(ws: "Workspace", report: MonitorReport) -> Path:
    folder = ws.root / REPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(report.created_at))
    path = folder / f"report-{stamp}.{int(report.created_at * 1e6) % 10**6:06d}Z.json"  # sorts by time
    atomic_write_bytes(path, json.dumps(report.to_dict(), indent=1).encode())
    return path


def last_report(ws: "Workspace") -> Optional[dict[str, Any]]:
    """The newest kept report (a dict, as :meth:`MonitorReport.to_dict`), or None."""
    for path in sorted((ws.root / REPORTS_DIR).glob("report-*.json"), reverse=True):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return None


def timeline(ws: "Workspace", device: str, bucket_s: float = 86400.0, progress: Optional[Progress] = None,
             cancel: Optional[CancelToken] = None) -> list[dict[str, Any]]:
    """A device's history in buckets of ``bucket_s`` (a day by default; UTC): per bucket ``start``, ``images``,
    ``mean_confidence``, ``class_mix`` (detections per class) and ``signals`` (name → ``{"score", "p_value",
    "status", "min_score"}``, each bucket compared with the reference of its newest model; buckets of fewer than 2
    images have none)."""
    records, _ = load_records(ws, device)
    buckets: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        buckets.setdefault(int(r["time"] // bucket_s), []).append(r)
    references: dict[str, Reference] = {}
    out = []
    for key in sorted(buckets):
        rows = buckets[key]
        confs = _confidences(rows)
        sha = rows[-1]["model_sha256"]
        entry: dict[str, Any] = {"start": key * bucket_s, "images": len(rows),
                                 "mean_confidence": float(np.mean(confs)) if confs else None,
                                 "class_mix": {}, "signals": {}}
        try:
            if sha not in references:
                references[sha] = reference_for(ws, sha, progress, cancel)
        except (NotFoundError, ValidationError):
            out.append(entry)
            continue
        ref = references[sha]
        entry["class_mix"] = _class_counts(rows, ref.names)
        mine = [r for r in rows if r["model_sha256"] == sha]
        if len(mine) >= 2:
            for s in compare_window(ref.records, mine, (), ref.names):
                entry["signals"][s.name] = {"score": s.score, "p_value": s.p_value, "status": s.status,
                                            "min_score": drift.MIN_SCORE[s.kind]}
        out.append(entry)
    return out
