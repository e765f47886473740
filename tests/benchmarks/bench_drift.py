"""Drift statistics speed: a report over a window of ``--n`` (default 100,000) logged images.

Data (untimed): a reference of ``--reference`` (default 5,000) images' statistics (brightness, contrast, sharpness,
width, height, aspect) and ``--dims``-dimensional (default 64) embeddings, and a field window of ``--n`` images,
drawn from shifted distributions (synthetic: the statistics' test does not depend on where the numbers come from).

Measured: one report, the way ``cvops monitor report`` will compute it: a KS test and a Wasserstein distance per
statistic over all ``--n`` images, and the embeddings' MMD permutation test (1,000 permutations) on a random
subsample of ``--mmd-sample`` (default 500) per side — the permutation test is quadratic in the sample, so the window
is subsampled. Target: <= 10 s for 100,000 images.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from _common import emit, environment, log

TARGET_S = 10.0
STATS = ("brightness", "contrast", "sharpness", "width", "height", "aspect")


def run(n: int, reference_n: int, dims: int, mmd_sample: int) -> dict[str, Any]:
    from cvops.monitoring.drift import compare_embeddings, compare_stats, worst

    rng = np.random.default_rng(0)

    def stats(count: int, shift: float) -> list[dict[str, float]]:
        values = rng.normal(100 + shift, 20, (count, len(STATS)))
        return [dict(zip(STATS, row)) for row in values]

    reference, field = stats(reference_n, 0.0), stats(n, 5.0)
    ref_emb, field_emb = rng.normal(0, 1, (reference_n, dims)), rng.normal(0.1, 1, (n, dims))
    log(f"report over {n} images")
    started = time.perf_counter()
    signals = compare_stats(reference, field)
    stats_s = time.perf_counter() - started
    pick_ref = rng.choice(reference_n, min(mmd_sample, reference_n), replace=False)
    pick_cur = rng.choice(n, min(mmd_sample, n), replace=False)
    signals.append(compare_embeddings("embedding", ref_emb[pick_ref], field_emb[pick_cur]))
    total_s = time.perf_counter() - started
    return {
        "benchmark": "drift",
        "images": n, "reference": reference_n, "dims": dims, "mmd_sample": mmd_sample,
        "report_s": round(total_s, 3), "statistics_s": round(stats_s, 3),
        "embedding_s": round(total_s - stats_s, 3), "status": worst(signals),
        "target": {"report_s_max": TARGET_S}, "pass": {"report": total_s <= TARGET_S},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="logged field images (default 100,000)")
    parser.add_argument("--reference", type=int, default=5000)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--mmd-sample", type=int, default=500)
    args = parser.parse_args()
    emit(run(args.n, args.reference, args.dims, args.mmd_sample))
    return 0


if __name__ == "__main__":
    sys.exit(main())
