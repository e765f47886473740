"""The cvops CLI: JSON contracts, exit codes, the workspace option, and that the README covers every command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import make_image

from cvops.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_init_import_stats_images_json_contracts(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    run("init", ws)
    make_image(tmp_path / "src" / "a.jpg", seed=1)
    make_image(tmp_path / "src" / "b.png", fmt="PNG", seed=2)
    (tmp_path / "src" / "bad.jpg").write_bytes(b"\xff\xd8nonsense")
    report = json.loads(run("import", str(tmp_path / "src"), "-w", ws, "--json", code=1))
    assert report["imported"] == 2 and report["duplicates"] == 0
    assert report["errors"] == [{"path": str(tmp_path / "src" / "bad.jpg"), "reason": report["errors"][0]["reason"]}]
    again = json.loads(run("import", str(tmp_path / "src" / "a.jpg"), "-w", ws, "--json"))
    assert (again["imported"], again["duplicates"], again["errors"]) == (0, 1, [])

    run("-w", ws, "classes", "add", "car", "person")
    stats = json.loads(run("stats", "-w", ws, "--json"))
    assert (stats["images"], stats["annotations"], stats["classes"]) == (2, 0, 2)
    assert stats["by_status"]["new"] == 2 and stats["status_new"] == 2

    listed = json.loads(run("images", "list", "-w", ws, "--status", "new", "--limit", "1", "--json"))
    assert listed["total"] == 2 and len(listed["images"]) == 1 and listed["images"][0]["file_name"] == "a.jpg"
    assert "b.png" in run("images", "list", "-w", ws, "--search", "b.")


def test_classes_commands(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    run("init", ws)
    run("classes", "add", "cat", "dog", "bird", "-w", ws)
    run("classes", "rename", "cat", "kitty", "-w", ws)
    run("classes", "recolor", "dog", "#123456", "-w", ws)
    run("classes", "reorder", "bird", "dog", "kitty", "-w", ws)
    run("classes", "merge", "bird", "dog", "-w", ws)
    rows = json.loads(run("classes", "list", "-w", ws, "--json"))
    assert [(r["name"], r["color"] if r["name"] == "dog" else "") for r in rows] == [("dog", "#123456"),
                                                                                     ("kitty", "")]
    out = run("classes", "add", "DOG", "-w", ws, code=2)
    assert "already exists" in out
    run("classes", "delete", "kitty", "-w", ws)
    assert "undid" in run("undo", "-w", ws)
    assert "redid" in run("redo", "-w", ws)
    history = json.loads(run("history", "-w", ws, "--json"))
    assert history[0]["event"] == "redo"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert "not a CVOps workspace" in run("stats", "-w", str(tmp_path), code=2)
    run("images", "list", "--status", "bogus", "-w", str(tmp_path), code=2)
    run("import", "-w", str(tmp_path), code=2)  # no paths
    run("import", str(tmp_path), "--video-stride", "0", "-w", str(tmp_path), code=2)


def test_doctor_and_gc_exit_codes(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    run("init", ws)
    src = make_image(tmp_path / "a.jpg")
    run("import", str(src), "--in-place", "-w", ws)
    assert json.loads(run("doctor", "-w", ws, "--json"))["ok"] is True
    src.unlink()
    report = json.loads(run("doctor", "-w", ws, "--json", code=1))
    assert report["problems"][0]["kind"] == "missing"
    assert json.loads(run("gc", "-w", ws, "--json", "--dry-run"))["dry_run"] is True


def test_group_workspace_option_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = str(tmp_path / "ws")
    run("init", ws)
    assert json.loads(run("-w", ws, "stats", "--json"))["images"] == 0
    monkeypatch.setenv("CVOPS_WORKSPACE", ws)
    assert json.loads(run("stats", "--json"))["images"] == 0


def test_console_script_runs_demo_and_reports(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "cvops.cli", "demo", str(demo), "--count", "12", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["import"]["imported"] == 12 and summary["stats"]["classes"] == 3
    assert summary["stats"]["annotations"] > 12 and summary["thumbnails"] == 12
    again = subprocess.run([sys.executable, "-m", "cvops.cli", "demo", str(demo), "--count", "12"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already holds a workspace" in again.stderr


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        names.append(full)
        if isinstance(cmd, click.Group):
            names += _commands(cmd, full + " ")
    return names


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in _commands(cli):
        cmd = cli
        for part in name.split():
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        assert cmd.help, f"cvops {name} has no help text"
        assert f"cvops {name}" in readme or f"cvops -w demo-workspace {name}" in readme, \
            f"README does not show `cvops {name}`"
