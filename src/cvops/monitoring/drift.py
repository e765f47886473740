"""Drift statistics: does a window of field data still look like the reference (the training version)?

Each signal compares a reference sample with a current window and gives a p-value, a score and a status:

- a scalar image statistic (brightness, contrast, sharpness, ...): the two-sample Kolmogorov-Smirnov test
  (``scipy.stats.ks_2samp``) gives the p-value; the score is the Wasserstein distance
  (``scipy.stats.wasserstein_distance``) in units of the reference's standard deviation, so "0.8" reads "shifted by
  0.8 standard deviations" whatever the statistic's scale;
- embeddings (vectors per image): the squared maximum mean discrepancy with a Gaussian kernel (bandwidth: the median
  pairwise distance of the pooled sample) and a permutation test for its p-value (Gretton et al., 2012).

A signal's status is ``alarm`` when its p-value is below ``alarm_p`` *and* its score reaches ``min_score`` (a tiny
shift that a large window makes significant is not worth waking anyone), ``warn`` below ``warn_p``, else ``ok``;
the report's status is the worst of its signals'.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional, Sequence

import numpy as np

from cvops.common.errors import ValidationError

STATUSES = ("ok", "warn", "alarm")
WARN_P, ALARM_P = 0.01, 0.001
MIN_SCORE = {"feature": 0.25, "embedding": 0.0}


@dataclass(frozen=True)
class Signal:
    """One signal's comparison: ``score`` (Wasserstein in reference standard deviations, or MMD²), ``p_value``."""

    name: str
    kind: str
    status: str
    p_value: float
    score: float
    reference_n: int
    current_n: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _status(p_value: float, score: float, min_score: float, warn_p: float, alarm_p: float) -> str:
    if p_value < alarm_p and score >= min_score:
        return "alarm"
    if p_value < warn_p:
        return "warn"
    return "ok"


def _sample(values: Any, name: str, ndim: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim or array.shape[0] < 2:
        shape = "values" if ndim == 1 else "vectors"
        raise ValidationError(f"{name}: expected at least 2 {shape}, got an array of shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValidationError(f"{name}: NaN or infinite values")
    return array


def compare_feature(name: str, reference: Sequence[float], current: Sequence[float], warn_p: float = WARN_P,
                    alarm_p: float = ALARM_P, min_score: float = MIN_SCORE["feature"]) -> Signal:
    """Compare a scalar statistic's reference sample with a current window (KS p-value, Wasserstein score)."""
    from scipy.stats import ks_2samp, wasserstein_distance

    ref, cur = _sample(reference, f"{name} (reference)", 1), _sample(current, f"{name} (current)", 1)
    p_value = float(ks_2samp(ref, cur).pvalue)
    spread = float(np.std(ref)) or 1.0
    score = float(wasserstein_distance(ref, cur)) / spread
    shift = float(np.mean(cur) - np.mean(ref)) / spread
    return Signal(name, "feature", _status(p_value, score, min_score, warn_p, alarm_p), p_value, score, len(ref),
                  len(cur), f"mean {np.mean(ref):.4g} -> {np.mean(cur):.4g} ({shift:+.2f} sd)")


def _sq_distances(x: np.ndarray) -> np.ndarray:
    sq = np.sum(x * x, axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)


def _mmd2(kernel: np.ndarray, in_ref: np.ndarray) -> float:
    """The unbiased MMD² of the split ``in_ref`` (True: reference) of a pooled kernel matrix."""
    a, b = in_ref, ~in_ref
    m, n = int(a.sum()), int(b.sum())
    kxx, kyy, kxy = kernel[np.ix_(a, a)], kernel[np.ix_(b, b)], kernel[np.ix_(a, b)]
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


def compare_embeddings(name: str, reference: Any, current: Any, permutations: int = 1000, seed: int = 0,
                       warn_p: float = WARN_P, alarm_p: float = ALARM_P,
                       min_score: float = MIN_SCORE["embedding"]) -> Signal:
    """Compare embedding vectors: MMD² with a Gaussian kernel, p-value by a permutation test (``permutations``
    random splits of the pooled sample; the p-value is at least ``1 / (permutations + 1)``, so there must be enough
    of them for ``alarm_p`` to be reachable)."""
    if 1.0 / (permutations + 1) >= alarm_p:
        raise ValidationError(f"{name}: {permutations} permutations cannot give a p-value below {alarm_p} "
                              f"(at least {int(1 / alarm_p)} are needed)")
    ref, cur = _sample(reference, f"{name} (reference)", 2), _sample(current, f"{name} (current)", 2)
    if ref.shape[1] != cur.shape[1]:
        raise ValidationError(f"{name}: reference vectors have {ref.shape[1]} dimensions, current {cur.shape[1]}")
    pooled = np.vstack([ref, cur])
    sq = _sq_distances(pooled)
    off_diagonal = sq[~np.eye(len(pooled), dtype=bool)]
    bandwidth = float(np.median(off_diagonal)) or 1.0
    kernel = np.exp(-sq / bandwidth)
    in_ref = np.zeros(len(pooled), dtype=bool)
    in_ref[: len(ref)] = True
    observed = _mmd2(kernel, in_ref)
    rng = np.random.default_rng(seed)
    exceed = sum(_mmd2(kernel, rng.permutation(in_ref)) >= observed for _ in range(permutations))
    p_value = (exceed + 1) / (permutations + 1)
    return Signal(name, "embedding", _status(p_value, observed, min_score, warn_p, alarm_p), p_value, observed,
                  len(ref), len(cur), f"MMD² {observed:.4g} over {ref.shape[1]} dimensions")


def worst(signals: Sequence[Signal]) -> str:
    """The report's status: the worst of its signals' (``ok`` without any)."""
    return max((s.status for s in signals), key=STATUSES.index, default="ok")


def moved(signals: Sequence[Signal], at_least: str = "alarm") -> list[str]:
    """The names of the signals whose status is ``at_least`` or worse."""
    level = STATUSES.index(at_least)
    return [s.name for s in signals if STATUSES.index(s.status) >= level]


def image_stats(image: np.ndarray, imgsz: Optional[int] = None,
                full_size: Optional[tuple[float, float]] = None) -> dict[str, float]:
    """The scalar statistics of one image (BGR or grey, as OpenCV reads it): brightness and contrast (mean and
    standard deviation of the grey levels, 0-255), sharpness (variance of the Laplacian), width, height, aspect —
    the device's own code, :func:`cvops.deploy.field_log.image_stats` (``imgsz``: as the model of that input size
    sees the image; ``full_size``: the full-size image's (width, height))."""
    from cvops.deploy.field_log import image_stats as device_image_stats

    try:
        return device_image_stats(image, imgsz, full_size)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def compare_stats(reference: Sequence[dict[str, float]], current: Sequence[dict[str, float]],
                  names: Optional[Sequence[str]] = None, **thresholds: float) -> list[Signal]:
    """One :func:`compare_feature` per statistic present in both samples (or ``names``)."""
    keys = names or [k for k in (reference[0] if reference else {}) if current and k in current[0]]
    return [compare_feature(k, [r[k] for r in reference], [c[k] for c in current], **thresholds) for k in keys]
