"""What the Images page shows around its gallery: the bulk-action buttons, the selection count, and the overlay
that leads out of an empty gallery ("No images match — Clear filters", "No images yet — Import images…").

The bulk buttons are push buttons: a ``QToolButton`` in instant-popup mode gets Fusion's corner menu indicator, a
five-pixel arrow at the bottom right that reads as an underscore after the text ("Set status_"); a push button with
a menu draws a full-size arrow after its text.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QAbstractScrollArea, QLabel, QMenu, QPushButton, QVBoxLayout, QWidget

from cvops_app.icons import icon

ACTION_ICONS = {"clear": "clear-filter", "import": "import-images"}  # the overlay's button: action -> icon


def menu_button(menu: QMenu, parent: QWidget) -> QPushButton:
    """A push button that opens ``menu`` (titled like it), with a real down arrow."""
    button = QPushButton(menu.title(), parent)
    button.setMenu(menu)
    button.setAutoDefault(False)
    return button


def action_button(action: QAction, parent: QWidget) -> QPushButton:
    """A push button that triggers ``action`` and follows its text, tooltip and enabled state."""
    button = QPushButton(action.text(), parent)
    button.setAutoDefault(False)
    button.clicked.connect(lambda _=False: action.trigger())

    def sync() -> None:
        button.setText(action.text())
        button.setEnabled(action.isEnabled())
        button.setToolTip(action.toolTip() + (f" ({action.shortcut().toString()})" if not action.shortcut().isEmpty()
                                              else ""))

    action.changed.connect(sync)
    sync()
    return button


def selection_text(selected: int, shown: int) -> str:
    """The selection count shown next to the bulk actions."""
    if not shown:
        return ""
    if not selected:
        return "None selected"
    return f"{selected:,} of {shown:,} selected" if selected != shown else f"All {shown:,} selected"


class EmptyOverlay(QWidget):
    """A message with a button over the middle of an empty item view (it follows the view's size). It is a child of
    the view, not of its viewport, so scrolling never moves it."""

    clicked = Signal(str)  # the action id of the button

    def __init__(self, view: QAbstractScrollArea) -> None:
        super().__init__(view)
        self.viewport = view.viewport()
        self.setObjectName("empty-overlay")
        self.action = ""
        self.label = QLabel(self)
        self.label.setObjectName("empty-message")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        font = self.label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.label.setFont(font)
        self.button = QPushButton(self)
        self.button.setObjectName("empty-action")
        self.button.setAutoDefault(False)
        self.button.clicked.connect(lambda _=False: self.clicked.emit(self.action))
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.label)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        view.viewport().installEventFilter(self)
        self.hide()

    def show_message(self, text: str, button: str = "", action: str = "") -> None:
        """Show ``text`` (and a button that emits ``clicked(action)``); an empty ``text`` hides the overlay."""
        if not text:
            self.hide()
            return
        self.label.setText(text)
        self.button.setText(button)
        self.button.setIcon(icon(ACTION_ICONS[action]) if action in ACTION_ICONS else QIcon())
        self.button.setVisible(bool(button))
        self.action = action
        self.setGeometry(self.viewport.geometry())
        self.show()
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
        """Cover the viewport whenever it is resized."""
        if watched is self.viewport and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.viewport.geometry())
        return super().eventFilter(watched, event)

    def message(self) -> Optional[str]:
        """The message shown, or None when hidden."""
        return self.label.text() if not self.isHidden() else None
