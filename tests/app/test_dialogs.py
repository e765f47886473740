"""The workbench dialogs end to end (offscreen): import images (complete, and cancelled from the status bar), import
a dataset (and a strict refusal), export, the classes dialog's every action, and the F1 sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from helpers import make_image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QApplication, QColorDialog, QDialog, QDialogButtonBox, QInputDialog, QMainWindow, QMenu, QMessageBox,
    QProgressBar, QPushButton,
)

from cvops.data.annotations import NewAnnotation
from cvops.data.ingest import import_paths
from cvops.catalog.maintenance import doctor
from cvops.catalog.settings import Settings
from cvops.data.workspace import Workspace
from cvops_app.context import AppContext
from cvops_app.dialogs import classes as classes_dialog
from cvops_app.dialogs.classes import ANNOTATIONS, NAME, ClassesDialog, DeleteClassDialog
from cvops_app.dialogs.common import ReportDialog
from cvops_app.dialogs.exporting import ExportDatasetDialog
from cvops_app.dialogs.importing import ImportDatasetDialog, ImportImagesDialog
from cvops_app.dialogs.shortcuts import ShortcutsDialog
from cvops_app.jobs import Job, JobsWidget

JOB_TIMEOUT_MS = 120_000


class Host(QMainWindow):
    """A window for the dialogs to open over, without the pages: a real application context on the workspace and
    the status-bar job area. It records the context's data changes, messages and failed jobs."""

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ctx = AppContext(Settings(), parent=self)
        self.ctx.set_workspace(ws)
        self.jobs = self.ctx.jobs
        self.jobs_widget = JobsWidget(self.jobs, self)
        self.statusBar().addPermanentWidget(self.jobs_widget)
        self.changes: list[set[str]] = []
        self.messages: list[str] = []
        self.failures: list[str] = []
        self.ctx.data_changed.connect(self.changes.append)
        self.ctx.message.connect(lambda text, msecs: self.messages.append(text))
        self.ctx.job_failed.connect(lambda title, detail: self.failures.append(detail))

    def undo(self) -> None:
        self.ctx.undo()


@pytest.fixture
def window(qtbot, ws: Workspace):
    win = Host(ws)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.jobs.cancel_all()
    win.jobs.wait()


def press_ok(dialog: QDialog) -> None:
    """Click the dialog's OK (Import / Export) button, as a user would."""
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()


def run_to_end(qtbot, window: Host, start: Callable[[], None]) -> Job:
    """Start a job through ``start`` and wait until the job manager reports it ended."""
    started: list[Job] = []
    window.jobs.started.connect(started.append)
    with qtbot.waitSignal(window.jobs.ended, timeout=JOB_TIMEOUT_MS):
        start()
    return started[0]


def report_box(window: Host, name: str) -> ReportDialog:
    box = window.findChild(ReportDialog, name)
    assert box is not None, f"no {name} box"
    return box


# -- import images ---------------------------------------------------------------------------------------------------
def test_import_images_runs_in_the_background_with_progress_and_thumbnails(qtbot, window, ws, tmp_path) -> None:
    folder = tmp_path / "photos"
    for n in range(20):
        make_image(folder / f"img{n:02}.jpg", (320, 240), seed=n)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image")
    dialog = ImportImagesDialog(window.ctx, paths=[folder], parent=window)
    dialog.add_paths([folder])  # each path once
    assert dialog.paths() == [str(folder)]
    fractions: list[float] = []
    window.jobs.started.connect(lambda job: job.signals.progress.connect(lambda f, m: fractions.append(f)))
    job = run_to_end(qtbot, window, lambda: press_ok(dialog))

    assert job.title == "Import images" and not window.failures
    assert ws.stats()["images"] == 20
    assert ws.thumbnails.missing() == []
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"images"} in window.changes
    assert any(m.startswith("Imported 20 new images") and "1 skipped" in m and "1 error" in m
               for m in window.messages)
    box = report_box(window, "import-report")
    assert "broken.jpg" in box.detailed_text() and "1 file could not be imported" in box.text()
    assert not window.jobs_widget.rows  # the status-bar row is gone


