"""Print the pip requirements of one installer variant, from pyproject.toml's dependencies and the lock file.

``python installer/requirements.py cpu`` swaps onnxruntime-gpu for onnxruntime and pins the CPU-only torch build;
``cuda`` keeps the project's dependencies as they are. The output goes to ``pip install -r``, with the project
itself installed ``--no-deps`` afterwards (its own metadata names onnxruntime-gpu, which the CPU build leaves out).
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("cpu", "cuda")
# The CPU variant's torch: the CPU-only build (no CUDA libraries) and the torchvision built against it. On Linux and
# Windows these are the "+cpu" wheels of PyTorch's CPU index (PyPI's Linux torchvision is built against the CUDA
# torch and does not import beside the CPU one: installer/README.md); macOS wheels are CPU builds as they are.
CPU_PINS = {"torch": "torch==2.13.0{local}", "torchvision": "torchvision==0.28.0{local}"}
# Packages the CPU variant never installs (CUDA runtimes, the GPU build of onnxruntime, triton's GPU compiler).
CPU_DROPS = re.compile(r"^(nvidia-.*|triton|onnxruntime-gpu|torch|torchvision|cuda-.*)$", re.IGNORECASE)


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def requirements(variant: str, extras: tuple[str, ...] = ("installer",), platform: str = sys.platform) -> list[str]:
    """The requirement lines (dependencies, then the extras) for ``variant`` on ``platform`` (``sys.platform``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (use {' or '.join(VARIANTS)})")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    if variant == "cuda":
        return lines
    out = []
    for line in lines:
        name = _name(line)
        if name == "onnxruntime-gpu":
            continue
        if name == "onnxruntime":
            line = line.split(";")[0].strip()  # every platform, not only macOS
        local = "" if platform == "darwin" else "+cpu"
        out.append(CPU_PINS[name].format(local=local) if name in CPU_PINS else line)
    return out


def constraints(variant: str, lock: Path = ROOT / "constraints.txt") -> list[str]:
    """The lock file's pins that apply to ``variant`` (the CPU variant drops the CUDA stack and pins its torch)."""
    lines = [ln for ln in lock.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    if variant == "cuda":
        return lines
    out = [ln for ln in lines if not CPU_DROPS.match(_name(ln))]
    gpu_ort = [ln for ln in lines if _name(ln) == "onnxruntime-gpu"]
    return out + [ln.replace("onnxruntime-gpu", "onnxruntime", 1) for ln in gpu_ort]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--constraints", action="store_true", help="print the lock file's pins for the variant")
    parser.add_argument("--no-extras", action="store_true", help="the run-time dependencies only (no PyInstaller)")
    args = parser.parse_args(argv)
    lines = (constraints(args.variant) if args.constraints
             else requirements(args.variant, extras=() if args.no_extras else ("installer",)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
