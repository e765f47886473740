"""The CLI package: every entry point runs the whole command set, ``cvops --help`` loads none of the core's heavy
parts, and the command modules form no import cycle (start-up timing itself is ``bench_cli_startup.py``)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cvops.cli import cli

CLI_DIR = Path(__file__).resolve().parents[2] / "src" / "cvops" / "cli"
HEAVY = ("sqlite3", "sqlite_utils", "numpy", "torch", "cv2", "PIL", "ultralytics", "onnx", "onnxruntime", "rich")
PROBE = """
import json, runpy, sys
sys.argv = ["cvops", "--help"]
code = None
try:
    runpy.run_module({module!r}, run_name="__main__")
except SystemExit as exc:
    code = exc.code
print("\\nLOADED " + json.dumps({{"exit": code, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


def _listed_commands(help_text: str) -> set[str]:
    """The command names of a click ``--help`` page (its "Commands:" section)."""
    section = help_text.split("\nCommands:\n", 1)[1]
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.split()}


@pytest.mark.parametrize("module", ["cvops", "cvops.cli"])
def test_python_m_lists_every_command(module: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _listed_commands(done.stdout) == set(cli.commands)
    assert {"bundle", "export", "prelabel", "train", "version", "check"} <= set(cli.commands)


@pytest.mark.parametrize("module", ["cvops", "cvops.cli"])
def test_help_loads_no_heavy_module(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.rsplit("\nLOADED ", 1)[1])
    assert report == {"exit": 0, "heavy": []}


def test_a_command_loads_the_core_only_when_it_runs(tmp_path: Path) -> None:
    """The other side of the lazy imports: a command that needs the catalog still gets it."""
    done = subprocess.run([sys.executable, "-m", "cvops", "init", str(tmp_path / "ws"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"workspace": str(tmp_path / "ws")}


def _cvops_cli_imports(path: Path) -> set[str]:
    """The ``cvops.cli`` modules that ``path`` imports at run time (``if TYPE_CHECKING:`` blocks excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cvops.cli"):
            if node.module == "cvops.cli":
                found.update(f"cvops.cli.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("cvops.cli"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_no_import_cycle_between_the_cli_modules() -> None:
    """base imports no command module; a command module imports only base; only __init__ assembles them."""
    modules = sorted(p for p in CLI_DIR.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert {p.stem for p in modules} >= {"base", "workspace", "training", "prelabel"}
    for path in modules:
        allowed = set() if path.stem == "base" else {"cvops.cli.base"}
        assert _cvops_cli_imports(path) <= allowed, f"{path.name} imports {_cvops_cli_imports(path) - allowed}"
    families = {f"cvops.cli.{p.stem}" for p in modules if p.stem != "base"}
    assert _cvops_cli_imports(CLI_DIR / "__init__.py") == families | {"cvops.cli.base"}
