"""Edge bundles: ``cvops bundle`` writes one, ``cvops deploy`` puts it on a device."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from cvops.cli.base import WorkspaceRef, command_options, emit, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace


@click.command("bundle")
@click.argument("export_ref", metavar="EXPORT")
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", "model_ref", default=None,
              help="The model an .onnx file given as EXPORT was exported from (not needed for an export id).")
@click.option("--zip", "make_zip", is_flag=True, help="Also write OUT.zip.")
@command_options()
def bundle_cmd(export_ref: str, out_dir: Path, model_ref: Optional[str], make_zip: bool,
               ws: Workspace, as_json: bool) -> None:
    """Write the edge bundle of EXPORT (an export id, or the path of its .onnx or OpenVINO .xml file) into the new
    folder OUT.

    The bundle holds model.onnx (or model.xml + model.bin), model.json (classes, pre- and post-processing,
    thresholds, lineage, checksums), run.py with runtimes.py and frames.py (needs only numpy, opencv-python-headless
    and onnxruntime or OpenVINO; --runtime auto picks the faster on the device), requirements.txt, README.md and a
    sample image with its expected detections for `python run.py --selftest`.
    """
    from cvops.deploy.bundle import make_bundle

    info = make_bundle(ws, export_ref, out_dir, zip=make_zip, model_ref=model_ref)
    if as_json:
        emit(info.to_dict())
        return
    out.print(f"bundle {info.path} ({len(info.files)} files, {info.size_bytes / 1e6:.1f} MB) of model {info.model}"
              + (f", export {info.export_id}" if info.export_id else ""))
    if info.zip_path:
        out.print(f"zip {info.zip_path}")
    out.print(f"check it: python {info.path / 'run.py'} --selftest")


@click.command("deploy")
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.option("--to", "target", required=True, metavar="DIR|ssh://user@host[:port]/path",
              help="A folder, or an SSH target (/~/path for a path under the remote home).")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SSH private key (ssh -i); passwords are never used.")
@click.option("--accept-new-host-key", is_flag=True,
              help="Trust an unknown host key on first use (a changed key is still refused).")
@click.option("--known-hosts", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Known-hosts file to check the host key against (default: ~/.ssh/known_hosts).")
@click.option("--ssh-option", "ssh_options", multiple=True, metavar="KEY=VALUE",
              help="Extra ssh -o option (repeatable).")
@click.option("--remote-python", default="python3", show_default=True,
              help="Python on the target that runs the selftest (needs numpy, opencv, onnxruntime or OpenVINO).")
@command_options(workspace="ref")
def deploy_cmd(bundle: Path, target: str, identity: Optional[Path], accept_new_host_key: bool,
               known_hosts: Optional[Path], ssh_options: tuple[str, ...], remote_python: str,
               workspace: WorkspaceRef, as_json: bool) -> None:
    """Deploy BUNDLE (a bundle folder or its .zip) to a folder or over SSH, atomically, then run its selftest there.

    The bundle's checksums are verified first; the copy lands in a hidden partial folder and is moved into place
    only after the selftest passed, replacing an older deployment. With a workspace the deployment is recorded.
    Exit code 1 when the selftest failed on the target (nothing is deployed then), 2 for errors.
    """
    from cvops.deploy.deploy import deploy_bundle

    ws = workspace.open() if (workspace.path / "cvops.db").is_file() else None
    report = deploy_bundle(ws, bundle, target, identity=identity, accept_new_host_key=accept_new_host_key,
                           known_hosts=known_hosts, ssh_options=ssh_options, remote_python=remote_python)
    if as_json:
        emit(report.to_dict())
    elif report.ok:
        sample = report.selftest.get("sample") or {}
        out.print(f"deployed {bundle.name} to {report.deployed_to} in {report.seconds:.1f} s; selftest ok "
                  f"({report.selftest.get('files_checked')} checksums, {sample.get('detected')} sample detections)")
        chosen = report.selftest.get("chosen") or {}
        if chosen:
            out.print(f"runtime on the target: {chosen.get('runtime')} ({chosen.get('reason')})"
                      + (f"; {report.selftest['hint']}" if report.selftest.get("hint") else ""))
    else:
        out.print(f"[red]not deployed:[/] {report.error}")
    if not report.ok:
        sys.exit(1)


COMMANDS: tuple[click.Command, ...] = (bundle_cmd, deploy_cmd)
