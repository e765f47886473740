"""``cvops monitor pull SOURCE``: copy what the devices saw into the workspace, incrementally and checksummed.

SOURCE is a folder or ``ssh://user@host[:port]/path`` (``/~/path`` under the remote home); the field folder is SOURCE
itself when it holds device folders (``<device>/field-*.jsonl``, ``<device>/captures/``), else ``SOURCE/field`` (a
deploy target); see :mod:`cvops.monitoring.device_files`, which lists the files (their size, modification time and
sha256) and sends them: in this process for a folder, run by the device's Python over one ``ssh`` call each for an
SSH SOURCE (the deploy code's ``ssh``: batch mode, host keys verified, :func:`cvops.deploy.deploy.ssh_base`).

Every path the device names is checked (no absolute path, no ``..``, only a device's log files and images under its
``captures/``) before anything is written. The manifest ``field_files`` (migration 17) holds each file pulled:

* a **log file** new or changed since the last pull is copied (temp file, fsync, ``os.replace``) to
  ``WORKSPACE/monitoring/devices/<device>/logs/<name>`` and its sha256 checked against the device's; the records of
  its new lines are read, malformed or truncated ones reported (file, line, why) and skipped.
* a **captured image** not pulled yet is copied to a staging folder, checked, and imported through
  :func:`cvops.data.ingest.import_paths`: one batch per device per pull, status ``new``. Its manifest row names the
  device, the capture time (its record's ``time``, else the file's modification time) and the image; an image whose
  content is already in the catalog is not imported twice (nor copied, when its checksum is known).

A file unchanged since the last pull (same size and modification time, or same sha256) is not copied again, so a
second pull copies and imports nothing. A cancel or a kill leaves whole files and whole manifest rows: the next pull
copies what is missing and imports each image once (ingest recognises content already imported).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union

from cvops.catalog.db import transaction
from cvops.catalog.locks import workspace_lock
from cvops.catalog.store import fsync_dir
from cvops.common.errors import CvopsError, ValidationError
from cvops.common.jobs import CancelToken, Progress, no_progress
from cvops.deploy.deploy import CONNECT_TIMEOUT_S, SshTarget, ssh_base, ssh_error
from cvops.monitoring import device_files
from cvops.monitoring.field import device_dir, device_folder_name, read_log

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

MAX_PROBLEMS = 200  # problems listed in the report; ``problems_total`` counts them all
LIST_TIMEOUT_S = 600
BLOCK = 1 << 20
LOCK_NAME = "monitor-pull.lock"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PullError(CvopsError):
    """The SOURCE could not be reached or read (connection, host key, authentication, no Python on the device)."""

    code = "pull"


@dataclass
class PullReport:
    """What one pull did. ``problems`` lists up to :data:`MAX_PROBLEMS` messages (``problems_total`` counts all)."""

    source: str
    field_dir: Optional[str] = None
    devices: list[str] = field(default_factory=list)
    files_copied: int = 0
    files_unchanged: int = 0
    bytes: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)
    problems_total: int = 0
    images_imported: int = 0
    images_already_present: int = 0
    batches: list[int] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was reported and the pull was not cancelled."""
        return not self.problems_total and not self.cancelled

    def problem(self, message: str) -> None:
        """Report one problem."""
        self.problems_total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"source": self.source, "field_dir": self.field_dir, "devices": self.devices,
                "files_copied": self.files_copied, "files_unchanged": self.files_unchanged, "bytes": self.bytes,
                "records": self.records, "problems": self.problems, "problems_total": self.problems_total,
                "images_imported": self.images_imported, "images_already_present": self.images_already_present,
                "batches": self.batches, "cancelled": self.cancelled, "ok": self.ok,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class _File:
    """One file the device listed: ``rel`` relative to the field folder (``device/…``)."""

    device: str
    rel: str
    kind: str
    source_size: int
    source_mtime_ns: int
    size: Optional[int]
    sha256: Optional[str]

    @property
    def name(self) -> str:
        """The path relative to the device folder (``field-….jsonl``, ``captures/…``)."""
        return self.rel.split("/", 1)[1]


