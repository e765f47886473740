"""The step pages of the export wizard (:mod:`cvops_app.dialogs.export_wizard`): model, format and options, bundle,
deploy target (the gate's step is :mod:`~cvops_app.dialogs.export_wizard_gate`, the summary is in the wizard's module).
They hold widgets and format results; the wizard runs the jobs and moves between them."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QProgressBar, QPushButton, QRadioButton, QSpinBox, QVBoxLayout, QWidget,
)

from cvops.models.registry import QUALITY_FLOOR, ModelInfo
from cvops.training.history import summarize
from cvops_app.dialogs.common import ErrorLine, browse_row
from cvops_app.jobs import Job

FORMAT_TITLES = {
    "onnx": "ONNX — onnxruntime on any CPU or GPU",
    "openvino": "OpenVINO — Intel CPUs, GPUs and NPUs",
    "tflite": "TensorFlow Lite — Android, Coral, microcontrollers",
    "coreml": "Core ML — Apple devices",
    "engine": "TensorRT — NVIDIA GPUs and Jetson",
}
PRECISIONS = (
    ("fp32", "fp32 — full precision", "The same arithmetic as PyTorch: the safe default."),
    ("fp16", "fp16 — half precision", "Half the file size; weights in 16-bit floats, inputs and outputs stay "
                                      "float32. A tiny accuracy change."),
    ("int8", "int8 — quantized", "A quarter of the size, for int8 accelerators (and CPUs with fast int8 "
                                 "kernels: measure, the gate shows the latency); calibrated on up to 100 training "
                                 "images. Check the gate: accuracy can drop."),
)
OPSET_DEFAULT = 8  # the spin box's "default" value (Ultralytics picks the opset)
GREEN, RED, AMBER, MUTED = "#1e8449", "#c0392b", "#b9770e", "#6c7a89"


def hint(text: str, parent: Optional[QWidget] = None) -> QLabel:
    """A muted, wrapping explanation line."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {MUTED};")
    return label


def heading(text: str, parent: Optional[QWidget] = None) -> QLabel:
    """A step's first line: what happens on this step."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


class JobPanel(QWidget):
    """A running job's message, progress bar and Cancel; after it ends, one result line."""

    def __init__(self, parent: QWidget, name: str) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.job: Optional[Job] = None
        self.label = QLabel("", self)
        self.label.setWordWrap(True)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.cancel = QPushButton("Cancel", self)
        self.cancel.setObjectName(f"{name}-cancel")
        self.cancel.clicked.connect(self.cancel_job)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(row)
        self.finish("")

    def attach(self, job: Job, text: str, busy: bool = False) -> None:
        """Follow ``job``: its progress (``busy``: a moving bar, for jobs without steps) and messages; Cancel
        cancels it."""
        self.job = job
        self.label.setText(text)
        self.label.setStyleSheet("")
        self.label.show()
        self.bar.setRange(0, 0 if busy else 1000)
        self.bar.setValue(0)
        self.bar.show()
        self.cancel.show()
        self.cancel.setEnabled(True)
        job.signals.progress.connect(self._progress)

    def _progress(self, fraction: float, message: str) -> None:
        if self.job is not None:
            self.bar.setValue(int(fraction * 1000))
            if message:
                self.label.setText(message)

    def cancel_job(self) -> None:
        """Ask the job to stop (it stops at its next check)."""
        if self.job is not None:
            self.job.cancel.cancel()
            self.cancel.setEnabled(False)
            self.label.setText("Cancelling…")

    def finish(self, text: str, color: str = "") -> None:
        """The job ended: hide the bar, show ``text``."""
        self.job = None
        self.bar.hide()
        self.cancel.hide()
        self.label.setText(text)
        self.label.setStyleSheet(f"color: {color};" if color else "")
        self.label.setVisible(bool(text))


