"""Shared pyqtgraph helpers for the training and model pages: a line chart that updates its curves in place (cheap
enough for a 1 s refresh), grouped bars, and the curve definitions of a training run's metrics."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import QGraphicsItem, QGridLayout, QWidget

from cvops_app.plot_style import ThemedPlot

PALETTE = ("#2e86c1", "#e67e22", "#28b463", "#c0392b", "#8e44ad", "#16a085", "#d4ac0d", "#7f8c8d")

# chart title -> [(metric key in the epochs table, legend label)]
LOSS_CURVES = [("train/box_loss", "box loss"), ("train/cls_loss", "cls loss"), ("train/dfl_loss", "dfl loss"),
               ("val/box_loss", "val box loss")]
MAP_CURVES = [("metrics/mAP50(B)", "mAP50"), ("metrics/mAP50-95(B)", "mAP50-95")]
PR_CURVES = [("metrics/precision(B)", "precision"), ("metrics/recall(B)", "recall")]
STAGGER_MS = 30
DEFAULT_LOSS_MAX = 5.0  # YOLO's first-epoch losses are usually below 5: the loss axis rarely changes mid-run
RUN_CHARTS = (("Losses", "loss", LOSS_CURVES), ("mAP", "mAP", MAP_CURVES), ("Precision & recall", "score", PR_CURVES))
ROW_MIN_WIDTH = 720  # narrower than this, the run's three charts take two columns instead of one row


def color(n: int) -> str:
    """The ``n``-th color of the palette (wraps around)."""
    return PALETTE[n % len(PALETTE)]


def series(epochs: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """``(epochs, values)`` of one metric from a run's epochs table (epochs without the metric are skipped)."""
    xs, ys = [], []
    for row in epochs:
        value = row.get(key)
        if isinstance(value, (int, float)):
            xs.append(float(row["epoch"]))
            ys.append(float(value))
    return xs, ys


class LegendRow(pg.LegendItem):
    """A legend in a row of its own under the plot's x axis (in the plot item's layout, not over the view box): it
    takes room of its own, so it never covers a curve or a bar."""

    def updateSize(self) -> None:  # noqa: N802 (pyqtgraph)
        """Ask the plot's layout for the room the entries need (a floating legend resizes itself instead)."""
        if self.size is not None:
            return
        hint = self.layout.preferredSize()
        self.setMinimumSize(hint)
        self.setPreferredSize(hint)
        self.setMaximumHeight(hint.height())
        self.updateGeometry()


LEGEND_ROW = 4  # the plot item's layout: title 0, top axis 1, view box 2, bottom axis 3


def legend_below(plot: pg.PlotWidget, columns: int = 2, **options: Any) -> pg.LegendItem:
    """The plot's legend, emptied (made on first use): ``columns`` entries a row, under the x axis, never over the
    data. Items plotted with a ``name`` join it."""
    item = plot.getPlotItem()
    legend = item.legend
    if not isinstance(legend, LegendRow):
        legend = LegendRow(colCount=columns, verSpacing=-6, labelTextColor=plot.palette().color(QPalette.ColorRole.Text),
                           **options)
        item.layout.addItem(legend, LEGEND_ROW, 1)
        item.legend = legend
    legend.clear()
    legend.setColumnCount(max(columns, 1))
    return legend


