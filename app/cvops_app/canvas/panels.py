"""Side panels of the annotator: the class palette (with its search field, the class picker), the image tags and
the review state. They only show state and emit what the user chose; the page commits."""

from __future__ import annotations

from typing import Optional, Sequence

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QComboBox, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout,
    QWidget,
)

from cvops.catalog.statuses import STATUSES
from cvops.data.classes import ClassInfo
from cvops.data.tags import TagInfo

ID_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
LABEL_ROLE = Qt.ItemDataRole.UserRole + 2  # an image-level class label in the tag panel
HOTKEYS = 9


def swatch(color: str, size: int = 14) -> QIcon:
    """A square icon of a class color."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class ClassPalette(QGroupBox):
    """Classes with color swatches and their 1–9 hotkeys; the search field filters them (the class picker)."""

    chosen = Signal(int)  # class id
    done = Signal()  # the picker was left (Enter or Esc): focus goes back to the canvas
    add_requested = Signal()  # "Add classes…" while there are none

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("Classes", parent)
        self.search = QLineEdit(self)
        self.search.setObjectName("class-search")
        self.search.setPlaceholderText("Find a class…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setObjectName("class-palette")
        self.empty = QLabel("No classes yet. Add the classes you label (car, person…), or draw a box and name "
                            "its class.", self)
        self.empty.setObjectName("no-classes")
        self.empty.setWordWrap(True)
        self.add_button = QPushButton("Add classes…", self)
        self.add_button.setObjectName("add-classes")
        self.add_button.clicked.connect(lambda _=False: self.add_requested.emit())
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        layout.addWidget(self.empty)
        layout.addWidget(self.add_button)
        layout.addStretch(1)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._pick_first)
        self.search.installEventFilter(self)
        self.list.itemClicked.connect(self._activated)
        self.list.itemActivated.connect(self._activated)

    def set_classes(self, classes: Sequence[ClassInfo], current: Optional[int]) -> None:
        """Show the classes (palette order), marking ``current``."""
        self.list.blockSignals(True)
        self.list.clear()
        for n, info in enumerate(classes, start=1):
            key = f"{n}  " if n <= HOTKEYS else "    "
            item = QListWidgetItem(swatch(info.color), f"{key}{info.name}", self.list)
            item.setData(ID_ROLE, info.id)
            item.setData(NAME_ROLE, info.name.casefold())
            item.setToolTip(info.description or info.name)
        self.list.blockSignals(False)
        for widget in (self.search, self.list):
            widget.setVisible(bool(classes))
        self.empty.setVisible(not classes)
        self.add_button.setVisible(not classes)
        self.set_current(current)
        self._filter(self.search.text())

    def set_current(self, class_id: Optional[int]) -> None:
        """Highlight the current class."""
        self.list.blockSignals(True)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == class_id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def open_picker(self) -> None:
        """Focus the search field to pick a class by name (C)."""
        self.search.setFocus()
        self.search.selectAll()

    def _filter(self, text: str) -> None:
        needle = text.strip().casefold()
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(bool(needle) and needle not in item.data(NAME_ROLE))

    def _visible(self) -> list[QListWidgetItem]:
        return [self.list.item(r) for r in range(self.list.count()) if not self.list.item(r).isHidden()]

    def _pick_first(self) -> None:
        current = self.list.currentItem()
        matches = self._visible()
        item = current if current is not None and current in matches else (matches[0] if matches else None)
        if item is not None:
            self.chosen.emit(int(item.data(ID_ROLE)))
            self.search.clear()
            self.done.emit()

    def _activated(self, item: QListWidgetItem) -> None:
        self.chosen.emit(int(item.data(ID_ROLE)))
        self.done.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
        """In the search field, Up/Down move through the matches and Esc leaves."""
        if watched is self.search and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                matches = self._visible()
                if matches:
                    current = self.list.currentItem()
                    at = matches.index(current) if current in matches else -1
                    step = 1 if key == Qt.Key.Key_Down else -1
                    self.list.setCurrentItem(matches[max(0, min(len(matches) - 1, at + step))])
                return True
            if key == Qt.Key.Key_Escape:
                self.search.clear()
                self.done.emit()
                return True
        return super().eventFilter(watched, event)


class TagPanel(QGroupBox):
    """The image's tags: one checkable row per tag of the vocabulary (not the classes), a field that creates a tag
    and puts it on the image, and, below, the image-level class labels the image has (annotations of kind ``tag``,
    e.g. from a CVAT or COCO import), which can be unchecked to remove them."""

    toggled = Signal(int, bool)  # tag id, checked
    created = Signal(str)  # a new tag's name (typed in the field, Enter)
    label_removed = Signal(int)  # class id of an image-level class label unchecked

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("Image tags", parent)
        self.list = QListWidget(self)
        self.list.setObjectName("image-tags")
        self.new = QLineEdit(self)
        self.new.setObjectName("new-tag")
        self.new.setPlaceholderText("New tag… (Enter)")
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.new)
        self.list.itemChanged.connect(self._changed)
        self.new.returnPressed.connect(self._create)

    def set_tags(self, tags: Sequence[TagInfo], tagged: set[int], labels: Sequence[ClassInfo] = ()) -> None:
        """Show every tag, checked where the image has it, then the image's class labels (checked)."""
        self.list.blockSignals(True)
        self.list.clear()
        for info in tags:
            item = QListWidgetItem(info.name, self.list)
            if info.color:
                item.setIcon(swatch(info.color))
            item.setData(ID_ROLE, info.id)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if info.id in tagged else Qt.CheckState.Unchecked)
        for info in labels:
            item = QListWidgetItem(swatch(info.color), f"{info.name} (class label)", self.list)
            item.setData(ID_ROLE, info.id)
            item.setData(LABEL_ROLE, True)
            item.setToolTip("An image-level class label (exported with the annotations); uncheck to remove it")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
        self.list.blockSignals(False)

    def _changed(self, item: QListWidgetItem) -> None:
        checked = item.checkState() == Qt.CheckState.Checked
        if item.data(LABEL_ROLE):
            if not checked:
                self.label_removed.emit(int(item.data(ID_ROLE)))
            return
        self.toggled.emit(int(item.data(ID_ROLE)), checked)

    def _create(self) -> None:
        name = self.new.text().strip()
        if name:
            self.new.clear()
            self.created.emit(name)


