"""The evaluation view: one stored evaluation (:mod:`cvops.models.evaluation_store`) with its summary, per-class table,
confusion matrix (click a cell to list its images), error galleries (false positives, missed objects, poor
localisation, wrong class: thumbnails with file names), and the chosen image drawn with its manual labels and the
model's predictions, the error highlighted (:mod:`cvops_app.pages.evaluation_views`); pick a row of its predictions
table to highlight another. Double-click an image to open it in the annotator.

Only the query side of evaluations is used here: nothing imports Ultralytics or torch on the GUI thread.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QHeaderView, QLabel, QListWidgetItem, QSplitter, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from cvops.common.errors import CvopsError
from cvops.models.evaluation_store import (
    confusion_cell_images, error_images, focus_row, get_evaluation, image_predictions,
)
from cvops_app.canvas.prediction_overlay import PredictionReview
from cvops_app.context import AppContext
from cvops_app.pages.evaluation_views import (
    ID_ROLE, OUTCOME_COLORS, ErrorGallery, PredictionPreview, load_preview,
)

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

ERROR_KINDS = (("fp", "False positives"), ("fn", "Missed objects (no prediction of any class)"),
               ("poor_loc", "Poor localisation"), ("wrong_class", "Wrong class"))


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def _readonly(table: QTableWidget) -> None:
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setDefaultSectionSize(24)


class EvaluationDialog(QDialog):
    """A stored evaluation, browsable down to the images behind each number."""

    def __init__(self, ctx: AppContext, ws: "Workspace", evaluation_id: int, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ws = ws
        self.result = get_evaluation(ws, evaluation_id)
        self.names = {c["class_id"]: c["name"] for c in self.result.per_class}
        self.setObjectName("evaluation-dialog")
        self.setWindowTitle(f"Evaluation #{self.result.id}: {self.result.model_name} on "
                            f"{self.result.version_name}/{self.result.split}")
        self.summary = QLabel(self._summary(), self)
        self.summary.setObjectName("evaluation-summary")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setWordWrap(True)

        self.per_class = self._per_class_table()
        self.confusion = self._confusion_table()
        self.errors_kind = QComboBox(self)
        for kind, label in ERROR_KINDS:
            key = "missed" if kind == "fn" and "missed" in self.result.metrics else kind
            self.errors_kind.addItem(f"{label} ({int(self.result.metrics.get(key, 0) or 0)})", kind)
        self.errors_kind.currentIndexChanged.connect(lambda _: self.show_errors())
        errors_tab = QWidget(self)
        errors_layout = QVBoxLayout(errors_tab)
        errors_note = QLabel(f"Predictions at confidence ≥ {self.result.params.get('review_conf', 0.25)} are "
                             "reviewed; pick a kind of error to list the images that have it.", errors_tab)
        errors_note.setWordWrap(True)
        errors_layout.addWidget(errors_note)
        errors_layout.addWidget(self.errors_kind)
        errors_layout.addStretch(1)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.per_class, "Per class")
        self.tabs.addTab(self.confusion, "Confusion matrix")
        self.tabs.addTab(errors_tab, "Errors")
        self.tabs.currentChanged.connect(lambda i: self.show_errors() if i == 2 else None)

        self.images_label = QLabel("Click a confusion-matrix cell or pick an error kind to list images.", self)
        self.images_label.setWordWrap(True)
        self.images = ErrorGallery(self)
        self.images.open(ws)
        self.images.currentItemChanged.connect(lambda item, _: self._show_predictions(item))
        self.images.itemActivated.connect(self._open_image)
        self.listed_outcomes: tuple[str, ...] = ()  # the outcomes the listed images were chosen for
        self.rows: list[dict[str, Any]] = []  # the review rows of the chosen image, as in the predictions table
        self.finished.connect(lambda _: self.images.close_loader())  # no thumbnail work outlives the view
        self.preview = PredictionPreview(self)
        self.predictions = QTableWidget(0, 5, self)
        self.predictions.setObjectName("image-predictions")
        self.predictions.setHorizontalHeaderLabels(["Outcome", "Predicted", "True", "Confidence", "IoU"])
        self.predictions.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.predictions.verticalHeader().hide()
        self.predictions.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.predictions.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.predictions.currentCellChanged.connect(lambda row, *_: self._highlight_row(row))
        _readonly(self.predictions)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.images_label)
        side_layout.addWidget(self.images, 1)
        view = QWidget(self)
        view_layout = QVBoxLayout(view)
        view_layout.setContentsMargins(0, 0, 0, 0)
        hint = QLabel("The model's predictions (solid) and missed objects (dashed) over the manual labels (grey); "
                      "pick a row to highlight it, double-click the image in the gallery to fix its labels.", view)
        hint.setWordWrap(True)
        view_layout.addWidget(hint)
        view_layout.addWidget(self.preview, 3)
        view_layout.addWidget(self.predictions, 1)
        splitter = QSplitter(self)
        splitter.addWidget(self.tabs)
        splitter.addWidget(side)
        splitter.addWidget(view)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        self.resize(1200, 720)
        splitter.setSizes([400, 290, 510])  # room for two columns of thumbnails

    def _summary(self) -> str:
        r, m = self.result, self.result.metrics
        counts = ", ".join(f"{k} {int(m.get(k, 0) or 0)}" for k in ("tp", "fp", "fn", "poor_loc", "wrong_class"))
        unknown = (f"<br>Classes the model does not know: "
                   f"{html.escape(', '.join(c['name'] for c in r.unknown_classes))}" if r.unknown_classes else "")
        return (f"<b>{html.escape(r.model_name)}</b> on <b>{html.escape(r.version_name)}</b> / {r.split} — "
                f"{r.images} images, {int(m.get('instances', 0) or 0)} objects, {r.duration_s:.1f} s<br>"
                f"<span style='font-size:13pt'>mAP50 <b>{_fmt(m.get('map50'))}</b> &nbsp; mAP50-95 "
                f"<b>{_fmt(m.get('map50_95'))}</b> &nbsp; precision <b>{_fmt(m.get('precision'))}</b> &nbsp; "
                f"recall <b>{_fmt(m.get('recall'))}</b></span><br>Review: {counts}{unknown}")

    def _per_class_table(self) -> QTableWidget:
        rows = self.result.per_class
        table = QTableWidget(len(rows), 6, self)
        table.setObjectName("per-class")
        table.setHorizontalHeaderLabels(["Class", "Instances", "Precision", "Recall", "AP50", "AP50-95"])
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().hide()
        _readonly(table)
        for r, c in enumerate(rows):
            for col, text in enumerate([c["name"], str(c.get("instances", 0)), _fmt(c.get("precision")),
                                        _fmt(c.get("recall")), _fmt(c.get("ap50")), _fmt(c.get("ap"))]):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, col, item)
        return table

    def _confusion_table(self) -> QTableWidget:
        """Rows = predicted, columns = true (last = background); a cell's shade follows its share of its column."""
        conf = self.result.confusion
        labels, matrix = conf.get("labels", []), conf.get("matrix", [])
        self.class_ids: list[Optional[int]] = list(conf.get("class_ids", []))
        table = QTableWidget(len(labels), len(labels), self)
        table.setObjectName("confusion")
        table.setHorizontalHeaderLabels([f"true {name}" for name in labels])
        table.setVerticalHeaderLabels([f"predicted {name}" for name in labels])
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.setToolTip("Rows: predicted class; columns: true class. Click a cell to list its images.")
        _readonly(table)
        totals = [sum(row[c] for row in matrix) or 1 for c in range(len(labels))]
        for r, row in enumerate(matrix):
            for c, count in enumerate(row):
                item = QTableWidgetItem(str(count) if count else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = count / totals[c]
                diagonal = r == c and r < len(labels) - 1
                base = QColor(30, 132, 73) if diagonal else QColor(192, 57, 43)
                base.setAlpha(int(30 + 200 * share) if count else 0)
                item.setBackground(QBrush(base))
                if share > 0.6:
                    item.setForeground(QBrush(QColor("white")))
                table.setItem(r, c, item)
        table.cellClicked.connect(self.show_cell)
        return table

    # -- image lists ---------------------------------------------------------------------------------------------------
    def _list(self, title: str, rows: Sequence[tuple[int, Optional[int]]], outcomes: tuple[str, ...] = ()) -> None:
        """Show ``rows`` in the gallery; ``outcomes`` are the errors they were listed for (highlighted first)."""
        self.images_label.setText(f"{title}: {len(rows)} image{'s' if len(rows) != 1 else ''}")
        self.listed_outcomes = outcomes
        self.predictions.setRowCount(0)
        self.preview.clear_image("Pick an image to see the model's predictions on it.")
        self.images.set_images(self.ws, rows)

    def show_cell(self, row: int, column: int) -> list[int]:
        """List the images behind a confusion-matrix cell; returns their ids."""
        predicted, true = self.class_ids[row], self.class_ids[column]
        if predicted is None and true is None:
            self._list("Background / background (always empty)", [])
            return []
        ids = confusion_cell_images(self.ws, self.result.id, predicted, true)
        name = {None: "background", **self.names}
        outcomes = (("fp", "poor_loc") if true is None else ("fn",) if predicted is None else
                    ("tp",) if predicted == true else ("wrong_class",))
        self._list(f"Predicted {name.get(predicted, predicted)}, true {name.get(true, true)}",
                   [(i, None) for i in ids], outcomes)
        return ids

    def show_errors(self) -> list[tuple[int, int]]:
        """List the images with the chosen kind of error (most first)."""
        kind = self.errors_kind.currentData()
        rows = error_images(self.ws, self.result.id, kind, unclaimed=True)  # a claimed miss is a wrong class
        self._list(dict(ERROR_KINDS)[kind], rows, (kind,))
        return rows

    def listed_ids(self) -> list[int]:
        """The image ids in the list."""
        return [self.images.item(i).data(ID_ROLE) for i in range(self.images.count())]

    def _show_predictions(self, item: Optional[QListWidgetItem]) -> None:
        rows = image_predictions(self.ws, self.result.id, item.data(ID_ROLE)) if item is not None else []
        first = focus_row(rows, self.listed_outcomes)
        self.rows = rows
        self._show_image(item.data(ID_ROLE) if item is not None else None, rows, first)
        self.predictions.blockSignals(True)
        self.predictions.setRowCount(len(rows))
        name = {None: "—", **self.names}
        for r, p in enumerate(rows):
            cells = [p["outcome"], name.get(p["class_id"], str(p["class_id"])),
                     name.get(p["gt_class_id"], str(p["gt_class_id"])), _fmt(p["confidence"]), _fmt(p["iou"])]
            for c, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if c == 0:
                    cell.setForeground(QBrush(QColor(OUTCOME_COLORS.get(p["outcome"], "#000000"))))
                self.predictions.setItem(r, c, cell)
        if first is not None:
            self.predictions.selectRow(rows.index(first))
        self.predictions.blockSignals(False)

    def _show_image(self, image_id: Optional[int], rows: list[dict[str, Any]],
                    highlight: Optional[dict[str, Any]]) -> None:
        """Draw the image with its manual labels and ``rows``, ``highlight`` highlighted."""
        if image_id is None:
            self.preview.clear_image("Pick an image to see the model's predictions on it.")
            return
        try:
            record = self.ws.images.get(image_id)
            labels = [a.box for a in self.ws.annotations.for_image(image_id) if a.box is not None]
        except CvopsError as exc:
            self.preview.clear_image(str(exc))
            return
        name: dict[Optional[int], str] = {None: "—", **self.names}
        self.preview.show_image(load_preview(self.ws.images.path(record)), (record.width, record.height), labels,
                                rows, name, highlight["id"] if highlight else None)

    def _highlight_row(self, row: int) -> None:
        if 0 <= row < len(self.rows):
            self.preview.highlight(self.rows[row]["id"])

    def _open_image(self, item: QListWidgetItem) -> None:
        """Open the image in the annotator with the model's predictions over it, the row picked here highlighted;
        previous / next walk the listed images, each with its predictions."""
        ids, image_id = self.listed_ids(), item.data(ID_ROLE)
        picked = self.preview.highlighted if self.images.currentItem() is item else None
        review = PredictionReview(self.result.id, self.listed_outcomes, frozenset(ids),
                                  {image_id: picked} if picked is not None else {})
        self.ctx.open_annotator(image_id, ids, review)
