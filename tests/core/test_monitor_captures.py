"""cvops.monitoring.captures: how unsure the model was on a field record, a device's captured images most unsure
first (joined to the catalog images the pull imported), and sending images to the front of the labeling queue."""

from __future__ import annotations

import numpy as np
import pytest

from cvops.monitoring.captures import captured_images, unsureness
from monitor_testing import START, record, write_log


def _rec(scores: list[float], conf: float = 0.25, t: float = START, capture: str | None = None,
         reason: str | None = None) -> dict:
    return record(np.random.default_rng(0), t, scores=scores, conf=conf, capture=capture, reason=reason)


def test_unsureness_is_the_least_sure_box_margin_above_the_threshold() -> None:
    assert unsureness(_rec([0.25])) == pytest.approx(1.0)  # at the threshold
    assert unsureness(_rec([])) == 1.0  # nothing found at or above it
    assert unsureness(_rec([1.0])) == pytest.approx(0.0)
    assert unsureness(_rec([0.625])) == pytest.approx(0.5)  # halfway between 0.25 and 1
    assert unsureness(_rec([0.95, 0.4])) == pytest.approx(1 - 0.15 / 0.75)  # the least sure box counts
    assert unsureness(_rec([0.6], conf=0.5)) == pytest.approx(0.8)  # the record's own threshold
    record_without_conf = _rec([0.625])
    del record_without_conf["conf"]
    assert unsureness(record_without_conf) == pytest.approx(0.5)  # the bundle's default 0.25


def test_captured_images_most_unsure_first(ws) -> None:  # noqa: ANN001
    records = [
        _rec([0.9], t=START + 1, capture="captures/2025-12-03/a.jpg", reason="random"),
        _rec([0.3, 0.8], t=START + 2, capture="captures/2025-12-03/b.jpg", reason="near_threshold"),
        _rec([0.5], t=START + 3),  # not captured
        _rec([], t=START + 4, capture="captures/2025-12-03/c.jpg", reason="low_confidence"),
        _rec([], t=START + 5, capture="captures/2025-12-03/d.jpg", reason="low_confidence"),
        _rec([0.6], t=START + 6, capture="captures/2025-12-03/e.jpg", reason="low_confidence"),
    ]
    path = write_log(ws, "cam-01", records)
    with path.open("a") as out:
        out.write('{"v": 1, "broken\n')
    found, problems = captured_images(ws, "cam-01")
    # nothing found (newest first), then the least sure box 0.3, then 0.6, then 0.9
    assert [c.capture.rsplit("/", 1)[1] for c in found] == ["d.jpg", "c.jpg", "b.jpg", "e.jpg", "a.jpg"]
    assert [c.reason for c in found] == ["low_confidence", "low_confidence", "near_threshold", "low_confidence",
                                         "random"]
    b = found[2]
    assert b.least_confidence == pytest.approx(0.3) and b.detections == 2 and b.time == START + 2
    assert b.unsure == pytest.approx(1 - 0.05 / 0.75)
    assert found[0].least_confidence is None and found[0].unsure == 1.0
    assert all(c.image_id is None for c in found)  # nothing pulled into the catalog
    assert len(problems) == 1 and "line 7" in problems[0]
    assert captured_images(ws, "cam-01", since=START + 5.5)[0][0].capture.endswith("e.jpg")
    assert captured_images(ws, "cam-02") == ([], [])


def _pulled(ws, tmp_path) -> list:  # noqa: ANN001
    """Four captures of cam-01 pulled into ``ws`` (and one record without a capture); their Captures."""
    from cvops.monitoring.pull import pull
    from monitor_testing import device_folder

    day = "captures/2025-12-03/"
    device_folder(tmp_path / "field", "cam-01", [
        _rec([0.9], t=START + 1, capture=day + "a.jpg", reason="random"),
        _rec([0.3], t=START + 2, capture=day + "b.jpg", reason="near_threshold"),
        _rec([0.5], t=START + 3),
        _rec([], t=START + 4, capture=day + "c.jpg", reason="low_confidence"),
        _rec([0.6], t=START + 5, capture=day + "d.jpg", reason="low_confidence")])
    assert pull(ws, tmp_path / "field").images_imported == 4
    found, problems = captured_images(ws, "cam-01")
    assert problems == [] and [c.capture for c in found] == [day + n for n in ("c.jpg", "b.jpg", "d.jpg", "a.jpg")]
    return found


def test_pulled_captures_join_their_catalog_images(ws, tmp_path) -> None:  # noqa: ANN001
    found = _pulled(ws, tmp_path)
    ids = [c.image_id for c in found]
    assert None not in ids and len(set(ids)) == 4
    assert {ws.images.get(i).status for i in ids} == {"new"}
    ws.annotations.trash([ids[3]])
    assert [c.image_id for c in captured_images(ws, "cam-01")[0]] == ids[:3] + [None]  # trashed: not offered


def test_send_to_labeling_puts_images_at_the_front_of_the_queue(ws, tmp_path) -> None:  # noqa: ANN001
    from cvops.common.errors import ValidationError
    from cvops.monitoring.captures import send_to_labeling
    from cvops.monitoring.queue import next_in_queue, save_queue, show_queue

    found = _pulled(ws, tmp_path)
    ids = [c.image_id for c in found]
    ws.annotations.trash([ids[3]])
    # the queue had one image; the two most unsure captures go in front of it, in the order given
    save_queue(ws, [(ids[2], 0.4)], "uncertainty")
    assert send_to_labeling(ws, ids[:2], [found[0].unsure, found[1].unsure]) == 3
    queue = show_queue(ws)
    assert [(q.image_id, q.strategy) for q in queue] == [(ids[0], "field"), (ids[1], "field"), (ids[2], "uncertainty")]
    assert [q.rank for q in queue] == [1, 2, 3] and queue[0].score == pytest.approx(1.0)
    assert next_in_queue(ws) == ids[0]  # what the annotator's "Next from queue" opens
    # sent again: an image queued already moves to the front, nothing is queued twice
    assert send_to_labeling(ws, [ids[2]]) == 3
    assert [q.image_id for q in show_queue(ws)] == [ids[2], ids[0], ids[1]]
    with pytest.raises(ValidationError, match="image 999"):
        send_to_labeling(ws, [999])
    with pytest.raises(ValidationError, match="in the trash"):
        send_to_labeling(ws, [ids[3]])
    assert [q.image_id for q in show_queue(ws)] == [ids[2], ids[0], ids[1]]  # a refused send changes nothing
