"""The Images page's tag menu ("Add tag"): the workspace's tag vocabulary (not the classes), "New tag…" to create
one and put it on the selection, and "Remove tag" to take one off. It only shows the tags and says what was chosen;
the page edits (one undo step each)."""

from __future__ import annotations

from typing import Optional, Sequence

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMenu, QWidget

from cvops.data.tags import TagInfo

UNTAGGED = "untagged"  # the tag filter's entry for images without a tag


def ask_tag_name(parent: QWidget) -> Optional[str]:
    """Ask for the name of a new tag; None when cancelled or left empty."""
    text, ok = QInputDialog.getText(parent, "New tag", "Tag the selected images with a new tag:",
                                    QLineEdit.EchoMode.Normal, "")
    return (text.strip() or None) if ok else None


def filter_items(tags: Sequence[TagInfo]) -> list[tuple[str, object]]:
    """The tag filter's entries after "Any tag": untagged images, then one per tag."""
    return [("Untagged", UNTAGGED)] + [(t.name, t.id) for t in tags]


class ImageTagMenu(QMenu):
    """"Add tag": one entry per tag, "New tag…", and a "Remove tag" submenu."""

    tag_chosen = Signal(int)  # tag id to put on the selection
    untag_chosen = Signal(int)  # tag id to take off the selection
    new_requested = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__("Add tag", parent)
        self.tag_actions: dict[int, QAction] = {}
        self.untag_actions: dict[int, QAction] = {}
        self.new_action = QAction("New tag…", parent)  # not the menu's: clear() deletes those
        self.new_action.triggered.connect(lambda checked=False: self.new_requested.emit())
        self.remove_menu = QMenu("Remove tag", self)
        self.set_tags([])

    def set_tags(self, tags: Sequence[TagInfo]) -> None:
        """Show these tags."""
        self.clear()
        self.remove_menu.clear()
        self.tag_actions, self.untag_actions = {}, {}
        for info in tags:
            action = self.addAction(info.name)
            action.triggered.connect(lambda checked=False, t=info.id: self.tag_chosen.emit(t))
            self.tag_actions[info.id] = action
            action = self.remove_menu.addAction(info.name)
            action.triggered.connect(lambda checked=False, t=info.id: self.untag_chosen.emit(t))
            self.untag_actions[info.id] = action
        if tags:
            self.addSeparator()
        self.addAction(self.new_action)
        self.addMenu(self.remove_menu)
        self.remove_menu.menuAction().setEnabled(bool(tags))
