"""The GUI's job runner: a keyed job supersedes the running or waiting one of its key (its result, error and
partial results never arrive, its cancel token is set), different keys run side by side, errors reach the error
callback, generators stream partial results; and the application context's ``run_job`` announces failures."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from timing_testing import WAIT_MS

from cvops.catalog.settings import Settings
from cvops.common.jobs import CancelToken, Progress
from cvops_app.context import AppContext
from cvops_app.jobs import JobManager


@pytest.fixture
def jobs(qtbot: Any) -> Any:
    manager = JobManager(threads=2)
    yield manager
    manager.cancel_all()
    manager.wait()


def settle(qtbot: Any, manager: JobManager) -> None:
    """Let every worker end and every queued delivery reach the GUI thread."""
    assert manager.wait(WAIT_MS)
    qtbot.wait(50)


def test_a_second_job_of_a_key_supersedes_the_first(qtbot: Any, jobs: JobManager) -> None:
    release = threading.Event()
    saw_cancel: list[bool] = []
    results: list[str] = []

    def slow(progress: Progress, cancel: CancelToken) -> str:
        progress(0.1, "started")
        release.wait(WAIT_MS / 1000)
        saw_cancel.append(cancel.cancelled)
        return "first"  # it ignores the cancel request: its result must still never arrive

    def fast(progress: Progress, cancel: CancelToken) -> str:
        return "second"

    first = jobs.start("slow", slow, on_done=results.append, on_error=results.append, key="K")
    qtbot.waitUntil(lambda: first in jobs.running and jobs.pool.activeThreadCount() == 1, timeout=WAIT_MS)
    second = jobs.start("fast", fast, on_done=results.append, on_error=results.append, key="K")
    assert first.cancel.cancelled and first.superseded and jobs.running == [second]
    qtbot.waitUntil(lambda: results == ["second"], timeout=WAIT_MS)
    release.set()
    settle(qtbot, jobs)
    assert results == ["second"] and saw_cancel == [True] and first.done
    assert not second.cancel.cancelled and jobs.running == []


def test_a_superseded_waiting_job_never_starts(qtbot: Any) -> None:
    jobs = JobManager(threads=1)
    release = threading.Event()
    ran: list[str] = []
    results: list[str] = []

    def blocker(progress: Progress, cancel: CancelToken) -> str:
        release.wait(WAIT_MS / 1000)
        return "blocker"

    def record(name: str) -> Any:
        def fn(progress: Progress, cancel: CancelToken) -> str:
            ran.append(name)
            return name
        return fn

    jobs.start("blocker", blocker, on_done=results.append)
    jobs.start("old", record("old"), on_done=results.append, key="K")  # waits for the only thread
    jobs.start("new", record("new"), on_done=results.append, key="K")
    release.set()
    settle(qtbot, jobs)
    assert ran == ["new"] and sorted(results) == ["blocker", "new"] and jobs.running == []


def test_different_keys_do_not_supersede_each_other(qtbot: Any, jobs: JobManager) -> None:
    results: list[str] = []
    release = threading.Event()

    def job(name: str) -> Any:
        def fn(progress: Progress, cancel: CancelToken) -> str:
            release.wait(WAIT_MS / 1000)
            return name
        return fn

    a = jobs.start("a", job("a"), on_done=results.append, key="A")
    b = jobs.start("b", job("b"), on_done=results.append, key="B")
    c = jobs.start("c", job("c"), on_done=results.append)  # no key: supersedes nothing, never superseded
    d = jobs.start("d", job("d"), on_done=results.append, key="A", replace=False)  # joins A's group
    assert not any(j.cancel.cancelled for j in (a, b, c, d))
    release.set()
    qtbot.waitUntil(lambda: len(results) == 4, timeout=WAIT_MS)
    assert sorted(results) == ["a", "b", "c", "d"]
    e = jobs.start("e", job("e"), on_done=results.append, key="A")
    settle(qtbot, jobs)
    assert sorted(results) == ["a", "b", "c", "d", "e"] and not e.superseded


def test_an_error_reaches_the_error_callback(qtbot: Any, jobs: JobManager) -> None:
    errors: list[str] = []
    done: list[Any] = []

    def broken(progress: Progress, cancel: CancelToken) -> None:
        raise ValueError("the file is damaged")

    job = jobs.start("broken", broken, on_done=done.append, on_error=errors.append, key="K")
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert errors == ["ValueError: the file is damaged"] and done == []
    assert isinstance(job.error, ValueError) and jobs.running == []


def test_a_generator_streams_partial_results_until_superseded(qtbot: Any, jobs: JobManager) -> None:
    partial: list[int] = []
    results: list[str] = []
    step = threading.Event()

    def stream(progress: Progress, cancel: CancelToken) -> Any:
        for n in range(3):
            yield n
        step.wait(WAIT_MS / 1000)
        yield 99  # after the job was superseded: never delivered
        return "streamed"

    first = jobs.start("stream", stream, on_done=results.append, on_partial=partial.append, key="S")
    qtbot.waitUntil(lambda: partial == [0, 1, 2], timeout=WAIT_MS)
    jobs.supersede("S")
    step.set()
    settle(qtbot, jobs)
    assert partial == [0, 1, 2] and results == [] and first.superseded

    def short(progress: Progress, cancel: CancelToken) -> Any:
        yield "x"
        return "done"

    jobs.start("short", short, on_done=results.append, on_partial=partial.append, key="S")
    qtbot.waitUntil(lambda: results == ["done"], timeout=WAIT_MS)
    assert partial == [0, 1, 2, "x"]


def test_the_context_announces_failed_and_cancelled_jobs(qtbot: Any) -> None:
    ctx = AppContext(Settings())
    messages: list[str] = []
    failures: list[tuple[str, str]] = []
    ctx.message.connect(lambda text, msecs: messages.append(text))
    ctx.job_failed.connect(lambda title, detail: failures.append((title, detail)))

    def broken(progress: Progress, cancel: CancelToken) -> None:
        raise RuntimeError("out of disk")

    with qtbot.waitSignal(ctx.jobs.ended, timeout=WAIT_MS):
        ctx.run_job("Export", broken)
    assert failures == [("Export", "RuntimeError: out of disk")]
    assert messages == ["Export failed: RuntimeError: out of disk"]

    def waits(progress: Progress, cancel: CancelToken) -> None:
        while not cancel.cancelled:
            threading.Event().wait(0.01)
        cancel.raise_if_cancelled()

    with qtbot.waitSignal(ctx.jobs.ended, timeout=WAIT_MS):
        ctx.run_job("Import", waits)
        ctx.jobs.cancel_all()
    assert messages[-1] == "Import cancelled"


def test_the_context_runs_keyed_jobs(qtbot: Any) -> None:
    ctx = AppContext(Settings())
    messages: list[str] = []
    results: list[str] = []
    ctx.message.connect(lambda text, msecs: messages.append(text))
    release = threading.Event()

    def slow(progress: Progress, cancel: CancelToken) -> str:
        release.wait(WAIT_MS / 1000)
        cancel.raise_if_cancelled()
        return "old"

    first = ctx.run_job("Check", slow, results.append, key="check")
    second = ctx.run_job("Check", lambda progress, cancel: "new", results.append, key="check")
    qtbot.waitUntil(lambda: results == ["new"], timeout=WAIT_MS)
    release.set()
    assert ctx.jobs.wait(WAIT_MS)
    qtbot.wait(50)
    assert results == ["new"] and first.superseded and not second.superseded
    assert messages == []  # the superseded job's cancellation is not announced either
