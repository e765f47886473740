"""The job model: long work is a plain function taking ``progress(fraction, message)`` and a cancel token.

The CLI wraps such a function with a progress bar; the GUI runs it in a worker thread. Sub-steps map onto part of
the progress range with :func:`sub_progress`.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Callable, Optional

Progress = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised inside a job when its cancel token was triggered."""


class CancelToken:
    """A thread-safe flag a job polls between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on :meth:`cancel`; True when cancelled."""
        return self._event.wait(seconds)

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the job was asked to stop."""
        if self._event.is_set():
            raise Cancelled()


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that ignores everything."""


def sub_progress(progress: Optional[Progress], start: float, end: float) -> Progress:
    """Map a sub-step's 0..1 progress onto ``start..end`` of the parent's range."""
    parent = progress or no_progress
    span = end - start

    def report(fraction: float, message: str) -> None:
        parent(start + span * min(max(fraction, 0.0), 1.0), message)

    return report


def process_alive(pid: Optional[int]) -> bool:
    """True when a process with this id runs on this machine (one owned by another user counts as running)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def available_cpus() -> int:
    """CPU cores this process may use: the affinity mask (cpusets) and a cgroup v2 CPU quota (``docker --cpus``) taken
    into account, which ``os.cpu_count()`` (the host's count) ignores."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)
