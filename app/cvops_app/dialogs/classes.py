"""Edit ▸ Classes…: the label schema as a table (color, name, id, usage, description). Every action is one core
call, so it is one undo step (Ctrl+Z works here and in the main window); destructive ones ask first, with counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QButtonGroup, QColorDialog, QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView,
    QInputDialog, QLabel, QMessageBox, QPushButton, QRadioButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from cvops.data.classes import ClassInfo
from cvops.common.errors import CvopsError
from cvops_app.context import AppContext
from cvops_app.dialogs.common import plural
from cvops_app.icons import icon

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

COLUMNS = ("Color", "Name", "Id", "Annotations", "Images", "Description")
COLOR, NAME, ID, ANNOTATIONS, IMAGES, DESCRIPTION = range(len(COLUMNS))


def swatch(color: str, size: int = 14) -> QIcon:
    """A square icon filled with ``color`` (not tinted when its row is selected)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)
    return icon


class DeleteClassDialog(QDialog):
    """Asked before deleting a class that annotations use: reassign them to another class, or delete them."""

    def __init__(self, parent: QWidget, info: ClassInfo, annotations: int, images: int,
                 others: list[ClassInfo]) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Delete class {info.name}")
        used = f"{plural(annotations, 'annotation')} on {plural(images, 'image')}"
        self.reassign = QRadioButton(f"Move the {used} to:", self)
        self.target = QComboBox(self)
        for other in others:
            self.target.addItem(swatch(other.color), other.name, other.id)
        self.drop = QRadioButton(f"Delete the {used} too", self)
        group = QButtonGroup(self)
        group.addButton(self.reassign)
        group.addButton(self.drop)
        (self.reassign if others else self.drop).setChecked(True)
        self.reassign.setEnabled(bool(others))
        self.target.setEnabled(bool(others))
        self.reassign.toggled.connect(self.target.setEnabled)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Delete class")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.reassign)
        row.addWidget(self.target, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Class <b>{info.name}</b> is used by {used}. Delete it and:", self))
        layout.addLayout(row)
        layout.addWidget(self.drop)
        layout.addWidget(QLabel("(Ctrl+Z undoes it.)", self))
        layout.addWidget(buttons)

    def reassign_to(self) -> Optional[int]:
        """The class id to move the annotations to, or None to drop them."""
        return self.target.currentData() if self.reassign.isChecked() else None


class ClassesDialog(QDialog):
    """The classes table with add, rename, recolor, reorder, merge and delete."""

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Classes")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(760, 440)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("classes-table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(DESCRIPTION, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._edited)
        self.table.cellDoubleClicked.connect(lambda row, col: col == COLOR and self.recolor_selected())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.buttons: dict[str, QPushButton] = {}
        side = QVBoxLayout()
        for key, text, slot in (
            ("add", "Add…", self.add_class), ("rename", "Rename", self.rename_selected),
            ("recolor", "Color…", self.recolor_selected), ("up", "Move up", lambda: self.move_selected(-1)),
            ("down", "Move down", lambda: self.move_selected(1)), ("merge", "Merge into…", self.merge_selected),
            ("delete", "Delete…", self.delete_selected),
        ):
            button = QPushButton(icon({"recolor": "color", "delete": "delete"}.get(key, key)), text, self)
            button.clicked.connect(slot)
            side.addWidget(button)
            self.buttons[key] = button
        side.addStretch(1)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)
        side.addWidget(close)
        body = QHBoxLayout()
        body.addWidget(self.table, 1)
        body.addLayout(side)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(QLabel("Double-click a name or description to edit it, a color to change it. "
                                "Every change is one step of Ctrl+Z / Ctrl+Shift+Z.", self))
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=lambda: self._history(self.ctx.undo))
        QShortcut(QKeySequence("Ctrl+Shift+Z"), self, activated=lambda: self._history(self.ctx.redo))
        self.reload()

    @property
    def ws(self) -> "Workspace":
        """The context's (GUI-thread) workspace."""
        assert self.ctx.ws is not None, "no workspace is open"
        return self.ctx.ws

    # -- table --------------------------------------------------------------------------------------------------------
    def reload(self, select: Optional[int] = None) -> None:
        """Re-read the classes and their usage; keep (or move to ``select``) the selected class."""
        select = select if select is not None else self.selected_id()
        self.classes = self.ws.classes.list()
        usage = self.ws.classes.usage()
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.classes))
        for row, info in enumerate(self.classes):
            used = usage.get(info.id, {"annotations": 0, "images": 0})
            cells = (info.color, info.name, str(info.id), str(used["annotations"]), str(used["images"]),
                     info.description)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, info.id)
                if col not in (NAME, DESCRIPTION):
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if col in (ID, ANNOTATIONS, IMAGES):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            self.table.item(row, COLOR).setIcon(swatch(info.color))
            if info.id == select:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self._update_buttons()

    def selected_id(self) -> Optional[int]:
        """The id of the selected class, or None."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), ID).data(Qt.ItemDataRole.UserRole) if rows else None

    def selected(self) -> Optional[ClassInfo]:
        """The selected class, or None."""
        selected = self.selected_id()
        return next((c for c in self.classes if c.id == selected), None)

    def select(self, class_id: int) -> None:
        """Select a class by id."""
        for row, info in enumerate(self.classes):
            if info.id == class_id:
                self.table.selectRow(row)

    def _update_buttons(self) -> None:
        has = self.selected_id() is not None
        for key in ("rename", "recolor", "up", "down", "merge", "delete"):
            self.buttons[key].setEnabled(has)

    # -- the one place that changes data ------------------------------------------------------------------------------
    def _apply(self, change: Callable[[], object], message: str, select: Optional[int] = None) -> bool:
        """Run one core change; show its error, or refresh and tell the other pages. True when it worked."""
        try:
            change()
        except CvopsError as exc:
            QMessageBox.warning(self, "Classes", str(exc))
            self.reload()
            return False
        self.reload(select)
        self.ctx.changed("classes", "annotations")
        self.ctx.notify(message)
        return True

    def _history(self, step: Callable[[], None]) -> None:
        step()
        self.reload()

    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # -- actions ------------------------------------------------------------------------------------------------------
    def add_class(self) -> None:
        """Ask for a name and add a class at the end."""
        name, ok = QInputDialog.getText(self, "Add class", "Name of the new class:")
        if ok and name.strip():
            holder: list[ClassInfo] = []
            if self._apply(lambda: holder.append(self.ws.classes.add(name)), f"added class {name.strip()!r}"):
                self.select(holder[0].id)

    def rename_selected(self) -> None:
        """Start editing the selected class's name in place (Enter renames it)."""
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.table.editItem(self.table.item(rows[0].row(), NAME))

    def _edited(self, item: QTableWidgetItem) -> None:
        # Applied after Qt is done with the edited item: the reload that follows replaces every item.
        class_id, column, text = item.data(Qt.ItemDataRole.UserRole), item.column(), item.text()
        QTimer.singleShot(0, self, lambda: self._apply_edit(class_id, column, text))

    def _apply_edit(self, class_id: int, column: int, text: str) -> None:
        info = next((c for c in self.classes if c.id == class_id), None)
        if info is None:
            return
        if column == NAME and text.strip() != info.name:
            self._apply(lambda: self.ws.classes.rename(class_id, text), f"renamed {info.name!r} to {text.strip()!r}",
                        class_id)
        elif column == DESCRIPTION and text != info.description:
            self._apply(lambda: self.ws.classes.describe(class_id, text), f"described {info.name!r}", class_id)

    def recolor_selected(self) -> None:
        """Pick a new color for the selected class."""
        info = self.selected()
        if info is None:
            return
        color = QColorDialog.getColor(QColor(info.color), self, f"Color of {info.name}")
        if color.isValid() and color.name() != info.color:
            self._apply(lambda: self.ws.classes.recolor(info.id, color.name()),
                        f"recolored {info.name!r} to {color.name()}", info.id)

    def move_selected(self, step: int) -> None:
        """Move the selected class up (-1) or down (+1) in the order (class keys 1–9 and YOLO ids follow it)."""
        info = self.selected()
        if info is None:
            return
        ids = [c.id for c in self.classes]
        row = ids.index(info.id)
        if not 0 <= row + step < len(ids):
            return
        ids[row], ids[row + step] = ids[row + step], ids[row]
        self._apply(lambda: self.ws.classes.reorder(ids), f"moved {info.name!r} {'up' if step < 0 else 'down'}",
                    info.id)

    def merge_selected(self) -> None:
        """Merge the selected class into another one (after confirming with counts)."""
        source = self.selected()
        if source is None:
            return
        others = [c for c in self.classes if c.id != source.id]
        if not others:
            QMessageBox.information(self, "Merge class", "There is no other class to merge into.")
            return
        name, ok = QInputDialog.getItem(self, "Merge class", f"Merge {source.name!r} into:",
                                        [c.name for c in others], 0, False)
        target = next((c for c in others if c.name == name), None)
        if not ok or target is None:
            return
        used = self.ws.classes.usage().get(source.id, {"annotations": 0, "images": 0})
        if self._confirm("Merge classes", (
                f"Move {plural(used['annotations'], 'annotation')} on {plural(used['images'], 'image')} "
                f"from {source.name} to {target.name}?\n\nClass {source.name} is then deleted. Ctrl+Z undoes it.")):
            self._apply(lambda: self.ws.classes.merge(source.id, target.id),
                        f"merged {source.name!r} into {target.name!r}", target.id)

    def delete_selected(self) -> None:
        """Delete the selected class; when annotations use it, reassign them or delete them too."""
        info = self.selected()
        if info is None:
            return
        used = self.ws.classes.usage().get(info.id, {"annotations": 0, "images": 0})
        if not used["annotations"]:
            if self._confirm("Delete class", f"Delete class {info.name}? No annotation uses it."):
                self._apply(lambda: self.ws.classes.delete(info.id), f"deleted class {info.name!r}")
            return
        choice = DeleteClassDialog(self, info, used["annotations"], used["images"],
                                   [c for c in self.classes if c.id != info.id])
        if choice.exec() != QDialog.DialogCode.Accepted:
            return
        target = choice.reassign_to()
        if target is None:
            self._apply(lambda: self.ws.classes.delete(info.id, drop=True),
                        f"deleted class {info.name!r} and its {plural(used['annotations'], 'annotation')}")
        else:
            self._apply(lambda: self.ws.classes.delete(info.id, reassign_to=target),
                        f"deleted class {info.name!r}; its annotations moved", target)
