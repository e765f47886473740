"""The Versions page: the dataset versions with their statistics, a diff between two versions, the health check of
a version with click-through to the annotator, and creating a version behind the health gate.

Everything goes through the core (:mod:`cvops.versions.create`, :mod:`cvops.versions.diff`, :mod:`cvops.data.health`); the health
check and version creation run as background jobs on their own workspace handle (``ws.reopen()``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
    QLineEdit, QPushButton, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget, QTreeWidget,
    QTreeWidgetItem, QVBoxLayout, QWidget,
)

from cvops.catalog.statuses import STATUSES
from cvops.versions.check import check_version
from cvops.common.errors import CvopsError
from cvops.data.health import Finding, HealthReport, check
from cvops.data.images import ImageFilter
from cvops.data.splits import parse_ratios
from cvops.versions.diff import diff_versions
from cvops.versions.create import VersionInfo, create_version, list_versions, version_summary
from cvops_app.charts import legend_below
from cvops_app.dialogs.common import ErrorLine, plural
from cvops_app.gallery import status_label
from cvops_app.jobs import Job
from cvops_app.context import AppContext
from cvops_app.icons import icon
from cvops_app.pages import Page
from cvops_app.plot_style import ThemedPlot

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

SEVERITY_COLORS = {"error": "#c0392b", "warning": "#d68910", "info": "#7f8c8d"}
SPLIT_COLORS = {"train": "#2e86c1", "val": "#28b463", "test": "#d68910"}
OTHER_SPLIT_COLOR = "#8e44ad"
DEFAULT_STATUSES = ("done", "approved")
HASH_PREFIX = 12
IDS_ROLE = Qt.ItemDataRole.UserRole


def _split_order(split: str) -> tuple[int, str]:
    """train, val, test first, then other split names alphabetically (stored stats come back sorted by name)."""
    return {"train": 0, "val": 1, "test": 2}.get(split, 3), split


class FindingsTable(QTableWidget):
    """Health findings, one a row (severity colored, kind, message, images); double-click emits the image ids."""

    open_images = Signal(list)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["Severity", "Kind", "Message", "Images"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.cellDoubleClicked.connect(self._activated)

    def set_findings(self, findings: Sequence[Finding]) -> None:
        """Show ``findings``; the rows of errors are highlighted."""
        self.setRowCount(len(findings))
        for row, finding in enumerate(findings):
            color = QColor(SEVERITY_COLORS.get(finding.severity, "#000000"))
            cells = [finding.severity, finding.kind, finding.message, str(len(finding.image_ids))]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(IDS_ROLE, list(finding.image_ids))
                if col == 0:
                    item.setForeground(QBrush(color))
                if finding.severity == "error":
                    item.setBackground(QBrush(QColor(192, 57, 43, 40)))
                self.setItem(row, col, item)
        self.resizeColumnToContents(0)
        self.resizeColumnToContents(1)

    def _activated(self, row: int, _column: int) -> None:
        ids = self.item(row, 0).data(IDS_ROLE)
        if ids:
            self.open_images.emit(list(ids))


class NewVersionDialog(QDialog):
    """The settings of a new version: message, split ratios, seed, status filter, re-split and split hints.

    ``counts`` (images per status) keeps Create disabled, with the reason shown, while the ticked statuses match
    no image: such a version would be empty."""

    def __init__(self, parent: QWidget, counts: Optional[dict[str, int]] = None) -> None:
        super().__init__(parent)
        self.counts = counts
        self.setObjectName("new-version")
        self.setWindowTitle("New version")
        self.message = QLineEdit(self)
        self.message.setPlaceholderText("What changed")
        self.ratios = QLineEdit("80/10/10", self)
        self.ratios.setToolTip("train/val/test percentages, e.g. 80/10/10 or 70/30")
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 2**31 - 1)
        self.status_boxes: dict[str, QCheckBox] = {}
        statuses = QWidget(self)
        row = QHBoxLayout(statuses)
        row.setContentsMargins(0, 0, 0, 0)
        for status in STATUSES:
            box = QCheckBox(status_label(status), statuses)
            box.setChecked(status in DEFAULT_STATUSES)
            box.toggled.connect(self._update_create)
            self.status_boxes[status] = box
            row.addWidget(box)
        self.resplit = QCheckBox("Re-split every image (otherwise images keep their split)", self)
        self.use_hints = QCheckBox("Use the splits recorded by dataset imports", self)
        self.error = ErrorLine(self)
        form = QFormLayout()
        form.addRow("Message", self.message)
        form.addRow("Split ratios", self.ratios)
        form.addRow("Seed", self.seed)
        form.addRow("Statuses", statuses)
        form.addRow("", self.resplit)
        form.addRow("", self.use_hints)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.create_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.create_button.setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self._update_create()

    def empty_reason(self) -> str:
        """Why the version would hold no image ("" when it would hold some)."""
        statuses = self.statuses()
        if not statuses:
            return "Tick at least one status."
        if self.counts is None or any(self.counts.get(s, 0) for s in statuses):
            return ""
        held = ", ".join(f"{n} {status_label(s).lower()}" for s, n in self.counts.items() if n)
        ticked = " or ".join(status_label(s).lower() for s in statuses)
        return (f"No image is {ticked}: the version would be empty. "
                + (f"The workspace holds {held}; tick their status or mark images done." if held else
                   "The workspace has no images yet."))

    def _update_create(self) -> None:
        reason = self.empty_reason()
        self.create_button.setEnabled(not reason)
        self.create_button.setToolTip(reason)
        self.error.show_error(reason)

    def statuses(self) -> tuple[str, ...]:
        """The ticked statuses."""
        return tuple(s for s, box in self.status_boxes.items() if box.isChecked())

    def values(self) -> dict[str, Any]:
        """Keyword arguments for :func:`cvops.versions.create.create_version`."""
        return {"message": self.message.text().strip(), "ratios": self.ratios.text().strip(),
                "seed": self.seed.value(), "statuses": self.statuses(), "resplit": self.resplit.isChecked(),
                "use_hints": self.use_hints.isChecked()}

    def accept(self) -> None:
        """Close only with a message, valid ratios and at least one status."""
        try:
            parse_ratios(self.ratios.text())
        except CvopsError as exc:
            self.error.show_error(str(exc))
            return
        if not self.message.text().strip():
            self.error.show_error("Write a message: what changed in this version.")
        elif self.empty_reason():
            self.error.show_error(self.empty_reason())
        else:
            super().accept()


class HealthGateDialog(QDialog):
    """The health check's findings before a version is created: "Create anyway" (or "Create") or Cancel."""

    def __init__(self, parent: QWidget, report: HealthReport) -> None:
        super().__init__(parent)
        self.setObjectName("health-gate")
        self.setWindowTitle("Health check before the new version")
        counts = f"{plural(len(report.errors), 'error')}, {plural(len(report.warnings), 'warning')}"
        summary = QLabel(f"Checked {plural(report.images_checked, 'image')}: {counts}.", self)
        if report.errors:
            summary.setStyleSheet(f"color: {SEVERITY_COLORS['error']}; font-weight: bold;")
        self.table = FindingsTable(self)
        self.table.set_findings(report.findings)
        buttons = QDialogButtonBox(self)
        self.create_button = buttons.addButton("Create anyway" if report.errors else "Create",
                                               QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(820, 420)


class SplitChart(ThemedPlot):
    """Annotations per class as bars grouped by split, with a legend and the class names as x ticks."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("class-chart")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.legend = legend_below(self, columns=3)
        self.showGrid(y=True, alpha=0.3)
        self.setLabel("left", "annotations")

    def show_counts(self, classes: Sequence[str], per_class: dict[str, dict[str, int]], splits: Sequence[str]) -> None:
        """Bars for ``per_class[class][split]``, one group per class in ``classes`` order."""
        self.clear()
        self.legend.clear()
        width = 0.8 / max(len(splits), 1)
        for n, split in enumerate(splits):
            xs = [i - 0.4 + width * (n + 0.5) for i in range(len(classes))]
            heights = [per_class.get(c, {}).get(split, 0) for c in classes]
            color = SPLIT_COLORS.get(split, OTHER_SPLIT_COLOR)
            self.addItem(pg.BarGraphItem(x=xs, height=heights, width=width, brush=color, pen=color, name=split))
        self.getAxis("bottom").setTicks([list(enumerate(classes))])
        if classes:
            self.setXRange(-0.6, len(classes) - 0.4, padding=0)


class VersionsPage(Page):
    """The dataset versions: list with statistics, diff against another version, health check, new version."""

    name = "versions"
    title = "Versions"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.versions: list[VersionInfo] = []
        self.jobs: list[Job] = []
        self.gate: Optional[HealthGateDialog] = None
        self._stale = False
        self.table = QTableWidget(0, 5, self)
        self.table.setObjectName("versions-table")
        self.table.setHorizontalHeaderLabels(["Name", "Message", "Created", "Images", "Content hash"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # the message takes the room left
        header.setStretchLastSection(False)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.setFocusProxy(self.table)
        self.new_button = QPushButton(icon("add"), "New version…", self)
        self.new_button.clicked.connect(self.new_version)
        self.check_button = QPushButton(icon("check"), "Check…", self)
        self.check_button.setToolTip("Run the health check on the selected version")
        self.check_button.clicked.connect(self.check_selected)

        self.splits_label = QLabel(self)
        self.splits_label.setObjectName("split-counts")
        self.chart = SplitChart(self)
        stats = QWidget(self)
        stats_layout = QVBoxLayout(stats)
        stats_layout.addWidget(self.splits_label)
        stats_layout.addWidget(self.chart, 1)
        self.compare = QComboBox(self)
        self.compare.setObjectName("compare-with")
        self.compare.currentIndexChanged.connect(lambda _: self._show_diff())
        self.diff_tree = QTreeWidget(self)
        self.diff_tree.setObjectName("diff")
        self.diff_tree.setHeaderLabels(["Change", "Details"])
        self.diff_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.diff_tree.itemDoubleClicked.connect(self._open_diff_item)
        diff = QWidget(self)
        diff_layout = QVBoxLayout(diff)
        compare_row = QHBoxLayout()
        compare_row.addWidget(QLabel("Compare with…", self))
        compare_row.addWidget(self.compare, 1)
        diff_layout.addLayout(compare_row)
        diff_layout.addWidget(self.diff_tree, 1)
        self.findings = FindingsTable(self)
        self.findings.setObjectName("findings")
        self.findings.open_images.connect(lambda ids: self.ctx.open_annotator(ids[0], ids))
        self.health_label = QLabel("Press Check… to run the health check on the selected version.", self)
        self.health_label.setWordWrap(True)  # a long line would keep the tabs (and so the list) from giving room
        health = QWidget(self)
        health_layout = QVBoxLayout(health)
        health_layout.addWidget(self.health_label)
        health_layout.addWidget(self.findings, 1)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(stats, "Statistics")
        self.tabs.addTab(diff, "Diff")
        self.tabs.addTab(health, "Health")

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.table, 1)
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setSizes([600, 400])  # the list (its Message column) gets the room first
        QVBoxLayout(self).addWidget(splitter)

    # -- workspace and data -------------------------------------------------------------------------------------------
    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """List the versions of ``ws``."""
        super().set_workspace(ws)
        self.findings.set_findings([])
        self.reload()

    def refresh(self, what: set[str]) -> None:
        """Versions made elsewhere (the CLI, a pipeline: the catalog watcher says "versions") show, now if the page
        is shown, else when it is next shown; a class rename shows in the chart of new versions only."""
        if "versions" in what and self.ws is not None:
            if self.isVisible():
                self.reload(select=self._selected_id())
            else:
                self._stale = True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Catch up with versions made while the page was hidden."""
        super().showEvent(event)
        if self._stale:
            self.reload(select=self._selected_id())

    def _selected_id(self) -> Optional[int]:
        info = self.selected()
        return info.id if info is not None else None

    def reload(self, select: Optional[int] = None) -> None:
        """Re-read the version list and select version id ``select`` (default: the newest)."""
        self._stale = False
        self.versions = list_versions(self.ws) if self.ws is not None else []
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.versions))
        for row, info in enumerate(self.versions):
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created_at))
            cells = [info.name, info.message, created, f"{sum(info.stats['images'].values()):,}",
                     info.content_hash[:HASH_PREFIX]]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(IDS_ROLE, info.id)
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        rows = [r for r, info in enumerate(self.versions) if info.id == select] or [len(self.versions) - 1]
        if self.versions:
            self.table.selectRow(rows[0])
        self._show_selected()

    def selected(self) -> Optional[VersionInfo]:
        """The selected version."""
        rows = self.table.selectionModel().selectedRows()
        return self.versions[rows[0].row()] if rows else None

    def settled(self) -> bool:
        """True when no job of this page runs (for ``--screenshot``)."""
        return all(job.done for job in self.jobs)

    def _show_selected(self) -> None:
        info = self.selected()
        self.check_button.setEnabled(info is not None and self.settled())
        self.compare.blockSignals(True)
        self.compare.clear()
        if info is None or self.ws is None:
            self.splits_label.setText("No versions yet: press New version… to freeze one.")
            self.chart.show_counts([], {}, [])
            self.compare.blockSignals(False)
            self._show_diff()
            return
        summary = version_summary(self.ws, info.id)
        per_split = {s: summary["images_per_split"][s] for s in sorted(summary["images_per_split"], key=_split_order)}
        self.splits_label.setText(f"<b>{info.name}</b> — {plural(summary['images'], 'image')}: " + ", ".join(
            f"{split} {count:,}" for split, count in per_split.items()))
        classes = [c["name"] for c in summary["classes"]]
        self.chart.show_counts(classes, summary["annotations_per_class"], list(per_split))
        others = [v for v in self.versions if v.id != info.id]
        self.compare.addItem("—", None)
        for other in others:
            self.compare.addItem(other.name, other.id)
        earlier = [v for v in others if v.id < info.id]
        if earlier:
            self.compare.setCurrentIndex(self.compare.findData(earlier[-1].id))
        self.compare.blockSignals(False)
        self._show_diff()

    def _show_diff(self) -> None:
        """The changes from the version picked in "Compare with…" to the selected one."""
        self.diff_tree.clear()
        info, other = self.selected(), self.compare.currentData()
        if info is None or other is None or self.ws is None:
            return
        diff = diff_versions(self.ws, other, info.id)
        self.diff_tree.setHeaderLabels(["Change", f"{diff['from']} → {diff['to']}"])

        def group(title: str, rows: list[tuple[str, list[int]]]) -> None:
            top = QTreeWidgetItem(self.diff_tree, [title, str(len(rows))])
            ids = sorted({i for _, row_ids in rows for i in row_ids})
            top.setData(0, IDS_ROLE, ids)
            for text, row_ids in rows:
                child = QTreeWidgetItem(top, ["", text])
                child.setData(0, IDS_ROLE, row_ids + [i for i in ids if i not in row_ids])

        def ann(entry: dict[str, Any]) -> str:
            return f"image {entry['image_id']}: annotation {entry['id']} ({entry['class']})"

        group("Images added", [(f"image {i}", [i]) for i in diff["images_added"]])
        group("Images removed", [(f"image {i}", [i]) for i in diff["images_removed"]])
        group("Images moved", [(f"image {m['image_id']}: {m['from']} → {m['to']}", [m["image_id"]])
                               for m in diff["images_moved"]])
        group("Annotations added", [(ann(a), [a["image_id"]]) for a in diff["annotations_added"]])
        group("Annotations removed", [(ann(a), [a["image_id"]]) for a in diff["annotations_removed"]])
        group("Annotations changed", [(ann(a) + f" changed {', '.join(a['changed'])}"
                                       + (f" (was {a['from_class']})" if "from_class" in a else ""), [a["image_id"]])
                                      for a in diff["annotations_changed"]])
        group("Classes added", [(name, []) for name in diff["classes_added"]])
        group("Classes removed", [(name, []) for name in diff["classes_removed"]])
        group("Classes renamed", [(f"{r['from']} → {r['to']}", []) for r in diff["classes_renamed"]])
        group("Class count deltas", [(f"{name}: {delta:+d}", []) for name, delta in diff["class_count_deltas"].items()])

    def _open_diff_item(self, item: QTreeWidgetItem, _column: int) -> None:
        ids = item.data(0, IDS_ROLE)
        if ids:
            self.ctx.open_annotator(ids[0], ids)

    # -- jobs ---------------------------------------------------------------------------------------------------------
    def _run(self, title: str, fn: Callable[..., Any], on_done: Callable[[Any], None]) -> None:
        """Start a job of this page; the buttons wait while it runs."""
        job = self.ctx.run_job(title, fn, on_done)
        self.jobs = [j for j in self.jobs if not j.done] + [job]
        for signal in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            signal.connect(self._job_ended, Qt.ConnectionType.QueuedConnection)
        self._job_ended()

    def _job_ended(self, *_: Any) -> None:
        idle = self.settled()
        self.new_button.setEnabled(idle)
        self.check_button.setEnabled(idle and self.selected() is not None)

    def check_selected(self) -> None:
        """Run the health check on the frozen images, splits and annotations of the selected version."""
        info = self.selected()
        if info is None or self.ws is None:
            return
        source, ref = self.ws, info.id

        def job(progress: Callable[[float, str], None], cancel: Any) -> HealthReport:
            with source.reopen() as ws2:
                return check_version(ws2, ref, progress=progress, cancel=cancel)

        def done(report: HealthReport) -> None:
            self.findings.set_findings(report.findings)
            self.health_label.setText(f"{info.name}: checked {plural(report.images_checked, 'image')} — "
                                      f"{plural(len(report.errors), 'error')}, "
                                      f"{plural(len(report.warnings), 'warning')}. Double-click a finding to open "
                                      f"its images in the annotator.")
            self.tabs.setCurrentIndex(2)

        self.health_label.setText(f"Checking {info.name}…")
        self._run(f"Check {info.name}", job, done)

    def new_version(self) -> Optional[NewVersionDialog]:
        """Ask for the new version's settings; the health gate and the creation follow on OK."""
        if self.ws is None or not self.settled():
            return None
        dialog = NewVersionDialog(self, self.ws.images.counts_by_status())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._gate(dialog.values()))
        dialog.open()
        return dialog

    def _gate(self, values: dict[str, Any]) -> None:
        """Check the live images the version would freeze, then show the findings with Create / Cancel."""
        source, statuses = self.ws, values["statuses"]

        def job(progress: Callable[[float, str], None], cancel: Any) -> HealthReport:
            with source.reopen() as ws2:
                ids = ws2.images.ids(ImageFilter(statuses=tuple(statuses)))
                return check(ws2, image_ids=list(ids), progress=progress, cancel=cancel)

        def done(report: HealthReport) -> None:
            self.gate = HealthGateDialog(self, report)
            self.gate.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.gate.accepted.connect(lambda: self._create(values))
            self.gate.finished.connect(self._gate_closed)
            self.gate.open()

        self._run("Health check before the new version", job, done)

    def _gate_closed(self, _result: int) -> None:
        self.gate = None

    def _create(self, values: dict[str, Any]) -> None:
        source = self.ws

        def job(progress: Callable[[float, str], None], cancel: Any) -> VersionInfo:
            with source.reopen() as ws2:
                return create_version(ws2, progress=progress, cancel=cancel, **values)

        def done(info: VersionInfo) -> None:
            self.reload(select=info.id)
            self.ctx.notify(f"{info.name} created" if info.created else f"unchanged: same content as {info.name}")

        self._run("Create version", job, done)
