"""A real OpenSSH server on 127.0.0.1 for deployment tests (tests/core/test_deploy.py, tests/e2e/test_deploy_e2e.py).

:class:`Sshd` runs ``/usr/sbin/sshd`` as the current user on a free port with its own host key, one client key and
its own ``known_hosts`` file; :func:`sshd_missing` says why it cannot run here (``None`` when it can).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

from prerequisites import SSHD_MISSING, reason

SSHD = Path("/usr/sbin/sshd")
SKIP_REASON = reason(SSHD_MISSING, f"{SSHD} or the ssh client not installed: install openssh-server and -client")


def sshd_missing() -> Optional[str]:
    """The skip reason when the OpenSSH server or client is missing here, else None."""
    return SKIP_REASON if not SSHD.is_file() or shutil.which("ssh") is None else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    """An OpenSSH server on 127.0.0.1 run as the current user, with its own host key and one client key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.client_key = folder / "client_key"
        self.host_key = folder / "host_key"
        self.known_hosts = folder / "known_hosts"
        self.proc: subprocess.Popen | None = None
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key)], check=True)
        (folder / "authorized_keys").write_bytes(self.client_key.with_suffix(".pub").read_bytes())
        self.new_host_key()
        (folder / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n")

    def new_host_key(self) -> None:
        for path in (self.host_key, self.host_key.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)], check=True)

    def start(self) -> None:
        if os.geteuid() == 0:  # sshd started as root insists on its privilege separation folder
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with (self.folder / "sshd.log").open("ab") as log:
            self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.folder / "sshd_config")],
                                         stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60  # generous: a busy machine only makes the start slower
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.folder / "sshd.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("sshd did not start listening: " + (self.folder / "sshd.log").read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    @property
    def user(self) -> str:
        import getpass

        return getpass.getuser()

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"
