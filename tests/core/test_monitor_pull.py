"""``cvops monitor pull``: fake device field folders (tests/field_testing.py) pulled from a folder and over SSH to a
real OpenSSH server: copies and imports, idempotence, the growing active log, malformed lines, interruptions (cancel and
kill), paths the device must not name, the CLI's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from field_testing import append, write_device

from ssh_testing import Sshd

from cvops.catalog.store import sha256_file
from cvops.common.errors import ValidationError
from cvops.common.jobs import CancelToken
from cvops.data.workspace import Workspace
from cvops.monitoring import device_files
from cvops.monitoring.field import device_dir, load_records
from cvops.monitoring.pull import PullError, _checked, field_images, pull

T0 = 1764790000.0
JSON_KEYS = {"source", "devices", "files_copied", "files_unchanged", "bytes", "records", "problems",
             "images_imported", "images_already_present", "batches"}


def field(tmp_path: Path, captures: int = 3) -> tuple[Path, dict[str, Any]]:
    """A deploy target with two devices in ``field/``: cam-01 with a closed log (truncated last line) and an active
    one (malformed lines), cam-02 with one log; every other record names a capture."""
    target = tmp_path / "target"
    fdir = target / "field"
    closed, c1 = write_device(fdir, "cam-01", 2 * captures, T0, truncated=True, pid=7)
    active, c2 = write_device(fdir, "cam-01", 4, T0 + 100, malformed=True, pid=8)
    other, c3 = write_device(fdir, "cam-02", 4, T0 + 200)
    (target / "edge").mkdir()
    (target / "edge" / "run.py").write_text("# the deployed bundle")
    return target, {"closed": closed, "active": active, "other": other,
                    "captures": {"cam-01": c1 + c2, "cam-02": c3}}


def image_count(ws: Workspace) -> int:
    return int(ws.db.execute("SELECT COUNT(*) FROM images").fetchone()[0])


def assert_each_capture_once(ws: Workspace, captures: dict[str, list[str]]) -> None:
    """Every capture is in the manifest with its own catalog image, and the catalog holds just those."""
    pulled = {(r["device"], r["capture"]): r["image_id"] for r in field_images(ws)}
    assert sorted(pulled) == sorted((d, c) for d, cs in captures.items() for c in cs)
    assert len(set(pulled.values())) == len(pulled) == image_count(ws)


def test_pull_a_deploy_target_then_again_nothing(ws: Workspace, tmp_path: Path) -> None:
    target, made = field(tmp_path)
    seen: list[tuple[float, str]] = []
    report = pull(ws, target, progress=lambda f, m: seen.append((f, m)))
    assert report.field_dir == str(target / "field") and report.devices == ["cam-01", "cam-02"]
    n_captures = sum(len(c) for c in made["captures"].values())
    assert report.files_copied == 3 + n_captures and report.files_unchanged == 0
    assert report.images_imported == n_captures and report.images_already_present == 0
    assert report.records == 6 + 4 + 4  # the malformed and the truncated lines are not records
    assert len(report.batches) == 2 and seen[-1] == (1.0, "done")
    assert all(0.0 <= f <= 1.0 for f, _ in seen)
    # the logs copied verbatim, checksummed
    for device, key in (("cam-01", "closed"), ("cam-01", "active"), ("cam-02", "other")):
        copy = device_dir(ws, device) / "logs" / made[key].name
        assert copy.read_bytes() == made[key].read_bytes()
    records, _ = load_records(ws, "cam-01")
    assert len(records) == 10
    # one batch per device, its images new, named after the device, found where the device keeps them
    for device, batch in zip(("cam-01", "cam-02"), report.batches):
        rows = ws.db.execute("SELECT status, file_name, original_path FROM images WHERE batch_id = ?",
                             [batch]).fetchall()
        assert len(rows) == len(made["captures"][device])
        assert {r[0] for r in rows} == {"new"} and all(r[1].startswith(f"{device}_") for r in rows)
        assert sorted(r[2] for r in rows) == sorted(f"{target}/field/{device}/{c}" for c in made["captures"][device])
        sources = json.loads(ws.db.execute("SELECT sources FROM batches WHERE id = ?", [batch]).fetchone()[0])
        assert sources == [f"{target}/field/{device}"]
    assert_each_capture_once(ws, made["captures"])
    times = {r["capture"]: r["captured_at"] for r in field_images(ws, "cam-02")}
    assert sorted(times.values()) == [T0 + 200, T0 + 202]  # the records' times
    image = ws.images.get(field_images(ws, "cam-01")[0]["image_id"])
    assert sha256_file(ws.images.path(image)) == sha256_file(target / "field" / "cam-01" /
                                                            field_images(ws, "cam-01")[0]["capture"])
    # again: nothing new, nothing copied, nothing imported
    again = pull(ws, target)
    assert (again.files_copied, again.images_imported, again.records, again.batches) == (0, 0, 0, [])
    assert again.files_unchanged == report.files_copied and again.ok
    # an image thrown away in the catalog is not brought back by the next pull
    ws.annotations.trash([image.id])
    assert ws.annotations.empty_trash() == 1
    assert pull(ws, target).images_imported == 0 and image_count(ws) == n_captures - 1


def test_malformed_and_truncated_lines_are_reported_once_and_skipped(ws: Workspace, tmp_path: Path) -> None:
    target, made = field(tmp_path)
    report = pull(ws, target)
    where = f"{target}/field/cam-01"
    assert report.problems_total == 3 and not report.ok
    assert report.problems[0] == f"{where}/{made['closed'].name} line 7: truncated (no end of line), skipped"
    assert report.problems[1].startswith(f"{where}/{made['active'].name} line 2: not JSON")
    assert report.problems[2].startswith(f"{where}/{made['active'].name} line 3: unknown log version 7")
    # the active log grows: copied again, only its new records and problems count
    append(made["active"], "cam-01", 3, T0 + 150, capture_every=0)
    with made["active"].open("ab") as fh:
        fh.write(b"[1, 2]\n")
    again = pull(ws, target)
    assert again.files_copied == 1 and again.records == 3 and again.images_imported == 0
    assert again.problems == [f"{where}/{made['active'].name} line 10: not a JSON object, skipped"]


def test_the_active_log_is_copied_up_to_its_last_complete_line(ws: Workspace, tmp_path: Path) -> None:
    fdir = tmp_path / "field"
    log, captures = write_device(fdir, "cam", 4, T0)
    with log.open("ab") as fh:
        fh.write(b'{"v": 1, "time": 17')  # being written
    report = pull(ws, fdir)
    assert report.ok and report.records == 4 and report.images_imported == 2
    copy = device_dir(ws, "cam") / "logs" / log.name
    assert copy.read_bytes() == log.read_bytes()[:log.read_bytes().rindex(b"\n") + 1]
    # the line completes and more follow; the writer moves on to a new file
    with log.open("ab") as fh:
        fh.write(b'64790004.5, "oops": \n')
    captures += append(log, "cam", 2, T0 + 10)
    newer, more = write_device(fdir, "cam", 2, T0 + 20, pid=101)
    again = pull(ws, fdir)
    assert again.files_copied == 2 + 1 + 1 and again.records == 2 + 2 and again.images_imported == 2
    assert len(again.problems) == 1 and f"{log.name} line 5: not JSON" in again.problems[0]
    assert copy.read_bytes() == log.read_bytes() and (copy.parent / newer.name).read_bytes() == newer.read_bytes()
    assert_each_capture_once(ws, {"cam": captures + more})


def test_folder_forms_and_nothing_found(ws: Workspace, tmp_path: Path) -> None:
    fdir = tmp_path / "somewhere" / "field-log"
    write_device(fdir, "cam-7", 2, T0)
    assert pull(ws, fdir).devices == ["cam-7"]  # the field folder itself
    empty = tmp_path / "empty"
    (empty / "field" / "not-a-device").mkdir(parents=True)
    with pytest.raises(ValidationError, match=f"{empty}: no field log found"):
        pull(ws, empty)
    with pytest.raises(ValidationError, match=f"{tmp_path / 'absent'}: no such folder"):
        pull(ws, tmp_path / "absent")
    with pytest.raises(ValidationError, match="it is a device folder itself: give the folder above it"):
        pull(ws, fdir / "cam-7")


def test_a_log_that_cannot_be_read_is_reported_and_the_rest_pulled(ws: Workspace, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fdir = tmp_path / "field"
    bad, _ = write_device(fdir, "cam", 2, T0, pid=1)
    good, captures = write_device(fdir, "cam", 4, T0 + 10, pid=2)
    real = device_files._digest

    def digest(path: str, size: int, complete_lines: bool) -> tuple[str, int]:
        if path.endswith(bad.name):
            raise PermissionError(13, "Permission denied")
        return real(path, size, complete_lines)

    monkeypatch.setattr(device_files, "_digest", digest)
    report = pull(ws, fdir)
    assert report.problems == [f"{fdir}/cam/{bad.name}: cannot read: Permission denied"]
    assert report.records == 4 and report.images_imported == 1 + 2 and not (device_dir(ws, "cam") / "logs" /
                                                                            bad.name).exists()
    monkeypatch.setattr(device_files, "_digest", real)
    again = pull(ws, fdir)
    assert again.ok and again.files_copied == 1 and again.records == 2


def test_an_unreadable_capture_is_reported_and_the_others_imported(ws: Workspace, tmp_path: Path) -> None:
    fdir = tmp_path / "field"
    _, captures = write_device(fdir, "cam", 6, T0)
    broken = fdir / "cam" / captures[1]
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    report = pull(ws, fdir)
    assert report.images_imported == 2 and report.problems_total == 1
    assert report.problems[0].startswith(f"{broken}: ")
    # reported again while it is broken; once the device rewrites it, it is imported
    assert pull(ws, fdir).problems_total == 1
    write_device(tmp_path / "other", "cam", 6, T0)
    broken.write_bytes((tmp_path / "other" / "cam" / captures[1]).read_bytes())
    last = pull(ws, fdir)
    assert last.ok and last.images_imported == 1
    assert_each_capture_once(ws, {"cam": captures})


def test_symbolic_links_and_strange_names_are_not_followed(ws: Workspace, tmp_path: Path) -> None:
    fdir = tmp_path / "field"
    _, captures = write_device(fdir, "cam", 2, T0)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes((fdir / "cam" / captures[0]).read_bytes() + b"x")
    (fdir / "cam" / "captures" / "link.jpg").symlink_to(secret)
    (fdir / "cam" / "captures" / "linked-day").symlink_to(tmp_path)
    (fdir / "cam" / "captures" / "notes.txt").write_text("not an image")
    report = pull(ws, fdir)
    assert report.images_imported == 1 and image_count(ws) == 1
    assert sorted(report.problems) == [f"{fdir}/cam/captures/link.jpg: symbolic link, not followed",
                                       f"{fdir}/cam/captures/linked-day: symbolic link, not followed"]


@pytest.mark.parametrize("entry", [
    ["cam/../../evil.jpg", "capture", 1, 1, 1, "a" * 64],
    ["/etc/passwd", "log", 1, 1, 1, "a" * 64],
    ["cam/captures/../../x.jpg", "capture", 1, 1, 1, "a" * 64],
    ["other/field-1.jsonl", "log", 1, 1, 1, "a" * 64],
    ["cam/field-1.jsonl", "capture", 1, 1, 1, "a" * 64],
    ["cam/captures/x.sh", "capture", 1, 1, 1, "a" * 64],
    ["cam/captures/.hidden.jpg", "capture", 1, 1, 1, "a" * 64],
    ["cam/notes.jsonl", "log", 1, 1, 1, "a" * 64],
    ["cam/field-1.jsonl", "log", 1, 1, 2, "a" * 64],
    ["cam/field-1.jsonl", "log", 1, 1, 1, "not a sha"],
    ["cam/field-1.jsonl", "log", 1, 1, 1],
])
def test_paths_the_device_must_not_name_are_refused(entry: list[Any]) -> None:
    assert _checked("cam", entry) is None


def test_a_lying_device_writes_nothing_outside(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fdir = tmp_path / "field"
    write_device(fdir, "cam", 2, T0)
    real = device_files.listing

    def lying(root: str, known: dict) -> dict:
        found = real(root, known)
        found["devices"]["cam"].append(["cam/../../../escaped.jsonl", "log", 3, 1, 3, "a" * 64])
        found["devices"]["../up"] = []
        return found

    monkeypatch.setattr(device_files, "listing", lying)
    report = pull(ws, fdir)
    assert report.images_imported == 1 and report.problems_total == 2
    assert any("unexpected entry from the device" in p and "escaped" in p for p in report.problems)
    assert any("../up: not a device folder name" in p for p in report.problems)
    assert not list(tmp_path.rglob("escaped*")) and "../up" not in report.devices


def test_a_cancelled_pull_is_completed_by_the_next_one(ws: Workspace, tmp_path: Path) -> None:
    target, made = field(tmp_path)
    cancel = CancelToken()
    copied: list[str] = []

    def progress(fraction: float, message: str) -> None:
        if message.startswith("copied "):
            copied.append(message)
            if len(copied) == 5:  # three logs, then two of cam-01's captures
                cancel.cancel()

    report = pull(ws, target, progress=progress, cancel=cancel)
    assert report.cancelled and not report.ok and report.images_imported == 0 and image_count(ws) == 0
    assert report.files_copied == 2  # cam-01's logs; its captures staged, not imported; cam-02 not reached
    assert not list((ws.root / "tmp").glob("monitor-pull-*"))
    second = pull(ws, target)
    assert second.ok and second.files_copied == 1 + sum(len(c) for c in made["captures"].values())
    assert_each_capture_once(ws, made["captures"])


KILLER = """
import os, signal, sys
from cvops.data.workspace import Workspace
from cvops.monitoring.pull import pull

