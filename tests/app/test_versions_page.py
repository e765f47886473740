"""The Versions page through the real main window: v1 is listed with its statistics, a new version is created through
the dialog and the health gate after an edit, the diff shows the edit, and a version's health check lists findings
that open the annotator on a double-click."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from cvops.samples.demo import run_demo
from cvops.data.images import ImageFilter
from cvops_app.mainwindow import MainWindow
from cvops_app.pages.versions import IDS_ROLE, HealthGateDialog, NewVersionDialog, VersionsPage

WAIT_MS = 30_000


@pytest.fixture
def window(qtbot, tmp_path: Path) -> Iterator[MainWindow]:  # noqa: ANN001
    run_demo(tmp_path / "ws", count=16)
    main = MainWindow(settings_path=tmp_path / "s.yaml")
    qtbot.addWidget(main)
    assert main.load_workspace(tmp_path / "ws")
    main.show_page("versions")
    yield main
    main.jobs.cancel_all()
    main.jobs.wait()
    main.close()


def _page(window: MainWindow) -> VersionsPage:
    page = window.pages["versions"]
    assert isinstance(page, VersionsPage)
    return page


def test_lists_v1_with_statistics(window: MainWindow) -> None:
    page = _page(window)
    assert page.table.rowCount() == 1
    assert page.table.item(0, 0).text() == "v1"
    assert page.table.item(0, 4).text() == page.versions[0].content_hash[:12]
    images = sum(page.versions[0].stats["images"].values())
    assert page.table.item(0, 3).text() == str(images)
    assert "train" in page.splits_label.text()
    bars = [item for item in page.chart.getPlotItem().items if item.__class__.__name__ == "BarGraphItem"]
    assert bars and {b.opts["name"] for b in bars} <= {"train", "val", "test"}
    assert page.compare.currentData() is None  # nothing to compare v1 with


def test_create_version_through_the_gate_then_diff_and_check(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page = _page(window)
    ws = window.ws
    waiting = list(ws.images.ids(ImageFilter(status="needs_review")))
    assert waiting
    ws.annotations.set_status([waiting[0]], "done")
    window.changed("status")

    dialog = page.new_version()
    assert isinstance(dialog, NewVersionDialog)
    assert dialog.statuses() == ("done", "approved")
    dialog.ratios.setText("bad")
    dialog.message.setText("more reviewed images")
    dialog.accept()
    assert dialog.isVisible() and dialog.error.isVisible()  # the ratios must parse
    dialog.ratios.setText("80/10/10")
    dialog.seed.setValue(3)
    dialog.accept()

    qtbot.waitUntil(lambda: isinstance(page.gate, HealthGateDialog), timeout=WAIT_MS)
    gate = page.gate
    assert gate.table.rowCount() > 0
    assert gate.create_button.text() in ("Create", "Create anyway")
    gate.accept()
    qtbot.waitUntil(lambda: page.table.rowCount() == 2 and page.settled(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "v2 created" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    assert page.selected().name == "v2"
    assert page.selected().message == "more reviewed images"

    # the diff against v1 (picked by default) shows the image that joined
    assert page.compare.currentText() == "v1"
    top = {page.diff_tree.topLevelItem(i).text(0): page.diff_tree.topLevelItem(i)
           for i in range(page.diff_tree.topLevelItemCount())}
    added = top["Images added"]
    assert added.text(1) == "1"
    assert added.child(0).text(1) == f"image {waiting[0]}"

    # health check of v2: findings listed; double-click opens the annotator on the finding's first image
    page.check_selected()
    qtbot.waitUntil(lambda: page.findings.rowCount() > 0 and page.settled(), timeout=WAIT_MS)
    row = next(r for r in range(page.findings.rowCount()) if int(page.findings.item(r, 3).text()) > 0)
    ids = page.findings.item(row, 0).data(IDS_ROLE)
    page.findings.cellDoubleClicked.emit(row, 2)
    annotate = window.pages["annotate"]
    assert window.stack.currentWidget() is annotate
    assert annotate.sequence[annotate.position] == ids[0]
    assert list(annotate.sequence) == ids


def test_unchanged_content_is_reported(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page = _page(window)
    dialog = page.new_version()
    dialog.message.setText("same again")
    dialog.accept()
    qtbot.waitUntil(lambda: page.gate is not None, timeout=WAIT_MS)
    page.gate.accept()
    qtbot.waitUntil(lambda: "unchanged: same content as v1" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    assert page.table.rowCount() == 1


def test_cancel_at_the_gate_creates_nothing(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    page = _page(window)
    dialog = page.new_version()
    dialog.message.setText("not now")
    dialog.accept()
    qtbot.waitUntil(lambda: page.gate is not None, timeout=WAIT_MS)
    page.gate.reject()
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert page.gate is None
    assert page.table.rowCount() == 1


def test_create_is_disabled_with_the_reason_while_the_version_would_be_empty(window: MainWindow) -> None:
    page = _page(window)
    dialog = page.new_version()
    assert dialog.create_button.isEnabled() and not dialog.error.isVisible()
    counts = window.ws.images.counts_by_status()
    assert counts["rejected"] == 0
    for status, box in dialog.status_boxes.items():
        box.setChecked(status == "rejected")
    assert not dialog.create_button.isEnabled()
    assert dialog.error.isVisible() and "No image is rejected: the version would be empty" in dialog.error.text()
    assert f"{counts['done']} done" in dialog.error.text()
    dialog.status_boxes["rejected"].setChecked(False)
    assert not dialog.create_button.isEnabled() and "Tick at least one status" in dialog.error.text()
    dialog.status_boxes["needs_review"].setChecked(True)
    assert dialog.create_button.isEnabled() and not dialog.error.isVisible()
    dialog.reject()


def test_the_default_dialog_makes_a_real_version_of_an_imported_dataset(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from cvops import Workspace
    from cvops.formats.importer import import_dataset
    from helpers import make_image

    ds = tmp_path / "ds"
    for n in range(4):
        make_image(ds / "train" / "images" / f"{n}.jpg", (64, 48), seed=n)
        (ds / "train" / "labels").mkdir(parents=True, exist_ok=True)
        (ds / "train" / "labels" / f"{n}.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    (ds / "classes.txt").write_text("thing\n")
    with Workspace.create(tmp_path / "ws") as ws:
        assert import_dataset(ws, ds).statuses == {"done": 4}
    main = MainWindow(settings_path=tmp_path / "s.yaml")
    qtbot.addWidget(main)
    try:
        assert main.load_workspace(tmp_path / "ws")
        main.show_page("versions")
        page = _page(main)
        dialog = page.new_version()
        assert dialog.statuses() == ("done", "approved") and dialog.create_button.isEnabled()
        dialog.message.setText("imported")
        dialog.accept()
        qtbot.waitUntil(lambda: page.gate is not None, timeout=WAIT_MS)
        page.gate.accept()
        qtbot.waitUntil(lambda: page.table.rowCount() == 1 and page.settled(), timeout=WAIT_MS)
        assert page.table.item(0, 3).text() == "4"
    finally:
        main.jobs.cancel_all()
        main.jobs.wait()
        main.close()