class ReviewPanel(QGroupBox):
    """The image's review status (combo and approve / reject / needs-review buttons) and comment."""

    status_chosen = Signal(str)
    comment_edited = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("Review", parent)
        self.status = QComboBox(self)
        self.status.setObjectName("review-status")
        for status in STATUSES:
            self.status.addItem(status.replace("_", " "), status)
        self.comment = QLineEdit(self)
        self.comment.setObjectName("review-comment")
        self.comment.setPlaceholderText("Comment…")
        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for status, text in (("approved", "Approve"), ("rejected", "Reject"), ("needs_review", "Needs review")):
            button = QPushButton(text, self)
            button.setObjectName(f"review-{status}")
            button.clicked.connect(lambda _=False, s=status: self.status_chosen.emit(s))
            buttons.addWidget(button)
            self.buttons[status] = button
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addWidget(self.comment)
        self.status.activated.connect(lambda index: self.status_chosen.emit(self.status.itemData(index)))
        self.comment.editingFinished.connect(lambda: self.comment_edited.emit(self.comment.text()))

    def set_state(self, status: str, comment: str) -> None:
        """Show an image's status and comment."""
        self.status.blockSignals(True)
        self.status.setCurrentIndex(max(0, self.status.findData(status)))
        self.status.blockSignals(False)
        if not self.comment.hasFocus() or self.comment.text() == comment:
            self.comment.setText(comment)

    def set_button_tips(self, tips: dict[str, str]) -> None:
        """Tool tips naming each button's shortcut."""
        for status, tip in tips.items():
            self.buttons[status].setToolTip(tip)
