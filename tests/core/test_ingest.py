"""Import: formats, metadata, dedupe, bad files, in-place mode, video frames, cancel and kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import pytest
from helpers import make_image, truncate

from cvops import CancelToken, Workspace
from cvops.data.ingest import import_paths
from cvops.catalog.maintenance import doctor, gc


def _tree(root: Path) -> list[Path]:
    files = [
        make_image(root / "a.jpg", (64, 48), "JPEG", 1),
        make_image(root / "b.png", (32, 32), "PNG", 2),
        make_image(root / "sub" / "c.bmp", (20, 10), "BMP", 3),
        make_image(root / "sub" / "deeper" / "d.tiff", (16, 24), "TIFF", 4),
        make_image(root / "sub" / "e.webp", (40, 30), "WEBP", 5),
    ]
    return files


def test_import_folder_recursively_records_metadata(ws: Workspace, tmp_path: Path) -> None:
    files = _tree(tmp_path / "src")
    report = import_paths(ws, [tmp_path / "src"])
    assert (report.imported, report.duplicates, report.errors) == (5, 0, [])
    rows = {r.file_name: r for r in ws.images.page(limit=10)}
    assert set(rows) == {f.name for f in files}
    assert {r.format for r in rows.values()} == {"JPEG", "PNG", "BMP", "TIFF", "WEBP"}
    a = rows["a.jpg"]
    assert (a.width, a.height, a.byte_size) == (64, 48, files[0].stat().st_size)
    assert a.original_path == str(files[0].resolve())
    assert a.batch_id == report.batch_id and a.status == "new" and not a.in_place
    stored = ws.images.path(a)
    assert stored.is_file() and stored.read_bytes() == files[0].read_bytes()
    assert stored.is_relative_to(ws.root / "store")
    batch = ws.db.execute("SELECT state, imported FROM batches WHERE id = ?", [report.batch_id]).fetchone()
    assert batch == ("done", 5)


def test_exif_orientation_swaps_width_and_height(ws: Workspace, tmp_path: Path) -> None:
    make_image(tmp_path / "rot.jpg", (80, 40), "JPEG", orientation=6)
    import_paths(ws, [tmp_path / "rot.jpg"])
    (img,) = ws.images.page()
    assert (img.width, img.height) == (40, 80)


def test_reimport_adds_nothing_and_reports_duplicates(ws: Workspace, tmp_path: Path) -> None:
    _tree(tmp_path / "src")
    import_paths(ws, [tmp_path / "src"])
    # Same content under another name is a duplicate too.
    (tmp_path / "src" / "copy_of_a.jpg").write_bytes((tmp_path / "src" / "a.jpg").read_bytes())
    again = import_paths(ws, [tmp_path / "src"])
    assert (again.imported, again.duplicates) == (0, 6)
    assert ws.images.count() == 5
    assert sum(1 for _ in ws.store.iter_blobs()) == 5


def test_bad_files_are_reported_with_reasons_and_the_rest_continues(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_image(src / "good.jpg", seed=1)
    (src / "zero.jpg").write_bytes(b"")
    (src / "garbage.png").write_bytes(os.urandom(2000))
    truncate(make_image(src / "cut.jpg", (200, 200), "JPEG", seed=2), 0.6)
    truncate(make_image(src / "cut.png", (200, 200), "PNG", seed=3), 0.6)
    truncate(make_image(src / "cut.webp", (200, 200), "WEBP", seed=4), 0.6)
    (src / "notes.txt").write_text("hello")
    make_image(src / "anim.gif", fmt="GIF")
    explicit_txt = tmp_path / "explicit.txt"
    explicit_txt.write_text("x")
    make_image(src / "fake.jpg", fmt="GIF", seed=5)  # a GIF with a .jpg name: unsupported format

    report = import_paths(ws, [src, explicit_txt, tmp_path / "missing.jpg"])
    assert report.imported == 1
    reasons = {Path(e["path"]).name: e["reason"] for e in report.errors}
    assert "empty file" in reasons["zero.jpg"]
    assert "not a recognized image" in reasons["garbage.png"]
    assert "truncated JPEG" in reasons["cut.jpg"]
    assert "truncated PNG" in reasons["cut.png"]
    assert "truncated WebP" in reasons["cut.webp"]
    assert "unsupported image format GIF" in reasons["fake.jpg"]
    assert "unsupported file type" in reasons["explicit.txt"]
    assert "no such file" in reasons["missing.jpg"]
    skipped = {Path(s["path"]).name for s in report.skipped}
    assert {"notes.txt", "anim.gif"} <= skipped
    assert not report.ok


def test_full_decode_verify_catches_corrupt_pixel_data(ws: Workspace, tmp_path: Path) -> None:
    path = make_image(tmp_path / "damaged.png", (300, 300), "PNG", seed=9)
    data = bytearray(path.read_bytes())
    # Corrupt the compressed pixel stream but keep the header and the IEND chunk.
    for i in range(200, len(data) - 100, 7):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    report = import_paths(ws, [path], verify=True)
    assert report.imported == 0 and len(report.errors) == 1


def test_in_place_mode_and_doctor_finds_moved_and_modified_files(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "big"
    a = make_image(src / "a.jpg", seed=1)
    b = make_image(src / "b.jpg", seed=2)
    make_image(src / "c.jpg", seed=3)
    report = import_paths(ws, [src], in_place=True)
    assert report.imported == 3
    assert sum(1 for _ in ws.store.iter_blobs()) == 0, "in-place mode must not copy"
    rec = ws.images.page()[0]
    assert rec.in_place and ws.images.path(rec) == a.resolve()
    assert doctor(ws).ok

    a.rename(src / "moved.jpg")
    b.write_bytes(make_image(tmp_path / "other.jpg", seed=7).read_bytes())
    found = doctor(ws)
    assert not found.ok
    kinds = {Path(p["path"]).name: p["kind"] for p in found.problems}
    assert kinds == {"a.jpg": "missing", "b.jpg": "modified"}
    quick = doctor(ws, quick=True)
    assert {p["kind"] for p in quick.problems} == {"missing", "modified"}


def test_doctor_finds_a_damaged_store_blob(ws: Workspace, tmp_path: Path) -> None:
    make_image(tmp_path / "a.png", fmt="PNG")
    import_paths(ws, [tmp_path / "a.png"])
    blob = ws.images.path(ws.images.page()[0])
    data = bytearray(blob.read_bytes())
    data[-20] ^= 0xFF
    blob.write_bytes(bytes(data))
    report = doctor(ws)
    assert [p["kind"] for p in report.problems] == ["modified"]
    blob.unlink()
    assert [p["kind"] for p in doctor(ws).problems] == ["missing"]


def _video(path: Path, frames: int = 30, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), (i * 8) % 255, dtype=np.uint8)
        cv2.putText(frame, str(i), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return path


def test_video_frames_every_nth_tied_to_video_and_timestamp(ws: Workspace, tmp_path: Path) -> None:
    video = _video(tmp_path / "clip.avi")
    skipped = import_paths(ws, [video])
    assert skipped.imported == 0 and "video-stride" in skipped.skipped[0]["reason"]

    report = import_paths(ws, [video], video_stride=5)
    assert (report.videos, report.frames, report.errors) == (1, 6, [])
    frames = ws.images.page(limit=100)
    assert [f.frame_index for f in frames] == [0, 5, 10, 15, 20, 25]
    assert [round(f.timestamp_ms) for f in frames] == [0, 500, 1000, 1500, 2000, 2500]
    assert len({f.video_id for f in frames}) == 1 and frames[0].video_id is not None
    assert frames[0].file_name == "clip_f000000.jpg" and (frames[0].width, frames[0].height) == (64, 48)
    assert import_paths(ws, [video], video_stride=5).duplicates == 6

    (tmp_path / "broken.mp4").write_bytes(os.urandom(5000))
    bad = import_paths(ws, [tmp_path / "broken.mp4"], video_stride=2)
    assert bad.errors and "video" in bad.errors[0]["reason"]


def test_cancel_keeps_a_consistent_catalog_and_reimport_finishes(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "many"
    for i in range(300):
        make_image(src / f"{i:04d}.jpg", seed=i)
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if fraction > 0.3:
            token.cancel()

    first = import_paths(ws, [src], progress=progress, cancel=token)
    assert first.cancelled and 0 < first.imported < 300
    assert ws.images.count() == first.imported
    assert doctor(ws).ok
    second = import_paths(ws, [src])
    assert (second.imported, second.duplicates) == (300 - first.imported, first.imported)


KILL_SCRIPT = """
import sys
from cvops import Workspace
from cvops.data.ingest import import_paths
ws = Workspace.open(sys.argv[1])
import_paths(ws, [sys.argv[2]], progress=lambda f, m: print(f, flush=True))
"""


def test_sigkill_during_import_leaves_a_healthy_catalog(tmp_path: Path) -> None:
    src = tmp_path / "many"
    for i in range(600):
        make_image(src / f"{i:04d}.png", (160, 120), "PNG", seed=i)
    Workspace.create(tmp_path / "w").close()
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "w"), str(src)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until a few chunks are committed
        if float(line) > 0.3:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()

    ws = Workspace.open(tmp_path / "w")
    try:
        partial = ws.images.count()
        assert 0 < partial < 600
        report = doctor(ws)
        assert report.ok, report.problems
        assert any(w["kind"] == "interrupted_import" for w in report.warnings)
        # Every catalog row has its blob; gc removes only blobs without rows.
        collected = gc(ws)
        assert collected.interrupted_batches == 1
        assert doctor(ws).ok and not doctor(ws).warnings
        again = import_paths(ws, [src])
        assert again.imported == 600 - partial and again.duplicates == partial
        assert ws.images.count() == 600 and doctor(ws).ok
    finally:
        ws.close()


def test_gc_leaves_orphans_alone_while_an_import_runs(ws: Workspace, tmp_path: Path) -> None:
    ws.db.execute("INSERT INTO batches (started_at, mode, sources, state, pid, host) VALUES (?, 'copy', '[]', "
                  "'running', ?, ?)", [time.time(), os.getpid(), __import__("socket").gethostname()])
    sha, _ = ws.store.add_bytes(b"orphan", ".jpg")
    report = gc(ws)
    assert report.skipped and report.orphan_blobs == 0 and ws.store.find(sha) is not None


@pytest.mark.parametrize("stride", [0, -1])
def test_invalid_video_stride_is_refused(ws: Workspace, tmp_path: Path, stride: int) -> None:
    with pytest.raises(ValueError):
        import_paths(ws, [tmp_path], video_stride=stride)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares a huge image (no real pixel data: a decompression-bomb shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10))
                     + chunk(b"IEND", b""))
    return path


def test_huge_images_are_reported_by_name(ws: Workspace, tmp_path: Path) -> None:
    _png_header_only(tmp_path / "giant.png", 40_000, 40_000)
    _png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    make_image(tmp_path / "ok.jpg")
    report = import_paths(ws, [tmp_path])
    reasons = {Path(e["path"]).name: e["reason"] for e in report.errors}
    assert report.imported == 1
    assert reasons["giant.png"].startswith("image too large: 40000x40000")
    assert reasons["bomb.png"].startswith("image too large")


def test_corrupt_files_get_a_reason_even_after_ultralytics_patched_pillow(ws: Workspace, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing Ultralytics wraps PIL.Image.open with a pip-install of a HEIF plugin on unidentified files (the
    offline set-up puts Pillow's own back, but the core must not depend on it: the wrapper is forced here)."""
    import ultralytics.utils.patches
    from PIL import Image

    monkeypatch.setattr(Image, "open", ultralytics.utils.patches.image_open)
    (tmp_path / "garbage.jpg").write_bytes(os.urandom(3000))
    report = import_paths(ws, [tmp_path / "garbage.jpg"])
    assert "not a recognized image" in report.errors[0]["reason"]


