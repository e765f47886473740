"""Health gate: one crafted defect of every kind is caught; a clean workspace passes; cancel stops the check."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import truncate
from PIL import Image
from test_splits import smooth_image

from cvops import CancelToken, Workspace
from cvops.data.annotations import Annotation
from cvops.data.health import check
from cvops.data.ingest import import_paths


def _import(ws: Workspace, path: Path, in_place: bool = False) -> int:
    report = import_paths(ws, [path], in_place=in_place)
    assert report.errors == [] and report.imported == 1
    return report.image_ids[0]


def test_every_defect_kind_is_caught(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "src"
    car, bike = ws.classes.add("car").id, ws.classes.add("bike").id
    background = ws.classes.add("Background").id

    base = _import(ws, smooth_image(src / "base.png", seed=1))
    many_cars = [ws.annotations.add_box(base, car, (x * 10, 5, 8, 8)) for x in range(12)]
    ws.annotations.add_box(base, bike, (5, 40, 20, 20))

    leak_a = _import(ws, smooth_image(src / "leak.png", seed=2))
    Image.open(src / "leak.png").resize((124, 93)).save(src / "leak_copy.jpg", "JPEG", quality=70)
    leak_b = _import(ws, src / "leak_copy.jpg")
    near_a = _import(ws, smooth_image(src / "near.png", seed=3))
    Image.open(src / "near.png").resize((126, 95)).save(src / "near_copy.jpg", "JPEG", quality=70)
    near_b = _import(ws, src / "near_copy.jpg")
    exact_a = _import(ws, smooth_image(src / "exact.png", seed=4))
    Image.open(src / "exact.png").save(src / "exact.bmp", "BMP")
    exact_b = _import(ws, src / "exact.bmp")
    for image_id in (leak_a, leak_b, near_a, near_b, exact_a, exact_b):
        ws.annotations.add_box(image_id, car, (10, 10, 50, 40))

    broken = _import(ws, smooth_image(tmp_path / "outside" / "broken.jpg", seed=5, fmt="JPEG"), in_place=True)
    truncate(tmp_path / "outside" / "broken.jpg")
    tiny = _import(ws, smooth_image(src / "tiny.png", seed=6, size=(20, 20)))
    dup_boxes = _import(ws, smooth_image(src / "dupboxes.png", seed=7))
    d1 = ws.annotations.add_box(dup_boxes, car, (10, 10, 40, 40))
    d2 = ws.annotations.add_box(dup_boxes, car, (10, 10, 40, 40.5))
    ws.annotations.add_box(dup_boxes, bike, (10, 10, 40, 40))  # another class: not a duplicate
    unlabeled = _import(ws, smooth_image(src / "unlabeled.png", seed=8))
    bg = _import(ws, smooth_image(src / "bg.png", seed=9))
    ws.annotations.add_tag(bg, background)
    crafted = _import(ws, smooth_image(src / "crafted.png", seed=10))
    ws.annotations.set_status([base, crafted], "done")

    annotations = {i: ws.annotations.for_image(i) for i in ws.images.ids()}
    annotations[crafted] = [
        Annotation(9001, crafted, car, "box", (10, 10, 0.5, 20), None),
        Annotation(9002, crafted, car, "polygon", None, [[1, 1], [5, 5], [9, 9]]),
        Annotation(9003, crafted, car, "box", (100, 80, 50, 30), None),
        Annotation(9004, crafted, car, "polygon", None, [[-5, 0], [30, 0], [30, 30]]),
    ]
    splits = {i: "train" for i in annotations}
    splits[leak_b] = "val"

    report = check(ws, splits=splits, annotations=annotations)
    by_kind: dict[str, list] = {}
    for f in report.findings:
        by_kind.setdefault(f.kind, []).append(f)

    def one(kind: str, severity: str):
        assert len(by_kind.get(kind, [])) == 1, (kind, by_kind.get(kind))
        finding = by_kind[kind][0]
        assert finding.severity == severity and finding.message
        return finding

    assert "truncated" in one("undecodable", "error").message and by_kind["undecodable"][0].image_ids == [broken]
    assert one("tiny_image", "warning").image_ids == [tiny]
    assert one("exact_duplicate", "warning").image_ids == [exact_a, exact_b]
    assert one("leakage", "error").image_ids == [leak_a, leak_b]
    assert one("near_duplicate", "warning").image_ids == [near_a, near_b]
    assert sorted(a for f in by_kind["degenerate_box"] for a in f.annotation_ids) == [9001, 9002]
    assert all(f.severity == "error" and f.image_ids == [crafted] for f in by_kind["degenerate_box"])
    assert sorted(a for f in by_kind["out_of_bounds"] for a in f.annotation_ids) == [9003, 9004]
    assert all(f.severity == "error" for f in by_kind["out_of_bounds"])
    assert one("duplicate_box", "warning").annotation_ids == [d1, d2]
    assert one("unlabeled", "warning").image_ids == [broken, tiny, unlabeled]  # bg is tagged "Background"
    few = one("few_examples", "warning")
    assert (few.split, few.image_ids) == ("val", []) and "bike" in few.message
    imbalance = one("class_imbalance", "warning")
    assert "car" in imbalance.message and "bike" in imbalance.message
    not_reviewed = one("not_reviewed", "info")
    assert base not in not_reviewed.image_ids and crafted not in not_reviewed.image_ids and bg in not_reviewed.image_ids
    assert not report.ok and report.errors and report.warnings
    assert report.images_checked == len(annotations) and report.images_per_second > 0 and not report.cancelled
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["ok"] is False and payload["counts"]["error"] == len(report.errors)
    assert len(many_cars) == 12

    exact_split = dict(splits)
    exact_split[exact_b] = "val"
    crossing = check(ws, image_ids=[exact_a, exact_b], splits=exact_split)
    assert [(f.kind, f.severity) for f in crossing.findings if f.kind == "exact_duplicate"] == [
        ("exact_duplicate", "error")]


def test_unlabeled_lists_only_images_without_annotations(ws: Workspace, tmp_path: Path) -> None:
    bg_class = ws.classes.add("background").id
    a = _import(ws, smooth_image(tmp_path / "a.png", seed=1))
    b = _import(ws, smooth_image(tmp_path / "b.png", seed=2))
    ws.annotations.add_tag(b, bg_class)
    report = check(ws)
    assert [f.image_ids for f in report.findings if f.kind == "unlabeled"] == [[a]]
    assert not [f for f in report.findings if f.kind in ("few_examples", "class_imbalance")]


def test_clean_workspace_has_no_findings(ws: Workspace, tmp_path: Path) -> None:
    classes = [ws.classes.add(name).id for name in ("cat", "dog")]
    for seed in range(6):
        image_id = _import(ws, smooth_image(tmp_path / f"{seed}.png", seed=seed * 7 + 100))
        ws.annotations.add_box(image_id, classes[seed % 2], (10, 10, 30, 30))
    ws.annotations.set_status(ws.images.ids(), "approved")
    report = check(ws, splits={i: "train" for i in ws.images.ids()})
    assert report.ok and report.findings == [] and report.images_checked == 6


def test_cancel_stops_early(ws: Workspace, tmp_path: Path) -> None:
    for seed in range(40):
        smooth_image(tmp_path / "src" / f"{seed}.png", seed=seed, size=(40, 40))
    import_paths(ws, [tmp_path / "src"])
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if fraction > 0:
            token.cancel()

    report = check(ws, progress=progress, cancel=token)
    assert report.cancelled and 0 < report.images_checked < 40
    token = CancelToken()
    token.cancel()
    assert check(ws, cancel=token).images_checked == 0


def test_duplicate_boxes_of_one_class_at_iou_0_9_and_configurable(ws: Workspace, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cvops.cli import cli

    car, bike = ws.classes.add("car").id, ws.classes.add("bike").id
    image_id = _import(ws, smooth_image(tmp_path / "a.png", seed=3))
    a = ws.annotations.add_box(image_id, car, (10, 10, 40, 40))
    b = ws.annotations.add_box(image_id, car, (10, 10, 40, 37.2))  # IoU 0.93: the same car boxed twice
    ws.annotations.add_box(image_id, bike, (10, 10, 40, 40))  # another class on the same spot: not a duplicate
    ws.annotations.add_box(image_id, car, (60, 10, 40, 40))
    ws.annotations.add_box(image_id, car, (60, 10, 40, 34.4))  # IoU 0.86: two cars, not flagged at 0.9

    def duplicates(**kw: float) -> list[list[int]]:
        return [f.annotation_ids for f in check(ws, **kw).findings if f.kind == "duplicate_box"]

    assert duplicates() == [[a, b]]
    assert duplicates(duplicate_iou=0.95) == []
    assert len(duplicates(duplicate_iou=0.85)) == 2
    result = CliRunner().invoke(cli, ["check", "--json", "--duplicate-iou", "0.95", "-w", str(ws.root)])
    assert not [f for f in json.loads(result.output)["findings"] if f["kind"] == "duplicate_box"]
    result = CliRunner().invoke(cli, ["check", "--json", "-w", str(ws.root)])
    (finding,) = [f for f in json.loads(result.output)["findings"] if f["kind"] == "duplicate_box"]
    assert finding["annotation_ids"] == [a, b] and "IoU 0.93" in finding["message"]
    assert CliRunner().invoke(cli, ["check", "--duplicate-iou", "1.5", "-w", str(ws.root)]).exit_code == 2


def test_a_multi_part_polygon_is_measured_part_by_part(ws: Workspace, tmp_path: Path) -> None:
    """Two real parts whose concatenated outline has zero area (the second runs back over the first) are not
    degenerate, and neither is a real part beside a flat one."""
    cls = ws.classes.add("cat").id
    image_id = _import(ws, smooth_image(tmp_path / "a.png", seed=3))
    square = [[10, 10], [40, 10], [40, 40], [10, 40]]
    ws.annotations.add_polygon(image_id, cls, square + square[::-1], attributes={"polygon_parts": [4, 4]})
    assert not [f for f in check(ws).findings if f.kind == "degenerate_box"]
    flat = [[10, 10], [40, 10], [40, 10], [10, 10]]
    ws.annotations.add_polygon(image_id, cls, flat + square, attributes={"polygon_parts": [4, 4]})
    assert [f.annotation_ids for f in check(ws).findings if f.kind == "degenerate_box"] == []  # 900 px² in all
