"""File ▸ Import images… and File ▸ Import dataset…: pick what to import, then run it as a background job with
progress and Cancel in the status bar. The job opens its own workspace handle; the summary comes back to the GUI."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
    QLabel, QLineEdit, QListWidget, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from cvops.formats import FORMATS, IMPORT_FORMATS
from cvops.formats.importer import DatasetImportError, DatasetImportReport, import_dataset, load_class_map
from cvops.formats.model import FormatError
from cvops.common.imageio import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from cvops.data.ingest import ImportReport, import_paths
from cvops.common.jobs import CancelToken, Progress, sub_progress
from cvops.data.thumbnails import ThumbnailReport
from cvops_app.context import AppContext
from cvops_app.dialogs.common import ErrorLine, browse_row, plural, problem_lines, show_report
from cvops_app.icons import icon
from cvops_app.jobs import Job

IMPORT_SHARE = 0.7  # of the progress bar; thumbnails take the rest
PathLike = Union[str, Path]


def _file_filter() -> str:
    images = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
    videos = " ".join(f"*{e}" for e in sorted(VIDEO_EXTENSIONS))
    return f"Images and videos ({images} {videos});;Images ({images});;Videos ({videos});;All files (*)"


# -- images ----------------------------------------------------------------------------------------------------------
@dataclass
class ImageImportResult:
    """What the image import job did: the import, then the new images' thumbnails."""

    report: ImportReport
    thumbnails: Optional[ThumbnailReport]
    seconds: float


class ImportImagesDialog(QDialog):
    """Choose image/video files and folders and the import options; OK starts the import job and closes."""

    def __init__(self, ctx: AppContext, paths: Sequence[PathLike] = (), parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job: Optional[Job] = None
        self.setWindowTitle("Import images")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(640, 440)
        self.list = QListWidget(self)
        self.list.setObjectName("import-paths")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        buttons = QHBoxLayout()
        for text, slot, name in (("Add files…", self.pick_files, "file"), ("Add folder…", self.pick_folder, "folder"),
                                 ("Remove", self.remove_selected, "remove")):
            button = QPushButton(icon(name), text, self)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.in_place = QCheckBox("Reference the files where they are (do not copy them into the workspace)", self)
        self.stride = QSpinBox(self)
        self.stride.setRange(0, 100_000)
        self.stride.setSpecialValueText("skip videos")
        self.stride.setPrefix("every ")
        self.stride.setSuffix(" frames")
        self.stride.setToolTip("Import every Nth frame of video files; 0 skips videos")
        self.verify = QCheckBox("Decode every pixel to catch corrupt files (slower)", self)
        form = QFormLayout()
        form.addRow("Videos:", self.stride)
        self.error = ErrorLine(self)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Files and folders to import (folders are searched recursively; "
                                "duplicates are recognised by content):", self))
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.in_place)
        layout.addWidget(self.verify)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.add_paths(paths)

    def paths(self) -> list[str]:
        """The chosen files and folders, in order."""
        return [self.list.item(row).text() for row in range(self.list.count())]

    def add_paths(self, paths: Sequence[PathLike]) -> None:
        """Append files or folders (each once)."""
        have = set(self.paths())
        for path in map(str, paths):
            if path not in have:
                self.list.addItem(path)
                have.add(path)
        self.error.show_error("")

    def pick_files(self) -> None:
        """Ask for image or video files."""
        files, _ = QFileDialog.getOpenFileNames(self, "Add images or videos", "", _file_filter())
        self.add_paths(files)

    def pick_folder(self) -> None:
        """Ask for a folder."""
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of images")
        if folder:
            self.add_paths([folder])

    def remove_selected(self) -> None:
        """Drop the selected entries from the list."""
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))

    def accept(self) -> None:
        """Start the import job (when something was chosen) and close."""
        paths = self.paths()
        if not paths:
            self.error.show_error("Add at least one file or folder.")
            return
        self.job = start_image_import(self.ctx, paths, in_place=self.in_place.isChecked(),
                                      video_stride=self.stride.value(), verify=self.verify.isChecked(),
                                      parent=self.parentWidget())
        super().accept()


