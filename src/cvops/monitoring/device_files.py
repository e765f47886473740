"""A device's field folder, listed and sent: what :mod:`cvops.monitoring.pull` runs in this process for a folder
SOURCE and, sent as a script to the device's Python over SSH, on the device for an ``ssh://`` SOURCE.

Standard library only (Python 3.7 or newer), nothing imported from ``cvops``: this file's text is the script.

The field folder is SOURCE itself when one of its subfolders is a *device folder* (it holds ``field-*.jsonl`` log files
or a ``captures/`` folder), else ``SOURCE/field`` when that is a field folder (a deploy target: ``run.py --field-log
TARGET/field``). In a device folder the log files and, under ``captures/``, the image files are listed with their
size, modification time and sha256; a symbolic link, a hidden name, a name that is not UTF-8 or not one of these is
left out (symbolic links are reported). The newest log file of a device is the one being written: it is listed up to
its last complete line, so a line cut short by the writer is pulled with the next pull.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import tarfile

LOG_NAME = re.compile(r"^field-[A-Za-z0-9._-]+\.jsonl$")
NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")
CAPTURES = "captures"
FIELD = "field"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
BLOCK = 1 << 20


def is_device_folder(path: str) -> bool:
    """True when ``path`` holds a field log file or a ``captures/`` folder."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(LOG_NAME.match(n) for n in names) or os.path.isdir(os.path.join(path, CAPTURES))


def field_dir(root: str) -> "str | None":
    """The field folder of ``root`` relative to it (``""``: root itself, ``"field"``), or None when there is none."""
    for rel in ("", FIELD):
        folder = os.path.join(root, rel) if rel else root
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in entries:
            path = os.path.join(folder, name)
            if NAME.match(name) and not os.path.islink(path) and os.path.isdir(path) and is_device_folder(path):
                return rel
    return None


def _digest(path: str, size: int, complete_lines: bool) -> "tuple[str, int]":
    """The sha256 of the file's first ``size`` bytes and that size; with ``complete_lines``, of its first bytes up to
    and including the last end of line among them."""
    whole = hashlib.sha256()
    lines = hashlib.sha256()
    lines_size = 0
    pending = []  # bytes read after the last end of line
    done = 0
    with open(path, "rb") as fh:
        while done < size:
            block = fh.read(min(BLOCK, size - done))
            if not block:
                raise OSError("file shrank while it was read")
            done += len(block)
            whole.update(block)
            if complete_lines:
                cut = block.rfind(b"\n") + 1
                if cut:
                    for part in pending:
                        lines.update(part)
                    lines.update(block[:cut])
                    lines_size = done - len(block) + cut
                    pending = [block[cut:]]
                else:
                    pending.append(block)
    return (lines.hexdigest(), lines_size) if complete_lines else (whole.hexdigest(), size)


def _entry(root: str, rel: str, kind: str, known: dict, complete_lines: bool, problems: list) -> "list | None":
    """``[relpath, kind, file size, mtime_ns, size, sha256]`` of one file; size and sha256 None when its file size
    and modification time are those in ``known`` (unchanged since the last pull)."""
    path = os.path.join(root, rel)
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            problems.append("%s: symbolic link, not followed" % rel)
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        if known.get(rel) == [st.st_size, st.st_mtime_ns]:
            return [rel, kind, st.st_size, st.st_mtime_ns, None, None]
        sha, size = _digest(path, st.st_size, complete_lines)
    except OSError as exc:
        problems.append("%s: cannot read: %s" % (rel, exc.strerror or exc))
        return None
    return [rel, kind, st.st_size, st.st_mtime_ns, size, sha]


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def listing(root: str, known: dict) -> dict:
    """The field folder under ``root`` (see the module docs): ``{"root", "exists", "device" (root is a device
    folder), "field", "devices": {device: [entry, ...]}, "problems"}``, paths relative to the field folder
    (``device/field-….jsonl``, ``device/captures/…``); ``known`` maps such a path to the ``[file size, mtime_ns]``
    it had when last pulled."""
    root = os.path.abspath(os.path.expanduser(root))
    rel = field_dir(root)
    out = {"root": root, "exists": os.path.isdir(root), "device": is_device_folder(root), "field": rel,
           "devices": {}, "problems": []}
    if rel is None:
        return out
    top = os.path.join(root, rel) if rel else root
    problems = out["problems"]
    for device in sorted(os.listdir(top)):
        folder = os.path.join(top, device)
        if device.startswith(".") or not os.path.isdir(folder):
            continue
        if os.path.islink(folder):
            problems.append("%s: symbolic link, not followed" % device)
            continue
        if not NAME.match(device) or not is_device_folder(folder):
            continue
        entries = []
        logs = sorted(n for n in os.listdir(folder) if LOG_NAME.match(n))
        for name in logs:
            entry = _entry(top, device + "/" + name, "log", known, name == logs[-1], problems)
            if entry:
                entries.append(entry)
        captures = os.path.join(folder, CAPTURES)
        if os.path.isdir(captures) and not os.path.islink(captures):
            for dirpath, dirnames, filenames in os.walk(captures):
                for name in list(dirnames):
                    if name.startswith(".") or not _utf8(name) or os.path.islink(os.path.join(dirpath, name)):
                        if os.path.islink(os.path.join(dirpath, name)):
                            problems.append("%s: symbolic link, not followed"
                                            % os.path.relpath(os.path.join(dirpath, name), top))
                        dirnames.remove(name)
                dirnames.sort()
                for name in sorted(filenames):
                    if name.startswith(".") or not _utf8(name) or not name.lower().endswith(IMAGE_EXTENSIONS):
                        continue
                    relpath = os.path.relpath(os.path.join(dirpath, name), top).replace(os.sep, "/")
                    entry = _entry(top, relpath, "capture", known, False, problems)
                    if entry:
                        entries.append(entry)
        out["devices"][device] = entries
    return out


def send(root: str, files: list, stream) -> None:
    """Write a tar archive of ``files`` (``[relpath, size]``: the first ``size`` bytes of each file under the field
    folder ``root``) to the binary ``stream``; a file that is gone, shorter or no longer a plain file inside
    ``root`` is left out (the receiver reports it)."""
    top = os.path.realpath(root)
    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for relpath, size in files:
            path = os.path.join(top, relpath)
            if os.path.isabs(relpath) or ".." in relpath.split("/") or \
                    not os.path.realpath(path).startswith(top + os.sep):
                continue
            try:
                fh = open(path, "rb")
            except OSError:
                continue
            with fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode) or os.path.islink(path) or st.st_size < size:
                    continue
                info = tarfile.TarInfo(relpath)
                info.size, info.mtime, info.mode = size, int(st.st_mtime), 0o644
                tar.addfile(info, fh)


def _remote(text: str) -> None:
    """The script's entry point on the device: ``{"op": "list", "root", "known"}`` prints the listing as JSON,
    ``{"op": "send", "root", "files"}`` writes the tar archive to stdout."""
    args = json.loads(text)
    if args["op"] == "list":
        sys.stdout.write(json.dumps(listing(args["root"], args["known"])))
    else:
        send(args["root"], args["files"], sys.stdout.buffer)
        sys.stdout.buffer.flush()
