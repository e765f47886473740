"""One training run on a Ray cluster node: a :data:`cvops.training.runner.Spawner` for the usual run record.

:func:`ray_spawner` gives :func:`cvops.training.runner.start_run` a spawner that starts the run's child
(``python -m cvops.training.child``, the same code as a local run) on a cluster node, inside a Ray actor
(:class:`TrainingNode`, holding 1 CPU and ``gpus`` GPUs), in a temporary folder in the node's Ray session folder.
The version's materialized data goes with it (``data``): ``shared`` reads it from the same path (shared storage),
``ship`` packs it into the object store, ``auto`` uses the path when the node sees the same files there and ships
them otherwise; a ``.pt`` starting point (``--weights``) and a resumed run's ``last.pt`` are always shipped.

The handle (:class:`RemoteChild`) looks like a local child to :func:`cvops.training.runner.supervise`: a thread
polls the actor every :data:`POLL_S` seconds and appends the child's new events (paths rewritten to the local run
folder; ``started`` gains ``environment.ray``: address, node, how the data went) to the local ``events.jsonl`` and
its output to ``train.log``; the local ``cancel`` file (Ctrl+C, the GUI's Cancel) is passed on to the node. When the
child ends, ``best.pt``, ``last.pt`` and ``results.csv`` come back into the local run folder *before* the final event
is written, so the model registers locally as for a local run. A cluster lost mid-run ends the run ``failed`` with
the reason; the temporary folder on the node is removed at the end (a lost node's goes with its Ray session).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal as signals
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cvops.common.errors import ValidationError
from cvops.scaleout.cluster import ClusterError, call, lost, node_temp, ray_failure, require_ray, where

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace
    from cvops.training.runner import Spawner

POLL_S = 0.3
DATA_MODES = ("auto", "ship", "shared")
FINAL = ("finished", "cancelled", "failed")
FETCHED = ("train/weights/best.pt", "train/weights/last.pt", "train/results.csv")


def data_digest(folder: Path) -> str:
    """What identifies a materialized dataset: ``data.yaml`` and every file's relative path and size."""
    digest = hashlib.sha256((folder / "data.yaml").read_bytes())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.endswith(".cache"):
            digest.update(f"{path.relative_to(folder).as_posix()}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def pack(folder: Path) -> bytes:
    """A gzip-less tar of ``folder`` (labels caches left out)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(folder), arcname=".", filter=lambda t: None if t.name.endswith(".cache") else t)
    return buf.getvalue()


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child on the node
    """Linux: the child is killed when the actor's process ends (a lost driver ends the actor)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signals.SIGKILL)  # PR_SET_PDEATHSIG


class TrainingNode:
    """The Ray actor on the node that runs one training child (``ray.remote(TrainingNode)``)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cvops-run-", dir=node_temp()))
        self.run_dir = self.dir / "run"
        self.run_dir.mkdir()
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def where(self) -> dict[str, Any]:
        """The node this actor runs on."""
        return where()

    def sees(self, data_yaml: str, digest: str) -> bool:
        """Whether the materialized data is readable here at the same path, with the same files."""
        folder = Path(data_yaml).parent
        try:
            return folder.is_dir() and data_digest(folder) == digest
        except OSError:
            return False

    def start(self, config: dict[str, Any], files: dict[str, bytes], data: Optional[bytes]) -> str:
        """Unpack what was shipped, write the config and start the child; return the remote run folder."""
        if data is not None:
            target = self.dir / "data"
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(target, filter="data")
            config["data_yaml"] = str(target / "data.yaml")
        for key, blob in files.items():
            path = self.dir / "files" / f"{key}-{Path(config[key]).name}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(blob)
            config[key] = str(path)
        config.update(run_dir=str(self.run_dir), cancel_file=str(self.run_dir / "cancel"))
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if str(config.get("device")) == "auto" and len([g for g in gpus.split(",") if g.strip()]) > 1:
            config["device"] = ",".join(str(i) for i in range(len(gpus.split(","))))
        (self.run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
        import cvops

        src = str(Path(cvops.__file__).resolve().parents[1])  # where this node imports cvops from (maybe shipped)
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
        with (self.run_dir / "train.log").open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "cvops.training.child",
                                          str(self.run_dir / "config.json")], stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=str(self.run_dir), env=env,
                                         preexec_fn=_die_with_parent)
        return str(self.run_dir)

    def read(self, events_at: int, log_at: int) -> tuple[Optional[int], bytes, bytes]:
        """The child's exit code (None while it runs), then its events and output since the given offsets."""
        code = self.proc.poll() if self.proc is not None else 1
        out = []
        for name, offset in (("events.jsonl", events_at), ("train.log", log_at)):
            path = self.run_dir / name
            data = b""
            if path.is_file():
                with path.open("rb") as f:
                    f.seek(offset)
                    data = f.read(8 * 1024 * 1024)
            out.append(data)
        return code, out[0], out[1]

    def cancel(self) -> None:
        """Ask the child to stop after its current batch."""
        (self.run_dir / "cancel").touch()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's process group."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def fetch(self, relative: str) -> Optional[bytes]:
        """A file of the remote run folder, or None."""
        path = self.run_dir / relative
        return path.read_bytes() if path.is_file() else None

    def cleanup(self) -> None:
        """Remove the temporary folder."""
        shutil.rmtree(self.dir, ignore_errors=True)


class RemoteChild:
    """The local handle of a remote child (Popen's ``pid``, ``poll``, ``wait``; ``signal``), and its relay thread."""

    def __init__(self, address: str, actor: Any, run_dir: Path, remote_dir: str, info: dict[str, Any]) -> None:
        self.address, self.actor, self.run_dir, self.remote_dir, self.info = address, actor, run_dir, remote_dir, info
        self.pid = os.getpid()  # the process that relays (and owns the actor)
        self.returncode: Optional[int] = None
        self.killed = False
        self._offsets = [0, 0]
        self._held: list[bytes] = []  # the final event's lines, written once the weights are back
        self._thread = threading.Thread(target=self._relay, name=f"ray-run-{run_dir.name}", daemon=True)
        self._thread.start()

    def poll(self) -> Optional[int]:
        """The child's exit code once it ended and everything came back, else None."""
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        """Wait for :meth:`poll` to give a code (``subprocess.TimeoutExpired`` after ``timeout``)."""
        self._thread.join(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired("remote training child", timeout or 0)
        return self.returncode

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the remote child; SIGKILL also ends the actor (and so the child with it)."""
        ray = require_ray()
        try:
            ray.get(self.actor.signal.remote(int(sig)), timeout=10)
        except Exception:  # the node may be gone already; the kill below still applies
            pass
        if sig == signals.SIGKILL:
            self.killed = True
            ray.kill(self.actor)
            self._thread.join(5)
            if self.returncode is None:
                self.returncode = -int(sig)

    def _write(self, lines: list[bytes], log: bytes) -> None:
        if log:
            with (self.run_dir / "train.log").open("ab") as f:
                f.write(log)
        if lines:
            with (self.run_dir / "events.jsonl").open("ab") as f:
                f.write(b"".join(lines))

    def _rewrite(self, line: bytes) -> bytes:
        """A remote event with local paths; ``started`` gains where it runs."""
        ev = json.loads(line)
        text = json.dumps(ev).replace(json.dumps(self.remote_dir)[1:-1], json.dumps(str(self.run_dir))[1:-1])
        ev = json.loads(text)
        if ev.get("event") == "started":
            ev["environment"] = {**(ev.get("environment") or {}), "ray": self.info}
        return (json.dumps(ev) + "\n").encode()

    def _relay(self) -> None:
        ray = require_ray()
        cancel_sent = False
        try:
            while True:
                if not cancel_sent and (self.run_dir / "cancel").exists():
                    ray.get(self.actor.cancel.remote(), timeout=30)
                    cancel_sent = True
                code, events, log = ray.get(self.actor.read.remote(*self._offsets), timeout=60)
                end = events.rfind(b"\n") + 1
                self._offsets[0] += end
                self._offsets[1] += len(log)
                lines = []
                for line in events[:end].splitlines(keepends=True):
                    if not line.strip():
                        continue
                    line = self._rewrite(line)
                    (self._held if self._held or json.loads(line).get("event") in FINAL else lines).append(line)
                self._write(lines, log)
                if code is not None and end == len(events) and len(log) < 8 * 1024 * 1024:
                    break
                threading.Event().wait(POLL_S)
            for relative in FETCHED:
                blob = ray.get(self.actor.fetch.remote(relative), timeout=600)
                if blob is not None:
                    (self.run_dir / relative).parent.mkdir(parents=True, exist_ok=True)
                    (self.run_dir / relative).write_bytes(blob)
            self._write(self._held, b"")
            ray.get(self.actor.cleanup.remote(), timeout=60)
            ray.kill(self.actor)
            self.returncode = code
        except Exception as exc:  # the cluster or the node went away (or this disk failed): the run fails, saying why
            if self.killed:
                return
            error = (str(lost(self.address, exc)).replace("; nothing was written to the catalog", "")
                     if ray_failure(exc) else f"relaying the remote run failed: {type(exc).__name__}: {exc}")
            try:
                self._write([(json.dumps({"event": "failed", "error": error}) + "\n").encode()],
                            f"\n{error}\n".encode())
            finally:
                self.returncode = 1


def ray_spawner(address: str, gpus: float = 0, data: str = "auto") -> "Spawner":
    """A spawner that runs a run's child on a node of the (connected) cluster at ``address``, with ``gpus`` GPUs."""
    if data not in DATA_MODES:
        raise ValidationError(f"unknown data mode {data!r} (use {', '.join(DATA_MODES)})")

    def spawn(ws: "Workspace", run_id: int, config: dict[str, Any]) -> RemoteChild:
        ray = require_ray()
        have = call(address, ray.cluster_resources)
        if gpus and float(have.get("GPU", 0)) < gpus:  # Ray would wait for them for ever
            raise ClusterError(f"the Ray cluster at {address} has {float(have.get('GPU', 0)):g} GPU(s) in all; "
                               f"the run asks for {gpus:g} (--gpus)")
        actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=0)(TrainingNode).remote()
        folder = Path(config["data_yaml"]).parent
        info: dict[str, Any] = {"address": address, "gpus": gpus, **call(address, lambda: ray.get(
            actor.where.remote(), timeout=300))}
        shared = data != "ship" and call(address, lambda: ray.get(
            actor.sees.remote(config["data_yaml"], data_digest(folder)), timeout=300))
        if data == "shared" and not shared:
            ray.kill(actor)
            raise ClusterError(f"node {info['hostname']} ({info['node_ip']}) does not see the version's data at "
                               f"{folder} (use --ray-data ship, or mount the workspace there at the same path)")
        info["data"] = "shared" if shared else "shipped"
        files = {key: Path(config[key]).read_bytes() for key in ("model", "resume")
                 if config.get(key) and Path(str(config[key])).is_file()}
        blob = None if shared else ray.put(pack(folder))
        remote_dir = call(address, lambda: ray.get(actor.start.remote(dict(config), files, blob), timeout=600))
        return RemoteChild(address, actor, Path(config["run_dir"]), remote_dir, info)

    return spawn


class RayExecutor:
    """A tuning study's trial executor (``cvops.tuning``'s ``TrialExecutor``) whose trials train on the cluster.

    It wraps ``base`` (the study's local executor, which supervises a run and answers the pruner) and gives each
    trial's run the :func:`ray_spawner`: Optuna and the study stay in this workspace, each trial is one Ray actor
    with ``gpus`` GPUs on some node; pruning and cancel reach it as for :func:`ray_spawner`'s runs.
    """

    def __init__(self, address: str, base: Any, gpus: float = 0, data: str = "auto") -> None:
        self.address, self.base = address, base
        self.spawner = ray_spawner(address, gpus=gpus, data=data)

    def run(self, ws: "Workspace", options: dict[str, Any], on_epoch: Any, **kwargs: Any) -> Any:
        """Run one trial as ``base`` does, on the cluster (connected for the trial unless already)."""
        from cvops.scaleout.cluster import connect

        with connect(self.address):
            return self.base.run(ws, {**options, "spawner": self.spawner}, on_epoch, **kwargs)
