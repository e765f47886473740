"""The installer's reference files agree with each other and with the project: the PyInstaller spec, the CI
workflow, the Inno Setup script, the macOS Info.plist, the Linux menu entry, the Makefile targets."""
from __future__ import annotations

import configparser
import plistlib
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

from installer_testing import INSTALLER, ROOT, load

WORKFLOW = ROOT / ".github" / "workflows" / "installers.yml"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflow_builds_smoke_tests_and_uploads_on_every_platform() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    assert set(jobs) == {"linux", "windows", "macos"}
    for name, job in jobs.items():
        runs = _runs(job)
        assert "installer/smoke_test.sh" in runs or "make installer" in runs, name
        assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in job["steps"]), name
    assert "ISCC.exe" in _runs(jobs["windows"]) and "cvops-workbench.iss" in _runs(jobs["windows"])
    assert "build_dmg.sh" in _runs(jobs["macos"])
    assert "make installer" in _runs(jobs["linux"])
    # every file of the repository the workflow names exists
    named = set(re.findall(r"installer/[\w./-]+\.(?:sh|py|spec|iss)", WORKFLOW.read_text(encoding="utf-8")))
    named |= {p.replace("\\", "/") for p in re.findall(r"installer\\[\w\\.-]+\.iss", WORKFLOW.read_text())}
    assert named, "the workflow names no installer file"
    for path in named:
        assert (ROOT / path).is_file(), path


def test_spec_names_both_executables_and_the_files_it_reads() -> None:
    spec = (INSTALLER / "cvops.spec").read_text(encoding="utf-8")
    assert 'executable("cvops", ' in spec and 'executable("cvops-workbench", ' in spec
    assert (INSTALLER / "frozen_entry.py").is_file() and (INSTALLER / "macos" / "Info.plist").is_file()
    for package in ("ultralytics", "qtawesome", "cvops_app"):
        assert f'collect_data_files("{package}")' in spec
    # the edge runner's source is copied into bundles, so our packages go in as files, not only bytecode
    assert '"cvops": "py"' in spec


def test_info_plist_opens_folders_and_runs_the_workbench() -> None:
    info = plistlib.loads((INSTALLER / "macos" / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == "cvops-workbench"
    assert info["CFBundleShortVersionString"] == VERSION
    types = info["CFBundleDocumentTypes"]
    assert any("public.folder" in t.get("LSItemContentTypes", []) for t in types)
    assert info["CFBundleIconFile"].endswith(".icns")


def test_inno_setup_script_has_menu_entry_folder_verb_and_uninstaller() -> None:
    iss = (INSTALLER / "windows" / "cvops-workbench.iss").read_text(encoding="utf-8")
    sections = set(re.findall(r"^\[(\w+)\]", iss, re.M))
    assert {"Setup", "Files", "Icons", "Registry"} <= sections
    assert re.search(r'Name: "\{group\}\\Uninstall CVOps Workbench"; Filename: "\{uninstallexe\}"', iss)
    assert re.search(r'Subkey: "Software\\Classes\\Directory\\shell\\CVOpsWorkbench".*uninsdeletekey', iss)
    assert "usPostUninstall" in iss  # the uninstaller takes the folder out of PATH again
    assert '"%1"' in iss and "SetupIconFile" in iss
    assert f'#define AppVersion "{VERSION}"' in iss


def test_desktop_entry_is_valid_and_opens_folders() -> None:
    path = INSTALLER / "linux" / "cvops-workbench.desktop"
    if shutil.which("desktop-file-validate"):
        done = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Icon"] == "cvops-workbench"
    assert entry["Exec"].split()[0] == "cvops-workbench" and entry["Exec"].split()[1] in ("%f", "%F", "%u", "%U")
    assert "inode/directory" in entry["MimeType"].split(";")
    assert entry["Categories"].endswith(";") and entry["Terminal"] == "false"


def test_makefile_has_the_installer_and_wheelhouse_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^installer:\n\t.*installer/build\.sh \$\(VARIANT\)", makefile, re.M)
    assert re.search(r"^wheelhouse:\n\t.*installer/wheelhouse\.sh \$\(VARIANT\)", makefile, re.M)
    assert re.search(r"^VARIANT \?= cpu$", makefile, re.M)
    assert "## installer:" in makefile and "## wheelhouse:" in makefile
    for script in ("build.sh", "wheelhouse.sh", "smoke_test.sh", "install-offline.sh", "linux/install.sh",
                   "linux/uninstall.sh", "linux/build_deb.sh", "macos/build_dmg.sh"):
        assert (INSTALLER / script).stat().st_mode & 0o111, f"{script} is not executable"


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_cpu_requirements_leave_out_cuda(platform: str) -> None:
    requirements = load("requirements")
    lines = requirements.requirements("cpu", platform=platform)
    names = {requirements._name(line) for line in lines}
    assert "onnxruntime" in names and "onnxruntime-gpu" not in names
    assert not any(n.startswith("nvidia") for n in names)
    torch = next(line for line in lines if requirements._name(line) == "torch")
    assert torch.endswith("+cpu") == (platform != "darwin")
    assert "pyinstaller" in names


def test_cpu_constraints_pin_onnxruntime_like_the_lock_and_drop_cuda() -> None:
    requirements = load("requirements")
    cpu = requirements.constraints("cpu")
    cuda = requirements.constraints("cuda")
    gpu_pin = next(line for line in cuda if line.startswith("onnxruntime-gpu=="))
    assert gpu_pin.replace("onnxruntime-gpu", "onnxruntime") in cpu
    assert not [line for line in cpu if re.match(r"(nvidia-|triton|torch==|torchvision==|onnxruntime-gpu)", line)]
    assert len(cuda) > len(cpu)
    with pytest.raises(ValueError, match="unknown variant"):
        requirements.requirements("rocm")
