"""Field monitoring: ``cvops monitor pull`` collects what the deployed devices saw, ``cvops monitor report`` says
whether it still looks like the training data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from cvops.cli.base import command_options, emit, job, out

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

SHOWN_PROBLEMS = 20


@click.group("monitor")
def monitor_group() -> None:
    """Field monitoring: collect the devices' field logs and captured images; report drift."""


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


@monitor_group.command("report")
@click.option("--device", "-d", default=None, metavar="D", help="One device (default: each device pulled).")
@click.option("--since", default=None, metavar="T",
              help="Window start: a duration back from now (24h, 7d) or an ISO date/time (UTC). "
                   "Default: the last --window images.")
@click.option("--until", default=None, metavar="T", help="Window end (same forms as --since).")
@click.option("--window", default=200, show_default=True, type=click.IntRange(min=2),
              help="Images per device when no --since is given (its newest ones).")
@click.option("--alarm/--no-alarm", "raise_alarms", default=True, show_default=True,
              help="Raise a drift alarm for `cvops pipeline watch --on-alarm` when the report is in alarm.")
@click.option("--fail-on", type=click.Choice(["warn", "alarm"]), default=None,
              help="Exit 1 when the report is at this status or worse (for CI).")
@command_options()
def report_cmd(device: Optional[str], since: Optional[str], until: Optional[str], window: int, raise_alarms: bool,
               fail_on: Optional[str], ws: Workspace, as_json: bool) -> None:
    """Does the field still look like the training data? Each device's window of pulled field records against
    the deployed model's reference (its version's held-out images): image statistics, embeddings, predictions,
    latency; ok / warn / alarm with p-values and scores."""
    from cvops.monitoring.drift import STATUSES
    from cvops.monitoring.report import monitor_report, parse_time

    start = parse_time(since) if since else None
    end = parse_time(until) if until else None
    with job("report", as_json) as (progress, cancel):
        report = monitor_report(ws, device, start, end, window, raise_alarms, progress, cancel)
    if as_json:
        emit(report.to_dict())
    else:
        _print_report(report)
    if fail_on and STATUSES.index(report.status) >= STATUSES.index(fail_on):
        sys.exit(1)


def _print_report(report: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    colors = {"ok": "green", "warn": "yellow", "alarm": "red"}
    if report.reference:
        out.print(f"reference: {report.reference['described']}")
    for d in report.devices:
        table = Table(title=f"{d.device}: {d.images} images", title_justify="left")
        for column in ("signal", "status", "p-value", "score", "detail"):
            table.add_column(column, justify="right" if column in ("p-value", "score") else "left")
        for s in d.signals:
            table.add_row(s.name, f"[{colors[s.status]}]{s.status}[/]", f"{s.p_value:.2g}", f"{s.score:.3g}",
                          escape(s.detail))
        out.print(table)
        out.print(f"[{colors[d.status]}]{escape(d.verdict)}[/]")
    for problem in report.problems[:SHOWN_PROBLEMS]:
        out.print(f"  [yellow]problem[/] {escape(problem)}")
    if len(report.problems) > SHOWN_PROBLEMS:
        out.print(f"  [dim]… and {len(report.problems) - SHOWN_PROBLEMS} more problems[/]")
    if report.alarm_raised:
        out.print(f"drift alarm raised for the pipeline watches ({Path(report.alarm_raised).name})")


COMMANDS: tuple[click.Command, ...] = (monitor_group,)
