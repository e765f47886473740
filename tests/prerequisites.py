"""Tests that need something from outside the project: the third-party conformance fixtures in
``../shared/datasets`` and an OpenSSH server. Where one is missing the test is skipped with a reason made here, and
the hooks below (imported by ``tests/conftest.py``) turn such a skip into a failure under ``CI=true`` (the CI has
both) and, otherwise, print one summary line of what was skipped and why.

Only these skips are affected; every other skip keeps pytest's own meaning.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Generator, NoReturn, Optional

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
PREFIX = "missing prerequisite: "
SHARED_ABSENT = "../shared/datasets absent"
SSHD_MISSING = "sshd missing"
SUMMARY_TITLE = "fixtures/services missing"


def in_ci() -> bool:
    """True when the ``CI`` environment variable says so (``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def reason(what: str, detail: str) -> str:
    """A skip reason the hooks recognise: ``what`` is missing (the summary groups by it), ``detail`` says more."""
    return f"{PREFIX}{what} ({detail})"


def what_is_missing(skip_reason: str) -> Optional[str]:
    """The ``what`` of a reason made by :func:`reason`, or None for any other skip."""
    text = skip_reason.removeprefix("Skipped: ")
    if not text.startswith(PREFIX):
        return None
    return text[len(PREFIX):].split(" (", 1)[0]


def _shared_reason(path: Path) -> str:
    if not SHARED.is_dir():
        return reason(SHARED_ABSENT, f"{path} not found; the conformance fixtures are not in the project")
    return reason(f"{path.relative_to(SHARED)} missing from ../shared/datasets", f"{path} not found")


def needs_shared(*parts: str) -> pytest.MarkDecorator:
    """A marker that skips the test (fails it under CI) when ``../shared/datasets/PARTS`` does not exist."""
    path = SHARED.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=_shared_reason(path))


def shared_path(*parts: str) -> Path:
    """``../shared/datasets/PARTS``; skips the running test (fails it under CI) when it does not exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(_shared_reason(path))
    return path


def skip_missing(what: str, detail: str) -> NoReturn:
    """Skip the running test (fail it under CI) because ``what`` is missing."""
    pytest.skip(reason(what, detail))


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])
    return str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """Mark a missing-prerequisite skip on its report; under CI make it a failure that gives the reason."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped:
        return
    text = _skip_reason(report)
    what = what_is_missing(text)
    if what is None:
        return
    report.user_properties.append(("missing_prerequisite", what))
    if in_ci():
        report.outcome = "failed"
        report.longrepr = (f"{text.removeprefix('Skipped: ')}\n"
                           "CI=true: a missing fixture or service fails the run instead of skipping the test")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line: how many tests a missing fixture or service skipped (failed, under CI), grouped by what."""
    counts: Counter[str] = Counter()
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key == "missing_prerequisite":
                    counts[value] += 1
    if not counts:
        return
    verb = "failed under CI=true" if in_ci() else "skipped"
    groups = ", ".join(f"{what} ({n})" for what, n in counts.most_common())
    terminalreporter.write_line(f"{verb} ({SUMMARY_TITLE}): {sum(counts.values())} — {groups}",
                                red=in_ci(), yellow=not in_ci())
