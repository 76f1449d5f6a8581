"""The `qbsync` command group and the one place where errors become messages and exit codes."""

from __future__ import annotations

import io
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from qbsync import __version__
from qbsync.cli import auth_cmd, demo_cmd, disconnect_cmd, emulator_cmd, init_cmd, status_cmd
from qbsync.cli.context import CliContext
from qbsync.config.hints import profile_command_line, set_hint_command
from qbsync.errors import ConfigError, ExitCode, QbsyncError
from qbsync.paths import (
    DEFAULT_PROFILE,
    PROFILE_ENV,
    config_path,
    is_profile_name,
    profile_data_dir,
    profile_of_config,
)
from qbsync.redact import RedactingFilter, RedactingFormatter, redact

log = logging.getLogger("qbsync")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("qbsync")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


# Options of the `qbsync` group that operators also type after the command.
_GROUP_OPTIONS = {"--profile": "NAME", "--config": "PATH", "-v": "", "--verbose": ""}


class QbsyncGroup(click.Group):
    """A click group whose commands' QbsyncErrors map to exit codes in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QbsyncError as exc:
            fail(exc)
        except click.NoSuchOption as exc:
            if exc.option_name in _GROUP_OPTIONS:
                # `qbsync status --profile acme`: click would suggest some other option.
                placeholder = _GROUP_OPTIONS[exc.option_name]
                example = " ".join(
                    part
                    for part in ("qbsync", exc.option_name, placeholder, ctx.invoked_subcommand)
                    if part
                )
                raise click.UsageError(
                    f"{exc.option_name} is an option of qbsync itself: put it before the "
                    f"command, e.g. `{example}`",
                    ctx=exc.ctx,
                ) from None
            raise
        except (click.exceptions.Exit, click.ClickException):
            raise
        except click.Abort as exc:
            # click turns Ctrl-C, end of input and a "no" at a confirmation into a bare Abort
            # ("Aborted!", exit 1, read by cron as a crash); the cause is kept as __context__.
            if isinstance(exc.__context__, KeyboardInterrupt):
                _interrupted(ctx)
            cancelled(end_of_input=isinstance(exc.__context__, EOFError))
        except EOFError:
            cancelled(end_of_input=True)
        except KeyboardInterrupt:
            _interrupted(ctx)
        except BrokenPipeError:
            # Only when stdout is not main()'s pipe-safe writer: click ends quietly (exit 1).
            raise
        except Exception as exc:  # the last line of defence: never a raw traceback with secrets
            _unexpected(exc)
        finally:
            set_hint_command(None)  # set by the group callback for this invocation only


def _interrupted(ctx: click.Context) -> NoReturn:
    click.echo("Interrupted.", err=True)
    ctx.exit(130)


def cancelled(*, end_of_input: bool) -> NoReturn:
    """A question was answered "no" or got no answer: a clean stop, not a crash (exit 2)."""
    if end_of_input:
        if sys.stderr.isatty():  # end the unanswered prompt's line first
            click.echo("", err=True)
        click.echo(
            "Error: cancelled: a question got no answer (end of input); nothing was changed.",
            err=True,
        )
        click.echo(
            "Next step: run it in a terminal, or give the answers as options (see --help)",
            err=True,
        )
    else:
        click.echo("Error: cancelled: nothing was changed.", err=True)
    raise SystemExit(int(ExitCode.USAGE))


def fail(exc: QbsyncError) -> NoReturn:
    """Print one line (plus the next step) for an expected error and exit with its code.

    Messages are built without secrets, but they may quote what Intuit or QBO answered: redact
    anyway, like every other line qbsync prints.
    """
    click.echo(f"Error: {redact(exc.message)}", err=True)
    if exc.hint:
        click.echo(f"Next step: {redact(exc.hint)}", err=True)
    raise SystemExit(int(exc.exit_code))


def _unexpected(exc: BaseException) -> NoReturn:
    # Tracebacks can hold local variables' reprs only in debuggers; the formatted traceback holds
    # source lines and the exception message. We print the type and message, and the traceback
    # only when QBSYNC_DEBUG is set.
    click.echo(f"Error: unexpected {type(exc).__name__}: {redact(str(exc))}", err=True)
    if os.environ.get("QBSYNC_DEBUG"):
        click.echo(redact("".join(traceback.format_exception(exc))), err=True)
    else:
        click.echo("Set QBSYNC_DEBUG=1 for a traceback.", err=True)
    raise SystemExit(int(ExitCode.UNEXPECTED))


@click.group(cls=QbsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_opt",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $QBSYNC_CONFIG, else ~/.config/qbsync/config.toml, or "
    "<profile>.toml there for --profile; $XDG_CONFIG_HOME replaces ~/.config).",
)
@click.option(
    "--profile",
    default=DEFAULT_PROFILE,
    show_default=True,
    envvar="QBSYNC_PROFILE",
    help="Keep several QBO companies apart: each profile has its own config, state and tokens.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="qbsync")
@click.pass_context
def cli(ctx: click.Context, config_opt: Path | None, profile: str, verbose: int) -> None:
    """Connect a membership platform to QuickBooks Online (QBO).

    Today qbsync sets up and checks the QBO connection (init, auth, status, disconnect) and ships
    a local QBO emulator and a demo. Member linking and invoice export are coming.
    """
    _setup_logging(verbose)
    set_hint_command(ctx.invoked_subcommand)
    problem = None if is_profile_name(profile) else _profile_problem(ctx, profile)
    if problem is not None:
        profile = DEFAULT_PROFILE  # no path is ever built from the bad name
    path = config_path(config_opt, profile)
    if problem is None and config_opt is not None:
        problem = _other_profiles_config(ctx, path, profile)
    ctx.obj = CliContext(
        config_path=path,
        profile=profile,
        data_dir=profile_data_dir(profile),
        verbose=verbose,
        problem=problem,
    )


def _other_profiles_config(ctx: click.Context, path: Path, profile: str) -> QbsyncError | None:
    """``--config ~/.config/qbsync/acme.toml`` without ``--profile``: acme's config with another
    profile's tokens and state. Say so, and name the command line that means acme."""
    if ctx.get_parameter_source("profile") == click.core.ParameterSource.COMMANDLINE:
        return None  # --profile was given too: the operator chose the pair
    owner = profile_of_config(path)
    if owner is None or owner == profile:
        return None
    return ConfigError(
        f"{path} is the config file of profile {owner!r}, but without --profile this command "
        f"would use it with the tokens and state of profile {profile!r}",
        hint=f"run `{profile_command_line(owner, path)}`",
    )


