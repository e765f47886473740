"""The README's CLI tour, run for real through the installed `cvops` console script on generated files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import make_image

CVOPS = shutil.which("cvops", path=str(Path(sys.executable).parent)) or "cvops"


def cvops(*args: str, cwd: Path, code: int = 0) -> str:
    done = subprocess.run([CVOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == code, f"cvops {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_readme_tour(tmp_path: Path) -> None:
    photos = tmp_path / "photos" / "site-a"
    for i in range(6):
        make_image(photos / f"IMG_{i:04d}.jpg", (320, 240), seed=i)
    extra = make_image(tmp_path / "photos" / "extra.jpg", seed=99)
    nas = tmp_path / "nas"
    for i in range(3):
        make_image(nas / f"n{i}.png", (100, 100), "PNG", seed=100 + i)
    video = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (96, 64))
    for i in range(40):
        writer.write(np.full((64, 96, 3), i * 5, dtype=np.uint8))
    writer.release()

    cvops("init", "ws", cwd=tmp_path)
    cvops("import", str(photos), str(extra), "-w", "ws", cwd=tmp_path)
    cvops("import", str(nas), "--in-place", "-w", "ws", cwd=tmp_path)
    cvops("import", str(video), "--video-stride", "10", "-w", "ws", cwd=tmp_path)
    again = json.loads(cvops("import", str(photos), "-w", "ws", "--json", cwd=tmp_path))
    assert (again["imported"], again["duplicates"], again["errors"]) == (0, 6, [])

    cvops("classes", "add", "car", "person", "bicycle", "-w", "ws", cwd=tmp_path)
    cvops("classes", "rename", "bicycle", "bike", "-w", "ws", cwd=tmp_path)
    cvops("classes", "recolor", "car", "#ff8800", "-w", "ws", cwd=tmp_path)
    cvops("classes", "reorder", "person", "car", "bike", "-w", "ws", cwd=tmp_path)
    cvops("classes", "merge", "bike", "person", "-w", "ws", cwd=tmp_path)
    cvops("classes", "delete", "person", "--reassign-to", "car", "-w", "ws", cwd=tmp_path)
    classes = json.loads(cvops("classes", "list", "-w", "ws", "--json", cwd=tmp_path))
    assert [(c["name"], c["color"]) for c in classes] == [("car", "#ff8800")]

    stats = json.loads(cvops("stats", "-w", "ws", "--json", cwd=tmp_path))
    assert stats["images"] == 6 + 1 + 3 + 4 and stats["videos"] == 1
    listed = json.loads(cvops("images", "list", "--search", "IMG_00", "--unannotated", "--json", "-w", "ws",
                              cwd=tmp_path))
    assert listed["total"] == 6

    assert "undid" in cvops("undo", "-w", "ws", cwd=tmp_path)
    assert [c["name"] for c in json.loads(cvops("classes", "list", "-w", "ws", "--json", cwd=tmp_path))] == [
        "person", "car"]
    assert "redid" in cvops("redo", "-w", "ws", cwd=tmp_path)
    assert "merged class 'person' into 'car'" in cvops("history", "-w", "ws", cwd=tmp_path)

    assert "no problems" in cvops("doctor", "-w", "ws", cwd=tmp_path)
    cvops("gc", "-w", "ws", cwd=tmp_path)
    assert "made 14 thumbnails" in cvops("thumbnails", "-w", "ws", cwd=tmp_path)
    (nas / "n0.png").unlink()
    assert "missing" in cvops("doctor", "-w", "ws", cwd=tmp_path, code=1)
