"""The application's look: its icon, and the light or dark palette that follows the system or the user's choice."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

RESOURCES = Path(__file__).resolve().parent / "resources"
APP_ICON = RESOURCES / "cvops-workbench.svg"


def app_icon() -> QIcon:
    """The application's icon (a vector drawing: sharp at every size and pixel ratio)."""
    return QIcon(str(APP_ICON))
