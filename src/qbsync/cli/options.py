"""Options that several commands share, declared once: ``--json``, ``--yes``, ``--dry-run``;
and the exit-code epilog every command's --help ends with."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from qbsync.errors import exit_codes_epilog

F = TypeVar("F", bound=Callable[..., Any])


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    # cli/main.py prints an error as one JSON object on stdout when the command was given --json.
    if value:
        from qbsync.cli.context import CliContext

        obj = ctx.find_object(CliContext)
        if obj is not None:
            obj.as_json = True
    return value


def json_option(func: F) -> F:
    """``--json``: one JSON object on stdout (for scripts), also when the command fails."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_remember_json,
        help="One JSON object on stdout (for scripts), also on failure.",
    )(func)


def _remember_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        from qbsync.cli.context import CliContext
        from qbsync.cli.logs import quiet_stderr

        obj = ctx.find_object(CliContext)
        if obj is not None:
            obj.quiet = True
        quiet_stderr()
    return value


def quiet_option(func: F) -> F:
    """``-q`` after the command too (``qbsync export --if-due -q``), as ``qbsync -q export``."""
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_remember_quiet,
        help="Print nothing on success (for cron); errors still go to stderr.",
    )(func)


def yes_option(func: F | None = None, *, help: str = "Do not ask for confirmation.") -> Any:
    """``--yes`` / ``-y``: do not ask (``@yes_option``, or ``@yes_option(help=...)`` where a
    command's questions are more than a confirmation)."""
    decorator = click.option("--yes", "-y", is_flag=True, help=help)
    return decorator(func) if func is not None else decorator


def dry_run_option(func: F) -> F:
    """``--dry-run``: show the plan, change nothing."""
    return click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")(
        func
    )


# "\b": click keeps the table's lines as they are instead of rewrapping them into one paragraph.
EPILOG = "\b\n" + exit_codes_epilog()


def command(name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
    """``click.command`` whose --help ends with the exit-code table (``errors.EXIT_CODES``)."""
    return click.command(name, epilog=EPILOG, **kwargs)


def stdin_is_terminal() -> bool:
    """Someone can answer a question (not cron, a pipe or nohup)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
