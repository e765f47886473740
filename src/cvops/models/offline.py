"""Keep Ultralytics offline inside the training child process.

:func:`make_offline` runs first thing in the child, before Ultralytics is imported: it points Ultralytics at the
run folder for its settings, turns off settings sync, hub and the third-party loggers, replaces the helpers that
fetch fonts, weights for the AMP check or pip-install packages, and blocks every non-loopback socket connection, so any attempt to reach the
network fails loudly (and is written to the run's log) instead of hanging or silently downloading.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from pathlib import Path
from typing import Any, Callable

LOOPBACK = ("127.0.0.1", "::1", "localhost")

_SETTINGS_OFF = ("sync", "hub", "clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb",
                 "vscode_msg", "openvino_msg")


class OfflineError(RuntimeError):
    """Ultralytics tried to reach the network or install a package while training offline."""


def _no_font(*args: Any, **kwargs: Any) -> None:
    """Stand-in for ``check_font``: fonts are only used by plots, which runs turn off."""


_ALIASES = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu"), "opencv-python": ("opencv-python",
            "opencv-python-headless", "opencv-contrib-python")}


def _installed(requirement: str) -> bool:
    """Whether an installed distribution satisfies ``requirement`` (``name>=1.2,<2``)."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return False
    for dist in _ALIASES.get(req.name.lower(), (req.name,)):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        if not req.specifier or req.specifier.contains(version, prereleases=True):
            return True
    return False


def _no_requirements(requirements: Any = (), exclude: Any = (), install: bool = True, *args: Any,
                     **kwargs: Any) -> bool:
    """Stand-in for ``check_requirements``: true when installed, never pip-installs anything.

    Takes what Ultralytics passes: one requirement, a list, tuples of interchangeable packages
    (``("onnxruntime", "onnxruntime-gpu")``) or a requirements file. A missing one raises :class:`OfflineError`,
    or returns False when the caller asked only to check (``install=False``).
    """
    if isinstance(requirements, Path):
        from packaging.requirements import Requirement

        lines = requirements.read_text(encoding="utf-8").splitlines()
        wanted: list[Any] = [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]
        wanted = [r for r in wanted if Requirement(r).name not in exclude]
    else:
        wanted = [requirements] if isinstance(requirements, str) else list(requirements or ())
    missing = [str(r) for r in wanted
               if not any(_installed(str(c)) for c in (r if isinstance(r, (list, tuple)) else [r]))]
    if missing and install:
        raise OfflineError(f"Ultralytics wanted to install {missing!r}; the workbench works offline, "
                           "install the package into the environment first")
    return not missing


def _offline_check_amp(model: Any) -> bool:
    """Stand-in for ``check_amp``, which downloads ``yolo11n.pt`` to compare FP32 and AMP outputs.

    AMP is used on CUDA devices except the GPUs Ultralytics lists as unreliable with it; never on CPU or MPS.
    """
    import re

    import torch

    device = next(model.parameters()).device
    if device.type != "cuda":
        return False
    bad = re.compile(r"(nvidia|geforce|quadro|tesla).*?(1660|1650|1630|t400|t550|t600|t1000|t1200|t2000|k40m)",
                     re.IGNORECASE)
    return not bad.search(torch.cuda.get_device_name(device))


_STUBS: dict[str, Callable[..., Any]] = {"check_font": _no_font, "check_requirements": _no_requirements,
                                         "check_amp": _offline_check_amp}


def _guard_sockets() -> None:
    real_connect: Callable[..., Any] = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if self.family == getattr(socket, "AF_UNIX", None) or str(host) in LOOPBACK:
            return real_connect(self, address)
        print(f"cvops offline guard: blocked a network connection to {address!r}", file=sys.stderr, flush=True)
        raise OfflineError(f"network access blocked while training offline: {address!r}")

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]


def _patch_loaded_modules() -> int:
    """Replace the stubbed helpers in every loaded Ultralytics module (they are imported by name)."""
    patched = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("ultralytics") or module is None:
            continue
        for attr, stub in _STUBS.items():
            if callable(getattr(module, attr, None)):
                setattr(module, attr, stub)
                patched += 1
    return patched


def _keep_pillow_open() -> None:
    """Put Pillow's own ``Image.open`` back where Ultralytics replaced it and pi-heif is not installed.

    Ultralytics' replacement answers a file Pillow cannot identify by pip-installing pi-heif (for HEIC photos); offline
    that raises :class:`OfflineError` instead of ``UnidentifiedImageError``, so a corrupt image anywhere in this
    process (an import, a health check) would no longer read as a corrupt image.
    """
    patches = sys.modules.get("ultralytics.utils.patches")
    original = getattr(patches, "_image_open", None)
    if original is None or _installed("pi-heif"):
        return
    from PIL import Image

    if Image.open is getattr(patches, "image_open", None):
        Image.open = original


def make_offline(config_dir: Path, block_network: bool = True) -> None:
    """Make this process safe to train offline; ``config_dir`` receives Ultralytics' settings file.

    ``block_network`` also blocks every non-loopback socket connection in this process: right for the training
    child, wrong for a long-lived process that deploys over SSH (the GUI), which passes False and relies on the
    stubs and settings alone.
    """
    from cvops.common.quiet import quiet_ultralytics

    quiet_ultralytics()  # before Ultralytics' first import, which may create its settings file and say so
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ.setdefault("YOLO_VERBOSE", "True")
    os.environ["WANDB_MODE"] = "disabled"
    if block_network:
        _guard_sockets()
    import ultralytics.utils as uutils

    uutils.ONLINE = False
    settings = getattr(uutils, "SETTINGS", None)
    if settings is not None:
        settings.update({k: False for k in _SETTINGS_OFF if k in settings})
        # Nothing is downloaded, but keep Ultralytics' default folders inside the run rather than the source tree.
        settings.update({"weights_dir": str(config_dir / "weights"), "runs_dir": str(config_dir / "runs")})
    for name in ("ultralytics.data.utils", "ultralytics.engine.trainer"):  # load the users of these helpers first
        importlib.import_module(name)
    _patch_loaded_modules()
    _keep_pillow_open()
