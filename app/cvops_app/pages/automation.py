"""The Automation page: the CVOps loop a pipeline file runs (:mod:`cvops.pipelines`), shown and started from the GUI.

The pipeline file (default ``WORKSPACE/pipeline.yaml``, or one picked with Open…) is drawn as its chain of steps,
each coloured by its state in the run selected in the history below; clicking a step shows its log, inputs hash
and outputs. Selecting a run shows the gate's decision and why: the reason, every criterion with both values, and
the per-class AP deltas (challenger minus champion) on a bar chart. The champion's timeline lists which model served
when, and the watch line says whether ``cvops pipeline watch`` is running on the file. **Run now** runs the pipeline
in a background job on its own workspace handle (progress and Cancel in the status bar and here); a training step
shows its live curves on the Train page like any run.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit, QPushButton,
    QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from cvops.models.registry import ChampionSpan, champion_timeline
from cvops.pipelines.runner import RunReport, StepRecord, history, run_pipeline
from cvops.pipelines.spec import DEFAULT_FILE, Pipeline, PipelineInvalid, load
from cvops.pipelines.watch import WatchStatus, watch_status
from cvops_app.charts import delta_bars
from cvops_app.context import ALL_DATA, AppContext
from cvops_app.icons import icon
from cvops_app.jobs import Job
from cvops_app.pages import Page
from cvops_app.pipeline_graph import STATE_COLORS, GraphStep, PipelineGraph
from cvops_app.plot_style import ThemedPlot

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

WATCH_MS = 2000
HISTORY_LIMIT = 50
HISTORY_COLUMNS = ["Run", "Started", "Trigger", "State", "Seconds", "Steps", "Gate"]
CRITERIA_COLUMNS = ["Criterion", "Challenger", "Champion", "Threshold", "Result"]
TIMELINE_COLUMNS = ["Model", "From", "Until", "By", "Deployments"]
RUN_STATE_COLORS = {"done": "#1e8449", "failed": "#c0392b", "cancelled": "#b9770e", "running": "#2e86c1"}
STEP_ORDER = ("done", "cached", "running", "failed", "cancelled", "skipped")
BAD_STYLE = ("background: #fadbd8; color: #78281f; border: 1px solid #e6b0aa; padding: 10px;",  # an invalid file
             "background: #eef3f7; color: #333; border: 1px solid #d6dbdf; padding: 10px;")  # no file yet
NEW_IMAGES = re.compile(r"^(\d+) new images?$")


def _when(epoch: Optional[float], fmt: str = "%Y-%m-%d %H:%M") -> str:
    return time.strftime(fmt, time.localtime(epoch)) if epoch else "—"


def _day_time(epoch: float) -> str:
    """The format of a time to come: the hour alone today, with the date (``%m-%d %H:%M``) another day."""
    today = time.strftime("%Y-%m-%d") == time.strftime("%Y-%m-%d", time.localtime(epoch))
    return "%H:%M" if today else "%m-%d %H:%M"


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def _short(target: str) -> str:
    """A deployment target as the table shows it: an SSH target whole, a folder by its last two parts."""
    parts = Path(target).parts
    return target if "://" in target or len(parts) <= 2 else "…/" + "/".join(parts[-2:])


def verdict(report: RunReport) -> str:
    """The gate's verdict in a run: promoted, kept the champion, or — (no gate ran)."""
    decision = report.decision
    return "—" if decision is None else ("promoted" if decision["promote"] else "kept the champion")


def step_counts(report: RunReport) -> str:
    """The run's steps by state: ``4 done · 2 skipped``."""
    counts = Counter(s.state for s in report.steps)
    return " · ".join(f"{counts[s]} {s}" for s in STEP_ORDER if counts[s]) or "no steps"