def _profile_problem(ctx: click.Context, name: str) -> QbsyncError:
    from_env = ctx.get_parameter_source("profile") == click.core.ParameterSource.ENVIRONMENT
    source = PROFILE_ENV if from_env else "--profile"
    return ConfigError(
        f"invalid profile name {name!r} (from {source}): use letters, digits, '-' and '_' only",
        hint=(
            f"set {PROFILE_ENV} to a name such as acme, or unset it"
            if from_env
            else "pass --profile with a name such as acme"
        ),
    )


for _add in (
    init_cmd.register,
    auth_cmd.register,
    disconnect_cmd.register,
    status_cmd.register,
    emulator_cmd.register,
    demo_cmd.register,
):
    _add(cli)


class _PipeSafeWriter(io.RawIOBase):
    """stdout's (or stderr's) file descriptor, where a reader that went away (``qbsync status |
    head -1``) is not an error: the rest of the output goes to /dev/null and the command finishes
    with its own exit code. The redirect is the pattern the Python docs give for SIGPIPE."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        try:
            return os.write(self._fd, data)
        except BrokenPipeError:
            _to_devnull(self._fd)
            return len(memoryview(data))


def _to_devnull(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _pipe_safe_streams() -> None:
    """Put a ``_PipeSafeWriter`` under ``sys.stdout`` and ``sys.stderr`` (a real process's only:
    with ``2>&1 | head -1`` the error lines go to the same closed pipe)."""
    for name in ("stdout", "stderr"):
        old = getattr(sys, name)
        try:
            fd = old.fileno()
            old.flush()
        except (AttributeError, OSError, ValueError):  # no file descriptor (tests), or closed
            continue
        setattr(
            sys,
            name,
            io.TextIOWrapper(
                io.BufferedWriter(_PipeSafeWriter(fd)),
                encoding=old.encoding,
                errors=old.errors,
                line_buffering=bool(old.line_buffering),
                write_through=bool(getattr(old, "write_through", False)),
            ),
        )


def main(argv: list[str] | None = None) -> None:
    _pipe_safe_streams()
    cli.main(args=argv, prog_name="qbsync")
