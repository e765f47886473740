"""The Tune page's charts of a study (pyqtgraph, in the theme's colours): optimization history, parameter importances
and parallel coordinates.

Each chart takes :func:`cvops.tuning.show_study`'s dict (``trials``, ``direction``, ``importances``, ``space``) and
draws it whole again (a study has tens of trials, not thousands):

* :class:`HistoryChart`: each complete trial's value by trial number, the best value so far as a step line, pruned
  trials marked at the last value they reported.
* :class:`ImportanceChart`: Optuna's parameter importances as horizontal bars, most important on top; a placeholder
  text until two trials are complete (or the study's note says why there are none).
* :class:`ParallelChart`: one polyline per trial across the searched parameters, each on its own axis normalised to
  0..1 (a log-scale parameter in log space, a categorical one on evenly spaced ticks), the last axis the value;
  complete trials coloured by value (bright = best), pruned ones grey.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from cvops_app.charts import legend_below
from cvops_app.plot_style import ThemedPlot

COMPLETE, PRUNED, BEST = "#2e86c1", "#b9770e", "#1e8449"
PRUNED_LINE = "#9aa0a6"
COLORMAP = "viridis"


def _fixed(plot: ThemedPlot, title: str) -> None:
    """A chart without mouse interaction or menu, with a title and a light grid."""
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setTitle(title, size="10pt")
    plot.setMinimumSize(200, 150)


def _last_value(trial: dict[str, Any]) -> Optional[float]:
    """The last per-epoch value a trial reported (a pruned trial's mark), or None."""
    values = [v for _, v in sorted(trial.get("intermediate", {}).items(), key=lambda kv: int(kv[0]))
              if isinstance(v, (int, float)) and math.isfinite(v)]
    return values[-1] if values else None


def best_so_far(trials: Sequence[dict[str, Any]], direction: str) -> tuple[list[float], list[float]]:
    """``(trial numbers, best value up to each)`` over the complete trials, in trial order."""
    xs, ys = [], []
    best: Optional[float] = None
    for t in sorted(trials, key=lambda t: t["number"]):
        if t["state"] != "complete" or t["value"] is None:
            continue
        value = float(t["value"])
        if best is None or (value < best if direction == "minimize" else value > best):
            best = value
        xs.append(float(t["number"]))
        ys.append(best)
    return xs, ys


class StudyChart(ThemedPlot):
    """A chart of one study, drawn again in the new colours when the theme changes."""

    def show_study(self, study: Optional[dict[str, Any]]) -> None:
        """Draw ``study`` (None clears)."""
        self.__dict__["shown"] = study
        self.draw(study)

    def draw(self, study: Optional[dict[str, Any]]) -> None:
        """Draw ``study`` (None clears); subclasses do."""
        raise NotImplementedError

    def restyle(self) -> None:
        """The palette's colours, also for the texts and lines drawn in them."""
        super().restyle()
        if "shown" in self.__dict__:
            self.draw(self.__dict__["shown"])


class HistoryChart(StudyChart):
    """Optimization history: complete trials' values, pruned trials marked, the best so far."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        _fixed(self, "Optimization history")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setLabel("bottom", "trial")
        self.getAxis("left").enableAutoSIPrefix(False)
        legend_below(self, columns=3, labelTextSize="8pt")
        self.complete = pg.ScatterPlotItem(size=8, brush=COMPLETE, pen=COMPLETE, name="complete")
        self.pruned = pg.ScatterPlotItem(size=9, symbol="x", brush=PRUNED, pen=PRUNED, name="pruned")
        self.best = pg.PlotDataItem([], [], pen=pg.mkPen(BEST, width=2), name="best")
        for item in (self.best, self.complete, self.pruned):
            self.addItem(item)

    def draw(self, study: Optional[dict[str, Any]]) -> None:
        """Plot ``study``'s trials (None clears)."""
        trials = study["trials"] if study else []
        self.setLabel("left", study["metric"] if study else "")
        done = [t for t in trials if t["state"] == "complete" and t["value"] is not None]
        self.complete.setData([float(t["number"]) for t in done], [float(t["value"]) for t in done])
        pruned = [(float(t["number"]), _last_value(t)) for t in trials if t["state"] == "pruned"]
        pruned = [(x, y) for x, y in pruned if y is not None]
        self.pruned.setData([x for x, _ in pruned], [y for _, y in pruned])
        xs, ys = best_so_far(trials, study["direction"] if study else "maximize")
        if xs:  # a step line: the best holds until a better trial
            last = max([t["number"] for t in trials], default=xs[-1])
            steps_x, steps_y = [], []
            for n, (x, y) in enumerate(zip(xs, ys)):
                if n:
                    steps_x.append(x)
                    steps_y.append(steps_y[-1])
                steps_x.append(x)
                steps_y.append(y)
            steps_x.append(float(max(last, xs[-1])))
            steps_y.append(ys[-1])
            self.best.setData(steps_x, steps_y)
        else:
            self.best.setData([], [])
        self.best_points = len(xs)
        last_trial = max((t["number"] for t in trials), default=1)
        self.setXRange(-0.5, max(last_trial, 1) + 0.5, padding=0.02)

    def counts(self) -> dict[str, int]:
        """Points drawn per series (for tests)."""
        return {"complete": len(self.complete.data), "pruned": len(self.pruned.data), "best": self.best_points}


class ImportanceChart(StudyChart):
    """Parameter importances as horizontal bars (most important on top), or a placeholder saying why there are none."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        _fixed(self, "Parameter importance")
        self.showGrid(x=True, y=False, alpha=0.25)
        self.bars: Optional[pg.BarGraphItem] = None
        self.placeholder = pg.TextItem("", color=self.ink(), anchor=(0.5, 0.5))
        self.addItem(self.placeholder)
        self.names: list[str] = []

    def draw(self, study: Optional[dict[str, Any]]) -> None:
        """Bars of ``study["importances"]`` (None or none: the placeholder)."""
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        values = dict(study["importances"]) if study else {}
        self.names = list(values)
        axis = self.getAxis("left")
        if not values:
            note = (study or {}).get("importances_note") or "needs 2 complete trials"
            if "at least 2 complete trials" in note:
                note = "needs 2 complete trials " + note[note.find("("):]
            self.placeholder.setText(note if study else "no study", color=self.ink())
            self.placeholder.setPos(0.5, 0.5)
            self.placeholder.show()
            axis.setTicks([[]])
            self.setXRange(0, 1, padding=0)
            self.setYRange(0, 1, padding=0)
            return
        self.placeholder.hide()
        count = len(values)
        ys = [count - 1 - i for i in range(count)]  # the most important on top
        self.bars = pg.BarGraphItem(x0=[0.0] * count, y=ys, width=list(values.values()), height=0.6,
                                    brush=COMPLETE, pen=COMPLETE)
        self.addItem(self.bars)
        axis.setTicks([[(y, name) for y, name in zip(ys, values)]])
        self.setXRange(0, max(max(values.values()), 1e-6), padding=0.05)
        self.setYRange(-0.6, count - 0.4, padding=0)

    def bar_count(self) -> int:
        """Bars drawn (for tests)."""
        return 0 if self.bars is None else len(self.bars.opts["width"])


def axis_position(spec: Any, value: Any) -> Optional[float]:
    """``value`` of a parameter searched as ``spec`` (the space file's entry) on a 0..1 axis: linear between low and
    high, in log space for ``log: true``, a categorical choice's index spread evenly; None when it does not fit."""
    if spec.get("type") == "categorical":
        choices = list(spec.get("choices") or [])
        if value not in choices:
            return None
        return 0.5 if len(choices) == 1 else choices.index(value) / (len(choices) - 1)
    try:
        low, high, v = float(spec["low"]), float(spec["high"]), float(value)
    except (KeyError, TypeError, ValueError):
        return None
    if spec.get("log") and low > 0 and v > 0:
        low, high, v = math.log(low), math.log(high), math.log(v)
    return 0.5 if high == low else min(max((v - low) / (high - low), 0.0), 1.0)


def _label(value: Any) -> str:
    """An axis end or a choice, short: 3 significant digits, an architecture YAML without ``.yaml``."""
    return f"{value:.3g}" if isinstance(value, float) else str(value).removesuffix(".yaml")


class ParallelChart(StudyChart):
    """Parallel coordinates: one polyline per trial across the searched parameters and the value."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        _fixed(self, "Parallel coordinates (bright = best)")
        self.getAxis("left").hide()
        self.getAxis("bottom").hide()
        self.colormap = pg.colormap.get(COLORMAP)
        self.lines: list[pg.PlotDataItem] = []
        self.decor: list[Any] = []
        self.axes: list[str] = []

    def _text(self, text: str, x: float, y: float, anchor: tuple[float, float], bold: bool = False) -> None:
        item = pg.TextItem(text, color=self.ink(), anchor=anchor)
        font = QFont(self.font())
        font.setPointSizeF(7.5)
        font.setBold(bold)
        item.setFont(font)
        item.setPos(x, y)
        self.addItem(item)
        self.decor.append(item)

    def draw(self, study: Optional[dict[str, Any]]) -> None:
        """Draw ``study``'s complete and pruned trials (None clears)."""
        for item in self.lines + self.decor:
            self.removeItem(item)
        self.lines, self.decor = [], []
        params = (study or {}).get("space", {}).get("params", {})
        searched = {name: spec for name, spec in params.items() if isinstance(spec, dict) and "type" in spec}
        self.axes = list(searched) + (["value"] if study else [])
        trials = [t for t in (study or {}).get("trials", []) if t["state"] in ("complete", "pruned")]
        values = [float(t["value"]) for t in trials if t["state"] == "complete" and t["value"] is not None]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        minimize = bool(study) and study["direction"] == "minimize"
        for t in sorted(trials, key=lambda t: (t["state"] == "complete", t["value"] or 0.0) if not minimize
                        else (t["state"] == "complete", -(t["value"] or 0.0))):  # the best drawn last, on top
            ys = [axis_position(spec, t["params"].get(name)) for name, spec in searched.items()]
            if t["state"] == "complete" and t["value"] is not None:
                norm = 0.5 if high == low else (float(t["value"]) - low) / (high - low)
                ys.append(norm)
                goodness = 1.0 - norm if minimize else norm
                pen = pg.mkPen(self.colormap.map(goodness, mode="qcolor"), width=2)
            else:
                pen = pg.mkPen(PRUNED_LINE, width=1, style=Qt.PenStyle.DashLine)
            points = [(float(x), y) for x, y in enumerate(ys) if y is not None]
            line = pg.PlotDataItem([x for x, _ in points], [y for _, y in points], pen=pen, connect="finite")
            self.addItem(line)
            self.lines.append(line)
        for x, name in enumerate(self.axes):
            rule = pg.InfiniteLine(pos=float(x), angle=90, pen=pg.mkPen(self.ink(), width=1))
            self.addItem(rule)
            self.decor.append(rule)
            self._text(name, x, -0.08 - 0.1 * (x % 2), (0.5, 0), bold=True)  # staggered: long names never meet
            spec = searched.get(name)
            if spec is None:
                ends = [(0.0, _label(low)), (1.0, _label(high))] if values else []
            elif spec["type"] == "categorical":
                ends = [(axis_position(spec, c) or 0.0, _label(c)) for c in spec["choices"]]
            else:
                ends = [(0.0, _label(spec["low"])), (1.0, _label(spec["high"]) + (" (log)" if spec.get("log")
                                                                                  else ""))]
            for y, text in ends:
                self._text(text, x, y, (0, 0.5))
        count = max(len(self.axes), 2)
        self.setXRange(-0.2, count - 0.2, padding=0)  # room right of the last axis for its labels
        self.setYRange(-0.24, 1.05, padding=0)

    def line_count(self) -> int:
        """Polylines drawn, one per complete or pruned trial (for tests)."""
        return len(self.lines)
