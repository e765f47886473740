"""Naming the first class where it is needed: a shape drawn in a workspace without classes stays on the canvas
(dashed) while a small popup asks for a class name; the page creates the class and gives the shape to it."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QPen, QPolygonF
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QGraphicsPolygonItem, QGraphicsScene, QGraphicsView, QLabel, QLineEdit, QVBoxLayout,
    QWidget,
)

PENDING_Z = 1e6  # above every shape


class NewClassPopup(QDialog):
    """Asks for the name of the first class (Enter creates it, Esc drops the shape)."""

    def __init__(self, kind: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("new-class-popup")
        self.setWindowTitle("New class")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.name = QLineEdit(self)
        self.name.setObjectName("new-class-name")
        self.name.setPlaceholderText("Class name, e.g. car")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.create = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.create.setText("Create class")
        self.create.setDefault(True)
        self.create.setEnabled(False)
        self.name.textChanged.connect(lambda text: self.create.setEnabled(bool(text.strip())))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.prompt = QLabel(f"This workspace has no classes yet.\nName the class of this {kind}:", self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(self.name)
        layout.addWidget(self.buttons)

    def class_name(self) -> str:
        """The name typed, trimmed."""
        return self.name.text().strip()

    def place_at(self, point: QPoint) -> None:
        """Show the popup's top-left corner at ``point`` (global), kept on the screen."""
        self.adjustSize()
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None:
            point = QPoint(min(point.x(), screen.right() - self.width()),
                           min(point.y(), screen.bottom() - self.height()))
        self.move(point)


def pending_outline(scene: QGraphicsScene, points: list[QPointF]) -> QGraphicsPolygonItem:
    """The drawn shape, dashed, while its class is being named (the caller removes it)."""
    item = QGraphicsPolygonItem(QPolygonF(points))
    pen = QPen(QColor(255, 255, 255), 2, Qt.PenStyle.DashLine)
    pen.setCosmetic(True)
    item.setPen(pen)
    item.setBrush(QColor(255, 255, 255, 40))
    item.setZValue(PENDING_Z)
    scene.addItem(item)
    return item


def ask_first_class(canvas: QGraphicsView, kind: str, outline: list[QPointF],
                    create: Callable[[str], None]) -> NewClassPopup:
    """Keep the drawn ``outline`` on ``canvas`` and open the popup next to it; ``create(name)`` runs when a name is
    given. The outline goes when the popup closes (the created shape replaces it)."""
    item = pending_outline(canvas.scene(), outline)
    popup = NewClassPopup(kind, canvas)
    popup.accepted.connect(lambda: create(popup.class_name()))
    popup.finished.connect(lambda _: item.scene() is not None and item.scene().removeItem(item))
    corner = max(outline, key=lambda p: (p.y(), p.x()))  # below the shape, where the drag ended for a box
    popup.place_at(canvas.viewport().mapToGlobal(canvas.mapFromScene(corner)) + QPoint(8, 8))
    popup.open()
    popup.activateWindow()
    popup.name.setFocus()
    return popup
