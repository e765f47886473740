"""File ▸ Export dataset…: choose the output folder, format, statuses and how images are written, then export in
the background (progress and Cancel in the status bar). The export is renamed into place only when complete."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QPushButton, QVBoxLayout, QWidget,
)

from cvops.catalog.statuses import STATUSES
from cvops.formats import EXPORT_FORMATS, FORMATS
from cvops.versions.export import ExportReport, export_dataset
from cvops.formats.model import IMAGE_MODES, FormatError
from cvops.common.jobs import CancelToken, Progress
from cvops_app.context import AppContext
from cvops_app.dialogs.common import ErrorLine, browse_row, plural, problem_lines, show_report
from cvops_app.jobs import Job

IMAGE_MODE_TITLES = {
    "copy": "Copy the image files",
    "hardlink": "Hard links (same disk; no extra space)",
    "symlink": "Symbolic links to the workspace's files",
}


class ExportDatasetDialog(QDialog):
    """The export form; OK starts the export job and closes."""

    def __init__(self, ctx: AppContext, out: Optional[Union[str, Path]] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job: Optional[Job] = None
        self.setWindowTitle("Export dataset")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(620, 360)
        self.out = QLineEdit(str(out) if out else "", self)
        self.out.setPlaceholderText("a new or empty folder")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self.pick_folder)
        self.format = QComboBox(self)
        for name in EXPORT_FORMATS:
            self.format.addItem(FORMATS[name].title, name)
        counts = ctx.ws.stats()["by_status"] if ctx.ws is not None else {}
        self.statuses = QListWidget(self)
        self.statuses.setObjectName("export-statuses")
        for status in STATUSES:
            label = f"{status.replace('_', ' ')} ({plural(counts.get(status, 0), 'image')})"
            item = QListWidgetItem(label, self.statuses)
            item.setData(Qt.ItemDataRole.UserRole, status)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
        self.statuses.setMaximumHeight(self.statuses.sizeHintForRow(0) * (len(STATUSES) + 1))
        self.images_mode = QComboBox(self)
        for mode in IMAGE_MODES:
            self.images_mode.addItem(IMAGE_MODE_TITLES.get(mode, mode), mode)
        self.overwrite = QCheckBox("Replace the output folder if it is not empty", self)
        form = QFormLayout()
        form.addRow("Output folder:", browse_row(self.out, browse))
        form.addRow("Format:", self.format)
        form.addRow("Only statuses:", self.statuses)
        form.addRow("", _hint("None checked: every image (trashed images are never exported)."))
        form.addRow("Images:", self.images_mode)
        self.error = ErrorLine(self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.overwrite)
        layout.addStretch(1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def checked_statuses(self) -> list[str]:
        """The ticked statuses (empty: all images)."""
        items = (self.statuses.item(row) for row in range(self.statuses.count()))
        return [i.data(Qt.ItemDataRole.UserRole) for i in items if i.checkState() == Qt.CheckState.Checked]

    def pick_folder(self) -> None:
        """Ask for the output folder."""
        folder = QFileDialog.getExistingDirectory(self, "Export into folder")
        if folder:
            self.out.setText(folder)

    def accept(self) -> None:
        """Check the form, start the export job and close."""
        text = self.out.text().strip()
        if not text:
            self.error.show_error("Choose an output folder.")
            return
        self.job = start_export(self.ctx, Path(text).expanduser(), self.format.currentData(),
                                statuses=self.checked_statuses(), images_mode=self.images_mode.currentData(),
                                overwrite=self.overwrite.isChecked(), parent=self.parentWidget())
        super().accept()


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("color: palette(mid);")
    return label


def start_export(ctx: AppContext, out: Path, format: str, *, statuses: Optional[list[str]] = None,
                 images_mode: str = "copy", overwrite: bool = False, parent: Optional[QWidget] = None) -> Job:
    """Run :func:`cvops.versions.export.export_dataset` as a background job; a refusal (folder not empty…) is
    the job's result, shown in the summary (over ``parent``)."""
    source = ctx.ws
    assert source is not None, "no workspace is open"

    def run(progress: Progress, cancel: CancelToken) -> Union[ExportReport, FormatError]:
        ws = source.reopen()
        try:
            return export_dataset(ws, out, format, statuses=statuses or None, images_mode=images_mode,
                                  overwrite=overwrite, progress=progress, cancel=cancel)
        except FormatError as exc:
            return exc
        finally:
            ws.close()

    return ctx.run_job("Export dataset", run, lambda result: _exported(ctx, parent, out, result))


def _exported(ctx: AppContext, parent: Optional[QWidget], out: Path,
              result: Union[ExportReport, FormatError]) -> None:
    if isinstance(result, FormatError):
        ctx.notify(f"Export refused: {result}", 15_000)
        show_report(parent, "export-report", "Export dataset",
                    f"Nothing was exported:\n{result}\n\n(To replace a folder, tick “Replace the output folder”.)",
                    warning=True)
        return
    text = (f"Exported {plural(result.images, 'image')}, {plural(result.annotations, 'annotation')} and "
            f"{plural(result.classes, 'class', 'classes')} as {result.format} to {result.out} "
            f"in {result.seconds:.1f} s")
    ctx.notify(text, 15_000)
    if result.skipped:
        show_report(parent, "export-report", "Export dataset", text + f"; {len(result.skipped)} not written:",
                    problem_lines(result.skipped), warning=True)
