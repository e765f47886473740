"""CLI start-up: wall time of ``cvops --help`` in a fresh process.

Measured: the console script next to this interpreter (``cvops``; ``python -m cvops`` where there is none) run with
``--help``, stdout and stderr discarded; wall time from just before the parent starts the child to its exit, on the
monotonic clock. Two untimed warm-up runs (OS file cache), then ``--repeats`` runs (default 15), median. The bare
interpreter (``python -c pass``) and ``python -c 'import click'`` are measured the same way, as the floor the CLI
cannot go under. Target: ``cvops --help`` <= 0.15 s on an idle machine. That ``--help`` loads none of the core's
heavy modules is a test (``tests/core/test_cli_package.py``); this script only times it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from _common import emit, environment, log

TARGET_S = 0.15


def command() -> list[str]:
    """``cvops --help`` as the console script installed with this interpreter, else ``python -m cvops --help``."""
    script = Path(sys.executable).with_name("cvops")
    return [str(script), "--help"] if script.is_file() else [sys.executable, "-m", "cvops", "--help"]


def timed(args: Sequence[str], repeats: int, warmups: int = 2) -> list[float]:
    """Wall seconds of ``repeats`` runs of ``args`` (after ``warmups`` untimed ones); a failed run is an error."""
    times = []
    for i in range(warmups + repeats):
        started = time.monotonic()
        done = subprocess.run(list(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        elapsed = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
        if i >= warmups:
            times.append(round(elapsed, 4))
    return times


def run(repeats: int) -> dict[str, Any]:
    """Time the CLI and the two floors."""
    cli = command()
    log(f"timing {' '.join(cli)} ({repeats} runs)")
    runs = timed(cli, repeats)
    bare = timed([sys.executable, "-c", "pass"], repeats)
    click_only = timed([sys.executable, "-c", "import click"], repeats)
    median = statistics.median(runs)
    log(f"cvops --help: median {median:.3f} s (python alone {statistics.median(bare):.3f} s)")
    return {
        "benchmark": "cli_startup",
        "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(cli)),
        "help_s": round(median, 4),
        "help_min_s": min(runs),
        "runs_s": runs,
        "python_bare_s": round(statistics.median(bare), 4),
        "python_import_click_s": round(statistics.median(click_only), 4),
        "target": {"help_s_max": TARGET_S},
        "pass": {"help": median <= TARGET_S},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs (default 15)")
    args = parser.parse_args()
    emit(run(args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
