"""`cvops check` over the workspace and over a version: JSON report and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from helpers import make_image, truncate

from cvops import Workspace
from cvops.cli import cli
from cvops.data.ingest import import_paths
from cvops.versions.create import create_version


def test_check_reports_and_exits_1_on_errors(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    for i in range(6):
        make_image(tmp_path / "src" / f"{i}.jpg", (120, 90), seed=i)
    import_paths(ws, [tmp_path / "src"])
    ws.classes.add("car")
    for image in ws.images.page():
        ws.annotations.add_box(image.id, "car", (10, 10, 30, 30))
    ws.annotations.set_status(list(ws.images.ids()), "done")
    version = create_version(ws, "first", ratios="50/50", seed=1)
    runner = CliRunner()
    clean = runner.invoke(cli, ["check", "--version", version.name, "--json", "-w", str(ws.root)])
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.output)
    assert report["images_checked"] == 6 and not [f for f in report["findings"] if f["severity"] == "error"]

    bad = make_image(tmp_path / "late" / "broken.jpg", (120, 90), seed=99)
    import_paths(ws, [bad], in_place=True)
    truncate(bad, 0.4)
    broken = runner.invoke(cli, ["check", "-w", str(ws.root)])
    assert broken.exit_code == 1
    assert "undecodable" in broken.output and "error" in broken.output
    ws.close()
