"""A real local Ray cluster for the scale-out tests and benchmark: a head and worker nodes on 127.0.0.1 only.

``python tests/ray_testing.py TEMP_DIR WORKERS HEAD_CPUS WORKER_GPUS`` starts the cluster with
:class:`ray.cluster_utils.Cluster` (Ray's own multi-node test cluster: real GCS, raylets and object stores, one per
node) in *this* process, prints ``ADDRESS host:port`` on stdout and keeps it up until its stdin closes; then it shuts
down exactly the processes it started (never ``ray stop``, which would kill every Ray process on the machine). :class:`LocalCluster` runs that
script as a child process, so the test process itself only ever connects as a driver, the way ``cvops`` does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NODE = {"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024, "node_ip_address": "127.0.0.1",
        "include_dashboard": False}


def loopback_only() -> None:
    """Keep Ray's driver in this process on 127.0.0.1: by default it swaps a loopback address for the machine's own
    IP, which the cluster (bound to 127.0.0.1) does not listen on."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported
    if "ray._private.ray_constants" in sys.modules:
        sys.modules["ray._private.ray_constants"].ENABLE_RAY_CLUSTER = False


class LocalCluster:
    """A head (``head_cpus`` CPUs, no GPU) and ``workers`` worker nodes (1 CPU and ``worker_gpus`` GPUs each) on
    127.0.0.1, 100 MB object store each, in a child process.

    Its Ray temp folder is a fresh short folder under the system temp (Ray's socket paths must stay under 108
    bytes), also its ``RAY_TMPDIR`` (on a machine where no Ray ran before, ``/tmp/ray`` does not exist and the head
    node fails writing its address there), removed by :meth:`stop`."""

    def __init__(self, workers: int = 1, head_cpus: int = 1, worker_gpus: int = 0) -> None:
        loopback_only()
        self.temp_dir = Path(tempfile.mkdtemp(prefix="cvray-"))
        self.log_path = self.temp_dir / "cluster.log"
        self.log = self.log_path.open("wb")
        (self.temp_dir / "ray").mkdir()  # Ray writes its "current cluster" file to RAY_TMPDIR/ray, which must exist
        started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, __file__, str(self.temp_dir), str(workers), str(head_cpus),
                                      str(worker_gpus)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
                                                                  "RAY_TMPDIR": str(self.temp_dir)})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("ADDRESS "):
            log = self.log_path.read_text(errors="replace")[-3000:]
            self.stop()
            raise RuntimeError(f"the local Ray cluster did not start:\n{log}")
        self.address = line.split(" ", 1)[1]
        self.start_s = time.perf_counter() - started

    def stop(self, timeout_s: float = 60.0) -> None:
        """Shut the cluster down (its own processes only; idempotent); kill its process group if that hangs."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _serve(temp_dir: str, workers: int, head_cpus: int, worker_gpus: int) -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "num_cpus": head_cpus, "num_gpus": 0,
                                                            "temp_dir": temp_dir})
    for _ in range(workers):
        cluster.add_node(**NODE, num_gpus=worker_gpus)
    cluster.wait_for_nodes()
    print(f"ADDRESS {cluster.address}", flush=True)
    try:
        sys.stdin.read()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
