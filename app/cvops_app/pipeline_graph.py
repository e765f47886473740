"""The pipeline as a graph: one rounded node per step (ingest → check → version → …), coloured by its state in a
run, with its seconds; the chain wraps onto the next row when the view is too narrow. Clicking a node emits
:attr:`PipelineGraph.step_clicked` with the step's index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QMouseEvent, QPainter, QPainterPath, QPen, QPolygonF, QResizeEvent
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QWidget

# state -> (fill, text colour); "pending" is a step the run has not reached (drawn outlined)
STATE_COLORS: dict[str, tuple[str, str]] = {
    "done": ("#27ae60", "#ffffff"), "cached": ("#17a2b8", "#ffffff"), "failed": ("#c0392b", "#ffffff"),
    "cancelled": ("#f39c12", "#ffffff"), "skipped": ("#aab7b8", "#ffffff"), "running": ("#2e86c1", "#ffffff"),
    "pending": ("#ffffff", "#555555"),
}
NODE_W, NODE_H, GAP, ROW_GAP, MARGIN = 118, 58, 34, 34, 12
EDGE = QColor("#7f8c8d")


@dataclass
class GraphStep:
    """What a node shows: the step's kind, its state in the run shown (``pending``: not run) and its seconds."""

    kind: str
    state: str = "pending"
    seconds: Optional[float] = None

    def caption(self) -> str:
        """The node's second line: the state, and the seconds when it ran."""
        if self.state == "pending":
            return "not run"
        return self.state if self.seconds is None or self.state == "skipped" else f"{self.state} · {self.seconds:.2f} s"


class StepNode(QGraphicsPathItem):
    """One step's rounded box with its kind (bold) and caption."""

    def __init__(self, index: int, step: GraphStep) -> None:
        super().__init__()
        self.index, self.step = index, step
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, NODE_W, NODE_H), 9, 9)
        self.setPath(path)
        fill, ink = STATE_COLORS.get(step.state, STATE_COLORS["pending"])
        self.fill = fill
        self.setBrush(QBrush(QColor(fill)))
        self.set_selected(False)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"step {index}: {step.kind} — {step.caption()} (click for its log, inputs and outputs)")
        title = QGraphicsSimpleTextItem(step.kind, self)
        font = QFont()
        font.setBold(True)
        font.setPointSizeF(10.5)
        title.setFont(font)
        title.setBrush(QBrush(QColor(ink)))
        caption = QGraphicsSimpleTextItem(step.caption(), self)
        small = QFont()
        small.setPointSizeF(8.5)
        caption.setFont(small)
        caption.setBrush(QBrush(QColor(ink)))
        for item, y in ((title, 10), (caption, 33)):
            item.setPos((NODE_W - item.boundingRect().width()) / 2, y)
        self.texts = (title, caption)

    def set_selected(self, on: bool) -> None:
        """A thicker dark outline for the step whose details are shown."""
        if on:
            pen = QPen(QColor("#1b2631"), 3)
        elif self.step.state == "pending":
            pen = QPen(QColor("#95a5a6"), 1.5, Qt.PenStyle.DashLine)
        else:
            pen = QPen(QColor(self.fill).darker(130), 1.2)
        self.setPen(pen)

    def label(self) -> str:
        """The node's text (for tests and tooltips)."""
        return f"{self.texts[0].text()}\n{self.texts[1].text()}"


class PipelineGraph(QGraphicsView):
    """The steps of a pipeline as a chain of nodes that wraps to the view's width."""

    step_clicked = Signal(int)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("pipeline-graph")
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.steps: list[GraphStep] = []
        self.nodes: list[StepNode] = []
        self.selected: Optional[int] = None
        self._per_row = 0

    def set_steps(self, steps: Sequence[GraphStep], selected: Optional[int] = None) -> None:
        """Draw ``steps`` (in order); ``selected``: the index outlined as the one whose details are shown."""
        self.steps = list(steps)
        self.selected = selected
        self._layout(force=True)

    def per_row(self) -> int:
        """How many nodes fit in one row of the view."""
        width = self.viewport().width() - 2 * MARGIN + GAP
        return max(1, width // (NODE_W + GAP))

    def _layout(self, force: bool = False) -> None:
        per_row = self.per_row()
        if not force and per_row == self._per_row:
            return
        self._per_row = per_row
        scene = self.scene()
        scene.clear()
        self.nodes = []
        pen = QPen(EDGE, 1.6)
        for index, step in enumerate(self.steps):
            row, col = divmod(index, per_row)
            node = StepNode(index, step)
            node.setPos(MARGIN + col * (NODE_W + GAP), MARGIN + row * (NODE_H + ROW_GAP))
            node.set_selected(index == self.selected)
            scene.addItem(node)
            self.nodes.append(node)
            if index:
                self._edge(scene, self.nodes[index - 1].pos(), node.pos(), pen)
        rows = (len(self.steps) + per_row - 1) // per_row if self.steps else 0
        width = MARGIN * 2 + min(len(self.steps), per_row) * (NODE_W + GAP) - GAP
        scene.setSceneRect(0, 0, max(width, 0), MARGIN * 2 + rows * (NODE_H + ROW_GAP) - ROW_GAP)

    def _edge(self, scene: QGraphicsScene, a: QPointF, b: QPointF, pen: QPen) -> None:
        """An arrow from node ``a`` to node ``b``: straight in a row, down and back left at a row's end."""
        path = QPainterPath()
        if b.y() == a.y():
            start, end = QPointF(a.x() + NODE_W, a.y() + NODE_H / 2), QPointF(b.x(), b.y() + NODE_H / 2)
            path.moveTo(start)
            path.lineTo(end)
            tip, direction = end, QPointF(1, 0)
        else:
            mid_y = a.y() + NODE_H + ROW_GAP / 2
            start, end = QPointF(a.x() + NODE_W / 2, a.y() + NODE_H), QPointF(b.x() + NODE_W / 2, b.y())
            path.moveTo(start)
            path.lineTo(start.x(), mid_y)
            path.lineTo(end.x(), mid_y)
            path.lineTo(end)
            tip, direction = end, QPointF(0, 1)
        scene.addPath(path, pen)
        back = QPointF(tip.x() - direction.x() * 8, tip.y() - direction.y() * 8)
        side = QPointF(direction.y() * 4.5, direction.x() * 4.5)
        scene.addPolygon(QPolygonF([tip, back + side, back - side]), pen, QBrush(EDGE))

    def select(self, index: Optional[int]) -> None:
        """Outline the node ``index`` (None: none)."""
        self.selected = index
        for node in self.nodes:
            node.set_selected(node.index == index)

    def node_at(self, pos: Any) -> Optional[StepNode]:
        """The node under a viewport position."""
        item = self.itemAt(pos)
        while item is not None and not isinstance(item, StepNode):
            item = item.parentItem()
        return item

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt)
        """A click on a node selects it and emits :attr:`step_clicked`."""
        node = self.node_at(event.position().toPoint())
        if node is not None:
            self.select(node.index)
            self.step_clicked.emit(node.index)
        super().mousePressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt)
        """Re-wrap the chain to the new width."""
        super().resizeEvent(event)
        self._layout()
