"""The Images page's tag widgets: the tag menu ("Add tag": the workspace's tag vocabulary, not the classes; "New
tag…" to create one and put it on the selection; "Remove tag" to take one off) and the tag filter (several tags at
once, images with any or all of them, or the untagged images; "Manage tags…" opens the tags dialog). They only show
the tags and say what was chosen; the page edits (one undo step each) and filters."""

from __future__ import annotations

from typing import Optional, Sequence

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup, QMouseEvent
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMenu, QPushButton, QWidget

from cvops.data.tags import TagInfo
from cvops_app.icons import icon

NAME_CHARS = 16  # a longer tag name is cut on the filter button (the tooltip has it whole)
NAMES_CHARS = 30  # the button names ticked tags up to about this many characters, then counts the rest


def ask_tag_name(parent: QWidget) -> Optional[str]:
    """Ask for the name of a new tag; None when cancelled or left empty."""
    text, ok = QInputDialog.getText(parent, "New tag", "Tag the selected images with a new tag:",
                                    QLineEdit.EchoMode.Normal, "")
    return (text.strip() or None) if ok else None


class StayOpenMenu(QMenu):
    """A menu that stays open when a checkable entry is clicked, so that several can be ticked in one go."""

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt)
        """Toggle a checkable entry without closing the menu; anything else as usual."""
        action = self.activeAction()
        if action is not None and action.isCheckable() and action.isEnabled():
            action.trigger()
            event.accept()
            return
        super().mouseReleaseEvent(event)


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "…"


class TagFilterButton(QPushButton):
    """The tag filter: a button whose menu ticks tags (images with any / all of them) or "Untagged"; its text says
    what is chosen ("Tags: night, blurry (all)")."""

    changed = Signal()  # the user changed the filter
    manage_requested = Signal()  # "Manage tags…"

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("tag-filter")
        self.setAutoDefault(False)
        self.setIcon(icon("tag"))
        self.menu_ = StayOpenMenu(self)
        self.menu_.setObjectName("tag-filter-menu")
        self.setMenu(self.menu_)
        self.tags: list[TagInfo] = []
        self.checked: list[int] = []  # tag ids, in display order
        self.tag_actions: dict[int, QAction] = {}
        self.untagged_action = self._checkable("Untagged (no tag)", self._untagged_toggled)
        self.any_action = self._checkable("Images with any of the ticked tags", self._match_toggled)
        self.all_action = self._checkable("Images with all of the ticked tags", self._match_toggled)
        group = QActionGroup(self)
        for action in (self.any_action, self.all_action):
            group.addAction(action)
        self.any_action.setChecked(True)
        self.clear_action = QAction(icon("clear-filter"), "Any tag (clear)", self)
        self.clear_action.triggered.connect(lambda checked=False: self._user_cleared())
        self.manage_action = QAction(icon("tag"), "Manage tags…", self)
        self.manage_action.triggered.connect(lambda checked=False: self.manage_requested.emit())
        self.set_tags([])

    def _checkable(self, text: str, slot: object) -> QAction:
        action = QAction(text, self)
        action.setCheckable(True)
        action.triggered.connect(slot)
        return action

    # -- what is chosen -----------------------------------------------------------------------------------------------
    def tag_ids(self) -> tuple[int, ...]:
        """The ticked tags' ids, in display order."""
        return tuple(self.checked)

    def match(self) -> str:
        """"all" or "any": images with all of the ticked tags, or with any of them."""
        return "all" if self.all_action.isChecked() else "any"

    def untagged(self) -> bool:
        """True when the filter asks for the images without a tag."""
        return self.untagged_action.isChecked()

    def set_selection(self, tag_ids: Sequence[int] = (), match: str = "any", untagged: bool = False) -> None:
        """Choose tags (unknown ids are left out), how they match, or the untagged images; ``changed`` is emitted."""
        self._choose(tag_ids, match, untagged)
        self.changed.emit()

    def reset(self) -> None:
        """Back to every image (no ``changed``)."""
        self._choose((), "any", False)

    # -- the menu -----------------------------------------------------------------------------------------------------
    def set_tags(self, tags: Sequence[TagInfo]) -> bool:
        """Show these tags; a ticked tag that is gone is unticked. True when that changed the filter."""
        self.tags = list(tags)
        known = {t.id for t in self.tags}
        gone = [t for t in self.checked if t not in known]
        self.menu_.clear()
        self.menu_.addAction(self.untagged_action)
        self.menu_.addSeparator()
        self.tag_actions = {}
        for info in self.tags:
            action = self._checkable(info.name, lambda checked=False, t=info.id: self._tag_toggled(t, checked))
            action.setParent(self.menu_)  # clear() deletes it with the next refill
            self.menu_.addAction(action)
            self.tag_actions[info.id] = action
        if not self.tags:
            none = self.menu_.addAction("No tags yet")
            none.setEnabled(False)
        self.menu_.addSeparator()
        self.menu_.addAction(self.any_action)
        self.menu_.addAction(self.all_action)
        self.menu_.addSeparator()
        self.menu_.addAction(self.clear_action)
        self.menu_.addAction(self.manage_action)
        self._choose([t for t in self.checked if t in known], self.match(), self.untagged())
        return bool(gone)

    def _choose(self, tag_ids: Sequence[int], match: str, untagged: bool) -> None:
        wanted = set(tag_ids) if not untagged else set()
        self.checked = [t.id for t in self.tags if t.id in wanted]
        for tag_id, action in self.tag_actions.items():
            action.setChecked(tag_id in wanted)
        self.untagged_action.setChecked(untagged)
        (self.all_action if match == "all" else self.any_action).setChecked(True)
        self._update_text()

    def _tag_toggled(self, tag_id: int, checked: bool) -> None:
        ids = [t for t in self.checked if t != tag_id] + ([tag_id] if checked else [])
        self.set_selection(ids, self.match(), False)  # a tag and "Untagged" exclude each other

    def _untagged_toggled(self, checked: bool) -> None:
        self.set_selection((), self.match(), checked)

    def _match_toggled(self, checked: bool = False) -> None:
        self._update_text()
        if len(self.checked) > 1:
            self.changed.emit()

    def _user_cleared(self) -> None:
        if self.checked or self.untagged():
            self.set_selection((), self.match(), False)

    def _update_text(self) -> None:
        names = {t.id: t.name for t in self.tags}
        chosen = [names[t] for t in self.checked]
        if self.untagged():
            text, tip = "Tags: untagged", "Only the images without a tag"
        elif not chosen:
            text, tip = "Tags: any", "Filter by image tags: tick one or several"
        else:
            names_shown = [_short(chosen[0])]
            for name in map(_short, chosen[1:]):
                if len(", ".join(names_shown + [name])) > NAMES_CHARS:
                    break
                names_shown.append(name)
            shown = ", ".join(names_shown)
            more = f" +{len(chosen) - len(names_shown)}" if len(chosen) > len(names_shown) else ""
            how = f" ({self.match()})" if len(chosen) > 1 else ""
            text = f"Tags: {shown}{more}{how}"
            tip = (f"Images with {'all' if self.match() == 'all' else 'any'} of: " if len(chosen) > 1 else
                   "Images tagged ") + ", ".join(chosen)
        self.setText(text)
        self.setToolTip(tip)


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
