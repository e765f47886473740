"""CVAT XML 1.1 reader: images (boxes, polygons, tags, typed attributes, subsets), video tracks, bad input and the
shared CVAT fixtures."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as DET
import pytest
from helpers import make_image
import prerequisites

from cvops.formats import cvat
from cvops.formats.model import FormatError
from cvops.common.jobs import CancelToken, Cancelled

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
CVAT_FIXTURES = SHARED / "formats" / "cvat_dataset"

META = """<meta><task><subset>{subset}</subset><labels>
  <label><name>car</name><attributes>
    <attribute><name>parked</name><input_type>checkbox</input_type><values>false
true</values></attribute>
    <attribute><name>speed</name><input_type>number</input_type></attribute>
    <attribute><name>plate</name><input_type>text</input_type></attribute>
  </attributes></label>
  <label><name>person</name></label>
  <label><name>sk</name><type>skeleton</type></label>
  <label><name>1</name><type>points</type><parent>sk</parent></label>
</labels></task></meta>"""


def cvat_xml(body: str, subset: str = "", meta: str = META) -> str:
    return f'<?xml version="1.0"?>\n<annotations><version>1.1</version>{meta.format(subset=subset)}{body}</annotations>'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_images_boxes_polygons_tags_attributes(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "a.jpg", (64, 48))
    make_image(tmp_path / "b.jpg", seed=2)  # beside the XML
    body = """
    <image id="0" name="a.jpg" width="64" height="48" subset="val">
      <box label="car" occluded="1" xtl="1.5" ytl="2" xbr="11.25" ybr="12" z_order="2">
        <attribute name="parked">true</attribute><attribute name="speed">12.5</attribute>
        <attribute name="plate">0042</attribute><attribute name="free">7</attribute>
      </box>
      <polygon label="person" occluded="0" points="1,1;10.5,1;5,8.25"/>
      <tag label="person"/>
      <box label="car" xtl="10" ytl="10" xbr="20" ybr="14" rotation="90"/>
    </image>
    <image id="1" name="b.jpg" width="64" height="48"/>"""
    xml = write(tmp_path / "annotations.xml", cvat_xml(body, subset="train"))
    assert cvat.detect(tmp_path) and cvat.detect(xml)
    parsed = cvat.read(tmp_path)
    assert parsed.problems == []
    assert parsed.classes == ["car", "person"]  # skeleton labels left out
    a, b = parsed.items
    assert (a.image_path, a.split, a.declared_size, a.label_path) == (tmp_path / "images" / "a.jpg", "val",
                                                                      (64, 48), xml)
    assert (b.image_path, b.split, b.shapes) == (tmp_path / "b.jpg", "train", [])
    box, polygon, tag, rotated = a.shapes
    assert (box.kind, box.box) == ("box", (1.5, 2.0, 9.75, 10.0))
    assert box.attributes == {"occluded": True, "z_order": 2, "parked": True, "speed": 12.5, "plate": "0042",
                              "free": 7}
    assert (polygon.kind, polygon.points, polygon.attributes) == (
        "polygon", [[1.0, 1.0], [10.5, 1.0], [5.0, 8.25]], {"occluded": False})
    assert (tag.kind, tag.label) == ("tag", "person")
    assert rotated.kind == "polygon"
    assert [[round(v, 9) for v in p] for p in rotated.points] == [[17, 7], [17, 17], [13, 17], [13, 7]]
    assert box.origin is not None and box.origin.element == "image[a.jpg]/box[1]"


def test_project_meta_and_file_name_split(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "a.jpg")
    meta = "<meta><project><labels><label><name>z</name></label><label><name>y</name></label></labels></project></meta>"
    write(tmp_path / "val.xml", cvat_xml('<image id="0" name="a.jpg"><tag label="x"/></image>', meta=meta))
    parsed = cvat.read(tmp_path / "val.xml")
    assert parsed.classes == ["z", "y", "x"]
    assert parsed.items[0].split == "val" and parsed.items[0].declared_size is None


def test_unsupported_and_bad_shapes_are_reported(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "a.jpg")
    body = """<image id="0" name="a.jpg" width="64" height="48">
      <box label="car" xtl="0" ytl="0" xbr="5" ybr="5"/>
      <polyline label="car" points="1,1;2,2"/>
      <points label="car" points="1,1"/>
      <ellipse label="car" cx="1" cy="1" rx="1" ry="1"/>
      <cuboid label="car"/>
      <mask label="car" rle="1,2"/>
      <skeleton label="sk"><points label="1" points="1,1"/></skeleton>
      <box label="car" xtl="a" ytl="0" xbr="5" ybr="5"/>
      <box label="car" xtl="5" ytl="0" xbr="5" ybr="5"/>
      <box label="car" ytl="0" xbr="5" ybr="5"/>
      <box label="car" xtl="0" ytl="0" xbr="inf" ybr="5"/>
      <polygon label="car" points="1,1;2,2"/>
      <polygon label="car" points="1,1;2;3,3"/>
      <polygon label="car" points="1,x;2,2;3,3"/>
      <polygon label="" points="1,1;2,2;3,3"/>
      <weird label="car"/>
    </image>"""
    xml = write(tmp_path / "annotations.xml", cvat_xml(body))
    parsed = cvat.read(tmp_path)
    assert len(parsed.items[0].shapes) == 1
    got = {p.element: p.reason for p in parsed.problems}
    assert all(p.path == str(xml) for p in parsed.problems)
    expected = {
        "polyline[1]": "unsupported shape type 'polyline'", "points[1]": "unsupported shape type 'points'",
        "ellipse[1]": "unsupported shape type 'ellipse'", "cuboid[1]": "unsupported shape type 'cuboid'",
        "mask[1]": "unsupported shape type 'mask'", "skeleton[1]": "unsupported shape type 'skeleton'",
        "box[2]": "non-numeric xtl='a'", "box[3]": "box has no area", "box[4]": "missing or non-numeric xtl=None",
        "box[5]": "non-finite xbr='inf'", "polygon[1]": "at least 3 points", "polygon[2]": "not finite x,y pairs",
        "polygon[3]": "non-numeric points", "polygon[4]": "missing label", "weird[1]": "unknown element <weird>",
    }
    assert set(got) == {f"image[a.jpg]/{k}" for k in expected}
    for key, reason in expected.items():
        assert reason in got[f"image[a.jpg]/{key}"], (key, got[f"image[a.jpg]/{key}"])


def test_image_lookup_problems(tmp_path: Path) -> None:
    make_image(tmp_path / "outside.jpg")
    make_image(tmp_path / "ds" / "images" / "train" / "s.jpg")
    body = ('<image id="0" name="../outside.jpg"/><image id="1" name="missing.jpg"/><image id="2"/>'
            '<image id="3" name="s.jpg" subset="train"/>')
    write(tmp_path / "ds" / "annotations.xml", cvat_xml(body))
    parsed = cvat.read(tmp_path / "ds")
    assert [i.image_path for i in parsed.items] == [tmp_path / "ds" / "images" / "train" / "s.jpg"]
    reasons = {p.element: p.reason for p in parsed.problems}
    assert "escapes the dataset folder" in reasons["image[../outside.jpg]"]
    assert "'missing.jpg' not found" in reasons["image[missing.jpg]"]
    assert "without a name" in reasons["image[3]"]


BAD_FILES = {
    "malformed": ("<annotations>\n<version>1.1</version>\n<image name='a'></annotations>", "malformed XML"),
    "billion_laughs": ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                       '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                       "<annotations><version>&lol2;</version></annotations>", "entities are refused"),
    "external_entity": ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                        "<annotations><version>&e;</version></annotations>", "external entities are refused"),
    "not_cvat": ("<annotation><filename>a.jpg</filename></annotation>", "not a CVAT XML file"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_reported(tmp_path: Path, case: str) -> None:
    body, reason = BAD_FILES[case]
    make_image(tmp_path / "images" / "a.jpg")
    write(tmp_path / "a.xml", cvat_xml('<image id="0" name="a.jpg"><tag label="car"/></image>'))
    bad = write(tmp_path / "b.xml", body)
    parsed = cvat.read(tmp_path)
    assert len(parsed.items) == 1
    (problem,) = parsed.problems
    assert problem.path == str(bad) and reason in problem.reason
    if case == "malformed":
        assert problem.line == 3
    assert cvat.read(bad).problems[0].reason == problem.reason  # the file named directly


def test_empty_folder_and_cancel(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no XML file"):
        cvat.read(tmp_path)
    make_image(tmp_path / "images" / "a.jpg")
    write(tmp_path / "a.xml", cvat_xml('<image id="0" name="a.jpg"/>'))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        cvat.read(tmp_path, cancel=token)


def test_video_tracks(tmp_path: Path) -> None:
    for frame in (0, 5):
        make_image(tmp_path / "images" / f"frame_{frame:06d}.png", (40, 30), "PNG", frame)
    meta = ("<meta><task><mode>interpolation</mode><labels><label><name>car</name></label></labels>"
            "<original_size><width>40</width><height>30</height></original_size></task></meta>")
    body = """
    <track id="7" label="car">
      <box frame="0" outside="0" occluded="0" keyframe="1" xtl="1" ytl="2" xbr="11" ybr="12"/>
      <box frame="5" outside="1" occluded="0" keyframe="1" xtl="1" ytl="2" xbr="11" ybr="12"/>
    </track>
    <track id="8" label="car">
      <polygon frame="5" outside="0" occluded="1" keyframe="1" points="1,1;5,1;3,4"/>
      <polygon frame="9" outside="0" occluded="0" keyframe="1" points="1,1;5,1;3,4"/>
      <polyline frame="0" outside="0" occluded="0" keyframe="1" points="1,1;5,1"/>
      <polyline frame="5" outside="1" occluded="0" keyframe="1" points="1,1;5,1"/>
    </track>"""
    xml = write(tmp_path / "annotations.xml", cvat_xml(body, meta=meta))
    parsed = cvat.read(tmp_path)
    assert [(i.image_path.name, i.declared_size) for i in parsed.items] == [
        ("frame_000000.png", (40, 30)), ("frame_000005.png", (40, 30))]
    (box,) = parsed.items[0].shapes
    assert (box.box, box.attributes) == ((1.0, 2.0, 10.0, 10.0), {"occluded": False, "track_id": 7})
    (polygon,) = parsed.items[1].shapes
    assert polygon.attributes == {"occluded": True, "track_id": 8}
    problems = {p.element: p.reason for p in parsed.problems}
    assert all(p.path == str(xml) for p in parsed.problems)
    assert set(problems) == {"track[8]/polyline[frame=0]", "frame[9]"}
    assert "unsupported shape type 'polyline'" in problems["track[8]/polyline[frame=0]"]
    assert "frame_000009" in problems["frame[9]"] and "1 shapes skipped" in problems["frame[9]"]


def test_detect_is_specific(tmp_path: Path) -> None:
    write(tmp_path / "voc" / "a.xml", "<annotation><filename>a.jpg</filename><size/></annotation>")
    write(tmp_path / "labelme" / "a.json", '{"shapes": [], "imagePath": "a.jpg"}')
    write(tmp_path / "other" / "a.xml", "<annotations><something/></annotations>")
    write(tmp_path / "nested" / "sub" / "annotations.xml", cvat_xml(""))
    for name in ("voc", "labelme", "other", "nested", "missing"):
        assert not cvat.detect(tmp_path / name), name


# -- shared fixtures --------------------------------------------------------------------------------------------------
needs_shared = prerequisites.needs_shared("formats", "cvat_dataset")


@needs_shared
def test_cvat_for_images_fixture() -> None:
    root = CVAT_FIXTURES / "for_images"
    assert cvat.detect(root)
    tree = DET.parse(str(root / "train.xml")).getroot()
    assert (len(tree.findall("image")), len(tree.findall("image/box")), len(tree.findall("image/polygon"))) == (2, 1, 1)
    parsed = cvat.read(root)
    assert [(i.image_path.name, i.split, i.declared_size) for i in parsed.items] == [
        ("img0.jpg", "train", (8, 8)), ("img1.jpg", "train", (10, 10))]
    (box,) = parsed.items[0].shapes
    assert (box.label, box.box) == ("label1", (0.0, 2.0, 4.0, 2.0))
    assert box.attributes == {"occluded": True, "z_order": 1, "a1": True, "a2": "v3", "a3": "0003", "a4": 2.4}
    assert parsed.items[1].shapes == []  # its only polygon has no label
    assert parsed.classes == ["label1", "label2"]
    assert sorted((p.element or "").split("/")[1] + ": " + p.reason.split(": ", 1)[1] for p in parsed.problems) == [
        "points[1]: unsupported shape type 'points'", "polygon[1]: missing label",
        "polyline[1]: unsupported shape type 'polyline'", "skeleton[1]: unsupported shape type 'skeleton'",
        "skeleton[1]: unsupported shape type 'skeleton'"]


@needs_shared
def test_cvat_for_video_fixture() -> None:
    root = CVAT_FIXTURES / "for_video"
    assert cvat.detect(root)
    tree = DET.parse(str(root / "annotations.xml")).getroot()
    visible_boxes = [b for b in tree.findall("track/box") if b.get("outside") == "0"]
    assert len(visible_boxes) == 1
    parsed = cvat.read(root)
    assert [(i.image_path.name, len(i.shapes), i.declared_size) for i in parsed.items] == [
        ("frame_000010.png", 1, (25, 20)), ("frame_000013.png", 0, (25, 20))]
    (box,) = parsed.items[0].shapes
    assert (box.label, box.box, box.attributes) == ("II", (3.0, 4.0, 7.0, 1.0), {"occluded": True, "track_id": 0})
    assert parsed.classes == ["klhg", "z U k", "II"]
    assert sorted(p.element for p in parsed.problems) == [
        "track[1]/points[frame=10]", "track[2]/polyline[frame=13]", "track[3]/skeleton[frame=10]",
        "track[3]/skeleton[frame=13]", "track[3]/skeleton[frame=16]"]