ws_root, source, when, count = sys.argv[1:5]
seen = []

def progress(fraction, message):
    if message.startswith(when) or (": " + when) in message:
        seen.append(message)
        if len(seen) == int(count):
            os.kill(os.getpid(), signal.SIGKILL)

pull(Workspace.open(ws_root), source, progress=progress)
raise SystemExit("not killed")
"""


@pytest.mark.parametrize("when,count", [("copied", 5), ("imported", 1)])
def test_a_killed_pull_is_completed_by_the_next_one(ws: Workspace, tmp_path: Path, when: str, count: int) -> None:
    """Killed while copying cam-01's captures, or right after its import committed (before its manifest rows)."""
    target, made = field(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(p).resolve()) for p in sys.path if p])}
    done = subprocess.run([sys.executable, "-c", KILLER, str(ws.root), str(target), when, str(count)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    imported = image_count(ws)
    assert imported == (len(made["captures"]["cam-01"]) if when == "imported" else 0)
    report = pull(ws, target)
    assert report.images_imported == sum(len(c) for c in made["captures"].values()) - imported
    assert report.images_already_present == imported
    assert_each_capture_once(ws, made["captures"])
    assert pull(ws, target).files_copied == 0


def test_cli_monitor_pull_json(ws: Workspace, tmp_path: Path) -> None:
    from cvops.cli import cli

    target, made = field(tmp_path)
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "monitor", "pull", str(target), "--json"])
    assert result.exit_code == 1, result.output  # the malformed lines were reported
    data = json.loads(result.stdout)
    assert set(data) >= JSON_KEYS and data["devices"] == ["cam-01", "cam-02"] and len(data["problems"]) == 3
    assert data["images_imported"] == sum(len(c) for c in made["captures"].values())
    with made["active"].open("ab") as fh:
        stats = {"brightness": 1, "contrast": 1, "sharpness": 1, "width": 1, "height": 1, "aspect": 1}
        fh.write(json.dumps({"v": 1, "time": 1, "device": "cam-01", "model_sha256": "x", "latency_ms": 1,
                             "stats": stats, "detections": [[0, 2.0, 0, 0, 1, 1]]}).encode() + b"\n[/red]\n")
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "monitor", "pull", str(target)])
    assert result.exit_code == 1 and "1 file(s) copied" in result.stdout and "0 image(s) imported" in result.stdout
    assert "line 7: detection [0, 2.0, 0, 0, 1, 1] is not [class_index, confidence 0-1, x, y, w, h]" in \
        result.stdout.replace("\n", " ")
    assert "line 8: not JSON" in result.stdout
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "monitor", "pull", str(target)])
    assert result.exit_code == 0 and "0 file(s) copied" in result.stdout
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "monitor", "pull", str(tmp_path / "nope"), "--json"])
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["code"] == "validation"


