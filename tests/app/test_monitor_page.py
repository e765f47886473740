"""The Monitor page through the real main window, on a small demo workspace with a registered model and field logs
written as if pulled (the reference is monkeypatched: records like the undrifted field): the empty state, a device's
timelines and the verdict of a report run as a job."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from cvops.data.workspace import Workspace
from cvops.monitoring import report as report_mod
from cvops.monitoring.report import last_report
from cvops.samples.demo import run_demo
from cvops.versions.create import create_version, get_version
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.monitor import MonitorPage, evidence
from monitor_testing import DAY, START, days, reference, write_log
from training_testing import copy_workspace, make_model

WAIT_MS = 30_000
DAY_DIR = "captures/2025-12-03/"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """A 12-image demo workspace with model m1 on v1 and no field data: ``(folder, model id, version id)``."""
    folder = tmp_path_factory.mktemp("monitor")
    root = folder / "ws"
    run_demo(root, count=12)
    checkpoint = folder / "m1.pt"
    checkpoint.write_bytes(b"weights")
    with Workspace.open(root) as ws:
        ws.annotations.set_status([im.id for im in ws.images.page(limit=100)], "done")
        create_version(ws, "v1", ratios="80/10/10", statuses=("done",))
        model_id = make_model(ws, checkpoint, classes=[{"index": i, "class_id": c.id, "name": c.name}
                                                       for i, c in enumerate(ws.classes.list())])
        return root, model_id, get_version(ws, "v1").id


@pytest.fixture
def window(qtbot, tmp_path: Path, base: tuple[Path, int, int],  # noqa: ANN001
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    """The main window on a copy of ``base``, on its Monitor page; the reference is planted."""
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("CVOPS_CONFIG_DIR", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    root = copy_workspace(base[0], tmp_path / "ws")
    ref = reference(base[1], base[2])
    monkeypatch.setattr(report_mod, "reference_for", lambda *a, **k: ref)
    main = MainWindow(settings_path=tmp_path / "config" / "settings.yaml")
    qtbot.addWidget(main)
    main.resize(1400, 900)
    main.show()
    assert main.load_workspace(root)
    main.show_page("monitor")
    yield main
    main.jobs.cancel_all()
    main.jobs.wait(60_000)
    main.close()


def _page(window: MainWindow) -> MonitorPage:
    page = window.pages["monitor"]
    assert isinstance(page, MonitorPage)
    return page


def test_without_field_data_the_page_says_how_to_get_some(window: MainWindow) -> None:
    page = _page(window)
    assert page.isVisible() and page.empty.isVisible()
    assert "No field data yet" in page.empty_text.text() and "--field-log" in page.empty_text.text()
    assert page.empty_command.text.text() == "cvops monitor pull TARGET"
    page.empty_command.copy.click()
    from PySide6.QtWidgets import QApplication

    assert QApplication.clipboard().text() == "cvops monitor pull TARGET"
    assert not page.tabs.isVisible() and not page.banner.isVisible()
    assert not page.run_button.isEnabled() and page.run_report() is None


def test_a_device_shows_its_timelines_and_the_report_verdict(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page = _page(window)
    rng = np.random.default_rng(0)
    write_log(window.ws, "cam-01", days(rng, [40, 30, 50], dark_from=2))
    write_log(window.ws, "cam-02", days(rng, [20], device="cam-02"), name="field-20251203T000000Z-2")
    page.reload()
    assert not page.empty.isVisible() and page.tabs.isVisible()
    assert [page.device.itemText(i) for i in range(page.device.count())] == ["cam-01", "cam-02"]
    assert page.current_device() == "cam-01"
    assert "No report yet" in page.banner.text() and "Run a report" in page.banner.text()
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert not page.error.isVisible(), page.error.toolTip()

    # the timelines: a bar per day, the mean confidence, the class mix, drift evidence with its levels
    assert [e["images"] for e in page.entries] == [40, 30, 50]
    bars = next(i for i in page.images_plot.plotItem.items if hasattr(i, "opts") and "height" in i.opts)
    assert list(bars.opts["height"]) == [40, 30, 50]
    assert list(bars.opts["x"]) == [START + DAY / 2, START + 1.5 * DAY, START + 2.5 * DAY]
    curve = page.confidence_plot.plotItem.listDataItems()[0]
    assert list(curve.getData()[1]) == pytest.approx([e["mean_confidence"] for e in page.entries])
    assert {c.name() for c in page.mix_plot.plotItem.listDataItems()} == set(page.entries[0]["class_mix"])
    stats = {c.name(): list(c.getData()[1]) for c in page.drift_plots[0].plotItem.listDataItems()}
    assert set(stats) == {"brightness", "contrast", "sharpness", "width", "height", "aspect"}
    brightness = stats["brightness"]
    assert brightness[2] > 3 and max(brightness[:2]) < 3  # the dark day stands out above the alarm level
    assert brightness == pytest.approx([evidence(e["signals"]["brightness"]["p_value"]) for e in page.entries])
    levels = sorted(round(line.value(), 3) for line in page.drift_plots[0].plotItem.items
                    if type(line).__name__ == "InfiniteLine")
    warn = -np.log10(0.01 / len(page.entries[2]["signals"]))
    assert levels == ([3.0] if abs(warn - 3.0) <= 0.2 else sorted([3.0, round(warn, 3)]))
    assert "embedding" in {c.name() for c in page.drift_plots[1].plotItem.listDataItems()}
    assert "120 images over 3 day(s)" in page.timeline_note.text()

    # Run report: a background job; the verdict in words, coloured, with the reference it compared with
    job = page.run_report()
    assert job is not None and page.run_report() is None and page.cancel_button.isEnabled()
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    kept = last_report(window.ws)
    assert kept is not None and {d["device"] for d in kept["devices"]} == {"cam-01", "cam-02"}
    mine = next(d for d in kept["devices"] if d["device"] == "cam-01")
    assert mine["status"] == "alarm"  # the last 200 images include the dark day
    text = page.banner.text()
    assert "ALARM" in text and "darker" in text and kept["reference"]["described"] in text
    assert "#fdedec" in page.banner.styleSheet()
    assert not page.cancel_button.isEnabled() and page.run_button.isEnabled()

    # the other device: like the reference, ok
    page.show_device("cam-02")
    assert "OK" in page.banner.text() and "nothing to do" in page.banner.text()
    assert "#e9f7ef" in page.banner.styleSheet()
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert [e["images"] for e in page.entries] == [20]


def test_cancel_stops_a_report(qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import threading

    page = _page(window)
    write_log(window.ws, "cam-01", days(np.random.default_rng(0), [30]))
    page.reload()
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    started = threading.Event()

    def slow(ws, device=None, progress=None, cancel=None, **kwargs):  # noqa: ANN001, ANN202
        started.set()
        while True:
            cancel.raise_if_cancelled()
            started.wait(0.01)

    monkeypatch.setattr("cvops_app.pages.monitor.monitor_report", slow)
    assert page.run_report() is not None
    assert started.wait(10)
    page.cancel()
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert last_report(window.ws) is None and "No report yet" in page.banner.text()
    assert page.run_button.isEnabled()


def _pulled_page(qtbot, window: MainWindow, tmp_path: Path) -> MonitorPage:  # noqa: ANN001
    """The page on cam-01 with ten records and four captures, pulled; its captures tab shown."""
    from cvops.monitoring.pull import pull
    from monitor_testing import device_folder, record

    page = _page(window)
    rng = np.random.default_rng(0)
    rows = [record(rng, START + 60 * i) for i in range(10)]
    for n, (scores, reason) in enumerate((([0.9], "random"), ([0.3, 0.8], "near_threshold"), ([], "low_confidence"),
                                          ([0.6], "low_confidence"))):
        rows.append(record(rng, START + 1000 + n, scores=scores, capture=f"{DAY_DIR}{n}.jpg", reason=reason))
    device_folder(tmp_path / "field", "cam-01", rows)
    pull(window.ws, tmp_path / "field")
    page.reload()
    page.tabs.setCurrentIndex(1)
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    return page


def test_captured_images_most_unsure_first(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    page = _pulled_page(qtbot, window, tmp_path)
    assert page.tabs.tabText(1) == "Captured images (4)"
    assert [c.capture for c in page.captures] == [f"{DAY_DIR}{n}.jpg" for n in (2, 1, 3, 0)]
    assert page.shown_ids == [c.image_id for c in page.captures] and page.grid.isVisible()
    texts = [page.grid.item(r).text() for r in range(page.grid.count())]
    assert texts[0].startswith("unsure 1.00 (nothing found)\nlow confidence · ")
    assert texts[1].startswith("unsure 0.93 (box 0.30)\nnear threshold · ")
    assert not page.capture_command.isVisible()
    assert not page.send_button.isEnabled() and page.send_selected() == 0
    for row in range(4):  # the thumbnails replaced the plain placeholder tiles
        tile = page.grid.item(row).icon().pixmap(64).toImage()
        assert len({tile.pixel(x, y) for x in range(0, tile.width(), 5) for y in range(0, tile.height(), 5)}) > 5
    opened = []
    window.ctx.open_images.connect(lambda image_id, sequence: opened.append((image_id, sequence)))
    page._open_item(page.grid.item(1))  # a double-click: the annotator on it, walking the grid's order
    assert opened == [(page.shown_ids[1], page.shown_ids)]


def test_send_to_labeling_queues_the_selected_first(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    from cvops.monitoring.queue import next_in_queue, show_queue

    page = _pulled_page(qtbot, window, tmp_path)
    page.grid.item(2).setSelected(True)
    page.grid.item(0).setSelected(True)
    assert page.send_button.isEnabled() and page.select_label.text() == "2 selected"
    assert page.send_selected() == 2
    sent = [page.shown_ids[0], page.shown_ids[2]]  # most unsure first, whatever the order of selection
    assert [q.image_id for q in show_queue(window.ws)] == sent and next_in_queue(window.ws) == sent[0]
    assert page.open_button.isVisible() and "2 image(s) at the front" in page.sent_label.text()
    opened = []
    window.ctx.open_images.connect(lambda image_id, sequence: opened.append((image_id, sequence)))
    page.open_button.click()
    assert opened == [(sent[0], sent)]


def test_without_captures_it_says_how_to_turn_the_capture_policy_on(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page = _page(window)
    write_log(window.ws, "cam-01", days(np.random.default_rng(0), [5]))
    page.reload()
    page.tabs.setCurrentIndex(1)
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert page.tabs.tabText(1) == "Captured images (0)" and not page.grid.isVisible()
    assert "capture policy is off by default" in page.captures_note.text()
    assert page.capture_command.isVisible() and "--capture-low-conf" in page.capture_command.text.text()
