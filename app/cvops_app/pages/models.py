"""The Models page: the registered models (★ = champion) with their lineage, Promote, and Evaluate… (an evaluation
of the selected model on a split of a version in a background job, then its evaluation view).

Everything goes through the core (:mod:`cvops.models.registry`, :mod:`cvops.models.evaluation_store`); the evaluation itself
(:func:`cvops.models.evaluation.evaluate`, which imports Ultralytics) is imported and run only inside the job.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
    QListWidget, QListWidgetItem, QPushButton, QSplitter, QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout,
    QWidget,
)

from cvops.common.errors import CvopsError
from cvops.models.evaluation_store import list_evaluations
from cvops.models.registry import QUALITY_FLOOR, ModelInfo, lineage, list_models, promote
from cvops.training.history import summarize
from cvops.versions.create import list_versions
from cvops_app.jobs import Job
from cvops_app.context import AppContext
from cvops_app.icons import icon
from cvops_app.pages import Page

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

COLUMNS = ["★", "Name", "Task", "Version", "Run", "mAP50", "mAP50-95", "SHA-256"]
MAP50_95_COLUMN = COLUMNS.index("mAP50-95")
HASH_PREFIX = 12
MODEL_ROLE = Qt.ItemDataRole.UserRole
KEY_PARAMS = ("epochs", "imgsz", "batch", "patience", "optimizer", "lr0", "lrf", "momentum", "weight_decay",
              "mosaic", "close_mosaic", "mixup", "fliplr", "hsv_h", "hsv_s", "hsv_v", "amp", "seed")
SPLITS = ("val", "test", "train")


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><td style='color:#555; padding-right:12px'>{html.escape(k)}</td>"
                   f"<td>{html.escape(str(v))}</td></tr>" for k, v in pairs)


class EvaluateDialog(QDialog):
    """Pick the version and split to evaluate a model on."""

    def __init__(self, parent: QWidget, model: ModelInfo, versions: list[tuple[int, str]]) -> None:
        super().__init__(parent)
        self.setObjectName("evaluate-dialog")
        self.setWindowTitle(f"Evaluate {model.name}")
        self.version = QComboBox(self)
        for vid, name in versions:
            self.version.addItem(name + (" (trained on)" if vid == model.version_id else ""), vid)
        self.version.setCurrentIndex(max(self.version.findData(model.version_id), 0))
        self.split = QComboBox(self)
        self.split.addItems(list(SPLITS))
        form = QFormLayout()
        form.addRow("Version", self.version)
        form.addRow("Split", self.split)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Evaluate")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Predict with <b>{html.escape(model.name)}</b> on one split of a version and "
                                "score it against the version's frozen labels.", self))
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> tuple[int, str]:
        """``(version id, split)``."""
        return self.version.currentData(), self.split.currentText()


class ModelsPage(Page):
    """Registered models with lineage; promote the champion; evaluate a model."""

    name = "models"
    title = "Models"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.models: list[ModelInfo] = []
        self.jobs: list[Job] = []
        self.evaluation_dialog: Optional[QDialog] = None
        self._stale = True
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("models-table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.setFocusProxy(self.table)
        self.promote_button = QPushButton(icon("champion"), "Promote to champion", self)
        self.promote_button.setObjectName("promote")
        self.promote_button.setToolTip("The champion is the model pre-labeling and deployment offer first")
        self.promote_button.clicked.connect(self.promote_selected)
        self.evaluate_button = QPushButton(icon("evaluate"), "Evaluate…", self)
        self.evaluate_button.setObjectName("evaluate")
        self.evaluate_button.clicked.connect(self.evaluate_selected)
        self.export_button = QPushButton(icon("export-model"), "Export…", self)
        self.export_button.setObjectName("export-model")
        self.export_button.setToolTip("Export the selected model to ONNX, verify it against PyTorch, bundle and "
                                      "deploy it")
        self.export_button.clicked.connect(self.export_selected)
        self.details = QTextBrowser(self)
        self.details.setObjectName("model-details")
        self.details.setOpenLinks(False)
        self.evaluations = QListWidget(self)
        self.evaluations.setObjectName("evaluations")
        self.evaluations.setMaximumHeight(120)
        self.evaluations.itemActivated.connect(lambda item: self.open_evaluation(item.data(MODEL_ROLE)))

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.promote_button)
        buttons.addWidget(self.evaluate_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.table, 1)
        self.empty = QLabel("No models yet: a finished training run (Train page) registers one.", self)
        self.empty.setStyleSheet("color: palette(placeholder-text);")
        left_layout.addWidget(self.empty)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.details, 1)
        right_layout.addWidget(QLabel("Evaluations of this model (double-click to open):", self))
        right_layout.addWidget(self.evaluations)
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([720, 640])
        QVBoxLayout(self).addWidget(splitter)

    # -- workspace and data -------------------------------------------------------------------------------------------
    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """List the models of ``ws`` (now if shown, else when the page is next shown)."""
        super().set_workspace(ws)
        self._stale = True
        if self.isVisible() or ws is None:
            self.reload()

    def refresh(self, what: set[str]) -> None:
        """A training run or an evaluation ended: reload when shown, else on the next show."""
        if what & {"models", "evaluations"}:
            self._stale = True
            if self.isVisible():
                self.reload()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Catch up with changes made while the page was hidden."""
        super().showEvent(event)
        if self._stale:
            self.reload()

    def reload(self, select: Optional[int] = None) -> None:
        """Re-read the models; select model id ``select`` (default: the one selected, else the newest)."""
        self._stale = False
        current = self.selected()
        select = select if select is not None else (current.id if current else None)
        self.models = list_models(self.ws) if self.ws is not None else []
        bold = QFont(self.table.font())
        bold.setBold(True)
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.models))
        for row, model in enumerate(self.models):
            metrics = summarize(model.metrics)
            cells = ["★" if model.champion else "", model.name, model.task, model.version_name,
                     str(model.run_id) if model.run_id is not None else "—", _fmt(metrics["map50"]),
                     _fmt(metrics["map50_95"]) + (" ⚠ below floor" if model.below_floor else ""),
                     model.weights_sha256[:HASH_PREFIX]]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(MODEL_ROLE, model.id)
                if model.champion:
                    item.setFont(bold)
                if col == MAP50_95_COLUMN and model.below_floor:
                    item.setForeground(QBrush(QColor("#c0392b")))
                    item.setToolTip(f"mAP50-95 at training is below the quality floor {QUALITY_FLOOR}: the export "
                                    "gate fails this model unless overridden")
                if col == 0:
                    item.setForeground(QBrush(QColor("#d4ac0d")))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        self.empty.setVisible(not self.models)
        rows = [r for r, m in enumerate(self.models) if m.id == select] or [len(self.models) - 1]
        if self.models:
            self.table.selectRow(rows[0])
        self._show_selected()

    def selected(self) -> Optional[ModelInfo]:
        """The selected model."""
        rows = self.table.selectionModel().selectedRows()
        return self.models[rows[0].row()] if rows and rows[0].row() < len(self.models) else None

    def champion_row(self) -> Optional[int]:
        """The row showing ★ (for tests)."""
        return next((r for r in range(self.table.rowCount()) if self.table.item(r, 0).text() == "★"), None)

    def settled(self) -> bool:
        """True when no evaluation of this page runs (for ``--screenshot``)."""
        return all(job.done for job in self.jobs)

    def _show_selected(self) -> None:
        model = self.selected()
        self.promote_button.setEnabled(model is not None and not model.champion)
        self.evaluate_button.setEnabled(model is not None and self.settled())
        self.export_button.setEnabled(model is not None)
        self.evaluations.clear()
        if model is None or self.ws is None:
            self.details.setHtml("")
            return
        self.details.setHtml(self._details(model))
        for ev in reversed(list_evaluations(self.ws, model.id)):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(ev.created_at))
            item = QListWidgetItem(f"#{ev.id}  {ev.version_name}/{ev.split}  mAP50 {ev.map50:.3f}  "
                                   f"mAP50-95 {ev.map50_95:.3f}  ({ev.images} images, {when})", self.evaluations)
            item.setData(MODEL_ROLE, ev.id)

    def _details(self, model: ModelInfo) -> str:
        chain = lineage(self.ws, model.id) if self.ws is not None else [model]
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(model.created_at))
        title = f"<h2>{'★ ' if model.champion else ''}{html.escape(model.name)}</h2>"
        base = model.base_weights or "none (random initialisation)"
        if model.base_weights_sha256:
            base += f" · sha256 {model.base_weights_sha256[:HASH_PREFIX]}"
        parents = " ← ".join(m.name for m in chain)
        origin = [("Trained on", f"{model.version_name} · content hash {model.version_hash[:HASH_PREFIX]}"),
                  ("Run", model.run_id if model.run_id is not None else "—"), ("Created", created),
                  ("Task", model.task), ("Preset", model.preset or "—"), ("Architecture", model.architecture),
                  ("Base weights", base), ("Lineage", parents if len(chain) > 1 else "no parent model"),
                  ("Seed", model.seed), ("Weights", model.weights),
                  ("Weights sha256", model.weights_sha256)]
        classes = ", ".join(f"{c.get('index', i)}: {c['name']}" for i, c in enumerate(model.classes))
        metrics = summarize(model.metrics)
        metric_rows = [("mAP50", _fmt(metrics["map50"])), ("mAP50-95", _fmt(metrics["map50_95"])),
                       ("Precision", _fmt(metrics["precision"])), ("Recall", _fmt(metrics["recall"]))]
        per_class = "".join(f"<tr><td>{html.escape(str(c.get('name')))}</td><td>{_fmt(c.get('ap50'))}</td>"
                            f"<td>{_fmt(c.get('ap'))}</td></tr>" for c in model.metrics.get("per_class") or [])
        params = [(k, model.params[k]) for k in KEY_PARAMS if k in model.params]
        env = [(k, v) for k, v in model.environment.items() if not isinstance(v, (dict, list))]
        parts = [title, "<h3>Lineage</h3><table>", _rows(origin), "</table>",
                 f"<h3>Classes ({len(model.classes)})</h3><p>{html.escape(classes)}</p>",
                 "<h3>Metrics (final validation)</h3><table>", _rows(metric_rows), "</table>"]
        if per_class:
            parts += ["<table cellpadding='2'><tr><th align='left'>class</th><th>AP50</th><th>AP50-95</th></tr>",
                      per_class, "</table>"]
        parts += ["<h3>Key hyperparameters</h3><table>", _rows(params), "</table>",
                  "<h3>Environment</h3><table>", _rows(env), "</table>"]
        return "".join(parts)

    # -- actions ------------------------------------------------------------------------------------------------------
    def promote_selected(self) -> None:
        """Make the selected model the champion."""
        model = self.selected()
        if model is None or self.ws is None:
            return
        try:
            promoted = promote(self.ws, model.id)
        except CvopsError as exc:
            self.ctx.notify(str(exc), 15_000)
            return
        self.reload(select=promoted.id)
        self.ctx.notify(f"{promoted.name} is the champion")
        self.ctx.changed("models")

    def evaluate_selected(self) -> Optional[EvaluateDialog]:
        """Ask for version and split, then evaluate the selected model in the background."""
        model = self.selected()
        if model is None or self.ws is None or not self.settled():
            return None
        versions = [(v.id, v.name) for v in reversed(list_versions(self.ws))]
        dialog = EvaluateDialog(self, model, versions)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.evaluate(model.id, *dialog.values()))
        dialog.open()
        return dialog

    def evaluate(self, model_id: int, version_id: Optional[int], split: str) -> Job:
        """Evaluate model ``model_id`` on ``split`` of ``version_id`` in a job; open the result when done."""
        source = self.ws

        def job(progress: Callable[[float, str], None], cancel: Any) -> int:
            from cvops.models.evaluation import evaluate

            with source.reopen() as ws2:
                return evaluate(ws2, model_id, version_id, split=split, progress=progress, cancel=cancel).id

        def done(evaluation_id: int) -> None:
            self.ctx.changed("evaluations")
            self._show_selected()
            self.open_evaluation(evaluation_id)

        job_ = self.ctx.run_job(f"Evaluate model {model_id} on {split}", job, done)
        self.jobs = [j for j in self.jobs if not j.done] + [job_]
        for signal in (job_.signals.finished, job_.signals.failed, job_.signals.cancelled):
            signal.connect(lambda *_: self._show_selected(), Qt.ConnectionType.QueuedConnection)
        self.evaluate_button.setEnabled(False)
        return job_

    def export_selected(self) -> None:
        """Ask for the export wizard on the selected model."""
        model = self.selected()
        if model is not None and self.ws is not None:
            self.ctx.export_model(model.id)

    def open_evaluation(self, evaluation_id: int) -> Optional[QDialog]:
        """Show a stored evaluation."""
        if self.ws is None or evaluation_id is None:
            return None
        from cvops_app.pages.evaluation import EvaluationDialog

        dialog = EvaluationDialog(self.ctx, self.ws, int(evaluation_id), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.evaluation_dialog = dialog
        return dialog
