"""Comparing training runs (:func:`cvops.training.history.compare_runs`): overlaid curves (one color per run), per-class
AP50 bars grouped per run, the headline metrics with deltas, and the hyperparameters that differ."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout, QHeaderView, QLabel,
    QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from cvops.training.history import compare_runs
from cvops_app.charts import (
    LOSS_CURVES, MAP_CURVES, PR_CURVES, LineChart, color, grouped_bars, legend_below, series,
)
from cvops_app.plot_style import ThemedPlot

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

CURVE_CHOICES = MAP_CURVES + PR_CURVES + LOSS_CURVES
METRIC_LABELS = {"map50": "mAP50", "map50_95": "mAP50-95", "precision": "precision", "recall": "recall"}


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _ap(value: Any, signed: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _table(parent: QWidget, headers: Sequence[str], rows: Sequence[Sequence[Any]], name: str) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(_text(value)))
    return table


class CompareRunsDialog(QDialog):
    """Two or more runs side by side; ``run_ids`` oldest first (deltas are against the first)."""

    def __init__(self, parent: QWidget, ws: "Workspace", run_ids: Sequence[int]) -> None:
        super().__init__(parent)
        self.setObjectName("compare-runs-dialog")
        self.setWindowTitle("Compare runs " + ", ".join(str(r) for r in run_ids))
        self.data = compare_runs(ws, list(run_ids))
        self.run_ids = [r["run_id"] for r in self.data["runs"]]
        self.names = [f"run {r['run_id']}" + (f" ({r['model']})" if r["model"] else "") for r in self.data["runs"]]
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._curves_tab(), "Curves")
        self.tabs.addTab(self._per_class_tab(), "Per-class AP50")
        self.tabs.addTab(self._settings_tab(), "Hyperparameters")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self._metrics_table())
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.resize(1200, 780)

    def _metrics_table(self) -> QTableWidget:
        rows = []
        for n, (run, name) in enumerate(zip(self.data["runs"], self.names)):
            row: list[Any] = [name, run["state"], run["version"], run["preset"], run["epochs_done"]]
            for key in METRIC_LABELS:
                value, delta = self.data["metrics"][key][n], self.data["metric_deltas"][key][n]
                shown = f"{value:.3f}" if isinstance(value, (int, float)) else "—"
                row.append(shown + (f" ({delta:+.3f})" if n and isinstance(delta, (int, float)) else ""))
            rows.append(row)
        table = _table(self, ["Run", "State", "Version", "Preset", "Epochs", *METRIC_LABELS.values()], rows,
                       "compare-metrics")
        for r in range(len(rows)):
            table.item(r, 0).setForeground(pg.mkColor(color(r)))
        table.verticalHeader().setDefaultSectionSize(24)
        height = table.horizontalHeader().sizeHint().height() + 24 * len(rows)
        table.setFixedHeight(height + 2 * table.frameWidth() + 2)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return table

    def _curves_tab(self) -> QWidget:
        tab = QWidget(self)
        grid = QGridLayout(tab)
        self.charts: list[LineChart] = []
        self.pickers: list[QComboBox] = []
        defaults = ["metrics/mAP50(B)", "metrics/mAP50-95(B)", "train/box_loss", "metrics/recall(B)"]
        for n, default in enumerate(defaults):
            picker = QComboBox(tab)
            for key, label in CURVE_CHOICES:
                picker.addItem(label, key)
            picker.setCurrentIndex(picker.findData(default))
            chart = LineChart("", parent=tab)
            picker.currentIndexChanged.connect(lambda _, c=chart, p=picker: self._plot(c, p.currentData()))
            self._plot(chart, default)
            cell = QWidget(tab)
            cell_layout = QVBoxLayout(cell)
            cell_layout.setContentsMargins(0, 0, 0, 0)
            row = QHBoxLayout()
            row.addWidget(QLabel("Curve", cell))
            row.addWidget(picker, 1)
            cell_layout.addLayout(row)
            cell_layout.addWidget(chart, 1)
            grid.addWidget(cell, n // 2, n % 2)
            self.charts.append(chart)
            self.pickers.append(picker)
        return tab

    def _plot(self, chart: LineChart, key: str) -> None:
        chart.clear_curves()
        chart.setTitle(dict(CURVE_CHOICES).get(key, key), color="#333", size="11pt")
        if key.startswith("metrics/"):  # precision, recall and mAP live in 0..1
            chart.enableAutoRange(y=False)
            chart.setYRange(0.0, 1.0, padding=0.02)
        else:
            chart.enableAutoRange(y=True)
        for n, (run_id, name) in enumerate(zip(self.run_ids, self.names)):
            chart.set_curve(name, *series(self.data["curves"][str(run_id)], key), color(n), symbols=True)

    def _per_class_tab(self) -> QWidget:
        tab = QWidget(self)
        layout = QVBoxLayout(tab)
        per_class = self.data["per_class_ap"]
        self.bars = ThemedPlot(tab)
        self.bars.setObjectName("per-class-bars")
        self.bars.setMenuEnabled(False)
        self.bars.setMouseEnabled(x=False, y=False)
        legend_below(self.bars, columns=4)
        self.bars.showGrid(y=True, alpha=0.3)
        self.bars.setLabel("left", "AP50")
        self.bars.setYRange(0, 1.05, padding=0)
        classes = [c["class"] for c in per_class]
        grouped_bars(self.bars, classes, [(name, [c["ap50"][n] for c in per_class])
                                          for n, name in enumerate(self.names)])
        rows = [[c["class"], *(_ap(v) for v in c["ap50"]), *(_ap(v, True) for v in c["delta_ap50"][1:])]
                for c in per_class]
        headers = ["Class", *(f"AP50 {n}" for n in self.names), *(f"Δ {n}" for n in self.names[1:])]
        if not classes:
            layout.addWidget(QLabel("No per-class AP recorded (runs that did not finish have none).", tab))
        layout.addWidget(self.bars, 2)
        layout.addWidget(_table(tab, headers, rows, "per-class-table"), 1)
        return tab

    def _settings_tab(self) -> QWidget:
        diff = self.data["hyperparameters"]
        rows = [[key, *values] for key, values in diff.items()]
        tab = QWidget(self)
        layout = QVBoxLayout(tab)
        note = "Only the settings that differ are listed." if rows else "The runs used the same settings."
        layout.addWidget(QLabel(note, tab))
        self.settings_table = _table(tab, ["Setting", *self.names], rows, "hyperparameter-diff")
        self.settings_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.settings_table, 1)
        return tab

    def differing_keys(self) -> list[str]:
        """The hyperparameters listed as different (for tests)."""
        return [self.settings_table.item(r, 0).text() for r in range(self.settings_table.rowCount())]

