"""The export wizard's gate step (:class:`VerifyStep`): the export job, then the gate's table — mAP of PyTorch and of
the export in its runtime (onnxruntime for ONNX, OpenVINO for an IR), latency (and for an ONNX export OpenVINO's on
the same file, when the gate timed it), the largest output difference — and its PASS / FAIL badge."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from cvops_app.dialogs.common import ErrorLine
from cvops_app.dialogs.export_wizard_steps import AMBER, GREEN, MUTED, RED, JobPanel, heading

RUNTIME_TITLES = {"onnxruntime": "onnxruntime", "openvino": "OpenVINO"}
FORMAT_RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino"}
VERIFIED_FORMATS = tuple(FORMAT_RUNTIMES)


def runtime_title(runtime: Any) -> str:
    """How a report's ``export.runtime`` is written (onnxruntime, OpenVINO)."""
    return RUNTIME_TITLES.get(str(runtime), str(runtime or "onnxruntime"))


def _item(text: str, color: str = "", bold: bool = False, align_right: bool = True) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if color:
        item.setForeground(QColor(color))
    if bold:
        font = item.font()
        font.setBold(True)
        item.setFont(font)
    return item


def _ms(latency: Any) -> str:
    return f"{latency:.1f} ms" if isinstance(latency, (int, float)) else "—"


def ms_pair(p50: Any, p95: Any) -> str:
    """"6.1 / 7.3 ms" (a dash for a missing value)."""
    return " / ".join(f"{v:.1f}" if isinstance(v, (int, float)) else "—" for v in (p50, p95)) + " ms"


def _speed(reference: Any, latency: Any) -> str:
    """``reference / latency`` as "1.52× faster" or "1.10× slower" (empty when either is missing)."""
    if not (isinstance(reference, (int, float)) and isinstance(latency, (int, float)) and latency > 0
            and reference > 0):
        return ""
    ratio = reference / latency
    return f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"


