"""The champion/challenger gate: a pure decision over two metric reports and the gate's settings.

A report is ``{"map50_95": float, "per_class": [{"name", "ap"}, ...], "latency_ms": float | None}`` (``ap`` is the
class's AP over IoU 0.50:0.95; ``None`` for a class without instances). The challenger is promoted only if every
criterion passes: its mAP50-95 reaches ``floor``; with a champion, it beats the champion's by at least ``min_gain``
and no class's AP drops by more than ``max_class_drop``; with a ``latency_budget_ms`` and a measured latency, it
stays within the budget. Without a champion the floor (and a measured latency budget) alone decide.
"""

from __future__ import annotations

from typing import Any, Optional

GATE_DEFAULTS: dict[str, Any] = {"min_gain": 0.0, "max_class_drop": 0.05, "floor": 0.0, "latency_budget_ms": None}


def _r(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(float(value), 6)


def _criterion(name: str, challenger: Optional[float], champion: Optional[float], threshold: Optional[float],
               passed: Optional[bool], note: str = "") -> dict[str, Any]:
    out = {"name": name, "challenger": _r(challenger), "champion": _r(champion), "threshold": threshold,
           "passed": passed}
    if note:
        out["note"] = note
    return out


def decide(challenger: dict[str, Any], champion: Optional[dict[str, Any]],
           config: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The gate's decision: ``{"promote", "criteria": [{"name", "challenger", "champion", "threshold", "passed"}],
    "reason"}``. A criterion that could not be measured (latency without a measurement) has ``passed`` None and
    does not block."""
    cfg = {**GATE_DEFAULTS, **(config or {})}
    ch_map = float(challenger["map50_95"])
    cp_map = None if champion is None else float(champion["map50_95"])
    criteria = [_criterion("floor", ch_map, cp_map, cfg["floor"], ch_map >= cfg["floor"])]
    if champion is not None:
        gain = ch_map - float(cp_map or 0.0)
        criteria.append(_criterion("min_gain", ch_map, cp_map, cfg["min_gain"],
                                   gain >= cfg["min_gain"] - 1e-12, f"gain {gain:+.4f}"))
        if cfg["max_class_drop"] is not None:
            theirs = {c["name"]: c.get("ap") for c in champion.get("per_class", [])}
            for row in challenger.get("per_class", []):
                ours, old = row.get("ap"), theirs.get(row["name"])
                if ours is None or old is None:
                    continue
                drop = float(old) - float(ours)
                criteria.append(_criterion(f"class_drop:{row['name']}", ours, old, cfg["max_class_drop"],
                                           drop <= cfg["max_class_drop"] + 1e-12, f"drop {drop:+.4f}"))
    if cfg["latency_budget_ms"] is not None:
        lat = challenger.get("latency_ms")
        old_lat = None if champion is None else champion.get("latency_ms")
        if lat is None:
            criteria.append(_criterion("latency_ms", None, old_lat, cfg["latency_budget_ms"], None,
                                       "not measured (no verify step before the gate)"))
        else:
            criteria.append(_criterion("latency_ms", lat, old_lat, cfg["latency_budget_ms"],
                                       float(lat) <= cfg["latency_budget_ms"]))
    failed = [c["name"] for c in criteria if c["passed"] is False]
    promote = not failed
    if failed:
        reason = "rejected: " + ", ".join(failed) + " failed"
    elif champion is None:
        reason = f"no champion yet: mAP50-95 {ch_map:.4f} reaches the floor {cfg['floor']}"
    else:
        reason = f"mAP50-95 {ch_map:.4f} vs champion {cp_map:.4f}: every criterion passed"
    return {"promote": promote, "criteria": criteria, "reason": reason}
