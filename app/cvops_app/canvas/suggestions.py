"""Model suggestions in the annotator (see :mod:`cvops.assist.prelabel`): how they look (dashed outline, confidence in the
label), the Suggestions panel (pending counts, "Accept all ≥ threshold" on this image or, once confirmed, on every
image, reject the rest), and the review keys: Enter accepts the selected suggestions, Del rejects them; either then
selects the image's next suggestion (highest confidence first), so Enter / Del walk through them.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Optional

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QMessageBox, QPushButton, QWidget,
)

from cvops_app.canvas.view import CanvasView
from cvops_app.context import AppContext

TOTAL_DELAY_MS = 250  # the workspace-wide count waits for edits to pause


class SuggestionPanel(QGroupBox):
    """Pending suggestion counts and the bulk-accept controls."""

    accept_image = Signal(float)  # threshold: accept this image's suggestions at or above it
    accept_everywhere = Signal(float)  # ... on every image
    reject_image = Signal()  # reject the suggestions left on this image

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("Suggestions", parent)
        self.setObjectName("suggestion-panel")
        self.counts = QLabel(self)
        self.counts.setObjectName("suggestion-counts")
        self.counts.setWordWrap(True)
        self.threshold = QDoubleSpinBox(self)
        self.threshold.setObjectName("suggestion-threshold")
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setValue(0.5)
        self.threshold.setToolTip("Confidence threshold for Accept all")
        self.accept_button = QPushButton("Accept all ≥", self)
        self.accept_button.setObjectName("accept-image-suggestions")
        self.accept_button.setToolTip("Accept this image's suggestions at or above the threshold")
        self.everywhere_button = QPushButton("… on every image", self)
        self.everywhere_button.setObjectName("accept-all-suggestions")
        self.everywhere_button.setToolTip("Accept the suggestions at or above the threshold on every image")
        self.reject_button = QPushButton("Reject the rest", self)
        self.reject_button.setObjectName("reject-image-suggestions")
        self.reject_button.setToolTip("Reject (delete) the suggestions still pending on this image")
        self.accept_button.clicked.connect(lambda: self.accept_image.emit(self.threshold.value()))
        self.everywhere_button.clicked.connect(lambda: self.accept_everywhere.emit(self.threshold.value()))
        self.reject_button.clicked.connect(self.reject_image)
        grid = QGridLayout(self)
        grid.addWidget(self.counts, 0, 0, 1, 2)
        grid.addWidget(self.accept_button, 1, 0)
        grid.addWidget(self.threshold, 1, 1)
        grid.addWidget(self.everywhere_button, 2, 0)
        grid.addWidget(self.reject_button, 2, 1)
        self.image_count, self.total_count = 0, 0
        self.set_counts(0, 0)

    def set_counts(self, image: Optional[int] = None, total: Optional[int] = None) -> None:
        """Pending suggestions on this image and in the workspace (None keeps a count)."""
        self.image_count = self.image_count if image is None else image
        self.total_count = self.total_count if total is None else total
        self.counts.setText(f"{self.image_count} pending on this image · {self.total_count} in the workspace"
                            if self.total_count else "No model suggestions (Edit ▸ Pre-label…)")
        self.accept_button.setEnabled(self.image_count > 0)
        self.reject_button.setEnabled(self.image_count > 0)
        self.everywhere_button.setEnabled(self.total_count > 0)


class SuggestionReview:
    """Reviewing suggestions on a canvas: the panel, Enter / Del on selected suggestions, counts. Edits go through
    :meth:`AppContext.edit <cvops_app.context.AppContext.edit>` (one undo step each, every view told);
    ``image_id()`` is the image the canvas shows."""

    def __init__(self, ctx: AppContext, canvas: CanvasView, image_id: Callable[[], Optional[int]],
                 parent: QWidget) -> None:
        self.ctx = ctx
        self.canvas = canvas
        self.image_id = image_id
        self.panel = SuggestionPanel(parent)
        self.panel.accept_image.connect(self.accept_image_above)
        self.panel.accept_everywhere.connect(self.accept_everywhere_above)
        self.panel.reject_image.connect(self.reject_rest)
        self._total_timer = QTimer(parent)
        self._total_timer.setSingleShot(True)
        self._total_timer.setInterval(TOTAL_DELAY_MS)
        self._total_timer.timeout.connect(self.update_total)

    # -- reading ------------------------------------------------------------------------------------------------------
    def on_image(self) -> list[tuple[float, int]]:
        """``(confidence, id)`` of the suggestions shown, best first."""
        shapes = self.canvas.model().shapes
        return sorted(((a.confidence or 0.0, a.id) for a in shapes if a.source == "model"), key=lambda t: (-t[0], t[1]))

    def selected(self) -> list[int]:
        """The selected shapes that are suggestions."""
        model = self.canvas.model()
        return [i for i in self.canvas.selected_ids() if (a := model.get(i)) is not None and a.source == "model"]

    def update_counts(self, total_now: bool = False) -> None:
        """The image's count now; the workspace's once edits pause (or now)."""
        self.panel.set_counts(image=len(self.on_image()))
        if total_now:
            self.update_total()
        else:
            self._total_timer.start()

    def update_total(self) -> None:
        """Count the workspace's pending suggestions."""
        from cvops.assist.prelabel import pending_count

        ws = self.ctx.ws
        try:
            self.panel.set_counts(total=pending_count(ws) if ws is not None else 0)
        except sqlite3.ProgrammingError:  # the workspace was closed while the count waited
            pass

    # -- acting -------------------------------------------------------------------------------------------------------
    def _run(self, fn: Callable[[], Any], what: str) -> Optional[int]:
        count = self.ctx.edit(fn, "annotations")
        if count:
            self.ctx.notify(f"{what} {count} suggestion{'s' if count != 1 else ''}")
        return count

    def _select_next(self) -> None:
        remaining = self.on_image()
        self.canvas.select([remaining[0][1]] if remaining else [])

    def enter(self) -> None:
        """Enter: close the polygon being drawn, else accept the selected suggestions and select the next one."""
        canvas = self.canvas
        if canvas.tool.drawing():
            canvas.tool.finish()
            return
        ids, ws = self.selected(), self.ctx.ws
        if not ids or ws is None:
            if self.on_image() and not canvas.selected_ids():
                self._select_next()  # nothing selected: start with the best suggestion
            return
        from cvops.assist.prelabel import accept

        if self._run(lambda: accept(ws, ids), "accepted"):
            self._select_next()

    def reject_selected(self) -> bool:
        """Del on a selection of suggestions only: reject them and select the next one; False when the selection
        holds manual shapes (they are deleted as usual)."""
        ids, ws = self.selected(), self.ctx.ws
        if not ids or ws is None or len(ids) != len(self.canvas.selected_ids()):
            return False
        from cvops.assist.prelabel import reject

        if self._run(lambda: reject(ws, ids), "rejected"):
            self._select_next()
        return True

    def accept_image_above(self, threshold: float) -> None:
        """Accept this image's suggestions at or above ``threshold``."""
        ws, image = self.ctx.ws, self.image_id()
        if ws is not None and image is not None:
            from cvops.assist.prelabel import accept_above

            self._run(lambda: accept_above(ws, threshold, [image]), "accepted")

    def accept_everywhere_above(self, threshold: float) -> None:
        """Accept every image's suggestions at or above ``threshold``, once the user confirms how many on how many
        images."""
        ws = self.ctx.ws
        if ws is None:
            return
        from cvops.assist.prelabel import accept_above, pending_above
        from cvops.common.text import counted

        suggestions, images = pending_above(ws, threshold)
        if not suggestions:
            self.ctx.notify(f"No pending suggestion has a confidence of {threshold:.2f} or more")
            return
        answer = QMessageBox.question(
            self.panel, "Accept suggestions on every image",
            f"Accept {counted(suggestions, 'suggestion')} with confidence ≥ {threshold:.2f} on "
            f"{counted(images, 'image')}? They become manual annotations (Ctrl+Z undoes this).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._run(lambda: accept_above(ws, threshold), "accepted")
        self.update_total()

    def reject_rest(self) -> None:
        """Reject the suggestions still pending on this image."""
        ws = self.ctx.ws
        ids = [aid for _, aid in self.on_image()]
        if ws is not None and ids:
            from cvops.assist.prelabel import reject

            self._run(lambda: reject(ws, ids), "rejected")
