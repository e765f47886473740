"""The Monitor page: what the deployed models see in the field (:mod:`cvops.monitoring`), per device.

Top: the device (one per pulled field log), **Run report** (a drift report over every device, in a background job
with progress and Cancel) and the last report's verdict for the device as a coloured banner (ok / warning / alarm),
in the report's own words, with the reference it compared with. Tab *Timelines*: per day, the images seen, the
model's mean confidence, the class mix, and each drift signal's evidence (−log₁₀ of its p-value) with the warning
and alarm levels as dashed lines. Tab *Captured images*: the images the device's capture policy kept, most unsure
first (:func:`cvops.monitoring.captures.unsureness`), with why and when each was captured; **Send to labeling** puts
the selected ones at the front of the labeling queue, then the annotator opens on the first of them.

Everything shown comes from the core: :func:`~cvops.monitoring.field.devices`,
:func:`~cvops.monitoring.report.last_report`, :func:`~cvops.monitoring.report.timeline` and
:func:`~cvops.monitoring.captures.captured_images` (the last two in a background job: a timeline may compute the
model's reference first).
"""

from __future__ import annotations

import html
import math
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QIcon, QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QGridLayout, QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem,
    QPushButton, QTabWidget, QVBoxLayout, QWidget,
)

from cvops.monitoring import drift
from cvops.monitoring.captures import Capture, captured_images, send_to_labeling
from cvops.monitoring.field import STAT_KEYS, devices
from cvops.monitoring.report import last_report, monitor_report, timeline
from cvops_app.charts import color, fresh_legend, time_chart
from cvops_app.context import AppContext
from cvops_app.dialogs.common import CommandLine
from cvops_app.icons import icon
from cvops_app.gallery import ThumbnailLoader
from cvops_app.jobs import Job
from cvops_app.pages import Page

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

DAY = 86400.0
ICON = 112  # thumbnail side in the captures grid
MAX_TILES = 200  # the most unsure captures shown (below the thumbnail loader's 256 requests kept)
P_CAP = 12.0  # −log₁₀ p drawn at most this high (p < 1e-12 all reads "overwhelming")
PULL_COMMAND = "cvops monitor pull TARGET"
CAPTURE_COMMAND = "python run.py SOURCE --field-log DIR --capture-low-conf 0.5 --capture-near-threshold 0.1"
BANNER = {  # status -> (background, border, text colour, headline)
    "ok": ("#e9f7ef", "#82e0aa", "#1d6b3a", "OK"),
    "warn": ("#fef5e7", "#f5b041", "#7e5109", "WARNING"),
    "alarm": ("#fdedec", "#e6b0aa", "#78281f", "ALARM"),
    None: ("#eef3f7", "#d6dbdf", "#333333", "No report yet"),
}
STATUS_BRUSH = {"ok": None, "warn": "#f39c12", "alarm": "#c0392b"}
REASONS = {"low_confidence": "low confidence", "near_threshold": "near threshold", "random": "random sample"}
DRIFT_GROUPS = (("Drift — image statistics", STAT_KEYS),
                ("Drift — content and predictions", ("embedding", "confidence", "detections_per_image", "class_mix",
                                                     "latency")))
DRIFT_HELP = ("Each line: how strongly that day's images differ from the reference on one signal, as −log₁₀ of the "
              "test's p-value (2 means p = 0.01, 3 means p = 0.001; higher is stronger evidence of a change).\n"
              "Red dashed line: the alarm level (p < 0.001); a point is an alarm (red) only if the change is also "
              "large enough to matter (e.g. 0.25 standard deviations for an image statistic).\n"
              "A point is a warning (orange) above the warning level: p below 0.01 divided by the number of signals "
              "(so that a day like the training data warns about 1 time in 100). With 10 signals that is p = 0.001 "
              "too; otherwise an orange dashed line shows it.\nValues above {cap:g} are drawn at {cap:g}.")


def _when(epoch: Optional[float], fmt: str = "%Y-%m-%d %H:%M") -> str:
    return time.strftime(fmt, time.localtime(epoch)) if epoch else "—"


