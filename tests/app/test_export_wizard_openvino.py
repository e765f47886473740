"""OpenVINO in the export wizard, without exporting anything (the core's functions are stand-ins): the format step
offers OpenVINO when it is installed and greys it out with the install hint when not, and greys out int8 (saying to
install nncf) when OpenVINO is there without NNCF; the gate's table heads the export's column with its runtime and,
for an ONNX export, adds OpenVINO's latency on the same file; an OpenVINO export is verified and bundled like an ONNX
one; the deploy step and the summary name the runtime the bundle's selftest chose on the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from wizard_testing import model_context

from cvops.deploy.bundle import BundleInfo
from cvops.deploy.deploy import DeployReport
from cvops.deploy.export import ExportInfo
from cvops_app.dialogs import export_wizard as wizard_mod
from cvops_app.dialogs.export_wizard import BUNDLE, DEPLOY, OPTIONS, SUMMARY, ExportWizard

WAIT_MS = 60_000
HINT = "needs openvino (and nncf for --int8): pip install 'cvops-workbench[openvino]' (not installed: openvino)"
NNCF_HINT = "OpenVINO int8 needs nncf, which is not installed here (pip install nncf, or pip install " \
            "'cvops-workbench[openvino]')"


def formats(openvino: bool, nncf: bool = True) -> list[dict[str, Any]]:
    """What ``available_formats`` answers with OpenVINO (and NNCF) installed or not."""
    return [{"format": "onnx", "available": True, "reason": "installed"},
            {"format": "openvino", "available": openvino, "reason": "installed" if openvino else HINT,
             "int8": nncf, "int8_reason": "installed" if nncf else NNCF_HINT},
            {"format": "tflite", "available": False, "reason": "needs tensorflow (not installed: tensorflow)"}]


@pytest.fixture
def make_wizard(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
                ) -> Iterator[Callable[[list[dict[str, Any]]], ExportWizard]]:
    """``make(formats)``: a shown wizard on a registered (never exported) model m1, whose ``available_formats``
    answers ``formats``."""
    host, ctx = model_context(qtbot, tmp_path)
    made: list[ExportWizard] = []

    def make(answer: list[dict[str, Any]]) -> ExportWizard:
        monkeypatch.setattr(wizard_mod, "available_formats", lambda: answer)
        wizard = ExportWizard(ctx, None, host)
        wizard.show()
        made.append(wizard)
        return wizard

    yield make
    for wizard in made:
        wizard.reject()
    ctx.jobs.cancel_all()
    ctx.jobs.wait(30_000)
    ctx.close_workspace()


def _row(wizard: ExportWizard, fmt: str) -> int:
    row = wizard.options.format.findData(fmt)
    assert row >= 0, fmt
    return row


def test_openvino_is_offered_when_installed(make_wizard: Callable[..., ExportWizard]) -> None:
    wizard = make_wizard(formats(openvino=True))
    combo, options = wizard.options.format, wizard.options
    item = combo.model().item(_row(wizard, "openvino"))
    assert item.isEnabled() and item.toolTip() == "Installed" and "OpenVINO" in item.text()
    combo.setCurrentIndex(_row(wizard, "openvino"))
    assert [options.radios[k].isEnabled() for k in ("fp32", "fp16", "int8")] == [True, True, True]
    assert not options.int8_missing.isVisibleTo(options)
    options.set_precision("int8")
    assert options.values()["format"] == "openvino" and options.values()["int8"]


def test_openvino_is_greyed_out_with_the_install_hint(make_wizard: Callable[..., ExportWizard]) -> None:
    wizard = make_wizard(formats(openvino=False))
    item = wizard.options.format.model().item(_row(wizard, "openvino"))
    assert not item.isEnabled() and item.text().endswith("(not installed)")
    assert "pip install 'cvops-workbench[openvino]'" in item.toolTip()
    assert wizard.options.format.currentData() == "onnx"


def test_openvino_int8_is_greyed_out_without_nncf(make_wizard: Callable[..., ExportWizard]) -> None:
    wizard = make_wizard(formats(openvino=True, nncf=False))
    options = wizard.options
    options.set_precision("int8")  # chosen for ONNX, which needs no NNCF
    assert options.radios["int8"].isEnabled() and not options.int8_missing.isVisibleTo(options)
    options.format.setCurrentIndex(_row(wizard, "openvino"))
    int8 = options.radios["int8"]
    assert not int8.isEnabled() and "pip install nncf" in int8.toolTip()
    assert options.int8_missing.isVisibleTo(options) and "pip install nncf" in options.int8_missing.text()
    assert options.radios["fp32"].isChecked() and not options.values()["int8"]  # fell back to a possible one
    options.format.setCurrentIndex(_row(wizard, "onnx"))
    assert int8.isEnabled() and not options.int8_missing.isVisibleTo(options)


def report(runtime: str, latency: dict[str, Any]) -> dict[str, Any]:
    """A passing ``VerifyReport.to_dict()`` of an export in ``runtime``."""
    return {"export_id": 1, "model": "m1", "precision": "fp32", "version": "v1", "split": "val", "images": 3,
            "pytorch": {"map50": 0.5, "map50_95": 0.3, "latency_ms": {"p50": 24.0, "p95": 30.0}},
            "export": {"map50": 0.5, "map50_95": 0.3, "latency_ms": latency, "runtime": runtime},
            "delta_map50": 0.0, "delta_map50_95": 0.0, "max_abs_output_diff": 1e-5, "threshold_points": 0.5,
            "passed": True, "parity_passed": True, "duration_s": 0.1,
            "providers": ["CPUExecutionProvider", "OpenVINO:CPU"]}


def test_the_gate_shows_openvino_latency_beside_onnxruntime(make_wizard: Callable[..., ExportWizard]) -> None:
    wizard = make_wizard(formats(openvino=True))
    step = wizard.verify_step
    table = step.table
    step.show_report(report("onnxruntime", {"cpu": {"p50": 8.0, "p95": 9.0},
                                            "openvino_cpu": {"p50": 6.0, "p95": 7.5}}))
    assert table.horizontalHeaderItem(2).text() == "onnxruntime (CPU)"
    assert not table.isRowHidden(step.OPENVINO) and "OpenVINO CPU" in table.item(step.OPENVINO, 0).text()
    assert table.item(step.OPENVINO, 2).text() == "6.0 / 7.5 ms" and table.item(step.OPENVINO, 3).text() == \
        "4.00× faster"  # than PyTorch, as the column says
    assert table.item(step.P50, 2).text() == "8.0 ms" and table.item(step.P50, 3).text() == "3.00× faster"
    assert "1.33× faster than onnxruntime" in step.verdict.text()
    assert table.height() >= table.horizontalHeader().height() + 6 * table.verticalHeader().defaultSectionSize()

    step.show_report(report("onnxruntime", {"cpu": {"p50": 8.0, "p95": 9.0}}))  # OpenVINO not installed
    assert table.isRowHidden(step.OPENVINO) and "OpenVINO" not in step.verdict.text()


def test_an_openvino_export_is_verified_bundled_and_summarized(qtbot: Any, make_wizard: Callable[..., ExportWizard],
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    verified: list[int] = []

    def fake_export(ws: Any, model_ref: Any, progress: Any = None, cancel: Any = None, **options: Any) -> ExportInfo:
        assert options["format"] == "openvino"
        return ExportInfo(id=1, model_id=1, model="m1", format="openvino", precision="fp32", imgsz=96, dynamic=False,
                          opset=None, path=str(tmp_path / "model.xml"), sha256="ab" * 32, size_bytes=2_000_000)

    class Report:
        def to_dict(self) -> dict[str, Any]:
            return report("openvino", {"cpu": {"p50": 6.0, "p95": 7.5}})

    monkeypatch.setattr(wizard_mod, "export_model", fake_export)
    monkeypatch.setattr(wizard_mod, "verify_export", lambda ws, ref, **_: verified.append(ref) or Report())
    wizard = make_wizard(formats(openvino=True))
    wizard.go(OPTIONS)
    wizard.options.format.setCurrentIndex(_row(wizard, "openvino"))
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=WAIT_MS)
    step = wizard.verify_step
    assert verified == [1] and step.badge.text() == "PASS"
    assert step.table.horizontalHeaderItem(2).text() == "OpenVINO (CPU)" and step.table.isRowHidden(step.OPENVINO)
    assert step.table.item(step.P50, 2).text() == "6.0 ms"
    wizard.next_button.click()
    assert wizard.step == BUNDLE  # an OpenVINO export goes on to its bundle
    wizard.go(SUMMARY)
    text = wizard.summary_text()
    assert "OpenVINO CPU 6.0 / 7.5 ms · PyTorch 24.0 / 30.0 ms" in text and "PASS" in text


def test_the_deployment_names_the_runtime_chosen_on_the_target(qtbot: Any, make_wizard: Callable[..., ExportWizard],
                                                               tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "openvino 6.1 ms vs onnxruntime 8.0 ms per forward pass: 1.31x faster"

    def fake_deploy(ws: Any, bundle: Any, target: str, **_: Any) -> DeployReport:
        return DeployReport(bundle=str(bundle), target=target, ok=True, files=["model.onnx"],
                            deployed_to=str(tmp_path / "edge" / "m1-edge"),
                            selftest={"ok": True, "files_checked": 8, "problems": [],
                                      "sample": {"expected": 3, "detected": 3},
                                      "runtime": {"python": "3.12.1", "onnxruntime": "1.20.1", "openvino": "2026.4.1",
                                                  "opencv": "4.10.0"},
                                      "chosen": {"runtime": "openvino", "device": "CPU", "latency_ms": {"p50": 6.1},
                                                 "speedup": 1.31, "reason": reason}})

    monkeypatch.setattr(wizard_mod, "deploy_bundle", fake_deploy)
    wizard = make_wizard(formats(openvino=True))
    wizard.bundle = BundleInfo(path=tmp_path / "m1-edge", name="m1-edge", model="m1", export_id=None, files={},
                               size_bytes=0, sample_detections=0)
    wizard.go(DEPLOY)
    wizard.deploy_step.set_mode("folder")
    wizard.deploy_step.folder.setText(str(tmp_path / "edge"))
    wizard.next_button.click()
    qtbot.waitUntil(lambda: wizard.step == SUMMARY, timeout=WAIT_MS)
    assert f"Runtime on the target: <b>openvino</b> on CPU ({reason})" in wizard.deploy_step.result.text()
    text = wizard.summary_text()
    assert f"Runtime on the target\nopenvino on CPU ({reason})" in text
    assert "onnxruntime 1.20.1, OpenVINO 2026.4.1, OpenCV 4.10.0" in text
