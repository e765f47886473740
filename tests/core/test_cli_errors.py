"""Errors that help: with ``--json`` every command reports an error as exactly one JSON object on stdout,
``{"error": {"code", "message"}}``, with the exit code it has without ``--json``; unreadable, deeply nested or
special files give a message naming the file, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import make_image

from cvops.cli import cli
from cvops.formats import coco, labelme, yolo
from cvops.formats.common import JsonFileError, load_json, read_lines
from cvops.formats.importer import load_class_map
from cvops.formats.model import FormatError

DEPTH = 100_000


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def json_error(result: Result, code: str, exit_code: int) -> dict[str, Any]:
    """The error object of a ``--json`` run: stdout is that one JSON object and nothing else."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert list(data) == ["error"] and data["error"]["code"] == code, data
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    assert "Traceback" not in result.output
    return data["error"]


@pytest.fixture
def wsdir(tmp_path: Path) -> str:
    ws = str(tmp_path / "ws")
    assert invoke("init", ws).exit_code == 0
    return ws


@pytest.mark.parametrize("args, code, exit_code, says", [
    (["stats"], "no_workspace", 2, "not a CVOps workspace"),
    (["version", "show", "v9"], "no_workspace", 2, "not a CVOps workspace"),
    (["version", "create", "-m", "x", "--split", "50/50/50"], "validation", 2, "sum to"),
    (["version", "show", "v9"], "not_found", 2, "no version 'v9'"),
    (["models", "show", "m9"], "not_found", 2, "no model 'm9'"),
    (["export", "m9"], "not_found", 2, "no model 'm9'"),
    (["bundle", "7", "out"], "not_found", 2, "no export 7"),
    (["runs", "show", "3"], "not_found", 2, "no training run 3"),
    (["prelabel"], "not_found", 2, "no champion model"),
    (["check", "--version", "v2"], "not_found", 2, "no version 'v2'"),
    (["train"], "usage", 2, "give --version"),
    (["images", "list", "--status", "bogus"], "usage", 2, "'bogus' is not one of"),
    (["stats", "--bogus"], "usage", 2, "No such option"),
    (["version", "create", "-m", "x", "--filter", "status=nope"], "usage", 2, "unknown status 'nope'"),
])
def test_json_errors_are_one_object_with_the_text_exit_code(tmp_path: Path, wsdir: str, args: list[str], code: str,
                                                              exit_code: int, says: str) -> None:
    ws = str(tmp_path / "nowhere") if code == "no_workspace" else wsdir
    error = json_error(invoke(*args, "-w", ws, "--json"), code, exit_code)
    assert says in error["message"]
    text = invoke(*args, "-w", ws)
    assert text.exit_code == exit_code and text.stdout == "" and says in text.stderr


def test_usage_errors_before_the_command_are_json_too(wsdir: str) -> None:
    error = json_error(invoke("--bogus", "stats", "-w", wsdir, "--json"), "usage", 2)
    assert "--bogus" in error["message"]
    error = json_error(invoke("no-such-command", "--json"), "usage", 2)
    assert "no-such-command" in error["message"]
    assert "Usage:" in invoke("stats", "--bogus", "-w", wsdir).stderr  # without --json: click's own message


def test_a_value_named_json_after_double_dash_is_not_the_flag(wsdir: str) -> None:
    result = invoke("classes", "add", "-w", wsdir, "--", "--json")  # a class named "--json"
    assert result.exit_code == 0 and "'--json'" in result.stdout