def class_deltas(report: RunReport) -> tuple[list[str], list[Optional[float]]]:
    """Per class, the challenger's AP (IoU 0.50:0.95) minus the champion's, from the gate's inputs (or the evaluate
    step's outputs); empty without a champion to compare with."""
    pair: Optional[dict[str, Any]] = None
    for step in report.steps:
        if step.kind == "gate" and step.inputs.get("champion"):
            pair = step.inputs
        elif step.kind == "evaluate" and pair is None:
            evaluation = step.outputs.get("context", {}).get("evaluation") or {}
            pair = evaluation if evaluation.get("champion") else None
    if pair is None:
        return [], []
    theirs = {c["name"]: c.get("ap") for c in pair["champion"].get("per_class", [])}
    names, deltas = [], []
    for row in pair["challenger"].get("per_class", []):
        ours, old = row.get("ap"), theirs.get(row["name"])
        names.append(str(row["name"]))
        deltas.append(None if ours is None or old is None else round(float(ours) - float(old), 6))
    return names, deltas


def watch_line(status: Optional[WatchStatus], file_label: str) -> str:
    """The watch status line: its triggers with the new images counted so far and the next scheduled run, and its
    pid; or how to start one (no watch ever ran for the file), or that it stopped."""
    if status is None:
        return f"No watch running — start one with <code>cvops pipeline watch {html.escape(file_label)} --min-new 100</code>"
    if not status.alive:
        return (f"Watch stopped (pid {status.pid} ended; last check {_when(status.last_check_at, '%H:%M')}) — "
                f"restart it with <code>cvops pipeline watch {html.escape(file_label)}</code>")
    parts = []
    for trigger in status.triggers:
        match = NEW_IMAGES.match(trigger)
        if match and status.new_images is not None:
            parts.append(f"{status.new_images}/{match.group(1)} new images")
        elif trigger.startswith("every") and status.next_run_at:
            parts.append(f"{trigger} (next {_when(status.next_run_at, _day_time(status.next_run_at))})")
        else:
            parts.append(trigger)
    line = "<b>Watching</b>: " + html.escape(" · ".join(parts) or "no trigger") + f" — pid {status.pid}"
    why = f" ({html.escape(status.last_trigger)})" if status.last_trigger else ""
    if status.state == "running":
        line += " · <b>running the pipeline now</b>" + why
    elif status.last_run_id is not None:
        line += f" · last run {status.last_run_id}" + why
    return line


