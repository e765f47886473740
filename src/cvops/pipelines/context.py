"""What the pipeline steps share: the context a step runs in (what earlier steps produced), its last successful
record, the content hashes of inputs (canonical JSON, a folder's listing, the workspace's live data) and the
failure a step's result raises."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from cvops.pipelines.spec import Pipeline

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


class StepFailed(Exception):
    """A step ran and its result stops the pipeline (health gate, verification, deployment); ``outputs`` say why.
    Recorded as the step's failure, never raised to the caller."""

    def __init__(self, message: str, outputs: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.outputs = outputs or {}


def hash_inputs(data: Any) -> str:
    """The content hash of a step's inputs (canonical JSON)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def resolve(pipeline: Pipeline, folder: str) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else pipeline.path.parent / path


def data_fingerprint(ws: "Workspace") -> str:
    """A content hash of the workspace's live data: images (sha256, status), their annotations and the classes."""
    digest = hashlib.sha256()
    q = ws.db.execute
    for sql in ("SELECT id, sha256, status FROM images WHERE trashed_at IS NULL ORDER BY id",
                "SELECT a.id, a.image_id, a.class_id, a.kind, a.x, a.y, a.w, a.h, a.points FROM annotations a "
                "JOIN images i ON i.id = a.image_id WHERE i.trashed_at IS NULL ORDER BY a.id",
                "SELECT id, name FROM classes ORDER BY id"):
        for row in q(sql):
            digest.update(repr(tuple(row)).encode())
        digest.update(b"|")
    return digest.hexdigest()


def folder_listing(root: Path) -> list[tuple[str, int, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    return out


@dataclass
class LastSuccess:
    """The step's last successful record in a run of the same file (or its last attempt, with its ``state``)."""

    input_hash: str
    outputs: dict[str, Any]
    run_id: int
    log: str
    inputs: dict[str, Any]
    state: str = "done"


class StepContext:
    """What the steps so far produced, handed to the next steps."""

    def __init__(self, ws: "Workspace", pipeline: Pipeline, run_id: int) -> None:
        self.ws, self.pipeline, self.run_id = ws, pipeline, run_id
        self.values: dict[str, Any] = {}
        self.last: Optional[LastSuccess] = None  # the current step's last successful record
        self.attempt: Optional[LastSuccess] = None  # the current step's last record, whatever its state
        self.record: Callable[[dict[str, Any]], None] = lambda outputs: None  # save the running step's outputs

    def get(self, key: str) -> Any:
        return self.values.get(key)


# -- the steps: inputs (hashed), run (outputs; "context" is what later steps see), still valid (outputs exist) ------
