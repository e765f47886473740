"""Render the workbench's dialogs offscreen for the docs and refresh the annotator's guide's shortcut table.

Usage: ``python resources/screenshots.py WORKSPACE OUT_DIR [GUIDE.md]`` (``make screenshots`` runs it after the page
screenshots). Writes OUT_DIR/{welcome,import-images,export,classes,shortcuts,jobs}.png.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtCore import QPoint, QRect, QSize, Qt  # noqa: E402 (after the platform is chosen)
from PySide6.QtWidgets import QApplication, QDialog, QLabel  # noqa: E402

from cvops.common.jobs import CancelToken, Progress  # noqa: E402
from cvops.catalog.settings import Settings  # noqa: E402
from cvops_app.dialogs.classes import ClassesDialog  # noqa: E402
from cvops_app.dialogs.exporting import ExportDatasetDialog  # noqa: E402
from cvops_app.dialogs.importing import ImportImagesDialog  # noqa: E402
from cvops_app.dialogs.shortcuts import ShortcutsDialog, markdown_table  # noqa: E402
from cvops_app.mainwindow import MainWindow  # noqa: E402

BLOCK = re.compile(r"(<!-- shortcuts:begin.*?-->\n).*?(<!-- shortcuts:end -->)", re.S)


def grab(app: QApplication, dialog: QDialog, out: Path) -> None:
    """Show a dialog, let it lay out, save it as PNG, close it."""
    dialog.show()
    for _ in range(5):
        app.processEvents()
    dialog.grab().save(str(out))
    dialog.close()
    print(f"saved {out}")


def grab_jobs(app: QApplication, window: MainWindow, out: Path) -> None:
    """The right of the status bar while an import runs (a stand-in job, stopped by its Cancel)."""
    def importing(progress: Progress, cancel: CancelToken) -> None:
        progress(0.42, "imported 512, duplicates 3")
        while not cancel.cancelled:
            time.sleep(0.01)

    window.run_job("Import images", importing)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "imported" not in " ".join(
            label.text() for label in window.jobs_widget.findChildren(QLabel)):
        app.processEvents()
        time.sleep(0.01)
    bar = window.statusBar()
    width = min(bar.width(), 760)
    window.grab(QRect(bar.mapTo(window, QPoint(bar.width() - width, 0)), QSize(width, bar.height()))).save(str(out))
    window.jobs.cancel_all()
    window.jobs.wait()
    print(f"saved {out}")


def grab_welcome(app: QApplication, workspace: Path, config: Path, out: Path) -> None:
    """The welcome page (no workspace open) with a recent workspace and one that is gone."""
    recent = [str(workspace.resolve()), str(Path.home() / "projects" / "old-survey")]
    window = MainWindow(settings=Settings(recent_workspaces=recent), settings_path=config / "welcome.yaml")
    window.resize(1100, 640)
    window.show()
    for _ in range(5):
        app.processEvents()
    window.grab().save(str(out))
    window.close()
    print(f"saved {out}")


def update_guide(guide: Path) -> None:
    """Replace the guide's generated shortcut table with the current one."""
    text = guide.read_text(encoding="utf-8")
    new, count = BLOCK.subn(lambda m: m.group(1) + markdown_table() + m.group(2), text)
    if count != 1:
        raise SystemExit(f"{guide}: expected one <!-- shortcuts:begin --> … <!-- shortcuts:end --> block")
    if new != text:
        guide.write_text(new, encoding="utf-8")
        print(f"updated the shortcut table in {guide}")


def main(argv: list[str]) -> int:
    """Render every dialog screenshot; returns the exit code."""
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    workspace, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as config:  # leave the user's settings alone
        grab_welcome(app, workspace, Path(config), out / "welcome.png")
        window = MainWindow(settings=Settings(), settings_path=Path(config) / "settings.yaml")
        if not window.load_workspace(workspace):
            return 1
        window.resize(1400, 900)
        window.show()
        grab_jobs(app, window, out / "jobs.png")
        photos = ["~/Pictures/site-a", "~/Pictures/extra/IMG_0042.jpg", "~/Videos/drive.mp4"]
        dialog = ImportImagesDialog(window, paths=photos)
        dialog.stride.setValue(10)
        grab(app, dialog, out / "import-images.png")
        export = ExportDatasetDialog(window, "~/exports/shapes-yolo")
        for row in range(export.statuses.count()):
            item = export.statuses.item(row)
            if item.data(Qt.ItemDataRole.UserRole) in ("done", "approved"):
                item.setCheckState(Qt.CheckState.Checked)
        grab(app, export, out / "export.png")
        classes = ClassesDialog(window)
        classes.table.selectRow(0)
        grab(app, classes, out / "classes.png")
        sheet = ShortcutsDialog(window)
        grab(app, sheet, out / "shortcuts.png")
        window.close()
    if len(argv) == 3:
        update_guide(Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
