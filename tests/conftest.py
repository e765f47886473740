"""Test-wide settings: Qt offscreen, no network, workspace fixtures, and the handling of tests whose fixtures or
services are missing (``prerequisites``: a failure under ``CI=true``, else a skip and one summary line).

Workspace fixtures: ``ws`` (fresh and empty); ``trained_workspace`` (the demo workspace with models m1 and m2,
trained once per session: read only), ``trained_workspace_copy`` (a copy of it for one test, to change at will) and
``exported_workspace`` (a copy with an ONNX export of m2, once per session: read only). See ``training_testing``."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

from prerequisites import pytest_runtest_makereport, pytest_terminal_summary  # noqa: E402 (pytest hooks)
from ssh_testing import SKIP_REASON, Sshd, sshd_missing  # noqa: E402

__all__ = ["pytest_runtest_makereport", "pytest_terminal_summary"]  # the hooks pytest finds here

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:  # type: ignore[override]
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or str(host) in ("127.0.0.1", "::1", "localhost"):
        return _real_connect(self, address)
    raise ConnectionRefusedError(f"network access blocked in tests: {address!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing reaches the network at run time: any non-loopback connect fails loudly."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder of the session's trained demo workspace (``training_testing.build_trained_workspace``). Open it to
    read only: a test that writes to it fails the session at teardown; use ``trained_workspace_copy`` instead."""
    from training_testing import build_trained_workspace, catalog_digest

    root = build_trained_workspace(tmp_path_factory.mktemp("trained") / "ws")
    digest = catalog_digest(root)
    yield root
    assert catalog_digest(root) == digest, "a test wrote to the shared trained_workspace: copy it first"


@pytest.fixture
def trained_workspace_copy(trained_workspace: Path, tmp_path: Path) -> Path:
    """This test's own copy of the trained demo workspace (a folder; open it as you like)."""
    from training_testing import copy_workspace

    return copy_workspace(trained_workspace, tmp_path / "trained-ws")


@pytest.fixture(scope="session")
def exported_workspace(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory
                       ) -> Iterator[tuple[Path, int]]:
    """``(folder, export id)``: a copy of the trained workspace whose latest model is exported to ONNX (read only)."""
    from bundle_testing import build_exported_workspace
    from training_testing import catalog_digest

    base = tmp_path_factory.mktemp("exported")
    root = base / "ws"
    export_id = build_exported_workspace(trained_workspace, root, base / "ultralytics")
    digest = catalog_digest(root)
    yield root, export_id
    assert catalog_digest(root) == digest, "a test wrote to the shared exported_workspace: copy it first"


@pytest.fixture
def ws(tmp_path: Path):
    """A fresh, empty workspace."""
    from cvops import Workspace

    workspace = Workspace.create(tmp_path / "ws")
    yield workspace
    workspace.close()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """A real OpenSSH server on 127.0.0.1 for this test (``ssh_testing.Sshd``); skipped with the reason where sshd
    is missing (a failure under CI=true, as every prerequisite)."""
    if sshd_missing():
        pytest.skip(SKIP_REASON)
    folder = tmp_path / "sshd"
    folder.mkdir()
    server = Sshd(folder)
    server.start()
    yield server
    server.stop()
