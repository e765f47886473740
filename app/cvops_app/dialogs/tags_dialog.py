"""Edit ▸ Tags… (and the Images page's tag filter ▸ Manage tags…): the image-tag vocabulary as a table (colour, name,
images). New, rename (in place or with Rename…), recolour, merge into another tag and delete: each is one ``ws.tags``
call, so one undo step (Ctrl+Z works here and in the main window); delete and merge ask first, saying how many images
they touch. Every change is announced as ``tags`` data, so the Images page's filter and menu and the annotator's tag
panel follow; the table follows changes made elsewhere (an undo, the CLI) the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QColorDialog, QDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QMessageBox, QPushButton,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from cvops.common.errors import CvopsError
from cvops.data.tags import TagInfo
from cvops_app.context import AppContext
from cvops_app.dialogs.common import plural
from cvops_app.icons import icon

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

COLUMNS = ("Colour", "Name", "Images")
COLOR, NAME, IMAGES = range(len(COLUMNS))
TITLE = "Tags"


def tag_swatch(color: Optional[str], size: int = 14) -> QIcon:
    """A square filled with the tag's colour; an empty outlined square for a tag without one."""
    pixmap = QPixmap(size, size)
    if color:
        pixmap.fill(QColor(color))
    else:
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setPen(QColor("#888888"))
        painter.drawRect(0, 0, size - 1, size - 1)
        painter.end()
    swatch = QIcon(pixmap)
    swatch.addPixmap(pixmap, QIcon.Mode.Selected)
    return swatch