class ModelStep(QWidget):
    """Step 1: which registered model (the champion first, then the newest)."""

    def __init__(self, parent: QWidget, models: Sequence[ModelInfo], selected: Optional[int]) -> None:
        super().__init__(parent)
        self.models = sorted(models, key=lambda m: (not m.champion, -m.id))
        self.combo = QComboBox(self)
        self.combo.setObjectName("wizard-model")
        for m in self.models:
            self.combo.addItem(f"★ {m.name} (champion)" if m.champion else m.name, m.id)
        if selected is not None and self.combo.findData(selected) >= 0:
            self.combo.setCurrentIndex(self.combo.findData(selected))
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.combo.currentIndexChanged.connect(self._show)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Choose the trained model to export. The champion (★) is the one pre-labeling "
                                 "and deployment offer first.", self))
        form = QFormLayout()
        form.addRow("Model:", self.combo)
        layout.addLayout(form)
        layout.addWidget(self.details)
        if not self.models:
            layout.addWidget(hint("No models yet: a finished training run (Train page) registers one.", self))
        layout.addStretch(1)
        self._show()

    def model(self) -> Optional[ModelInfo]:
        """The chosen model."""
        i = self.combo.currentIndex()
        return self.models[i] if 0 <= i < len(self.models) else None

    def _show(self) -> None:
        m = self.model()
        if m is None:
            self.details.setText("")
            return
        score = summarize(m.metrics)["map50_95"]
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.created_at))
        rows = [("Task", m.task), ("Trained on", m.version_name), ("Architecture", m.architecture),
                ("Image size", m.params.get("imgsz", "—")), ("Classes", ", ".join(c["name"] for c in m.classes)),
                ("mAP50-95", f"{score:.3f}" if isinstance(score, (int, float)) else "—"), ("Created", created),
                ("Weights sha256", m.weights_sha256[:16] + "…")]
        self.details.setText("<table cellpadding='3'>" + "".join(
            f"<tr><td style='color:{MUTED}; padding-right:14px'>{html.escape(k)}</td><td>{html.escape(str(v))}</td>"
            "</tr>" for k, v in rows) + "</table>")


class OptionsStep(QWidget):
    """Step 2: format (unavailable ones disabled, with the reason), image size, precision (int8 disabled, with the
    reason, for a format that cannot make it here: OpenVINO without NNCF), dynamic, opset."""

    def __init__(self, parent: QWidget, formats: Sequence[dict[str, Any]], thresholds: dict[str, float]) -> None:
        super().__init__(parent)
        self.formats = {f["format"]: f for f in formats}
        self.format = QComboBox(self)
        self.format.setObjectName("wizard-format")
        items = self.format.model()
        assert isinstance(items, QStandardItemModel)
        for f in formats:
            title = FORMAT_TITLES.get(f["format"], f["format"])
            self.format.addItem(title if f["available"] else f"{title} (not installed)", f["format"])
            item = items.item(self.format.count() - 1)
            item.setEnabled(bool(f["available"]))
            item.setToolTip("Installed" if f["available"] else f"Not available: {f['reason']}")
        self.format.setCurrentIndex(max(self.format.findData("onnx"), 0))
        self.imgsz = QSpinBox(self)
        self.imgsz.setObjectName("wizard-imgsz")
        self.imgsz.setRange(32, 2048)
        self.imgsz.setSingleStep(32)
        self.imgsz.setSuffix(" px")
        self.imgsz.setFixedWidth(120)
        self.precision = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        precision_box = QVBoxLayout()
        precision_box.setSpacing(2)
        for n, (key, title, text) in enumerate(PRECISIONS):
            radio = QRadioButton(title, self)
            radio.setObjectName(f"wizard-{key}")
            radio.setChecked(n == 0)
            self.precision.addButton(radio, n)
            self.radios[key] = radio
            gate = f" Gate: mAP50-95 may drop at most {thresholds.get(key, 0):g} points."
            explanation = hint(text + gate, self)
            explanation.setContentsMargins(24, 0, 0, 6)
            precision_box.addWidget(radio)
            precision_box.addWidget(explanation)
        self.int8_missing = hint("", self)
        self.int8_missing.setObjectName("wizard-int8-missing")
        self.int8_missing.setStyleSheet(f"color: {AMBER};")
        self.int8_missing.setContentsMargins(24, 0, 0, 6)
        precision_box.addWidget(self.int8_missing)
        self.dynamic = QCheckBox("Dynamic input shape (image size and batch chosen at run time)", self)
        self.opset = QSpinBox(self)
        self.opset.setObjectName("wizard-opset")
        self.opset.setRange(OPSET_DEFAULT, 30)
        self.opset.setSpecialValueText("default (the exporter's choice)")
        self.opset.setValue(OPSET_DEFAULT)
        self.opset.setFixedWidth(260)
        self.min_map = QDoubleSpinBox(self)
        self.min_map.setObjectName("wizard-min-map")
        self.min_map.setRange(0.0, 1.0)
        self.min_map.setDecimals(3)
        self.min_map.setSingleStep(0.01)
        self.min_map.setValue(QUALITY_FLOOR)
        self.min_map.setFixedWidth(260)
        self.min_map.setToolTip("The export's own mAP50-95 on the split must reach this floor: parity with a model "
                                "that finds nothing is no quality (0 disables the check)")
        self.allow_below = QCheckBox("Allow an export below the floor (recorded in the gate's result)", self)
        self.error = ErrorLine(self)
        form = QFormLayout()
        form.addRow("Format:", self.format)
        form.addRow("Image size:", self.imgsz)
        form.addRow("Precision:", precision_box)
        form.addRow("", self.dynamic)
        form.addRow("ONNX opset:", self.opset)
        form.addRow("Quality floor (mAP50-95):", self.min_map)
        form.addRow("", self.allow_below)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("How to export it. Formats whose package is not installed are greyed out "
                                 "(hover for what to install).", self))
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(self.error)
        self.format.currentIndexChanged.connect(lambda *_: self._update_precisions())
        self._update_precisions()

    def _update_precisions(self) -> None:
        """int8 greyed, saying what to install, for a format whose int8 export needs a missing package."""
        status = self.formats.get(self.format.currentData()) or {}
        possible = bool(status.get("int8", True))
        radio = self.radios["int8"]
        if not possible and radio.isChecked():
            self.radios["fp32"].setChecked(True)
        radio.setEnabled(possible)
        reason = "" if possible else str(status.get("int8_reason") or "int8 is not available for this format")
        radio.setToolTip(reason)
        self.int8_missing.setText(f"Not available here: {reason}" if reason else "")
        self.int8_missing.setVisible(bool(reason))

    def set_model(self, model: Optional[ModelInfo]) -> None:
        """Default the image size to the model's training size."""
        if model is not None:
            self.imgsz.setValue(int(model.params.get("imgsz") or 640))

    def values(self) -> dict[str, Any]:
        """``export_model`` keyword arguments (format, imgsz, dynamic, half, int8, opset)."""
        precision = PRECISIONS[max(self.precision.checkedId(), 0)][0]
        return {"format": self.format.currentData(), "imgsz": self.imgsz.value(), "dynamic": self.dynamic.isChecked(),
                "half": precision == "fp16", "int8": precision == "int8",
                "opset": None if self.opset.value() == OPSET_DEFAULT else self.opset.value()}

    def set_precision(self, key: str) -> None:
        """Check the radio of ``key`` (fp32, fp16, int8)."""
        self.precision.button([p[0] for p in PRECISIONS].index(key)).setChecked(True)