def test_io_errors_name_the_path(tmp_path: Path, wsdir: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert invoke("import", str(make_image(tmp_path / "one.jpg")), "-w", wsdir).exit_code == 0
    error = json_error(invoke("export-dataset", str(afile / "out"), "--format", "yolo", "-w", wsdir, "--json"),
                       "io", 2)
    assert error["path"] == str(afile) and error["message"].startswith(str(afile))


def test_an_unexpected_exception_is_internal_with_its_traceback_on_stderr(wsdir: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from cvops.data.workspace import Workspace

    def boom(self: Workspace) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(Workspace, "stats", boom)
    result = invoke("stats", "-w", wsdir, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout) == {
        "error": {"code": "internal", "message": "RuntimeError: kaboom"}}
    assert "Traceback" in result.stderr
    text = invoke("stats", "-w", wsdir)  # without --json a bug keeps its traceback
    assert isinstance(text.exception, RuntimeError)


def test_strict_refusal_is_exit_1_with_its_problems(tmp_path: Path, wsdir: str) -> None:
    ds = tmp_path / "ds"
    make_image(ds / "images" / "a.jpg")
    (ds / "labels").mkdir(parents=True)
    (ds / "labels" / "a.txt").write_text("5 0.5 0.5 0.2 0.2\n")
    (ds / "data.yaml").write_text("train: images\nnames: [car]\n")
    error = json_error(invoke("import-dataset", str(ds), "--strict", "-w", wsdir, "--json"), "refused", 1)
    assert error["problems"] and error["problems"][0]["path"].endswith("a.txt")


# -- deeply nested JSON / YAML ------------------------------------------------------------------------------------------
def deep_array(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[" * DEPTH + "]" * DEPTH)
    return path


def deep_object(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"images": ' * DEPTH + "1" + "}" * DEPTH)
    return path


@pytest.mark.parametrize("make", [deep_array, deep_object])
def test_load_json_turns_deep_nesting_into_a_problem_naming_the_file(tmp_path: Path, make: Any) -> None:
    path = make(tmp_path / "deep.json")
    with pytest.raises(JsonFileError) as info:
        load_json(path)
    assert info.value.problem.path == str(path) and "nested too deeply" in info.value.problem.reason


def test_deep_coco_json_is_a_format_error(tmp_path: Path, wsdir: str) -> None:
    path = deep_object(tmp_path / "instances_train.json")
    with pytest.raises(FormatError, match=r"instances_train\.json: JSON nested too deeply"):
        coco.read(path)
    error = json_error(invoke("import-dataset", str(path), "--format", "coco", "-w", wsdir, "--json"), "format", 2)
    assert "instances_train.json" in error["message"] and "nested too deeply" in error["message"]
    text = invoke("import-dataset", str(path), "--format", "coco", "-w", wsdir)
    assert text.exit_code == 2 and "nested too deeply" in text.stderr and "Traceback" not in text.output


def test_deep_labelme_json_is_skipped_with_its_name(tmp_path: Path, wsdir: str) -> None:
    make_image(tmp_path / "ds" / "ok.jpg")
    (tmp_path / "ds" / "ok.json").write_text(json.dumps({
        "shapes": [{"label": "a", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}], "imagePath": "ok.jpg",
        "imageHeight": 64, "imageWidth": 64}))
    bad = deep_array(tmp_path / "ds" / "zdeep.json")
    parsed = labelme.read(tmp_path / "ds")
    assert [i.image_path.name for i in parsed.items] == ["ok.jpg"]
    assert [(p.path, "nested too deeply" in p.reason) for p in parsed.problems] == [(str(bad), True)]
    result = invoke("import-dataset", str(tmp_path / "ds"), "--format", "labelme", "-w", wsdir, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["images"] == 1 and report["skipped"][0]["path"] == str(bad)


def test_deep_class_map_and_data_yaml(tmp_path: Path, wsdir: str) -> None:
    cmap = deep_array(tmp_path / "map.json")
    with pytest.raises(FormatError, match="map.json: class map is nested too deeply"):
        load_class_map(cmap)
    make_image(tmp_path / "ds" / "images" / "a.jpg")
    error = json_error(invoke("import-dataset", str(tmp_path / "ds"), "--format", "yolo", "--class-map", str(cmap),
                              "-w", wsdir, "--json"), "format", 2)
    assert "nested too deeply" in error["message"]
    (tmp_path / "ds" / "data.yaml").write_text("[" * 20_000 + "]" * 20_000)
    with pytest.raises(FormatError, match=r"data\.yaml.*YAML nested too deeply"):
        yolo.read(tmp_path / "ds")


# -- special and unreadable files in a dataset ---------------------------------------------------------------------------
def test_a_fifo_label_file_is_not_a_regular_file_and_never_blocks(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_image(root / "images" / "a.jpg")
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("train: images\nnames: [a]\n")
    os.mkfifo(root / "labels" / "a.txt")
    os.mkfifo(root / "classes.txt")
    ds = yolo.read(root)  # would block forever on open() of the FIFO
    assert [(Path(p.path).name, p.reason) for p in ds.problems] == [
        ("a.txt", "cannot read the label file: not a regular file (a FIFO)")]
    problems: list = []
    assert read_lines(root / "classes.txt", problems) == []
    assert [p.reason for p in problems] == ["cannot read: not a regular file (a FIFO)"]
    os.mkfifo(tmp_path / "lm.json")
    with pytest.raises(JsonFileError, match="not a regular file"):
        load_json(tmp_path / "lm.json")


def test_an_unreadable_label_file_is_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    root = tmp_path / "ds"
    make_image(root / "images" / "a.jpg")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("train: images\nnames: [a]\n")
    real_open = os.open

    def no_access(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:  # root reads everything: simulate
        if str(path).endswith("a.txt"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_access)
    ds = yolo.read(root)
    assert [(Path(p.path).name, p.reason) for p in ds.problems] == [
        ("a.txt", "cannot read the label file: permission denied")]
    with pytest.raises(JsonFileError, match="a.txt: cannot read the file: permission denied"):
        load_json(root / "labels" / "a.txt")


def test_every_error_code_is_in_the_readme_table() -> None:
    from cvops.common.errors import CvopsError
    from cvops.deploy.deploy import DeployError  # errors defined outside cvops.common.errors count too
    from cvops.formats.importer import DatasetImportError
    from cvops.pipelines.spec import PipelineInvalid

    def subclasses(cls: type) -> list[type]:
        return [cls] + [s for sub in cls.__subclasses__() for s in subclasses(sub)]

    assert {DeployError, DatasetImportError, PipelineInvalid} <= set(subclasses(CvopsError))

    codes = {c.code for c in subclasses(CvopsError) if c is not CvopsError} | {"usage", "io", "cancelled", "internal"}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = [line for line in readme.splitlines() if line.startswith("| `")]
    assert {c for c in codes if not any(f"`{c}`" in line.split("|")[1] for line in table)} == set()
