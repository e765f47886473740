"""The Tune page's "New study" form: version, name, trials, time budget, epochs per trial, metric, pruner, search space
file, and where the trials run (this computer, or a Ray cluster at an address).

The Ray choice is greyed, with the reason, when Ray is not installed (or this build has no Ray scale-out):
:func:`ray_missing`. Nothing heavy is imported to tell: ``importlib.util.find_spec``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
    QRadioButton, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from cvops_app.icons import set_icon

RAY_MISSING = "Ray is not installed: pip install 'cvops-workbench[ray]'"  # as cvops.scaleout.cluster says it
RAY_NOT_BUILT = "this build of the workbench has no Ray scale-out (cvops.scaleout.training)"
METRICS = (("map50_95", "mAP50-95"), ("map50", "mAP50"), ("precision", "precision"), ("recall", "recall"),
           ("map50_95_mask", "mask mAP50-95"), ("map50_mask", "mask mAP50"), ("val/box_loss", "val box loss"))
PRUNERS = (("median", "median: stop trials below the median"), ("hyperband", "hyperband: more aggressive"),
           ("none", "none: every trial runs all its epochs"))


def ray_missing() -> Optional[str]:
    """Why trials cannot run on a Ray cluster from here (None: they can)."""
    try:
        if importlib.util.find_spec("ray") is None:
            return RAY_MISSING
        if importlib.util.find_spec("cvops.scaleout.training") is None:
            return RAY_NOT_BUILT
    except (ImportError, ValueError):
        return RAY_MISSING
    return None


class NewStudyForm(QWidget):
    """What to tune and how; :meth:`values` gives :func:`cvops.tuning.run_study`'s keyword arguments."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.version = QComboBox(self)
        self.version.setObjectName("tune-version")
        self.name = QLineEdit(self)
        self.name.setObjectName("tune-name")
        self.name.setToolTip("The study's name (letters, digits, '.', '_', '-'); a study of that name is resumed")
        self.trials = self._spin(1, 10_000, 20, "tune-trials", "Finished trials (complete or pruned) in total")
        self.budget = self._spin(0, 100_000, 0, "tune-budget", "No trial starts after this many minutes")
        self.budget.setSpecialValueText("none")
        self.budget.setSuffix(" min")
        self.epochs = self._spin(0, 10_000, 10, "tune-epochs", "Epochs each trial trains; 'preset' keeps the preset's")
        self.epochs.setSpecialValueText("preset")
        self.metric = QComboBox(self)
        self.metric.setObjectName("tune-metric")
        for key, text in METRICS:
            self.metric.addItem(text, key)
        self.metric.setToolTip("What to optimize; losses are minimized, the rest maximized")
        self.pruner = QComboBox(self)
        self.pruner.setObjectName("tune-pruner")
        for key, text in PRUNERS:
            self.pruner.addItem(text, key)
        self.space = QLineEdit(self)
        self.space.setObjectName("tune-space")
        self.space.setPlaceholderText("built-in default space")
        self.space.setToolTip("A search space file (YAML or JSON; cvops tune --print-space prints the default)")
        self.space_button = QToolButton(self)
        self.space_button.setText("Browse…")
        set_icon(self.space_button, "browse")
        self.space_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.space_button.setToolTip("Choose a search space file")
        self.space_button.clicked.connect(self.pick_space)
        space_row = QHBoxLayout()
        space_row.setContentsMargins(0, 0, 0, 0)
        space_row.addWidget(self.space, 1)
        space_row.addWidget(self.space_button)

        self.local = QRadioButton("This computer", self)
        self.local.setObjectName("tune-local")
        self.local.setChecked(True)
        self.ray = QRadioButton("Ray cluster at", self)
        self.ray.setObjectName("tune-ray")
        self.where = QButtonGroup(self)
        self.where.addButton(self.local)
        self.where.addButton(self.ray)
        self.address = QLineEdit(self)
        self.address.setObjectName("tune-ray-address")
        self.address.setPlaceholderText("head-node:6379 or ray://host:10001")
        self.gpus = QDoubleSpinBox(self)
        self.gpus.setObjectName("tune-gpus")
        self.gpus.setRange(0.0, 64.0)
        self.gpus.setSingleStep(0.5)
        self.gpus.setDecimals(1)
        self.gpus.setPrefix("GPUs per trial ")
        self.ray_hint = QLabel(self)
        self.ray_hint.setObjectName("tune-ray-hint")
        self.ray_hint.setWordWrap(True)
        self.ray_hint.setStyleSheet("color: palette(placeholder-text); font-size: 9pt;")
        self.ray.toggled.connect(lambda _: self._update_ray())
        ray_row = QHBoxLayout()
        ray_row.setContentsMargins(0, 0, 0, 0)
        ray_row.addWidget(self.ray)
        ray_row.addWidget(self.address, 1)

        self.error = QLabel(self)
        self.error.setObjectName("tune-form-error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.hide()
        self.start_button = QPushButton("Start study", self)
        self.start_button.setObjectName("tune-start")
        set_icon(self.start_button, "start")
        self.start_button.setMinimumHeight(36)
        font = QFont(self.start_button.font())
        font.setBold(True)
        self.start_button.setFont(font)

        form = QFormLayout()
        form.addRow("Version", self.version)
        form.addRow("Name", self.name)
        form.addRow("Trials", self.trials)
        form.addRow("Time budget", self.budget)
        form.addRow("Epochs / trial", self.epochs)
        form.addRow("Metric", self.metric)
        form.addRow("Pruner", self.pruner)
        form.addRow("Search space", space_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>New study</b>", self))
        layout.addLayout(form)
        layout.addWidget(QLabel("Run trials on:", self))
        layout.addWidget(self.local)
        layout.addLayout(ray_row)
        layout.addWidget(self.gpus)
        layout.addWidget(self.ray_hint)
        layout.addWidget(self.error)
        layout.addWidget(self.start_button)
        layout.addStretch(1)
        self.ray_problem = ray_missing()
        self._update_ray()

    def _spin(self, low: int, high: int, value: int, name: str, tip: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setObjectName(name)
        spin.setToolTip(tip)
        return spin

    def _update_ray(self) -> None:
        """Grey the Ray choice (with why) when Ray cannot be used; the address only while Ray is chosen."""
        usable = self.ray_problem is None
        self.ray.setEnabled(usable)
        if not usable and self.ray.isChecked():
            self.local.setChecked(True)
        chosen = usable and self.ray.isChecked()
        self.address.setEnabled(chosen)
        self.gpus.setEnabled(chosen)
        self.ray_hint.setText(self.ray_problem or "Trials train on the cluster's nodes; the study and its results stay "
                              "in this workspace (docs/scale-out.md).")

    def pick_space(self) -> None:
        """Ask for a search space file."""
        path, _ = QFileDialog.getOpenFileName(self, "Search space file", str(Path.home()),
                                              "Search space (*.yaml *.yml *.json);;All files (*)")
        if path:
            self.space.setText(path)

    def set_versions(self, versions: list[tuple[int, str]]) -> None:
        """Fill the version combo (newest first), keeping the current choice when it still exists."""
        current = self.version.currentData()
        self.version.blockSignals(True)
        self.version.clear()
        for vid, name in versions:
            self.version.addItem(name, vid)
        index = self.version.findData(current)
        self.version.setCurrentIndex(index if index >= 0 else 0)
        self.version.blockSignals(False)
        self.version.currentIndexChanged.emit(self.version.currentIndex())

    def ray_address(self) -> Optional[str]:
        """The Ray cluster's address when the trials should run there, else None."""
        if self.ray_problem is None and self.ray.isChecked():
            return self.address.text().strip() or None
        return None

    def values(self) -> dict[str, Any]:
        """:func:`cvops.tuning.run_study`'s keyword arguments (besides the workspace and the space): ``version_ref``,
        ``trials``, ``timeout_s``, ``metric``, ``pruner``, ``epochs`` and ``study``."""
        return {"version_ref": self.version.currentData(), "trials": self.trials.value(),
                "timeout_s": self.budget.value() * 60.0 or None, "metric": self.metric.currentData(),
                "pruner": self.pruner.currentData(), "epochs": self.epochs.value() or None,
                "study": self.name.text().strip() or self.name.placeholderText() or None}

    def show_error(self, text: str) -> None:
        """Say what is wrong with the form (empty: hidden)."""
        self.error.setText(text)
        self.error.setVisible(bool(text))