class BundleStep(QWidget):
    """Step 4: the bundle folder (new or empty) and the zip option."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.out = QLineEdit(self)
        self.out.setObjectName("bundle-out")
        self.out.setPlaceholderText("a new or empty folder")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self.pick_folder)
        self.zip = QCheckBox("Also write a .zip of it next to the folder (to copy by hand)", self)
        self.zip.setObjectName("bundle-zip")
        self.panel = JobPanel(self, "bundle-job")
        self.result = QLabel(self)
        self.result.setObjectName("bundle-result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = ErrorLine(self)
        form = QFormLayout()
        form.addRow("Bundle folder:", browse_row(self.out, browse))
        form.addRow("", self.zip)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Package the export for the device: <b>model.onnx</b> (or OpenVINO's <b>model.xml"
                                 "</b> and <b>model.bin</b>), <b>model.json</b> (classes, pre-processing, checksums), "
                                 "<b>run.py</b> (the edge runner, with runtimes.py and frames.py: numpy, OpenCV and "
                                 "onnxruntime or OpenVINO; <i>--runtime auto</i> runs the faster one installed), "
                                 "<b>fieldlog.py</b> (its field log for drift monitoring), requirements.txt, a README, "
                                 "and a sample image with its expected detections for the selftest.", self))
        layout.addLayout(form)
        layout.addWidget(self.panel)
        layout.addWidget(self.result)
        layout.addWidget(self.error)
        layout.addStretch(1)

    def pick_folder(self) -> None:
        """Ask for the folder to create the bundle in."""
        parent = QFileDialog.getExistingDirectory(self, "Create the bundle in folder")
        if parent:
            name = Path(self.out.text().strip() or "bundle").name
            self.out.setText(str(Path(parent) / name))

    def show_bundle(self, info: Any) -> None:
        """The written bundle."""
        files = ", ".join(sorted(info.files))
        zipped = f"<br>zip: {html.escape(str(info.zip_path))}" if info.zip_path else ""
        self.result.setText(f"<span style='color:{GREEN}'>✔</span> Bundle written to <b>{html.escape(str(info.path))}"
                            f"</b> ({info.size_bytes / 1e6:.1f} MB){zipped}<br><span style='color:{MUTED}'>{files}"
                            f"</span>")


class DeployStep(QWidget):
    """Step 5: deploy to a folder, over SSH, or not now."""

    MODES = ("folder", "ssh", "none")

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.mode = QButtonGroup(self)
        titles = ("A folder on this computer (or a mounted drive)", "A device over SSH", "Don't deploy now")
        radios = []
        for n, (key, title) in enumerate(zip(self.MODES, titles)):
            radio = QRadioButton(title, self)
            radio.setObjectName(f"deploy-{key}")
            self.mode.addButton(radio, n)
            radios.append(radio)
        radios[0].setChecked(True)
        self.folder = QLineEdit(self)
        self.folder.setObjectName("deploy-folder")
        self.folder.setPlaceholderText("the bundle is copied into this folder and its selftest runs there")
        folder_browse = QPushButton("Browse…", self)
        folder_browse.clicked.connect(lambda: self._pick(self.folder, directory=True))
        self.ssh = QLineEdit(self)
        self.ssh.setObjectName("deploy-ssh")
        self.ssh.setPlaceholderText("user@host[:port]/path, e.g. pi@camera-3/opt/models")
        self.identity = QLineEdit(self)
        self.identity.setObjectName("deploy-identity")
        self.identity.setPlaceholderText("optional: a private key file (else ssh-agent and ~/.ssh)")
        identity_browse = QPushButton("Browse…", self)
        identity_browse.clicked.connect(lambda: self._pick(self.identity, directory=False))
        self.folder_row = browse_row(self.folder, folder_browse)
        ssh_form = QFormLayout()
        ssh_form.addRow("Target:", self.ssh)
        ssh_form.addRow("Identity file:", browse_row(self.identity, identity_browse))
        self.ssh_box = QWidget(self)
        self.ssh_box.setLayout(ssh_form)
        ssh_form.setContentsMargins(24, 0, 0, 0)
        self.folder_row.setContentsMargins(24, 0, 0, 0)
        self.panel = JobPanel(self, "deploy-job")
        self.result = QLabel(self)
        self.result.setObjectName("deploy-result")
        self.result.setWordWrap(True)
        self.error = QLabel(self)
        self.error.setObjectName("deploy-error")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet(f"color: {RED}; background: #fdedec; border: 1px solid #f5b7b1; border-radius: 4px; "
                                 "padding: 6px;")
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Copy the bundle to where it runs; the deployment is atomic and proves itself: "
                                 "<b>run.py --selftest</b> re-checks every checksum and reproduces the sample's "
                                 "detections there before the bundle is moved into place.", self))
        layout.addWidget(radios[0])
        layout.addWidget(self.folder_row)
        layout.addWidget(radios[1])
        layout.addWidget(self.ssh_box)
        layout.addWidget(hint("Key authentication only, never a password. The first connection to a device asks "
                              "you to trust its host key; a changed host key is refused.", self.ssh_box))
        layout.addWidget(radios[2])
        layout.addSpacing(8)
        layout.addWidget(self.panel)
        layout.addWidget(self.result)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.mode.idToggled.connect(lambda *_: self._update())
        self._update()

    def _pick(self, edit: QLineEdit, directory: bool) -> None:
        chosen = (QFileDialog.getExistingDirectory(self, "Deploy into folder") if directory
                  else QFileDialog.getOpenFileName(self, "SSH identity (private key) file")[0])
        if chosen:
            edit.setText(chosen)

    def _update(self) -> None:
        mode = self.current_mode()
        self.folder_row.setEnabled(mode == "folder")
        self.ssh_box.setEnabled(mode == "ssh")

    def current_mode(self) -> str:
        """folder, ssh or none."""
        return self.MODES[max(self.mode.checkedId(), 0)]

    def set_mode(self, mode: str) -> None:
        """Check the radio of ``mode``."""
        self.mode.button(self.MODES.index(mode)).setChecked(True)

    def target(self) -> tuple[str, Optional[str]]:
        """``(target for deploy_bundle, identity file or None)``; an empty target when none is given."""
        if self.current_mode() == "folder":
            return self.folder.text().strip(), None
        text = self.ssh.text().strip()
        if text and not text.startswith("ssh://"):
            text = "ssh://" + text
        return text, self.identity.text().strip() or None

    def show_error(self, text: str) -> None:
        """A red box (empty: hidden)."""
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def show_deployed(self, deployed_to: str, selftest: dict[str, Any]) -> None:
        """A deployment whose selftest passed: where it is, and the runtime it chose there."""
        chosen = chosen_runtime(selftest)
        self.result.setText(f"<span style='color:{GREEN}'>✔</span> Deployed to <b>{html.escape(deployed_to)}</b>"
                            + (f"<br>Runtime on the target: {chosen}" if chosen else ""))


def chosen_runtime(selftest: dict[str, Any]) -> str:
    """"<b>runtime</b> (reason)" of the runtime a bundle's selftest chose on its machine, as rich text; empty when the
    selftest chose none (an older bundle, a failed selftest)."""
    chosen = selftest.get("chosen") or {}
    if not chosen.get("runtime"):
        return ""
    device = f" on {chosen['device']}" if chosen.get("device") else ""
    reason = f" ({html.escape(str(chosen['reason']))})" if chosen.get("reason") else ""
    return f"<b>{html.escape(str(chosen['runtime']))}</b>{html.escape(device)}{reason}"
