"""Drift statistics: does a window of field data still look like the reference (the training version)?

Each signal compares a reference sample with a current window and gives a p-value, a score and a status:

- a scalar image statistic (brightness, contrast, sharpness, ...): the two-sample Kolmogorov-Smirnov test
  (``scipy.stats.ks_2samp``) gives the p-value; the score is the Wasserstein distance
  (``scipy.stats.wasserstein_distance``) in units of the reference's standard deviation, so "0.8" reads "shifted by
  0.8 standard deviations" whatever the statistic's scale;
- embeddings (vectors per image): the squared maximum mean discrepancy with a Gaussian kernel (bandwidth: the median
  pairwise distance of the pooled sample) and a permutation test for its p-value (Gretton et al., 2012);
- counts per category (the class mix of the detections): Pearson's chi-square test of homogeneity
  (``scipy.stats.chi2_contingency``); the score is the total variation distance between the two mixes (0-1);
- latency: the one-sided Mann-Whitney U test (``scipy.stats.mannwhitneyu``, "slower than the baseline"); the score
  is the ratio of the medians.

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
MIN_SCORE = {"feature": 0.25, "embedding": 0.0, "counts": 0.1, "latency": 1.5}


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
    shift: float = 0.0  # for a statistic: the mean's change in reference standard deviations (sign: direction)

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
                  len(cur), f"mean {np.mean(ref):.4g} -> {np.mean(cur):.4g} ({shift:+.2f} sd)", shift)


def compare_counts(name: str, reference: dict[str, int], current: dict[str, int], warn_p: float = WARN_P,
                   alarm_p: float = ALARM_P, min_score: float = MIN_SCORE["counts"]) -> Signal:
    """Compare two category mixes (e.g. detections per class): chi-square p-value, total variation score. The
    ``shift`` is the change in share of the category that moved most."""
    from scipy.stats import chi2_contingency

    keys = sorted(set(reference) | set(current))
    ref = np.array([max(0, int(reference.get(k, 0))) for k in keys], dtype=np.float64)
    cur = np.array([max(0, int(current.get(k, 0))) for k in keys], dtype=np.float64)
    if ref.sum() < 1 or cur.sum() < 1:
        raise ValidationError(f"{name}: a sample without any counts")
    ref_share, cur_share = ref / ref.sum(), cur / cur.sum()
    score = float(np.abs(ref_share - cur_share).sum() / 2)
    seen = (ref + cur) > 0
    p_value = 1.0 if seen.sum() < 2 else float(chi2_contingency(np.vstack([ref[seen], cur[seen]]))[1])
    most = int(np.argmax(np.abs(cur_share - ref_share)))
    detail = f"{keys[most]} {ref_share[most]:.0%} -> {cur_share[most]:.0%} of the detections"
    return Signal(name, "counts", _status(p_value, score, min_score, warn_p, alarm_p), p_value, score,
                  int(ref.sum()), int(cur.sum()), detail, float(cur_share[most] - ref_share[most]))


def compare_latency(name: str, baseline: Sequence[float], current: Sequence[float], warn_p: float = WARN_P,
                    alarm_p: float = ALARM_P, min_score: float = MIN_SCORE["latency"]) -> Signal:
    """Is the current window slower than the baseline? One-sided Mann-Whitney U p-value, ratio of medians as the
    score (an alarm needs it at ``min_score`` or more: a device slower by a few percent is not drifting)."""
    from scipy.stats import mannwhitneyu

    ref, cur = _sample(baseline, f"{name} (baseline)", 1), _sample(current, f"{name} (current)", 1)
    p_value = float(mannwhitneyu(cur, ref, alternative="greater").pvalue)
    base = float(np.median(ref)) or 1e-9
    score = float(np.median(cur)) / base
    status = _status(p_value, score, min_score, warn_p, alarm_p)
    if status == "warn" and score < 1 + (min_score - 1) / 2:
        status = "ok"  # significant but small: half the alarm's slowdown is needed for a warning
    return Signal(name, "latency", status, p_value, score, len(ref), len(cur),
                  f"median {base:.3g} -> {np.median(cur):.3g} ms (x{score:.2f})", score - 1.0)


def _sq_distances(x: np.ndarray) -> np.ndarray:
    sq = np.sum(x * x, axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)


def _mmd2(kernel: np.ndarray, in_ref: np.ndarray) -> np.ndarray:
    """The unbiased MMD² of each split of a pooled kernel matrix; ``in_ref``: one boolean row per split (True:
    reference). Block sums as quadratic forms (``aᵀKa``, with ``Kb = K1 - Ka``), all splits in one matrix product."""
    a = in_ref.T.astype(np.float64)  # (n, splits)
    m = a.sum(axis=0)
    n = len(kernel) - m
    ka = kernel @ a
    row = kernel.sum(axis=1)
    diag = np.diag(kernel)
    aka = np.einsum("ij,ij->j", a, ka)
    ak1 = a.T @ row
    kxx = aka - a.T @ diag
    kyy = row.sum() - 2 * ak1 + aka - (diag.sum() - a.T @ diag)
    kxy = ak1 - aka
    return kxx / (m * (m - 1)) + kyy / (n * (n - 1)) - 2.0 * kxy / (m * n)


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
    observed = float(_mmd2(kernel, in_ref[None])[0])
    rng = np.random.default_rng(seed)
    exceed = 0
    for start in range(0, permutations, 250):  # in blocks: one matrix product each, bounded memory
        splits = np.stack([rng.permutation(in_ref) for _ in range(min(250, permutations - start))])
        exceed += int(np.sum(_mmd2(kernel, splits) >= observed))
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