def _table(parent: QWidget, name: str, columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(24)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    """Put ``rows`` of cell texts in ``table``."""
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            table.setItem(r, c, QTableWidgetItem(text))


def _heading(text: str, parent: QWidget) -> QLabel:
    return QLabel(f"<b>{text}</b>", parent)


class AutomationPage(Page):
    """The pipeline's steps and their states, its run history with each gate decision, the champion's timeline, the
    watch status, and Run now."""

    name = "automation"
    title = "Automation"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.path: Optional[Path] = None
        self.pipeline: Optional[Pipeline] = None
        self.runs: list[RunReport] = []
        self.shown: Optional[RunReport] = None
        self.job: Optional[Job] = None
        self.timeline: list[ChampionSpan] = []
        self.opened: list[Path] = []  # files shown in this session, listed in the combo as well
        self.watch_running = False  # a watch is running this file now: Run now waits

        self.file = QComboBox(self)
        self.file.setObjectName("pipeline-file")
        self.file.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.file.setToolTip("The pipeline file: the workspace's pipeline.yaml, the files with runs, or one opened")
        self.file.activated.connect(lambda _: self.set_path(Path(self.file.currentData())))
        self.open_button = QPushButton(icon("open"), "Open…", self)
        self.open_button.setObjectName("open-pipeline")
        self.open_button.clicked.connect(lambda: self.open_file())
        self.run_button = QPushButton(icon("start"), "Run now", self)
        self.run_button.setObjectName("run-pipeline")
        font = QFont(self.run_button.font())
        font.setBold(True)
        self.run_button.setFont(font)
        self.run_button.clicked.connect(lambda: self.run_now())
        self.cancel_button = QPushButton(icon("stop"), "Cancel", self)
        self.cancel_button.setObjectName("cancel-pipeline")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QLabel(self)
        self.progress.setObjectName("pipeline-progress")
        self.progress.setStyleSheet("color: #2e86c1;")
        self.watch = QLabel(self)
        self.watch.setObjectName("watch-status")
        self.watch.setTextFormat(Qt.TextFormat.RichText)
        self.watch.setStyleSheet("padding: 4px 6px; background: palette(alternate-base); border-radius: 4px;")
        self.error = QLabel(self)
        self.error.setObjectName("pipeline-error")
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.RichText)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.graph = PipelineGraph(self)
        self.graph.setFixedHeight(176)
        self.graph.step_clicked.connect(self.show_step)
        self.legend = QLabel("  ".join(
            f"<span style='color:{STATE_COLORS[s][0] if s != 'pending' else '#7f8c8d'}'>■</span> "
            f"{'not run' if s == 'pending' else s}" for s in STATE_COLORS), self)
        self.legend.setStyleSheet("color: palette(placeholder-text); font-size: 9pt;")

        self.table = _table(self, "pipeline-history", HISTORY_COLUMNS)
        self.table.itemSelectionChanged.connect(self._run_selected)
        self.champions = _table(self, "champion-timeline", TIMELINE_COLUMNS)
        self.reason = QLabel(self)
        self.reason.setObjectName("gate-reason")
        self.reason.setWordWrap(True)
        self.reason.setTextFormat(Qt.TextFormat.RichText)
        self.criteria = _table(self, "gate-criteria", CRITERIA_COLUMNS)
        self.criteria.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.bars_plot = ThemedPlot(self)
        self.bars_plot.setObjectName("class-deltas")
        self.bars_plot.setMenuEnabled(False)
        self.bars_plot.setMouseEnabled(x=False, y=False)
        self.bars_plot.hideButtons()
        self.bars_plot.showGrid(y=True, alpha=0.2)
        self.bars_plot.setTitle("Per-class AP50-95: challenger − champion", color="#333", size="10pt")
        self.bars_plot.setMinimumHeight(150)
        self.bars: Optional[pg.BarGraphItem] = None
        self.details = QPlainTextEdit(self)
        self.details.setObjectName("step-details")
        self.details.setReadOnly(True)
        self.details.setFont(QFont("monospace", 9))
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setPlaceholderText("Click a step in the graph to see its log, inputs hash and outputs.")

        top = QHBoxLayout()
        top.addWidget(QLabel("Pipeline", self))
        top.addWidget(self.file)
        top.addWidget(self.open_button)
        top.addSpacing(12)
        top.addWidget(self.progress, 1)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        left = QSplitter(Qt.Orientation.Vertical, self)
        left.addWidget(self._box(_heading("Run history — select a run to see its steps and its gate decision", self),
                                 self.table))
        left.addWidget(self._box(_heading("Champion timeline — which model served when", self), self.champions))
        left.setSizes([330, 170])
        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(self._box(_heading("Gate decision", self), self.reason, self.criteria))
        right.addWidget(self.bars_plot)
        right.addWidget(self._box(_heading("Step", self), self.details))
        right.setSizes([200, 200, 160])
        bottom = QSplitter(Qt.Orientation.Horizontal, self)
        bottom.addWidget(left)
        bottom.addWidget(right)
        bottom.setSizes([650, 610])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.watch)
        layout.addWidget(self.error)
        layout.addWidget(self.graph)
        layout.addWidget(self.legend)
        layout.addWidget(bottom, 1)
        self.setFocusProxy(self.table)

        self.timer = QTimer(self)
        self.timer.setInterval(WATCH_MS)
        self.timer.timeout.connect(self._tick)
        self._update_buttons()

    def _box(self, *widgets: QWidget) -> QWidget:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 4, 0, 0)
        for n, widget in enumerate(widgets):
            layout.addWidget(widget, 1 if n == len(widgets) - 1 else 0)
        return box

    # -- workspace, file and data -------------------------------------------------------------------------------------
    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """Show the workspace's default pipeline file and its runs (now if shown, else when the page is shown)."""
        super().set_workspace(ws)
        self.job, self.shown = None, None
        self.path = ws.root / DEFAULT_FILE if ws is not None else None
        self.opened = []
        if self.isVisible() or ws is None:
            self.reload()

    def refresh(self, what: set[str]) -> None:
        """Models change the champion's timeline; runs are re-read when the page is shown or a run ends."""
        if what & {"models", "runs"} and self.isVisible():
            self.reload(select=self._selected_id())

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Re-read everything when shown, and follow the watch and a running run every 2 s while shown."""
        super().showEvent(event)
        self.reload(select=self._selected_id())
        self.timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt)
        """Nothing is polled while the page is hidden."""
        super().hideEvent(event)
        self.timer.stop()

    def set_path(self, path: Path) -> None:
        """Show the pipeline file ``path`` and its runs."""
        self.path = Path(path).absolute()
        if self.path not in self.opened:
            self.opened.append(self.path)
        self.shown = None
        self.reload()

    def open_file(self, path: Optional[str] = None) -> None:
        """Pick another pipeline file (asked for when ``path`` is None)."""
        if path is None:
            start = str(self.path.parent if self.path else Path.home())
            path, _ = QFileDialog.getOpenFileName(self, "Open a pipeline file", start, "Pipelines (*.yaml *.yml)")
        if path:
            self.set_path(Path(path))

    def _label(self, path: Path) -> str:
        if self.ws is not None and path.is_relative_to(self.ws.root):
            return str(path.relative_to(self.ws.root))
        return str(path)

    def reload(self, select: Optional[int] = None, files: bool = True) -> None:
        """Re-read the file, its run history (select run ``select``, default the newest), the champion's timeline and
        the watch status (``files``: and the list of pipeline files with runs)."""
        ws, path = self.ws, self.path
        self.runs = history(ws, path, limit=HISTORY_LIMIT) if ws is not None and path is not None else []
        if files:
            self._fill_files()
        self.pipeline = None
        self.error.hide()
        if path is not None and not path.exists():
            self._show_error(f"No pipeline file at {html.escape(str(path))} yet: <code>cvops pipeline init</code> "
                             "writes a commented one to edit (docs/pipelines.md), or Open… another.", BAD_STYLE[1])
        elif path is not None:
            try:
                self.pipeline = load(path)
            except PipelineInvalid as exc:
                self._show_error(f"<b>This pipeline file cannot be used:</b><br>{html.escape(str(exc))}", BAD_STYLE[0])
        self.graph.setVisible(self.pipeline is not None)
        self.legend.setVisible(self.pipeline is not None)
        _fill(self.table, [[str(r.id), _when(r.started_at, "%m-%d %H:%M:%S"), r.trigger, r.state,
                            f"{r.seconds:.2f}" if r.seconds is not None else "…", step_counts(r), verdict(r)]
                           for r in self.runs])
        for row, report in enumerate(self.runs):
            self.table.item(row, 3).setForeground(QBrush(QColor(RUN_STATE_COLORS.get(report.state, "#000"))))
            gate = self.table.item(row, 6)
            if report.decision is not None:
                gate.setForeground(QBrush(QColor("#1e8449" if report.decision["promote"] else "#b9770e")))
        self.timeline = champion_timeline(ws) if ws is not None else []
        _fill(self.champions, [[span.model + (f"  ({span.map50_95:.3f})" if span.map50_95 is not None else ""),
                                _when(span.since, "%m-%d %H:%M:%S"),
                                _when(span.until, "%m-%d %H:%M:%S") if span.until else "now", span.by,
                                "; ".join(f"{'' if d.get('ok', True) else '✗ '}{_short(d['target'])} "
                                          f"({_when(d.get('at'), '%m-%d %H:%M')})" for d in span.deployments) or "—"]
                               for span in self.timeline])
        for row, span in enumerate(self.timeline):
            self.champions.item(row, 4).setToolTip("\n".join(d["target"] for d in span.deployments))
        if self.timeline and self.timeline[0].until is None:
            for col in range(len(TIMELINE_COLUMNS)):
                item = self.champions.item(0, col)
                bold = QFont(item.font())
                bold.setBold(True)
                item.setFont(bold)
        self._update_watch()
        ids = [r.id for r in self.runs]
        row = ids.index(select) if select in ids else 0
        self.table.blockSignals(True)
        self.table.clearSelection()
        if self.runs:
            self.table.selectRow(row)
        self.table.blockSignals(False)
        self._run_selected()

    def _show_error(self, text: str, style: str) -> None:
        self.error.setText(text)
        self.error.setStyleSheet(style)
        self.error.show()

    def _fill_files(self) -> None:
        paths: list[Path] = []
        if self.ws is not None:
            paths.append(self.ws.root / DEFAULT_FILE)
            paths += [Path(r.path) for r in history(self.ws, None, limit=HISTORY_LIMIT)]
        paths += self.opened
        unique = list(dict.fromkeys(p.absolute() for p in paths))
        self.file.blockSignals(True)
        self.file.clear()
        for p in unique:
            self.file.addItem(self._label(p), str(p))
        self.file.setCurrentIndex(max(self.file.findData(str(self.path.absolute())) if self.path else 0, 0))
        self.file.blockSignals(False)

    def _update_watch(self) -> None:
        if self.ws is None or self.path is None:
            self.watch.setText("")
            return
        status = watch_status(self.ws, self.path)
        self.watch.setText(watch_line(status, self._label(self.path)))
        busy = status is not None and status.alive and status.state == "running"
        if busy != self.watch_running:
            self.watch_running = busy
            self._update_buttons()

    def _tick(self) -> None:
        """Every 2 s while shown: the watch status, and the history when a run is going or a new one appeared."""
        if self.ws is None or self.path is None or not self.isVisible():
            return
        self._update_watch()
        latest = history(self.ws, self.path, limit=1)
        newest = self.runs[0] if self.runs else None
        if latest and (newest is None or latest[0].id != newest.id or latest[0].state != newest.state
                       or newest.state == "running"):
            self.reload(select=latest[0].id if self.job is not None else self._selected_id(), files=False)

    # -- the selected run ---------------------------------------------------------------------------------------------
    def _selected_id(self) -> Optional[int]:
        rows = self.table.selectionModel().selectedRows()
        return self.runs[rows[0].row()].id if rows and rows[0].row() < len(self.runs) else None

    def _run_selected(self) -> None:
        run_id = self._selected_id()
        self.shown = next((r for r in self.runs if r.id == run_id), None)
        records = {s.index: s for s in self.shown.steps} if self.shown else {}
        if self.pipeline is not None:
            steps = []
            for step in self.pipeline.steps:
                rec = records.get(step.index)
                if rec is not None and rec.kind == step.kind:
                    steps.append(GraphStep(step.kind, rec.state, rec.seconds))
                else:
                    steps.append(GraphStep(step.kind))
            keep = self.graph.selected if self.graph.selected is not None and self.graph.selected < len(steps) else None
            self.graph.set_steps(steps, keep)
        self._show_decision()
        focus = self.graph.selected
        if focus is None and self.shown is not None:
            focus = next((s.index for s in self.shown.steps if s.state in ("failed", "cancelled", "running")), None)
        self.show_step(focus)
        self._update_buttons()

    def _show_decision(self) -> None:
        report = self.shown
        decision = report.decision if report is not None else None
        if decision is None:
            self.reason.setText("No gate decision in this run." if report is not None else "No runs yet.")
            _fill(self.criteria, [])
        else:
            color = "#1e8449" if decision["promote"] else "#b9770e"
            verdict_text = "Promoted" if decision["promote"] else "Kept the champion"
            self.reason.setText(f"<span style='color:{color}; font-size:12pt'><b>{verdict_text}</b></span> — "
                                f"{html.escape(decision['reason'])}")
            rows, colors = [], []
            for c in decision["criteria"]:
                result = {True: "pass", False: "FAIL", None: "n/a"}[c["passed"]]
                rows.append([c["name"], _num(c["challenger"]), _num(c["champion"]),
                             "—" if c["threshold"] is None else f"{c['threshold']:g}", result])
                colors.append({"pass": "#1e8449", "FAIL": "#c0392b"}.get(result, "#7f8c8d"))
            _fill(self.criteria, rows)
            for row, color in enumerate(colors):
                item = self.criteria.item(row, 4)
                item.setForeground(QBrush(QColor(color)))
                bold = QFont(item.font())
                bold.setBold(True)
                item.setFont(bold)
                item.setToolTip(decision["criteria"][row].get("note", ""))
        names, deltas = class_deltas(report) if report is not None else ([], [])
        limit = None
        if report is not None:
            gate = next((s for s in report.steps if s.kind == "gate"), None)
            limit = (gate.inputs.get("settings") or {}).get("max_class_drop") if gate else None
        self.bars = delta_bars(self.bars_plot, names, deltas, limit)
        self.bars_plot.setVisible(bool(names))

    def show_step(self, index: Optional[int]) -> None:
        """Show step ``index`` of the selected run: state, timing, log, inputs hash, inputs and outputs."""
        self.graph.select(index)
        rec: Optional[StepRecord] = None
        if self.shown is not None and index is not None:
            rec = next((s for s in self.shown.steps if s.index == index), None)
        if index is None:
            self.details.setPlainText("")
            return
        kind = self.graph.steps[index].kind if index < len(self.graph.steps) else "?"
        if rec is None:
            self.details.setPlainText(f"step {index}: {kind} — not run in "
                                      + (f"run {self.shown.id}" if self.shown else "any run yet"))
            return
        timing = f" in {rec.seconds:.3f} s" if rec.seconds is not None else ""
        parts = [f"step {index}: {rec.kind} — {rec.state}{timing} (run {self.shown.id if self.shown else '?'})",
                 "", "log:", rec.log or "(empty)", "", f"inputs hash: {rec.input_hash or '—'}",
                 "inputs: " + json.dumps(rec.inputs, indent=2, default=str),
                 "outputs: " + json.dumps(rec.outputs, indent=2, default=str)]
        self.details.setPlainText("\n".join(parts))

    # -- Run now ------------------------------------------------------------------------------------------------------
    def settled(self) -> bool:
        """True when no pipeline run of this page is going."""
        return self.job is None

    def _update_buttons(self) -> None:
        self.run_button.setEnabled(self.ws is not None and self.pipeline is not None and self.settled()
                                   and not self.watch_running)
        self.run_button.setToolTip("The watch is running this pipeline now" if self.watch_running else
                                   "Run the pipeline now: unchanged steps are cached, a failed run resumes")
        self.cancel_button.setEnabled(self.job is not None)
        self.file.setEnabled(self.settled())
        self.open_button.setEnabled(self.settled())

    def run_now(self) -> Optional[Job]:
        """Run the pipeline file in a background job on its own workspace handle (trigger ``gui``)."""
        if self.ws is None or self.path is None or not self.settled():
            return None
        try:
            pipeline = load(self.path)
        except PipelineInvalid:
            self.reload()
            return None
        source, path = self.ws, self.path

        def job(progress: Callable[[float, str], None], cancel: Any) -> RunReport:
            with source.reopen() as ws2:
                return run_pipeline(ws2, path, trigger="gui", progress=progress, cancel=cancel)

        def done(report: RunReport) -> None:
            self.ctx.notify(f"pipeline run {report.id} {report.state}"
                            + (f": {report.error}" if report.error else f" — {verdict(report)}"))
            self._job_ended(report)

        self.job = self.ctx.run_job(f"Pipeline {pipeline.name}", job, done, key="pipeline")
        self.job.signals.progress.connect(lambda fraction, message: self.progress.setText(
            f"{fraction:.0%} · {message}"))
        for signal in (self.job.signals.failed, self.job.signals.cancelled):
            signal.connect(lambda *_: self._job_ended(None), Qt.ConnectionType.QueuedConnection)
        self.progress.setText("starting…")
        self._update_buttons()
        QTimer.singleShot(300, self._tick)
        return self.job

    def cancel(self) -> None:
        """Cancel the running pipeline (the current step stops cleanly; the next run resumes there)."""
        if self.job is not None:
            self.job.cancel.cancel()
            self.progress.setText("cancelling…")

    def _job_ended(self, report: Optional[RunReport]) -> None:
        """Show the run that ended and tell the other pages what it changed (the live data too when it imported
        images, or when the run's end is unknown)."""
        if self.job is None:
            return
        self.job = None
        self.progress.setText("")
        self.reload(select=report.id if report is not None else None)
        what = {"models", "runs", "evaluations"}
        if report is None or any(s.kind == "ingest" and s.state == "done" for s in report.steps):
            what |= ALL_DATA
        self.ctx.changed(*sorted(what))
