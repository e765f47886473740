"""Model exports for deployment and their gate: ``cvops export`` and ``cvops verify``.

``cvops export MODEL [--format onnx|openvino|...] [--imgsz N] [--dynamic] [--half] [--int8] [--opset N] [--version V] [--json]``
exports a registered model; ``cvops export --list-formats`` says which formats are installed; ``cvops export --list
[MODEL]`` lists the exports. ``cvops verify EXPORT [--version V] [--split val] [--json]`` (EXPORT = an export id or
the path of its file or folder) compares the export with the PyTorch model on a split. Exit codes: 0 ok; 1 the gate
failed or the job was cancelled; 2 bad input (unknown model or export, unavailable format, corrupt file).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import click

from cvops.cli.base import WorkspaceRef, command_options, emit, err, fail, fmt_value, job, out
from cvops.common.jobs import Cancelled

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


def _ms(latency: Optional[dict[str, float]]) -> str:
    return "-" if not latency else f"{latency['p50']:.2f} / {latency['p95']:.2f}"


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB"


@click.command("export")
@click.argument("model_ref", required=False)
@click.option("--format", "fmt", default="onnx", show_default=True,
              type=click.Choice(["onnx", "openvino", "tflite", "coreml", "engine"]),
              help="Export format (see --list-formats for what is installed).")
@click.option("--imgsz", type=click.IntRange(min=32), default=None, help="Input size (default: the training size).")
@click.option("--dynamic", is_flag=True, help="Dynamic batch and image size.")
@click.option("--half", is_flag=True, help="fp16 weights (ONNX: converted from fp32, float32 inputs and outputs; "
              "OpenVINO: weights compressed to fp16).")
@click.option("--int8", is_flag=True, help="int8 static quantization calibrated on up to 100 train images (ONNX: "
              "onnxruntime's QDQ; OpenVINO: NNCF).")
@click.option("--opset", type=click.IntRange(min=9), default=None, help="ONNX opset (default: Ultralytics' choice).")
@click.option("--version", "version_ref", default=None,
              help="Version whose train split calibrates --int8 (default: the model's own).")
@click.option("--list-formats", "list_formats", is_flag=True, help="List export formats and whether they work here.")
@click.option("--list", "list_all", is_flag=True, help="List the exports (of MODEL when given) and their gate.")
@command_options(workspace="ref")
def export_cmd(model_ref: Optional[str], fmt: str, imgsz: Optional[int], dynamic: bool,
               half: bool, int8: bool, opset: Optional[int], version_ref: Optional[str], list_formats: bool,
               list_all: bool, workspace: WorkspaceRef, as_json: bool) -> None:
    """Export a registered model (name, id, champion or latest) for deployment; verify it with cvops verify.

    Files go to WORKSPACE/exports/<model>-<precision>-<imgsz>[-dynamic]-<n>/model.onnx. Exit code 2 for an unknown
    model, an unavailable format (the message names the package to install) or bad options.
    """
    from rich.table import Table

    from cvops.deploy.export import available_formats, export_model, list_exports

    if list_formats:
        formats = available_formats()
        if as_json:
            emit(formats)
            return
        table = Table("format", "available", "notes")
        for f in formats:
            table.add_row(f["format"], "yes" if f["available"] else "no", f["reason"])
        out.print(table)
        return
    ws = workspace.open()
    if list_all:
        items = list_exports(ws, model_ref)
        if as_json:
            emit([e.to_dict() for e in items])
            return
        table = Table("export", "model", "format", "precision", "imgsz", "size", "gate", "Δ mAP50-95", "path")
        for e in items:
            gate = "-" if e.passed is None else "passed" if e.passed else "FAILED"
            delta = (e.verify or {}).get("delta_map50_95")
            table.add_row(str(e.id), e.model, e.format, e.precision, str(e.imgsz) + (" dyn" if e.dynamic else ""),
                          _size(e.size_bytes), gate, "-" if delta is None else f"{delta:+.2f}", e.path)
        out.print(table)
        return
    if not model_ref:
        raise click.UsageError("give MODEL to export (or --list-formats, --list)")
    try:
        with job("export", as_json, library_output=True) as (progress, cancel):
            info = export_model(ws, model_ref, format=fmt, imgsz=imgsz, dynamic=dynamic, half=half, int8=int8,
                                opset=opset, version_ref=version_ref, progress=progress, cancel=cancel)
    except Cancelled:
        fail(Cancelled("export cancelled; nothing was kept"), as_json)
    if as_json:
        emit(info.to_dict())
        return
    extra = f", calibrated on {info.params['calibration_images']} images" if "calibration_images" in info.params \
        else ""
    out.print(f"export {info.id}: {info.model} → {info.format} {info.precision} {info.imgsz}px"
              f"{' dynamic' if info.dynamic else ''} opset {fmt_value(info.opset)}, {_size(info.size_bytes)}{extra}")
    out.print(f"  {info.path}")
    out.print(f"  sha256 {info.sha256}")
    out.print(f"next: cvops verify {info.id}")


@click.command("verify")
@click.argument("export_ref")
@click.option("--version", "version_ref", default=None, help="Version to verify on (default: the model's own).")
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--latency-runs", type=click.IntRange(min=0), default=50, show_default=True,
              help="Timed forward passes per runtime (0 skips the latency measurement).")
@click.option("--min-map50-95", "min_map50_95", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Quality floor: the export's own mAP50-95 on the split must reach it (0 disables it).")
@click.option("--allow-below-floor", is_flag=True,
              help="Pass an export below the quality floor when parity holds (recorded in the gate's result).")
@command_options()
def verify_cmd(export_ref: str, version_ref: Optional[str], split: str, latency_runs: int, min_map50_95: float,
               allow_below_floor: bool, ws: Workspace, as_json: bool) -> None:
    """The export gate: mAP of the ONNX export (onnxruntime) against the PyTorch model on the same inputs.

    EXPORT is an export id or the path of its file or folder. Exit code 1 when the mAP50-95 drop exceeds the
    threshold (0.5 points for fp32/fp16, 1.5 for int8) or the export's own mAP50-95 is below the quality floor
    (--min-map50-95, unless --allow-below-floor), 2 for bad input (unknown export, changed or corrupt file,
    class-count mismatch).
    """
    from rich.table import Table

    from cvops.deploy.verify import verify_export

    try:
        with job("verify", as_json, library_output=True) as (progress, cancel):
            report = verify_export(ws, export_ref, version_ref, split=split, progress=progress, cancel=cancel,
                                   latency_runs=latency_runs, min_map50_95=min_map50_95,
                                   allow_below_floor=allow_below_floor)
    except Cancelled:
        fail(Cancelled("verification cancelled; nothing was stored"), as_json)
    r = report.to_dict()
    q = r["quality"]
    verdict = (f"parity {'ok' if r['parity_passed'] else 'FAILED'}: mAP50-95 {r['delta_map50_95']:+.2f} points, "
               f"mAP50 {r['delta_map50']:+.2f} points (allowed drop {r['threshold_points']:.1f} points for "
               f"{r['precision']}); quality {'ok' if q['passed'] else 'overridden' if q['overridden'] else 'FAILED'}: "
               f"{q['message']}" + ("" if q["passed"] or q["overridden"] else
                                    " (--min-map50-95 sets the floor, --allow-below-floor overrides it)"))
    if as_json:
        emit(r)
    else:
        out.print(f"export {r['export_id']} ({r['model']} {r['precision']}) on {r['version']}/{r['split']} "
                  f"({r['images']} images)")
        table = Table("", "mAP50", "mAP50-95", "latency p50 / p95 ms (batch 1)")
        pt, ex = r["pytorch"], r["export"]
        table.add_row("PyTorch (CPU)", fmt_value(pt["map50"]), fmt_value(pt["map50_95"]), _ms(pt["latency_ms"]))
        lat = ex["latency_ms"] or {}
        label = ("OpenVINO IR (OpenVINO CPU)" if ex.get("runtime") == "openvino" else "ONNX (onnxruntime CPU)")
        table.add_row(label, fmt_value(ex["map50"]), fmt_value(ex["map50_95"]), _ms(lat.get("cpu")))
        if lat.get("openvino_cpu"):
            table.add_row("ONNX (OpenVINO CPU)", "", "", _ms(lat["openvino_cpu"]))
        if lat.get("cuda"):
            table.add_row("ONNX (onnxruntime CUDA)", "", "", _ms(lat["cuda"]))
        table.add_row("Δ (points)", f"{r['delta_map50']:+.2f}", f"{r['delta_map50_95']:+.2f}", "")
        table.add_row("quality floor", "", f"{q['floor']:.3f}", "passed" if q["passed"] else
                      "below, overridden" if q["overridden"] else "[red]below[/]")
        out.print(table)
        out.print(f"  largest raw output difference {fmt_value(r['max_abs_output_diff'], 6)}")
    if r["passed"]:
        if not as_json:
            out.print(f"[green]gate passed[/]: {verdict}")
        return
    err.print(f"[red]gate failed[/]: {verdict}")
    sys.exit(1)


COMMANDS: tuple[click.Command, ...] = (export_cmd, verify_cmd)