# -- SSH against a real OpenSSH server (the ``sshd`` fixture of tests/conftest.py) ----------------------------------


def test_ssh_pull_checks_the_host_key_then_pulls_incrementally(ws: Workspace, tmp_path: Path, sshd: Sshd) -> None:
    target, made = field(tmp_path)
    kw: dict[str, Any] = {"identity": sshd.client_key, "known_hosts": sshd.known_hosts,
                          "remote_python": sys.executable}
    with pytest.raises(PullError, match="host key of 127.0.0.1:.* is not known.*pull with --accept-new-host-key"):
        pull(ws, sshd.url(target), **kw)
    assert image_count(ws) == 0 and not (ws.root / "monitoring").exists()
    report = pull(ws, sshd.url(target), accept_new_host_key=True, **kw)
    assert report.field_dir == sshd.url(target / "field") and report.devices == ["cam-01", "cam-02"]
    assert report.images_imported == sum(len(c) for c in made["captures"].values()) and report.problems_total == 3
    assert report.problems[0].startswith(f"{sshd.url(target / 'field')}/cam-01/{made['closed'].name} line 7")
    assert (device_dir(ws, "cam-01") / "logs" / made["closed"].name).read_bytes() == made["closed"].read_bytes()
    assert_each_capture_once(ws, made["captures"])
    image = ws.images.get(field_images(ws, "cam-02")[0]["image_id"])
    assert image.original_path == sshd.url(target / "field" / "cam-02" / field_images(ws, "cam-02")[0]["capture"])
    # incremental: a new log and capture on the device, only they travel
    log, more = write_device(target / "field", "cam-02", 2, T0 + 300, pid=9)
    again = pull(ws, sshd.url(target), **kw)
    assert (again.files_copied, again.images_imported, again.records) == (2, 1, 2) and again.ok
    assert again.bytes == log.stat().st_size + (target / "field" / "cam-02" / more[0]).stat().st_size
    # a field folder that is not there, no Python on the device: the errors say so
    with pytest.raises(ValidationError, match=f"{sshd.url(tmp_path / 'absent')}: no such folder"):
        pull(ws, sshd.url(tmp_path / "absent"), **kw)
    with pytest.raises(PullError, match="the device has no /nonexistent/python3 .*--remote-python"):
        pull(ws, sshd.url(target), **{**kw, "remote_python": "/nonexistent/python3"})
