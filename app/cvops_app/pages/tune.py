"""The Tune page: hyperparameter tuning studies (:mod:`cvops.tuning`, docs/tuning.md).

Left, the workspace's studies (:func:`~cvops.tuning.list_studies`) and the "New study" form
(:mod:`cvops_app.pages.tune_form`): version, trials, time budget, epochs per trial, metric, pruner, search space file,
and where the trials run (this computer, or a Ray cluster at an address when Ray is installed). **Start study** runs
:func:`~cvops.tuning.run_study` as a background job (progress and Cancel in the status bar; **Stop** here too): a
stopped study keeps its finished trials and **Resume** continues it. Right, the selected study: its trials (state in
colour, value, epochs, duration, parameters), optimization history, parameter importances and parallel coordinates
(:mod:`cvops_app.pages.tune_charts`), re-read from :func:`~cvops.tuning.show_study` every second while a study
runs. **Register the best trial** registers the best trial's model; **Train with the best parameters** fills the
Train page's settings with them (``ctx.train_requested``), and the user presses Train.
"""

from __future__ import annotations

import contextlib
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QFrame, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QPushButton, QScrollArea, QSizePolicy,
    QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from cvops.common.errors import CvopsError
from cvops.tuning import best_train_options, list_studies, load_space, register_best, run_study, show_study
from cvops.training.runner import format_eta
from cvops.versions.create import list_versions
from cvops_app.context import AppContext
from cvops_app.icons import set_icon
from cvops_app.jobs import Job
from cvops_app.pages import Page
from cvops_app.pages.train_progress import NoVersionsNote
from cvops_app.pages.tune_charts import HistoryChart, ImportanceChart, ParallelChart
from cvops_app.pages.tune_form import NewStudyForm

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

REFRESH_MS = 1000
TRIAL_COLORS = {"running": "#2e86c1", "complete": "#1e8449", "pruned": "#b9770e", "fail": "#c0392b",
                "waiting": "#7f8c8d"}
TRIAL_STATES = {"fail": "failed"}  # Optuna's word -> the page's
STUDY_COLORS = {"running": "#2e86c1", "finished": "#1e8449", "timeout": "#1e8449", "interrupted": "#b9770e",
                "failed": "#c0392b"}
