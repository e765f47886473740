"""The handling of missing fixtures and services (``tests/prerequisites.py``), checked on a generated test file run
by a separate pytest: locally such tests are skipped and one summary line says what was missing; under ``CI=true``
they fail with the reason. Other skips are left alone either way."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent

CONFTEST = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(TESTS)!r})
import prerequisites
from prerequisites import pytest_runtest_makereport, pytest_terminal_summary
prerequisites.SHARED = Path(__file__).parent / "no-shared" / "datasets"
"""

TESTS_FILE = """
import pytest
import prerequisites


@prerequisites.needs_shared("formats", "voc_dataset")
def test_marker():
    pass


def test_at_run_time():
    prerequisites.shared_path("raccoon")


@pytest.fixture
def server():
    prerequisites.skip_missing(prerequisites.SSHD_MISSING, "not installed")


def test_in_a_fixture(server):
    pass


def test_in_the_body():
    prerequisites.skip_missing(prerequisites.SSHD_MISSING, "not installed")


def test_a_deliberate_skip():
    pytest.skip("not on this platform")


def test_passes():
    pass
"""


@pytest.fixture
def generated(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_generated=TESTS_FILE)
    return pytester


def test_locally_missing_prerequisites_skip_with_one_summary_line(generated: pytest.Pytester,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = generated.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=1, skipped=5)
    assert result.ret == 0
    lines = [line for line in result.outlines if "fixtures/services missing" in line]
    assert lines == ["skipped (fixtures/services missing): 4 — ../shared/datasets absent (2), sshd missing (2)"]


def test_under_ci_missing_prerequisites_fail_with_the_reason(generated: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = generated.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=1, skipped=1, failed=2, errors=2)  # errors: the skips at setup (marker, fixture)
    assert result.ret != 0
    out = result.stdout.str()
    assert out.count("CI=true: a missing fixture or service fails the run") == 4
    assert "../shared/datasets absent (" in out and "no-shared/datasets/raccoon not found" in out
    assert "SKIPPED [1] test_generated.py" in out and "not on this platform" in out  # left a skip
    assert "failed under CI=true (fixtures/services missing): 4 — " in out


def test_no_summary_line_when_nothing_is_missing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fine="def test_fine():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "fixtures/services missing" not in result.stdout.str()
