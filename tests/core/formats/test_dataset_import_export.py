"""Workspace-side import and export: idempotence, strict, class map, split hints, clipping, atomic exports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import make_image

from cvops import Workspace
from cvops.cli import cli
from cvops.versions import export as exporter
from cvops.versions.export import export_dataset
from cvops.formats.importer import DatasetImportError, import_dataset
from cvops.formats.model import FormatError


def yolo_dataset(root: Path, lines: dict[str, list[str]], names: list[str], split: str = "train") -> Path:
    """An Ultralytics layout with 100x50 images and the given label lines per image stem."""
    for stem, label_lines in lines.items():
        make_image(root / "images" / split / f"{stem}.jpg", (100, 50), seed=hash(stem) % 1000)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split / f"{stem}.txt").write_text("\n".join(label_lines) + "\n")
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/" + split + "\nnames:\n" + "".join(f"  {i}: {n}\n" for i, n in
                                                                                     enumerate(names)))
    return root


def test_import_is_idempotent_and_records_split_hints(ws: Workspace, tmp_path: Path) -> None:
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.5 0.5 0.2 0.2", "1 0.1 0.1 0.1 0.1"], "b": [], "c": ["1 0.5 0.5 1 1"]},
                      ["car", "person"], split="val")
    first = import_dataset(ws, ds)
    assert (first.format, first.images, first.annotations, first.classes_created) == ("yolo", 3, 3, 2)
    assert first.splits == {"val": 3} and first.ok
    assert [c.name for c in ws.classes.list()] == ["car", "person"]
    again = import_dataset(ws, ds)
    assert (again.images, again.images_new, again.annotations, again.annotations_existing) == (3, 0, 0, 3)
    assert ws.stats()["annotations"] == 3
    hints = ws.db.execute("SELECT DISTINCT split FROM split_hints").fetchall()
    assert hints == [("val",)]
    # One import is one undo step.
    ws.log.undo()
    ws.log.undo()  # the second import added nothing; this undoes the first import's annotations
    assert ws.stats()["annotations"] == 0


def test_duplicate_shapes_in_the_source_are_one_object_reported(ws: Workspace, tmp_path: Path) -> None:
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.5 0.5 0.2 0.2", "0 0.5 0.5 0.2 0.2"]}, ["car"])
    first = import_dataset(ws, ds)
    assert first.annotations == 1
    (warning,) = first.warnings
    assert (Path(warning["path"]).name, warning["line"]) == ("a.txt", 2)
    assert "the same object annotated twice" in warning["reason"] and "a.txt:1" in warning["reason"]
    again = import_dataset(ws, ds)
    assert (again.annotations, again.annotations_existing) == (0, 1)


def test_class_map_renames_and_matches_existing_classes(ws: Workspace, tmp_path: Path) -> None:
    ws.classes.add("Vehicle")
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.5 0.5 0.2 0.2", "1 0.2 0.2 0.1 0.1"]}, ["car", "pedestrian"])
    report = import_dataset(ws, ds, class_map={"CAR": "vehicle", "pedestrian": "person"})
    assert report.classes_created_names == ["person"]
    assert [c.name for c in ws.classes.list()] == ["Vehicle", "person"]
    assert ws.classes.usage()[ws.classes.get("Vehicle").id]["annotations"] == 1


def test_out_of_image_and_degenerate_shapes_are_reported(ws: Workspace, tmp_path: Path) -> None:
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.95 0.5 0.3 0.2", "0 0.5 0.5 0 0.1", "0 3 3 0.1 0.1",
                                              "0 0.5 0.5 0.2 0.2"]}, ["car"])
    report = import_dataset(ws, ds)
    assert report.annotations == 2  # the clipped box and the good one
    reasons = " | ".join(p["reason"] for p in report.skipped + report.warnings)
    assert "clipped" in reasons
    assert all(p["path"].endswith("a.txt") for p in report.skipped + report.warnings)
    assert any("line" in p for p in report.skipped + report.warnings)
    box = sorted(a.box for a in ws.annotations.for_image(ws.images.page()[0].id))[-1]
    assert box[0] + box[2] == pytest.approx(100.0)


def test_strict_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.5 0.5 0.2 0.2"], "b": ["0 0.5 0.5 0.2"]}, ["car"])
    with pytest.raises(DatasetImportError) as info:
        import_dataset(ws, ds, strict=True)
    assert info.value.problems and "b.txt" in str(info.value)
    assert ws.stats()["images"] == 0 and ws.classes.list() == [] and ws.log.history() == []
    assert sum(1 for _ in ws.store.iter_blobs()) == 0
    lenient = import_dataset(ws, ds)
    assert lenient.images == 2 and lenient.annotations == 1 and not lenient.ok


def test_in_place_dataset_import(ws: Workspace, tmp_path: Path) -> None:
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.5 0.5 0.2 0.2"]}, ["car"])
    import_dataset(ws, ds, in_place=True)
    image = ws.images.page()[0]
    assert image.in_place and ws.images.path(image) == (ds / "images" / "train" / "a.jpg").resolve()


def test_unknown_or_undetectable_formats_are_clear_errors(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="cannot tell the dataset format"):
        import_dataset(ws, tmp_path / "empty")
    with pytest.raises(FormatError, match="unknown format"):
        import_dataset(ws, tmp_path / "empty", format="pascal")
    with pytest.raises(FormatError, match="can be imported but not exported"):
        export_dataset(ws, tmp_path / "out", "cvat")


@pytest.fixture
def labelled(ws: Workspace, tmp_path: Path) -> Workspace:
    make_image(tmp_path / "one" / "same.jpg", (80, 60), seed=1)
    make_image(tmp_path / "two" / "same.jpg", (80, 60), seed=2)
    make_image(tmp_path / "two" / "other.png", (80, 60), "PNG", seed=3)
    from cvops.data.ingest import import_paths

    import_paths(ws, [tmp_path / "one", tmp_path / "two"])
    ws.classes.add("car")
    ids = [i.id for i in ws.images.page() if i.file_name == "same.jpg"]
    ws.annotations.add_box(ids[0], "car", (10, 10, 20, 20))
    ws.annotations.add_tag(ids[1], "car")
    ws.annotations.set_status(ids, "done")
    return ws


def test_export_filters_by_status_and_keeps_file_names_unique(labelled: Workspace, tmp_path: Path) -> None:
    report = export_dataset(labelled, tmp_path / "out", "yolo", statuses=["done", "approved"])
    assert (report.images, report.annotations) == (2, 1)
    assert report.skipped and "tag" in report.skipped[0]["reason"]
    files = sorted(p.name for p in (tmp_path / "out" / "images" / "train").iterdir())
    assert len(files) == 2 and "same.jpg" in files and any(f.startswith("same_") for f in files)


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_export_image_modes(labelled: Workspace, tmp_path: Path, mode: str) -> None:
    export_dataset(labelled, tmp_path / "out", "coco", images_mode=mode)
    placed = sorted((tmp_path / "out" / "images" / "train").iterdir())
    assert len(placed) == 3
    if mode == "symlink":
        assert all(p.is_symlink() for p in placed)
    elif mode == "hardlink":
        assert all(p.stat().st_nlink >= 2 for p in placed)
    else:
        assert all(p.stat().st_nlink == 1 and not p.is_symlink() for p in placed)


def test_failed_export_leaves_nothing_and_overwrite_is_explicit(labelled: Workspace, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "exports" / "ds"
    export_dataset(labelled, out, "voc")
    with pytest.raises(FormatError, match="--overwrite"):
        export_dataset(labelled, out, "voc")
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))

    from cvops.formats import voc

    def broken(data, dest, progress=None, cancel=None):  # noqa: ANN001
        (dest / "half-written.xml").write_text("<annotation>")
        raise OSError("disk full")

    monkeypatch.setattr(voc, "write", broken)
    with pytest.raises(OSError, match="disk full"):
        export_dataset(labelled, out, "voc", overwrite=True)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert os.listdir(out.parent) == ["ds"], "no temporary folder may be left behind"
    monkeypatch.undo()
    export_dataset(labelled, out, "labelme", overwrite=True)
    assert any(p.suffix == ".json" for p in out.rglob("*")) and not (out / "Annotations").exists()


def test_cli_import_and_export_dataset(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    assert runner.invoke(cli, ["init", ws]).exit_code == 0
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.5 0.5 0.2 0.2"], "b": ["7 0.5 0.5 0.2 0.2"]}, ["car"])
    cmap = tmp_path / "map.yaml"
    cmap.write_text("car: automobile\n")
    strict = runner.invoke(cli, ["import-dataset", str(ds), "--strict", "--json", "-w", ws])
    refusal = json.loads(strict.stdout)["error"]
    assert strict.exit_code == 1 and refusal["code"] == "refused" and refusal["problems"]
    done = runner.invoke(cli, ["import-dataset", str(ds), "--class-map", str(cmap), "--json", "-w", ws])
    assert done.exit_code == 1, done.output  # partial: one line skipped
    report = json.loads(done.output)
    assert (report["images"], report["annotations"], report["classes_created"]) == (2, 1, 1)
    assert report["skipped"][0]["path"].endswith("b.txt") and "line" in report["skipped"][0]
    exported = runner.invoke(cli, ["export-dataset", str(tmp_path / "out"), "--format", "coco", "--json", "-w", ws])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["annotations"] == 1
    bad = runner.invoke(cli, ["export-dataset", str(tmp_path / "o2"), "--format", "yolo", "--status", "finished",
                              "-w", ws])
    assert bad.exit_code == 2
    assert exporter.KINDS["voc"] == ("box",)


def test_yolo_export_gives_every_image_its_own_stem(ws: Workspace, tmp_path: Path) -> None:
    """``a.png`` renamed for the clash with ``a.jpg`` must not take the stem of an image already named ``a_7``
    (in a workspace export and in a version's export data alike)."""
    from cvops.data.ingest import import_paths
    from cvops.formats import KINDS
    from cvops.versions.create import create_version
    from cvops.versions.materialize import export_data

    names = ["a_7.jpg", "a.jpg", "f3.jpg", "f4.jpg", "f5.jpg", "f6.jpg", "a.png"]
    for n, name in enumerate(names):
        make_image(tmp_path / f"src{n}" / name, (40, 30), "PNG" if name.endswith(".png") else "JPEG", seed=10 + n)
        import_paths(ws, [tmp_path / f"src{n}"])
    by_name = {i.file_name: i.id for i in ws.images.page()}
    assert by_name["a.png"] == 7 and by_name["a_7.jpg"] < by_name["a.jpg"] < 7  # the clash the test is about
    report = export_dataset(ws, tmp_path / "out", "yolo")
    assert report.images == len(names) and not report.skipped
    images = sorted((tmp_path / "out" / "images" / "train").iterdir())
    assert len(images) == len(names) and len({p.stem for p in images}) == len(names)
    assert {"a_7.jpg", "a.jpg"} <= {p.name for p in images}
    version = create_version(ws, "all")
    written = [Path(item.file_name) for item in export_data(ws, version.id, KINDS["yolo"], "yolo").items]
    assert len(written) == len(names) and len({p.stem.lower() for p in written}) == len(names)
    assert {"a_7.jpg", "a.jpg"} <= {p.name for p in written}