class TagsDialog(QDialog):
    """The tag table with New, Rename, Colour, Merge into and Delete."""

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tags: list[TagInfo] = []
        self.counts: dict[int, int] = {}
        self.setWindowTitle(TITLE)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(560, 400)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("tags-table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._edited)
        self.table.cellDoubleClicked.connect(lambda row, col: col == COLOR and self.recolor_selected())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.empty = QLabel("No tags yet: New… adds one (or tag images from the Images page's Add tag menu).", self)
        self.empty.setObjectName("tags-empty")
        self.empty.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        side = QVBoxLayout()
        for key, icon_name, text, slot in (
            ("new", "add", "New…", self.new_tag), ("rename", "rename", "Rename…", self.rename_selected),
            ("recolor", "color", "Colour…", self.recolor_selected),
            ("uncolor", "mdi6.invert-colors-off", "No colour", self.clear_color_selected),
            ("merge", "merge", "Merge into…", self.merge_selected), ("delete", "delete", "Delete…", self.delete_selected),
        ):
            button = QPushButton(icon(icon_name), text, self)
            button.setObjectName(f"tags-{key}")
            button.setAutoDefault(False)
            button.clicked.connect(lambda _=False, s=slot: s())
            side.addWidget(button)
            self.buttons[key] = button
        side.addStretch(1)
        close = QPushButton("Close", self)
        close.setAutoDefault(False)
        close.clicked.connect(self.accept)
        side.addWidget(close)
        body = QHBoxLayout()
        column = QVBoxLayout()
        column.addWidget(self.table, 1)
        column.addWidget(self.empty)
        body.addLayout(column, 1)
        body.addLayout(side)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        hint = QLabel("Tags describe whole images (night, blurry…); they are not classes and never reach an export. "
                      "Double-click a name to rename it, a colour to change it. Every change is one step of "
                      "Ctrl+Z / Ctrl+Shift+Z.", self)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=self.ctx.undo)
        QShortcut(QKeySequence("Ctrl+Shift+Z"), self, activated=self.ctx.redo)
        ctx.data_changed.connect(self._data_changed)
        self.reload()

    @property
    def ws(self) -> "Workspace":
        """The context's (GUI-thread) workspace."""
        assert self.ctx.ws is not None, "no workspace is open"
        return self.ctx.ws

    # -- table --------------------------------------------------------------------------------------------------------
    def _data_changed(self, what: set[str]) -> None:
        if self.ctx.ws is not None and what & {"tags", "images"}:
            self.reload()

    def reload(self, select: Optional[int] = None) -> None:
        """Re-read the tags and their image counts; keep (or move to ``select``) the selected tag."""
        select = select if select is not None else self.selected_id()
        self.tags = self.ws.tags.list()
        self.counts = self.ws.tags.counts()
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self.tags))
        for row, info in enumerate(self.tags):
            cells = (info.color or "none", info.name, f"{self.counts.get(info.id, 0):,}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, info.id)
                if col != NAME:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if col == IMAGES:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            self.table.item(row, COLOR).setIcon(tag_swatch(info.color))
            if info.id == select:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.empty.setVisible(not self.tags)
        self._update_buttons()

    def names(self) -> list[str]:
        """The tag names in the table, in order."""
        return [self.table.item(row, NAME).text() for row in range(self.table.rowCount())]

    def selected_id(self) -> Optional[int]:
        """The id of the selected tag, or None."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), NAME).data(Qt.ItemDataRole.UserRole) if rows else None

    def selected(self) -> Optional[TagInfo]:
        """The selected tag, or None."""
        selected = self.selected_id()
        return next((t for t in self.tags if t.id == selected), None)

    def select(self, tag: int | str) -> None:
        """Select a tag by id or name."""
        for row, info in enumerate(self.tags):
            if tag in (info.id, info.name):
                self.table.selectRow(row)

    def _update_buttons(self) -> None:
        info = self.selected()
        for key in ("rename", "recolor", "merge", "delete"):
            self.buttons[key].setEnabled(info is not None)
        self.buttons["uncolor"].setEnabled(bool(info is not None and info.color))

    # -- the one place that changes data ------------------------------------------------------------------------------
    def _apply(self, change: Callable[[], object], message: str, select: Optional[int] = None) -> bool:
        """Run one core change (one undo step); show its error, or refresh and tell the other pages. True when it
        worked."""
        try:
            change()
        except CvopsError as exc:
            QMessageBox.warning(self, TITLE, str(exc))
            self.reload()
            return False
        self.ctx.changed("tags")
        self.reload(select)
        self.ctx.notify(f"{message} — Ctrl+Z to undo")
        return True

    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # -- actions ------------------------------------------------------------------------------------------------------
    def new_tag(self) -> None:
        """Ask for a name and add the tag at the end (an empty or taken name is refused with a message)."""
        name, ok = QInputDialog.getText(self, "New tag", "Name of the new tag:")
        if not ok:
            return
        made: list[TagInfo] = []
        if self._apply(lambda: made.append(self.ws.tags.create(name)), f"added tag {name.strip()!r}"):
            self.select(made[0].id)

    def rename_selected(self) -> None:
        """Ask for a new name for the selected tag."""
        info = self.selected()
        if info is None:
            return
        name, ok = QInputDialog.getText(self, "Rename tag", f"New name of tag {info.name!r}:", text=info.name)
        if ok:
            self.rename(info.id, name)

    def rename(self, tag_id: int, name: str) -> None:
        """Rename a tag; a name that is empty or another tag's is refused with a message (merge instead)."""
        info = next((t for t in self.tags if t.id == tag_id), None)
        if info is not None and name.strip() != info.name:
            self._apply(lambda: self.ws.tags.rename(tag_id, name), f"renamed tag {info.name!r} to {name.strip()!r}",
                        tag_id)

    def _edited(self, item: QTableWidgetItem) -> None:
        # Applied after Qt is done with the edited item: the reload that follows replaces every item.
        if item.column() == NAME:
            tag_id, text = item.data(Qt.ItemDataRole.UserRole), item.text()
            QTimer.singleShot(0, self, lambda: self.rename(tag_id, text))

    def recolor_selected(self) -> None:
        """Pick a new colour for the selected tag."""
        info = self.selected()
        if info is None:
            return
        color = QColorDialog.getColor(QColor(info.color or "#ffffff"), self, f"Colour of tag {info.name}")
        if color.isValid() and color.name() != info.color:
            self._apply(lambda: self.ws.tags.recolor(info.id, color.name()),
                        f"recoloured tag {info.name!r} to {color.name()}", info.id)

    def clear_color_selected(self) -> None:
        """Take the selected tag's colour away (it shows an empty swatch again)."""
        info = self.selected()
        if info is not None and info.color:
            self._apply(lambda: self.ws.tags.recolor(info.id, None), f"removed the colour of tag {info.name!r}",
                        info.id)

    def merge_selected(self) -> None:
        """Merge the selected tag into another one (picked from a list, after a confirmation with counts)."""
        source = self.selected()
        if source is None:
            return
        others = [t for t in self.tags if t.id != source.id]
        if not others:
            QMessageBox.information(self, "Merge tag", f"There is no other tag to merge {source.name!r} into: a tag "
                                    "cannot be merged into itself.")
            return
        name, ok = QInputDialog.getItem(self, "Merge tag", f"Merge tag {source.name!r} into:",
                                        [t.name for t in others], 0, False)
        target = next((t for t in others if t.name == name), None)
        if ok and target is not None:
            self.merge(source.id, target.id)

    def merge(self, source_id: int, target_id: int) -> None:
        """Give the images of one tag the other (after a confirmation), then delete the first (one undo step);
        merging a tag into itself is refused with a message."""
        source = next((t for t in self.tags if t.id == source_id), None)
        target = next((t for t in self.tags if t.id == target_id), None)
        if source is None or target is None:
            return
        if source.id != target.id:
            count = self.counts.get(source.id, 0)
            if not self._confirm("Merge tags", (
                    f"Merge tag {source.name} into {target.name}? Its {plural(count, 'image')} get "
                    f"{target.name}, then tag {source.name} is deleted.\n\nCtrl+Z undoes it.")):
                return
        self._apply(lambda: self.ws.tags.merge(source.id, target.id), f"merged tag {source.name!r} into "
                    f"{target.name!r}", target.id)

    def delete_selected(self) -> None:
        """Delete the selected tag after a confirmation naming how many images lose it."""
        info = self.selected()
        if info is None:
            return
        count = self.counts.get(info.id, 0)
        lose = f"{plural(count, 'image')} lose{'s' if count == 1 else ''} it" if count else "No image has it"
        if self._confirm("Delete tag", f"Delete tag {info.name}? {lose}.\n\nCtrl+Z undoes it."):
            self._apply(lambda: self.ws.tags.delete(info.id),
                        f"deleted tag {info.name!r} ({plural(count, 'image')} lost it)")


def open_tags_dialog(ctx: AppContext, parent: QWidget) -> None:
    """Show the tags dialog over ``parent`` (modal) while a workspace is open."""
    if ctx.ws is not None:
        TagsDialog(ctx, parent=parent).exec()
