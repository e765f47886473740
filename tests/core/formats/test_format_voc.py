"""Pascal VOC reader and writer: 1-based boxes, splits, classes, image lookup, bad input, round trips, supervision
interop and the shared datumaro / raccoon fixtures."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Optional

import defusedxml.ElementTree as DET
import numpy as np
import pytest
from helpers import make_image
import prerequisites
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cvops.formats import voc
from cvops.formats.model import ExportClass, ExportData, ExportItem, ExportShape
from cvops.common.jobs import CancelToken, Cancelled

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
VOC_FIXTURES = SHARED / "formats" / "voc_dataset"


def obj(name: str = "cat", box: Optional[tuple] = (1, 2, 3, 4), extra: str = "") -> str:
    bnd = "" if box is None else "<bndbox>" + "".join(
        f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box)) + "</bndbox>"
    return f"<object><name>{name}</name>{extra}{bnd}</object>"


def annotation(filename: Optional[str] = "a.jpg", objects: str = "", size: str = "") -> str:
    fn = f"<filename>{filename}</filename>" if filename is not None else ""
    return f"<annotation><folder>VOC</folder>{fn}{size}{objects}</annotation>"


def write_xml(root: Path, stem: str, body: str, folder: str = "Annotations") -> Path:
    path = root / folder / f"{stem}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def reasons(parsed) -> str:
    return " | ".join(str(p) for p in parsed.problems)


# -- reading ----------------------------------------------------------------------------------------------------------
def test_one_based_boxes_floats_attributes_and_size(tmp_path: Path) -> None:
    make_image(tmp_path / "JPEGImages" / "a.jpg", (40, 30))
    objects = (
        obj("cat", (1, 2, 3, 4), "<pose>Left</pose><truncated>1</truncated><difficult>0</difficult>"
                                 "<occluded>1</occluded>")
        + obj("dog", (10.5, 2.25, 20.75, 12), "<pose>Unspecified</pose>"
                                              "<attributes><attribute><name>color</name><value>red</value></attribute>"
                                              "<attribute><name>score</name><value>3</value></attribute></attributes>")
    )
    size = "<size><width>40</width><height>30</height><depth>3</depth></size>"
    write_xml(tmp_path, "a", annotation("a.jpg", objects, size))
    parsed = voc.read(tmp_path)
    assert parsed.problems == []
    assert parsed.classes == ["cat", "dog"]
    (item,) = parsed.items
    assert item.declared_size == (40, 30)
    assert item.image_path == tmp_path / "JPEGImages" / "a.jpg"
    cat, dog = item.shapes
    assert (cat.kind, cat.box) == ("box", (0.0, 1.0, 3.0, 3.0))
    assert cat.attributes == {"pose": "Left", "truncated": True, "difficult": False, "occluded": True}
    assert dog.box == (9.5, 1.25, 11.25, 10.75)
    assert dog.attributes == {"color": "red", "score": 3}
    assert cat.origin is not None and cat.origin.element == "object[1]"


def test_splits_orphans_and_listed_ids(tmp_path: Path) -> None:
    for stem in ("a", "b", "c", "d", "e"):
        make_image(tmp_path / "JPEGImages" / f"{stem}.jpg", seed=len(stem))
    for stem in ("a", "b", "c"):
        write_xml(tmp_path, stem, annotation(f"{stem}.jpg", obj()))
    main = tmp_path / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "train.txt").write_text("a\n")
    (main / "trainval.txt").write_text("a\nb\n# comment\n\n")
    (main / "test.txt").write_text("d\nghost\n")
    (main / "cat_train.txt").write_text("c  1\n")  # a per-class list, not a split
    parsed = voc.read(tmp_path)
    splits = {i.image_path.stem: i.split for i in parsed.items}
    assert splits == {"a": "train", "b": "trainval", "c": None, "d": "test", "e": None}
    shapes = {i.image_path.stem: len(i.shapes) for i in parsed.items}
    assert shapes == {"a": 1, "b": 1, "c": 1, "d": 0, "e": 0}
    (problem,) = parsed.problems
    assert problem.path.endswith("test.txt") and "'ghost'" in problem.reason


@pytest.mark.parametrize("listing, expected", [
    ({"labelmap.txt": "# label:color_rgb:parts:actions\nbackground:0,0,0::\nzebra:1,2,3::\ncat:4,5,6::\n"},
     ["background", "zebra", "cat", "dog"]),
    ({"classes.txt": "zebra\ncat\n"}, ["zebra", "cat", "dog"]),
    ({"classes.txt": "a:b\ncat\n", "labelmap.txt": "a:1,1,1::\n"}, ["a:b", "cat", "dog"]),
    ({}, ["dog", "cat"]),
])
def test_class_order(tmp_path: Path, listing: dict[str, str], expected: list[str]) -> None:
    make_image(tmp_path / "JPEGImages" / "a.jpg")
    write_xml(tmp_path, "a", annotation("a.jpg", obj("dog") + obj("cat")))
    for name, content in listing.items():
        (tmp_path / name).write_text(content)
    assert voc.read(tmp_path).classes == expected


def test_image_lookup_order_and_layouts(tmp_path: Path) -> None:
    # Same stem, other extension in JPEGImages.
    make_image(tmp_path / "tree" / "JPEGImages" / "a.png", fmt="PNG")
    write_xml(tmp_path / "tree", "a", annotation("a.jpg", obj()))
    (item,) = voc.read(tmp_path / "tree").items
    assert item.image_path.name == "a.png"
    # labelImg: XML and images in one folder; absolute <path> is ignored, an unannotated image is an item.
    flat = tmp_path / "flat"
    make_image(flat / "x.jpg")
    make_image(flat / "y.jpg", seed=2)
    (flat / "x.xml").write_text(annotation("x.jpg", obj()).replace("<folder>", "<path>/abs/x.jpg</path><folder>"))
    assert voc.detect(flat)
    parsed = voc.read(flat)
    assert [(i.image_path.name, len(i.shapes)) for i in parsed.items] == [("x.jpg", 1), ("y.jpg", 0)]
    # annotations/ + images/ (raccoon layout) found through <folder>/<filename>.
    rac = tmp_path / "rac"
    make_image(rac / "images" / "r1.jpg")
    write_xml(rac, "r1", annotation("r1.jpg", obj()).replace("VOC", "images"), folder="annotations")
    (item,) = voc.read(rac).items
    assert item.image_path == rac / "images" / "r1.jpg"
    # A single XML file.
    (item,) = voc.read(flat / "x.xml").items
    assert item.image_path == flat / "x.jpg"


def test_path_escape_is_refused(tmp_path: Path) -> None:
    make_image(tmp_path / "secret.jpg")
    root = tmp_path / "ds"
    write_xml(root, "a", annotation("../../secret.jpg", obj()))
    parsed = voc.read(root)
    assert parsed.items == []
    (problem,) = parsed.problems
    assert "escapes" in problem.reason and problem.element == "filename"


BAD = {
    "malformed": ("<annotation><filename>a.jpg</filename>\n<object><name>cat</object>\n</annotation>",
                  "malformed XML", None),
    "billion_laughs": ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                       '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                       '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                       "<annotation><filename>&lol3;</filename></annotation>", "entities", None),
    "external_entity": ('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                        "<annotation><filename>&e;</filename></annotation>", "external", None),
    "not_voc": ("<annotations><version>1.1</version></annotations>", "not a Pascal VOC", None),
    "no_filename": (annotation(None, obj()), "missing <filename>", "filename"),
    "image_missing": (annotation("nope.jpg", obj()), "'nope.jpg' not found", "filename"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_are_reported(tmp_path: Path, case: str) -> None:
    body, reason, element = BAD[case]
    make_image(tmp_path / "JPEGImages" / "ok.jpg")
    write_xml(tmp_path, "ok", annotation("ok.jpg", obj()))
    bad = write_xml(tmp_path, "zbad", body)
    parsed = voc.read(tmp_path)
    assert [i.image_path.name for i in parsed.items] == ["ok.jpg"]
    (problem,) = parsed.problems
    assert problem.path == str(bad)
    assert reason in problem.reason
    assert problem.element == element
    if case == "malformed":
        assert problem.line == 2 and "line 2, column" in problem.reason


BAD_OBJECTS = {
    "no_name": ("<object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>",
                "missing <name>", "object[2]"),
    "no_bndbox": (obj("cat", None), "missing <bndbox>", "object[2]"),
    "no_xmax": ("<object><name>c</name><bndbox><xmin>1</xmin><ymin>1</ymin><ymax>2</ymax></bndbox></object>",
                "missing <xmax>", "object[2]/bndbox"),
    "non_numeric": (obj("cat", (1, "abc", 3, 4)), "non-numeric <ymin> 'abc'", "object[2]/bndbox"),
    "nan": (obj("cat", (1, 2, "nan", 4)), "non-finite <xmax>", "object[2]/bndbox"),
    "negative": (obj("cat", (5, 2, 3, 4)), "negative size", "object[2]/bndbox"),
    "zero_area": (obj("cat", (5, 2, 5, 4)), "zero area", "object[2]/bndbox"),  # never widened to 1 px
    "zero_height": (obj("cat", (1, 4, 5, 4)), "zero area", "object[2]/bndbox"),
    "short_polygon": ("<object><name>c</name><polygon><x1>1</x1><y1>1</y1><x2>2</x2><y2>2</y2></polygon></object>",
                      "at least 3", "object[2]/polygon"),
}


@pytest.mark.parametrize("case", sorted(BAD_OBJECTS))
def test_bad_objects_are_reported_and_others_kept(tmp_path: Path, case: str) -> None:
    body, reason, element = BAD_OBJECTS[case]
    make_image(tmp_path / "JPEGImages" / "a.jpg")
    xml = write_xml(tmp_path, "a", annotation("a.jpg", obj("good") + body + obj("good2")))
    parsed = voc.read(tmp_path)
    assert [s.label for s in parsed.items[0].shapes] == ["good", "good2"]
    (problem,) = parsed.problems
    assert (problem.path, problem.element) == (str(xml), element)
    assert reason in problem.reason, problem.reason


def test_polygon_object_is_read_one_based(tmp_path: Path) -> None:
    make_image(tmp_path / "JPEGImages" / "a.jpg")
    poly = "<polygon><x1>1</x1><y1>2</y1><x2>11</x2><y2>2</y2><x3>11.5</x3><y3>8</y3></polygon>"
    write_xml(tmp_path, "a", annotation("a.jpg", obj("p", (1, 2, 12, 8), poly)))
    (shape,) = voc.read(tmp_path).items[0].shapes
    assert shape.kind == "polygon" and shape.points == [[0, 1], [10, 1], [10.5, 7]]


def test_invalid_size_is_reported_and_zero_ignored(tmp_path: Path) -> None:
    make_image(tmp_path / "JPEGImages" / "a.jpg")
    make_image(tmp_path / "JPEGImages" / "b.jpg")
    write_xml(tmp_path, "a", annotation("a.jpg", size="<size><width>0</width><height>0</height></size>"))
    write_xml(tmp_path, "b", annotation("b.jpg", size="<size><width>x</width><height>2</height></size>"))
    parsed = voc.read(tmp_path)
    assert [i.declared_size for i in parsed.items] == [None, None]
    (problem,) = parsed.problems
    assert problem.element == "size" and problem.path.endswith("b.xml")


def test_progress_and_cancel(tmp_path: Path) -> None:
    for n in range(3):
        make_image(tmp_path / "JPEGImages" / f"{n}.jpg", seed=n)
        write_xml(tmp_path, str(n), annotation(f"{n}.jpg", obj()))
    seen: list[tuple[float, str]] = []
    voc.read(tmp_path, progress=lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        voc.read(tmp_path, cancel=token)


# -- detection --------------------------------------------------------------------------------------------------------
def test_detect_is_specific(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_xml(tree, "a", annotation("a.jpg", obj()))
    assert voc.detect(tree) and voc.detect(tree / "Annotations" / "a.xml")
    empty_tree = tmp_path / "empty_tree"  # objectless files tell nothing; the VOC tree decides
    write_xml(empty_tree, "a", annotation("a.jpg"))
    (empty_tree / "JPEGImages").mkdir()
    assert voc.detect(empty_tree)
    labelme_xml = tmp_path / "labelme"
    labelme_xml.mkdir()
    (labelme_xml / "a.xml").write_text("<annotation><filename>a.jpg</filename><object><name>x</name><polygon>"
                                       "<pt><x>1</x><y>1</y></pt></polygon></object></annotation>")
    cvat = tmp_path / "cvat"
    cvat.mkdir()
    (cvat / "annotations.xml").write_text("<annotations><version>1.1</version></annotations>")
    json_folder = tmp_path / "json"
    json_folder.mkdir()
    (json_folder / "a.json").write_text('{"shapes": [], "imagePath": "a.jpg"}')
    for folder in (labelme_xml, cvat, json_folder, tmp_path / "nothing"):
        folder.mkdir(exist_ok=True)
        assert not voc.detect(folder), folder


# -- writing ----------------------------------------------------------------------------------------------------------
def _export(tmp_path: Path, items: list[tuple[str, str, list[ExportShape]]]) -> ExportData:
    classes = [ExportClass(0, 10, "cat", "#ff0000"), ExportClass(1, 11, "dog", "#00ff00"),
               ExportClass(2, 12, "unused", "#0000ff")]
    out = []
    for n, (name, split, shapes) in enumerate(items):
        src = make_image(tmp_path / "src" / f"{n}" / name, (64, 48), "PNG" if name.endswith(".png") else "JPEG", n)
        out.append(ExportItem(n + 1, src, name, 64, 48, split, shapes))
    return ExportData(classes, out)


def test_write_read_round_trip(tmp_path: Path) -> None:
    shapes = [
        ExportShape(0, "box", (0.0, 0.0, 64.0, 48.0), attributes={"difficult": True, "pose": "Left"}),
        ExportShape(1, "box", (10.25, 3.3333333333, 7.1, 0.5), attributes={"color": "red", "score": 3,
                                                                            "occluded": False}),
        ExportShape(0, "polygon", points=[[1, 1], [5, 1], [5, 5]]),
        ExportShape(1, "tag"),
    ]
    data = _export(tmp_path, [("a.jpg", "train", shapes), ("b.jpg", "val", []), ("c.png", "train", shapes[:1])])
    out = tmp_path / "out"
    messages: list[str] = []
    voc.write(data, out, progress=lambda f, m: messages.append(m))
    assert "2 polygons/tags left out" in messages[-1]
    assert (out / "ImageSets" / "Main" / "train.txt").read_text() == "a\nc\n"
    assert (out / "ImageSets" / "Main" / "val.txt").read_text() == "b\n"
    assert (out / "classes.txt").read_text() == "cat\ndog\nunused\n"
    assert "dog:0,255,0::" in (out / "labelmap.txt").read_text()
    xml = (out / "Annotations" / "a.xml").read_text()
    assert "<xmin>1</xmin>" in xml and "<xmax>64</xmax>" in xml and "<xmin>11.25</xmin>" in xml
    assert "<depth>3</depth>" in xml and "<width>64</width>" in xml
    parsed = voc.read(out)
    assert parsed.problems == [] and parsed.classes == ["cat", "dog", "unused"]
    by_name = {i.image_path.name: i for i in parsed.items}
    assert {n: i.split for n, i in by_name.items()} == {"a.jpg": "train", "b.jpg": "val", "c.png": "train"}
    a = by_name["a.jpg"]
    assert a.declared_size == (64, 48)
    assert [s.label for s in a.shapes] == ["cat", "dog"]
    for got, want in zip(a.shapes, shapes[:2]):
        assert max(abs(g - w) for g, w in zip(got.box, want.box)) < 1e-9
    assert a.shapes[0].attributes == {"difficult": True, "pose": "Left", "truncated": False}
    assert a.shapes[1].attributes == {"color": "red", "score": 3, "occluded": False, "truncated": False,
                                      "difficult": False}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(0.01, 500), st.floats(0.01, 500)),
                min_size=1, max_size=4))
def test_round_trip_any_box(boxes: list[tuple[float, float, float, float]]) -> None:
    # A box exactly 1 px wide or high is written with xmax == xmin (1-based inclusive), which reads as zero area.
    assume(all(1.0 not in (w, h) for _, _, w, h in boxes))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = make_image(root / "src.jpg", (8, 8))
        data = ExportData([ExportClass(0, 1, "c", "#000000")],
                          [ExportItem(1, src, "i.jpg", 8, 8, "train", [ExportShape(0, "box", b) for b in boxes])])
        voc.write(data, root / "out")
        got = [s.box for s in voc.read(root / "out").items[0].shapes]
    assert len(got) == len(boxes)
    for g, b in zip(got, boxes):
        assert max(abs(x - y) for x, y in zip(g, b)) < 0.01


def test_write_keeps_names_unique_and_grayscale_depth(tmp_path: Path) -> None:
    data = _export(tmp_path, [("x.jpg", "train", []), ("x.png", "val", []), ("X.jpg", "val", []),
                              ("sub/y.jpg", "train", [ExportShape(0, "box", (1, 1, 2, 2))])])
    gray = tmp_path / "gray.png"
    from PIL import Image
    Image.new("L", (64, 48)).save(gray)
    data.items[1].source = gray
    out = tmp_path / "out"
    voc.write(data, out)
    assert sorted(p.relative_to(out).as_posix() for p in (out / "JPEGImages").rglob("*.*")) == [
        "JPEGImages/X_3.jpg", "JPEGImages/sub/y.jpg", "JPEGImages/x.jpg", "JPEGImages/x_2.png"]
    assert "<depth>1</depth>" in (out / "Annotations" / "x_2.xml").read_text()
    parsed = voc.read(out)
    assert parsed.problems == []
    assert sorted(i.image_path.name for i in parsed.items) == ["X_3.jpg", "x.jpg", "x_2.png", "y.jpg"]
    assert (out / "ImageSets" / "Main" / "train.txt").read_text() == "x\nsub/y\n"


def test_supervision_reads_our_export(tmp_path: Path) -> None:
    import supervision as sv
    boxes = [(0.0, 0.0, 64.0, 48.0), (10.0, 5.0, 20.0, 7.0), (1.5, 2.25, 10.5, 3.75)]
    shapes = [ExportShape(i % 2, "box", b) for i, b in enumerate(boxes)]
    data = _export(tmp_path, [("a.jpg", "train", shapes), ("b.jpg", "train", shapes[1:2]), ("c.jpg", "train", [])])
    out = tmp_path / "out"
    voc.write(data, out)
    ds = sv.DetectionDataset.from_pascal_voc(str(out / "JPEGImages"), str(out / "Annotations"))
    assert len(ds) == 3
    got = {Path(path).name: (det.xyxy, [ds.classes[c] for c in det.class_id]) for path, _, det in ds}
    assert [len(got[n][0]) for n in ("a.jpg", "b.jpg", "c.jpg")] == [3, 1, 0]
    # supervision: x1 = xmin - 1, x2 = xmax; that is exactly our (x, y, x + w, y + h).
    want = np.array([(x, y, x + w, y + h) for x, y, w, h in boxes], dtype=np.float32)
    assert np.array_equal(got["a.jpg"][0], want)
    assert got["a.jpg"][1] == ["cat", "dog", "cat"]


# -- shared fixtures --------------------------------------------------------------------------------------------------
def _count_boxes(folder: Path) -> int:
    """Boxes as counted straight from the XML files."""
    return sum(len(DET.parse(str(p)).getroot().findall("object/bndbox")) for p in folder.glob("*.xml"))


needs_shared = prerequisites.needs_shared("formats", "voc_dataset")


@needs_shared
def test_datumaro_voc_dataset1() -> None:
    root = VOC_FIXTURES / "voc_dataset1"
    parsed = voc.read(root)
    assert voc.detect(root) and parsed.problems == []
    assert _count_boxes(root / "Annotations") == 2
    assert [(i.image_path.name, i.split, len(i.shapes)) for i in parsed.items] == [
        ("2007_000001.jpg", "train", 2), ("2007_000002.jpg", "test", 0)]
    cat, person = parsed.items[0].shapes
    assert (cat.label, cat.box, cat.attributes) == ("cat", (0, 1, 3, 3), {"truncated": True, "difficult": False})
    assert (person.label, person.box) == ("person", (3, 4, 3, 3))  # its <part> and <actions> are not read
    assert parsed.classes == ["cat", "person"]
    assert parsed.items[0].declared_size == (20, 10)


@needs_shared
def test_datumaro_voc_dataset3_comment_in_split_list() -> None:
    parsed = voc.read(VOC_FIXTURES / "voc_dataset3")
    assert parsed.problems == []
    assert _count_boxes(VOC_FIXTURES / "voc_dataset3" / "Annotations") == 1
    assert [(i.split, [s.box for s in i.shapes]) for i in parsed.items] == [("train", [(0, 1, 3, 3)])]


@needs_shared
def test_datumaro_voc_dataset2_without_and_with_images(tmp_path: Path) -> None:
    src = VOC_FIXTURES / "voc_dataset2"
    assert voc.detect(src)  # "@.xml" has no objects; a.xml decides
    parsed = voc.read(src)  # the fixture ships no images
    assert parsed.items == [] and len(parsed.problems) == 5
    assert all("not found" in p.reason for p in parsed.problems)
    assert len(parsed.classes) == 22 and parsed.classes[:3] == ["background", "aeroplane", "bicycle"]
    # With images supplied beside a copy of its annotations (in tmp_path, not in the project):
    root = tmp_path / "voc2"
    shutil.copytree(src, root)
    for stem in ("@", "a", "b", "c", "d"):
        make_image(root / "JPEGImages" / f"{stem}.jpg", (12, 10))
    parsed = voc.read(root)
    assert parsed.problems == []
    expected = _count_boxes(src / "Annotations")
    assert expected == 4 and sum(len(i.shapes) for i in parsed.items) == expected
    assert {i.image_path.stem: i.split for i in parsed.items} == dict.fromkeys("@abcd", "trainval")
    boxes = {i.image_path.stem: [(s.label, s.box, s.attributes.get("occluded")) for s in i.shapes]
             for i in parsed.items}
    assert boxes["a"] == [("background", (0.0, 1.0, 4.0, 5.0), True)]
    assert boxes["c"] == [("bicycle", (2.0, 0.0, 9.0, 6.0), False)]
    assert boxes["@"] == []


@prerequisites.needs_shared("raccoon")
def test_raccoon() -> None:
    root = SHARED / "raccoon"
    assert voc.detect(root)
    parsed = voc.read(root)
    assert parsed.problems == []
    assert len(parsed.items) == 200
    assert _count_boxes(root / "annotations") == 217
    assert sum(len(i.shapes) for i in parsed.items) == 217
    assert parsed.classes == ["raccoon"]
    assert all(i.image_path.parent == root / "images" and i.declared_size for i in parsed.items)
    first = next(i for i in parsed.items if i.image_path.name == "raccoon-1.jpg")
    assert first.shapes[0].box == (80, 87, 442, 321)  # xmin 81, ymin 88, xmax 522, ymax 408
