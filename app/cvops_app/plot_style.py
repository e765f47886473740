"""pyqtgraph charts in the palette's colours: a background, axes, title and legend that follow the light or dark
theme, restyled when the palette changes (``QEvent.PaletteChange``)."""

from __future__ import annotations

from typing import Any, Optional

import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

LEGEND_ALPHA = 210  # the legend's background: the chart's, slightly see-through


class ThemedPlot(pg.PlotWidget):
    """A ``pg.PlotWidget`` painted in the palette's colours: base background, text-coloured axes, title and legend
    (colours passed to :meth:`setTitle` or :meth:`addLegend` are replaced by the palette's)."""

    def __init__(self, parent: Optional[QWidget] = None, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.restyle()

    def ink(self) -> QColor:
        """The colour of the chart's text and axes."""
        return self.palette().color(QPalette.ColorRole.Text)

    def restyle(self) -> None:
        """Apply the palette's colours to the background, the axes, the title and the legend."""
        base, ink = self.palette().color(QPalette.ColorRole.Base), self.ink()
        self.setBackground(base)
        for side in ("left", "bottom", "top", "right"):
            axis = self.getAxis(side)
            axis.setPen(ink)
            axis.setTextPen(ink)
        title = self.plotItem.titleLabel
        if title.text:
            title.setText(title.text, color=ink)
        legend = self.plotItem.legend
        if legend is not None:
            legend.setLabelTextColor(ink)
            for _, label in legend.items:  # the colour is kept for new entries; the shown ones are redrawn
                label.setText(label.text, color=ink)
            legend.setBrush(QColor(base.red(), base.green(), base.blue(), LEGEND_ALPHA))

    def setTitle(self, title: Optional[str] = None, **args: Any) -> None:  # noqa: N802 (pyqtgraph)
        """The plot's title, in the palette's text colour."""
        self.plotItem.setTitle(title, **{**args, "color": self.ink()})

    def addLegend(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 (pyqtgraph)
        """The plot's legend, in the palette's colours."""
        base = self.palette().color(QPalette.ColorRole.Base)
        kwargs.update(labelTextColor=self.ink(), brush=QColor(base.red(), base.green(), base.blue(), LEGEND_ALPHA))
        return self.plotItem.addLegend(*args, **kwargs)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt)
        """Restyle when the palette changes (a theme switch)."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.__dict__.get("plotItem") is not None:  # built, not closed
            self.restyle()