def test_import_images_cancelled_from_the_status_bar_keeps_the_catalog_consistent(qtbot, window, ws,
                                                                                  tmp_path) -> None:
    folder = tmp_path / "many"
    total = 400
    for n in range(total):
        make_image(folder / f"img{n:03}.jpg", (320, 240), seed=n)
    dialog = ImportImagesDialog(window.ctx, paths=[folder], parent=window)
    press_ok(dialog)
    assert len(window.jobs.running) == 1
    job = window.jobs.running[0]
    row = window.jobs_widget.rows[id(job)]
    bar = row.findChild(QProgressBar)
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=JOB_TIMEOUT_MS)
    with qtbot.waitSignal(job.signals.cancelled, timeout=JOB_TIMEOUT_MS):
        row.findChild(QPushButton, f"cancel-job-{id(job)}").click()
    qtbot.waitUntil(lambda: not window.jobs.running)

    assert any(m.startswith("Import cancelled") for m in window.messages)
    assert {"images"} in window.changes
    imported = ws.stats()["images"]
    assert imported < total or ws.thumbnails.missing(), "the job finished before the cancel"
    assert doctor(ws).ok
    # Importing the same folder again finishes the job.
    run_to_end(qtbot, window, lambda: press_ok(ImportImagesDialog(window.ctx, paths=[folder], parent=window)))
    assert ws.stats()["images"] == total and doctor(ws).ok


def test_import_images_asks_for_something_to_import(qtbot, window) -> None:
    dialog = ImportImagesDialog(window.ctx, parent=window)
    press_ok(dialog)
    assert dialog.error.text() == "Add at least one file or folder." and not window.jobs.running


# -- datasets --------------------------------------------------------------------------------------------------------
def yolo_dataset(root: Path, lines: dict[str, list[str]], names: list[str]) -> Path:
    """A tiny Ultralytics layout: 100x50 images and the given label lines per image stem."""
    for n, (stem, label_lines) in enumerate(lines.items()):
        make_image(root / "images" / "train" / f"{stem}.jpg", (100, 50), seed=n)
        (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "train" / f"{stem}.txt").write_text("\n".join(label_lines) + "\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\nnames:\n"
                                    + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))
    return root


def test_import_dataset_then_export_it(qtbot, window, ws, tmp_path) -> None:
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.5 0.5 0.2 0.2", "1 0.1 0.1 0.1 0.1"], "b": ["1 0.5 0.5 1 1"],
                                        "c": ["0 0.5 0.5 0.2"]}, ["car", "person"])
    dialog = ImportDatasetDialog(window.ctx, ds, parent=window)
    assert dialog.format.currentData() == "auto" and dialog.format.count() > 1
    dialog.format.setCurrentIndex(dialog.format.findData("yolo"))
    run_to_end(qtbot, window, lambda: press_ok(dialog))
    assert not window.failures
    assert (ws.stats()["images"], ws.stats()["annotations"]) == (3, 3)
    assert [c.name for c in ws.classes.list()] == ["car", "person"]
    assert {"images", "annotations", "classes"} in window.changes
    assert any(m.startswith("Imported yolo dataset: 3 images (3 new)") and "2 images marked done" in m
               for m in window.messages)  # c's only line is malformed: c came without annotations
    box = report_box(window, "dataset-report")
    assert "c.txt" in box.detailed_text() and "Skipped (1)" in box.detailed_text()
    box.close()

    out = tmp_path / "export"
    export = ExportDatasetDialog(window.ctx, out, parent=window)
    export.format.setCurrentIndex(export.format.findData("coco"))
    run_to_end(qtbot, window, lambda: press_ok(export))
    assert (out / "annotations.json").is_file() or any(out.rglob("*.json"))
    assert any(m.startswith("Exported 3 images, 3 annotations and 2 classes as coco") for m in window.messages)

    # Exporting again into the (now non-empty) folder is refused unless Overwrite is ticked.
    again = ExportDatasetDialog(window.ctx, out, parent=window)
    run_to_end(qtbot, window, lambda: press_ok(again))
    assert "Nothing was exported" in report_box(window, "export-report").text()
    # a and b came with annotations and were marked done; c (its only line skipped) stays new
    assert {i.file_name: i.status for i in ws.images.page()} == {"a.jpg": "done", "b.jpg": "done", "c.jpg": "new"}
    only_done = ExportDatasetDialog(window.ctx, out, parent=window)
    only_done.overwrite.setChecked(True)
    for row in range(only_done.statuses.count()):
        item = only_done.statuses.item(row)
        if item.data(Qt.ItemDataRole.UserRole) == "done":
            assert item.text() == "done (2 images)"
            item.setCheckState(Qt.CheckState.Checked)
    assert only_done.checked_statuses() == ["done"]
    run_to_end(qtbot, window, lambda: press_ok(only_done))
    assert any(m.startswith("Exported 2 images,") for m in window.messages)


