"""Test-wide settings: Qt offscreen, no network, a fresh workspace fixture, and the handling of tests whose
fixtures or services are missing (``prerequisites``: a failure under ``CI=true``, else a skip and one summary line)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

from prerequisites import pytest_runtest_makereport, pytest_terminal_summary  # noqa: E402,F401 (pytest hooks)

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


@pytest.fixture
def ws(tmp_path: Path):
    """A fresh, empty workspace."""
    from cvops import Workspace

    workspace = Workspace.create(tmp_path / "ws")
    yield workspace
    workspace.close()
