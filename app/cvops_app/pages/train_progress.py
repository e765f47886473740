"""Widgets of the Train page around a run: the live progress row and the empty state without versions.

:class:`RunProgress` shows a running run's latest ``batch`` event (:func:`cvops.training.run_progress`) as
``epoch 1/20 · batch 19/21 · ETA ≈ 3 min 10 s`` over a bar with one step per batch of the whole run; before the
first batch (the child loads the model and the dataset) the bar is busy. :class:`NoVersionsNote` says that training
needs a dataset version and leads to the Versions page.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from cvops.training.runner import batch_message
from cvops_app.icons import set_icon

STARTING = "starting: loading the model and the dataset…"


def progress_steps(progress: dict[str, Any]) -> tuple[int, int]:
    """``(done, total)`` batches of the whole run from a ``batch`` event (epochs and batch are 1-based)."""
    batches = max(int(progress.get("batches") or 1), 1)
    epochs = max(int(progress.get("epochs") or 1), 1)
    done = (int(progress.get("epoch") or 1) - 1) * batches + int(progress.get("batch") or 0)
    return min(done, epochs * batches), epochs * batches


class RunProgress(QWidget):
    """A running run's epoch, batch and ETA over a bar that moves once per batch; hidden for other runs."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("run-progress")
        self.label = QLabel(self)
        self.label.setObjectName("run-progress-text")
        self.label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.bar = QProgressBar(self)
        self.bar.setObjectName("run-progress-bar")
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(12)
        self.bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.hide()

    def show_run(self, run: Optional[dict[str, Any]]) -> None:
        """Follow ``run`` (a :func:`cvops.training.history.get_run` dict with ``progress``): shown while it runs."""
        if run is None or run["state"] != "running":
            self.hide()
            return
        progress = run.get("progress")
        if progress:
            done, total = progress_steps(progress)
            self.label.setText(batch_message(progress).replace("ETA", "ETA ≈"))
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        else:
            self.label.setText(STARTING)
            self.bar.setRange(0, 0)  # busy until the first batch reports
        self.show()


class NoVersionsNote(QWidget):
    """"Create a version first", with a button to the Versions page: training needs a frozen dataset version."""

    def __init__(self, go_to_versions: Callable[[], None], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("no-versions")
        text = QLabel("<b>Create a version first.</b> A model trains on a dataset version: a frozen snapshot of the "
                      "labelled images and their train / val / test splits. Make one on the Versions page.", self)
        text.setWordWrap(True)
        self.button = QPushButton("Go to Versions", self)
        set_icon(self.button, "versions")
        self.button.setObjectName("go-to-versions")
        self.button.clicked.connect(go_to_versions)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(text)
        layout.addWidget(self.button)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("#no-versions { background: palette(alternate-base); border: 1px solid palette(mid); }")
        self.hide()
