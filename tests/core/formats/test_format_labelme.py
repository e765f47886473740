"""labelme JSON and LabelMe XML reader, labelme JSON writer: shapes, flags, embedded images, bad input, round trips
and the shared LabelMe XML fixture."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
import pytest
from helpers import image_bytes, make_image
import prerequisites
from PIL import Image

from cvops.formats import labelme
from cvops.formats.model import ExportClass, ExportData, ExportItem, ExportShape
from cvops.common.jobs import CancelToken, Cancelled

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
LABELME_XML = SHARED / "formats" / "labelme_dataset"


def rect(label: str = "cat", points: Any = ((10, 20), (2, 4)), **extra: Any) -> dict[str, Any]:
    return {"label": label, "points": [list(p) for p in points], "group_id": None, "description": "",
            "shape_type": "rectangle", "flags": {}, **extra}


def poly(label: str = "dog", points: Any = ((1, 1), (9, 1), (5, 7)), **extra: Any) -> dict[str, Any]:
    return {"label": label, "points": [list(p) for p in points], "shape_type": "polygon", **extra}


def doc(shapes: list[Any], image: str = "a.jpg", **extra: Any) -> dict[str, Any]:
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": None,
            "imageHeight": 48, "imageWidth": 64, **extra}


def dump(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# -- JSON reading -----------------------------------------------------------------------------------------------------
def test_json_shapes_flags_and_attributes(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    shapes = [rect(group_id=3, description="front", flags={"blurry": True}), poly(points=[(1.5, 1), (9, 1), (5, 7.25)]),
              {"label": "x", "points": [[1, 1], [2, 2], [3, 1]]}]  # no shape_type: a polygon
    dump(tmp_path / "a.json", doc(shapes, flags={"night": True, "rain": False}))
    parsed = labelme.read(tmp_path)
    assert parsed.problems == []
    (item,) = parsed.items
    assert item.image_path == tmp_path / "a.jpg" and item.declared_size == (64, 48)
    box, polygon, untyped, tag = item.shapes
    assert (box.kind, box.box) == ("box", (2.0, 4.0, 8.0, 16.0))  # corners in any order
    assert box.attributes == {"group_id": 3, "description": "front", "blurry": True}
    assert (polygon.kind, polygon.points) == ("polygon", [[1.5, 1.0], [9.0, 1.0], [5.0, 7.25]])
    assert untyped.kind == "polygon"
    assert (tag.kind, tag.label) == ("tag", "night")
    assert parsed.classes == ["cat", "dog", "x", "night"]
    assert box.origin is not None and box.origin.element == "shapes[0]"


def test_image_path_relative_windows_and_orphans(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "a.jpg")
    dump(tmp_path / "labels" / "a.json", doc([rect()], image="../images/a.jpg"))
    make_image(tmp_path / "labels" / "b.jpg", seed=2)
    dump(tmp_path / "labels" / "b.json", doc([rect()], image="C:\\Users\\me\\data\\b.jpg"))
    make_image(tmp_path / "labels" / "c.jpg", seed=3)  # no JSON: an item without shapes
    parsed = labelme.read(tmp_path)
    assert parsed.problems == []
    assert [(i.image_path.relative_to(tmp_path).as_posix(), len(i.shapes)) for i in parsed.items] == [
        ("images/a.jpg", 1), ("labels/b.jpg", 1), ("labels/c.jpg", 0)]


def test_class_order_from_classes_txt(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    dump(tmp_path / "a.json", doc([rect("zebra"), poly("cat")]))
    (tmp_path / "classes.txt").write_text("cat\nbird\n")
    assert labelme.read(tmp_path).classes == ["cat", "bird", "zebra"]


def test_embedded_image_is_extracted_outside_the_dataset(tmp_path: Path) -> None:
    data = base64.b64encode(image_bytes((20, 10), "PNG")).decode()
    dump(tmp_path / "sub" / "a.json", doc([rect(points=[(1, 1), (5, 5)])], image="gone.png", imageData=data))
    before = sorted(tmp_path.rglob("*"))
    parsed = labelme.read(tmp_path)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written into the dataset
    assert parsed.problems == []
    (item,) = parsed.items
    assert item.image_path.parent.parent.name.startswith("cvops-labelme-")
    assert item.image_path.suffix == ".png" and tmp_path not in item.image_path.parents
    with Image.open(item.image_path) as im:
        assert im.size == (20, 10)


BAD_FILES = {
    "malformed": ('{"shapes": [\n  {"label": "a",}\n]}', "malformed JSON", None, 2),
    "not_object": ("[1, 2]", "not a labelme file", None, None),
    "missing_keys": ('{"version": "5"}', "missing key 'shapes', 'imagePath'", None, None),
    "shapes_not_list": ('{"shapes": {}, "imagePath": "a.jpg"}', "'shapes' is not a list", "shapes", None),
    "image_missing": (doc([rect()], image="nope.jpg"), "'nope.jpg' not found and no imageData", "imagePath", None),
    "escape": (doc([rect()], image="../../outside.jpg"), "escapes the dataset folder", "imagePath", None),
    "bad_base64": (doc([], image="nope.jpg", imageData="@@not base64@@"), "not valid base64", "imageData", None),
    "not_an_image": (doc([], image="nope.jpg", imageData=base64.b64encode(b"hello").decode()),
                     "not a supported image", "imageData", None),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_reported(tmp_path: Path, case: str) -> None:
    body, reason, element, line = BAD_FILES[case]
    make_image(tmp_path / "ds" / "ok.jpg")
    make_image(tmp_path / "outside.jpg")
    dump(tmp_path / "ds" / "ok.json", doc([rect()], image="ok.jpg"))
    bad = dump(tmp_path / "ds" / "zbad.json", body)
    parsed = labelme.read(tmp_path / "ds")
    assert [i.image_path.name for i in parsed.items] == ["ok.jpg"]
    (problem,) = parsed.problems
    assert problem.path == str(bad) and reason in problem.reason, problem
    assert (problem.element, problem.line) == (element, line)
    if case == "malformed":
        assert "line 2, column" in problem.reason


BAD_SHAPES = {
    "circle": (rect(shape_type="circle"), "unsupported shape type 'circle'"),
    "line": (rect(shape_type="line"), "unsupported shape type 'line'"),
    "point": (rect(points=[(1, 1)], shape_type="point"), "unsupported shape type 'point'"),
    "linestrip": (poly(shape_type="linestrip"), "unsupported shape type 'linestrip'"),
    "mask": (rect(shape_type="mask"), "unsupported shape type 'mask'"),
    "unknown": (rect(shape_type="blob"), "unknown shape type 'blob'"),
    "rect_3_points": (rect(points=[(1, 1), (2, 2), (3, 3)]), "a rectangle needs 2 points, it has 3"),
    "rect_zero": (rect(points=[(1, 1), (1, 5)]), "zero width or height"),
    "poly_2_points": (poly(points=[(1, 1), (2, 2)]), "at least 3 points, it has 2"),
    "nan": ('{"label": "a", "points": [[NaN, 1], [2, 2]], "shape_type": "rectangle"}', "not finite"),
    "bad_point": (poly(points=[(1, 1), (2, "x"), (3, 3)]), "not an [x, y] pair"),
    "no_label": (rect(label=""), "missing label"),
    "no_points": ({"label": "a", "shape_type": "polygon"}, "missing points"),
    "not_object": ("7", "not an object"),
}


@pytest.mark.parametrize("case", sorted(BAD_SHAPES))
def test_bad_shapes_are_reported_and_others_kept(tmp_path: Path, case: str) -> None:
    shape, reason = BAD_SHAPES[case]
    make_image(tmp_path / "a.jpg")
    raw = json.dumps(doc([rect("first"), "BAD", poly("last")])).replace(
        '"BAD"', shape if isinstance(shape, str) else json.dumps(shape))
    path = dump(tmp_path / "a.json", raw)
    parsed = labelme.read(tmp_path)
    assert [s.label for s in parsed.items[0].shapes] == ["first", "last"]
    (problem,) = parsed.problems
    assert (problem.path, problem.element) == (str(path), "shapes[1]")
    assert reason in problem.reason, problem.reason


# -- LabelMe XML ------------------------------------------------------------------------------------------------------
def _pts(*points: tuple[float, float]) -> str:
    return "<polygon>" + "".join(f"<pt><x>{x}</x><y>{y}</y></pt>" for x, y in points) + "</polygon>"


def test_labelme_xml(tmp_path: Path) -> None:
    make_image(tmp_path / "img.png", (100, 80), "PNG")
    objects = [
        f"<object><name>box</name><deleted>0</deleted><occluded>yes</occluded><attributes>a=1, b ,c=x</attributes>"
        f"<type>bounding_box</type>{_pts((13, 19), (23, 19), (23, 30), (13, 30))}</object>",
        f"<object><name>gone</name><deleted>1</deleted>{_pts((1, 1), (2, 2), (3, 1))}</object>",
        "<object><name>m</name><deleted>0</deleted><segm><mask>m.png</mask></segm></object>",
        f"<object><name>poly</name><deleted>0</deleted>{_pts((1.5, 1), (9, 1), (5, 7))}</object>",
        f"<object><name>bad</name><deleted>0</deleted>{_pts((1, 1), (2, 'q'), (3, 1))}</object>",
        f"<object><name>short</name>{_pts((1, 1), (2, 2))}</object>",
        "<object><deleted>0</deleted></object>",
    ]
    xml = tmp_path / "img.xml"
    xml.write_text(f"<annotation><filename>img.png</filename><folder>f</folder>{''.join(objects)}"
                   "<imagesize><nrows>80</nrows><ncols>100</ncols></imagesize></annotation>")
    assert labelme.detect(tmp_path) and labelme.detect(xml)
    parsed = labelme.read(tmp_path)
    (item,) = parsed.items
    assert item.declared_size == (100, 80)
    box, polygon = item.shapes
    assert (box.kind, box.box) == ("box", (13.0, 19.0, 10.0, 11.0))
    assert box.attributes == {"occluded": True, "a": 1, "b": True, "c": "x"}
    assert (polygon.kind, polygon.points) == ("polygon", [[1.5, 1.0], [9.0, 1.0], [5.0, 7.0]])
    problems = {p.element: p.reason for p in parsed.problems}
    assert all(p.path == str(xml) for p in parsed.problems)
    assert "unsupported shape type 'mask'" in problems["object[3]"]
    assert "pt[2]" in problems["object[5]"]
    assert "at least 3 points" in problems["object[6]"]
    assert "missing <name>" in problems["object[7]"]
    assert len(problems) == 4


XML_BAD = {
    "malformed": ("<annotation>\n<filename>a.png</filename>\n<object></annotation>", "malformed XML"),
    "entities": ('<!DOCTYPE a [<!ENTITY x "xxxxxxxxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;&x;&x;">]>'
                 "<annotation><filename>&y;</filename></annotation>", "entities are refused"),
    "external": ('<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><annotation><filename>&e;</filename>'
                 "</annotation>", "external entities are refused"),
    "no_filename": ("<annotation><imagesize/></annotation>", "missing <filename>"),
    "no_image": ("<annotation><filename>none.png</filename><imagesize/></annotation>", "'none.png' not found"),
}


@pytest.mark.parametrize("case", sorted(XML_BAD))
def test_bad_labelme_xml_is_reported(tmp_path: Path, case: str) -> None:
    body, reason = XML_BAD[case]
    path = tmp_path / "a.xml"
    path.write_text(body)
    parsed = labelme.read(tmp_path)
    assert parsed.items == []
    (problem,) = parsed.problems
    assert problem.path == str(path) and reason in problem.reason
    if case == "malformed":
        assert problem.line == 3


# -- detection --------------------------------------------------------------------------------------------------------
def test_detect_is_specific(tmp_path: Path) -> None:
    ok = dump(tmp_path / "json" / "sub" / "a.json", doc([rect()]))
    assert labelme.detect(tmp_path / "json") and labelme.detect(ok)
    other = dump(tmp_path / "mixed" / "0_meta.json", {"name": "x"})  # tells nothing
    dump(tmp_path / "mixed" / "a.json", doc([]))
    assert labelme.detect(other.parent) and not labelme.detect(other)
    dump(tmp_path / "coco" / "annotations" / "instances.json", {"images": [], "annotations": [], "categories": []})
    (tmp_path / "voc" / "Annotations").mkdir(parents=True)
    (tmp_path / "voc" / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>1</width></size></annotation>")
    (tmp_path / "cvat").mkdir()
    (tmp_path / "cvat" / "annotations.xml").write_text("<annotations><version>1.1</version></annotations>")
    (tmp_path / "empty").mkdir()
    for name in ("coco", "voc", "cvat", "empty", "nowhere"):
        assert not labelme.detect(tmp_path / name), name


# -- writing ----------------------------------------------------------------------------------------------------------
def test_write_read_round_trip(tmp_path: Path) -> None:
    classes = [ExportClass(0, 5, "cat", "#ff0000"), ExportClass(1, 6, "dog", "#00ff00"),
               ExportClass(2, 7, "night", "#0000ff")]
    shapes = [
        ExportShape(0, "box", (10.25, 3.3333333333, 7.1, 0.5), attributes={"group_id": 2, "description": "d",
                                                                         "truncated": True, "score": 0.5}),
        ExportShape(1, "polygon", points=[[1.5, 1.0], [30.125, 2.0], [20.0, 40.75]]),
        ExportShape(2, "tag"),
    ]
    items = [ExportItem(1, make_image(tmp_path / "src" / "a.jpg"), "a.jpg", 64, 48, "train", shapes),
             ExportItem(2, make_image(tmp_path / "src2" / "a.png", fmt="PNG"), "a.png", 64, 48, "val", []),
             ExportItem(3, make_image(tmp_path / "src" / "b.jpg", seed=3), "sub/b.jpg", 64, 48, "val", shapes[1:2])]
    out = tmp_path / "out"
    labelme.write(ExportData(classes, items, "hardlink"), out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.jpg", "a.json", "a_2.json", "a_2.png", "classes.txt", "sub/b.jpg", "sub/b.json"]
    written = json.loads((out / "a.json").read_text())
    assert written["version"] == "5.4.1" and written["imageData"] is None and written["imagePath"] == "a.jpg"
    assert written["flags"] == {"night": True} and (written["imageWidth"], written["imageHeight"]) == (64, 48)
    assert written["shapes"][0]["shape_type"] == "rectangle" and written["shapes"][0]["group_id"] == 2
    assert (out / "classes.txt").read_text() == "cat\ndog\nnight\n"
    assert labelme.detect(out)
    parsed = labelme.read(out)
    assert parsed.problems == [] and parsed.classes == ["cat", "dog", "night"]
    by_name = {i.image_path.relative_to(out).as_posix(): i for i in parsed.items}
    box, polygon, tag = by_name["a.jpg"].shapes
    assert max(abs(g - w) for g, w in zip(box.box, shapes[0].box)) < 0.01
    assert box.attributes == shapes[0].attributes
    assert polygon.points == shapes[1].points and (tag.kind, tag.label) == ("tag", "night")
    assert by_name["a_2.png"].shapes == [] and len(by_name["sub/b.jpg"].shapes) == 1


# -- shared fixture ---------------------------------------------------------------------------------------------------
@prerequisites.needs_shared("formats", "labelme_dataset")
def test_datumaro_labelme_dataset() -> None:
    assert labelme.detect(LABELME_XML)
    root = DET.parse(str(LABELME_XML / "img1.xml")).getroot()
    live = [o for o in root.findall("object") if o.findtext("deleted") != "1"]
    with_polygon = [o for o in live if o.find("polygon") is not None]
    boxes = [o for o in with_polygon if o.findtext("type") == "bounding_box"]
    assert (len(live), len(with_polygon), len(boxes)) == (7, 5, 1)
    parsed = labelme.read(LABELME_XML)
    (item,) = parsed.items  # the Masks/ and Scribbles/ PNGs are not dataset images
    assert item.image_path == LABELME_XML / "img1.png" and item.declared_size == (102, 77)
    assert [s.kind for s in item.shapes].count("box") == len(boxes)
    assert len(item.shapes) == len(with_polygon)
    assert parsed.classes == ["window", "o1", "q1", "b1", "hg"]
    b1 = next(s for s in item.shapes if s.label == "b1")
    assert b1.box == (13, 19, 10, 11) and b1.attributes == {"occluded": True, "hg": True}
    assert [(p.element, "unsupported shape type 'mask'" in p.reason) for p in parsed.problems] == [
        ("object[2]", True), ("object[6]", True)]


def test_progress_and_cancel(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    dump(tmp_path / "a.json", doc([rect()]))
    seen: list[float] = []
    labelme.read(tmp_path, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        labelme.read(tmp_path, cancel=token)
    with pytest.raises(Cancelled):
        labelme.write(ExportData([], [ExportItem(1, tmp_path / "a.jpg", "a.jpg", 64, 48, "train")]),
                      tmp_path / "out", cancel=token)
