"""The synthetic shapes generator's hard variant: deterministic, measurably darker and noisier than the normal one,
with labels that still match the drawn shapes, and written as a YOLO dataset that the importer reads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from cvops import Workspace
from cvops.formats.importer import import_dataset
from cvops.samples import shapes


def _load(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR).astype(np.float32)


def _noise(img: np.ndarray) -> float:
    """Pixel noise: the median absolute deviation of the Laplacian (flat areas and edges alike)."""
    lap = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)
    return float(np.median(np.abs(lap - np.median(lap))))


def _digests(samples: list[shapes.SampleImage]) -> list[str]:
    return [hashlib.sha256(s.path.read_bytes()).hexdigest() for s in samples]


def test_hard_variant_is_deterministic_and_darker_and_noisier(tmp_path: Path) -> None:
    normal = shapes.generate(tmp_path / "normal", count=24, size=128, seed=5)
    hard = shapes.generate(tmp_path / "hard", count=24, size=128, seed=5, variant="hard")
    again = shapes.generate(tmp_path / "again", count=24, size=128, seed=5, variant="hard")
    assert _digests(hard) == _digests(again)
    assert [[(sh.label, sh.box) for sh in s.shapes] for s in hard] == [[(sh.label, sh.box) for sh in s.shapes]
                                                                      for s in again]
    assert all(s.path.name.startswith("shapes_hard_") for s in hard)
    assert not set(_digests(hard)) & set(_digests(normal))
    bright = {k: float(np.mean([_load(s.path).mean() for s in v])) for k, v in (("normal", normal), ("hard", hard))}
    noise = {k: float(np.mean([_noise(_load(s.path)) for s in v])) for k, v in (("normal", normal), ("hard", hard))}
    assert bright["hard"] < bright["normal"] - 30, bright
    assert noise["hard"] > 2 * noise["normal"], noise


def test_normal_variant_is_unchanged_by_the_option(tmp_path: Path) -> None:
    default = shapes.generate(tmp_path / "a", count=6, size=96, seed=3)
    named = shapes.generate(tmp_path / "b", count=6, size=96, seed=3, variant="normal")
    assert _digests(default) == _digests(named)
    with pytest.raises(ValueError, match="unknown shapes variant"):
        shapes.generate(tmp_path / "c", count=1, variant="harder")


def test_hard_labels_match_the_drawn_shapes(tmp_path: Path) -> None:
    hard = shapes.generate(tmp_path, count=20, size=160, seed=11, variant="hard")
    checked = 0
    for sample in hard:
        img = cv2.GaussianBlur(_load(sample.path), (5, 5), 0)  # average the noise away
        for sh in sample.shapes:
            inside = np.zeros(img.shape[:2], np.uint8)
            cv2.fillPoly(inside, [np.round(np.array(sh.polygon)).astype(np.int32)], 1)
            core = cv2.erode(inside, np.ones((5, 5), np.uint8)).astype(bool)
            ring = (cv2.dilate(inside, np.ones((9, 9), np.uint8)) - inside).astype(bool)
            others = np.zeros_like(inside)
            for other in sample.shapes:
                if other is not sh:
                    cv2.fillPoly(others, [np.round(np.array(other.polygon)).astype(np.int32)], 1)
            ring &= ~others.astype(bool)
            if core.sum() < 10 or ring.sum() < 10:
                continue
            # A shape is drawn light on these dark scenes: its inside is far brighter than the ring around it.
            assert img[core].mean() - img[ring].mean() > 40, (sample.path.name, sh.label)
            x, y, w, h = sh.box
            ys, xs = np.nonzero(inside)
            assert abs(xs.min() - x) <= 2 and abs(ys.min() - y) <= 2
            assert abs(xs.max() - (x + w)) <= 2 and abs(ys.max() - (y + h)) <= 2
            checked += 1
    assert checked >= 20


def test_write_yolo_imports_with_every_shape(tmp_path: Path) -> None:
    samples = shapes.write_yolo(tmp_path / "batch", count=12, seed=4, size=128)
    ws = Workspace.create(tmp_path / "ws")
    try:
        report = import_dataset(ws, tmp_path / "batch")
        summary = report.to_dict()
        assert summary["images_new"] == 12 and not summary["skipped"] and not summary["warnings"]
        assert summary["annotations"] == sum(len(s.shapes) for s in samples)
        assert sorted(c.name for c in ws.classes.list()) == sorted(shapes.CLASSES)
        by_name = {s.path.name: s for s in samples}
        for image in ws.images.page(limit=100):
            anns = ws.annotations.for_image(image.id)
            sample = by_name[image.file_name]
            names = {c.id: c.name for c in ws.classes.list()}
            assert sorted(names[a.class_id] for a in anns) == sorted(sh.label for sh in sample.shapes)
            for a in anns:
                assert min(max(abs(p - q) for p, q in zip(a.box, sh.box)) for sh in sample.shapes) < 0.01
    finally:
        ws.close()
