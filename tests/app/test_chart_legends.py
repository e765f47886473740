"""Chart legends never hide data: every chart's legend sits in a row of its own under the x axis, outside the plot
area (the view box that holds the curves and bars), and inside the widget (nothing of it clipped)."""

from __future__ import annotations

from typing import Any, Callable

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF

from cvops_app.charts import LineChart, RunCharts, fresh_legend, grouped_bars, time_chart
from cvops_app.pages.versions import SplitChart


def line_chart() -> pg.PlotWidget:
    chart = LineChart("mAP", "mAP")
    for n, name in enumerate(("mAP50", "mAP50-95")):  # rising to the top right corner, where legends used to be
        chart.set_curve(name, [1, 2, 3, 4, 5], [0.2, 0.5, 0.8, 0.95, 0.99 - n * 0.1], "#2e86c1")
    return chart


def bars() -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    grouped_bars(plot, ["car", "person", "dog"], [("m1", [0.9, 0.8, 0.7]), ("m2", [0.95, 0.85, 0.9])])
    return plot


def splits() -> pg.PlotWidget:
    chart = SplitChart()
    chart.show_counts(["circle", "square"], {"circle": {"train": 9, "val": 2, "test": 2},
                                             "square": {"train": 7, "val": 1, "test": 3}}, ["train", "val", "test"])
    return chart


def timeline() -> pg.PlotWidget:
    plot = time_chart("Class mix", None)  # type: ignore[arg-type]
    fresh_legend(plot)
    for n, name in enumerate(("car", "person", "dog")):
        plot.plot([1.7e9, 1.7e9 + 86400, 1.7e9 + 2 * 86400], [0.2 + n * 0.3, 0.5, 0.9], name=name,
                  pen=pg.mkPen("#2e86c1"))
    return plot


@pytest.mark.parametrize("make", [line_chart, bars, splits, timeline], ids=lambda f: f.__name__)
def test_the_legend_is_outside_the_plot_area(qtbot: Any, make: Callable[[], pg.PlotWidget]) -> None:
    plot = make()
    qtbot.addWidget(plot)
    plot.resize(360, 260)
    plot.show()
    qtbot.waitExposed(plot)
    item = plot.getPlotItem()
    legend = item.legend
    assert legend is not None and legend.items, "no legend entries"
    shown = legend.sceneBoundingRect()
    area = item.vb.sceneBoundingRect()
    assert shown.height() > 0 and not shown.intersects(area), (shown, area)
    assert QRectF(plot.viewport().rect()).contains(plot.mapFromScene(shown).boundingRect().toRectF()), "clipped"
    for _, label in legend.items:  # each entry's text in full, inside the legend
        assert shown.contains(label.sceneBoundingRect().adjusted(1, 1, -1, -1))


def test_the_run_charts_keep_their_legends_out_of_the_curves(qtbot: Any) -> None:
    charts = RunCharts()
    qtbot.addWidget(charts)
    charts.resize(900, 260)
    charts.show()
    qtbot.waitExposed(charts)
    charts.show_epochs([{"epoch": e, "metrics/mAP50(B)": e / 10, "train/box_loss": 2 - e / 10} for e in range(1, 10)],
                       total=10)
    for chart in charts.charts:
        assert not chart.legend.sceneBoundingRect().intersects(chart.getPlotItem().vb.sceneBoundingRect())
