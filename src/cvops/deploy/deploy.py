"""Deploy an edge bundle to a folder or over SSH, atomically, and prove it runs there.

:func:`deploy_bundle` first checks the bundle's own checksums (every file ``model.json`` lists, with its sha256) and
refuses a bundle with a missing or changed file, naming it. Then:

* **folder** (``DIR``): the files are copied into ``DIR/.<name>.partial-XXXX``, ``python run.py --selftest`` runs
  there (this interpreter), and only when it passes is the folder renamed to ``DIR/<name>``; an older deployment is
  renamed aside first and removed after the swap, so ``DIR/<name>`` is always a complete bundle.
* **SSH** (``ssh://user@host[:port]/path``; ``/~/path`` for a path under the remote home): the system OpenSSH client
  streams the bundle (a tar archive over ``ssh``) into ``<path>/.<name>.partial-XXXX``, runs
  ``python3 run.py --selftest`` there (which re-verifies every sha256 on the target and reproduces the sample's
  detections) and, when it passes, moves it into ``<path>/<name>`` the same way. Never a password: ``BatchMode=yes``;
  ``identity`` adds ``-i KEY``. Host keys are checked against ``known_hosts`` with ``StrictHostKeyChecking=yes``
  (``accept-new`` with ``accept_new_host_key``, which still refuses a *changed* key). ``known_hosts`` points at
  another known-hosts file and ``ssh_options`` adds ``-o`` options (tests use both); ``remote_python`` names the
  interpreter on the target. Connections time out after 10 seconds.

On any failure the partial folder is removed and an older deployment stays as it was. With a workspace, every attempt
is recorded in ``deployments``. Errors before the selftest raise :class:`DeployError`; a failed selftest returns a
report with ``ok`` False (and its JSON) and deploys nothing.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union
from urllib.parse import unquote, urlsplit

from cvops.deploy.bundle import check_bundle
from cvops.common.errors import CvopsError, ValidationError
from cvops.catalog.store import fsync_dir

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

CONNECT_TIMEOUT_S = 10
SELFTEST_TIMEOUT_S = 300


class DeployError(CvopsError):
    """The bundle could not be deployed (connection, host key, authentication, copy); nothing was left behind."""

    code = "deploy"


@dataclass
class DeployReport:
    """The outcome of one deployment."""

    bundle: str
    target: str
    ok: bool
    selftest: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    deployed_to: Optional[str] = None
    error: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"bundle": self.bundle, "target": self.target, "ok": self.ok, "selftest": self.selftest,
                "files": self.files, "seconds": round(self.seconds, 3), "deployed_to": self.deployed_to,
                "error": self.error}


@dataclass(frozen=True)
class SshTarget:
    """``ssh://user@host[:port]/path``, parsed."""

    user: Optional[str]
    host: str
    port: Optional[int]
    path: str

    @classmethod
    def parse(cls, url: str) -> "SshTarget":
        parts = urlsplit(url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise ValidationError(f"not an SSH target: {url!r} (ssh://user@host[:port]/path)")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValidationError(f"bad port in {url!r}") from exc
        path = unquote(parts.path)
        if path.startswith("/~/") or path == "/~":
            path = path[3:] or "."  # relative to the remote home, where ssh commands start
        if not path or path == "/":
            raise ValidationError(f"give a folder on the target: ssh://user@host/path (got {url!r})")
        return cls(unquote(parts.username) if parts.username else None, parts.hostname, port, path.rstrip("/") or "/")

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def _record(ws: Optional["Workspace"], meta: dict[str, Any], report: DeployReport) -> None:
    if ws is None:
        return
    from cvops.catalog.db import transaction

    export_id = (meta.get("lineage") or {}).get("export_id")
    if export_id is not None and ws.db.execute("SELECT 1 FROM exports WHERE id = ?", [export_id]).fetchone() is None:
        export_id = None  # a bundle made in another workspace
    with transaction(ws.db):
        ws.db.execute("INSERT INTO deployments (export_id, bundle, target, created_at, ok, report) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      [export_id, report.bundle, report.target, time.time(), int(report.ok),
                       json.dumps(report.to_dict())])


