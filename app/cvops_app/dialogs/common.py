"""Pieces the dialogs share: the report window shown after a job, problem lists, a form error line, browse rows."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QStyle,
    QVBoxLayout, QWidget,
)

MAX_LISTED = 200  # problems listed in a report box; the rest are counted


def problem_lines(problems: Sequence[Mapping[str, Any]], limit: int = MAX_LISTED) -> str:
    """``path: reason`` lines (with ``:line`` or ``[element]`` where known), the first ``limit`` of them."""
    lines = []
    for problem in problems[:limit]:
        where = str(problem.get("path") or "(dataset)")
        if problem.get("line") is not None:
            where += f":{problem['line']}"
        elif problem.get("element"):
            where += f" [{problem['element']}]"
        lines.append(f"{where}: {problem.get('reason', '')}")
    if len(problems) > limit:
        lines.append(f"… and {len(problems) - limit} more")
    return "\n".join(lines)


def plural(count: int, noun: str, nouns: str = "") -> str:
    """``1 image``, ``2 images`` (``nouns`` for irregular plurals)."""
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"


class ReportDialog(QDialog):
    """A job's summary with its problems listed one a line in a scrolling, selectable text view."""

    def __init__(self, parent: QWidget, title: str, text: str, details: str = "", warning: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        icon = QLabel(self)
        kind = QStyle.StandardPixmap.SP_MessageBoxWarning if warning else QStyle.StandardPixmap.SP_MessageBoxInformation
        icon.setPixmap(self.style().standardIcon(kind).pixmap(32, 32))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.label = QLabel(text, self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPlainTextEdit(details, self)
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setVisible(bool(details))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok, self)
        buttons.accepted.connect(self.accept)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addWidget(self.label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)
        self.resize(760, 420 if details else 160)

    def text(self) -> str:
        """The summary line(s)."""
        return self.label.text()

    def detailed_text(self) -> str:
        """The listed problems."""
        return self.details.toPlainText()


def show_report(parent: QWidget, name: str, title: str, text: str, details: str = "",
                warning: bool = False) -> ReportDialog:
    """Open a non-blocking report window (object name ``name``) over ``parent``."""
    box = ReportDialog(parent, title, text, details, warning)
    box.setObjectName(name)
    box.open()
    return box


class ErrorLine(QLabel):
    """A red line under a form that says what to fix before OK works."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("form-error")
        self.setStyleSheet("color: #c0392b;")
        self.setWordWrap(True)
        self.hide()

    def show_error(self, text: str) -> None:
        """Show ``text`` (an empty text hides the line)."""
        self.setText(text)
        self.setVisible(bool(text))


def browse_row(edit: QLineEdit, *buttons: QPushButton) -> QWidget:
    """A line edit with its Browse… buttons on one form row."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    for button in buttons:
        layout.addWidget(button)
    return row


class CommandLine(QWidget):
    """A command to copy: read-only text and a Copy button."""

    def __init__(self, command: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.text = QLineEdit(command, self)
        self.text.setReadOnly(True)
        self.text.setFont(QFont("monospace", 9))
        self.copy = QPushButton("Copy", self)
        self.copy.clicked.connect(lambda: QApplication.clipboard().setText(self.text.text()))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.copy)