class VerifyStep(QWidget):
    """Step 3: the export job, then the gate's table and its PASS / FAIL badge."""

    ROWS = ("mAP50", "mAP50-95", "Latency p50", "Latency p95", "OpenVINO CPU", "Max output difference")
    MAP50, MAP50_95, P50, P95, OPENVINO, DIFF = range(len(ROWS))

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.intro = heading("", self)
        self.panel = JobPanel(self, "export-job")
        self.export_line = QLabel(self)
        self.export_line.setObjectName("export-line")
        self.export_line.setWordWrap(True)
        self.export_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(len(self.ROWS), 4, self)
        self.table.setObjectName("verify-table")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.badge = QLabel(self)
        self.badge.setObjectName("gate-badge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setMinimumWidth(96)
        self.verdict = QLabel(self)
        self.verdict.setObjectName("gate-verdict")
        self.verdict.setWordWrap(True)
        self.warning = QLabel(self)
        self.warning.setObjectName("gate-warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {AMBER}; background: #fef5e7; border: 1px solid #f5cba7; "
                                   "border-radius: 4px; padding: 6px;")
        self.error = ErrorLine(self)
        badge_row = QHBoxLayout()
        badge_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        badge_row.addWidget(self.verdict, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.panel)
        layout.addWidget(self.export_line)
        layout.addSpacing(6)
        layout.addWidget(self.table)
        layout.addSpacing(6)
        layout.addLayout(badge_row)
        layout.addWidget(self.warning)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.clear()

    def _set_runtime(self, runtime: str) -> None:
        """Head the export's column with its runtime."""
        self.table.setHorizontalHeaderLabels(["", "PyTorch (CPU)", f"{runtime_title(runtime)} (CPU)",
                                              "Δ export − PyTorch"])

    def _fit(self) -> None:
        """The table as tall as its visible rows (no scroll bar, no blank space)."""
        rows = sum(not self.table.isRowHidden(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height()
                                  + rows * self.table.verticalHeader().defaultSectionSize() + 4)

    def clear(self, fmt: str = "onnx") -> None:
        """Empty the results (a new export of format ``fmt`` starts)."""
        self.export_line.setText("")
        self._set_runtime(FORMAT_RUNTIMES.get(fmt, "onnxruntime"))
        for row, name in enumerate(self.ROWS):
            self.table.setItem(row, 0, _item(name, bold=True, align_right=False))
            for col in (1, 2, 3):
                self.table.setItem(row, col, _item("…", MUTED))
        self.table.setSpan(self.DIFF, 1, 1, 2)
        self.table.setRowHidden(self.OPENVINO, True)
        self._fit()
        self.badge.hide()
        self.verdict.setText("")
        self.warning.hide()
        self.error.show_error("")

    def show_export(self, info: Any) -> None:
        """The export's file, size and sha256."""
        self.export_line.setText(f"<b>{html.escape(Path(info.path).name)}</b> · {info.size_bytes / 1e6:.1f} MB · "
                                 f"{info.precision} · {info.imgsz} px · opset {info.opset or '—'}<br>"
                                 f"<span style='color:{MUTED}'>{html.escape(info.path)}<br>sha256 "
                                 f"{info.sha256}</span>")

    def show_report(self, report: dict[str, Any]) -> None:
        """Fill the table and the badge from a ``VerifyReport.to_dict()``."""
        pt, ex = report["pytorch"], report["export"]
        runtime = str(ex.get("runtime") or "onnxruntime")
        self._set_runtime(runtime)
        threshold = float(report["threshold_points"])
        for row, key in ((self.MAP50, "map50"), (self.MAP50_95, "map50_95")):
            delta = report["delta_map50" if key == "map50" else "delta_map50_95"]
            strict = row == self.MAP50_95
            color = RED if strict and delta < -threshold else GREEN if abs(delta) < 1e-9 or delta > 0 else ""
            self.table.setItem(row, 1, _item(f"{pt[key]:.3f}"))
            self.table.setItem(row, 2, _item(f"{ex[key]:.3f}"))
            self.table.setItem(row, 3, _item(f"{delta:+.2f} points", color, bold=strict))
        torch_lat = pt.get("latency_ms") or {}
        latency = ex.get("latency_ms") or {}
        cpu = latency.get("cpu") or {}
        for row, key in ((self.P50, "p50"), (self.P95, "p95")):
            speed = _speed(torch_lat.get(key), cpu.get(key))
            self.table.setItem(row, 1, _item(_ms(torch_lat.get(key))))
            self.table.setItem(row, 2, _item(_ms(cpu.get(key))))
            self.table.setItem(row, 3, _item(speed or "—", GREEN if speed.endswith("faster") else ""))
        openvino = (latency.get("openvino_cpu") or {}) if runtime != "openvino" else {}
        self.table.setRowHidden(self.OPENVINO, not openvino)
        if openvino:
            speed = _speed(torch_lat.get("p50"), openvino.get("p50"))
            self.table.setItem(self.OPENVINO, 1, _item("p50 / p95 on the same file", MUTED, align_right=False))
            self.table.setItem(self.OPENVINO, 2, _item(ms_pair(openvino.get("p50"), openvino.get("p95"))))
            self.table.setItem(self.OPENVINO, 3, _item(speed or "—", GREEN if speed.endswith("faster") else ""))
        self._fit()
        diff = report.get("max_abs_output_diff")
        self.table.setItem(self.DIFF, 1, _item("largest |difference| of the raw outputs on the same inputs", MUTED,
                                               align_right=False))
        self.table.setItem(self.DIFF, 3, _item(f"{diff:.2e}" if isinstance(diff, (int, float)) else "—"))
        passed = bool(report["passed"])
        quality = report.get("quality") or {}
        self.badge.setText("PASS" if passed else "FAIL")
        self.badge.setStyleSheet(f"background: {GREEN if passed else RED}; color: white; font-weight: bold; "
                                 "font-size: 15pt; border-radius: 6px; padding: 6px 14px;")
        self.badge.show()
        self.verdict.setText(
            f"mAP50-95 changed by <b>{report['delta_map50_95']:+.2f} points</b>; the {report['precision']} gate "
            f"allows a drop of at most <b>{threshold:g} points</b>.<br>{_quality_html(quality)}"
            f"<span style='color:{MUTED}'>"
            f"{report['images']} images of {html.escape(report['version'])}/{html.escape(report['split'])}, "
            f"the same pre- and post-processing for PyTorch and {runtime_title(runtime)}; latency at batch 1 on this "
            f"CPU.{_openvino_html(cpu, openvino)}</span>")
        self.warning.setVisible(not passed)
        if report.get("parity_passed", True) and quality and not quality.get("passed"):
            self.warning.setText("⚠ The model itself scores below the quality floor: exporting it differently will "
                                 "not help. Train it longer or on more data, or go <b>Back</b> and allow an export "
                                 "below the floor: the summary will record the failed gate.")
        else:
            self.warning.setText("⚠ The export scores worse than the PyTorch model beyond the gate's threshold. Go "
                                 "<b>Back</b> to change the options (fp16 or fp32 instead of int8, another image "
                                 "size), or continue at your own risk: the summary will record the failed gate.")

    def show_skipped(self, fmt: str) -> None:
        """An export the gate cannot run (neither ONNX nor OpenVINO)."""
        self.verdict.setText(f"The gate checks ONNX and OpenVINO exports only; this {html.escape(fmt)} export was "
                             "not verified.")


def _openvino_html(cpu: dict[str, Any], openvino: dict[str, Any]) -> str:
    """The verdict's sentence on OpenVINO timing an ONNX export (empty when it did not)."""
    if not openvino:
        return ""
    speed = _speed(cpu.get("p50"), openvino.get("p50"))
    versus = f", {speed} than onnxruntime" if speed else ""
    return (f"<br>OpenVINO reads the same file: p50 {_ms(openvino.get('p50'))}{versus}; the bundle's "
            "<i>run.py&nbsp;&#8209;&#8209;runtime&nbsp;auto</i> times both on the device and runs the faster.")


def _quality_html(quality: dict[str, Any]) -> str:
    """The quality line of the verdict (empty for a report without one)."""
    if not quality:
        return ""
    value, floor = float(quality["value"]), float(quality["floor"])
    if quality.get("passed"):
        return f"Quality: the export's mAP50-95 <b>{value:.3f}</b> reaches the floor {floor:.3f}.<br>"
    color = MUTED if quality.get("overridden") else RED
    tail = " — below the floor, <b>allowed by override</b>" if quality.get("overridden") else ""
    return (f"<span style='color:{color}'>Quality: the export's mAP50-95 <b>{value:.3f}</b> is below the floor "
            f"<b>{floor:.3f}</b>{tail}.</span><br>")