def start_image_import(ctx: AppContext, paths: Sequence[PathLike], *, in_place: bool = False,
                       video_stride: int = 0, verify: bool = False, parent: Optional[QWidget] = None) -> Job:
    """Run :func:`cvops.data.ingest.import_paths` and then the new images' thumbnails as one background job; the
    report of files that could not be imported opens over ``parent``."""
    source = ctx.ws
    assert source is not None, "no workspace is open"
    partial: list[ImportReport] = []

    def run(progress: Progress, cancel: CancelToken) -> ImageImportResult:
        started = time.perf_counter()
        ws = source.reopen()
        try:
            report = import_paths(ws, list(paths), in_place=in_place, video_stride=video_stride or None,
                                  verify=verify, progress=sub_progress(progress, 0.0, IMPORT_SHARE), cancel=cancel)
            partial.append(report)
            thumbs = None if report.cancelled else ws.thumbnails.generate(
                report.image_ids, sub_progress(progress, IMPORT_SHARE, 1.0), cancel)
            return ImageImportResult(report, thumbs, time.perf_counter() - started)
        finally:
            ws.close()

    def cancelled() -> None:
        kept = partial[0].imported if partial else 0
        ctx.notify(f"Import cancelled: {plural(kept, 'new image')} kept; import the same files again to finish.",
                   15_000)
        ctx.changed("images")

    job = ctx.run_job("Import images", run, lambda result: _images_imported(ctx, parent, result))
    job.signals.cancelled.connect(cancelled)
    return job


def _images_imported(ctx: AppContext, parent: Optional[QWidget], result: ImageImportResult) -> None:
    report = result.report
    errors = report.errors + (result.thumbnails.errors if result.thumbnails else [])
    parts = [plural(report.imported, "new image")]
    if report.frames:
        parts.append(f"{plural(report.frames, 'frame')} from {plural(report.videos, 'video')}")
    if report.duplicates:
        parts.append(f"{report.duplicates} already in the workspace")
    if report.skipped:
        parts.append(f"{len(report.skipped)} skipped")
    if errors:
        parts.append(plural(len(errors), "error"))
    ctx.notify(f"Imported {', '.join(parts)} in {result.seconds:.1f} s", 15_000)
    ctx.changed("images")
    if errors:
        details = problem_lines(errors)
        if report.skipped:
            details += "\n\nSkipped:\n" + problem_lines(report.skipped)
        show_report(parent, "import-report", "Import images",
                    f"{plural(len(errors), 'file')} could not be imported or decoded; the others were imported.",
                    details, warning=True)


