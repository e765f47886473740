"""Remove what a one-folder build never loads: ``python installer/prune.py APP_DIR --variant cpu|cuda``.

Only files that cannot be imported or loaded by the application go: C++ unit-test executables that PyTorch's
wheel ships (``torch/test``, ``torch/bin/test_*``), ``test``/``tests`` folders with no Python module or library
in them, and, in the CPU variant, any CUDA library that slipped in. The smoke test (installer/smoke_test.sh) runs
the pruned build.
"""
from __future__ import annotations

import argparse
import fnmatch
import shutil
import sys
from pathlib import Path

# Paths under _internal, relative, as globs: PyTorch's compiled C++ tests and test fixtures
ALWAYS = ("torch/test", "torch/bin/test_*", "torch/bin/*Test", "torch/bin/*.pt", "torch/bin/*.ptl")
IMPORTABLE = ("*.py", "*.pyc", "*.so", "*.so.*", "*.pyd", "*.dll", "*.dylib")
CUDA_LIBS = ("libcudart*", "libcublas*", "libcudnn*", "libcufft*", "libcurand*", "libcusolver*", "libcusparse*",
             "libnccl*", "libnvrtc*", "libnvJitLink*", "libnvToolsExt*", "libcupti*", "libnvshmem*", "libcufile*",
             "libtorch_cuda*", "libc10_cuda*", "cudart64_*", "cublas64_*", "cudnn*64_*", "libonnxruntime_providers_cuda*")


def _importable(folder: Path) -> bool:
    return any(fnmatch.fnmatch(p.name, pat) for p in folder.rglob("*") if p.is_file() for pat in IMPORTABLE)


def candidates(internal: Path, variant: str) -> list[Path]:
    """What :func:`prune` removes under ``internal`` (the build's ``_internal`` folder)."""
    found: set[Path] = set()
    for pattern in ALWAYS:
        found.update(internal.glob(pattern))
    for folder in internal.rglob("*"):
        if (folder.is_dir() and folder.name in ("test", "tests") and ".dist-info" not in str(folder)
                and not _importable(folder)):
            found.add(folder)
    if variant == "cpu":
        found.update(p for p in internal.rglob("*")
                     if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in CUDA_LIBS))
    return sorted(p for p in found if not any(parent in found for parent in p.parents))


def prune(app: Path, variant: str) -> int:
    """Remove :func:`candidates` from the build in ``app``; returns the bytes freed."""
    internal = app / "_internal"
    if not internal.is_dir():  # a macOS .app keeps the libraries elsewhere; the build is then pruned as it is
        internal = app
    freed = 0
    for path in candidates(internal, variant):
        if path.is_dir():
            freed += sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
            shutil.rmtree(path)
        else:
            freed += path.stat().st_size
            path.unlink()
    return freed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", type=Path)
    parser.add_argument("--variant", choices=("cpu", "cuda"), required=True)
    args = parser.parse_args(argv)
    if not args.app.is_dir():
        print(f"prune: {args.app} is not a folder", file=sys.stderr)
        return 2
    print(f"prune: freed {prune(args.app, args.variant) / 2**20:.1f} MiB in {args.app}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
