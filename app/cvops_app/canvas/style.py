"""How the canvas draws model suggestions: a dashed outline and the confidence in the label (shared by the shape
layer and the editable items)."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QPen


def dashed(pen: QPen) -> QPen:
    """A dashed copy of ``pen``: how suggestions are outlined."""
    out = QPen(pen)
    out.setStyle(Qt.PenStyle.DashLine)
    return out


def suggestion_text(name: str, confidence: Optional[float]) -> str:
    """A suggestion's label: class name and confidence (``car 0.87``)."""
    return f"{name} {confidence:.2f}" if confidence is not None else f"{name} ?"
