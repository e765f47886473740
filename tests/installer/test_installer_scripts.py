"""The installer's scripts do what they say, without a PyInstaller build: the offline install from a tiny local
wheelhouse with no index, the smoke test's blank-screenshot check, the interpreter stand-in of the frozen
executables, and the pruning of a build."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from installer_testing import INSTALLER, load, write_png, write_wheel

CAN_UNSHARE = shutil.which("unshare") is not None and subprocess.run(
    ["unshare", "-n", "true"], capture_output=True).returncode == 0


def _offline(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` with no network: in a new network namespace where possible, and never with an index."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(kwargs.pop("home")), "PYTHON": sys.executable}
    return subprocess.run((["unshare", "-n"] if CAN_UNSHARE else []) + cmd, env=env, capture_output=True,
                          text=True, timeout=120, **kwargs)


def _wheelhouse(tmp_path: Path, with_dependency: bool = True) -> Path:
    wh = tmp_path / "wheelhouse"
    wh.mkdir()
    if with_dependency:
        write_wheel(wh, "tinydep", "1.0", {"tinydep/__init__.py": "VALUE = 'tiny'\n"})
    write_wheel(wh, "cvops-workbench", "0.1.0",
                {"fakecvops/__init__.py": "def main():\n    import tinydep\n    print('cvops, version 0.1.0', "
                                          "tinydep.VALUE)\n"},
                requires=("onnxruntime-gpu>=1.17",),  # as the real project: --no-deps must skip it
                entry_points="[console_scripts]\ncvops = fakecvops:main\ncvops-workbench = fakecvops:main\n")
    (wh / "requirements.txt").write_text("tinydep>=1\n", encoding="utf-8")
    (wh / "constraints.txt").write_text("tinydep==1.0\n", encoding="utf-8")
    return wh


def test_install_offline_installs_from_the_wheelhouse_alone(tmp_path: Path) -> None:
    wh = _wheelhouse(tmp_path)
    prefix = tmp_path / "prefix"
    done = _offline(["bash", str(INSTALLER / "install-offline.sh"), str(wh), str(prefix)], home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cvops, version 0.1.0 tiny" in done.stdout
    link = prefix / "bin" / "cvops-workbench"
    assert link.is_symlink() and Path(os.readlink(link)).parent == prefix / "share" / "cvops-workbench" / "venv" / "bin"
    ran = subprocess.run([str(prefix / "bin" / "cvops")], capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == "cvops, version 0.1.0 tiny"


def test_install_offline_fails_when_a_wheel_is_missing(tmp_path: Path) -> None:
    wh = _wheelhouse(tmp_path, with_dependency=False)
    done = _offline(["bash", str(INSTALLER / "install-offline.sh"), str(wh), str(tmp_path / "prefix")], home=tmp_path)
    assert done.returncode != 0
    assert "tinydep" in done.stderr
    assert not (tmp_path / "prefix" / "bin" / "cvops").exists()


def test_install_offline_names_a_folder_that_is_no_wheelhouse(tmp_path: Path) -> None:
    done = _offline(["bash", str(INSTALLER / "install-offline.sh"), str(tmp_path), str(tmp_path / "p")], home=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path}/requirements.txt is missing" in done.stderr


def test_png_check_rejects_a_blank_screenshot(tmp_path: Path) -> None:
    png_check = load("png_check")
    assert png_check.main([str(write_png(tmp_path / "blank.png", 1))]) == 1
    assert png_check.main([str(write_png(tmp_path / "few.png", 10))]) == 1
    assert png_check.main([str(write_png(tmp_path / "page.png", 500))]) == 0
    assert png_check.distinct_colours(tmp_path / "page.png") == 500
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert png_check.main([str(tmp_path / "broken.png")]) == 2
    assert png_check.main([str(tmp_path / "missing.png")]) == 2


def _fake_app(folder: Path, screenshot: Path) -> Path:
    """Executables standing in for a build: cvops runs python scripts and prints its version; cvops-workbench
    writes ``screenshot`` where --screenshot asks."""
    folder.mkdir()
    (folder / "cvops").write_text(
        f"#!/bin/sh\ncase \"$1\" in\n  *.py) exec {sys.executable} \"$@\" ;;\n"
        "  --version) echo 'cvops, version 0.1.0' ;;\nesac\nexit 0\n", encoding="utf-8")
    (folder / "cvops-workbench").write_text(
        f"#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = --screenshot ] && cp {screenshot} \"$2\"; shift; done\n",
        encoding="utf-8")
    for exe in ("cvops", "cvops-workbench"):
        (folder / exe).chmod((folder / exe).stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.mark.parametrize(("colours", "passes", "unshare"), [(1, False, "1"), (500, True, "1"), (500, True, "0")])
def test_smoke_test_fails_on_a_blank_window(tmp_path: Path, colours: int, passes: bool, unshare: str) -> None:
    app = _fake_app(tmp_path / "app", write_png(tmp_path / "shot.png", colours))
    env = {**os.environ, "TMPDIR": str(tmp_path), "SMOKE_NO_UNSHARE": "0" if unshare == "1" else "1"}
    done = subprocess.run(["bash", str(INSTALLER / "smoke_test.sh"), str(app)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert (done.returncode == 0) == passes, done.stdout + done.stderr
    assert ("looks blank" in done.stderr) != passes
    if unshare == "1" and CAN_UNSHARE:
        assert "smoke: network unshare" in done.stdout
    else:
        assert "smoke: network not cut off" in done.stdout


def test_smoke_test_refuses_a_folder_without_the_executables(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(INSTALLER / "smoke_test.sh"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "cvops is missing" in done.stderr


def test_frozen_entry_stands_in_for_the_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    entry = load("frozen_entry")
    (tmp_path / "tinymod.py").write_text("import sys\nprint('module', sys.argv[1:])\n", encoding="utf-8")
    (tmp_path / "script.py").write_text("import sys\nprint('script', sys.argv[1:])\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert entry.run_as_python(["cvops", "-m", "tinymod", "CONFIG.json"]) == 0
    assert entry.run_as_python(["cvops", str(tmp_path / "script.py"), "--selftest"]) == 0
    assert entry.run_as_python(["cvops", "-c", "import sys; print('code', sys.argv[1:])", "x"]) == 0
    assert capsys.readouterr().out.splitlines() == ["module ['CONFIG.json']", "script ['--selftest']", "code ['x']"]
    assert entry.run_as_python(["cvops", "demo", "ws"]) is None
    assert entry.run_as_python(["cvops", "--version"]) is None
    assert entry.run_as_python(["cvops", "missing.py"]) is None


def test_frozen_entry_picks_the_main_by_executable_name() -> None:
    entry = load("frozen_entry")
    from cvops.cli import main as cli
    from cvops_app.main import main as workbench

    assert entry.entry("/opt/cvops-workbench/cvops-workbench") is workbench
    assert entry.entry("C:/Programs/CVOps Workbench/cvops-workbench.exe") is workbench
    assert entry.entry("/opt/cvops-workbench/cvops") is cli


def test_prune_removes_only_what_cannot_be_loaded(tmp_path: Path) -> None:
    prune = load("prune")
    internal = tmp_path / "app" / "_internal"
    files = ["torch/test/atest", "torch/bin/test_jit", "torch/bin/torch_shm_manager", "torch/lib/libtorch_cpu.so",
             "pkg/tests/data.txt", "other/tests/test_x.py", "lib/tests/libfoo.so", "libcudart.so.13",
             "numpy/core/x.py", "pkg-1.0.dist-info/licenses/test/LICENSE"]
    for name in files:
        (internal / name).parent.mkdir(parents=True, exist_ok=True)
        (internal / name).write_bytes(b"x" * 10)
    removed = {p.relative_to(internal).as_posix() for p in prune.candidates(internal, "cuda")}
    assert removed == {"torch/test", "torch/bin/test_jit", "pkg/tests"}
    assert "libcudart.so.13" in {p.name for p in prune.candidates(internal, "cpu")}
    assert prune.prune(tmp_path / "app", "cpu") == 40  # four files of 10 bytes
    left = {p.relative_to(internal).as_posix() for p in internal.rglob("*") if p.is_file()}
    assert left == {"torch/bin/torch_shm_manager", "torch/lib/libtorch_cpu.so", "other/tests/test_x.py",
                    "lib/tests/libfoo.so", "numpy/core/x.py", "pkg-1.0.dist-info/licenses/test/LICENSE"}


def test_make_icons_draws_every_size_from_the_svg(tmp_path: Path, qapp: object) -> None:
    make_icons = load("make_icons")
    svg = tmp_path / "icon.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect x="1" y="1" width="6" '
                   'height="6" fill="#2b6cb0"/></svg>', encoding="utf-8")
    make_icons.make_icons(svg, tmp_path / "out")
    from PIL import Image

    for size in make_icons.SIZES:
        with Image.open(tmp_path / "out" / "hicolor" / f"{size}x{size}" / "apps" / "cvops-workbench.png") as im:
            assert im.size == (size, size)
            assert im.getpixel((size // 2, size // 2))[:3] == (0x2B, 0x6C, 0xB0)  # drawn, not blank
            assert im.getpixel((0, 0))[3] == 0  # transparent around the drawing
    with Image.open(tmp_path / "out" / "cvops-workbench.ico") as ico:
        assert {(16, 16), (32, 32), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(tmp_path / "out" / "cvops-workbench.icns") as icns:
        assert icns.format == "ICNS"
    (tmp_path / "bad.svg").write_text("<svg", encoding="utf-8")
    with pytest.raises(SystemExit, match="not a valid SVG"):
        make_icons.make_icons(tmp_path / "bad.svg", tmp_path / "bad")
