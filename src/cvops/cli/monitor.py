"""Field monitoring: ``cvops monitor pull`` collects what the deployed devices saw."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from cvops.cli.base import command_options, emit, job, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

SHOWN_PROBLEMS = 20


@click.group("monitor")
def monitor_group() -> None:
    """Field monitoring: collect the devices' field logs and captured images."""


@monitor_group.command("pull")
@click.argument("source", metavar="SOURCE")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SSH private key (ssh -i); passwords are never used.")
@click.option("--known-hosts", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Known-hosts file to check the host key against (default: ~/.ssh/known_hosts).")
@click.option("--accept-new-host-key", is_flag=True,
              help="Trust an unknown host key on first use (a changed key is still refused).")
@click.option("--ssh-option", "ssh_options", multiple=True, metavar="KEY=VALUE",
              help="Extra ssh -o option (repeatable).")
@click.option("--remote-python", default="python3", show_default=True,
              help="Python on the device that lists and sends the files (standard library only).")
@command_options()
def pull_cmd(source: str, identity: Optional[Path], known_hosts: Optional[Path], accept_new_host_key: bool,
             ssh_options: tuple[str, ...], remote_python: str, ws: Workspace, as_json: bool) -> None:
    """Copy the field logs and captured images of the devices under SOURCE into the workspace.

    SOURCE is a field folder (run.py --field-log DIR: DIR/<device>/field-*.jsonl and captures/), a deploy target
    holding one in field/, or ssh://user@host[:port]/path of either. Incremental and checksummed: what was pulled
    before is not copied again; the captured images of each device enter the catalog as one batch, status new.
    Exit code 1 when something was reported (a malformed log line, a file not copied) or the pull was cancelled.
    """
    from cvops.monitoring.pull import pull

    with job("pull", as_json) as (progress, cancel):
        report = pull(ws, source, identity=identity, known_hosts=known_hosts,
                      accept_new_host_key=accept_new_host_key, ssh_options=ssh_options,
                      remote_python=remote_python, progress=progress, cancel=cancel)
    if as_json:
        emit(report.to_dict())
    else:
        from rich.markup import escape

        out.print(f"pulled {escape(report.field_dir or source)}: {len(report.devices)} device(s), "
                  f"{report.files_copied} file(s) copied ({report.bytes / 1e6:.1f} MB), {report.files_unchanged} "
                  f"unchanged, {report.records} new record(s), {report.images_imported} image(s) imported, "
                  f"{report.images_already_present} already present"
                  + (f", batches {', '.join(map(str, report.batches))}" if report.batches else "")
                  + (" [yellow](cancelled)[/]" if report.cancelled else "") + f" in {report.seconds:.1f} s")
        for message in report.problems[:SHOWN_PROBLEMS]:
            out.print(f"  [yellow]problem[/] {escape(message)}")
        if report.problems_total > SHOWN_PROBLEMS:
            out.print(f"  [dim]… and {report.problems_total - SHOWN_PROBLEMS} more problems[/]")
    sys.exit(0 if report.ok else 1)


COMMANDS: tuple[click.Command, ...] = (monitor_group,)