def _selftest_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def _copy_tree(src: Path, dest: Path, names: Sequence[str]) -> None:
    for name in names:
        with (src / name).open("rb") as fin, (dest / name).open("wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
    fsync_dir(dest)


def _deploy_folder(bundle: Path, names: list[str], target: Path, report: DeployReport) -> None:
    target = target.expanduser().absolute()
    target.mkdir(parents=True, exist_ok=True)
    final = target / bundle.name
    partial = Path(tempfile.mkdtemp(prefix=f".{bundle.name}.partial-", dir=target))
    try:
        os.chmod(partial, 0o755)
        _copy_tree(bundle, partial, names)
        done = subprocess.run([sys.executable, "run.py", "--selftest"], cwd=partial, capture_output=True, text=True,
                              timeout=SELFTEST_TIMEOUT_S, stdin=subprocess.DEVNULL)
        report.selftest = _selftest_json(done.stdout) or {"ok": False, "problems": [done.stderr.strip()[-2000:]]}
        report.ok = done.returncode == 0 and bool(report.selftest.get("ok"))
        if not report.ok:
            report.error = "selftest failed on the target: " + "; ".join(report.selftest.get("problems") or [])
            return
        old = target / f".{bundle.name}.old-{secrets.token_hex(4)}"
        if final.exists() or final.is_symlink():
            os.replace(final, old)
        os.replace(partial, final)
        fsync_dir(target)
        shutil.rmtree(old, ignore_errors=True)
        report.deployed_to = str(final)
        report.selftest["bundle"] = str(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def ssh_base(target: SshTarget, identity: Optional[Path], accept_new: bool, known_hosts: Optional[Path],
             ssh_options: Sequence[str]) -> list[str]:
    """The ``ssh`` command line (up to the remote command) of the module docs: batch mode, host keys verified
    (``accept_new``: trust an unknown one), ``identity``, ``known_hosts`` and extra ``-o`` ``ssh_options``."""
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
           "-o", f"StrictHostKeyChecking={'accept-new' if accept_new else 'yes'}",
           "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
           "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
    if identity is not None:
        if not Path(identity).expanduser().is_file():
            raise ValidationError(f"identity file {identity} does not exist")
        cmd += ["-i", str(Path(identity).expanduser()), "-o", "IdentitiesOnly=yes"]
    if known_hosts is not None:
        cmd += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
    for option in ssh_options:
        cmd += ["-o", option]
    if target.port:
        cmd += ["-p", str(target.port)]
    return cmd + [target.destination]


def ssh_error(target: SshTarget, stderr: str, rc: int, action: str = "deploy") -> DeployError:
    """The :class:`DeployError` for a failed ``ssh`` command (exit ``rc``, its ``stderr``): a changed or unknown host
    key, refused authentication, an unreachable host, or its last words; ``action`` names what was refused."""
    text = stderr.strip()
    where = f"{target.host}:{target.port or 22}"
    entry = target.host if (target.port or 22) == 22 else f"[{target.host}]:{target.port}"
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key for" in text and "has changed" in text:
        return DeployError(f"host key changed for {where}: the server's host key differs from the one in "
                           "known_hosts (a reinstalled server, or someone intercepting the connection). Refusing to "
                           f"{action}; if the change is expected, remove the old key (ssh-keygen -R '{entry}') "
                           "and verify the new one")
    if "Host key verification failed" in text or "No ED25519 host key is known" in text or \
            re.search(r"No \S+ host key is known", text):
        return DeployError(f"host key of {where} is not known: add it to known_hosts after checking its "
                           f"fingerprint, or {action} with --accept-new-host-key to trust it on first use")
    if "Permission denied" in text:
        return DeployError(f"authentication to {target.destination} ({where}) failed: only key authentication is "
                           "used, never a password; give --identity KEY or load the key into ssh-agent")
    if any(s in text for s in ("Connection refused", "timed out", "No route to host", "Could not resolve",
                               "Network is unreachable", "Connection closed", "Connection reset")):
        return DeployError(f"cannot reach {where}: {text.splitlines()[-1] if text else 'no answer'}")
    return DeployError(f"ssh to {where} failed (exit {rc}): {text[-1500:] or 'no message'}")


def _deploy_ssh(bundle: Path, names: list[str], target: SshTarget, report: DeployReport,
                base: list[str], remote_python: str) -> None:
    def ssh(command: str, stdin: Optional[bytes] = None, timeout: float = 60 + CONNECT_TIMEOUT_S
            ) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(base + ["--", command], input=stdin if stdin is not None else b"",
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise DeployError(f"ssh to {target.host}:{target.port or 22} timed out after {timeout:.0f} s") from exc
        except FileNotFoundError as exc:
            raise DeployError("the OpenSSH client (ssh) is not installed") from exc

    folder = shlex.quote(target.path)
    name = bundle.name
    final = f"{target.path}/{name}"
    done = ssh(f"mkdir -p {folder} && cd {folder} && mktemp -d .{shlex.quote(name)}.partial-XXXXXXXX")
    if done.returncode != 0:
        raise ssh_error(target, done.stderr.decode(errors="replace"), done.returncode)
    partial = f"{target.path}/{done.stdout.decode().strip().splitlines()[-1]}"
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for n in names:
                tar.add(bundle / n, arcname=n)
        done = ssh(f"tar -xf - -C {shlex.quote(partial)} && chmod 755 {shlex.quote(partial)}", buf.getvalue(),
                   timeout=600)
        if done.returncode != 0:
            raise ssh_error(target, done.stderr.decode(errors="replace"), done.returncode)
        done = ssh(f"cd {shlex.quote(partial)} && {shlex.quote(remote_python)} run.py --selftest",
                   timeout=SELFTEST_TIMEOUT_S)
        out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        if done.returncode == 255 and not out:
            raise ssh_error(target, err, done.returncode)
        report.selftest = _selftest_json(out) or {"ok": False, "problems": [err.strip()[-2000:] or
                                                                            f"exit {done.returncode}"]}
        report.ok = done.returncode == 0 and bool(report.selftest.get("ok"))
        if not report.ok:
            report.error = "selftest failed on the target: " + "; ".join(report.selftest.get("problems") or [])
            return
        old = f"{target.path}/.{name}.old-{secrets.token_hex(4)}"
        swap = (f"set -e; if [ -e {shlex.quote(final)} ] || [ -L {shlex.quote(final)} ]; then "
                f"mv {shlex.quote(final)} {shlex.quote(old)}; fi; mv {shlex.quote(partial)} {shlex.quote(final)}; "
                f"rm -rf {shlex.quote(old)}")
        done = ssh(swap)
        if done.returncode != 0:
            raise ssh_error(target, done.stderr.decode(errors="replace"), done.returncode)
        partial = ""
        shown = final if final.startswith("/") else f"/~/{final}"
        report.deployed_to = f"ssh://{target.destination}{':' + str(target.port) if target.port else ''}{shown}"
        report.selftest["bundle"] = final
    finally:
        if partial:
            ssh(f"rm -rf {shlex.quote(partial)}", timeout=30 + CONNECT_TIMEOUT_S)


def deploy_bundle(ws: Optional["Workspace"], bundle: Union[str, Path], target: str,
                  identity: Optional[Union[str, Path]] = None, accept_new_host_key: bool = False,
                  known_hosts: Optional[Union[str, Path]] = None, ssh_options: Sequence[str] = (),
                  remote_python: str = "python3") -> DeployReport:
    """Deploy the bundle folder (or ``.zip``) ``bundle`` to ``target`` (a folder or ``ssh://...``); see the module
    docs. Raises :class:`ValidationError` for a bad bundle (nothing is copied) and :class:`DeployError` when the
    target cannot be reached or written."""
    started = time.perf_counter()
    bundle = Path(bundle).expanduser()
    with tempfile.TemporaryDirectory(prefix="cvops-deploy-") as scratch:
        if bundle.is_file() and bundle.suffix.lower() == ".zip":
            bundle = _unzip(bundle, Path(scratch))
        meta = check_bundle(bundle)
        names = sorted(set(meta["files"]) | {"model.json"})
        report = DeployReport(bundle=str(bundle.resolve()), target=str(target), ok=False, files=names)
        try:
            if str(target).startswith("ssh://"):
                ssh = SshTarget.parse(str(target))
                base = ssh_base(ssh, Path(identity) if identity else None, accept_new_host_key,
                                 Path(known_hosts) if known_hosts else None, ssh_options)
                _deploy_ssh(bundle, names, ssh, report, base, remote_python)
            else:
                _deploy_folder(bundle, names, Path(target), report)
        except (DeployError, OSError, subprocess.SubprocessError) as exc:
            report.ok = False
            report.error = str(exc)
            report.seconds = time.perf_counter() - started
            _record(ws, meta, report)
            if isinstance(exc, DeployError):
                raise
            raise DeployError(f"deploying to {target} failed: {exc}") from exc
        report.seconds = time.perf_counter() - started
        _record(ws, meta, report)
        return report


def _unzip(archive: Path, scratch: Path) -> Path:
    """A zipped bundle (one top-level folder) extracted into ``scratch``; returns that folder."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                parts = Path(info.filename).parts
                if Path(info.filename).is_absolute() or ".." in parts or len(parts) > 2 or \
                        (len(parts) == 1 and not info.is_dir()):
                    raise ValidationError(f"{archive}: unexpected entry {info.filename!r} (not a bundle zip)")
            zf.extractall(scratch)
    except zipfile.BadZipFile as exc:
        raise ValidationError(f"{archive} is not a valid zip file: {exc}") from exc
    folders = [p for p in scratch.iterdir() if p.is_dir()]
    if len(folders) != 1:
        raise ValidationError(f"{archive}: a bundle zip holds exactly one folder")
    return folders[0]
