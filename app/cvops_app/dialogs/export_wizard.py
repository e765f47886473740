"""Models ▸ Export… and File ▸ Export model…: a wizard from a registered model to a verified, bundled, deployed edge
model, in six steps — model; format and options; export and verify (the gate: mAP deltas, output difference,
latency, PASS / FAIL); bundle; deploy (a folder or SSH, with trust-on-first-use of an unknown host key and a hard
refusal of a changed one); summary (with the report as JSON on the clipboard).

The long steps (export, verify, bundle, deploy) run as background jobs (:class:`cvops_app.jobs.JobManager`, each
with its own workspace handle) with progress and Cancel on the step itself, so the wizard stays responsive. Their
failures are shown on the step, never as a blocking message box. Everything goes through the core
(:mod:`cvops.deploy.export`, :mod:`~cvops.deploy.verify`, :mod:`~cvops.deploy.bundle`, :mod:`~cvops.deploy.deploy`).
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView, QDialog, QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QStackedWidget, QTextBrowser, QVBoxLayout, QWidget,
)

from cvops.deploy.bundle import BundleInfo, make_bundle
from cvops.deploy.deploy import DeployError, DeployReport, SshTarget, deploy_bundle
from cvops.deploy.export import ExportInfo, available_formats, export_model
from cvops.deploy.verify import THRESHOLDS, verify_export
from cvops.common.errors import CvopsError
from cvops.common.jobs import CancelToken, Progress
from cvops.models.registry import list_models
from cvops_app.context import AppContext
from cvops_app.dialogs.export_wizard_gate import VERIFIED_FORMATS, VerifyStep, ms_pair, runtime_title
from cvops_app.dialogs.export_wizard_steps import (
    AMBER, GREEN, MUTED, RED, BundleStep, DeployStep, JobPanel, ModelStep, OptionsStep, chosen_runtime,
)
from cvops_app.jobs import Job

STEPS = ("Model", "Format and options", "Export and verify", "Bundle", "Deploy", "Summary")
MODEL, OPTIONS, VERIFY, BUNDLE, DEPLOY, SUMMARY = range(len(STEPS))


def host_of(target: str) -> str:
    """``host:port`` of an SSH target, for the questions and errors."""
    try:
        t = SshTarget.parse(target)
    except CvopsError:
        return target
    return f"{t.host}:{t.port or 22}"


class ExportWizard(QDialog):
    """The export → verify → bundle → deploy wizard; see the module doc."""

    def __init__(self, ctx: AppContext, model_id: Optional[int] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        assert ctx.ws is not None, "no workspace is open"
        self.ws = ctx.ws
        self.setObjectName("export-wizard")
        self.setWindowTitle("Export model")
        self.job: Optional[Job] = None
        self.closed = False
        self.export_info: Optional[ExportInfo] = None
        self.export_key: Optional[tuple] = None
        self.report: Optional[dict[str, Any]] = None
        self.verify_error = ""
        self.bundle: Optional[BundleInfo] = None
        self.bundle_key: Optional[tuple] = None
        self.deployment: Optional[DeployReport] = None
        self.deploy_accepted_host = False

        self.model_step = ModelStep(self, list_models(self.ws), model_id)
        self.options = OptionsStep(self, available_formats(), THRESHOLDS)
        self.verify_step = VerifyStep(self)
        self.bundle_step = BundleStep(self)
        self.deploy_step = DeployStep(self)
        self.summary = SummaryStep(self)
        self.stack = QStackedWidget(self)
        for page in (self.model_step, self.options, self.verify_step, self.bundle_step, self.deploy_step, self.summary):
            self.stack.addWidget(page)
        self.model_step.combo.currentIndexChanged.connect(lambda *_: self.options.set_model(self.model_step.model()))
        self.options.set_model(self.model_step.model())

        self.steps = QListWidget(self)
        self.steps.setObjectName("wizard-steps")
        self.steps.setFixedWidth(190)
        self.steps.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.steps.setFrameShape(QFrame.Shape.NoFrame)
        self.steps.setStyleSheet("QListWidget#wizard-steps { background: palette(alternate-base); padding-top: 12px; }"
                                 " QListWidget#wizard-steps::item { padding: 8px 12px; }")
        for n, name in enumerate(STEPS, start=1):
            QListWidgetItem(f"{n}   {name}", self.steps)
        self.title = QLabel(self)
        self.title.setObjectName("wizard-title")
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.title.setFont(font)

        self.copy_button = QPushButton("Copy report", self)
        self.copy_button.setObjectName("copy-report")
        self.copy_button.setToolTip("The whole report (export, gate, bundle, deployment) as JSON on the clipboard")
        self.copy_button.clicked.connect(self.copy_report)
        self.back_button = QPushButton("< Back", self)
        self.back_button.setObjectName("wizard-back")
        self.back_button.clicked.connect(self.back)
        self.next_button = QPushButton("Next >", self)
        self.next_button.setObjectName("wizard-next")
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(self.next)
        self.close_button = QPushButton("Close", self)
        self.close_button.setObjectName("wizard-close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        for b in (self.back_button, self.next_button, self.close_button):
            buttons.addWidget(b)
        for b in self.findChildren(QPushButton):  # focus (Close, a step's Cancel or Browse…) never takes Enter
            b.setAutoDefault(False)
        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        right = QVBoxLayout()
        right.setContentsMargins(18, 14, 18, 12)
        right.addWidget(self.title)
        right.addWidget(self.stack, 1)
        right.addWidget(line)
        right.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.steps)
        layout.addLayout(right, 1)
        self.resize(980, 660)
        self.go(MODEL)

    # -- navigation ---------------------------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """The current step's index (0 = model ... 5 = summary)."""
        return self.stack.currentIndex()

    def go(self, index: int) -> None:
        """Show step ``index``."""
        self.stack.setCurrentIndex(index)
        self.title.setText(f"{STEPS[index]}   <span style='color:{MUTED}; font-weight:normal; font-size:small'>"
                           f"step {index + 1} of {len(STEPS)}</span>")
        if index == BUNDLE and self.export_info is not None and not self.bundle_step.out.text().strip():
            self.bundle_step.out.setText(str(self._default_bundle_folder()))
        if index == SUMMARY:
            self._fill_summary()
        self._update()

    def _update(self) -> None:
        busy = self.job is not None
        step = self.step
        for n in range(self.steps.count()):
            item = self.steps.item(n)
            item.setText(f"{'✔' if n < step else n + 1}   {STEPS[n]}")
            font = QFont(self.steps.font())
            font.setBold(n == step)
            item.setFont(font)
            item.setForeground(QColor(MUTED if n > step else GREEN if n < step else "#1a5276"))
            item.setBackground(QColor("#d6eaf8") if n == step else QColor(0, 0, 0, 0))
        self.back_button.setEnabled(step > MODEL and not busy)
        self.copy_button.setVisible(step == SUMMARY)
        self.next_button.setVisible(step != SUMMARY)
        self.close_button.setText("Finish" if step == SUMMARY else "Close")
        (self.close_button if step == SUMMARY else self.next_button).setDefault(True)  # Enter: Next, or Finish
        text, enabled = "Next >", not busy
        if step == MODEL:
            enabled = enabled and self.model_step.model() is not None
        elif step == OPTIONS:
            text = "Export and verify"
        elif step == VERIFY and not busy:
            if self.export_info is None:
                text = "Export again"
            elif self._verifiable() and self.report is None and not self.verify_error:
                text = "Verify again"
        elif step == BUNDLE:
            text = "Make bundle" if not self._bundle_current() else "Next >"
        elif step == DEPLOY:
            text = "Skip to summary" if self.deploy_step.current_mode() == "none" else "Deploy"
        self.next_button.setText(text)
        self.next_button.setEnabled(enabled)

    def next(self) -> None:
        """The Next button: move on, starting the step's job where one is due."""
        if self.job is not None:
            return
        step = self.step
        if step == MODEL:
            self.go(OPTIONS)
        elif step == OPTIONS:
            self.go(VERIFY)
            if self.export_info is None or self.export_key != self._export_key():
                self.start_export()  # else: the same options as the export made already
        elif step == VERIFY:
            if self.export_info is None:
                self.start_export()
            elif self._verifiable() and self.report is None and not self.verify_error:
                self.start_verify()
            else:
                self.go(BUNDLE if self._verifiable() else SUMMARY)
        elif step == BUNDLE:
            if self._bundle_current():
                self.go(DEPLOY)
            else:
                self.start_bundle()
        elif step == DEPLOY:
            if self.deploy_step.current_mode() == "none":
                self.go(SUMMARY)
            else:
                self.start_deploy(accept_new_host_key=False)

    def back(self) -> None:
        """One step back (from the summary of an export the gate cannot check: to its export step)."""
        if self.job is None and self.step > MODEL:
            self.go(VERIFY if self.step == SUMMARY and not self._verifiable() else self.step - 1)

    def reject(self) -> None:
        """Close (or Escape): cancel a running job first."""
        if self.job is not None:
            self.job.cancel.cancel()
        self.closed = True
        super().reject()

    # -- jobs ---------------------------------------------------------------------------------------------------------
    def _run(self, title: str, fn: Callable[..., Any], panel: JobPanel, text: str, done: Callable[[Any], None],
             failed: Callable[[str], None], busy: bool = False) -> Job:
        """Run ``fn(ws, progress, cancel)`` on a workspace handle of its own in the background; the callbacks run
        on the GUI thread unless the wizard was closed. A Cancel that comes after ``fn`` finished (bundle and deploy
        check no token) reports what was done rather than a cancellation that did not happen."""
        source = self.ws
        finished: dict[str, Any] = {}

        def job(progress: Progress, cancel: CancelToken) -> Any:
            with source.reopen() as ws2:
                finished["result"] = fn(ws2, progress, cancel)
                return finished["result"]

        def ended(callback: Callable[..., None], *args: Any) -> None:
            self.job = None
            if not self.closed:
                callback(*args)
                self._update()

        def cancelled() -> None:
            if "result" in finished:
                done(finished["result"])
            else:
                panel.finish("Cancelled.", AMBER)

        self.job = self.ctx.jobs.start(title, job, on_done=lambda r: ended(done, r),
                                       on_error=lambda d: ended(failed, d),
                                       on_cancel=lambda: ended(cancelled))
        panel.attach(self.job, text, busy)
        self._update()
        return self.job

    def _export_key(self) -> tuple:
        model = self.model_step.model()
        return (model.id if model else None, tuple(sorted(self.options.values().items())))

    def _verifiable(self) -> bool:
        """Whether the export (made, or to make) is one the gate checks and a bundle holds (ONNX, OpenVINO)."""
        fmt = self.export_info.format if self.export_info is not None else self.options.values()["format"]
        return fmt in VERIFIED_FORMATS

    def start_export(self) -> Optional[Job]:
        """Export the chosen model with the chosen options, then verify it (ONNX, OpenVINO)."""
        model = self.model_step.model()
        if model is None:
            return None
        options, key = self.options.values(), self._export_key()
        self.export_info, self.report, self.verify_error = None, None, ""
        self.bundle = self.bundle_key = self.deployment = None
        self.bundle_step.result.setText("")
        self.deploy_step.result.setText("")
        self.verify_step.clear(options["format"])
        precision = "int8" if options["int8"] else "fp16" if options["half"] else "fp32"
        self.verify_step.intro.setText(
            f"Exporting <b>{html.escape(model.name)}</b> to <b>{options['format']}</b> ({precision}, "
            f"{options['imgsz']} px{', dynamic' if options['dynamic'] else ''}), then checking it against the PyTorch "
            f"model on the validation images of {html.escape(model.version_name)}.")

        def done(info: ExportInfo) -> None:
            self.export_info, self.export_key = info, key
            self.verify_step.show_export(info)
            if info.format in VERIFIED_FORMATS:
                self.start_verify()
            else:
                self.verify_step.panel.finish(f"Exported in {info.params.get('duration_s', 0):.1f} s.", GREEN)
                self.verify_step.show_skipped(info.format)

        def failed(detail: str) -> None:
            self.verify_step.panel.finish("")
            self.verify_step.error.show_error(f"Export failed: {detail}")

        return self._run(f"Export {model.name}", lambda ws, p, c: export_model(ws, model.id, progress=p, cancel=c,
                                                                                **options),
                         self.verify_step.panel, f"Exporting {model.name}…", done, failed)

    def start_verify(self) -> Optional[Job]:
        """Run the export gate on the export just made."""
        info = self.export_info
        if info is None:
            return None
        floor, allow = self.options.min_map.value(), self.options.allow_below.isChecked()

        def done(report: dict[str, Any]) -> None:
            self.report = report
            self.verify_step.panel.finish(f"Verified in {report.get('duration_s', 0):.1f} s on "
                                          f"{report['images']} images.", GREEN if report["passed"] else RED)
            self.verify_step.show_report(report)

        def failed(detail: str) -> None:
            self.verify_error = detail
            self.verify_step.panel.finish("")
            self.verify_step.error.show_error(f"Verification failed: {detail} (you can go on; the summary records "
                                              "the export as not verified)")

        return self._run(f"Verify export {info.id}",
                         lambda ws, p, c: verify_export(ws, info.id, progress=p, cancel=c, min_map50_95=floor,
                                                        allow_below_floor=allow).to_dict(),
                         self.verify_step.panel, "Verifying against PyTorch…", done, failed)

    def _default_bundle_folder(self) -> Path:
        assert self.export_info is not None
        base = self.ws.root / "bundles" / self.export_info.folder.name
        path, n = base, 2
        while path.exists():
            path, n = base.with_name(f"{base.name}-{n}"), n + 1
        return path

    def _bundle_current(self) -> bool:
        return self.bundle is not None and self.bundle_key == self._bundle_request()

    def _bundle_request(self) -> tuple:
        export_id = self.export_info.id if self.export_info else None
        return (export_id, self.bundle_step.out.text().strip(), self.bundle_step.zip.isChecked())

    def start_bundle(self) -> Optional[Job]:
        """Write the bundle of the export in the background; on success go on to the deploy step."""
        info, text = self.export_info, self.bundle_step.out.text().strip()
        self.bundle_step.error.show_error("")
        if info is None:
            return None
        if not text:
            self.bundle_step.error.show_error("Choose the bundle folder (a new or empty one).")
            return None
        out, zipped, request = Path(text).expanduser(), self.bundle_step.zip.isChecked(), self._bundle_request()
        self.bundle = self.deployment = None
        self.bundle_step.result.setText("")
        self.deploy_step.result.setText("")

        def done(bundle: BundleInfo) -> None:
            self.bundle, self.bundle_key = bundle, request
            self.bundle_step.panel.finish("")
            self.bundle_step.show_bundle(bundle)
            self.go(DEPLOY)

        def failed(detail: str) -> None:
            self.bundle_step.panel.finish("")
            self.bundle_step.error.show_error(f"No bundle was written: {detail}")

        def run(ws: Any, progress: Progress, cancel: CancelToken) -> BundleInfo:
            progress(0.1, "writing the bundle and its sample")
            return make_bundle(ws, info.id, out, zip=zipped)

        return self._run("Make bundle", run, self.bundle_step.panel, f"Bundling into {out}…", done, failed,
                         busy=True)

    def start_deploy(self, accept_new_host_key: bool) -> Optional[Job]:
        """Deploy the bundle to the chosen target; an unknown SSH host key is asked about, then trusted."""
        target, identity = self.deploy_step.target()
        self.deploy_step.show_error("")
        self.deploy_step.result.setText("")
        if self.bundle is None:
            return None
        if not target or target == "ssh://":
            self.deploy_step.show_error("Give the folder or the SSH target (user@host[:port]/path) to deploy to.")
            return None
        bundle = self.bundle.path

        def run(ws: Any, progress: Progress, cancel: CancelToken) -> Union[DeployReport, CvopsError]:
            progress(0.1, f"copying to {target} and running the selftest there")
            try:
                return deploy_bundle(ws, bundle, target, identity=identity, accept_new_host_key=accept_new_host_key)
            except CvopsError as exc:  # a refused target is an answer to show on the step, not a crash
                return exc

        def failed(detail: str) -> None:
            self.deploy_step.panel.finish("")
            self.deploy_step.show_error(html.escape(detail))

        self.deploy_accepted_host = accept_new_host_key
        return self._run("Deploy bundle", run, self.deploy_step.panel, f"Deploying to {target}…",
                         lambda result: self._deployed(target, result), failed, busy=True)

    def _deployed(self, target: str, result: Union[DeployReport, CvopsError]) -> None:
        panel = self.deploy_step.panel
        panel.finish("")
        if isinstance(result, DeployReport):
            self.deployment = result
            if result.ok:
                self.deploy_step.show_deployed(result.deployed_to or result.target, result.selftest or {})
                self.ctx.notify(f"deployed {result.bundle} to {result.deployed_to}", 10_000)
                self.go(SUMMARY)
            else:
                self.deploy_step.show_error("<b>The selftest failed on the target; nothing was deployed.</b><br>"
                                            + html.escape(result.error or ""))
            return
        message = str(result)
        where = host_of(target)
        if isinstance(result, DeployError) and "host key changed" in message:
            self.deploy_step.show_error(f"<b>⛔ The host key of {html.escape(where)} has CHANGED — refusing to "
                                        f"connect.</b><br>{html.escape(message)}")
        elif isinstance(result, DeployError) and "is not known" in message and not self.deploy_accepted_host:
            answer = QMessageBox.question(
                self, "Unknown host",
                f"The host {where} is not known (its key is not in your known_hosts).\n\nTrust it and connect?\n\n"
                "Answer Yes only if this is the device you expect: its key is then remembered, and a later change "
                "of it is refused.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer == QMessageBox.StandardButton.Yes:
                self.start_deploy(accept_new_host_key=True)
            else:
                self.deploy_step.show_error(f"Not deployed: the host key of {html.escape(where)} was not trusted.")
        else:
            self.deploy_step.show_error(f"<b>Not deployed.</b><br>{html.escape(message)}")

    # -- summary ------------------------------------------------------------------------------------------------------
    def report_dict(self) -> dict[str, Any]:
        """Everything the wizard made, JSON-ready."""
        model = self.model_step.model()
        return {"model": model.name if model else None,
                "export": self.export_info.to_dict() if self.export_info else None,
                "verify": self.report, "verify_error": self.verify_error or None,
                "bundle": self.bundle.to_dict() if self.bundle else None,
                "deployment": self.deployment.to_dict() if self.deployment else None,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def copy_report(self) -> str:
        """Put the report on the clipboard as JSON; returns it."""
        text = json.dumps(self.report_dict(), indent=2, default=str)
        QGuiApplication.clipboard().setText(text)
        self.ctx.notify("export report copied to the clipboard")
        return text

    def _fill_summary(self) -> None:
        e, r, b, d = self.export_info, self.report, self.bundle, self.deployment
        sections = []
        if e is not None:
            sections.append(("Export", pill(f"{e.format} {e.precision}", "#2e86c1"), [
                ("Model", html.escape(e.model)), ("File", f"<b>{html.escape(e.path)}</b>"),
                ("sha256", f"<code>{e.sha256}</code>"),
                ("Size", f"{e.size_bytes / 1e6:.1f} MB · {e.imgsz} px{' · dynamic' if e.dynamic else ''} · "
                         f"opset {e.opset or '—'}")]))
        if r is not None:
            latency, runtime = r["export"].get("latency_ms") or {}, r["export"].get("runtime") or "onnxruntime"
            cpu, openvino = latency.get("cpu") or {}, latency.get("openvino_cpu") if runtime != "openvino" else None
            torch_lat = r["pytorch"].get("latency_ms") or {}
            timings = [f"{runtime_title(runtime)} CPU {ms_pair(cpu.get('p50'), cpu.get('p95'))}"]
            if openvino:
                timings.append(f"OpenVINO CPU (same file) {ms_pair(openvino.get('p50'), openvino.get('p95'))}")
            timings.append(f"PyTorch {ms_pair(torch_lat.get('p50'), torch_lat.get('p95'))}")
            timings = [f"<span style='white-space:nowrap'>{html.escape(t)}</span>" for t in timings]
            sections.append(("Gate", pill("PASS", GREEN) if r["passed"] else pill("FAIL", RED), [
                ("Δ mAP50-95", f"{r['delta_map50_95']:+.2f} points (allowed drop: {r['threshold_points']:g})"),
                ("Δ mAP50", f"{r['delta_map50']:+.2f} points"),
                ("Max output difference", f"{r['max_abs_output_diff']:.2e}"
                 if isinstance(r.get("max_abs_output_diff"), (int, float)) else "—"),
                ("Latency p50 / p95", " · ".join(timings)),
                ("Checked on", f"{r['images']} images of {html.escape(r['version'])}/{html.escape(r['split'])}")]))
        else:
            why = html.escape(self.verify_error) if self.verify_error else "only ONNX and OpenVINO exports are verified"
            sections.append(("Gate", pill("NOT VERIFIED", AMBER), [("Why", why)]))
        if b is not None:
            rows = [("Folder", f"<b>{html.escape(str(b.path))}</b>"), ("Files", html.escape(", ".join(sorted(b.files)))),
                    ("Size", f"{b.size_bytes / 1e6:.1f} MB")]
            if b.zip_path:
                rows.append(("Zip", html.escape(str(b.zip_path))))
            sections.append(("Bundle", "", rows))
        else:
            sections.append(("Bundle", pill("NONE", MUTED), [("", "no bundle was made")]))
        if d is not None:
            st = d.selftest or {}
            sample = st.get("sample") or {}
            test = (f"<span style='color:{GREEN if st.get('ok') else RED}'><b>{'ok' if st.get('ok') else 'FAILED'}"
                    f"</b></span> — {st.get('files_checked', 0)} checksums verified, sample detections "
                    f"{sample.get('detected', '—')} of {sample.get('expected', '—')} reproduced")
            versions = st.get("runtime") or {}
            if versions:
                names = [f"{runtime_title(k)} {versions[k]}" for k in ("onnxruntime", "openvino") if versions.get(k)]
                test += (f"<br><span style='color:{MUTED}'>" + html.escape(", ".join(
                    [f"python {versions.get('python')}"] + names + [f"OpenCV {versions.get('opencv')}"])) + "</span>")
            rows = [("Target", html.escape(d.target)), ("Deployed to", f"<b>{html.escape(d.deployed_to or '—')}</b>"),
                    ("Selftest on the target", test)]
            if chosen_runtime(st):
                rows.append(("Runtime on the target", chosen_runtime(st)))
            sections.append(("Deployment", pill("OK", GREEN) if d.ok else pill("FAILED", RED),
                             rows + [("Duration", f"{d.seconds:.1f} s")]))
        else:
            sections.append(("Deployment", pill("NOT DEPLOYED", MUTED), [("", "deploy later with: cvops deploy "
                                                                             "BUNDLE --to TARGET")]))
        self.summary.show_summary(sections)

    def summary_text(self) -> str:
        """The summary as plain text (for tests)."""
        return self.summary.view.toPlainText()


class SummaryStep(QWidget):
    """Step 6: what was made and where it runs."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.view = QTextBrowser(self)
        self.view.setObjectName("wizard-summary")
        self.view.setOpenLinks(False)
        self.view.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)

    def show_summary(self, sections: list[tuple[str, str, list[tuple[str, str]]]]) -> None:
        """``[(title, badge html, [(label, value html)])]``, one table so the labels line up."""
        parts = ["<table cellpadding='3' cellspacing='0' width='100%'>"]
        for n, (title, badge, rows) in enumerate(sections):
            top = "" if n == 0 else " style='padding-top:14px'"
            parts.append(f"<tr><td colspan='2'{top}><span style='font-size:large; font-weight:bold'>"
                         f"{html.escape(title)}</span>&nbsp;&nbsp;{badge}</td></tr>")
            parts += [f"<tr><td width='170' style='color:{MUTED}' valign='top'>{html.escape(k)}</td>"
                      f"<td>{v}</td></tr>" for k, v in rows]
        self.view.setHtml("".join(parts) + "</table>")


def pill(text: str, color: str) -> str:
    """An inline coloured label for rich text."""
    return (f"<span style='background:{color}; color:white; font-weight:bold; font-size:small'>&nbsp;{html.escape(text)}"
            "&nbsp;</span>")


def open_export_wizard(ctx: AppContext, parent: QWidget, model_id: Optional[int] = None) -> Optional[ExportWizard]:
    """Open the wizard over ``parent`` (window-modal, non-blocking) for ``model_id`` (default: the champion)."""
    if ctx.ws is None:
        return None
    wizard = ExportWizard(ctx, model_id, parent)
    wizard.open()
    return wizard

