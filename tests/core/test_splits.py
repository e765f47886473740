"""Splits: determinism, stratification, groups kept together, kept assignments, ratios, perceptual hash, grouping."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cvops import ValidationError, Workspace
from cvops.data.ingest import import_paths
from cvops.data.splits import SplitItem, assign_splits, groups, hamming, parse_ratios, perceptual_hash

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


def smooth_image(path: Path, seed: int, size: tuple[int, int] = (128, 96), fmt: str = "PNG", **save: object) -> Path:
    """A smooth random image (a few blobs upscaled): structure a perceptual hash can see."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 255, size=(6, 8, 3), dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    coarse.resize(size, Image.Resampling.BICUBIC).save(path, fmt, **save)
    return path


def _items(n: int = 500, seed: int = 1) -> list[SplitItem]:
    """Multi-label items over 6 classes, two of them rare (>= 10 examples each), some in groups of 3."""
    rng = random.Random(seed)
    weights = {0: 0.6, 1: 0.4, 2: 0.25, 3: 0.1, 4: 0.04, 5: 0.03}
    out = []
    for i in range(n):
        classes = frozenset(c for c, p in weights.items() if rng.random() < p)
        group = f"g{i // 3}" if i < 150 else f"image:{i}"
        out.append(SplitItem(i + 1, classes, group))
    return out


def test_same_seed_same_split_whatever_the_order_different_seed_differs() -> None:
    items = _items()
    first = assign_splits(items, RATIOS, seed=7)
    shuffled = list(items)
    random.Random(3).shuffle(shuffled)
    assert assign_splits(shuffled, dict(reversed(list(RATIOS.items()))), seed=7) == first
    assert assign_splits(items, RATIOS, seed=8) != first
    assert set(first) == {i.image_id for i in items} and set(first.values()) == set(RATIOS)


def test_stratified_per_class_within_ten_percent_multi_label() -> None:
    items = _items()
    totals = Counter(c for i in items for c in i.classes)
    assert min(totals.values()) >= 10 and len(totals) == 6
    assert sum(len(i.classes) > 1 for i in items) > 50  # multi-label
    split = assign_splits(items, RATIOS, seed=11)
    for cls, total in totals.items():
        per_split = Counter(split[i.image_id] for i in items if cls in i.classes)
        for name, ratio in RATIOS.items():
            assert abs(per_split[name] / total - ratio) <= 0.10, (cls, name, per_split, total)
    sizes = Counter(split.values())
    for name, ratio in RATIOS.items():
        assert abs(sizes[name] / len(items) - ratio) <= 0.02


def test_groups_never_split_and_kept_images_pull_their_group() -> None:
    items = [SplitItem(i, frozenset({i % 3}), "video:1" if i <= 30 else f"image:{i}") for i in range(1, 201)]
    for seed in range(5):
        split = assign_splits(items, RATIOS, seed=seed)
        assert len({split[i] for i in range(1, 31)}) == 1

    keep = {5: "test", 6: "test", 7: "val", 100: "val", 101: "train"}
    split = assign_splits(items, RATIOS, seed=3, keep=keep)
    assert {split[i] for i in range(1, 31)} == {"test"}  # the kept majority, the rest follows
    assert (split[100], split[101]) == ("val", "train")
    sizes = Counter(split.values())
    assert abs(sizes["train"] - 160) <= 5


def test_images_without_classes_are_spread_by_size() -> None:
    items = [SplitItem(i, frozenset(), f"image:{i}") for i in range(100)]
    assert Counter(assign_splits(items, {"train": 0.7, "val": 0.3}, seed=0).values()) == {"train": 70, "val": 30}


@pytest.mark.parametrize("ratios", [{}, {"train": 0.8, "val": 0.1}, {"train": 1.2, "val": -0.2},
                                    {"train": 0.0, "val": 1.0}, {"train": float("nan"), "val": 1.0},
                                    {"train": "a"}])
def test_bad_ratios_rejected(ratios: dict) -> None:
    with pytest.raises(ValidationError):
        assign_splits(_items(10), ratios, seed=0)


def test_parse_ratios() -> None:
    assert parse_ratios("80/10/10") == pytest.approx({"train": 0.8, "val": 0.1, "test": 0.1})
    assert parse_ratios("0.7, 0.3") == pytest.approx({"train": 0.7, "val": 0.3})
    for bad in ("", "100", "a/b", "50/50/50", "80/10/10/0", "80/-10/30"):
        with pytest.raises(ValidationError):
            parse_ratios(bad)


def test_perceptual_hash_survives_reencoding_and_resizing(tmp_path: Path) -> None:
    original = smooth_image(tmp_path / "a.png", seed=1)
    copy = tmp_path / "a_copy.jpg"
    Image.open(original).resize((120, 90), Image.Resampling.BILINEAR).save(copy, "JPEG", quality=70)
    other = smooth_image(tmp_path / "b.png", seed=2)
    assert hamming(perceptual_hash(original), perceptual_hash(copy)) <= 4
    assert hamming(perceptual_hash(original), perceptual_hash(other)) > 12
    assert 0 <= perceptual_hash(original) < 2 ** 64
    assert hamming(0b1011, 0b0001) == 2


def test_groups_join_near_duplicates_and_video_frames(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for seed in range(6):
        smooth_image(src / f"img{seed}.png", seed=seed + 10)
    Image.open(src / "img0.png").save(src / "img0_again.jpg", "JPEG", quality=70)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(5):
        frame = np.full((48, 64, 3), 40 * i, dtype=np.uint8)
        cv2.putText(frame, str(i), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    import_paths(ws, [src])
    import_paths(ws, [video], video_stride=1)
    records = {r.file_name: r for r in ws.images.page(limit=100)}
    keys, hashes = groups(ws, [r.id for r in records.values()])
    a, b = records["img0.png"].id, records["img0_again.jpg"].id
    assert keys[a] == keys[b] == f"dup:{min(a, b)}"
    frames = [r for r in records.values() if r.video_id is not None]
    assert len(frames) == 5 and {keys[f.id] for f in frames} == {f"video:{frames[0].video_id}"}
    for seed in range(1, 6):
        rid = records[f"img{seed}.png"].id
        assert keys[rid] == f"image:{rid}"
    assert set(hashes) == set(keys)


def test_grouped_items_split_reproducibly_across_workspaces(tmp_path: Path) -> None:
    results = []
    for name in ("one", "two"):
        with Workspace.create(tmp_path / name) as ws:
            for seed in range(8):
                smooth_image(tmp_path / f"src_{name}" / f"{seed}.png", seed=seed)
            import_paths(ws, [tmp_path / f"src_{name}"])
            ids = list(ws.images.ids())
            keys, _ = groups(ws, ids)
            records = ws.images.many(ids)
            items = [SplitItem(r.id, frozenset({r.id % 2}), keys[r.id]) for r in records]
            results.append({ws.images.get(i).file_name: s for i, s in assign_splits(items, RATIOS, 5).items()})
    assert results[0] == results[1]
