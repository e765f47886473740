"""No Ultralytics settings banner and no web links in command output (issue 16): a fresh HOME and a fresh
Ultralytics config folder make Ultralytics create its settings file, which it announces with a https:// link."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cvops.common.quiet import UltralyticsQuiet, quiet_ultralytics


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("ultralytics", logging.INFO, __file__, 1, message, None, None)


def test_the_filter_drops_settings_notes_and_strips_links() -> None:
    quiet = UltralyticsQuiet()
    banner = ("Creating new Ultralytics Settings v0.0.8 file ✅ \nView Ultralytics Settings with 'yolo settings' or at "
              "'/x/settings.json'\nUpdate Settings with 'yolo settings key=value'. For help see "
              "https://docs.ultralytics.com/usage/settings.")
    assert not quiet.filter(_record(banner))
    kept = _record("Export complete (1.2s). Visualize: https://netron.app")
    assert quiet.filter(kept) and "://" not in kept.getMessage() and kept.getMessage().startswith("Export complete")
    plain = _record("Model summary: 181 layers, 2,590,425 parameters")
    assert quiet.filter(plain) and plain.getMessage() == "Model summary: 181 layers, 2,590,425 parameters"
    quiet_ultralytics()
    quiet_ultralytics()
    assert sum(isinstance(f, UltralyticsQuiet) for f in logging.getLogger("ultralytics").filters) == 1


def test_evaluate_output_has_no_settings_banner_nor_links(trained_workspace_copy: Path, tmp_path: Path) -> None:
    shutil.rmtree(trained_workspace_copy / "cache" / "ultralytics", ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    done = subprocess.run([sys.executable, "-m", "cvops", "evaluate", "m1", "-w", str(trained_workspace_copy)],
                          capture_output=True, text=True, timeout=300, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "evaluation" in output and "mAP50" in output  # the command did run and report
    assert (trained_workspace_copy / "cache" / "ultralytics").is_dir()  # a fresh settings file was created
    assert "Ultralytics Settings" not in output and "https://" not in output and "http://" not in output
