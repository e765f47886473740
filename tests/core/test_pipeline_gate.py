"""The champion/challenger gate (cvops.pipelines.gate.decide): every criterion and branch, on hand-made reports."""

from __future__ import annotations

from typing import Any, Optional

from cvops.pipelines.gate import decide


def report(map50_95: float, per_class: Optional[dict[str, Optional[float]]] = None,
           latency_ms: Optional[float] = None) -> dict[str, Any]:
    return {"map50_95": map50_95, "latency_ms": latency_ms,
            "per_class": [{"name": n, "ap": ap} for n, ap in (per_class or {}).items()]}


def by_name(decision: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in decision["criteria"]}


def test_no_champion_the_floor_alone_decides() -> None:
    ok = decide(report(0.30, {"a": 0.1}), None, {"floor": 0.25, "min_gain": 0.5})
    assert ok["promote"] is True
    assert [c["name"] for c in ok["criteria"]] == ["floor"]
    assert ok["criteria"][0] == {"name": "floor", "challenger": 0.3, "champion": None, "threshold": 0.25,
                                 "passed": True}
    assert "no champion" in ok["reason"]
    low = decide(report(0.20), None, {"floor": 0.25})
    assert low["promote"] is False and low["criteria"][0]["passed"] is False
    assert low["reason"] == "rejected: floor failed"


def test_min_gain_needs_the_gain_not_just_more() -> None:
    cfg = {"min_gain": 0.02, "max_class_drop": None}
    up = decide(report(0.43), report(0.40), cfg)
    assert up["promote"] is True
    gain = by_name(up)["min_gain"]
    assert (gain["challenger"], gain["champion"], gain["threshold"], gain["passed"]) == (0.43, 0.4, 0.02, True)
    small = decide(report(0.41), report(0.40), cfg)
    assert small["promote"] is False and by_name(small)["min_gain"]["passed"] is False
    assert "min_gain" in small["reason"]
    worse = decide(report(0.30), report(0.40), {"min_gain": 0.0, "max_class_drop": None})
    assert worse["promote"] is False
    equal = decide(report(0.40), report(0.40), {"min_gain": 0.0, "max_class_drop": None})
    assert equal["promote"] is True  # "at least min_gain": a gain of exactly 0 passes a min_gain of 0


def test_a_class_that_drops_too_far_blocks_promotion_even_with_a_higher_mean() -> None:
    champion = report(0.40, {"cat": 0.50, "dog": 0.30, "bird": None})
    challenger = report(0.45, {"cat": 0.40, "dog": 0.50, "bird": 0.2, "new": 0.1})
    d = decide(challenger, champion, {"max_class_drop": 0.05})
    crit = by_name(d)
    assert d["promote"] is False
    assert crit["class_drop:cat"]["passed"] is False
    assert crit["class_drop:cat"]["challenger"] == 0.4 and crit["class_drop:cat"]["champion"] == 0.5
    assert crit["class_drop:dog"]["passed"] is True
    assert "class_drop:bird" not in crit and "class_drop:new" not in crit  # no AP on one side: nothing to compare
    assert d["reason"] == "rejected: class_drop:cat failed"
    assert decide(challenger, champion, {"max_class_drop": 0.2})["promote"] is True
    assert not any(c["name"].startswith("class_drop") for c in
                   decide(challenger, champion, {"max_class_drop": None})["criteria"])


def test_latency_budget_when_measured_and_not_blocking_when_not() -> None:
    fast = decide(report(0.5, latency_ms=12.0), report(0.4, latency_ms=15.0), {"latency_budget_ms": 20})
    assert fast["promote"] is True
    assert by_name(fast)["latency_ms"] == {"name": "latency_ms", "challenger": 12.0, "champion": 15.0,
                                           "threshold": 20, "passed": True}
    slow = decide(report(0.5, latency_ms=25.0), None, {"latency_budget_ms": 20})
    assert slow["promote"] is False and by_name(slow)["latency_ms"]["passed"] is False
    unmeasured = decide(report(0.5), None, {"latency_budget_ms": 20})
    assert unmeasured["promote"] is True
    assert by_name(unmeasured)["latency_ms"]["passed"] is None
    assert "not measured" in by_name(unmeasured)["latency_ms"]["note"]
    assert "latency_ms" not in by_name(decide(report(0.5, latency_ms=99.0), None, {}))


def test_every_failed_criterion_is_named() -> None:
    d = decide(report(0.10, {"a": 0.0}, latency_ms=50.0), report(0.40, {"a": 0.5}),
               {"floor": 0.2, "min_gain": 0.0, "max_class_drop": 0.1, "latency_budget_ms": 10})
    assert d["promote"] is False
    assert d["reason"] == "rejected: floor, min_gain, class_drop:a, latency_ms failed"
    assert all(set(c) >= {"name", "challenger", "champion", "threshold", "passed"} for c in d["criteria"])