STUDY_COLUMNS = ["Study", "State", "Trials", "Best"]
TRIAL_COLUMNS = ["#", "State", "Value", "Epochs", "Duration", "Parameters"]
NO_STUDIES = ("<b>No studies yet.</b> A study trains the version many times, each <i>trial</i> with parameters "
              "drawn from a search space (learning rate, augmentations, image size, model size), and stops clearly "
              "bad trials early. Fill in the New study form and press Start study; the best trial becomes a model.")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "—"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _item(text: str, color: Optional[str] = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if color:
        item.setForeground(QBrush(QColor(color)))
    return item


def _table(columns: list[str], name: str, parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(columns), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.setWordWrap(False)  # one line a row: a long parameter list is elided (its tooltip has it whole)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


@contextlib.contextmanager
def _cluster(address: Optional[str]) -> Iterator[None]:
    """Connected to the Ray cluster at ``address`` for the study (one connection for every trial), or nothing."""
    if address is None:
        yield
        return
    from cvops.scaleout.cluster import connect

    with connect(address):
        yield


def make_executor(address: Optional[str], gpus: float) -> Any:
    """The study's trial executor: None (the core's local one) without an address, else a Ray executor."""
    if address is None:
        return None
    from cvops.scaleout.training import RayExecutor
    from cvops.tuning import LocalExecutor

    return RayExecutor(address, LocalExecutor(), gpus=gpus)


class TunePage(Page):
    """Start, follow, stop and resume tuning studies; register the best trial or train with its parameters."""

    name = "tune"
    title = "Tune"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.studies: list[dict[str, Any]] = []
        self.study: Optional[dict[str, Any]] = None  # show_study's dict of the selected study
        self.job: Optional[Job] = None
        self.job_study: Optional[str] = None
        self.make_executor: Callable[[Optional[str], float], Any] = make_executor  # tests give a fake

        self.studies_table = _table(STUDY_COLUMNS, "studies-table", self)
        self.studies_table.itemSelectionChanged.connect(self._selection_changed)
        self.studies_table.setMinimumHeight(110)
        self.form = NewStudyForm(self)
        self.form.start_button.clicked.connect(lambda: self.start())
        self.form.version.currentIndexChanged.connect(lambda _: self._suggest_name())
        self.no_versions = NoVersionsNote(lambda: self.ctx.show_page("versions"), self)
        form_box = QWidget(self)
        form_layout = QVBoxLayout(form_box)
        form_layout.setContentsMargins(0, 4, 8, 0)
        form_layout.addWidget(self.no_versions)
        form_layout.addWidget(self.form)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(form_box)
        left = QSplitter(Qt.Orientation.Vertical, self)
        studies_box = QWidget(left)
        studies_layout = QVBoxLayout(studies_box)
        studies_layout.setContentsMargins(0, 0, 0, 0)
        studies_layout.addWidget(QLabel("<b>Studies</b>", studies_box))
        studies_layout.addWidget(self.studies_table)
        left.addWidget(studies_box)
        left.addWidget(scroll)
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 3)
        left.setMinimumWidth(300)

        self.header = QLabel(self)
        self.header.setObjectName("study-header")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.stop_button = self._button("Stop", "stop", "study-stop", self.stop,
                                        "Stop the running trial; the study keeps its finished trials (Resume)")
        self.resume_button = self._button("Resume", "resume", "study-resume", lambda: self.resume(),
                                          "Continue the study up to its trials (finished trials are not repeated)")
        self.register_button = self._button("Register the best trial", "champion", "study-register",
                                            lambda: self.register(), "Register the best trial's model (once)")
        self.train_button = self._button("Train with the best parameters", "start", "study-train-best",
                                         lambda: self.train_with_best(),
                                         "Fill the Train page's settings with the best trial's parameters")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.stop_button, self.resume_button, self.register_button, self.train_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.trials_table = _table(TRIAL_COLUMNS, "trials-table", self)
        self.trials_table.setMinimumHeight(90)
        self.history = HistoryChart(self)
        self.importance = ImportanceChart(self)
        self.parallel = ParallelChart(self)
        charts = QWidget(self)
        grid = QGridLayout(charts)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.history, 0, 0)
        grid.addWidget(self.importance, 1, 0)
        grid.addWidget(self.parallel, 0, 1, 2, 1)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.trials_table)
        split.addWidget(charts)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        right_layout.addWidget(self.header)
        right_layout.addLayout(buttons)
        right_layout.addWidget(split, 1)
        main = QSplitter(Qt.Orientation.Horizontal, self)
        main.addWidget(left)
        main.addWidget(right)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 1)
        main.setSizes([340, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(main)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        self._update_buttons()

    def _button(self, text: str, icon_name: str, name: str, slot: Callable[[], Any], tip: str) -> QPushButton:
        button = QPushButton(text, self)
        set_icon(button, icon_name)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- following the workspace --------------------------------------------------------------------------------------
    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """Show the studies of ``ws``."""
        super().set_workspace(ws)
        self.job, self.job_study, self.study = None, None, None
        self.reload()

    def refresh(self, what: set[str]) -> None:
        """Versions, runs or models changed elsewhere (a study of the CLI): re-read when shown."""
        if what & {"runs", "versions", "models"} and self.isVisible() and self.job is None:
            self.reload(select=self.selected_study())

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Re-read when the page comes into view; follow a running study while shown."""
        super().showEvent(event)
        self.reload(select=self.selected_study())
        self.timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt)
        """Nothing is polled while the page is hidden."""
        super().hideEvent(event)
        self.timer.stop()

    def settled(self) -> bool:
        """True when no study of this page runs."""
        return self.job is None

    def reload(self, select: Optional[str] = None) -> None:
        """Re-read versions and studies; select study ``select`` (default: the current one, else the newest)."""
        if self.ws is None:
            self.form.set_versions([])
            self.studies = []
        else:
            self.form.set_versions([(v.id, v.name) for v in reversed(list_versions(self.ws))])
            self.studies = list_studies(self.ws)
        has_versions = self.form.version.count() > 0
        self.no_versions.setVisible(self.ws is not None and not has_versions)
        self.form.setVisible(has_versions or self.ws is None)
        select = select or self.selected_study() or (self.studies[0]["name"] if self.studies else None)
        table = self.studies_table
        table.blockSignals(True)
        table.setRowCount(len(self.studies))
        for row, s in enumerate(self.studies):
            best = f"{_fmt(s['best_value'])} (#{s['best_trial']})" if s["best_trial"] is not None else "—"
            cells = [(s["name"], None), (s["state"], STUDY_COLORS.get(s["state"])),
                     (f"{s['finished']}/{s['trials']}", None), (best, None)]
            for col, (text, color) in enumerate(cells):
                table.setItem(row, col, _item(text, color))
        table.clearSelection()
        for row, s in enumerate(self.studies):
            if s["name"] == select:
                table.selectRow(row)
        table.blockSignals(False)
        self._suggest_name()
        self._show_study()

    def _suggest_name(self) -> None:
        """The form's default study name: ``<version>-tune-<n>``, the first free ``n`` (as the core names it)."""
        version = self.form.version.currentText()
        taken = {s["name"] for s in self.studies}
        n = 1
        while f"{version}-tune-{n}" in taken:
            n += 1
        self.form.name.setPlaceholderText(f"{version}-tune-{n}" if version else "")

    def selected_study(self) -> Optional[str]:
        """The name of the selected study, or None."""
        rows = self.studies_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.studies):
            return None
        return self.studies[rows[0].row()]["name"]

    def _selection_changed(self) -> None:
        self._show_study()

    def _tick(self) -> None:
        """While a study runs (this page's, or the selected one in another process: ``cvops tune``): its trials,
        charts and the studies' states, once a second."""
        if self.ws is None or not self.isVisible():
            return
        if self.job is None and (self.study is None or self.study["state"] != "running"):
            return
        self.reload(select=self.selected_study())

    def _show_study(self) -> None:
        """The selected study's header, trials table and charts."""
        name = self.selected_study()
        study = None
        if name is not None and self.ws is not None:
            try:
                study = show_study(self.ws, name)
            except CvopsError as exc:
                self.header.setText(f"<b>{name}</b>: {html.escape(str(exc))}")
        self.study = study
        if study is None and name is None:
            self.header.setText(NO_STUDIES if self.ws is not None and not self.studies else "")
        elif study is not None:
            self.header.setText(self._header(study))
        self._fill_trials(study["trials"] if study else [])
        for chart in (self.history, self.importance, self.parallel):
            chart.show_study(study)
        self._update_buttons()

    def _header(self, s: dict[str, Any]) -> str:
        state = s["state"]
        running = self.job is not None and self.job_study == s["name"]
        first = [f"<b>{s['name']}</b>", f"<span style='color:{STUDY_COLORS.get(state, '#000')}'><b>{state}</b></span>",
                 f"version {s['version']}", f"{s['finished']}/{s['trials_target']} trials",
                 f"{s['counts']['pruned']} pruned", f"{s['metric']} ({s['direction']})", f"pruner {s['pruner']}",
                 f"{s['epochs']} epochs/trial"]
        if running:
            first.append("running…")
        best = s["best"]
        second = (f"best: trial {best['number']}, {_fmt(best['value'])}"
                  + (f", model <b>{s['best_model'] or best.get('model')}</b>" if s["best_model"] or best.get("model")
                     else "") + f" &nbsp;·&nbsp; {html.escape(_params_text(best['params']))}") if best \
            else "no complete trial yet"
        if s.get("error"):
            second += f"<br><span style='color:#c0392b'>{html.escape(s['error'])}</span>"
        return " &nbsp;·&nbsp; ".join(first) + "<br>" + second

    def _fill_trials(self, trials: list[dict[str, Any]]) -> None:
        table = self.trials_table
        table.setRowCount(len(trials))
        for row, t in enumerate(reversed(trials)):  # the newest on top
            state = t["state"]
            duration = format_eta(t["duration_s"]) if t["duration_s"] is not None else "—"
            cells = [(str(t["number"]), None), (TRIAL_STATES.get(state, state), TRIAL_COLORS.get(state)),
                     (_fmt(t["value"]), None), (str(t["epochs"] or 0), None), (duration, None),
                     (_params_text(t["params"]), None)]
            for col, (text, color) in enumerate(cells):
                item = _item(text, color)
                if col == 5:
                    item.setToolTip(text + (f"\n{t['error']}" if t.get("error") else ""))
                table.setItem(row, col, item)

    def _update_buttons(self) -> None:
        s = self.study
        idle = self.ws is not None and self.job is None
        self.form.start_button.setEnabled(idle and self.form.version.count() > 0)
        self.stop_button.setEnabled(self.job is not None and not self.job.cancel.cancelled)
        self.resume_button.setEnabled(idle and s is not None and s["state"] != "finished")
        has_best = s is not None and s["best"] is not None
        self.register_button.setEnabled(self.ws is not None and has_best and s["best"].get("run_id") is not None)
        self.train_button.setEnabled(self.ws is not None and has_best)

    # -- jobs ---------------------------------------------------------------------------------------------------------
    def _run(self, title: str, name: str, kwargs: dict[str, Any], address: Optional[str], gpus: float) -> Job:
        """Run (or resume) study ``name`` with ``run_study(**kwargs)`` in a background job."""
        source = self.ws
        assert source is not None
        make = self.make_executor

        def job(progress: Callable[[float, str], None], cancel: Any) -> dict[str, Any]:
            progress(0.0, f"study {name}: starting")
            executor = make(address, gpus)  # here: a Ray that fails to load fails the job, with its message
            with source.reopen() as ws2, _cluster(address):
                return run_study(ws2, progress=progress, cancel=cancel, executor=executor, study=name, **kwargs)

        def done(result: dict[str, Any]) -> None:
            self.ctx.notify(f"study {name} {result['state']}: {result['finished']}/{result['trials_target']} trials"
                            + (f", best {_fmt(result['best']['value'])}" if result["best"] else "")
                            + (f", model {result['best_model']}" if result["best_model"] else ""))

        self.job, self.job_study = self.ctx.run_job(title, job, done), name
        for signal in (self.job.signals.finished, self.job.signals.failed, self.job.signals.cancelled):
            signal.connect(self._job_ended, Qt.ConnectionType.QueuedConnection)
        self._update_buttons()
        QTimer.singleShot(300, self._tick)
        return self.job

    def _job_ended(self, *_: Any) -> None:
        name, self.job, self.job_study = self.job_study, None, None
        self.reload(select=name)
        self.ctx.changed("runs", "models")

    def start(self) -> Optional[Job]:
        """Start a new study (or resume the one of the form's name) with the form's settings."""
        if self.ws is None or self.job is not None or self.form.version.currentData() is None:
            return None
        values = self.form.values()
        space = None
        if self.form.space.text().strip():
            try:
                space = load_space(Path(self.form.space.text().strip()))  # validated before anything runs
            except CvopsError as exc:
                self.form.show_error(str(exc))
                return None
        address = self.form.ray_address()
        if self.form.ray.isChecked() and address is None:
            self.form.show_error("give the Ray cluster's address (host:port), or run on this computer")
            return None
        self.form.show_error("")
        name = values.pop("study")
        kwargs = {**values, "space": space}
        where = f" on Ray at {address}" if address else ""
        job = self._run(f"Tune {self.form.version.currentText()}: {name}{where}", name, kwargs, address,
                        self.form.gpus.value())
        self.reload(select=name)
        return job

    def resume(self) -> Optional[Job]:
        """Continue the selected study up to its trials (its own settings; where it runs: the form's choice)."""
        s = self.study
        if self.ws is None or self.job is not None or s is None or s["state"] == "finished":
            return None
        kwargs = {"version_ref": s["version"], "trials": int(s["trials_target"]), "metric": None, "pruner": None}
        address = self.form.ray_address()
        return self._run(f"Resume study {s['name']}", s["name"], kwargs, address, self.form.gpus.value())

    def stop(self) -> None:
        """Stop the running study: its current trial's training stops, finished trials stay (Resume continues)."""
        if self.job is not None:
            self.job.cancel.cancel()
            self.header.setText(self.header.text() + " &nbsp;·&nbsp; stopping…")
        self._update_buttons()

    def register(self) -> Optional[dict[str, Any]]:
        """Register the selected study's best trial's model (once); says which model it is."""
        s = self.study
        if self.ws is None or s is None or s["best"] is None:
            return None
        before = s["best_model"]
        model = self.ctx.edit(lambda: register_best(self.ws, s["name"]), "models")
        if model is not None:
            self.ctx.notify(f"the best trial of {s['name']} is already registered: model {model['name']}"
                            if before == model["name"] else
                            f"registered model {model['name']} from trial {s['best']['number']} of {s['name']}")
            self.reload(select=s["name"])
        return model

    def train_with_best(self) -> Optional[dict[str, Any]]:
        """Fill the Train page with the best trial's parameters and show it (the user presses Train)."""
        s = self.study
        if self.ws is None or s is None or s["best"] is None:
            return None
        try:
            options = best_train_options(self.ws, s["name"])
        except CvopsError as exc:
            self.ctx.notify(str(exc))
            return None
        self.ctx.train_requested.emit(options)
        return options