def test_strict_dataset_import_is_refused_clearly(qtbot, window, ws, tmp_path) -> None:
    ds = yolo_dataset(tmp_path / "ds", {"a": ["0 0.5 0.5 0.2 0.2"], "b": ["0 0.5 0.5 0.2"]}, ["car"])
    dialog = ImportDatasetDialog(window.ctx, ds, parent=window)
    dialog.strict.setChecked(True)
    run_to_end(qtbot, window, lambda: press_ok(dialog))
    box = report_box(window, "dataset-report")
    assert box.text().startswith("Strict import refused") and "Nothing was imported" in box.text()
    assert "b.txt" in box.detailed_text()
    assert ws.stats()["images"] == 0 and not window.failures


def test_import_dataset_form_errors_keep_the_dialog_open(qtbot, window, tmp_path) -> None:
    dialog = ImportDatasetDialog(window.ctx, tmp_path / "missing", parent=window)
    press_ok(dialog)
    assert "does not exist" in dialog.error.text()
    (tmp_path / "map.yaml").write_text("- not a mapping\n")
    dialog.path.setText(str(tmp_path))
    dialog.class_map.setText(str(tmp_path / "map.yaml"))
    press_ok(dialog)
    assert "class map must be a mapping" in dialog.error.text() and not window.jobs.running


# -- classes ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def labelled(ws: Workspace, tmp_path: Path) -> Workspace:
    """Three images; classes a, b, c; a: 3 boxes on 2 images, b: 1 box, c unused."""
    for n in range(3):
        make_image(tmp_path / "src" / f"{n}.png", (64, 48), fmt="PNG", seed=n)
    ids = import_paths(ws, [tmp_path / "src"]).image_ids
    for name in "abc":
        ws.classes.add(name)
    box = (1, 1, 10, 10)
    ws.annotations.add_many([NewAnnotation(ids[0], "a", box=box), NewAnnotation(ids[0], "a", box=(5, 5, 9, 9)),
                             NewAnnotation(ids[1], "a", box=box), NewAnnotation(ids[2], "b", box=box)])
    return ws


