"""The ``cvops`` command line: a thin layer over the core API.

:mod:`cvops.cli.base` holds the root group and what every command shares; each other module is one family of
commands, listed in its ``COMMANDS``; this module registers them all on :data:`cli`. Run it as ``cvops``,
``python -m cvops`` or ``python -m cvops.cli``.
"""

from __future__ import annotations

from cvops.cli import (benchmark, check, classes, data, deploy, export, images, monitor, pipeline, prelabel,
                       queue, tags, training, tune, versions, workspace)
from cvops.cli.base import cli, error_info, fail

FAMILIES = (workspace, classes, tags, images, data, versions, check, training, tune, export, deploy, prelabel,
            benchmark, pipeline, monitor, queue)
for _family in FAMILIES:
    for _command in _family.COMMANDS:
        cli.add_command(_command)
del _family, _command

__all__ = ["cli", "error_info", "fail", "main"]


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cvops")
