"""Pre-label throughput on a local 2-worker Ray cluster vs the single-process path, with the overhead.

Data: a demo workspace (``run_demo``, ``--n`` shapes images) in a temporary folder, a tiny model trained for one
epoch at ``--imgsz`` px and exported to ONNX once (cached: neither arm pays for it). Cluster: a head node without
CPUs and two worker nodes of 1 CPU each on 127.0.0.1 (``tests/ray_testing.py``), so the tasks run in two processes.

* ``local``: :func:`cvops.assist.prelabel.prelabel` in this process (onnxruntime uses every core).
* ``ray_first``: :func:`cvops.scaleout.inference.prelabel` on the cluster, the images read in place (the workers see
  the same paths): the first run pays for the workers' start and model load.
* ``ray_warm``: the same again.
* ``ray_shipped``: the same with every image's bytes shipped through the object store (``data="ship"``), as for
  nodes that do not see the workspace.

Reported: seconds and images per second of each, the ratio local time / cluster time (above 1: the cluster is
faster), the cluster's start time and the connect time, and the megabytes shipped. Every cluster run must store
exactly the suggestions of the local run (pass). The ratio is what it is on this machine: two worker processes on a
machine with few cores compete with each other and with onnxruntime's own threads; the figure that scales is
images per second per worker node on separate machines.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from _common import emit, environment, log, stdout_to_stderr, temp_root

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: ray_testing
from ray_testing import LocalCluster  # noqa: E402

from cvops.assist import prelabel as P  # noqa: E402
from cvops.data.workspace import Workspace  # noqa: E402
from cvops.models.registry import get_model  # noqa: E402
from cvops.samples.demo import run_demo  # noqa: E402
from cvops.scaleout import inference  # noqa: E402
from cvops.training import train  # noqa: E402

CONF = 0.001  # a 1-epoch model is unsure of everything: keep its guesses, so there are boxes to compare


def suggestions(ws: Workspace) -> list[tuple[Any, ...]]:
    return sorted((a.image_id, a.class_id, a.box, a.confidence) for a in P.pending(ws))


def timed(name: str, ws: Workspace, run: Any, n: int) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """Run one arm after clearing the suggestions; its figures and the suggestions it stored."""
    P.reject(ws, [a.id for a in P.pending(ws)])
    started = time.perf_counter()
    with stdout_to_stderr():
        report = run()
    seconds = time.perf_counter() - started
    log(f"{name}: {report.images} images, {report.suggestions} suggestions in {seconds:.2f} s")
    return {"seconds": round(seconds, 3), "images_per_s": round(n / seconds, 1), "suggestions": report.suggestions,
            "images": report.images}, suggestions(ws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=480, help="demo images")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--chunk", type=int, default=32, help="images per Ray task")
    args = parser.parse_args()
    with temp_root("ray-prelabel") as root:
        run_demo(root / "ws", count=args.n)
        with Workspace.open(root / "ws") as ws:
            log("training a 1-epoch model and exporting it to ONNX (not timed)")
            with stdout_to_stderr():
                result = train(ws, "v1", epochs=1, imgsz=args.imgsz, batch=16, device="cpu")
                model = get_model(ws, str(result.model))
                P.model_onnx(ws, model)
            ids = [r[0] for r in ws.db.execute("SELECT id FROM images ORDER BY id")]
            n = len(ids)
            local, expected = timed("local", ws, lambda: P.prelabel(ws, model.name, image_ids=ids, conf=CONF), n)
            cluster = LocalCluster(workers=2, head_cpus=0)
            log(f"cluster up in {cluster.start_s:.1f} s at {cluster.address}")
            try:
                started = time.perf_counter()
                from cvops.scaleout.cluster import connect

                with connect(cluster.address):
                    connect_s = time.perf_counter() - started
                    arms: dict[str, Any] = {}
                    equal: dict[str, bool] = {}
                    for name, data in (("ray_first", "auto"), ("ray_warm", "auto"), ("ray_shipped", "ship")):
                        arms[name], got = timed(name, ws, lambda data=data: inference.prelabel(
                            ws, cluster.address, model.name, image_ids=ids, conf=CONF, data=data, chunk=args.chunk), n)
                        equal[name] = got == expected
            finally:
                cluster.stop()
            shipped_mb = sum(ws.images.path(r).stat().st_size for r in ws.images.many(ids)) / 1e6
    emit({"benchmark": "ray_prelabel", "environment": environment(),
          "settings": {"images": n, "imgsz": args.imgsz, "chunk": args.chunk, "workers": 2, "cpus_per_worker": 1},
          "local": local, **arms,
          "ratio_local_over_ray_warm": round(local["seconds"] / arms["ray_warm"]["seconds"], 2),
          "ratio_local_over_ray_first": round(local["seconds"] / arms["ray_first"]["seconds"], 2),
          "overhead": {"cluster_start_s": round(cluster.start_s, 2), "connect_s": round(connect_s, 2),
                       "first_run_extra_s": round(arms["ray_first"]["seconds"] - arms["ray_warm"]["seconds"], 2),
                       "shipping_extra_s": round(arms["ray_shipped"]["seconds"] - arms["ray_warm"]["seconds"], 2),
                       "shipped_mb": round(shipped_mb, 1)},
          "pass": {"local_stored_suggestions": local["suggestions"] > 0,
                   **{f"{name}_equals_local": ok for name, ok in equal.items()}}})


if __name__ == "__main__":
    main()
