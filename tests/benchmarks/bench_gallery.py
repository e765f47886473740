"""Gallery speed on a large catalog: first paint and scroll frames of the Images page, against a bare QListView.

Data: a workspace holding ``--n`` (default 1,000,000) synthetic image rows inserted with ``executemany`` (random
review statuses, 0.3 x n boxes on random images; untimed). Every row is an in-place image whose file is the same
1920x1080 JPEG, so thumbnails are made on demand while the page is measured, as with a cold thumbnail cache: tiles
show the placeholder until theirs arrives.

Measured in one process (Qt offscreen, 1600x1000 widgets) on a workspace opened beforehand, ``--repeats`` times
(median), the page and the baselines taking turns:

* first paint: from creating the widgets to the end of the first paint of the viewport that shows rows.
  Page: a host widget with an ``ImagesPage``, ``set_workspace``, ``show``; the ids load on the page's worker thread
  (the first 2,000 first, shown while the whole list loads; ``page_all_rows_s``: until every row is there).
  Baseline, "a bare QListView over the same rows": ``QListView`` in ``IconMode`` with uniform item sizes and the
  page's grid size, over a minimal ``QAbstractListModel`` (Python ``rowCount`` and ``data``) of the file names,
  which are loaded with one SELECT inside the timing. Target: page <= 1.3 x baseline.
  For information, a floor: the same bare view over a ``QStringListModel`` of the same names (row count in C++).
* longest GUI stall while the page's first paint is awaited: the longest gap between the ticks of a 5 ms timer (the
  layout of all rows and the first paint are in it). Information.
* scroll frames: ``--steps`` (default 200) moves of the page's scroll bar (a page down, every 10th a jump to a
  random position), each timed from ``setValue`` to the end of a synchronous viewport repaint, after the page's
  background queries ended; 10 ms of event processing (thumbnail arrivals) between steps. Thumbnails are mostly
  placeholders, as they would be at that scrolling speed. Target: p99 <= 16 ms.
* filter change: from choosing status "done" to the end of the first paint showing those rows. Information.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import (
    QAbstractListModel, QEvent, QEventLoop, QModelIndex, QObject, QSize, QStringListModel, Qt, QTimer,
)
from PySide6.QtWidgets import QApplication, QListView, QVBoxLayout, QWidget

from cvops.catalog.db import transaction
from cvops.catalog.statuses import STATUSES
from cvops.data.images import ImageFilter
from cvops.catalog.settings import Settings
from cvops.data.workspace import CATALOG_NAME, Workspace
from cvops_app.context import AppContext
from cvops_app.pages.images import ImagesPage

from _common import MB, emit, encode_jpeg, environment, log, percentile, synthetic_photo, temp_root

SIZE = QSize(1600, 1000)
CLASSES = ("car", "person", "bicycle")
TARGET_RATIO = 1.3
TARGET_FRAME_MS = 16.0
TIMEOUT_S = 120.0


def image_rows(n: int, photo: Path, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Rows for the images INSERT: ids 1..n, in-place images that all point at ``photo``."""
    now = time.time()
    for i in range(1, n + 1):
        yield (i, hashlib.sha256(str(i).encode()).hexdigest(), f"cam{i % 20:02d}_{i:07d}.jpg", str(photo),
               1920, 1080, rng.randint(200_000, 600_000), rng.choice(STATUSES), now, now)


def build(root: Path, n_images: int, n_annotations: int, seed: int = 1) -> None:
    """Create a workspace in ``root`` with ``n_images`` rows and ``n_annotations`` boxes (one JPEG beside it)."""
    rng = random.Random(seed)
    photo = root.parent / "photo.jpg"
    photo.write_bytes(encode_jpeg(synthetic_photo(seed, 1920, 1080, 4.0), 90))
    ws = Workspace.create(root)
    try:
        class_ids = [ws.classes.add(name).id for name in CLASSES]
        conn = ws.db.conn
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB page cache for the bulk load only
        with transaction(ws.db):
            conn.executemany(
                "INSERT INTO images (id, sha256, file_name, original_path, in_place, format, width, height, "
                "byte_size, status, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 'JPEG', ?, ?, ?, ?, ?, ?)",
                image_rows(n_images, photo, rng))
            log(f"inserted {n_images} images")
            now = time.time()
            conn.executemany(
                "INSERT INTO annotations (image_id, class_id, kind, x, y, w, h, created_at, updated_at) "
                "VALUES (?, ?, 'box', ?, ?, 40, 30, ?, ?)",
                ((rng.randint(1, n_images), rng.choice(class_ids), rng.uniform(0, 1800), rng.uniform(0, 1000), now,
                  now) for _ in range(n_annotations)))
            log(f"inserted {n_annotations} annotations")
    finally:
        ws.close()


