"""The service and CI templates in ``resources/automation`` (docs/pipelines.md): they parse, and every ``cvops``
command they run parses with today's CLI (a renamed command or option fails here, not on a user's GPU box)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from cvops.cli import cli
from cvops.pipelines.watch import parse_duration

TEMPLATES = Path(__file__).resolve().parents[2] / "resources" / "automation"


def parse_command(args: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse ``cvops ARGS`` as click would (nothing runs): the leaf command's name and its parameters."""
    cmd: click.Command = cli
    ctx = cmd.make_context("cvops", list(args))
    path = []
    while isinstance(cmd, click.Group):
        # the subcommand's name: click 8.2 keeps it in _protected_args (its protected_args property warns)
        protected = ctx.__dict__["_protected_args"] if "_protected_args" in ctx.__dict__ else ctx.protected_args
        name, sub, rest = cmd.resolve_command(ctx, [*protected, *ctx.args])
        assert sub is not None, args
        path.append(name)
        cmd = sub
        ctx = cmd.make_context(name or "", rest, parent=ctx)
    return " ".join(path), ctx.params


def cvops_args(line: str) -> list[str]:
    """The arguments after the ``cvops`` executable in a shell line (up to a redirection)."""
    words = shlex.split(line.split(">")[0])
    index = next(i for i, w in enumerate(words) if re.search(r"(^|[/\\])cvops(\.exe)?$", w))
    return words[index + 1:]


def test_the_ci_templates_run_the_pipeline_and_keep_the_report() -> None:
    github = yaml.safe_load((TEMPLATES / "github-actions.yml").read_text())
    steps = github["jobs"]["pipeline"]["steps"]
    assert "self-hosted" in github["jobs"]["pipeline"]["runs-on"] and "gpu" in github["jobs"]["pipeline"]["runs-on"]
    run = next(s["run"] for s in steps if "cvops" in s.get("run", ""))
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] in run.split(">")[1]
    gitlab = yaml.safe_load((TEMPLATES / "gitlab-ci.yml").read_text())["cvops-pipeline"]
    script = next(line for line in gitlab["script"] if "cvops" in line)
    assert gitlab["artifacts"]["when"] == "always" and gitlab["artifacts"]["paths"][0] in script.split(">")[1]
    for line in (run, script):
        name, params = parse_command(cvops_args(line))
        assert name == "pipeline run" and params["as_json"] is True and str(params["file"]) == "pipeline.yaml"


def test_the_services_run_a_watch_with_valid_triggers() -> None:
    service = (TEMPLATES / "cvops-watch.service").read_text()
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    task = (TEMPLATES / "cvops-watch-task.ps1").read_text()
    argument = re.search(r'pipeline watch .*?--poll \d+', task)
    assert argument is not None
    task_args = ["-w", "ws", *shlex.split(argument.group(0).replace('`"', ""))]
    for args in (cvops_args(exec_start[len("ExecStart="):]), task_args):
        name, params = parse_command(args)
        assert name == "pipeline watch" and params["min_new"] == 100
        assert parse_duration(params["every"]) == 86400
    assert "TimeoutStopSec=" in service and "[Install]" in service


def test_the_monitor_service_pulls_then_reports_every_hour() -> None:
    service = (TEMPLATES / "cvops-monitor.service").read_text()
    starts = [line[len("ExecStart="):] for line in service.splitlines() if line.startswith("ExecStart=")]
    assert starts[0].startswith("-")  # an unreachable device does not stop the report
    (pull, pull_params), (report, report_params) = (parse_command(cvops_args(s.lstrip("-"))) for s in starts)
    assert pull == "monitor pull" and pull_params["source"].startswith("ssh://") and pull_params["identity"]
    assert report == "monitor report" and report_params["since"] == "24h" and report_params["raise_alarms"] is True
    assert "Type=oneshot" in service
    timer = (TEMPLATES / "cvops-monitor.timer").read_text()
    assert "OnCalendar=hourly" in timer and "[Install]" in timer


@pytest.mark.parametrize("args", [["pipeline", "run", "--jsonn"], ["pipeline", "wtch"],
                                  ["pipeline", "watch", "--min-new", "many"]])
def test_a_broken_command_fails_to_parse(args: list[str]) -> None:
    with pytest.raises(click.UsageError):
        parse_command(args)
