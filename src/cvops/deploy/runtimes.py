"""The inference runtimes of the edge runner: onnxruntime and OpenVINO behind one small session interface, and the
``auto`` choice between them, measured on the device.

Like :mod:`cvops.deploy.edge_runner`, this file ships verbatim in every bundle (as ``runtimes.py`` next to
``run.py``), so it imports only the standard library and numpy; each runtime is imported when first used.

* :class:`OrtSession` — onnxruntime on an ``.onnx`` file, with the execution providers asked for (``cpu``;
  ``cuda``; ``tensorrt``: TensorRT, then CUDA, then the CPU; ``auto``: CUDA when this build has it and an NVIDIA
  driver is loaded, else the CPU — TensorRT only when asked, as it builds an engine for minutes on first use); a
  provider that fails to start (a GPU build without its libraries) is dropped and the next one tried.
* :class:`OvSession` — OpenVINO on an ``.onnx`` file (OpenVINO reads ONNX itself) or an IR (``.xml`` + ``.bin``),
  compiled for ``CPU``, ``GPU`` or ``AUTO``, latency hint, float32 inference precision: OpenVINO's CPU default on
  CPUs with bf16 instructions (Sapphire Rapids and newer) is bf16, which cost a demo model 43 points of mAP50-95.
* :func:`measure` — the median forward latency of each usable runtime on one input; :func:`choose` picks the
  fastest of those whose detections passed, :func:`save_choice` / :func:`load_choice` remember it in
  ``runtime_choice.json`` keyed by the model's sha256 and the machine (``--runtime auto``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

RUNTIMES = ("onnxruntime", "openvino")
INSTALL = {"onnxruntime": "pip install onnxruntime (onnxruntime-gpu for CUDA and TensorRT)",
           "openvino": "pip install openvino"}
ORT_PROVIDERS = {"cpu": ["CPUExecutionProvider"],
                 "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
                 "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
                 "auto": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
OV_DEVICES = ("CPU", "GPU", "AUTO")
CHOICE_FILE = "runtime_choice.json"
WARMUP, RUNS = 3, 15


class RuntimeFailure(RuntimeError):
    """A runtime is not installed, or cannot load or run the model; the message says which and why."""


@dataclass(frozen=True)
class Port:
    """One model input or output: its name, shape (None for a dynamic dimension) and element type (``float32``,
    ``float16``)."""

    name: str
    shape: tuple[Optional[int], ...]
    type: str


def installed(runtime: str) -> bool:
    """Whether ``runtime``'s Python package can be imported here."""
    return importlib.util.find_spec(runtime) is not None


def runtime_for(path: Path) -> str:
    """The runtime a model file needs by default: OpenVINO for an IR (``.xml``), onnxruntime otherwise."""
    return "openvino" if Path(path).suffix.lower() == ".xml" else "onnxruntime"


def readers(path: Path) -> list[str]:
    """The runtimes that can read ``path``, default first (an IR needs OpenVINO; OpenVINO reads ONNX too)."""
    return ["openvino"] if runtime_for(path) == "openvino" else list(RUNTIMES)


def runtimes_for(path: Path) -> list[str]:
    """:func:`readers` of ``path`` installed here."""
    return [r for r in readers(path) if installed(r)]


def import_openvino() -> Any:
    """``import openvino`` with its usage reporting off. The package's import loads its model converter, whose import
    sends an event to Google Analytics (and NNCF's import keeps a client id under ``~/intel``) through the optional
    ``openvino-telemetry`` package, unless a consent file in the user's home or a CI variable says no. Both fall
    back to a silent stub when that package cannot be imported, so this process is made unable to import it first
    (``sys.modules[name] = None``, Python's way to block one import); nothing the workbench or run.py uses needs it.
    :class:`ImportError` when OpenVINO is not installed."""
    sys.modules.setdefault("openvino_telemetry", None)
    import openvino

    return openvino


