"""The `qbsync` command group and the one place where errors become messages and exit codes."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from qbsync import __version__
from qbsync.cli.context import CliContext
from qbsync.errors import ConfigError, ExitCode, QbsyncError
from qbsync.paths import (
    DEFAULT_PROFILE,
    PROFILE_ENV,
    config_path,
    is_profile_name,
    profile_data_dir,
    profile_of_config,
)

# Every command: the module whose register(group) adds it, and its one-line help for
# `qbsync --help`. A command's module is imported only when that command runs (or shows its own
# help), so `qbsync --help` imports no command and none of their libraries (requests,
# python-quickbooks, rich, keyring). tests/cli/test_docs.py checks each line against the
# command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("qbsync.cli.init_cmd", "Create the config file and store your Intuit app's client secret."),
    "auth": ("qbsync.cli.auth_cmd", "Connect qbsync to a QuickBooks Online company (browser login, once)."),
    "status": ("qbsync.cli.status_cmd", "Show the QBO connection: company, token store, token expiry."),
    "disconnect": ("qbsync.cli.disconnect_cmd", "Revoke qbsync's access to the QBO company and delete the stored tokens."),
    "emulator": ("qbsync.cli.emulator_cmd", "A local stand-in for QuickBooks Online and Intuit's OAuth server (tests, demo, CI)."),
    "demo": ("qbsync.cli.demo_cmd", "Run qbsync end to end against a built-in QBO emulator (no Intuit account needed)."),
    "connect-members": ("qbsync.cli.members_cmd", "Connect every active member to its QBO customer by email."),
    "link": ("qbsync.cli.links_cmd", "Link MEMBER (an id or email) to a QBO customer by hand; manual links stick."),
    "unlink": ("qbsync.cli.links_cmd", "Remove MEMBER's link (id or email) and keep it out of automatic connection."),
    "links": ("qbsync.cli.links_cmd", "List every member with its link status, its QBO customer and, for needs-review, the candidate customers."),
    "export": ("qbsync.cli.export_cmd", "Export the pending invoices of connected members to QBO."),
    "export-invoices": ("qbsync.cli.export_cmd", "Export the pending invoices of connected members to QBO."),
    "state": ("qbsync.cli.state_cmd", "Restore this profile's state (export history, links) from QBO after it was lost."),
    "invoices": ("qbsync.cli.invoices_cmd", "List every platform invoice qbsync knows with its state, QBO invoice and totals."),
    "hold": ("qbsync.cli.hold_cmd", "Set platform invoices aside: never exported until `qbsync release`, and not a problem."),
    "release": ("qbsync.cli.hold_cmd", "Take back held invoices: the next export day sends them (if still eligible)."),
    "pull": ("qbsync.cli.pull_cmd", "Read what changed in QBO since the last pull and tell the platform."),
    "undo": ("qbsync.cli.undo_cmd", "Void every invoice export run RUN_ID sent to QBO (never deleted: numbers and the audit trail stay)."),
    "runs": ("qbsync.cli.runs_cmd", "List recorded runs (connect-members, export) with their counts and problems."),
    "report": ("qbsync.cli.report_cmd", "Reconcile what was exported with what QBO holds, for your accountant."),
}  # fmt: skip


def _setup_logging(verbose: int, *, quiet: bool = False, log_file: Path | None = None) -> None:
    from qbsync.cli.logs import setup_logging  # imports redact's patterns: not for --help

    setup_logging(verbose, quiet=quiet, log_file=log_file)


# Options of the `qbsync` group that operators also type after the command.
_GROUP_OPTIONS = {
    "--profile": "NAME",
    "--config": "PATH",
    "-v": "",
    "--verbose": "",
    "-q": "",
    "--quiet": "",
    "--log-file": "PATH",
}


class QbsyncGroup(click.Group):
    """The one place where a command's errors become a message, a JSON error document (for
    ``--json``) and an exit code: QbsyncErrors, click's aborts, Ctrl-C and anything unexpected."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0]).register(self)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``COMMANDS``, without importing the commands."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # A stand-in with the registered line shortens it as click shortens the real help.
            shown = self.commands.get(name) or click.Command(name, help=COMMANDS[name][1])
            rows.append((name, shown.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QbsyncError as exc:
            fail(ctx, exc.message, exc.hint, exc.exit_code)
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
        except click.exceptions.Exit:
            raise
        except click.ClickException as exc:
            _json_error(ctx, exc.format_message(), None, exc.exit_code)
            raise  # click prints it (with the usage line) and exits 2
        except click.Abort as exc:
            # click turns Ctrl-C, end of input and a "no" at a confirmation into a bare Abort
            # ("Aborted!", exit 1, read by cron as a crash); the cause is kept as __context__.
            if isinstance(exc.__context__, KeyboardInterrupt):
                _interrupted(ctx)
            _cancelled(ctx, end_of_input=isinstance(exc.__context__, EOFError))
        except EOFError:
            _cancelled(ctx, end_of_input=True)
        except KeyboardInterrupt:
            _interrupted(ctx)
        except BrokenPipeError:
            # Only when stdout is not main()'s pipe-safe writer: click ends quietly (exit 1).
            raise
        except Exception as exc:  # the last line of defence: never a raw traceback with secrets
            _unexpected(ctx, exc)
        finally:
            from qbsync.config.hints import set_hint_command

            set_hint_command(None)  # set by the group callback for this invocation only


def _obj(ctx: click.Context) -> CliContext | None:
    return ctx.obj if isinstance(ctx.obj, CliContext) else None


def _json_error(ctx: click.Context, message: str, hint: str | None, code: int) -> None:
    """The error as the one JSON object a ``--json`` command promised (unless it printed its
    own document already, e.g. a status report with ``"ok": false``)."""
    obj = _obj(ctx)
    if obj is None or not obj.as_json or obj.json_printed:
        return
    from qbsync.cli import render

    render.emit_json({"ok": False, "error": message, "exit_code": int(code), "hint": hint})
    obj.json_printed = True


def fail(ctx: click.Context, message: str, hint: str | None, code: int) -> NoReturn:
    """Print ``Error: ...`` (and ``Next step: ...``) and exit with ``code``.

    Messages are built without secrets, but they may quote what Intuit or QBO answered: redact
    anyway, like every other line qbsync prints. Every plain ``qbsync <command>`` in them names
    this invocation's --profile / --config.
    """
    from qbsync.redact import redact

    obj = _obj(ctx)
    if obj is not None:
        message = obj.localize(message) or message
        hint = obj.localize(hint)
    message, hint = redact(message), (redact(hint) if hint else None)
    click.echo(f"Error: {message}", err=True)
    if hint:
        click.echo(f"Next step: {hint}", err=True)
    _json_error(ctx, message, hint, code)
    raise SystemExit(int(code))


def _interrupted(ctx: click.Context) -> NoReturn:
    click.echo("Interrupted.", err=True)
    _json_error(ctx, "interrupted", None, ExitCode.INTERRUPTED)
    raise SystemExit(int(ExitCode.INTERRUPTED))


def _cancelled(ctx: click.Context, *, end_of_input: bool) -> NoReturn:
    """A question was answered "no" or got no answer: a clean stop, not a crash (exit 2)."""
    if end_of_input:
        if sys.stderr.isatty():  # end the unanswered prompt's line first
            click.echo("", err=True)
        fail(
            ctx,
            "cancelled: a question got no answer (end of input); nothing was changed.",
            "run it in a terminal, or give the answers as options (see --help)",
            ExitCode.USAGE,
        )
    fail(ctx, "cancelled: nothing was changed.", None, ExitCode.USAGE)


def _unexpected(ctx: click.Context, exc: BaseException) -> NoReturn:
    # The formatted traceback holds source lines and the exception message: printed only when
    # QBSYNC_DEBUG is set. The type and message always are.
    if os.environ.get("QBSYNC_DEBUG"):
        import traceback

        from qbsync.redact import redact

        click.echo(redact("".join(traceback.format_exception(exc))), err=True)
    fail(
        ctx,
        f"unexpected {type(exc).__name__}: {exc}",
        "set QBSYNC_DEBUG=1 for a traceback" if not os.environ.get("QBSYNC_DEBUG") else None,
        ExitCode.UNEXPECTED,
    )


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
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print nothing on success (for cron: it mails only output); errors still go to stderr.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also append plain, timestamped log lines to this file.",
)
@click.version_option(__version__, prog_name="qbsync")
@click.pass_context
def cli(
    ctx: click.Context,
    config_opt: Path | None,
    profile: str,
    verbose: int,
    quiet: bool,
    log_file: Path | None,
) -> None:
    """Connect a membership platform to QuickBooks Online (QBO).

    Set up the connection (init, auth, status), connect members to QBO customers
    (connect-members, link, unlink, links) and export their invoices on export days
    (export --if-due, runs). A local QBO emulator and a demo come with it.
    """
    _setup_logging(verbose, quiet=quiet, log_file=log_file)
    from qbsync.config.hints import set_hint_command

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
        quiet=quiet,
    )


def _other_profiles_config(ctx: click.Context, path: Path, profile: str) -> QbsyncError | None:
    """``--config ~/.config/qbsync/acme.toml`` without ``--profile``: acme's config with another
    profile's tokens and state. Say so, and name the command line that means acme."""
    if ctx.get_parameter_source("profile") == click.core.ParameterSource.COMMANDLINE:
        return None  # --profile was given too: the operator chose the pair
    from qbsync.config import hints

    owner = profile_of_config(path)
    if owner is None or owner == profile:
        return None
    return ConfigError(
        f"{path} is the config file of profile {owner!r}, but without --profile this command "
        f"would use it with the tokens and state of profile {profile!r}",
        hint=f"run `{hints.profile_command_line(owner, path)}`",
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


def main(argv: list[str] | None = None) -> None:
    from qbsync.cli.streams import pipe_safe_streams

    pipe_safe_streams()
    cli.main(args=argv, prog_name="qbsync")
