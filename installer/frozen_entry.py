"""The entry point of both executables of the self-contained build (``installer/cvops.spec``).

One analysed script serves ``cvops`` (the command line) and ``cvops-workbench`` (the desktop application): the
executable's own name picks which. Both also stand in for the Python interpreter, because the application starts
itself as one: the training child (``sys.executable -m cvops.training.child CONFIG``), a bundle's self-test on
deploy (``sys.executable run.py --selftest``) and multiprocessing workers (``freeze_support``).
"""
from __future__ import annotations

import multiprocessing
import os
import runpy
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence


def run_as_python(argv: Sequence[str]) -> Optional[int]:
    """Run ``-m MODULE ARGS``, ``-c CODE ARGS`` or ``SCRIPT.py ARGS`` as ``python`` would; None for anything else."""
    if len(argv) < 3 and not (len(argv) == 2 and argv[1].endswith(".py")):
        return None
    flag = argv[1]
    if flag == "-m":
        sys.argv = [argv[2], *argv[3:]]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        return 0
    if flag == "-c":
        sys.argv = ["-c", *argv[3:]]
        exec(compile(argv[2], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102 - python -c semantics
        return 0
    if flag.endswith(".py") and Path(flag).is_file():
        sys.argv = list(argv[1:])
        sys.path.insert(0, str(Path(flag).resolve().parent))
        runpy.run_path(flag, run_name="__main__")
        return 0
    return None


def _quiet_streams() -> None:
    """A windowed executable (Windows, macOS) has no console: give print() somewhere to go."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


def entry(executable: str) -> Callable[[], Optional[int]]:
    """The main function of the executable named ``executable`` (``cvops-workbench`` or else ``cvops``)."""
    if Path(executable).stem.lower().startswith("cvops-workbench"):
        from cvops_app.main import main as workbench
        return workbench
    from cvops.cli import main as cli
    return cli


def main() -> int:
    """Dispatch on the arguments (interpreter stand-in) and then on the executable's name."""
    multiprocessing.freeze_support()
    _quiet_streams()
    code = run_as_python(sys.argv)
    if code is not None:
        return code
    return entry(sys.executable)() or 0


if __name__ == "__main__":
    sys.exit(main())