class Host(QWidget):
    """An ImagesPage on an application context, in a window of its own (the benchmark gives the page its workspace,
    so the time to the first paint includes that)."""

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws
        self.ctx = AppContext(Settings(), parent=self)
        self.ctx.message.connect(lambda text, msecs: log(text))
        self.jobs = self.ctx.jobs
        self.page = ImagesPage(self.ctx)
        QVBoxLayout(self).addWidget(self.page)


class BareModel(QAbstractListModel):
    """The baseline's model: file names in a Python list."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(self.names)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return self.names[index.row()] if role == Qt.ItemDataRole.DisplayRole else None


class PaintProbe(QObject):
    """Ends an event loop at the first paint of a viewport that happens while ``ready()`` is true; meanwhile a 5 ms
    timer measures how long the GUI thread was busy in one go (the longest gap between its ticks)."""

    def __init__(self, viewport: QWidget, ready: Callable[[], bool]) -> None:
        super().__init__()
        self.ready = ready
        self.loop = QEventLoop()
        self.ticks: list[float] = []
        viewport.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
        if event.type() == QEvent.Type.Paint and self.ready():
            self.loop.quit()  # exec() returns once this paint is done
        return False

    def wait(self, started: float) -> tuple[float, float]:
        """Run the event loop until the paint; return (seconds since ``started``, longest GUI gap in seconds)."""
        ticker = QTimer()
        ticker.setInterval(5)
        ticker.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        ticker.start()
        QTimer.singleShot(int(TIMEOUT_S * 1000), self.loop.quit)
        self.ticks.append(time.perf_counter())
        self.loop.exec()
        seconds = time.perf_counter() - started
        ticker.stop()
        if seconds >= TIMEOUT_S:
            raise TimeoutError("no paint with rows")
        self.ticks.append(time.perf_counter())
        return seconds, max(b - a for a, b in zip(self.ticks, self.ticks[1:]))


def settle(app: QApplication, seconds: float = 0.2) -> None:
    """Let pending deletions and events go through."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)
    gc.collect()


def bare_first_paint(app: QApplication, ws: Workspace, cell: QSize, string_list: bool) -> float:
    """Seconds to the first paint with rows of a bare icon-mode QListView over the file names."""
    started = time.perf_counter()
    names = [r[0] for r in ws.db.execute("SELECT file_name FROM images WHERE trashed_at IS NULL ORDER BY id")]
    model = QStringListModel(names) if string_list else BareModel(names)
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setUniformItemSizes(True)
    view.setGridSize(cell)
    view.setModel(model)
    view.setFixedSize(SIZE)
    probe = PaintProbe(view.viewport(), lambda: model.rowCount() > 0)
    view.show()
    seconds, _ = probe.wait(started)
    view.close()
    view.deleteLater()
    settle(app)
    return seconds


def page_first_paint(app: QApplication, ws: Workspace, rows: int) -> tuple[float, float, float, Host]:
    """Seconds to the page's first paint with rows, the longest GUI stall meanwhile, seconds until all ``rows`` are
    in the model, and the host (still shown)."""
    started = time.perf_counter()
    host = Host(ws)
    host.setFixedSize(SIZE)
    page = host.page
    page.set_workspace(ws)
    probe = PaintProbe(page.view.viewport(), lambda: page.model.rowCount() > 0)
    host.show()
    seconds, stall = probe.wait(started)
    end = time.perf_counter() + TIMEOUT_S
    while page.model.rowCount() < rows and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    return seconds, stall, time.perf_counter() - started, host


def close_page(app: QApplication, host: Host) -> None:
    """Stop the page's background work and delete it."""
    host.page.set_workspace(None)
    host.jobs.wait()
    host.close()
    host.deleteLater()
    settle(app)


def scroll_frames(app: QApplication, host: Host, steps: int, rng: random.Random) -> dict[str, Any]:
    """Time scroll steps of the page (see the module docstring)."""
    page = host.page
    end = time.perf_counter() + TIMEOUT_S
    while page.queries.busy() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)
    bar = page.view.verticalScrollBar()
    viewport = page.view.viewport()
    frames, between = [], []
    for step in range(steps):
        if step % 10 == 9:
            target = rng.randint(0, bar.maximum())
        else:
            target = bar.value() + bar.pageStep() if bar.value() < bar.maximum() else 0
        t = time.perf_counter()
        bar.setValue(target)
        viewport.repaint()
        frames.append((time.perf_counter() - t) * 1000)
        pause = time.perf_counter() + 0.010
        while time.perf_counter() < pause:
            t = time.perf_counter()
            app.processEvents()
            between.append((time.perf_counter() - t) * 1000)
            time.sleep(0.001)
    return {"steps": steps, "median_ms": round(statistics.median(frames), 2),
            "p99_ms": round(percentile(frames, 99), 2), "max_ms": round(max(frames), 2),
            "events_between_max_ms": round(max(between), 2), "rows": page.model.rowCount(),
            "scroll_range_px": bar.maximum()}


