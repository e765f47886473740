"""The root ``cvops`` group and what every command shares: :func:`command_options` (``--workspace/-w``, ``--json``,
opening the workspace, error reporting), :func:`emit`, :func:`job`, the consoles :data:`out` and :data:`err`.

Exit codes: 0 ok, 1 problems found or partial result, 2 usage error (bad arguments, no workspace, a refused change).
Errors are handled in one place, :class:`CvopsGroup`, for every command: a :class:`CvopsError` (its ``code`` and
``exit_code``), a click usage error, an :class:`OSError`, a cancelled job. With ``--json`` the error is one JSON
object on stdout, ``{"error": {"code": ..., "message": ...}}``, with the same exit code as without.

Start-up matters (``cvops --help`` in well under 0.15 s): this module and the command modules import only click and
light core modules at import time; the core's heavy parts (the catalog, numpy, OpenCV, Pillow, torch) and rich load
inside the commands that use them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn, Optional, Sequence, TypeVar

import click

from cvops import __version__
from cvops.catalog.statuses import STATUSES
from cvops.common.errors import CvopsError, os_reason
from cvops.common.jobs import CancelToken, Cancelled

if TYPE_CHECKING:
    from rich.console import Console

    from cvops.data.workspace import Workspace


F = TypeVar("F", bound=Callable[..., Any])
JSON_FLAG = "cvops.json"  # key in the (shared) click context meta: whether the command was given --json


class LazyConsole:
    """A rich console made on first use: importing ``rich.console`` costs tens of milliseconds of every start-up."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Optional[Console] = None

    @property
    def console(self) -> Console:
        """The console itself (writes to the current ``sys.stdout`` / ``sys.stderr``)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """``Console.print``: rich markup, tables."""
        self.console.print(*objects, **kwargs)

    @property
    def is_terminal(self) -> bool:
        """Whether the console writes to a terminal."""
        return self.console.is_terminal


out = LazyConsole()
err = LazyConsole(stderr=True)


def emit(data: Any) -> None:
    """Print ``data`` as the command's JSON report on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def fmt_value(value: Any, digits: int = 3) -> str:
    """A metric for a table: ``-`` for none, floats to ``digits`` decimals."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def parse_statuses(text: Optional[str], param_hint: str = "--filter") -> Optional[list[str]]:
    """``status=done,approved`` (or ``done,approved``) as a status list; a usage error names an unknown one."""
    if not text:
        return None
    key, eq, value = text.partition("=")
    if eq and key.strip() != "status":
        raise click.BadParameter(f"unknown filter {key!r} (use status=...)", param_hint=param_hint)
    wanted = [s.strip() for s in (value if eq else text).split(",") if s.strip()]
    for status in wanted:
        if status not in STATUSES:
            raise click.BadParameter(f"unknown status {status!r} (use {', '.join(STATUSES)})", param_hint=param_hint)
    return wanted


def status_list(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[list[str]]:
    """Click callback of a ``status=...`` option: :func:`parse_statuses` while the arguments are parsed."""
    return parse_statuses(value, param_hint=param.opts[0])


# -- errors ------------------------------------------------------------------------------------------------------------
def _wants_json(args: Sequence[str]) -> bool:
    """Whether ``--json`` is among the raw arguments (before a ``--``): for errors raised before a command parsed
    its options."""
    args = list(args)
    return "--json" in (args[:args.index("--")] if "--" in args else args)


def error_info(exc: BaseException) -> tuple[str, str, int, dict[str, Any]]:
    """``(code, message, exit code, extra fields)`` of an error the CLI reports; code ``internal`` (exit 1) for an
    exception that is not one of the expected kinds (a bug)."""
    if isinstance(exc, CvopsError):
        return exc.code, str(exc), exc.exit_code, exc.details()
    if isinstance(exc, click.FileError):
        return "io", exc.format_message(), exc.exit_code, {"path": exc.ui_filename}
    if isinstance(exc, click.ClickException):
        return "usage", exc.format_message(), exc.exit_code, {}
    if isinstance(exc, Cancelled):
        return "cancelled", str(exc) or "cancelled", 1, {}
    if isinstance(exc, OSError):
        path = exc.filename
        return "io", f"{path}: {os_reason(exc)}" if path else os_reason(exc), 2, {"path": str(path)} if path else {}
    return "internal", f"{type(exc).__name__}: {exc}", 1, {}


def fail(exc: BaseException, as_json: bool) -> NoReturn:
    """Report ``exc`` and exit with its code: ``{"error": {"code", "message", ...}}`` on stdout with ``as_json``
    (nothing else goes to stdout), else ``error: message`` on stderr (click's own format for usage errors)."""
    code, message, exit_code, extra = error_info(exc)
    if as_json:
        emit({"error": {"code": code, "message": message, **extra}})
    elif isinstance(exc, click.ClickException):
        exc.show()
    else:
        from rich.text import Text

        err.print(Text.assemble(("error:", "red"), " ", message))
    sys.exit(exit_code)


class CvopsGroup(click.Group):
    """The root ``cvops`` group: every error of every command (and click's usage errors) goes through :func:`fail`,
    as JSON when ``--json`` was given. Unexpected exceptions keep their traceback (on stderr)."""

    def make_context(self, info_name: Optional[str], args: list[str], parent: Optional[click.Context] = None,
                     **extra: Any) -> click.Context:
        as_json = _wants_json(args)
        try:
            ctx = super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            fail(exc, as_json)
        ctx.meta[JSON_FLAG] = as_json
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            as_json = bool(ctx.meta.get(JSON_FLAG))
            if error_info(exc)[0] == "internal":
                if not as_json:
                    raise
                traceback.print_exc(file=sys.stderr)
            fail(exc, as_json)


# -- the workspace and the shared options ------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkspaceRef:
    """The workspace folder a command was pointed at, not opened yet (for commands that may not need it)."""

    path: Path

    def open(self) -> Workspace:
        """Open the workspace for the rest of the command (closed with its click context); a notice on stderr when
        the catalog was migrated."""
        from cvops.data.workspace import Workspace

        ws = Workspace.open(self.path)
        if ws.migrated_from is not None:
            err.print(f"[yellow]catalog migrated from schema {ws.migrated_from}; backup in {ws.root / 'backups'}[/]")
        click.get_current_context().call_on_close(ws.close)
        return ws


def resolve_workspace(ctx: click.Context) -> Path:
    """The workspace folder: the nearest ``-w`` given (on the command, a parent group, or ``cvops -w``), else
    ``$CVOPS_WORKSPACE``, else the current directory."""
    node: Optional[click.Context] = ctx
    while node is not None:
        if node.params.get("workspace") is not None:
            return Path(node.params["workspace"])
        node = node.parent
    return Path(os.environ.get("CVOPS_WORKSPACE", "."))


def command_options(*, json: bool = True, workspace: Optional[str] = "open") -> Callable[[F], F]:
    """The options and set-up every command shares; put it right above the function, below the command's own
    options (``--workspace`` and ``--json`` then come last in ``--help``).

    ``json``: add ``--json`` (passed as ``as_json``), and report errors of the command as JSON when it is given.
    ``workspace``: add ``--workspace/-w``; ``"open"``: pass the opened :class:`~cvops.data.workspace.Workspace` as
    ``ws``; ``"ref"``: pass a :class:`WorkspaceRef` as ``workspace``, for a command that opens it only when it needs
    it; ``None``: no option (``init``, ``demo``).
    """
    if workspace not in ("open", "ref", None):
        raise ValueError(f"workspace must be 'open', 'ref' or None, not {workspace!r}")

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            ctx = click.get_current_context()
            if json:
                ctx.meta[JSON_FLAG] = bool(kwargs["as_json"])
            if workspace == "open":
                kwargs.pop("workspace")
                kwargs["ws"] = WorkspaceRef(resolve_workspace(ctx)).open()
            elif workspace == "ref":
                kwargs["workspace"] = WorkspaceRef(resolve_workspace(ctx))
            return fn(**kwargs)

        decorated: Callable[..., Any] = wrapper
        if json:  # click lists the options applied first last
            decorated = click.option("--json", "as_json", is_flag=True,
                                     help="Print a JSON report instead of text.")(decorated)
        if workspace is not None:
            decorated = click.option("--workspace", "-w", "workspace",
                                     type=click.Path(file_okay=False, path_type=Path), default=None,
                                     help="Workspace folder (default: the group's -w, $CVOPS_WORKSPACE, or .)."
                                     )(decorated)
        return decorated  # type: ignore[return-value]

    return decorate


# -- long jobs ---------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def job(label: str, quiet: bool, library_output: bool = False
        ) -> Iterator[tuple[Callable[[float, str], None], CancelToken]]:
    """A progress bar on stderr and a cancel token that the first Ctrl+C triggers.

    ``library_output``: the job runs Ultralytics in this process, which prints to stdout (settings notices, model
    summaries); send that to stderr so stdout holds only the command's report.
    """
    import threading

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    cancel = CancelToken()

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        err.print("[yellow]cancelling after the current step (Ctrl+C again to abort)…[/]")
        cancel.cancel()

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    show = not quiet and err.is_terminal
    bar = Progress(TextColumn(f"{label} [progress.description]{{task.description}}"), BarColumn(),
                   TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=err.console, transient=True,
                   disable=not show)
    redirect = contextlib.redirect_stdout(sys.stderr) if library_output else contextlib.nullcontext()
    try:
        with bar, redirect:
            task = bar.add_task("", total=1.0)
            yield (lambda f, m: bar.update(task, completed=f, description=m)), cancel
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


# -- the root group ----------------------------------------------------------------------------------------------------
@click.group(cls=CvopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workspace", "-w", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Workspace folder for every subcommand (default: $CVOPS_WORKSPACE or .).")
@click.version_option(__version__, prog_name="cvops")
def cli(workspace: Optional[Path]) -> None:
    """CVOps Workbench: import, label, version, train, export and deploy computer-vision datasets and models."""


@contextlib.contextmanager
def ray_cluster(address: Optional[str]) -> Iterator[Optional[str]]:
    """Connected to the Ray cluster at ``address`` for the block (``--ray``; yields the address), or nothing (yields
    None). Ray is imported only when an address is given."""
    if address is None:
        yield None
        return
    from cvops.scaleout.cluster import connect

    with connect(address):
        yield address
