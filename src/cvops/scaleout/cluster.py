"""Connecting to a Ray cluster: ``--ray ADDRESS`` (``host:port`` of a head's GCS, or ``ray://host:10001``).

:func:`connect` joins the cluster as a driver for the length of one job and leaves it afterwards. The worker nodes
need the same ``cvops-workbench`` (with torch, Ultralytics and onnxruntime) installed as this machine: a probe task
checks that they import ``cvops`` of this version; when they do not, the job reconnects and ships this machine's
``cvops`` package to them through a Ray runtime environment (``py_modules``), so the code that runs remotely is
always the code of this workbench (its dependencies must be there already). Every Ray failure (the head unreachable,
a node or the connection lost mid-job) becomes a :class:`ClusterError` naming the address.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Optional, TypeVar

from cvops.common.errors import CvopsError

RAY_MISSING = "Ray is not installed: pip install 'cvops-workbench[ray]'"
NAMESPACE = "cvops"
REACH_S = 10.0
_LOCK = threading.Lock()
_HELD: dict[str, Any] = {"address": None, "users": 0, "external": False}  # this process's connection
T = TypeVar("T")


class ClusterError(CvopsError):
    """Ray is missing, the cluster cannot be reached, or it was lost during a job."""

    code = "cluster"
    exit_code = 1


def require_ray() -> ModuleType:
    """The ``ray`` module, or a :class:`ClusterError` saying how to install it. Ray's usage statistics (which it
    would send to Anyscale) are switched off for this process unless the user set them otherwise."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise ClusterError(RAY_MISSING) from None
    return ray


def ray_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from Ray (a lost node, actor, object or connection) rather than from our code."""
    ray = require_ray()
    return isinstance(exc, (ray.exceptions.RayError, ConnectionError)) and \
        not isinstance(exc, ray.exceptions.RayTaskError)


def lost(address: str, exc: BaseException) -> ClusterError:
    """The error of a job whose cluster went away."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ClusterError(f"the Ray cluster at {address} was lost during the job ({type(exc).__name__}"
                        f"{': ' + first[:300] if first else ''}); nothing was written to the catalog")


def call(address: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` (Ray calls); turn a Ray failure into :class:`ClusterError`, re-raise the remote error of our code."""
    ray = require_ray()
    try:
        return fn()
    except ray.exceptions.RayTaskError as exc:  # our code failed remotely: raise its own exception
        cause = exc.as_instanceof_cause()
        if isinstance(cause, CvopsError):
            raise cause from None
        raise ClusterError(f"a task failed on the Ray cluster at {address}: {exc}") from None
    except (ray.exceptions.RayError, ConnectionError) as exc:
        raise lost(address, exc) from None


def _probe() -> Optional[str]:
    """On a worker: the version of ``cvops`` it imports, or None."""
    try:
        import cvops
    except ImportError:
        return None
    return str(cvops.__version__)


def reachable(address: str, timeout_s: float = REACH_S) -> None:
    """A :class:`ClusterError` unless something listens at ``address`` (Ray itself would wait for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except ValueError:
        raise ClusterError(f"{address} is not a Ray address (host:port, or ray://host:port)") from None
    except OSError as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {exc.strerror or exc} (is its head "
                           "running? ray start --head, docs/scale-out.md)") from None


def _init(ray: ModuleType, address: str, runtime_env: Optional[dict[str, Any]]) -> None:
    reachable(address)
    try:
        ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False,
                 runtime_env=runtime_env, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {exc}") from None


@contextlib.contextmanager
def connect(address: str) -> Iterator[ModuleType]:
    """Join the cluster at ``address`` for one job (ships ``cvops`` to the workers when they lack this version).

    Jobs of one process share the connection (nested or concurrent, e.g. the GUI's); the last to end leaves the
    cluster. One cluster at a time per process: another address while connected is a :class:`ClusterError`."""
    ray = require_ray()
    with _LOCK:
        if _HELD["users"]:
            if _HELD["address"] != address:
                raise ClusterError(f"this process is connected to the Ray cluster at {_HELD['address']}; one "
                                   f"cluster at a time (wait for its jobs to end before using {address})")
        elif ray.is_initialized():  # connected by someone else in this process: use it, leave it to them
            _HELD["external"] = True
        else:
            _join(ray, address)
            _HELD["external"] = False
        _HELD.update(address=address, users=int(_HELD["users"] or 0) + 1)
    try:
        yield ray
    finally:
        with _LOCK:
            _HELD["users"] = int(_HELD["users"] or 0) - 1
            if not _HELD["users"]:
                if not _HELD["external"]:
                    ray.shutdown()
                _HELD["address"] = None


def _join(ray: ModuleType, address: str) -> None:
    """Connect; when the workers lack this version of ``cvops``, reconnect shipping it to them."""
    import cvops

    _init(ray, address, None)
    try:
        probe = ray.remote(num_cpus=0)(_probe)
        try:
            version = call(address, lambda: ray.get(probe.remote(), timeout=120))
        except ClusterError:
            version = None
        if version != cvops.__version__:
            ray.shutdown()
            _init(ray, address, {"py_modules": [str(Path(cvops.__file__).parent)]})
    except BaseException:
        ray.shutdown()
        raise


def where() -> dict[str, Any]:
    """On a worker: the node it runs on (Ray node id, IP address, host name)."""
    import socket

    import ray

    ctx = ray.get_runtime_context()
    return {"node_id": ctx.get_node_id(), "node_ip": ray.util.get_node_ip_address(), "hostname": socket.gethostname()}


def node_temp() -> Optional[str]:
    """On a worker: the folder of this node's Ray session (removed with the session, so what a lost job leaves
    there goes with it), or None (the system temp) where Ray does not say."""
    try:
        import ray

        return str(ray._private.worker._global_node.get_session_dir_path())  # no public API for it
    except Exception:  # another Ray version: the system temp folder
        return None