class Answers:
    """Scripted answers for the dialog's questions, recording what was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[str] = []
        self.warnings: list[str] = []
        self.text = ("", False)
        self.item = ("", False)
        self.color = QColor()
        self.yes = True
        self.delete_choice: Optional[str] = None  # "drop" or a class name to reassign to
        monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: self.text)
        monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: self.item)
        monkeypatch.setattr(QColorDialog, "getColor", lambda *a, **k: self.color)
        monkeypatch.setattr(QMessageBox, "question", self._question)
        monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: self.warnings.append(text))
        monkeypatch.setattr(DeleteClassDialog, "exec", lambda dialog: self._delete(dialog))

    def _question(self, parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        self.asked.append(text)
        return QMessageBox.StandardButton.Yes if self.yes else QMessageBox.StandardButton.No

    def _delete(self, dialog: DeleteClassDialog) -> int:
        if self.delete_choice is None:
            return QDialog.DialogCode.Rejected
        if self.delete_choice == "drop":
            dialog.drop.setChecked(True)
        else:
            dialog.target.setCurrentIndex(dialog.target.findText(self.delete_choice))
        return QDialog.DialogCode.Accepted


def names(dialog: ClassesDialog) -> list[str]:
    return [dialog.table.item(row, NAME).text() for row in range(dialog.table.rowCount())]


def test_classes_dialog_every_action(qtbot, window, labelled, monkeypatch) -> None:
    ws = labelled
    answers = Answers(monkeypatch)
    dialog = ClassesDialog(window.ctx, parent=window)
    qtbot.addWidget(dialog)
    assert names(dialog) == ["a", "b", "c"]
    assert dialog.table.item(0, ANNOTATIONS).text() == "3"
    assert not dialog.buttons["delete"].isEnabled()  # nothing selected yet

    answers.text = ("dog", True)
    dialog.buttons["add"].click()
    assert names(dialog) == ["a", "b", "c", "dog"] and dialog.selected().name == "dog"
    assert window.changes[-1] == {"classes", "annotations"}
    dialog.buttons["add"].click()  # a duplicate name is refused with a message
    assert answers.warnings and "already exists" in answers.warnings[-1]
    assert names(dialog) == ["a", "b", "c", "dog"]

    dialog.table.item(3, NAME).setText("cat")  # inline rename, as after double-click and Enter
    qtbot.waitUntil(lambda: ws.classes.find("cat") is not None)
    assert names(dialog) == ["a", "b", "c", "cat"]

    answers.color = QColor("#123456")
    dialog.buttons["recolor"].click()
    assert ws.classes.get("cat").color == "#123456"

    dialog.buttons["up"].click()
    assert [c.name for c in ws.classes.list()] == ["a", "b", "cat", "c"] and dialog.selected().name == "cat"

    dialog.select(ws.classes.get("a").id)
    answers.item = ("b", True)
    dialog.buttons["merge"].click()
    assert answers.asked[-1].startswith("Move 3 annotations on 2 images from a to b?")
    usage = ws.classes.usage()
    assert ws.classes.find("a") is None and usage[ws.classes.get("b").id] == {"annotations": 4, "images": 3}
    assert names(dialog) == ["b", "cat", "c"]

    window.undo()  # what Ctrl+Z does: one step brings class a and its annotations back
    dialog.reload()
    assert names(dialog) == ["a", "b", "cat", "c"] and ws.stats()["annotations"] == 4

    dialog.select(ws.classes.get("c").id)  # unused: a plain confirmation
    dialog.buttons["delete"].click()
    assert answers.asked[-1] == "Delete class c? No annotation uses it." and ws.classes.find("c") is None

    dialog.select(ws.classes.get("a").id)  # used: reassign, or drop
    answers.delete_choice = None
    dialog.buttons["delete"].click()
    assert ws.classes.find("a") is not None  # cancelled
    answers.delete_choice = "cat"
    dialog.buttons["delete"].click()
    assert ws.classes.find("a") is None and ws.classes.usage()[ws.classes.get("cat").id]["annotations"] == 3
    dialog.select(ws.classes.get("b").id)
    answers.delete_choice = "drop"
    dialog.buttons["delete"].click()
    assert names(dialog) == ["cat"] and ws.stats()["annotations"] == 3
    assert window.messages[-1] == "deleted class 'b' and its 1 annotation"


def test_classes_dialog_undo_shortcut(qtbot, window, labelled, monkeypatch) -> None:
    Answers(monkeypatch).text = ("dog", True)
    dialog = ClassesDialog(window.ctx, parent=window)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.buttons["add"].click()
    assert "dog" in names(dialog)
    qtbot.keyClick(dialog.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "dog" not in names(dialog) and labelled.classes.find("dog") is None
    qtbot.keyClick(dialog.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert "dog" in names(dialog)


# -- shortcuts -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shortcut, dialog", [
    ("Ctrl+I", ImportImagesDialog), ("Ctrl+Shift+I", ImportDatasetDialog), ("Ctrl+E", ExportDatasetDialog),
    ("Ctrl+K", ClassesDialog), ("F1", ShortcutsDialog)])
def test_the_main_window_menus_open_the_dialogs(qtbot, tmp_path, monkeypatch, shortcut: str, dialog: type) -> None:
    from cvops_app.mainwindow import MainWindow

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    window = MainWindow(settings=Settings(), settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(window)
    assert window.load_workspace(tmp_path / "ws", create=True)
    opened: list[QDialog] = []
    monkeypatch.setattr(dialog, "exec", lambda self: opened.append(self) or 0)
    action = next(a for menu in window.menuBar().findChildren(QMenu) for a in menu.actions()
                  if a.shortcut().toString() == shortcut)
    action.trigger()
    assert len(opened) == 1 and opened[0].parent() is window
    window.close()


def test_dialogs_only_call_the_core() -> None:
    """No SQL in the dialogs: they call the core."""
    for source in Path(classes_dialog.__file__).parent.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "SELECT " not in text and ".execute(" not in text and ".db." not in text, source.name
