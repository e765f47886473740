"""The export wizard through the real main window: a tiny real model (m1 of the session's shared trained workspace:
40 demo images, 3 epochs at 96 px, CPU) is exported to ONNX fp32, verified (the gate's table, with OpenVINO's latency
on the same file when it is installed, and the PASS badge), bundled and deployed to a folder, where the selftest
passes; the summary (naming the runtime the selftest chose) and the copied JSON report say so. The SSH cases run against a stand-in for
``deploy_bundle``: an unknown host key asks to trust it and retries with ``accept_new_host_key``; a changed one is a
red error with nothing to accept. A failed gate warns and lets the user go back and change the options.

``CVOPS_WIZARD_SHOTS=DIR`` saves screenshots of steps 3 and 6 there."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from cvops_app.dialogs import export_wizard as wizard_mod
from cvops_app.dialogs.export_wizard import (
    BUNDLE,
    DEPLOY,
    OPTIONS,
    SUMMARY,
    VERIFY,
    ExportWizard,
)
from cvops_app.mainwindow import MainWindow
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox
from training_testing import open_window

from cvops.deploy.bundle import BundleInfo
from cvops.deploy.deploy import DeployError, DeployReport
from cvops.deploy.export import ExportInfo, available_formats

WAIT_MS = 120_000


@pytest.fixture
def window(qtbot, tmp_path: Path, trained_workspace: Path,  # noqa: ANN001
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    """The main window on a copy of the trained workspace, its Models page showing m1 selected."""
    main = open_window(qtbot, tmp_path, trained_workspace, monkeypatch, "models")
    main.pages["models"].table.selectRow(0)  # m1
    yield main
    if main.export_wizard is not None:
        main.export_wizard.reject()
    main.jobs.cancel_all()
    main.jobs.wait(60_000)
    main.close()


def _shot(wizard: ExportWizard, name: str) -> None:
    folder = os.environ.get("CVOPS_WIZARD_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # the layout requests of the last results first (else a label can be cut off)
            QApplication.processEvents()
        wizard.grab().save(str(Path(folder) / name))


def _open(window: MainWindow) -> ExportWizard:
    page = window.pages["models"]
    assert page.export_button.isEnabled()
    page.export_button.click()
    wizard = window.export_wizard
    assert isinstance(wizard, ExportWizard) and wizard.isVisible()
    return wizard


def test_export_verify_bundle_deploy_to_a_folder(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    wizard = _open(window)
    assert wizard.step == 0 and wizard.model_step.model().name == "m1"
    wizard.next_button.click()
    assert wizard.step == OPTIONS and wizard.options.imgsz.value() == 96
    combo = wizard.options.format
    available = {f["format"]: f["available"] for f in available_formats()}
    assert [combo.itemData(row) for row in range(combo.count())] == list(available)
    for row in range(combo.count()):  # unavailable formats are greyed out, saying what to install
        item = combo.model().item(row)
        assert item.isEnabled() == available[combo.itemData(row)]
        assert "needs" in item.toolTip() if not item.isEnabled() else item.toolTip() == "Installed"
    assert combo.currentData() == "onnx"
    assert wizard.next_button.text() == "Export and verify"
    assert wizard.options.min_map.value() == 0.05 and not wizard.options.allow_below.isChecked()
    wizard.options.allow_below.setChecked(True)  # the 3-epoch model scores ~0: below the quality floor
    wizard.next_button.click()
    assert wizard.step == VERIFY and wizard.job is not None and not wizard.back_button.isEnabled()
    qtbot.waitUntil(lambda: wizard.report is not None or wizard.verify_step.error.isVisible(), timeout=WAIT_MS)
    assert wizard.report is not None, wizard.verify_step.error.text()
    step = wizard.verify_step
    table = step.table
    assert table.item(1, 3).text().endswith("points") and table.item(2, 1).text().endswith("ms")
    assert table.item(2, 2).text().endswith("ms") and table.item(step.DIFF, 3).text() not in ("…", "—")
    assert table.horizontalHeaderItem(2).text() == "onnxruntime (CPU)"
    openvino = (wizard.report["export"]["latency_ms"] or {}).get("openvino_cpu")  # timed when OpenVINO is installed
    assert table.isRowHidden(step.OPENVINO) == (not openvino)
    if openvino:
        assert table.item(step.OPENVINO, 2).text().endswith(" ms") and "OpenVINO" in step.verdict.text()
    assert wizard.verify_step.badge.isVisible() and wizard.verify_step.badge.text() == "PASS"
    assert "0.5 points" in wizard.verify_step.verdict.text()
    assert "allowed by override" in wizard.verify_step.verdict.text() and wizard.report["quality"]["overridden"]
    assert not wizard.verify_step.warning.isVisible()
    _shot(wizard, "step3_verify.png")

    wizard.next_button.click()
    assert wizard.step == BUNDLE and wizard.bundle_step.out.text()  # a default folder is offered
    wizard.bundle_step.out.setText(str(tmp_path / "bundles" / "m1-edge"))
    wizard.bundle_step.zip.setChecked(True)
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.step == DEPLOY, timeout=WAIT_MS)
    assert wizard.bundle is not None and (tmp_path / "bundles" / "m1-edge.zip").is_file()

    wizard.deploy_step.set_mode("folder")
    wizard.deploy_step.folder.setText(str(tmp_path / "edge"))
    assert wizard.next_button.text() == "Deploy"
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.step == SUMMARY or wizard.deploy_step.error.isVisible(), timeout=WAIT_MS)
    assert wizard.step == SUMMARY, wizard.deploy_step.error.text()
    assert (tmp_path / "edge" / "m1-edge" / "model.onnx").is_file()
    text = wizard.summary_text()
    info = wizard.export_info
    assert info.path in text and info.sha256 in text and "PASS" in text
    assert str(tmp_path / "bundles" / "m1-edge") in text and str(tmp_path / "edge" / "m1-edge") in text
    assert "ok — " in text and "checksums verified" in text
    chosen = wizard.deployment.selftest.get("chosen") or {}
    assert chosen and f"Runtime on the target\n{chosen['runtime']}" in text
    _shot(wizard, "step6_summary.png")

    wizard.copy_button.click()
    report = json.loads(QGuiApplication.clipboard().text())
    assert report["export"]["sha256"] == info.sha256 and report["verify"]["passed"] is True
    assert report["deployment"]["ok"] is True and report["deployment"]["selftest"]["ok"] is True
    assert report["bundle"]["zip_path"].endswith("m1-edge.zip")
    wizard.close_button.click()
    assert not wizard.isVisible()


def _at_deploy_step(window: MainWindow, tmp_path: Path) -> ExportWizard:
    """A wizard on the deploy step with a (stand-in) bundle made."""
    action = next(a for menu in window.menuBar().findChildren(QMenu) for a in menu.actions()
                  if a.text() == "Export &model…")
    action.trigger()  # File ▸ Export model… opens the wizard too
    wizard = window.export_wizard
    assert isinstance(wizard, ExportWizard)
    wizard.bundle = BundleInfo(path=tmp_path / "m1-edge", name="m1-edge", model="m1", export_id=None, files={},
                               size_bytes=0, sample_detections=0)
    wizard.go(DEPLOY)
    wizard.deploy_step.set_mode("ssh")
    wizard.deploy_step.ssh.setText("pi@camera-3:2222/opt/models")
    wizard.deploy_step.identity.setText(str(tmp_path / "id_ed25519"))
    return wizard


def test_ssh_unknown_host_asks_to_trust_it_then_retries(qtbot, window: MainWindow, tmp_path: Path,  # noqa: ANN001
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_deploy(ws: Any, bundle: Any, target: str, identity: Any = None, accept_new_host_key: bool = False,
                    **_: Any) -> DeployReport:
        calls.append({"target": target, "identity": identity, "accept_new_host_key": accept_new_host_key})
        if not accept_new_host_key:
            raise DeployError("host key of camera-3:2222 is not known: add it to known_hosts after checking its "
                              "fingerprint, or deploy with --accept-new-host-key to trust it on first use")
        return DeployReport(bundle=str(bundle), target=target, ok=True, files=["model.onnx"],
                            deployed_to="ssh://pi@camera-3:2222/opt/models/m1-edge",
                            selftest={"ok": True, "files_checked": 6, "problems": [],
                                      "sample": {"expected": 3, "detected": 3}})

    questions: list[str] = []
    monkeypatch.setattr(wizard_mod, "deploy_bundle", fake_deploy)
    monkeypatch.setattr(wizard_mod.QMessageBox, "question",
                        lambda parent, title, text, *a: questions.append(text) or QMessageBox.StandardButton.Yes)
    wizard = _at_deploy_step(window, tmp_path)
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.step == SUMMARY, timeout=WAIT_MS)
    assert len(questions) == 1
    assert "The host camera-3:2222 is not known" in questions[0] and "Trust it and connect?" in questions[0]
    assert [c["accept_new_host_key"] for c in calls] == [False, True]
    assert calls[1]["target"] == "ssh://pi@camera-3:2222/opt/models"
    assert calls[1]["identity"] == str(tmp_path / "id_ed25519")
    text = wizard.summary_text()
    assert "ssh://pi@camera-3:2222/opt/models/m1-edge" in text and "ok — 6 checksums verified" in text


def test_ssh_changed_host_key_is_refused_without_an_accept(qtbot, window: MainWindow, tmp_path: Path,  # noqa: ANN001
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []

    def fake_deploy(ws: Any, bundle: Any, target: str, identity: Any = None, accept_new_host_key: bool = False,
                    **_: Any) -> DeployReport:
        calls.append(accept_new_host_key)
        raise DeployError("host key changed for camera-3:2222: the server's host key differs from the one in "
                          "known_hosts (a reinstalled server, or someone intercepting the connection). Refusing to "
                          "deploy; if the change is expected, remove the old key (ssh-keygen -R 'camera-3') and "
                          "verify the new one")

    def no_question(*_: Any) -> None:
        raise AssertionError("a changed host key must not be offered for acceptance")

    monkeypatch.setattr(wizard_mod, "deploy_bundle", fake_deploy)
    monkeypatch.setattr(wizard_mod.QMessageBox, "question", no_question)
    wizard = _at_deploy_step(window, tmp_path)
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.job is None and wizard.deploy_step.error.isVisible(), timeout=WAIT_MS)
    assert calls == [False] and wizard.step == DEPLOY and wizard.deployment is None
    error = wizard.deploy_step.error
    assert "CHANGED" in error.text() and "refusing to connect" in error.text() and "ssh-keygen -R" in error.text()
    assert "c0392b" in error.styleSheet()  # red
    assert wizard.next_button.text() == "Deploy"  # a retry refuses again; nothing offers to accept the key


def test_failed_gate_warns_and_going_back_re_exports(qtbot, window: MainWindow, tmp_path: Path,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    exported: list[dict[str, Any]] = []

    def fake_export(ws: Any, model_ref: Any, progress: Any = None, cancel: Any = None, **options: Any) -> ExportInfo:
        exported.append(options)
        precision = "int8" if options["int8"] else "fp32"
        return ExportInfo(id=len(exported), model_id=1, model="m1", format="onnx", precision=precision, imgsz=96,
                          dynamic=False, opset=17, path=str(tmp_path / "model.onnx"), sha256="ab" * 32,
                          size_bytes=2_000_000)

    class Report:
        def __init__(self, passed: bool) -> None:
            self.passed = passed

        def to_dict(self) -> dict[str, Any]:
            delta = -0.1 if self.passed else -3.2
            return {"export_id": 1, "model": "m1", "precision": "int8", "version": "v1", "split": "val", "images": 3,
                    "pytorch": {"map50": 0.5, "map50_95": 0.3, "latency_ms": {"p50": 20.0, "p95": 25.0}},
                    "export": {"map50": 0.47, "map50_95": 0.3 + delta / 100,
                               "latency_ms": {"cpu": {"p50": 8.0, "p95": 9.0}}},
                    "delta_map50": -3.0, "delta_map50_95": delta, "max_abs_output_diff": 0.21,
                    "threshold_points": 1.5, "passed": self.passed, "duration_s": 0.1}

    monkeypatch.setattr(wizard_mod, "export_model", fake_export)
    monkeypatch.setattr(wizard_mod, "verify_export", lambda ws, ref, **_: Report(len(exported) > 1))
    wizard = _open(window)
    wizard.next_button.click()
    wizard.options.set_precision("int8")
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=WAIT_MS)
    step = wizard.verify_step
    assert step.badge.text() == "FAIL" and step.warning.isVisible() and "Back" in step.warning.text()
    assert step.table.item(1, 3).text() == "-3.20 points"
    assert wizard.next_button.isEnabled() and wizard.back_button.isEnabled()  # going on is allowed, with the warning
    wizard.back_button.click()
    assert wizard.step == OPTIONS
    wizard.options.set_precision("fp16")
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=WAIT_MS)
    assert len(exported) == 2 and exported[1]["half"] and not exported[1]["int8"]
    assert step.badge.text() == "PASS" and not step.warning.isVisible()


def test_cancel_stops_the_export_and_allows_a_retry(qtbot, window: MainWindow,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_export(ws: Any, model_ref: Any, progress: Any = None, cancel: Any = None, **_: Any) -> ExportInfo:
        while True:  # until cancelled, reporting progress
            progress(0.2, "exporting onnx")
            cancel.raise_if_cancelled()
            time.sleep(0.01)

    monkeypatch.setattr(wizard_mod, "export_model", slow_export)
    wizard = _open(window)
    wizard.next_button.click()
    wizard.next_button.click()
    panel = wizard.verify_step.panel
    qtbot.waitUntil(lambda: panel.bar.value() == 200 and panel.label.text() == "exporting onnx", timeout=WAIT_MS)
    assert panel.cancel.isVisible() and not wizard.next_button.isEnabled()
    panel.cancel.click()
    qtbot.waitUntil(lambda: wizard.job is None, timeout=WAIT_MS)
    assert panel.label.text() == "Cancelled." and not panel.bar.isVisible()
    assert wizard.export_info is None and wizard.next_button.text() == "Export again"
    assert wizard.back_button.isEnabled() and wizard.next_button.isEnabled()


def test_a_model_below_the_quality_floor_fails_the_gate(qtbot, window: MainWindow, tmp_path: Path,  # noqa: ANN001
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Perfect parity, mAP 0.000: FAIL, the verdict names the floor, the warning says retraining (not re-exporting)
    helps; the floor set in the options reaches verify_export."""
    seen: list[dict[str, Any]] = []

    def fake_export(ws: Any, model_ref: Any, progress: Any = None, cancel: Any = None, **options: Any) -> ExportInfo:
        return ExportInfo(id=1, model_id=1, model="m1", format="onnx", precision="fp32", imgsz=96, dynamic=False,
                          opset=17, path=str(tmp_path / "model.onnx"), sha256="ab" * 32, size_bytes=2_000_000)

    class Report:
        def __init__(self, floor: float, allow: bool) -> None:
            seen.append({"floor": floor, "allow": allow})
            self.quality = {"metric": "map50_95", "value": 0.0, "floor": floor, "passed": False,
                            "overridden": allow}

        def to_dict(self) -> dict[str, Any]:
            return {"export_id": 1, "model": "m1", "precision": "fp32", "version": "v1", "split": "val", "images": 3,
                    "pytorch": {"map50": 0.0, "map50_95": 0.0, "latency_ms": None},
                    "export": {"map50": 0.0, "map50_95": 0.0, "latency_ms": {"cpu": None}},
                    "delta_map50": 0.0, "delta_map50_95": 0.0, "max_abs_output_diff": 0.0, "threshold_points": 0.5,
                    "passed": self.quality["overridden"], "parity_passed": True, "quality": self.quality,
                    "duration_s": 0.1}

    monkeypatch.setattr(wizard_mod, "export_model", fake_export)
    monkeypatch.setattr(wizard_mod, "verify_export",
                        lambda ws, ref, min_map50_95, allow_below_floor, **_: Report(min_map50_95, allow_below_floor))
    wizard = _open(window)
    wizard.next_button.click()
    wizard.options.min_map.setValue(0.2)
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=WAIT_MS)
    step = wizard.verify_step
    assert seen == [{"floor": 0.2, "allow": False}]
    assert step.badge.text() == "FAIL" and "below the floor <b>0.200</b>" in step.verdict.text()
    assert step.warning.isVisible() and "quality floor" in step.warning.text() and "Train" in step.warning.text()