# -- datasets --------------------------------------------------------------------------------------------------------
class ImportDatasetDialog(QDialog):
    """Choose a labelled dataset (folder or annotation file), its format and options; OK starts the import job."""

    def __init__(self, ctx: AppContext, path: Optional[PathLike] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job: Optional[Job] = None
        self.setWindowTitle("Import dataset")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(640, 300)
        self.path = QLineEdit(str(path) if path else "", self)
        self.path.setPlaceholderText("dataset folder, or an annotation file (COCO JSON, CVAT XML…)")
        folder, file = QPushButton(icon("folder"), "Folder…", self), QPushButton(icon("file"), "File…", self)
        folder.clicked.connect(self.pick_folder)
        file.clicked.connect(self.pick_file)
        self.format = QComboBox(self)
        self.format.addItem("Detect automatically", "auto")
        for name in IMPORT_FORMATS:
            self.format.addItem(FORMATS[name].title, name)
        self.class_map = QLineEdit(self)
        self.class_map.setPlaceholderText("optional: YAML/JSON mapping {source name: workspace name}")
        pick_map = QPushButton("Browse…", self)
        pick_map.clicked.connect(self.pick_class_map)
        self.strict = QCheckBox("Strict: import nothing if any image or shape would be skipped or changed", self)
        self.in_place = QCheckBox("Reference the images where they are (do not copy them)", self)
        form = QFormLayout()
        form.addRow("Dataset:", browse_row(self.path, folder, file))
        form.addRow("Format:", self.format)
        form.addRow("Class map:", browse_row(self.class_map, pick_map))
        self.error = ErrorLine(self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.strict)
        layout.addWidget(self.in_place)
        layout.addStretch(1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def pick_folder(self) -> None:
        """Ask for a dataset folder."""
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if folder:
            self.path.setText(folder)

    def pick_file(self) -> None:
        """Ask for an annotation file."""
        file, _ = QFileDialog.getOpenFileName(self, "Annotation file", "", "Annotations (*.json *.xml *.yaml *.yml "
                                                                            "*.txt);;All files (*)")
        if file:
            self.path.setText(file)

    def pick_class_map(self) -> None:
        """Ask for a class map file."""
        file, _ = QFileDialog.getOpenFileName(self, "Class map", "", "Class maps (*.yaml *.yml *.json);;All files (*)")
        if file:
            self.class_map.setText(file)

    def accept(self) -> None:
        """Check the form, start the import job and close."""
        text = self.path.text().strip()
        if not text:
            self.error.show_error("Choose a dataset folder or annotation file.")
            return
        path = Path(text).expanduser()
        if not path.exists():
            self.error.show_error(f"{path} does not exist.")
            return
        class_map: dict[str, str] = {}
        if self.class_map.text().strip():
            try:
                class_map = load_class_map(Path(self.class_map.text().strip()).expanduser())
            except FormatError as exc:
                self.error.show_error(str(exc))
                return
        self.job = start_dataset_import(self.ctx, path, format=self.format.currentData(), class_map=class_map,
                                        strict=self.strict.isChecked(), in_place=self.in_place.isChecked(),
                                        parent=self.parentWidget())
        super().accept()


def start_dataset_import(ctx: AppContext, path: Path, *, format: str = "auto",
                         class_map: Optional[dict[str, str]] = None, strict: bool = False,
                         in_place: bool = False, parent: Optional[QWidget] = None) -> Job:
    """Run :func:`cvops.formats.importer.import_dataset` as a background job. A refusal (strict mode, unknown
    format) is the job's result, shown in the summary (over ``parent``), not a crash."""
    source = ctx.ws
    assert source is not None, "no workspace is open"

    def run(progress: Progress, cancel: CancelToken) -> Union[DatasetImportReport, FormatError]:
        ws = source.reopen()
        try:
            return import_dataset(ws, path, format=format, class_map=class_map, strict=strict, in_place=in_place,
                                  progress=progress, cancel=cancel)
        except FormatError as exc:
            return exc
        finally:
            ws.close()

    job = ctx.run_job("Import dataset", run, lambda result: _dataset_imported(ctx, parent, path, result))
    job.signals.cancelled.connect(lambda: ctx.changed("images", "annotations", "classes"))
    return job


def _dataset_imported(ctx: AppContext, parent: Optional[QWidget], path: Path,
                      result: Union[DatasetImportReport, FormatError]) -> None:
    if isinstance(result, DatasetImportError):
        ctx.notify(f"Strict import refused: {plural(len(result.problems), 'problem')}; nothing was imported", 15_000)
        show_report(parent, "dataset-report", "Import dataset",
                    f"Strict import refused: {path} has {plural(len(result.problems), 'problem')}.\n"
                    "Nothing was imported. Fix the dataset, or import without Strict to skip those parts.",
                    problem_lines([p.to_dict() for p in result.problems]), warning=True)
        return
    if isinstance(result, FormatError):
        ctx.notify(f"Cannot import {path}", 15_000)
        show_report(parent, "dataset-report", "Import dataset",
                    f"Cannot import this dataset:\n{result}\n\nIf the format was not recognised, pick it in the "
                    "Format list.", warning=True)
        return
    report = result
    text = (f"Imported {report.format} dataset: {plural(report.images, 'image')} ({report.images_new} new), "
            f"{plural(report.annotations, 'annotation')} added ({report.annotations_existing} already there), "
            f"{plural(report.classes_created, 'new class', 'new classes')}"
            + "".join(f", {plural(n, 'image')} marked {status.replace('_', ' ')}"
                      for status, n in report.statuses.items() if n)
            + f"; {len(report.skipped)} skipped, {plural(len(report.warnings), 'warning')}")
    ctx.notify(text, 15_000)
    ctx.changed("images", "annotations", "classes")
    if report.skipped or report.warnings:
        sections = []
        if report.skipped:
            sections.append(f"Skipped ({len(report.skipped)}):\n" + problem_lines(report.skipped))
        if report.warnings:
            sections.append(f"Changed on the way in ({len(report.warnings)}):\n" + problem_lines(report.warnings))
        show_report(parent, "dataset-report", "Import dataset", text + ".", "\n\n".join(sections),
                    warning=bool(report.skipped))
