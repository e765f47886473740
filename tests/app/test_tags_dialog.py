"""The tags dialog (Edit ▸ Tags…, and the Images page's tag filter ▸ Manage tags…) and the Images page's multi-tag
filter, on a tiny workspace: every action changes the catalog through ``ws.tags`` as one undo step, bad input (an
empty or taken name, a merge into itself) is a message that changes nothing, the page's filter and menu follow, and
the filter shows exactly the images with any / all of the ticked tags, or the untagged ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from helpers import make_image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QApplication, QColorDialog, QDialog, QInputDialog, QMenu, QMessageBox, QVBoxLayout, QWidget,
)
from timing_testing import WAIT_MS

from cvops.catalog.settings import Settings
from cvops.data.images import ImageFilter
from cvops.data.ingest import import_paths
from cvops.data.workspace import Workspace
from cvops_app.context import AppContext
from cvops_app.dialogs.tags_dialog import COLOR, IMAGES, NAME, TagsDialog
from cvops_app.gallery import ID_ROLE
from cvops_app.pages.images import ImagesPage


class Answers:
    """Scripted answers for the dialog's questions, recording what was asked and warned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[str] = []
        self.warnings: list[str] = []
        self.informed: list[str] = []
        self.text: tuple[str, bool] = ("", False)
        self.item: tuple[str, bool] = ("", False)
        self.color = QColor()
        self.yes = True
        monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: self.text)
        monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: self.item)
        monkeypatch.setattr(QColorDialog, "getColor", lambda *a, **k: self.color)
        monkeypatch.setattr(QMessageBox, "question", self._question)
        monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: self.warnings.append(text))
        monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text, *a: self.informed.append(text))

    def _question(self, parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        self.asked.append(text)
        return QMessageBox.StandardButton.Yes if self.yes else QMessageBox.StandardButton.No


class Host(QWidget):
    """The Images page on a real application context over a tiny workspace, recording the context's changes and
    messages."""

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ctx = AppContext(Settings(gallery_icon_size=48), parent=self)
        self.page = ImagesPage(self.ctx)
        QVBoxLayout(self).addWidget(self.page)
        self.changes: list[set[str]] = []
        self.messages: list[str] = []
        self.ctx.data_changed.connect(self.changes.append)
        self.ctx.message.connect(lambda text, msecs: self.messages.append(text))
        self.ctx.set_workspace(ws)


@pytest.fixture
def ids(ws: Workspace, tmp_path: Path) -> list[int]:
    """Five images: night on 0, 1, 2; blurry on 1, 2, 3; image 4 untagged."""
    for n in range(5):
        make_image(tmp_path / "src" / f"{n}.png", (32, 24), fmt="PNG", seed=n)
    image_ids = sorted(import_paths(ws, [tmp_path / "src"]).image_ids)
    ws.tags.tag(image_ids[:3], "night", create=True)
    ws.tags.tag(image_ids[1:4], "blurry", create=True)
    return image_ids


@pytest.fixture
def host(qtbot, ws: Workspace, ids: list[int]) -> Iterator[Host]:  # noqa: ANN001
    win = Host(ws)
    qtbot.addWidget(win)
    win.resize(900, 600)
    win.show()
    qtbot.waitUntil(win.page.settled, timeout=WAIT_MS)
    yield win
    win.ctx.jobs.wait()
    win.page.queries.reset(None)
    win.ctx.set_workspace(None)


def rows(page: ImagesPage) -> list[int]:
    return [page.model.index(r, 0).data(ID_ROLE) for r in range(page.model.rowCount())]


def dialog_for(qtbot, host: Host) -> TagsDialog:  # noqa: ANN001
    dialog = TagsDialog(host.ctx, parent=host)
    qtbot.addWidget(dialog)
    return dialog


def test_every_action_is_one_undo_step_and_the_page_follows(qtbot, host: Host, ws: Workspace,  # noqa: ANN001
                                                           ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    answers = Answers(monkeypatch)
    dialog = dialog_for(qtbot, host)
    assert dialog.names() == ["night", "blurry"]
    assert [dialog.table.item(r, IMAGES).text() for r in range(2)] == ["3", "3"]
    assert dialog.table.item(0, COLOR).text() == "none" and not dialog.buttons["delete"].isEnabled()

    answers.text = ("  site-b ", True)
    dialog.buttons["new"].click()
    assert ws.tags.find("site-b") is not None and dialog.selected().name == "site-b"
    assert dialog.names() == ["night", "blurry", "site-b"] and host.changes[-1] == {"tags"}
    assert list(host.page.tag_filter.tag_actions) == [t.id for t in ws.tags.list()]  # the page followed
    assert "site-b" in [a.text() for a in host.page.tag_menu.actions()]
    assert host.messages[-1] == "added tag 'site-b' — Ctrl+Z to undo"
    host.ctx.undo()  # what Ctrl+Z does, here or in the main window
    assert ws.tags.find("site-b") is None and dialog.names() == ["night", "blurry"]

    dialog.select("blurry")
    answers.text = ("soft", True)
    dialog.buttons["rename"].click()
    assert [t.name for t in ws.tags.list()] == ["night", "soft"] and dialog.selected().name == "soft"
    assert host.page.tag_filter.tag_actions[ws.tags.get("soft").id].text() == "soft"
    dialog.table.item(1, NAME).setText("fuzzy")  # in place, as after a double-click and Enter
    qtbot.waitUntil(lambda: ws.tags.find("fuzzy") is not None)
    host.ctx.undo()
    host.ctx.undo()
    assert dialog.names() == ["night", "blurry"]

    answers.color = QColor("#12ab34")
    dialog.select("night")
    dialog.buttons["recolor"].click()
    assert ws.tags.get("night").color == "#12ab34" and dialog.table.item(0, COLOR).text() == "#12ab34"
    assert dialog.buttons["uncolor"].isEnabled()
    dialog.buttons["uncolor"].click()  # back to no colour: one undo step of its own
    assert ws.tags.get("night").color is None and dialog.table.item(0, COLOR).text() == "none"
    assert not dialog.buttons["uncolor"].isEnabled()
    host.ctx.undo()
    assert ws.tags.get("night").color == "#12ab34"
    host.ctx.undo()
    assert ws.tags.get("night").color is None

    answers.item = ("blurry", True)
    dialog.buttons["merge"].click()  # night (0, 1, 2) into blurry (1, 2, 3)
    assert answers.asked[-1].startswith("Merge tag night into blurry? Its 3 images get blurry")
    assert ws.tags.find("night") is None and dialog.names() == ["blurry"]
    assert list(ws.images.ids(ImageFilter(tag_ids=(ws.tags.get("blurry").id,)))) == ids[:4]
    assert dialog.table.item(0, IMAGES).text() == "4"
    host.ctx.undo()
    assert dialog.names() == ["night", "blurry"]
    assert list(ws.images.ids(ImageFilter(tag_ids=(ws.tags.get("night").id,)))) == ids[:3]

    dialog.select("blurry")
    answers.yes = False
    dialog.buttons["delete"].click()
    assert answers.asked[-1] == "Delete tag blurry? 3 images lose it.\n\nCtrl+Z undoes it."
    assert ws.tags.find("blurry") is not None  # declined
    answers.yes = True
    dialog.buttons["delete"].click()
    assert ws.tags.find("blurry") is None and dialog.names() == ["night"]
    assert host.messages[-1].startswith("deleted tag 'blurry' (3 images lost it)")
    host.ctx.undo()
    blurry = ws.tags.get("blurry").id
    assert list(ws.images.ids(ImageFilter(tag_ids=(blurry,)))) == ids[1:4] and dialog.names() == ["night", "blurry"]
    assert answers.warnings == []


def test_bad_input_is_a_message_that_changes_nothing(qtbot, host: Host, ws: Workspace,  # noqa: ANN001
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    answers = Answers(monkeypatch)
    dialog = dialog_for(qtbot, host)
    before = (ws.tags.list(), ws.tags.counts(), len(ws.log.history()))
    answers.text = ("   ", True)
    dialog.buttons["new"].click()
    assert answers.warnings[-1] == "tag name is empty"
    answers.text = ("NIGHT", True)
    dialog.buttons["new"].click()
    assert answers.warnings[-1] == "a tag named 'night' already exists"
    dialog.select("blurry")
    answers.text = ("Night", True)
    dialog.buttons["rename"].click()
    assert "already exists; merge instead" in answers.warnings[-1]
    dialog.table.item(1, NAME).setText("")  # in place
    qtbot.waitUntil(lambda: len(answers.warnings) == 4)
    assert answers.warnings[-1] == "tag name is empty" and dialog.names() == ["night", "blurry"]
    night = ws.tags.get("night").id
    dialog.merge(night, night)
    assert answers.warnings[-1] == "cannot merge a tag into itself"
    answers.text = ("", False)  # cancelled: nothing asked, nothing said
    dialog.buttons["new"].click()
    assert len(answers.warnings) == 5
    assert (ws.tags.list(), ws.tags.counts(), len(ws.log.history())) == before

    ws.tags.delete("blurry")
    host.ctx.changed("tags")  # e.g. the CLI in another process: the open dialog follows
    assert dialog.names() == ["night"]
    dialog.select("night")
    dialog.buttons["merge"].click()  # the only tag: there is nothing but itself to merge into
    assert "cannot be merged into itself" in answers.informed[-1] and ws.tags.find("night") is not None


def test_the_undo_shortcut_works_inside_the_dialog(qtbot, host: Host, ws: Workspace,  # noqa: ANN001
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    Answers(monkeypatch).text = ("dusk", True)
    dialog = dialog_for(qtbot, host)
    dialog.open()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.buttons["new"].click()
    assert "dusk" in dialog.names()
    qtbot.keyClick(dialog.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "dusk" not in dialog.names() and ws.tags.find("dusk") is None
    qtbot.keyClick(dialog.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert "dusk" in dialog.names()


def test_the_multi_tag_filter_shows_exactly_the_matching_images(qtbot, host: Host, ws: Workspace,  # noqa: ANN001
                                                                ids: list[int]) -> None:
    page, button = host.page, host.page.tag_filter
    night, blurry = ws.tags.get("night").id, ws.tags.get("blurry").id
    assert button.text() == "Tags: any" and rows(page) == ids
    cases = [
        (lambda: button.tag_actions[night].trigger(), "Tags: night", ids[:3]),
        (lambda: button.tag_actions[blurry].trigger(), "Tags: night, blurry (any)", ids[:4]),
        (lambda: button.all_action.trigger(), "Tags: night, blurry (all)", ids[1:3]),
        (lambda: button.tag_actions[night].trigger(), "Tags: blurry", ids[1:4]),
        (lambda: button.untagged_action.trigger(), "Tags: untagged", ids[4:]),  # unticks the tags
        (lambda: button.tag_actions[night].trigger(), "Tags: night", ids[:3]),  # untick "Untagged"
        (lambda: button.clear_action.trigger(), "Tags: any", ids),
    ]
    for act, text, expected in cases:
        act()
        qtbot.waitUntil(page.settled, timeout=WAIT_MS)
        assert button.text() == text and rows(page) == expected, text
        assert rows(page) == list(ws.images.ids(page.current_filter()))
    assert page.current_filter() == ImageFilter()

    button.set_selection([night, blurry], "all")
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert page.current_filter() == ImageFilter(tag_ids=(night, blurry), tag_match="all") and rows(page) == ids[1:3]
    ws.tags.rename("night", "dark")  # changes made elsewhere: the filter keeps the tag, under its new name
    host.ctx.changed("tags")
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert button.text() == "Tags: dark, blurry (all)" and rows(page) == ids[1:3]
    ws.tags.delete("dark")  # a ticked tag that goes is unticked
    host.ctx.changed("tags")
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert button.tag_ids() == (blurry,) and button.text() == "Tags: blurry" and rows(page) == ids[1:4]
    page.clear_filters()  # the empty gallery's "Clear filters" too
    qtbot.waitUntil(page.settled, timeout=WAIT_MS)
    assert button.text() == "Tags: any" and rows(page) == ids


def test_manage_tags_opens_the_dialog_from_the_filter_and_the_edit_menu(qtbot, host: Host, tmp_path: Path,  # noqa: ANN001
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[QDialog] = []
    monkeypatch.setattr(TagsDialog, "exec", lambda self: opened.append(self) or 0)
    host.page.tag_filter.manage_action.trigger()
    assert len(opened) == 1 and opened[0].parent() is host.page

    from cvops_app.mainwindow import MainWindow

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    window = MainWindow(settings=Settings(), settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(window)
    assert window.load_workspace(tmp_path / "other", create=True)
    edit = next(m for m in window.menuBar().findChildren(QMenu) if m.title() == "&Edit")
    action = next(a for a in edit.actions() if a.text() == "&Tags…")
    action.trigger()
    assert len(opened) == 2 and opened[1].parent() is window
    window.close()


def test_the_annotators_tag_panel_follows_the_dialog(qtbot, host: Host, ws: Workspace, ids: list[int],  # noqa: ANN001
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cvops_app.pages.annotate import AnnotatePage

    annotate = AnnotatePage(host.ctx)
    qtbot.addWidget(annotate)
    annotate.set_workspace(ws)
    annotate.show_image(ids[1], ids)
    qtbot.waitUntil(annotate.settled, timeout=WAIT_MS)

    def panel() -> list[tuple[str, bool]]:
        items = [annotate.tags.list.item(r) for r in range(annotate.tags.list.count())]
        return [(i.text(), i.checkState() == Qt.CheckState.Checked) for i in items]

    assert panel() == [("night", True), ("blurry", True)]
    answers = Answers(monkeypatch)
    dialog = dialog_for(qtbot, host)
    dialog.select("night")
    answers.text = ("dark", True)
    dialog.buttons["rename"].click()
    assert panel() == [("dark", True), ("blurry", True)]
    dialog.buttons["delete"].click()
    assert panel() == [("blurry", True)]
    host.ctx.undo()
    assert panel() == [("dark", True), ("blurry", True)]


def test_ticking_tags_keeps_the_filter_menu_open(qtbot, host: Host, ws: Workspace, ids: list[int]) -> None:  # noqa: ANN001
    button = host.page.tag_filter
    menu = button.menu()
    menu.popup(button.mapToGlobal(button.rect().bottomLeft()))
    qtbot.waitUntil(menu.isVisible)
    for name in ("night", "blurry"):
        action = button.tag_actions[ws.tags.get(name).id]
        qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
        assert action.isChecked() and menu.isVisible()  # several tags in one go
    qtbot.waitUntil(host.page.settled, timeout=WAIT_MS)
    assert button.text() == "Tags: night, blurry (any)" and rows(host.page) == ids[:4]
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(button.clear_action).center())
    assert not menu.isVisible() and button.text() == "Tags: any"  # a plain entry closes it


def test_the_filter_button_stays_short_with_many_or_long_tags(qtbot, host: Host, ws: Workspace,  # noqa: ANN001
                                                              ids: list[int]) -> None:
    names = ["a-rather-long-tag-name-for-the-site", "dusk", "fog", "rain", "snow"]
    for name in names:
        ws.tags.create(name)
    host.ctx.changed("tags")
    button = host.page.tag_filter
    button.set_selection(ws.tags.ids(names), "all")
    assert button.text() == "Tags: a-rather-long-t…, dusk, fog +2 (all)"
    assert button.toolTip() == "Images with all of: " + ", ".join(names)
    qtbot.waitUntil(host.page.settled, timeout=WAIT_MS)
    assert rows(host.page) == []  # no image has them all: the empty gallery leads out
    assert host.page.empty.message() == "No images match these filters."