def evidence(p_value: Optional[float]) -> float:
    """A p-value as the drift charts draw it: −log₁₀ p, at most :data:`P_CAP` (0 for a missing one)."""
    if p_value is None or p_value >= 1.0:
        return 0.0
    return P_CAP if p_value <= 10 ** -P_CAP else min(P_CAP, -math.log10(p_value))


def device_report(report: Optional[dict[str, Any]], device: str) -> Optional[dict[str, Any]]:
    """The device's part of a kept report (``report["devices"]``), or None."""
    if report is None:
        return None
    return next((d for d in report.get("devices", []) if d.get("device") == device), None)


def tile_text(capture: Capture) -> str:
    """What a capture's tile says: how unsure, why it was captured, when."""
    found = "nothing found" if capture.least_confidence is None else f"box {capture.least_confidence:.2f}"
    return (f"unsure {capture.unsure:.2f} ({found})\n{REASONS.get(capture.reason or '', capture.reason or '—')} · "
            f"{_when(capture.time, '%m-%d %H:%M')}")


class MonitorPage(Page):
    """Per device: the last report's verdict, Run report, the timelines and the captured images to label."""

    name = "monitor"
    title = "Monitor"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.devices: list[str] = []
        self.report: Optional[dict[str, Any]] = None
        self.entries: list[dict[str, Any]] = []
        self.captures: list[Capture] = []
        self.shown_ids: list[int] = []  # image ids of the grid's tiles, in order
        self.sent: list[int] = []  # the images last sent to labeling
        self.waiting: set[int] = set()  # tiles whose thumbnail has not arrived yet
        self.job: Optional[Job] = None  # Run report
        self.loading: Optional[Job] = None  # the device's timeline and captures
        self.loaded_for: Optional[str] = None

        self.device = QComboBox(self)
        self.device.setObjectName("monitor-device")
        self.device.setMinimumWidth(160)
        self.device.setToolTip("The device: each one whose field log was pulled into this workspace")
        self.device.activated.connect(lambda _: self.show_device(self.device.currentText()))
        self.progress = QLabel(self)
        self.progress.setObjectName("monitor-progress")
        self.progress.setStyleSheet("color: #2e86c1;")
        self.run_button = QPushButton(icon("start"), "Run report", self)
        self.run_button.setObjectName("run-report")
        bold = QFont(self.run_button.font())
        bold.setBold(True)
        self.run_button.setFont(bold)
        self.run_button.setToolTip("Compare each device's latest images with its model's training data (a drift "
                                   "report, as `cvops monitor report`)")
        self.run_button.clicked.connect(lambda: self.run_report())
        self.cancel_button = QPushButton(icon("stop"), "Cancel", self)
        self.cancel_button.setObjectName("cancel-report")
        self.cancel_button.clicked.connect(self.cancel)

        # no devices yet: what to do
        self.empty = QWidget(self)
        self.empty.setObjectName("monitor-empty")
        self.empty_text = QLabel(
            "<h3>No field data yet</h3><p>Deploy a bundle, run it with <code>--field-log</code>, then pull what the "
            "device logged into this workspace:</p>", self.empty)
        self.empty_text.setWordWrap(True)
        self.empty_command = CommandLine(PULL_COMMAND, self.empty)
        self.empty_command.setObjectName("pull-command")
        empty_more = QLabel("TARGET: the deploy target folder (or its <code>field</code> folder), or "
                            "<code>ssh://user@host/path</code>. See docs/monitoring.md.", self.empty)
        empty_more.setWordWrap(True)
        empty_layout = QVBoxLayout(self.empty)
        empty_layout.addWidget(self.empty_text)
        empty_layout.addWidget(self.empty_command)
        empty_layout.addWidget(empty_more)
        empty_layout.addStretch(1)

        # the verdict
        self.banner = QLabel(self)
        self.banner.setObjectName("verdict")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel(self)
        self.error.setObjectName("monitor-error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #78281f;")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()

        # timelines
        timelines = QWidget(self)
        self.images_plot = time_chart("Images per day", timelines)
        self.confidence_plot = time_chart("Mean confidence", timelines)
        self.confidence_plot.setToolTip("The mean confidence of the day's detections (those at or above the "
                                        "device's threshold)")
        self.mix_plot = time_chart("Class mix", timelines)
        self.mix_plot.setToolTip("Each class's share of the day's detections")
        self.drift_plots = [time_chart(f"{title} (−log₁₀ p)", timelines) for title, _ in DRIFT_GROUPS]
        for plot in self.drift_plots:
            plot.setToolTip(DRIFT_HELP.format(cap=P_CAP))
        self.timeline_note = QLabel(timelines)
        self.timeline_note.setObjectName("timeline-note")
        self.timeline_note.setWordWrap(True)
        self.timeline_note.setStyleSheet("color: palette(placeholder-text);")
        grid = QGridLayout(timelines)
        grid.setContentsMargins(2, 4, 2, 2)
        grid.addWidget(self.timeline_note, 0, 0, 1, 6)
        grid.addWidget(self.images_plot, 1, 0, 1, 2)
        grid.addWidget(self.confidence_plot, 1, 2, 1, 2)
        grid.addWidget(self.mix_plot, 1, 4, 1, 2)
        grid.addWidget(self.drift_plots[0], 2, 0, 1, 3)
        grid.addWidget(self.drift_plots[1], 2, 3, 1, 3)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)

        # captured images
        captured = QWidget(self)
        self.captures_note = QLabel(captured)
        self.captures_note.setObjectName("captures-note")
        self.captures_note.setWordWrap(True)
        self.captures_note.setTextFormat(Qt.TextFormat.RichText)
        self.capture_command = CommandLine(CAPTURE_COMMAND, captured)
        self.capture_command.setObjectName("capture-command")
        self.grid = QListWidget(captured)
        self.grid.setObjectName("captures")
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setIconSize(QSize(ICON, ICON))
        widest = max(self.fontMetrics().horizontalAdvance(text) for text in (
            "unsure 0.00 (nothing found)", "low confidence · 12-31 23:59", "random sample · 12-31 23:59")) + 16
        self.grid.setGridSize(QSize(max(ICON, widest) + 8, ICON + 2 * self.fontMetrics().height() + 14))
        self.grid.setWordWrap(True)
        self.grid.setUniformItemSizes(False)  # uniform: every text as wide as the first tile's, longer ones elided
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.itemSelectionChanged.connect(self._update_buttons)
        self.grid.itemDoubleClicked.connect(self._open_item)
        self.send_button = QPushButton(icon("send"), "Send to labeling", captured)
        self.send_button.setObjectName("send-to-labeling")
        self.send_button.setToolTip("Put the selected images at the front of the labeling queue (the annotator's "
                                    "Next from queue walks it)")
        self.send_button.clicked.connect(lambda: self.send_selected())
        self.select_label = QLabel(captured)
        self.sent_label = QLabel(captured)
        self.sent_label.setObjectName("sent-label")
        self.open_button = QPushButton(icon("annotate"), "Open the annotator", captured)
        self.open_button.setObjectName("open-sent")
        self.open_button.clicked.connect(self.open_sent)
        self.open_button.hide()
        actions = QHBoxLayout()
        actions.addWidget(self.select_label)
        actions.addStretch(1)
        actions.addWidget(self.sent_label)
        actions.addWidget(self.open_button)
        actions.addWidget(self.send_button)
        captured_layout = QVBoxLayout(captured)
        captured_layout.setContentsMargins(2, 4, 2, 2)
        captured_layout.addWidget(self.captures_note)
        captured_layout.addWidget(self.capture_command)
        captured_layout.addWidget(self.grid, 1)
        self.captures_spacer = QWidget(captured)  # keeps the empty state's text at the top
        captured_layout.addWidget(self.captures_spacer, 1)
        captured_layout.addLayout(actions)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("monitor-tabs")
        self.tabs.addTab(timelines, "Timelines")
        self.tabs.addTab(captured, "Captured images")

        top = QHBoxLayout()
        top.addWidget(QLabel("Device", self))
        top.addWidget(self.device)
        top.addSpacing(12)
        top.addWidget(self.progress, 1)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.empty)
        layout.addWidget(self.banner)
        layout.addWidget(self.error)
        layout.addWidget(self.tabs, 1)
        self.setFocusProxy(self.device)

        self.loader = ThumbnailLoader(self)
        self.loader.ready.connect(self._thumbnail_ready)
        self._update_buttons()

    # -- workspace and data -------------------------------------------------------------------------------------------
    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """Follow the workspace (read now if shown, else when the page is shown)."""
        super().set_workspace(ws)
        self.loader.close()
        self.waiting = set()
        self.job = self.loading = None
        self.loaded_for = None
        self.sent = []
        if ws is not None:
            ratio = self.devicePixelRatioF()
            self.loader.open(ws, QSize(round(ICON * ratio), round(ICON * ratio)))
        if self.isVisible() or ws is None:
            self.reload()

    def refresh(self, what: set[str]) -> None:
        """Trashed or restored images leave or join the grid; a pull or a report by another process (the catalog
        watcher says "monitor") shows (a hidden page re-reads everything when shown)."""
        if self.isVisible() and ("monitor" in what or ("images" in what and self.loaded_for is not None)):
            self.reload(force=True)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Re-read the devices and the last report when shown (a pull or a report may have run meanwhile)."""
        super().showEvent(event)
        self.reload(force=True)

    def current_device(self) -> Optional[str]:
        """The device shown, or None."""
        return self.device.currentText() or None

    def reload(self, force: bool = False) -> None:
        """Re-read the devices and the last report; load the shown device's timeline and captures (again when
        ``force``)."""
        ws = self.ws
        self.devices = devices(ws) if ws is not None else []
        self.report = last_report(ws) if ws is not None else None
        keep = self.current_device()
        self.device.blockSignals(True)
        self.device.clear()
        self.device.addItems(self.devices)
        if keep in self.devices:
            self.device.setCurrentText(keep)
        self.device.blockSignals(False)
        has = bool(self.devices)
        self.empty.setVisible(ws is not None and not has)
        self.tabs.setVisible(has)
        self.banner.setVisible(has)
        self.device.setEnabled(has)
        if not has:
            self.error.hide()
            self.loaded_for = None
            self._show_data([], [], [])
        else:
            self.show_device(self.current_device() or self.devices[0], force=force)
        self._update_buttons()

    def show_device(self, device: str, force: bool = False) -> None:
        """Show ``device``: its verdict now, its timeline and captures once loaded in the background."""
        if self.device.currentText() != device:
            self.device.setCurrentText(device)
        self._show_verdict(device)
        if force or device != self.loaded_for:
            self._load(device)

    def _load(self, device: str) -> None:
        if self.ws is None:
            return
        source = self.ws
        self.loaded_for = device
        self.error.hide()
        self.timeline_note.setText(f"Loading {device}'s timeline…")

        def job(progress: Callable[[float, str], None], cancel: Any) -> tuple[list, list, list[str]]:
            with source.reopen() as ws2:
                progress(0.0, "captured images")
                captures, problems = captured_images(ws2, device)
                entries = timeline(ws2, device, progress=progress, cancel=cancel)
            return entries, captures, problems

        self.loading = self.ctx.jobs.start(f"Monitor: {device}", job, lambda r: self._loaded(*r),
                                           on_error=self._load_failed, key=("monitor", "load"))
        self.loading.signals.progress.connect(  # the first timeline of a model computes its reference: minutes
            lambda _, message: self.timeline_note.setText(f"Loading {device}'s timeline… {message}"))

    def _loaded(self, entries: list[dict[str, Any]], captures: list[Capture], problems: list[str]) -> None:
        self.loading = None
        self._show_data(entries, captures, problems)

    def _load_failed(self, detail: str) -> None:
        self.loading = None
        self.timeline_note.setText("")
        self.error.setText(f"Cannot read this device's field data: {detail.strip().splitlines()[-1]}")
        self.error.setToolTip(detail)
        self.error.show()

    def settled(self) -> bool:
        """True when nothing of this page runs in the background (tests, screenshots)."""
        return self.job is None and self.loading is None and not self.waiting

    # -- the verdict --------------------------------------------------------------------------------------------------
    def _show_verdict(self, device: str) -> None:
        mine = device_report(self.report, device)
        status = mine.get("status") if mine else None
        background, border, ink, headline = BANNER.get(status, BANNER[None])
        self.banner.setStyleSheet(f"background: {background}; color: {ink}; border: 1px solid {border}; "
                                  "border-radius: 4px; padding: 8px;")
        if mine is None:
            why = ("The last report did not cover this device" if self.report is not None
                   else "No drift report of this workspace yet")
            self.banner.setText(f"<b style='font-size:12pt'>{headline}</b> — {why}. <b>Run a report</b> to compare "
                                f"what {html.escape(device)} saw lately with its model's training data.")
            self.banner.setToolTip("")
            return
        assert self.report is not None
        reference = (mine.get("reference") or self.report.get("reference") or {}).get("described", "—")
        span = f"{mine.get('images', 0)} images, {_when(mine.get('first'), '%m-%d %H:%M')} to " \
               f"{_when(mine.get('last'), '%m-%d %H:%M')}"
        self.banner.setText(
            f"<b style='font-size:12pt'>{headline}</b> &nbsp;·&nbsp; report of "
            f"{_when(self.report.get('created_at'))} &nbsp;·&nbsp; {span}"
            f"<br>{html.escape(mine.get('verdict', ''), quote=False)}"
            f"<br><small>Compared with: {html.escape(reference, quote=False)}"
            + (f" · {mine['other_models']} image(s) of an older model left out" if mine.get("other_models") else "")
            + "</small>")
        self.banner.setToolTip("\n".join(
            f"{s['name']}: {s['status']} (p = {s['p_value']:.2g}, score {s['score']:.3g}) {s.get('detail', '')}"
            for s in mine.get("signals", [])) or "no signals")

    # -- the timelines ------------------------------------------------------------------------------------------------
    def _show_data(self, entries: list[dict[str, Any]], captures: list[Capture], problems: list[str]) -> None:
        self.entries, self.captures = entries, captures
        self._plot_timelines()
        self._fill_grid()
        note = (f"{sum(e['images'] for e in entries)} images over {len(entries)} day(s) (UTC days)." if entries
                else "No records in this device's logs." if self.loaded_for else "")
        if entries and not any(e["signals"] for e in entries):
            note += (" No drift scores: the logs' model is not an export of this workspace, or its training version "
                     "has no images to compare with.")
        if problems:
            note += f" {len(problems)} log line(s) skipped (hover for why)."
        self.timeline_note.setText(note)
        self.timeline_note.setToolTip("\n".join(problems[:30]))

    def _plot_timelines(self) -> None:
        entries = self.entries
        xs = [e["start"] + DAY / 2 for e in entries]
        for plot in (self.images_plot, self.confidence_plot, self.mix_plot, *self.drift_plots):
            plot.clear()
        if entries:
            self.images_plot.addItem(pg.BarGraphItem(x=xs, height=[e["images"] for e in entries], width=DAY * 0.7,
                                                     brush="#5dade2", pen="#2e86c1"))
        conf = [(x, e["mean_confidence"]) for x, e in zip(xs, entries) if e["mean_confidence"] is not None]
        if conf:
            self.confidence_plot.plot([c[0] for c in conf], [c[1] for c in conf], pen=pg.mkPen("#2e86c1", width=2),
                                      symbol="o", symbolSize=6, symbolBrush="#2e86c1", symbolPen="#2e86c1")
        self.confidence_plot.setYRange(0.0, 1.0, padding=0.06)
        legend = fresh_legend(self.mix_plot)
        classes = sorted({name for e in entries for name in e["class_mix"]})
        for n, name in enumerate(classes):
            shares = [(x, e["class_mix"].get(name, 0) / total) for x, e in zip(xs, entries)
                      if (total := sum(e["class_mix"].values()))]
            self.mix_plot.plot([s[0] for s in shares], [s[1] for s in shares], pen=pg.mkPen(color(n), width=2),
                               symbol="o", symbolSize=5, symbolBrush=color(n), symbolPen=color(n), name=name)
        legend.setVisible(bool(classes))
        self.mix_plot.setYRange(0.0, 1.0, padding=0.06)
        count = max((len(e["signals"]) for e in entries), default=0)
        for plot, (_, names) in zip(self.drift_plots, DRIFT_GROUPS):
            legend = fresh_legend(plot)
            drawn = 0
            for n, name in enumerate(names):
                points = [(x, e["signals"][name]) for x, e in zip(xs, entries) if name in e["signals"]]
                if not points:
                    continue
                drawn += 1
                brushes = [STATUS_BRUSH[s["status"]] or color(n) for _, s in points]
                plot.plot([p[0] for p in points], [evidence(s["p_value"]) for _, s in points],
                          pen=pg.mkPen(color(n), width=2), symbol="o", symbolSize=7, symbolBrush=brushes,
                          symbolPen=brushes, name=name)
            legend.setVisible(bool(drawn))
            if count:
                plot.addItem(pg.InfiniteLine(pos=-math.log10(drift.ALARM_P), angle=0, label="alarm", labelOpts={
                    "position": 0.97, "color": "#c0392b", "anchors": [(1, 1), (1, 1)]},
                    pen=pg.mkPen("#c0392b", width=1.5, style=Qt.PenStyle.DashLine)))
                warn = -math.log10(drift.WARN_P / count)
                if abs(warn - -math.log10(drift.ALARM_P)) > 0.2:  # with 10 signals both levels are p = 0.001
                    plot.addItem(pg.InfiniteLine(pos=warn, angle=0, label="warning", labelOpts={
                        "position": 0.97, "color": "#b9770e", "anchors": [(1, 0), (1, 0)]},
                        pen=pg.mkPen("#f39c12", width=1.5, style=Qt.PenStyle.DashLine)))
            plot.setYRange(0.0, max([evidence(s["p_value"]) for e in entries for k, s in e["signals"].items()
                                     if k in names] + [4.0]) * 1.08, padding=0)
        if entries:
            for plot in (self.images_plot, self.confidence_plot, self.mix_plot, *self.drift_plots):
                plot.setXRange(entries[0]["start"], entries[-1]["start"] + DAY, padding=0.02)

    # -- the captured images ------------------------------------------------------------------------------------------
    def _fill_grid(self) -> None:
        self.grid.clear()
        self.shown_ids = []
        self.waiting = set()
        imported = [c for c in self.captures if c.image_id is not None]
        records = {r.id: r for r in self.ws.images.many([c.image_id for c in imported[:MAX_TILES]])} \
            if self.ws is not None and imported else {}
        placeholder = QPixmap(ICON, ICON)
        placeholder.fill(Qt.GlobalColor.lightGray)
        for capture in imported[:MAX_TILES]:
            record = records.get(capture.image_id)
            if record is None:
                continue
            item = QListWidgetItem(QIcon(placeholder), tile_text(capture), self.grid)
            item.setData(Qt.ItemDataRole.UserRole, capture.image_id)
            item.setToolTip(f"{capture.capture}\ncaptured {_when(capture.time, '%Y-%m-%d %H:%M:%S')} "
                            f"({REASONS.get(capture.reason or '', capture.reason or 'no reason logged')})\n"
                            f"{capture.detections} detection(s) at or above {capture.conf:g}"
                            + (f", the least sure {capture.least_confidence:.3f}"
                               if capture.least_confidence is not None else "")
                            + f"\nunsure {capture.unsure:.3f} · image {capture.image_id} ({record.status})")
            self.shown_ids.append(capture.image_id)
            self.waiting.add(capture.image_id)
            self.loader.request(record)
        missing = len(self.captures) - len(imported)
        device = html.escape(self.loaded_for or "")
        if not self.captures:
            self.captures_note.setText(
                f"No captured images from {device}. The capture policy is off by default: run the bundle with "
                "capture rules, e.g. low top confidence and candidates near the threshold (then pull again):")
        else:
            self.captures_note.setText(
                f"{len(self.captures)} image(s) captured by {device}, the most unsure first (least sure detection "
                "closest to the threshold, or nothing found). Select some and <b>Send to labeling</b>."
                + (f" Showing the first {MAX_TILES}." if len(imported) > MAX_TILES else "")
                + (f" {missing} not in the catalog (pulled before, then deleted, or not pulled yet: "
                   f"<code>{PULL_COMMAND}</code>)." if missing else ""))
        self.capture_command.setVisible(not self.captures)
        self.grid.setVisible(bool(self.shown_ids))
        self.captures_spacer.setVisible(not self.shown_ids)
        self.tabs.setTabText(1, f"Captured images ({len(self.captures)})")
        self._update_buttons()

    def _thumbnail_ready(self, image_id: int, image: QImage) -> None:
        self.waiting.discard(image_id)
        if image.isNull():  # cannot be decoded: the plain tile stays
            return
        image.setDevicePixelRatio(self.devicePixelRatioF())
        icon = QIcon(QPixmap.fromImage(image))
        for row, shown in enumerate(self.shown_ids):
            if shown == image_id:
                self.grid.item(row).setIcon(icon)

    def selected_ids(self) -> list[int]:
        """The selected tiles' image ids, in grid order (most unsure first)."""
        rows = sorted(self.grid.row(item) for item in self.grid.selectedItems())
        return [self.shown_ids[r] for r in rows]

    def send_selected(self) -> int:
        """Send the selected images to the front of the labeling queue; offer to open the annotator on them."""
        ids = self.selected_ids()
        if self.ws is None or not ids:
            return 0
        unsure = {c.image_id: c.unsure for c in self.captures}
        ws = self.ws
        queued = self.ctx.edit(lambda: send_to_labeling(ws, ids, [unsure.get(i, 1.0) for i in ids]), "queue")
        if queued is None:
            return 0
        self.sent = ids
        self.sent_label.setText(f"{len(ids)} image(s) at the front of the labeling queue ({queued} queued).")
        self.open_button.setText(f"Open the annotator on the first{' of them' if len(ids) > 1 else ''}")
        self.open_button.show()
        self.ctx.notify(f"{len(ids)} field image(s) sent to labeling")
        return len(ids)

    def open_sent(self) -> None:
        """Open the annotator on the first image sent, walking the images sent."""
        if self.sent:
            self.ctx.open_annotator(self.sent[0], list(self.sent))

    def _open_item(self, item: QListWidgetItem) -> None:
        self.ctx.open_annotator(int(item.data(Qt.ItemDataRole.UserRole)), list(self.shown_ids))

    # -- Run report ---------------------------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        self.run_button.setEnabled(self.ws is not None and bool(self.devices) and self.job is None)
        self.cancel_button.setEnabled(self.job is not None)
        selected = len(self.grid.selectedItems())
        self.send_button.setEnabled(selected > 0)
        self.select_label.setText(f"{selected} selected" if selected else
                                  "Select images (Ctrl or Shift for several); double-click opens one")

    def run_report(self) -> Optional[Job]:
        """Run a drift report over every device in a background job (progress and Cancel here and in the status
        bar); shows its verdict when done."""
        if self.ws is None or not self.devices or self.job is not None:
            return None
        source = self.ws

        def job(progress: Callable[[float, str], None], cancel: Any) -> dict[str, Any]:
            with source.reopen() as ws2:
                return monitor_report(ws2, progress=progress, cancel=cancel).to_dict()

        def done(report: dict[str, Any]) -> None:
            self.ctx.notify(f"drift report: {report['status']}"
                            + (f" — {len(report['problems'])} problem(s)" if report["problems"] else ""))
            self._job_ended()

        self.job = self.ctx.run_job("Drift report", job, done, key=("monitor", "report"))
        self.job.signals.progress.connect(lambda fraction, message: self.progress.setText(
            f"{fraction:.0%} · {message}"))
        for signal in (self.job.signals.failed, self.job.signals.cancelled):
            signal.connect(lambda *_: self._job_ended(), Qt.ConnectionType.QueuedConnection)
        self.progress.setText("starting…")
        self._update_buttons()
        return self.job

    def cancel(self) -> None:
        """Cancel the running report."""
        if self.job is not None:
            self.job.cancel.cancel()
            self.progress.setText("cancelling…")

    def _job_ended(self) -> None:
        if self.job is None:
            return
        self.job = None
        self.progress.setText("")
        self.reload(force=True)  # the report may have computed the reference: the timeline gets its scores
