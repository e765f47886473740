"""The Train page: start a training run on a dataset version with a preset, follow it live (losses, mAP, precision
and recall per epoch), cancel and resume it, and browse the run history (select two or more runs to compare them).

Training goes through the core (:mod:`cvops.training`): :func:`~cvops.training.start_run` and
:func:`~cvops.training.supervise` both run in one background job on its own workspace handle, so the GUI thread never
waits on the child process; a 1 s timer re-reads the selected run's epochs and batch progress (with the ETA) from the
catalog while the page is shown: the progress row (:mod:`cvops_app.pages.train_progress`) moves once per batch.
Without a version the page says to create one first and leads to the Versions page. The settings panel
(:mod:`cvops_app.pages.train_settings`) takes pretrained weights from the workspace's weights library
(:mod:`cvops.models.weights`): **Add weights…** checks a .pt file and adds it in a background job. A warning above
the Train button says when the chosen settings would train from scratch on real photographs
(:func:`cvops.training.training_warnings`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QFrame, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit, QPushButton, QScrollArea,
    QSizePolicy, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from cvops.common.errors import CvopsError
from cvops.training import cancel_run, resume, run_progress, start_run, supervise, training_warnings
from cvops.training.runner import photo_count
from cvops.training.history import get_run, latest_run_id, list_runs
from cvops.training.runner import FINAL_STATES, RunResult, format_eta
from cvops.versions.create import list_versions
from cvops.models.weights import add_weights, list_weights
from cvops_app.charts import RunCharts
from cvops_app.jobs import Job
from cvops_app.context import AppContext
from cvops_app.icons import set_icon
from cvops_app.pages import Page
from cvops_app.pages.train_progress import NoVersionsNote, RunProgress
from cvops_app.pages.train_settings import SettingsPanel

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

REFRESH_MS = 1000
RUN_ROLE = Qt.ItemDataRole.UserRole
STATE_COLORS = {"finished": "#1e8449", "failed": "#c0392b", "cancelled": "#7f8c8d", "running": "#2e86c1",
                "queued": "#2e86c1"}
COLUMNS = ["Run", "State", "Version", "Preset", "Epochs", "mAP50", "Model"]


def _brush(hex_color: str) -> QBrush:
    return QBrush(QColor(hex_color))


def _fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "—"


class TrainPage(Page):
    """Train a model, follow it live, cancel or resume it, and browse or compare the run history."""

    name = "train"
    title = "Train"
    run_started = Signal(int)  # emitted from the job's thread once the run exists

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.runs: list[dict[str, Any]] = []
        self.job: Optional[Job] = None
        self.job_run: Optional[int] = None
        self.shown_run: Optional[dict[str, Any]] = None
        self.photo_counts: dict[int, tuple[int, int]] = {}  # per version id: frozen content, counted once
        self.settings = SettingsPanel(self)
        self.no_versions = NoVersionsNote(lambda: self.ctx.show_page("versions"), self)
        self.settings.train_button.clicked.connect(self.train)
        self.settings.weights_button.clicked.connect(lambda: self.add_weights())
        self.tuned: dict[str, Any] = {}  # model, seed, hyperparameters, tuning: a study's best trial (use_options)
        self.settings.clear_tuned.clicked.connect(lambda: self.use_options(None))
        for combo in (self.settings.version, self.settings.preset, self.settings.weights):
            combo.currentIndexChanged.connect(lambda _: self._update_warning())
        self.settings.epochs.valueChanged.connect(lambda _: self._update_warning())
        self.settings.advanced.toggled.connect(lambda _: self._update_warning())
        self.run_started.connect(self._run_started, Qt.ConnectionType.QueuedConnection)

        self.header = QLabel("Pick a version and a preset, then press Train.", self)
        self.header.setObjectName("run-header")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # text changes never relayout
        self.details = QLabel(self)  # the header's second line, the page's full width: what the run trains
        self.details.setObjectName("run-details")
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.details.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.details.setFixedHeight(self.details.fontMetrics().lineSpacing() * 2 + 2)  # wraps once when narrow
        self.progress = RunProgress(self)
        self.cancel_button = QPushButton("Cancel run", self)
        set_icon(self.cancel_button, "stop")
        self.cancel_button.setObjectName("cancel-run")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume", self)
        set_icon(self.resume_button, "resume")
        self.resume_button.setObjectName("resume-run")
        self.resume_button.setToolTip("Continue a cancelled or failed run from its last checkpoint")
        self.resume_button.clicked.connect(self.resume)
        self.charts = RunCharts(self)
        self.log = QPlainTextEdit(self)
        self.log.setObjectName("run-log")
        self.log.setReadOnly(True)
        self.log.setMaximumHeight(150)
        self.log.setFont(QFont("monospace", 9))
        self.log.hide()

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("runs-table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.compare_button = QPushButton("Compare", self)
        set_icon(self.compare_button, "compare")
        self.compare_button.setObjectName("compare-runs")
        self.compare_button.setToolTip("Select two or more runs (Ctrl+click) to compare their curves and settings")
        self.compare_button.clicked.connect(self.compare)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        header_row = QHBoxLayout()
        header_row.addWidget(self.header, 1)
        header_row.addWidget(self.cancel_button)
        header_row.addWidget(self.resume_button)
        top_layout.addLayout(header_row)
        top_layout.addWidget(self.details)
        top_layout.addWidget(self.progress)
        top_layout.addWidget(self.charts, 1)
        top_layout.addWidget(self.log)
        bottom = QWidget(self)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        history_row = QHBoxLayout()
        history_label = QLabel("<b>Run history</b> — select a run for its curves, two or more to compare", self)
        history_label.setWordWrap(True)
        history_label.setObjectName("history-label")
        history_row.addWidget(history_label, 1)
        history_row.addWidget(self.compare_button)
        bottom_layout.addLayout(history_row)
        bottom_layout.addWidget(self.table, 1)
        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(top)
        right.addWidget(bottom)
        right.setSizes([560, 260])
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(self.no_versions)
        left_layout.addWidget(self.settings, 1)
        scroll = QScrollArea(self)  # an open Advanced section and a warning may be taller than a small window
        scroll.setObjectName("train-settings-scroll")
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(270)
        scroll.setMaximumWidth(350)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(right, 3)
        self.setFocusProxy(self.settings.train_button)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        self._update_buttons()

    # -- workspace and data -------------------------------------------------------------------------------------------
    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """Show the versions and runs of ``ws``."""
        super().set_workspace(ws)
        self.job, self.job_run, self.shown_run = None, None, None
        self.photo_counts = {}
        self.use_options(None)  # a study's parameters belong to the workspace it ran in
        self.reload()  # a hidden page reloads again when shown; this keeps Train enabled only with versions

    def refresh(self, what: set[str]) -> None:
        """Runs, versions or models changed elsewhere (a pipeline's train step, the CLI): re-read them when shown;
        a hidden page re-reads them when it is next shown."""
        if what & {"runs", "versions", "models"} and self.isVisible() and self.settled():
            self.reload(select=self.selected_run())

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Re-read versions and runs when the page comes into view, and follow the selected run while shown."""
        super().showEvent(event)
        self.reload(select=self.selected_run())
        self.timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt)
        """Nothing is polled while the page is hidden."""
        super().hideEvent(event)
        self.timer.stop()

    def reload(self, select: Optional[int] = None) -> None:
        """Re-read versions and the run history; select run ``select`` (default: the newest)."""
        if self.ws is None:
            self.settings.set_versions([])
            self.settings.set_weights([])
            self.runs = []
        else:
            self.settings.set_versions([(v.id, v.name) for v in reversed(list_versions(self.ws))])
            self.settings.set_weights([(w.name, w.describe()) for w in list_weights(self.ws)])
            self.runs = list_runs(self.ws)
        self.no_versions.setVisible(self.ws is not None and self.settings.version.count() == 0)
        self._update_warning()
        selected = {select} if select is not None else set(self.selected_runs())
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            epochs = f"{run['epochs_done']}/{run['epochs']}" if run["epochs"] else str(run["epochs_done"])
            cells = [str(run["run_id"]), run["state"], run["version"], run["preset"] or "—", epochs,
                     _fmt(run["metrics"].get("map50")), run["model"] or "—"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(RUN_ROLE, run["run_id"])
                if col == 1:
                    item.setForeground(_brush(STATE_COLORS.get(run["state"], "#000000")))
                self.table.setItem(row, col, item)
        if not selected and self.runs:
            selected = {self.runs[0]["run_id"]}
        for row, run in enumerate(self.runs):
            if run["run_id"] in selected:
                self.table.selectionModel().select(
                    self.table.model().index(row, 0),
                    self.table.selectionModel().SelectionFlag.Select | self.table.selectionModel().SelectionFlag.Rows)
        self.table.blockSignals(False)
        self._selection_changed()

    def selected_runs(self) -> list[int]:
        """The ids of the selected runs, in table order (newest first)."""
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [self.runs[r]["run_id"] for r in rows if r < len(self.runs)]

    def selected_run(self) -> Optional[int]:
        """The run whose curves are shown: the first selected one."""
        runs = self.selected_runs()
        return runs[0] if runs else None

    def settled(self) -> bool:
        """True when no training job of this page runs and the page has caught up with its end."""
        return self.job is None

    def _selection_changed(self) -> None:
        self.shown_run = None
        self._show_run()
        self._update_buttons()

    def _tick(self) -> None:
        """Follow the selected run while it is going, and list a run started elsewhere (a catalog read a second)."""
        if self.ws is None or not self.isVisible():
            return
        latest = latest_run_id(self.ws)
        if latest is not None and all(run["run_id"] != latest for run in self.runs):
            # a run another job or process started (a pipeline's train step): list it, and follow it unless a live
            # run is shown
            idle = self.shown_run is None or self.shown_run["state"] in FINAL_STATES
            self.reload(select=latest if idle else self.selected_run())
            return
        if self.shown_run is not None and self.shown_run["state"] in FINAL_STATES and self.settled():
            return
        before = self.shown_run
        self._show_run()
        now = self.shown_run
        if now is not None and (before is None or (before["state"], before["epochs_done"]) !=
                                (now["state"], now["epochs_done"])):
            self._update_row(now)
            self._update_buttons()

    def _show_run(self) -> None:
        """Curves, header and (for a failed run) error and log tail of the selected run."""
        run_id = self.selected_run()
        if run_id is None or self.ws is None:
            self.shown_run = None
            self.charts.show_epochs([])
            self.progress.show_run(None)
            no_versions = self.ws is not None and self.settings.version.count() == 0
            self.details.setText("")
            self.header.setText("" if self.ws is None else "No runs yet: create a version first (Versions page)."
                                if no_versions else "No runs yet: pick a version and a preset, then press Train.")
            self.log.hide()
            return
        try:
            run = get_run(self.ws, run_id)
        except CvopsError:
            return
        run["progress"] = run_progress(self.ws, run_id) if run["state"] == "running" else None
        self.shown_run = run
        self.charts.show_epochs(run["epochs_table"], run["epochs"])
        self.header.setText(self._header(run))
        self.details.setText(self._details(run))
        self.progress.show_run(run)
        if run["state"] == "failed" or (run["state"] == "cancelled" and run["error"]):
            self.log.setPlainText(f"{run['error'] or 'failed'}\n\n{run.get('log_tail') or ''}".rstrip())
            self.log.show()
        else:
            self.log.hide()

    def _header(self, run: dict[str, Any]) -> str:
        """The run, its state, its epoch and its time (left or taken)."""
        state = run["state"]
        total = run["epochs"] or "?"
        progress = run.get("progress")
        running = state == "running" and isinstance(run["epochs"], int) and run["epochs_done"] < run["epochs"]
        # the epoch under way, not the last one finished
        epoch = progress["epoch"] if progress else run["epochs_done"] + 1 if running else run["epochs_done"]
        first = [f"<b>Run {run['run_id']}</b>", f"<span style='color:{STATE_COLORS.get(state, '#000')}'>"
                 f"<b>{state}</b></span>", f"epoch {epoch}/{total}"]
        if state == "running" and not progress and run["started_at"] and run["epochs_done"] and run["epochs"]:
            mean = (time.time() - run["started_at"]) / run["epochs_done"]
            first.append(f"ETA ≈ {format_eta(mean * max(run['epochs'] - run['epochs_done'], 0))}")
        elif state != "running" and run["duration_s"]:
            first.append(f"took {format_eta(run['duration_s'])}")
        return " &nbsp;·&nbsp; ".join(first)

    @staticmethod
    def _details(run: dict[str, Any]) -> str:
        """What the run trains, where, and the model it made."""
        ray = (run.get("environment") or {}).get("ray")  # a run on a Ray cluster node (cvops.scaleout)
        parts = [f"{run['version']} · {run['preset'] or '—'} · {Path(str(run['architecture'])).name}",
                 f"device {run['device']}" + (f" on Ray node {ray['hostname']} ({ray['node_ip']})" if ray else "")]
        if run["model"]:
            parts.append(f"model <b>{run['model']}</b> · mAP50 {_fmt(run['metrics'].get('map50'))}")
        return " &nbsp;·&nbsp; ".join(parts)

    def _update_row(self, run: dict[str, Any]) -> None:
        """Refresh the history row of ``run`` without re-reading the whole history."""
        for row, entry in enumerate(self.runs):
            if entry["run_id"] == run["run_id"]:
                self.runs[row] = {**entry, **{k: run[k] for k in entry if k in run}}
                self.table.item(row, 1).setText(run["state"])
                self.table.item(row, 1).setForeground(_brush(STATE_COLORS.get(run["state"], "#000000")))
                self.table.item(row, 4).setText(f"{run['epochs_done']}/{run['epochs']}")
                self.table.item(row, 5).setText(_fmt(run["metrics"].get("map50")))
                self.table.item(row, 6).setText(run["model"] or "—")

    def _update_buttons(self) -> None:
        idle = self.settled()
        run = self.shown_run
        self.settings.train_button.setEnabled(self.ws is not None and idle and self.settings.version.count() > 0)
        self.cancel_button.setEnabled(run is not None and run["state"] not in FINAL_STATES)
        self.resume_button.setEnabled(idle and run is not None and run["state"] in ("cancelled", "failed"))
        self.compare_button.setEnabled(len(self.selected_runs()) >= 2)

    # -- jobs ---------------------------------------------------------------------------------------------------------
    def _start(self, title: str, fn: Callable[..., RunResult], run_id: Optional[int] = None) -> Job:
        def done(result: RunResult) -> None:
            self.ctx.notify(f"run {result.run_id} {result.state}"
                            + (f": model {result.model}" if result.model else "")
                            + (f" ({result.error})" if result.error and result.state != "finished" else ""))
            self._job_ended()

        self.job_run = run_id
        self.job = self.ctx.run_job(title, fn, done)
        for signal in (self.job.signals.failed, self.job.signals.cancelled):
            signal.connect(self._job_ended, Qt.ConnectionType.QueuedConnection)
        self._update_buttons()
        return self.job

    def _job_ended(self, *_: Any) -> None:
        self.job = None
        self.reload(select=self.job_run if self.job_run is not None else self.selected_run())
        self.ctx.changed("models", "runs")

    def _run_started(self, run_id: int) -> None:
        self.job_run = run_id
        self.reload(select=run_id)

    def train(self) -> Optional[Job]:
        """Start a run with the panel's settings: start_run and supervise in one background job."""
        if self.ws is None or not self.settled() or self.settings.version.currentData() is None:
            return None
        source, version, values = self.ws, self.settings.version.currentData(), self.settings.values()
        tuned = dict(self.tuned)
        started = self.run_started

        def job(progress: Callable[[float, str], None], cancel: Any) -> RunResult:
            progress(0.0, "preparing the dataset")
            with source.reopen() as ws2:
                run_id = start_run(ws2, version, **values, **tuned)
                started.emit(run_id)
                progress(0.0, "starting")
                return supervise(ws2, run_id, progress=progress, cancel=cancel)

        self.header.setText(f"Preparing <b>{self.settings.version.currentText()}</b> for training…")
        return self._start(f"Train {self.settings.version.currentText()} ({values['preset']})", job)

    def use_options(self, options: Optional[dict[str, Any]]) -> None:
        """Fill the settings with :func:`cvops.tuning.best_train_options`'s ``options`` (version, preset, epochs,
        image size, batch; the model, seed and hyperparameters go with the next run, as a note says); None clears
        the study's parameters."""
        if not options:
            self.tuned = {}
            self.settings.show_tuned("")
            return
        s = self.settings
        index = s.version.findText(str(options["version_ref"]))
        if index >= 0:
            s.version.setCurrentIndex(index)
        s.preset.setCurrentIndex(max(s.preset.findData(options.get("preset")), 0))
        for spin, key in ((s.epochs, "epochs"), (s.imgsz, "imgsz"), (s.batch, "batch")):
            spin.setValue(int(options.get(key) or 0))
        s.advanced.setChecked(any(options.get(k) for k in ("epochs", "imgsz", "batch")))
        self.tuned = {k: options[k] for k in ("model", "seed", "hyperparameters", "tuning")
                      if options.get(k) is not None}
        tuning = options.get("tuning") or {}
        shown = {**({"model": options["model"]} if options.get("model") else {}), **options.get("hyperparameters", {})}
        params = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
        s.show_tuned(f"<b>Best parameters of study {tuning.get('study', '?')}</b> (trial {tuning.get('trial', '?')})"
                     f"{': ' + params if params else ''}. Raise the epochs for a full training, then press Train.")
        self._update_warning()

    def _update_warning(self) -> None:
        """Show the warnings of the chosen version, preset, epochs and weights (training from scratch on photos)."""
        version = self.settings.version.currentData()
        if self.ws is None or version is None:
            self.settings.show_warnings([])
            return
        values = self.settings.values()
        try:
            if version not in self.photo_counts:  # one scan of the version's members, not one per keystroke
                self.photo_counts[version] = photo_count(self.ws, version)
            warnings = training_warnings(self.ws, version, values["preset"], values["epochs"], values["weights"],
                                         counts=self.photo_counts[version])
        except CvopsError:
            warnings = []
        self.settings.show_warnings(warnings)

    def add_weights(self, path: Optional[str] = None) -> Optional[Job]:
        """Check a .pt file (asked for when ``path`` is None) and add it to the library in a background job; the new
        entry is then selected."""
        path = path or self.settings.pick_weights_file()
        if self.ws is None or not path:
            return None
        source = self.ws

        def job(progress: Callable[[float, str], None], cancel: Any) -> Any:
            progress(0.0, f"checking {Path(path).name}")
            with source.reopen() as ws2:
                return add_weights(ws2, path)

        def done(result: Any) -> None:
            entry, added = result
            self.ctx.notify(f"weights {entry.name} {'added' if added else 'already in the library'}: "
                            f"{entry.describe()}")
            if self.ws is not None:
                self.settings.set_weights([(w.name, w.describe()) for w in list_weights(self.ws)], select=entry.name)

        return self.ctx.run_job(f"Add weights {Path(path).name}", job, done)

    def cancel(self) -> None:
        """Stop the selected run: through its job when this page supervises it, else through the cancel file."""
        run_id = self.selected_run()
        if run_id is None or self.ws is None:
            return
        if self.job is not None and self.job_run == run_id:
            self.job.cancel.cancel()
        else:
            cancel_run(self.ws, run_id)
        self.cancel_button.setEnabled(False)
        self.header.setText(self.header.text() + " &nbsp;·&nbsp; cancelling…")

    def resume(self) -> Optional[Job]:
        """Continue the selected cancelled or failed run from its last checkpoint."""
        run = self.shown_run
        if self.ws is None or run is None or not self.settled() or run["state"] not in ("cancelled", "failed"):
            return None
        source, run_id = self.ws, run["run_id"]

        def job(progress: Callable[[float, str], None], cancel: Any) -> RunResult:
            with source.reopen() as ws2:
                return resume(ws2, run_id, progress=progress, cancel=cancel)

        job_ = self._start(f"Resume run {run_id}", job, run_id)
        QTimer.singleShot(300, self._tick)
        return job_

    def compare(self) -> None:
        """Open the comparison of the selected runs."""
        from cvops_app.dialogs.compare_runs import CompareRunsDialog

        runs = self.selected_runs()
        if self.ws is None or len(runs) < 2:
            return
        dialog = CompareRunsDialog(self, self.ws, list(reversed(runs)))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.compare_dialog = dialog