def model_digest(path: Path) -> str:
    """The sha256 that identifies a model file: its bytes; for an OpenVINO IR, its ``.xml`` and ``.bin`` together
    (``sha256("model.xml\\0" + sha256(xml) + "model.bin\\0" + sha256(bin))``, as the workbench records the export)."""
    path = Path(path)
    if path.suffix.lower() != ".xml":
        return file_sha256(path)
    digest = hashlib.sha256()
    for f in (path, path.with_suffix(".bin")):
        digest.update(f.name.encode() + b"\0" + file_sha256(f).encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read once per path, size and modification time (run.py's start, its runtime
    choice and its field log all ask for the model's)."""
    stat = os.stat(path)
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def nvidia_present() -> bool:
    """Whether an NVIDIA driver is loaded here (``auto`` tries CUDA only then: a GPU build of onnxruntime on a
    machine without a GPU would try, fail and fall back on every start)."""
    if platform.system() == "Linux":
        return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvhost-ctrl")  # desktop GPUs, Jetson
    import ctypes.util

    return ctypes.util.find_library("nvcuda") is not None or ctypes.util.find_library("cuda") is not None


def _ort_type(text: str) -> str:
    return "float16" if "float16" in text else "float32" if "float" in text else text


class OrtSession:
    """onnxruntime on an ``.onnx`` file; ``providers`` is a key of :data:`ORT_PROVIDERS` or a list of provider
    names (the CPU only by default)."""

    runtime = "onnxruntime"

    def __init__(self, path: Path, providers: Any = None, threads: Optional[int] = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeFailure(f"onnxruntime is not installed ({INSTALL['onnxruntime']})") from None
        self.version = str(ort.__version__)
        ort.set_default_logger_severity(3)  # a GPU provider that cannot start falls back quietly (see below)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        wanted = ORT_PROVIDERS.get(providers, ORT_PROVIDERS["cpu"]) if providers is None or isinstance(
            providers, str) else list(providers)
        available = ort.get_available_providers()
        if providers == "auto" and not nvidia_present():
            available = [p for p in available if p not in ("CUDAExecutionProvider", "TensorrtExecutionProvider")]
        chain = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        while True:
            try:
                self.session = ort.InferenceSession(str(path), options, providers=chain)
                break
            except Exception as exc:  # onnxruntime raises its own types: a damaged file, or a provider that fails
                if len(chain) > 1 and "CPUExecutionProvider" in chain:
                    chain = chain[1:]  # e.g. TensorRT's libraries missing: try the next provider
                    continue
                raise RuntimeFailure(f"{path} is corrupt or not an ONNX model: {str(exc).strip()[:300]}") from exc
        self.inputs = [Port(i.name, tuple(d if isinstance(d, int) and d > 0 else None for d in i.shape),
                            _ort_type(i.type)) for i in self.session.get_inputs()]
        self.outputs = [Port(o.name, tuple(d if isinstance(d, int) and d > 0 else None for d in o.shape),
                             _ort_type(o.type)) for o in self.session.get_outputs()]
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.providers: list[str] = list(self.session.get_providers())
        self.device = self.providers[0].replace("ExecutionProvider", "").upper()

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output for one input batch."""
        return [np.asarray(o) for o in self.session.run(None, {self.inputs[0].name: batch})]


class OvSession:
    """OpenVINO on an ``.onnx`` file or an IR ``.xml`` (its ``.bin`` beside it), compiled for ``device``."""

    runtime = "openvino"

    def __init__(self, path: Path, device: Optional[str] = None, threads: Optional[int] = None) -> None:
        try:
            ov = import_openvino()
        except ImportError:
            raise RuntimeFailure(f"OpenVINO is not installed ({INSTALL['openvino']})") from None
        self.version = str(ov.get_version()).split("-")[0]
        core = ov.Core()
        device = (device or "CPU").upper()
        if device not in OV_DEVICES:
            raise RuntimeFailure(f"unknown OpenVINO device {device!r} (choose from {', '.join(OV_DEVICES)})")
        if device == "GPU" and "GPU" not in core.available_devices:
            raise RuntimeFailure(f"OpenVINO sees no GPU here (devices: {', '.join(core.available_devices)})")
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses for unreadable files
            raise RuntimeFailure(f"{path} is corrupt or not a model OpenVINO reads: {str(exc).strip()[:300]}"
                                 ) from exc
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if device in ("CPU", "AUTO"):
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if threads and device == "CPU":
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self.compiled = core.compile_model(model, device, config)
        except Exception as exc:
            raise RuntimeFailure(f"OpenVINO cannot compile {path} for {device}: {str(exc).strip()[:300]}") from exc
        self.request = self.compiled.create_infer_request()
        self.inputs = [self._port(p) for p in model.inputs]
        self.outputs = [self._port(p) for p in model.outputs]
        self.metadata = _ov_metadata(model)
        self.providers = [f"OpenVINO:{device}"]
        self.device = device

    @staticmethod
    def _port(port: Any) -> Port:
        shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        kind = port.get_element_type().get_type_name()
        return Port(port.get_any_name(), shape, {"f16": "float16", "f32": "float32"}.get(kind, kind))

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output for one input batch."""
        result = self.request.infer({0: batch})
        return [np.asarray(result[out]) for out in self.compiled.outputs]


def _ov_metadata(model: Any) -> dict[str, str]:
    """The metadata Ultralytics writes into the ONNX file (names, imgsz, stride, task), as OpenVINO keeps it: under
    ``framework`` (for an ONNX file, and in an IR saved from one), or ``model_info`` (Ultralytics' own IR export)."""
    out: dict[str, str] = {}
    for section in ("framework", "model_info"):
        if model.has_rt_info([section]):
            value = model.get_rt_info([section]).value
            for key, item in (value.items() if isinstance(value, dict) else ()):
                out.setdefault(str(key), str(getattr(item, "value", item)))
    return out


def open_session(path: Path, runtime: Optional[str] = None, providers: Any = None, device: Optional[str] = None,
                 threads: Optional[int] = None) -> Any:
    """A session on ``path`` in ``runtime`` (the file's default, :func:`runtime_for`, when None)."""
    runtime = runtime or runtime_for(path)
    if runtime == "openvino":
        return OvSession(path, device, threads)
    if runtime == "onnxruntime":
        if runtime_for(path) == "openvino":
            raise RuntimeFailure(f"{Path(path).name} is an OpenVINO IR; onnxruntime reads .onnx files only")
        return OrtSession(path, providers, threads)
    raise RuntimeFailure(f"unknown runtime {runtime!r} (choose from {', '.join(RUNTIMES)})")


def latency_ms(session: Any, batch: np.ndarray, runs: int = RUNS, warmup: int = WARMUP) -> dict[str, float]:
    """p50 and p95 forward milliseconds of ``session`` on ``batch`` over ``runs`` timed runs after ``warmup``."""
    for _ in range(warmup):
        session.run(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(batch)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50": round(float(np.percentile(times, 50)), 3), "p95": round(float(np.percentile(times, 95)), 3)}


def measure(candidates: Sequence[tuple[str, Callable[[], Any]]], check: Callable[[Any], list[str]],
            batch: Callable[[Any], np.ndarray], runs: int = RUNS) -> list[dict[str, Any]]:
    """One row per candidate ``(runtime, open)``: ``{runtime, device, version, latency_ms, ok, problems}``.
    ``open()`` gives a session (or an object with a ``session``), ``check(it)`` the problems of its detections
    (none: it may be chosen), ``batch(it)`` the input it is timed on (``runs`` times; 0: not timed)."""
    rows = []
    for runtime, opener in candidates:
        row: dict[str, Any] = {"runtime": runtime, "device": None, "version": None, "latency_ms": None,
                               "ok": False, "problems": []}
        try:
            opened = opener()
            session = opened if isinstance(opened, (OrtSession, OvSession)) else opened.session
            row.update(device=session.device, version=session.version)
            row["problems"] = check(opened)
            if runs > 0:
                row["latency_ms"] = latency_ms(session, batch(opened), runs)
            row["ok"] = not row["problems"]
        except (RuntimeError, ValueError, OSError) as exc:  # RuntimeFailure, the runner's BundleError, ...
            row["problems"] = [str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"]
        rows.append(row)
    return rows


def choose(rows: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The fastest row that passed (by p50 latency; an untimed one when it is the only one), with ``speedup`` over
    the next fastest that passed and ``reason``."""
    passed = sorted((r for r in rows if r["ok"]),
                    key=lambda r: r["latency_ms"]["p50"] if r["latency_ms"] else float("inf"))
    if not passed:
        return None
    best = dict(passed[0])
    others = [r for r in passed[1:] if r["latency_ms"]]
    if others and best["latency_ms"]:
        best["speedup"] = round(others[0]["latency_ms"]["p50"] / max(best["latency_ms"]["p50"], 1e-6), 3)
        best["reason"] = (f"{best['runtime']} {best['latency_ms']['p50']:.1f} ms vs {others[0]['runtime']} "
                          f"{others[0]['latency_ms']['p50']:.1f} ms per forward pass: {best['speedup']:.2f}x faster")
    else:
        best["speedup"] = None
        failed = [f"{r['runtime']} failed ({'; '.join(r['problems'])[:200]})" for r in rows if not r["ok"]]
        best["reason"] = (f"{best['runtime']}: the only runtime here that reads this model"
                          if len(rows) == 1 else f"{best['runtime']}: " + "; ".join(failed))
    return best


def machine() -> dict[str, Any]:
    """What identifies this machine for a remembered choice: host, OS, CPU and its core count."""
    return {"host": platform.node(), "system": platform.system(), "machine": platform.machine(),
            "processor": platform.processor() or _cpu_name(), "cpus": os.cpu_count()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def load_choice(folder: Path, model_sha256: str) -> Optional[dict[str, Any]]:
    """The choice remembered in ``folder`` for this model and this machine, or None (absent, unreadable, another
    model or machine, or a runtime no longer installed)."""
    try:
        data = json.loads((Path(folder) / CHOICE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("model_sha256") != model_sha256 or data.get("machine") != machine():
        return None
    chosen = data.get("chosen")
    if not isinstance(chosen, dict) or chosen.get("runtime") not in RUNTIMES or not installed(chosen["runtime"]):
        return None
    return data


def save_choice(folder: Path, model_sha256: str, rows: list[dict[str, Any]], chosen: dict[str, Any]
                ) -> Optional[Path]:
    """Remember ``chosen`` (and every measurement) in ``folder/runtime_choice.json`` (temp file + rename); None
    when the folder is not writable (the choice is then measured again next time)."""
    path = Path(folder) / CHOICE_FILE
    data = {"model_sha256": model_sha256, "machine": machine(), "measured_at": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "chosen": chosen, "measurements": rows}
    tmp = path.with_name(f".{CHOICE_FILE}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    return path
