"""Edit ▸ Pre-label…: run a registered model (the champion by default, else the best scoring one: each model shows its
mAP50-95) over the unlabeled or the selected images as a background job with progress and Cancel; its detections
become suggestions to review on the Annotate page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QRadioButton,
    QVBoxLayout, QWidget,
)

from cvops.common.jobs import CancelToken, Progress
from cvops.assist.prelabel import PrelabelReport, prelabel
from cvops.models.evaluation_store import list_evaluations
from cvops.models.registry import ModelInfo, list_models
from cvops.training.history import summarize
from cvops_app.context import AppContext
from cvops_app.dialogs.common import ErrorLine, plural
from cvops_app.jobs import Job

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


Score = Optional[tuple[float, str]]  # mAP50-95 and where it comes from


def model_scores(ws: "Workspace", models: Sequence[ModelInfo]) -> dict[int, Score]:
    """Each model's mAP50-95: its latest evaluation's (``"v1 test"``), else the one measured at training
    (``"training"``), else None."""
    latest = {e.model_id: e for e in list_evaluations(ws)}  # oldest first: the last one wins
    out: dict[int, Score] = {}
    for info in models:
        evaluation = latest.get(info.id)
        trained = summarize(info.metrics).get("map50_95")
        if evaluation is not None:
            out[info.id] = (evaluation.map50_95, f"{evaluation.version_name} {evaluation.split}")
        elif trained is not None:
            out[info.id] = (float(trained), "training")
        else:
            out[info.id] = None
    return out


def model_label(info: ModelInfo, score: Score) -> str:
    """``m2 (champion) — mAP50-95 0.412 (v1 test)``, or ``… — not evaluated``."""
    name = f"{info.name} (champion)" if info.champion else info.name
    return f"{name} — mAP50-95 {score[0]:.3f} ({score[1]})" if score else f"{name} — not evaluated"


class PrelabelDialog(QDialog):
    """Model, confidence threshold and which images; OK starts the job and closes."""

    def __init__(self, ctx: AppContext, selected: Sequence[int] = (), parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job: Optional[Job] = None
        self.selected = list(selected)
        self.setWindowTitle("Pre-label")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.model = QComboBox(self)
        self.model.setObjectName("prelabel-model")
        models = list_models(ctx.ws) if ctx.ws is not None else []
        scores = model_scores(ctx.ws, models) if ctx.ws is not None else {}
        # the champion first, then the best score (unscored last), then the newest: the first is preselected
        for info in sorted(models, key=lambda m: (not m.champion, -(scores[m.id][0] if scores[m.id] else -1.0),
                                                  -m.id)):
            self.model.addItem(model_label(info, scores[info.id]), info.name)
        self.conf = QDoubleSpinBox(self)
        self.conf.setObjectName("prelabel-conf")
        self.conf.setRange(0.0, 1.0)
        self.conf.setSingleStep(0.05)
        self.conf.setDecimals(3)
        self.conf.setValue(0.25)
        self.unlabeled = QRadioButton("Unlabeled images (no manual annotations)", self)
        self.unlabeled.setObjectName("prelabel-unlabeled")
        self.chosen = QRadioButton(f"The {plural(len(self.selected), 'selected image')} of the Images page", self)
        self.chosen.setObjectName("prelabel-selected")
        self.chosen.setEnabled(bool(self.selected))
        group = QButtonGroup(self)
        group.addButton(self.unlabeled)
        group.addButton(self.chosen)
        (self.chosen if self.selected else self.unlabeled).setChecked(True)
        form = QFormLayout()
        form.addRow("Model:", self.model)
        form.addRow("Confidence ≥", self.conf)
        self.error = ErrorLine(self)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Pre-label")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The model's detections become suggestions (dashed) to accept (Enter) or reject (Del) "
                                "on the Annotate page. Manual annotations are never changed.", self))
        layout.addLayout(form)
        layout.addWidget(self.unlabeled)
        layout.addWidget(self.chosen)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        if not models:
            self.error.show_error("No model yet: train one on the Train page, then promote it on the Models page.")
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)

    def accept(self) -> None:
        """Start the pre-label job and close."""
        if self.model.currentData() is None:
            return
        ids = self.selected if self.chosen.isChecked() else None
        self.job = start_prelabel(self.ctx, self.model.currentData(), ids, self.conf.value())
        super().accept()


def start_prelabel(ctx: AppContext, model: str = "champion", image_ids: Optional[Sequence[int]] = None,
                   conf: float = 0.25) -> Job:
    """Run :func:`cvops.assist.prelabel.prelabel` as a background job; refresh the pages when it ends."""
    source = ctx.ws
    assert source is not None, "no workspace is open"
    ids = None if image_ids is None else list(image_ids)

    def run(progress: Progress, cancel: CancelToken) -> PrelabelReport:
        ws = source.reopen()
        try:
            return prelabel(ws, model, image_ids=ids, conf=conf, progress=progress, cancel=cancel)
        finally:
            ws.close()

    def done(report: PrelabelReport) -> None:
        text = (f"Pre-labeled {plural(report.images, 'image')} with {report.model}: "
                f"{plural(report.suggestions, 'suggestion')} on {plural(report.images_with_suggestions, 'image')}")
        if report.skipped_images:
            text += f", {report.skipped_images} skipped"
        if report.unknown_classes:
            text += f"; {plural(report.unknown_classes, 'model class', 'model classes')} no longer exist"
        ctx.notify(text, 15_000)
        ctx.changed("annotations")

    def cancelled() -> None:
        ctx.notify("Pre-label cancelled: the suggestions of the finished batches are kept.", 15_000)
        ctx.changed("annotations")

    job = ctx.run_job("Pre-label", run, done)
    job.signals.cancelled.connect(cancelled)
    return job