def filter_change(app: QApplication, host: Host) -> float:
    """Seconds from choosing status "done" to the first paint of those rows."""
    page = host.page
    wanted = ImageFilter(status="done")
    probe = PaintProbe(page.view.viewport(), lambda: page.shown_filter == wanted)
    started = time.perf_counter()
    page.status_box.setCurrentIndex(page.status_box.findData("done"))
    seconds, _ = probe.wait(started)
    return seconds


def measure(root: Path, repeats: int, steps: int, seed: int) -> dict[str, Any]:
    """Open the workspace and time the page and the baselines in turns."""
    app = QApplication.instance() or QApplication([])
    ws = Workspace.open(root)
    rng = random.Random(seed)
    try:
        rows = len(ws.images.ids())  # (and the catalog in the page cache for every contender alike)
        page_s, stall_s, all_rows_s, bare_s, floor_s = [], [], [], [], []
        scroll: dict[str, Any] = {}
        filter_s = 0.0
        for run in range(repeats):
            log(f"round {run + 1}/{repeats}: page")
            seconds, stall, all_rows, host = page_first_paint(app, ws, rows)
            page_s.append(seconds)
            stall_s.append(stall)
            all_rows_s.append(all_rows)
            grid = host.page.view.gridSize()
            if run == 0:
                log("scrolling")
                scroll = scroll_frames(app, host, steps, rng)
                filter_s = filter_change(app, host)
            close_page(app, host)
            log(f"round {run + 1}/{repeats}: bare QListView")
            bare_s.append(bare_first_paint(app, ws, grid, string_list=False))
            floor_s.append(bare_first_paint(app, ws, grid, string_list=True))
            log(f"page {seconds:.3f} s, bare {bare_s[-1]:.3f} s, floor {floor_s[-1]:.3f} s")
    finally:
        ws.close()
    page_med, bare_med, floor_med = (statistics.median(v) for v in (page_s, bare_s, floor_s))
    return {
        "first_paint": {"page_s": round(page_med, 3), "page_all_rows_s": round(statistics.median(all_rows_s), 3),
                        "bare_qlistview_s": round(bare_med, 3),
                        "ratio": round(page_med / bare_med, 3), "floor_qstringlistmodel_s": round(floor_med, 3),
                        "ratio_to_floor": round(page_med / floor_med, 3),
                        "runs": {"page": [round(v, 3) for v in page_s], "bare": [round(v, 3) for v in bare_s],
                                 "floor": [round(v, 3) for v in floor_s]},
                        "longest_gui_stall_ms": round(statistics.median(stall_s) * 1000, 1)},
        "scroll": scroll,
        "filter_change_s": round(filter_s, 3),
    }


def run(n_images: int, n_annotations: int, repeats: int, steps: int, seed: int) -> dict[str, Any]:
    """Build the workspace in a temporary folder, measure, clean up; return the result."""
    with temp_root("gallery") as tmp:
        root = tmp / "ws"
        started = time.perf_counter()
        build(root, n_images, n_annotations, seed)
        build_s = time.perf_counter() - started
        log(f"built in {build_s:.1f} s")
        db_bytes = sum(p.stat().st_size for p in root.glob(CATALOG_NAME + "*"))
        figures = measure(root, repeats, steps, seed)
    return {
        "benchmark": "gallery",
        "images": n_images,
        "annotations": n_annotations,
        "db_mb": round(db_bytes / MB, 1),
        "build_s": round(build_s, 1),
        "window": f"{SIZE.width()}x{SIZE.height()} offscreen",
        **figures,
        "target": {"first_paint_ratio_max": TARGET_RATIO, "scroll_frame_p99_ms_max": TARGET_FRAME_MS},
        "pass": {"first_paint": figures["first_paint"]["ratio"] <= TARGET_RATIO,
                 "scroll": figures["scroll"]["p99_ms"] <= TARGET_FRAME_MS},
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="image rows (default 1,000,000)")
    parser.add_argument("--annotations", type=int, help="annotation rows (default 0.3 x n)")
    parser.add_argument("--repeats", type=int, default=3, help="first-paint rounds (default 3)")
    parser.add_argument("--steps", type=int, default=200, help="scroll steps (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n_annotations = args.annotations if args.annotations is not None else int(args.n * 0.3)
    emit(run(args.n, n_annotations, args.repeats, args.steps, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