# -- file names, links and special files -------------------------------------------------------------------------------

NON_UTF8 = b"caf\xe9.jpg"  # Latin-1 "café.jpg": not valid UTF-8


def _non_utf8_tree(root: Path) -> Path:
    make_image(root / "ok.jpg", seed=1)
    make_image(Path(os.fsdecode(os.fsencode(root) + b"/" + NON_UTF8)), seed=2)
    return root


@pytest.mark.parametrize("in_place", [False, True])
def test_a_non_utf8_file_name_imports_and_keeps_its_bytes(ws: Workspace, tmp_path: Path, in_place: bool) -> None:
    from cvops.common.fsnames import from_text

    src = _non_utf8_tree(tmp_path / "src")
    report = import_paths(ws, [src], in_place=in_place)
    assert (report.imported, report.errors) == (2, [])
    states = [r[0] for r in ws.db.execute("SELECT state FROM batches")]
    assert states == ["done"]
    rec = next(r for r in ws.images.page(limit=10) if r.file_name != "ok.jpg")
    assert rec.file_name == "caf\ufffd.jpg"  # printable form for lists, exports and JSON
    original = Path(from_text(rec.original_path))
    assert os.fsencode(original.name) == NON_UTF8  # the exact bytes, losslessly
    assert os.fsencode(original) == os.fsencode(src.resolve()) + b"/" + NON_UTF8
    assert ws.images.path(rec).read_bytes() == original.read_bytes()
    assert doctor(ws).ok
    json.dumps(report.to_dict(), ensure_ascii=False).encode("utf-8")  # no lone surrogates anywhere
    again = import_paths(ws, [src], in_place=in_place)
    assert (again.imported, again.duplicates, again.errors) == (0, 2, [])