# -- sources -----------------------------------------------------------------------------------------------------------
class _Folder:
    """A field folder on this machine."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()
        self.display = str(self.path)

    def listing(self, known: dict[str, list[int]]) -> dict[str, Any]:
        return device_files.listing(str(self.path), known)

    def fetch(self, top: str, files: Sequence[tuple[str, int]]) -> Iterator[tuple[str, IO[bytes]]]:
        real = os.path.realpath(top)
        for rel, _ in files:
            path = os.path.join(real, rel)
            if not os.path.realpath(path).startswith(real + os.sep):
                continue
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue
            with os.fdopen(fd, "rb") as fh:
                yield rel, fh


class _Ssh:
    """A field folder on a device reached over SSH; the device's Python runs :mod:`device_files`."""

    def __init__(self, url: str, identity: Optional[Path], known_hosts: Optional[Path], accept_new: bool,
                 ssh_options: Sequence[str], remote_python: str) -> None:
        self.target = SshTarget.parse(url)
        self.display = url.rstrip("/")
        self.base = ssh_base(self.target, identity, accept_new, known_hosts, ssh_options)
        self.command = f"{shlex.quote(remote_python)} -"
        self.python = remote_python

    def _script(self, args: dict[str, Any]) -> bytes:
        text = Path(device_files.__file__).read_text(encoding="utf-8")
        return (text + f"\n_remote({json.dumps(args)!r})\n").encode("utf-8")

    def _failed(self, rc: int, stderr: str) -> CvopsError:
        if rc == 255:
            err = ssh_error(self.target, stderr, rc, action="pull")
            return PullError(str(err))
        if rc == 127:
            return PullError(f"{self.display}: the device has no {self.python} (give the Python there with "
                             f"--remote-python): {stderr.strip()[-300:]}")
        return PullError(f"{self.display}: {self.python} on the device failed (exit {rc}): "
                         f"{stderr.strip()[-1500:] or 'no message'}")

    def listing(self, known: dict[str, list[int]]) -> dict[str, Any]:
        script = self._script({"op": "list", "root": self.target.path, "known": known})
        try:
            done = subprocess.run(self.base + ["--", self.command], input=script, capture_output=True,
                                  timeout=LIST_TIMEOUT_S + CONNECT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise PullError(f"{self.display}: listing timed out after {LIST_TIMEOUT_S} s") from exc
        except FileNotFoundError as exc:
            raise PullError("the OpenSSH client (ssh) is not installed") from exc
        if done.returncode != 0:
            raise self._failed(done.returncode, done.stderr.decode(errors="replace"))
        try:
            found = json.loads(done.stdout)
        except ValueError as exc:
            raise PullError(f"{self.display}: the device's listing is not JSON: {exc}") from exc
        if not isinstance(found, dict):
            raise PullError(f"{self.display}: the device's listing is not a JSON object")
        return found

    def fetch(self, top: str, files: Sequence[tuple[str, int]]) -> Iterator[tuple[str, IO[bytes]]]:
        import tarfile

        wanted = dict(files)
        script = self._script({"op": "send", "root": top, "files": [list(f) for f in files]})
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(self.base + ["--", self.command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=errors)
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(script)
                proc.stdin.close()
                try:
                    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                        for member in tar:
                            if not member.isreg() or wanted.get(member.name) != member.size:
                                continue  # not a file asked for: never written anywhere
                            reader = tar.extractfile(member)
                            if reader is not None:
                                yield member.name, reader
                except tarfile.ReadError as exc:
                    if proc.wait() == 0:
                        raise PullError(f"{self.display}: the device sent a broken archive: {exc}") from exc
                if proc.wait() != 0:
                    errors.seek(0)
                    raise self._failed(proc.returncode, errors.read().decode(errors="replace"))
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()


def _source(source: str, identity: Optional[Path], known_hosts: Optional[Path], accept_new: bool,
            ssh_options: Sequence[str], remote_python: str) -> Union[_Folder, _Ssh]:
    if source.startswith("ssh://"):
        return _Ssh(source, identity, known_hosts, accept_new, ssh_options, remote_python)
    return _Folder(Path(source))


# -- checking what the device says ------------------------------------------------------------------------------------
def _checked(device: str, entry: Any) -> Optional[_File]:
    """The listed entry as a :class:`_File`, or None when it is not one the device may name (see the module docs)."""
    if not isinstance(entry, list) or len(entry) != 6:
        return None
    rel, kind, source_size, mtime_ns, size, sha = entry
    if not (isinstance(rel, str) and isinstance(source_size, int) and isinstance(mtime_ns, int)
            and source_size >= 0 and (size is None) == (sha is None)
            and (size is None or (isinstance(size, int) and 0 <= size <= source_size
                                  and isinstance(sha, str) and _SHA256.match(sha)))):
        return None
    parts = rel.split("/")
    if parts[0] != device or "\\" in rel or "\0" in rel or any(p in ("", ".", "..") or p.startswith(".")
                                                               for p in parts):
        return None
    if kind == "log":
        ok = len(parts) == 2 and bool(device_files.LOG_NAME.match(parts[1]))
    elif kind == "capture":
        ok = len(parts) >= 3 and parts[1] == device_files.CAPTURES and \
            parts[-1].lower().endswith(device_files.IMAGE_EXTENSIONS)
    else:
        ok = False
    return _File(device, rel, kind, source_size, mtime_ns, size, sha) if ok else None


# -- copying -----------------------------------------------------------------------------------------------------------
def _receive(reader: IO[bytes], size: int, dest: Path, durable: bool) -> tuple[str, int]:
    """Write the first ``size`` bytes of ``reader`` to the new file ``dest`` (``durable``: fsync it); their sha256
    and count."""
    digest = hashlib.sha256()
    done = 0
    with dest.open("wb") as out:
        while done < size:
            block = reader.read(min(BLOCK, size - done))
            if not block:
                break
            digest.update(block)
            out.write(block)
            done += len(block)
        if durable:
            out.flush()
            os.fsync(out.fileno())
    return digest.hexdigest(), done


class _Pull:
    """One pull's state: the workspace, the source, the report and the progress by bytes."""

    def __init__(self, ws: "Workspace", src: Union[_Folder, _Ssh], report: PullReport, progress: Progress,
                 cancel: CancelToken) -> None:
        self.ws, self.src, self.report, self.progress, self.cancel = ws, src, report, progress, cancel
        self.top = ""
        self.where = src.display
        self.total = 1
        self.done = 0
        self.times: dict[str, float] = {}  # capture (device/relpath) -> the time of the record naming it

    def location(self, rel: str) -> str:
        """Where a file is on the device, for messages and ``images.original_path``."""
        return f"{self.where}/{rel}"

    @property
    def fraction(self) -> float:
        """The share of the bytes to copy copied so far (the import's progress is shown at the same place)."""
        return 0.02 + 0.96 * min(self.done / self.total, 1.0)

    def step(self, nbytes: int, message: str) -> None:
        self.done += nbytes
        self.progress(self.fraction, message)

    def save(self, conn: Any, f: _File, size: int, sha: str, image_id: Optional[int] = None,
             batch_id: Optional[int] = None, captured_at: Optional[float] = None) -> None:
        conn.execute(
            "INSERT INTO field_files (device, relpath, kind, size, sha256, source, source_size, source_mtime_ns, "
            "pulled_at, captured_at, image_id, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(device, relpath) DO UPDATE SET kind = excluded.kind, size = excluded.size, "
            "sha256 = excluded.sha256, source = excluded.source, source_size = excluded.source_size, "
            "source_mtime_ns = excluded.source_mtime_ns, pulled_at = excluded.pulled_at, "
            "captured_at = excluded.captured_at, image_id = excluded.image_id, batch_id = excluded.batch_id",
            [f.device, f.name, f.kind, size, sha, self.src.display, f.source_size, f.source_mtime_ns, time.time(),
             captured_at, image_id, batch_id])

    def fetch(self, files: list[_File]) -> Iterator[tuple[_File, IO[bytes]]]:
        """Each file with a reader of its bytes, while not cancelled; a file the device did not send is reported."""
        by_rel = {f.rel: f for f in files}
        sent: set[str] = set()
        stream = self.src.fetch(self.top, [(f.rel, f.size or 0) for f in files])
        try:
            for rel, reader in stream:
                if self.cancel.cancelled:
                    self.report.cancelled = True
                    return
                f = by_rel.get(rel)
                if f is None or rel in sent:
                    continue
                sent.add(rel)
                yield f, reader
        finally:
            stream.close()
        for f in files:
            if f.rel not in sent:
                self.report.problem(f"{self.location(f.rel)}: changed or removed on the device before it was "
                                    "copied; pulled again next time")

    def copy(self, f: _File, reader: IO[bytes], dest: Path, durable: bool) -> bool:
        """Copy into ``dest`` and check size and sha256 against the listing; False (reported) when they differ.
        ``durable`` for a file kept as it is (a log); a staged capture is made durable by the import."""
        try:
            sha, size = _receive(reader, f.size or 0, dest, durable)
        except OSError as exc:
            dest.unlink(missing_ok=True)
            self.report.problem(f"{self.location(f.rel)}: cannot copy to {dest.parent}: {exc.strerror or exc}")
            return False
        if (sha, size) != (f.sha256, f.size):
            dest.unlink(missing_ok=True)
            self.report.problem(f"{self.location(f.rel)}: changed on the device while it was copied (sha256 "
                                "differs from the listing); pulled again next time")
            return False
        self.report.bytes += size
        return True

    def log(self, f: _File, reader: IO[bytes]) -> None:
        """Copy a changed log file into the device's ``logs/``, count its new records, report its new problems;
        :attr:`times` gets the record time of each capture it names."""
        folder = device_dir(self.ws, f.device) / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f.name
        for stale in folder.glob(f".{f.name}.partial-*"):  # left by a killed pull
            stale.unlink(missing_ok=True)
        tmp = folder / f".{f.name}.partial-{secrets.token_hex(4)}"
        if not self.copy(f, reader, tmp, durable=True):
            return
        old_records, old_problems = read_log(dest) if dest.exists() else ([], [])
        os.replace(tmp, dest)
        fsync_dir(folder)
        with transaction(self.ws.db) as conn:
            self.save(conn, f, f.size or 0, f.sha256 or "")
        records, problems = read_log(dest)
        self.report.files_copied += 1
        self.report.records += max(len(records) - len(old_records), 0)
        seen = set(old_problems)
        for message in problems:
            if message not in seen:
                self.report.problem(message.replace(str(dest), self.location(f.rel), 1))
        for record in records:
            if isinstance(record.get("capture"), str):
                self.times[f"{f.device}/{record['capture']}"] = float(record["time"])

    def present(self, files: list[_File]) -> dict[str, int]:
        """The captures among ``files`` whose content is already in the catalog (nothing to copy): their image ids."""
        found = {}
        for f in files:
            if f.kind == "capture":
                row = self.ws.db.execute("SELECT id FROM images WHERE sha256 = ?", [f.sha256]).fetchone()
                if row is not None:
                    found[f.rel] = int(row[0])
        return found

    def record_present(self, files: list[_File], present: dict[str, int]) -> None:
        """Record the captures :meth:`present` found, with the capture times the logs just read give."""
        if not present:
            return
        with transaction(self.ws.db) as conn:
            for f in files:
                if f.rel in present:
                    self.save(conn, f, f.size or 0, f.sha256 or "", present[f.rel],
                              captured_at=self.times.get(f.rel, f.source_mtime_ns / 1e9))
        self.report.images_already_present += len(present)

    def transfer(self, files: list[_File]) -> None:
        """Copy ``files`` (in one stream from the device): the logs into place, the captures to a staging folder
        per device; then, unless cancelled, import each device's captures as one batch."""
        staged: dict[str, dict[str, _File]] = {}
        devices = {f.device for f in files}
        for device in devices:  # left by a killed pull
            shutil.rmtree(self.staging(device), ignore_errors=True)
        try:
            for f, reader in self.fetch(files):
                if f.kind == "log":
                    self.log(f, reader)
                else:
                    parent, name = f.name.rsplit("/", 1)
                    dest = self.staging(f.device) / parent / f"{f.device}_{name}"
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    if self.copy(f, reader, dest, durable=False):
                        staged.setdefault(f.device, {})[str(dest.resolve())] = f
                self.step(f.size or 0, f"copied {f.rel}")
            for device, paths in staged.items():
                if self.report.cancelled or self.cancel.cancelled:
                    self.report.cancelled = True
                    break
                self.ingest(device, paths)
        finally:
            for device in devices:
                shutil.rmtree(self.staging(device), ignore_errors=True)

    def staging(self, device: str) -> Path:
        """Where a device's captures wait for their import (removed before and after each pull)."""
        return self.ws.root / "tmp" / f"monitor-pull-{device}"

    def ingest(self, device: str, staged: dict[str, _File]) -> None:
        """Import the staged captures of a device as one batch; record each one's image in the manifest."""
        from cvops.data.ingest import import_paths

        def progress(fraction: float, message: str) -> None:
            self.progress(self.fraction, f"{device}: {message}")

        result = import_paths(self.ws, list(staged), progress=progress, cancel=self.cancel)
        self.report.cancelled = self.report.cancelled or result.cancelled
        new = set(result.image_ids)
        with transaction(self.ws.db) as conn:
            conn.execute("UPDATE batches SET sources = ? WHERE id = ?",
                         [json.dumps([self.location(device)]), result.batch_id])
            for path, f in staged.items():
                image_id = result.path_ids.get(path)
                if image_id is None:
                    continue
                self.save(conn, f, f.size or 0, f.sha256 or "", image_id, result.batch_id,
                          self.times.get(f.rel, f.source_mtime_ns / 1e9))
                if image_id in new:
                    conn.execute("UPDATE images SET original_path = ? WHERE id = ?", [self.location(f.rel), image_id])
                self.report.files_copied += 1
        for error in result.errors:
            f = staged.get(error["path"])
            self.report.problem(f"{self.location(f.rel) if f else error['path']}: {error['reason']}")
        self.report.images_imported += result.imported
        self.report.images_already_present += result.duplicates
        if result.batch_id is not None:
            self.report.batches.append(result.batch_id)


def _manifest(ws: "Workspace") -> dict[str, tuple[str, int, str, int, int]]:
    """The pulled files by ``device/relpath``: ``(kind, size, sha256, source_size, source_mtime_ns)``."""
    return {f"{r[0]}/{r[1]}": (r[2], int(r[3]), r[4], int(r[5]), int(r[6])) for r in ws.db.execute(
        "SELECT device, relpath, kind, size, sha256, source_size, source_mtime_ns FROM field_files")}


def _known(ws: "Workspace", manifest: dict[str, tuple[str, int, str, int, int]]) -> dict[str, list[int]]:
    """What the device need not hash again: files pulled whole whose copy is still here (see the module docs)."""
    known = {}
    for rel, (kind, size, _, source_size, mtime_ns) in manifest.items():
        device, name = rel.split("/", 1)
        if kind == "log" and (size != source_size or not (device_dir(ws, device) / "logs" / name).is_file()):
            continue  # the active log's cut-short last line, or a copy removed here: look again
        known[rel] = [source_size, mtime_ns]
    return known


def _plan(ws: "Workspace", found: dict[str, Any], manifest: dict[str, tuple[str, int, str, int, int]],
          report: PullReport, where: str) -> list[_File]:
    """The files of the listing ``found`` to copy, by device, logs first; the devices, the unchanged files and the
    entries refused go into ``report``."""
    files: list[_File] = []
    for device, entries in sorted((found.get("devices") or {}).items()):
        if not isinstance(device, str) or device_folder_name(device) != device or \
                not device_files.NAME.match(device) or not isinstance(entries, list):
            report.problem(f"{where}/{device}: not a device folder name, skipped")
            continue
        report.devices.append(device)
        todo: list[_File] = []
        for entry in entries:
            f = _checked(device, entry)
            if f is None:
                report.problem(f"{where}: unexpected entry from the device, skipped: {str(entry)[:200]}")
                continue
            pulled = manifest.get(f.rel)
            if f.sha256 is None or (pulled is not None and pulled[1:3] == (f.size, f.sha256) and
                                    (f.kind == "capture" or (device_dir(ws, device) / "logs" / f.name).is_file())):
                report.files_unchanged += 1
                if f.sha256 is not None:  # touched, same content: remember its new size and time
                    with transaction(ws.db) as conn:
                        conn.execute("UPDATE field_files SET source_size = ?, source_mtime_ns = ? "
                                     "WHERE device = ? AND relpath = ?",
                                     [f.source_size, f.source_mtime_ns, device, f.name])
                continue
            todo.append(f)
        files += sorted(todo, key=lambda f: f.kind != "log")
    return files


def pull(ws: "Workspace", source: Union[str, Path], *, identity: Optional[Union[str, Path]] = None,
         known_hosts: Optional[Union[str, Path]] = None, accept_new_host_key: bool = False,
         ssh_options: Sequence[str] = (), remote_python: str = "python3", progress: Optional[Progress] = None,
         cancel: Optional[CancelToken] = None) -> PullReport:
    """Pull the field logs and captured images of every device under ``source`` (a folder or ``ssh://…``) into the
    workspace; see the module docs. Raises :class:`ValidationError` when ``source`` holds no field folder and
    :class:`PullError` when it cannot be reached; a file that cannot be copied or imported is reported and the
    others go on."""
    started = time.perf_counter()
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    text = str(source)
    src = _source(text, Path(identity) if identity else None, Path(known_hosts) if known_hosts else None,
                  accept_new_host_key, ssh_options, remote_python)
    report = PullReport(source=text)
    with workspace_lock(ws.root, exclusive=True, name=LOCK_NAME,
                        on_wait=lambda: progress(0.0, "waiting for another pull to finish")):
        progress(0.0, f"listing {src.display}")
        manifest = _manifest(ws)
        found = src.listing(_known(ws, manifest))
        if not found.get("exists"):
            raise ValidationError(f"{src.display}: no such folder")
        if found.get("field") not in ("", device_files.FIELD):
            hint = " (it is a device folder itself: give the folder above it)" if found.get("device") else ""
            raise ValidationError(f"{src.display}: no field log found: expected device folders "
                                  "(<device>/field-*.jsonl or <device>/captures/) in it or in its field/ folder"
                                  + hint)
        job = _Pull(ws, src, report, progress, cancel)
        job.top = os.path.join(str(found.get("root", "")), found["field"]) if found["field"] else str(found["root"])
        job.where = src.display + (f"/{found['field']}" if found["field"] else "")
        report.field_dir = job.where
        for message in found.get("problems") or []:
            report.problem(f"{job.where}/{message}")
        files = _plan(ws, found, manifest, report, job.where)
        present = job.present(files)
        todo = [f for f in files if f.rel not in present]
        job.total = max(sum(f.size or 0 for f in todo), 1)
        if cancel.cancelled:
            report.cancelled = True
        else:
            if todo:
                job.transfer(todo)
            job.record_present(files, present)
    report.seconds = time.perf_counter() - started
    progress(1.0, "cancelled" if report.cancelled else "done")
    return report


def field_images(ws: "Workspace", device: Optional[str] = None) -> list[dict[str, Any]]:
    """The catalog images pulled from devices (of ``device``, or all), oldest capture first: ``image_id``,
    ``device``, ``capture`` (its path in the device folder), ``captured_at``, ``batch_id``."""
    sql = ("SELECT image_id, device, relpath, captured_at, batch_id FROM field_files "
           "WHERE kind = 'capture' AND image_id IS NOT NULL")
    params: list[Any] = []
    if device is not None:
        sql += " AND device = ?"
        params.append(device)
    rows = ws.db.execute(sql + " ORDER BY captured_at, id", params).fetchall()
    return [{"image_id": r[0], "device": r[1], "capture": r[2], "captured_at": r[3], "batch_id": r[4]} for r in rows]
