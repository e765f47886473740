"""Edge runtime check on another machine's CPU: a bundle's run.py in onnxruntime and OpenVINO there.

Standalone (not collected by pytest); needs only what a bundle needs (numpy, OpenCV, onnxruntime, OpenVINO), so it
runs on a machine without the workbench (see ``README.md`` here)::

    python3 tests/gpu/edge_runtime_check.py BUNDLE      # BUNDLE: a folder `cvops bundle` wrote from an ONNX export

Prints (and writes to ``$OUT/edge_runtime_check.json`` when ``OUT`` is set) one JSON object: the CPU (model, cores,
AVX-512 / AMX / VNNI / bf16 flags), ``run.py --selftest``'s summary (each runtime's latency and verdict, the chosen
one and why), a ``run.py sample.jpg`` with ``--runtime auto`` after it, forward latency p50/p95 of both runtimes at
all cores and at 2 threads (30 runs after 5 warm-up), and OpenVINO's own default inference precision (bf16 on CPUs
that have it) against the f32 the runner forces: its largest raw output difference and its latency.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

bundle = Path(sys.argv[1]).resolve()
out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
res = {"python": platform.python_version(), "cpus": os.cpu_count()}
try:
    res["lscpu"] = [l for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                    if l.split(":")[0] in ("Model name", "Flags", "Thread(s) per core", "Core(s) per socket", "Socket(s)")]
    res["lscpu"] = [l if not l.startswith("Flags") else "Flags: " + " ".join(f for f in l.split() if any(k in f for k in ("avx512", "amx", "vnni", "bf16"))) for l in res["lscpu"]]
except Exception as exc:
    res["lscpu"] = str(exc)
t = time.time()
done = subprocess.run([sys.executable, str(bundle / "run.py"), "--selftest"], capture_output=True, text=True)
res["selftest_s"] = round(time.time() - t, 2)
res["selftest_rc"] = done.returncode
try:
    s = json.loads(done.stdout)
    res["selftest"] = {k: s.get(k) for k in ("ok", "problems", "runtime", "runtimes", "chosen", "hint")}
except Exception:
    res["selftest_out"] = done.stdout[-2000:] + done.stderr[-2000:]
done = subprocess.run([sys.executable, str(bundle / "run.py"), "sample.jpg"], capture_output=True, text=True, cwd=bundle)
res["run_auto"] = {"rc": done.returncode, "stderr": done.stderr[-500:], "detections": len(json.loads(done.stdout.splitlines()[0])["detections"]) if done.returncode == 0 else None}
spec = importlib.util.spec_from_file_location("run", bundle / "run.py")
run = importlib.util.module_from_spec(spec); spec.loader.exec_module(run)
run.load_siblings(bundle)
meta = run.read_meta(bundle)
img = run.frames.read_image(bundle / "sample.jpg", meta["imgsz"])
lat = {}
for threads in (None, 2):
    for rt in ("onnxruntime", "openvino"):
        d = run.Detector(bundle / "model.onnx", meta, runtime=rt, threads=threads)
        x = d.preprocess(img[0])[0][None]
        lat[f"{rt}_threads{threads or 'all'}"] = run.runtimes.latency_ms(d.session, x, runs=30, warmup=5)
res["forward_ms"] = lat
# OpenVINO's own default precision vs our f32 hint
ov = run.runtimes.import_openvino()
core = ov.Core()
res["ov_cpu_caps"] = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
m = core.read_model(str(bundle / "model.onnx"))
dflt = core.compile_model(m, "CPU", {"PERFORMANCE_HINT": "LATENCY"})
res["ov_default_precision"] = str(dflt.get_property("INFERENCE_PRECISION_HINT"))
f32 = run.Detector(bundle / "model.onnx", meta, runtime="openvino")
x = f32.preprocess(img[0])[0][None]
a = np.asarray(dflt.create_infer_request().infer({0: x})[dflt.outputs[0]])
b = f32.raw(x)
res["ov_default_vs_f32_max_abs_diff"] = float(np.max(np.abs(a - b)))
ort = run.Detector(bundle / "model.onnx", meta, runtime="onnxruntime")
res["ov_f32_vs_ort_max_abs_diff"] = float(np.max(np.abs(b - ort.raw(x))))
req = dflt.create_infer_request()
for _ in range(5): req.infer({0: x})
ts = []
for _ in range(30):
    s0 = time.perf_counter(); req.infer({0: x}); ts.append((time.perf_counter() - s0) * 1000)
res["ov_default_precision_ms_p50"] = round(float(np.median(ts)), 3)
print(json.dumps(res, indent=1))
if out is not None:
    (out / "edge_runtime_check.json").write_text(json.dumps(res, indent=1))