def test_cli_import_of_a_non_utf8_name_prints_and_reports_json(ws: Workspace, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cvops.cli import cli

    src = _non_utf8_tree(tmp_path / "src")
    (Path(os.fsdecode(os.fsencode(src) + b"/bad\xff.png"))).write_bytes(b"not an image")
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "import", "--json", str(src)], catch_exceptions=False)
    assert result.exit_code == 1, result.output  # one bad file: reported, the rest imported
    data = json.loads(result.output)
    assert data["imported"] == 2
    assert [Path(e["path"]).name for e in data["errors"]] == ["bad\ufffd.png"]
    text = CliRunner().invoke(cli, ["-w", str(ws.root), "import", str(src)], catch_exceptions=False)
    assert "duplicates 2" in text.output and "bad\ufffd.png" in text.output


def test_symlink_loops_are_reported_and_the_rest_imports(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_image(src / "good.jpg", seed=1)
    make_image(src / "sub" / "deeper.png", fmt="PNG", seed=2)
    (src / "a.jpg").symlink_to("b.jpg")
    (src / "b.jpg").symlink_to("a.jpg")
    (src / "loop1").symlink_to("loop2")  # a folder-looking loop
    (src / "loop2").symlink_to("loop1")
    (src / "sub" / "up").symlink_to("..")  # a link back up the tree
    (src / "dangling.jpg").symlink_to("missing.jpg")
    (src / "alias.jpg").symlink_to("good.jpg")  # a link to a file: followed, imported once
    report = import_paths(ws, [src])
    assert report.imported == 2 and report.duplicates == 0
    reasons = {Path(e["path"]).name: e["reason"] for e in report.errors}
    assert reasons == {"a.jpg": "symbolic link loop", "b.jpg": "symbolic link loop", "loop1": "symbolic link loop",
                       "loop2": "symbolic link loop", "dangling.jpg": "broken symbolic link (points to missing.jpg)"}
    assert any(Path(s["path"]).name == "up" and "not followed" in s["reason"] for s in report.skipped)
    assert [r[0] for r in ws.db.execute("SELECT state FROM batches")] == ["done"]
    explicit = import_paths(ws, [src / "a.jpg"])
    assert explicit.errors == [{"path": str(src / "a.jpg"), "reason": "symbolic link loop"}]


def test_a_fifo_is_not_a_regular_file(ws: Workspace, tmp_path: Path) -> None:
    make_image(tmp_path / "ok.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it would block: it must never be opened
    report = import_paths(ws, [tmp_path])
    assert report.imported == 1
    assert report.errors == [{"path": str(tmp_path / "pipe.jpg"), "reason": "not a regular file (a FIFO/named pipe)"}]


def test_an_unreadable_file_is_permission_denied(ws: Workspace, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root in CI, where chmod 0 does not stop reading: the denial is injected at ``open`` instead."""
    import builtins

    import cvops.common.imageio
    from cvops.common.imageio import ProbeError, probe

    make_image(tmp_path / "ok.jpg", seed=1)
    secret = make_image(tmp_path / "secret.jpg", seed=2)

    def guarded_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(file, (str, Path)) and Path(file).name == "secret.jpg":
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(cvops.common.imageio, "open", guarded_open, raising=False)
    report = import_paths(ws, [tmp_path])
    assert report.imported == 1
    assert report.errors == [{"path": str(secret), "reason": "permission denied"}]
    with pytest.raises(ProbeError, match="^permission denied$"):
        probe(secret)  # the path-based probe that dataset imports use
    if os.geteuid() != 0:  # and for real where permissions apply
        monkeypatch.undo()
        secret.chmod(0)
        try:
            assert import_paths(ws, [secret]).errors[0]["reason"] == "permission denied"
        finally:
            secret.chmod(0o644)


def test_heartbeat_and_staged_files_are_gone_after_an_import(ws: Workspace, tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg")
    report = import_paths(ws, [tmp_path / "a.jpg"])
    assert list((ws.root / "locks").glob("batch-*")) == [] and list(ws.store.tmp.iterdir()) == []
    assert report.imported == 1


def test_a_full_disk_is_reported_per_file_and_the_batch_ends(ws: Workspace, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from cvops.catalog.store import ImageStore

    make_image(tmp_path / "a.jpg", seed=1)
    make_image(tmp_path / "b.jpg", seed=2)
    real_stage = ImageStore.stage

    def stage(self, source, ext, fsync=False):  # type: ignore[no-untyped-def]
        if hashlib.sha256(source).hexdigest() == hashlib.sha256((tmp_path / "b.jpg").read_bytes()).hexdigest():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_stage(self, source, ext, fsync)

    monkeypatch.setattr(ImageStore, "stage", stage)
    report = import_paths(ws, [tmp_path])
    assert report.imported == 1
    assert report.errors == [{"path": str(tmp_path / "b.jpg"),
                              "reason": "cannot store the file in the workspace: no space left on device"}]
    assert [r[0] for r in ws.db.execute("SELECT state FROM batches")] == ["done"]
    assert list(ws.store.tmp.iterdir()) == [] and doctor(ws).ok


@pytest.mark.parametrize(("cpu_max", "expected"),
                         [("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", None)])
def test_import_workers_follow_a_cgroup_cpu_quota(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpu_max: str,
                                                  expected: Optional[int]) -> None:
    """A container limited to 1.5 CPUs on a 64-core host gets 2 import threads, not 8 (os.cpu_count() says 64)."""
    import cvops.common.jobs
    from cvops.data.ingest import default_workers

    (tmp_path / "cpu.max").write_text(cpu_max)
    monkeypatch.setattr(cvops.common.jobs, "Path", lambda _: tmp_path / "cpu.max")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert cvops.common.jobs.available_cpus() == (expected or 64)
    assert default_workers() == max(2, min(8, expected or 64))


@pytest.mark.parametrize(("raw", "unchanged", "shown"), [
    (b"/data/caf\xe9.jpg", False, "/data/caf\ufffd.jpg"),
    (b"/d/%41%u0041\xff%.png", False, "/d/%41%u0041\ufffd%.png"),
    ("\ufffe/x.jpg".encode(), False, "\ufffe/x.jpg"),  # starts with the marker: escaped too
    ("/ok/日本.jpg".encode(), True, "/ok/日本.jpg"),
    (b"/plain/a.jpg", True, "/plain/a.jpg"),
])
def test_path_text_round_trips_every_name(raw: bytes, unchanged: bool, shown: str) -> None:
    from cvops.common.fsnames import display, from_text, to_text

    path = os.fsdecode(raw)
    text = to_text(path)
    text.encode("utf-8")  # storable as SQLite text and JSON
    assert os.fsencode(from_text(text)) == raw
    assert (text == path) is unchanged  # valid names are stored as they are: existing catalogs read the same
    assert display(path) == shown
