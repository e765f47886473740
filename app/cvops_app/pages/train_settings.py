"""The Train page's settings panel: version, preset (with its notes), advanced overrides, pretrained weights from the
workspace's library, the scratch-training warning and the Train button."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QToolButton, QVBoxLayout,
    QWidget,
)

from cvops.training import PRESETS
from cvops_app.icons import set_icon

WEIGHTS_HELP = ("Pretrained weights start the model from features learned on other images: it converges faster and "
                "is more accurate on small datasets. Nothing is downloaded — Add weights… copies a local .pt file "
                "(e.g. yolo11n.pt, or a model of another workspace) into this workspace's library. Without weights "
                "the model starts from random initialisation.")
NO_WEIGHTS = "none: random initialisation"


class SettingsPanel(QWidget):
    """What to train: version, preset (with its notes), advanced overrides, pretrained weights, and the Train button."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.version = QComboBox(self)
        self.version.setObjectName("train-version")
        self.preset = QComboBox(self)
        self.preset.setObjectName("train-preset")
        for name in PRESETS:
            self.preset.addItem(name, name)
        self.preset_notes = QLabel(self)
        self.preset_notes.setObjectName("preset-notes")
        self.preset_notes.setWordWrap(True)
        self.preset_notes.setStyleSheet("color: palette(placeholder-text);")
        self.preset.currentIndexChanged.connect(lambda _: self._show_preset())

        self.advanced = QToolButton(self)  # a disclosure button: the overrides apply only while it is open
        self.advanced.setObjectName("train-advanced")
        self.advanced.setText("Advanced settings")
        self.advanced.setCheckable(True)
        self.advanced.setAutoRaise(True)
        self.advanced.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced.setToolTip("Open to override the preset's epochs, image size and batch, or choose the device "
                                 "and the task")
        self.epochs = self._spin(0, 10_000, 1, "epochs")
        self.imgsz = self._spin(0, 4096, 32, "image size")
        self.batch = self._spin(0, 1024, 1, "batch")
        self.device = QComboBox(self)
        self.device.setObjectName("train-device")
        self.device.addItem("auto (GPU if present)", "auto")
        self.device.addItem("cpu", "cpu")
        self.task = QComboBox(self)  # as `cvops train --task`: a choice, not an accident of the shapes
        self.task.setObjectName("train-task")
        self.task.addItem("auto (what the version's shapes support)", None)
        self.task.addItem("detect: boxes (a polygon trains as its box)", "detect")
        self.task.addItem("segment: outlines (needs polygons)", "segment")
        inner = QWidget(self)
        adv_form = QFormLayout(inner)
        adv_form.setContentsMargins(18, 0, 0, 0)
        adv_form.addRow("Epochs", self.epochs)
        adv_form.addRow("Image size", self.imgsz)
        adv_form.addRow("Batch", self.batch)
        adv_form.addRow("Device", self.device)
        adv_form.addRow("Task", self.task)
        inner.setVisible(False)
        self.advanced.toggled.connect(inner.setVisible)
        self.advanced.toggled.connect(lambda on: self.advanced.setArrowType(
            Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow))

        self.weights = QComboBox(self)
        self.weights.setObjectName("train-weights")
        self.weights.setToolTip("Pretrained weights from the workspace's library (cvops weights list)")
        self.weights_button = QToolButton(self)
        self.weights_button.setObjectName("add-weights")
        self.weights_button.setText("Add weights…")
        self.weights_button.setToolTip("Check a local .pt file (Ultralytics checkpoint) and add it to the library")
        weights_help = QLabel(WEIGHTS_HELP, self)
        weights_help.setWordWrap(True)
        weights_help.setStyleSheet("color: palette(placeholder-text); font-size: 9pt;")
        self.warning = QLabel(self)
        self.warning.setObjectName("train-warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("background: #fdebd0; color: #784212; border: 1px solid #e59866; padding: 6px;")
        self.warning.hide()
        self.set_weights([])
        self.tuned_note = QLabel(self)  # the best parameters of a tuning study, when the Tune page filled them in
        self.tuned_note.setObjectName("train-tuned")
        self.tuned_note.setWordWrap(True)
        self.tuned_note.setStyleSheet("background: palette(alternate-base); border: 1px solid palette(mid); "
                                      "padding: 6px;")
        self.tuned_note.hide()
        self.clear_tuned = QToolButton(self)
        self.clear_tuned.setObjectName("train-clear-tuned")
        self.clear_tuned.setText("Clear the study's parameters")
        self.clear_tuned.setToolTip("Train with the preset's own values again")
        self.clear_tuned.hide()

        self.train_button = QPushButton("Train", self)
        set_icon(self.train_button, "start")
        self.train_button.setObjectName("train-button")
        self.train_button.setMinimumHeight(44)
        font = QFont(self.train_button.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.train_button.setFont(font)

        form = QFormLayout()
        form.addRow("Version", self.version)
        form.addRow("Preset", self.preset)
        form.addRow("", self.preset_notes)
        form.addRow("Weights", self.weights)
        weights_row = QHBoxLayout()
        weights_row.addStretch(1)
        weights_row.addWidget(self.weights_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>New training run</b>", self))
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(inner)
        layout.addLayout(weights_row)
        layout.addWidget(weights_help)
        layout.addSpacing(8)
        layout.addWidget(self.tuned_note)
        layout.addWidget(self.clear_tuned)
        layout.addWidget(self.warning)
        layout.addWidget(self.train_button)
        layout.addStretch(1)
        self._show_preset()

    def _spin(self, low: int, high: int, step: int, what: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setSpecialValueText("preset")
        spin.setObjectName(f"train-{what.replace(' ', '-')}")
        spin.setToolTip(f"{what}; 'preset' keeps the preset's value")
        return spin

    def _show_preset(self) -> None:
        preset = PRESETS.get(self.preset.currentData() or "")
        if preset is not None:
            self.preset_notes.setText(f"{preset.model.removesuffix('.yaml')}, {preset.imgsz} px, {preset.epochs} "
                                      f"epochs, batch {preset.batch}: {preset.notes}")

    def pick_weights_file(self) -> Optional[str]:
        """Ask for a .pt file to add to the library."""
        path, _ = QFileDialog.getOpenFileName(self, "Add pretrained weights", str(Path.home()),
                                              "PyTorch weights (*.pt);;All files (*)")
        return path or None

    def set_weights(self, entries: list[tuple[str, str]], select: Optional[str] = None) -> None:
        """Fill the weights combo with library ``(name, description)`` entries after "none", keeping the choice."""
        current = select if select is not None else self.weights.currentData()
        self.weights.blockSignals(True)
        self.weights.clear()
        self.weights.addItem(NO_WEIGHTS, None)
        for name, description in entries:
            self.weights.addItem(f"{name} — {description}", name)
        index = self.weights.findData(current) if current else 0
        self.weights.setCurrentIndex(max(index, 0))
        self.weights.blockSignals(False)
        self.weights.currentIndexChanged.emit(self.weights.currentIndex())

    def show_warnings(self, warnings: list[str]) -> None:
        """Show what to know before training (empty: hidden)."""
        self.warning.setText("\n\n".join(f"⚠ {w}" for w in warnings))
        self.warning.setVisible(bool(warnings))

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

    def show_tuned(self, text: str) -> None:
        """Say which tuning study's parameters the next run trains with (empty: none; hidden)."""
        self.tuned_note.setText(text)
        self.tuned_note.setVisible(bool(text))
        self.clear_tuned.setVisible(bool(text))

    def values(self) -> dict[str, Any]:
        """Keyword arguments for :func:`cvops.training.start_run` (besides the version)."""
        advanced = self.advanced.isChecked()
        return {"preset": self.preset.currentData(), "epochs": (self.epochs.value() or None) if advanced else None,
                "imgsz": (self.imgsz.value() or None) if advanced else None,
                "batch": (self.batch.value() or None) if advanced else None,
                "device": self.device.currentData() if advanced else "auto",
                "task": self.task.currentData() if advanced else None, "weights": self.weights.currentData()}