class LineChart(ThemedPlot):
    """A small line chart with a title, a legend and named curves that are updated in place."""

    def __init__(self, title: str, left: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setTitle(title, color="#333", size="11pt")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setLabel("bottom", "epoch")
        if left:
            self.setLabel("left", left)
        self.legend = legend_below(self)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.setMinimumHeight(150)
        # Axes, title and legend change rarely: paint them from a pixmap cache, so a refresh repaints curves only.
        cached = [self.getAxis(side) for side in ("left", "bottom", "top", "right")]
        cached += [self.plotItem.titleLabel, self.legend]
        for item in cached:
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def set_curve(self, name: str, xs: Sequence[float], ys: Sequence[float], pen_color: str,
                  style: Qt.PenStyle = Qt.PenStyle.SolidLine, symbols: bool = False) -> None:
        """Create or update the curve ``name`` (``symbols``: mark the points; costs more to draw)."""
        curve = self.curves.get(name)
        if curve is None:
            pen = pg.mkPen(pen_color, width=2, style=style)
            marks = {"symbol": "o", "symbolSize": 5, "symbolBrush": pen_color, "symbolPen": pen_color}
            curve = self.plot([], [], pen=pen, name=name, **(marks if symbols else {}))
            self.curves[name] = curve
        curve.setData(list(xs), list(ys))

    def clear_curves(self) -> None:
        """Remove every curve and legend entry."""
        for curve in self.curves.values():
            self.removeItem(curve)
        self.legend.clear()
        self.curves.clear()

    def points(self) -> int:
        """The most points any curve holds (for tests)."""
        return max((len(c.getData()[0] if c.getData()[0] is not None else []) for c in self.curves.values()),
                   default=0)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is >= ``value`` (a y range that rarely changes)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(f * power for f in (1, 2, 5, 10) if f * power >= value)


class RunCharts(QWidget):
    """The three charts of one training run: losses, mAP, precision & recall.

    Kept cheap for a live refresh: the curves and legends exist from the start, the ranges are set explicitly (x from
    the run's epoch budget, y 0..1 for the metrics and a rounded-up maximum for the losses) so axes are only
    redrawn when a range really changes, and an unchanged epochs table is not replotted. Points are marked, so the
    first epoch shows as a dot; epoch ticks are whole numbers. Narrower than :data:`ROW_MIN_WIDTH` the charts take
    two columns.
    """

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.charts = [LineChart(title, left, self) for title, left, _ in RUN_CHARTS]
        self._shown: Any = None
        self._columns = 0
        self._ranges: dict[int, tuple[float, float, float]] = {}
        for chart, (_, _, curves) in zip(self.charts, RUN_CHARTS):
            chart.enableAutoRange(False)
            for n, (key, label) in enumerate(curves):
                style = Qt.PenStyle.DashLine if key.startswith("val/") else Qt.PenStyle.SolidLine
                chart.set_curve(label, [], [], color(n), style, symbols=True)
        self._arrange(len(self.charts))
        for index in range(len(self.charts)):
            self._set_range(index, self._ranges_for(index, 10, DEFAULT_LOSS_MAX))

    def _arrange(self, columns: int) -> None:
        """Lay the charts out in ``columns`` columns (3: one row)."""
        if columns == self._columns:
            return
        self._columns = columns
        for chart in self.charts:
            self.grid.removeWidget(chart)
        for n, chart in enumerate(self.charts):
            self.grid.addWidget(chart, n // columns, n % columns)
        for column in range(len(self.charts)):
            self.grid.setColumnStretch(column, 1 if column < columns else 0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt)
        """One row when wide enough, else two columns."""
        super().resizeEvent(event)
        self._arrange(len(self.charts) if event.size().width() >= ROW_MIN_WIDTH else 2)

    def _ranges_for(self, index: int, epochs: int, loss_max: float) -> tuple[float, float, float]:
        return 1.0, float(max(epochs, 2)), loss_max if index == 0 else 1.0

    def _set_range(self, index: int, wanted: tuple[float, float, float]) -> None:
        if self._ranges.get(index) != wanted:  # a new range redraws the axes: only when it really changes
            self._ranges[index] = wanted
            self.charts[index].setXRange(wanted[0], wanted[1], padding=0.04)
            step = max(1, int(nice_ceiling((wanted[1] - wanted[0]) / 6)))  # whole epochs, about six ticks
            self.charts[index].getAxis("bottom").setTickSpacing(step, step)
            self.charts[index].setYRange(0.0, wanted[2], padding=0.02)

    def show_epochs(self, epochs: Sequence[dict[str, Any]], total: Optional[int] = None) -> None:
        """Plot a run's epochs table (``total``: the run's epoch budget, for the x range); empty clears the curves."""
        signature = (total, len(epochs), tuple(sorted(epochs[-1].items())) if epochs else None)
        if signature == self._shown:
            return
        self._shown = signature
        losses = [v for key, _ in LOSS_CURVES for v in series(epochs, key)[1]]
        last = max(total or 0, len(epochs), int(epochs[-1]["epoch"]) if epochs else 0) or 10
        loss_max = nice_ceiling(max(losses, default=DEFAULT_LOSS_MAX))
        for index, (_, _, curves) in enumerate(RUN_CHARTS):
            data = [(label, *series(epochs, key), color(n)) for n, (key, label) in enumerate(curves)]
            ranges = self._ranges_for(index, last, loss_max)
            if index == 0:
                self._apply(index, ranges, data)
            else:  # one chart per event-loop turn: the GUI thread never repaints all three at once; the chart is
                # the timer's context, so a closed page drops the call
                QTimer.singleShot(STAGGER_MS * index, self.charts[index],
                                  lambda i=index, r=ranges, d=data: self._apply(i, r, d))

    def _apply(self, index: int, ranges: tuple[float, float, float],
               data: list[tuple[str, list[float], list[float], str]]) -> None:
        self._set_range(index, ranges)
        chart = self.charts[index]
        for label, xs, ys, pen_color in data:
            chart.set_curve(label, xs, ys, pen_color)


def grouped_bars(plot: pg.PlotWidget, categories: Sequence[str], groups: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Bars of ``groups`` (name, one value per category; None = no bar) side by side per category, with a legend."""
    plot.clear()
    legend_below(plot, columns=min(len(groups), 4))
    width = 0.8 / max(len(groups), 1)
    for n, (name, values) in enumerate(groups):
        xs = [i - 0.4 + width * (n + 0.5) for i in range(len(categories))]
        heights = [float(v) if v is not None else 0.0 for v in values]
        plot.addItem(pg.BarGraphItem(x=xs, height=heights, width=width, brush=color(n), pen=color(n), name=name))
    plot.getAxis("bottom").setTicks([list(enumerate(categories))])
    if categories:
        plot.setXRange(-0.6, len(categories) - 0.4, padding=0)


def delta_bars(plot: pg.PlotWidget, categories: Sequence[str], deltas: Sequence[Optional[float]],
               limit: Optional[float] = None) -> Optional[pg.BarGraphItem]:
    """One bar per category of ``deltas`` (None: no bar), green when >= 0 and red when negative, a zero line, and a
    dashed line at ``-limit`` (a drop beyond it fails); returns the bars (None when there is nothing to draw)."""
    plot.clear()
    plot.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=pg.mkPen("#555", width=1)))
    if limit is not None:
        plot.addItem(pg.InfiniteLine(pos=-float(limit), angle=0, label=f"-{limit:g}",
                                     labelOpts={"position": 0.02, "color": "#c0392b", "anchors": [(0, 0), (0, 0)]},
                                     pen=pg.mkPen("#c0392b", width=1.5, style=Qt.PenStyle.DashLine)))
    plot.getAxis("bottom").setTicks([list(enumerate(categories))])
    if not categories:
        return None
    heights = [float(d) if d is not None else 0.0 for d in deltas]
    brushes = [("#27ae60" if h >= 0 else "#c0392b") for h in heights]
    bars = pg.BarGraphItem(x=list(range(len(categories))), height=heights, width=0.6, brushes=brushes,
                           pens=brushes)
    plot.addItem(bars)
    plot.setXRange(-0.6, len(categories) - 0.4, padding=0)
    low = min(heights + [-float(limit or 0.0), 0.0])
    high = max(heights + [0.0])
    span = max(high - low, 0.02)
    # room below the lowest line for the limit's label, which hangs under its line
    plot.setYRange(low - span * 0.2 if low < 0 else -span * 0.1, high + span * 0.1 if high > 0 else span * 0.1,
                   padding=0)
    return bars


def time_chart(title: str, parent: QWidget, left: str = "") -> pg.PlotWidget:
    """A fixed (no mouse, no menu) chart with a UTC date axis, a light grid and a title."""
    plot = ThemedPlot(parent, axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0)})
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setTitle(title, color="#333", size="10pt")
    if left:
        plot.setLabel("left", left)
    plot.setMinimumSize(160, 140)
    return plot


def fresh_legend(plot: pg.PlotWidget, columns: int = 3) -> Any:
    """The plot's legend, emptied (made on first use): compact, under the x axis (:func:`legend_below`)."""
    return legend_below(plot, columns, labelTextSize="8pt")
