"""Drift statistics (cvops.monitoring.drift): windows like the reference stay quiet (false-alarm rate), shifted ones
alarm and name the signals that moved, embeddings drift is caught by the MMD permutation test, bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from cvops.common.errors import ValidationError
from cvops.monitoring.drift import (
    compare_embeddings, compare_feature, compare_stats, image_stats, moved, worst,
)


def test_windows_like_the_reference_rarely_alarm_and_shifted_ones_do() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(120, 20, 2000)
    statuses = [compare_feature("brightness", reference, rng.normal(120, 20, 200)).status for _ in range(40)]
    assert statuses.count("alarm") / len(statuses) <= 0.05 and statuses.count("ok") >= 34
    darker = compare_feature("brightness", reference, rng.normal(100, 20, 200))  # one standard deviation darker
    assert darker.status == "alarm" and darker.p_value < 1e-6
    assert darker.score == pytest.approx(1.0, abs=0.2) and "sd)" in darker.detail and "(-" in darker.detail
    # significant but tiny: a big window makes a 0.05-sd shift significant; it is not worth an alarm
    tiny = compare_feature("brightness", reference, rng.normal(121, 20, 20000))
    assert tiny.status in ("ok", "warn") and tiny.score < 0.25


def test_embedding_drift_by_mmd_with_a_permutation_test() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 1, (150, 16))
    same = [compare_embeddings("embedding", reference, rng.normal(0, 1, (60, 16)), seed=i) for i in range(10)]
    assert sum(s.status == "alarm" for s in same) <= 1
    assert all(1 / 1001 <= s.p_value <= 1.0 for s in same)
    shifted = compare_embeddings("embedding", reference, rng.normal(0.6, 1, (60, 16)))
    assert shifted.status == "alarm" and shifted.p_value == pytest.approx(1 / 1001) and shifted.score > 0
    with pytest.raises(ValidationError, match="100 permutations cannot give a p-value below 0.001"):
        compare_embeddings("embedding", reference, shifted_sample(rng), permutations=100)
    with pytest.raises(ValidationError, match="16 dimensions, current 8"):
        compare_embeddings("embedding", reference, rng.normal(0, 1, (60, 8)))


def shifted_sample(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.6, 1, (60, 16))


def test_image_statistics_move_with_a_darker_blurred_field() -> None:
    import cv2

    rng = np.random.default_rng(2)
    images = [np.clip(rng.normal(140, 40, (96, 128, 3)), 0, 255).astype(np.uint8) for _ in range(60)]
    reference = [image_stats(im) for im in images[:40]]
    field = [image_stats(cv2.GaussianBlur((im * 0.5).astype(np.uint8), (7, 7), 3)) for im in images[40:]]
    signals = compare_stats(reference, field)
    assert {s.name for s in signals} == {"brightness", "contrast", "sharpness", "width", "height", "aspect"}
    assert worst(signals) == "alarm" and {"brightness", "contrast", "sharpness"} <= set(moved(signals))
    assert "width" not in moved(signals)  # same size: a constant statistic does not alarm
    assert reference[0]["aspect"] == pytest.approx(128 / 96)


@pytest.mark.parametrize("values, problem", [([1.0], "at least 2"), ([1.0, float("nan"), 2.0], "NaN"),
                                             ([[1.0, 2.0]], "at least 2")])
def test_bad_samples_are_refused(values: list, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        compare_feature("brightness", [1.0, 2.0, 3.0], values)


def test_statuses_order() -> None:
    assert worst([]) == "ok"
    with pytest.raises(ValidationError):
        image_stats(np.zeros((0, 0), dtype=np.uint8))
