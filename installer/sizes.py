"""Measure a build: ``python installer/sizes.py APP_DIR OUT_DIR VARIANT`` prints JSON.

``folder_mb`` is the one-folder build on disk (``du``); ``deb_installed_mb`` is what the .deb unpacks to (its
files extracted with ``dpkg-deb -x``, as ``dpkg -i`` would lay them out); ``tarball_mb`` and ``deb_mb`` are the
download sizes.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MB = 1024 * 1024


def du_mb(path: Path) -> float:
    """Disk usage of ``path`` in MiB, as ``du -sk`` reports it."""
    out = subprocess.run(["du", "-sk", str(path)], check=True, capture_output=True, text=True).stdout
    return round(int(out.split()[0]) / 1024, 1)


def largest(app: Path, count: int = 8) -> list[list]:
    """The ``count`` biggest top-level entries under the build's ``_internal`` folder, in MiB."""
    internal = app / "_internal"
    entries = [(du_mb(p), p.name) for p in internal.iterdir()] if internal.is_dir() else []
    return [[name, size] for size, name in sorted(entries, reverse=True)[:count]]


def measure(app: Path, out: Path, variant: str) -> dict:
    """The sizes of the build in ``app`` and of its packages in ``out``."""
    report: dict = {"variant": variant, "folder_mb": du_mb(app), "largest_mb": largest(app)}
    tarballs = sorted(out.glob(f"cvops-workbench-*-{variant}.tar.gz"))
    debs = sorted(out.glob(f"cvops-workbench-{variant}_*.deb"))
    if tarballs:
        report["tarball_mb"] = round(tarballs[-1].stat().st_size / MB, 1)
    if debs and shutil.which("dpkg-deb"):
        report["deb_mb"] = round(debs[-1].stat().st_size / MB, 1)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", str(debs[-1]), tmp], check=True)
            report["deb_installed_mb"] = du_mb(Path(tmp))
    return report


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: sizes.py APP_DIR OUT_DIR VARIANT", file=sys.stderr)
        return 2
    print(json.dumps(measure(Path(args[0]), Path(args[1]), args[2]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
