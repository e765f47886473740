"""Frame extraction from video files (OpenCV): every Nth frame becomes an image tied to its video and timestamp."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from cvops.catalog.db import transaction
from cvops.common.fsnames import display, to_text
from cvops.common.jobs import CancelToken
from cvops.catalog.store import hash_file
from cvops.data.images import insert_image

if TYPE_CHECKING:
    from cvops.data.ingest import ImportReport
    from cvops.data.workspace import Workspace

JPEG_QUALITY = 95
FRAME_CHUNK = 32


def _video_id(ws: "Workspace", path: Path, sha: str, cap: "cv2.VideoCapture", batch_id: int) -> int:
    with transaction(ws.db) as conn:
        conn.execute(
            "INSERT INTO videos (sha256, path, fps, frame_count, width, height, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(sha256) DO NOTHING",
            [sha, to_text(path), cap.get(cv2.CAP_PROP_FPS) or None, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None,
             int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), batch_id],
        )
        return int(conn.execute("SELECT id FROM videos WHERE sha256 = ?", [sha]).fetchone()[0])


def import_video(ws: "Workspace", path: Path, stride: int, report: "ImportReport", cancel: CancelToken) -> None:
    """Extract every ``stride``-th frame of ``path`` as a JPEG image in the store, recording the source video,
    frame index and timestamp. Problems are added to ``report.errors``."""
    try:
        sha, _ = hash_file(path)
    except OSError as exc:
        report.errors.append({"path": display(path), "reason": f"cannot read file: {exc.strerror or exc}"})
        return
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            report.errors.append({"path": display(path),
                                  "reason": "cannot decode video (unsupported codec or corrupt)"})
            return
        video_id = _video_id(ws, path, sha, cap, report.batch_id or 0)
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        pending: list[dict] = []
        index = -1
        extracted = 0
        while not cancel.cancelled:
            if not cap.grab():
                break
            index += 1
            if index % stride:
                continue
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                report.errors.append({"path": display(path), "reason": f"frame {index} could not be decoded"})
                continue
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                report.errors.append({"path": display(path), "reason": f"frame {index} could not be encoded"})
                continue
            data = buf.tobytes()
            frame_sha, _ = ws.store.add_bytes(data, ".jpg")
            msec = cap.get(cv2.CAP_PROP_POS_MSEC)
            timestamp = index * 1000.0 / fps if fps > 0 else (msec if msec >= 0 else None)
            pending.append({
                "sha256": frame_sha, "file_name": f"{display(path.stem)}_f{index:06d}.jpg",
                "original_path": to_text(path),
                "format": "JPEG", "width": frame.shape[1], "height": frame.shape[0], "byte_size": len(data),
                "video_id": video_id, "frame_index": index, "timestamp_ms": timestamp,
            })
            extracted += 1
            if len(pending) >= FRAME_CHUNK:
                _commit_frames(ws, pending, report)
        _commit_frames(ws, pending, report)
        if extracted == 0 and not cancel.cancelled:
            report.errors.append({"path": display(path), "reason": "no frame could be read from the video"})
        else:
            report.videos += 1
        if cancel.cancelled:
            report.cancelled = True
    finally:
        cap.release()


def _commit_frames(ws: "Workspace", pending: list[dict], report: "ImportReport") -> None:
    if not pending:
        return
    now = time.time()
    with transaction(ws.db) as conn:
        for row in pending:
            image_id = insert_image(conn, {**row, "in_place": 0, "batch_id": report.batch_id, "created_at": now,
                                            "updated_at": now})
            if image_id is None:
                report.duplicates += 1
            else:
                report.imported += 1
                report.frames += 1
                report.image_ids.append(image_id)
    pending.clear()
