"""`qbsync disconnect`: revoke qbsync's access at Intuit (or the emulator) and delete the stored
tokens; with --forget, the local state too."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import click

from qbsync.auth import probe, token_endpoint
from qbsync.auth.credentials import (
    CLIENT_SECRET_ENV,
    CredentialStore,
    resolve_client_secret,
    token_lock,
)
from qbsync.auth.tokens import issuer_mismatch, read_issuer
from qbsync.cli import render
from qbsync.cli.auth_cmd import clear_pending, next_steps
from qbsync.cli.context import CliContext
from qbsync.cli.hints import command_line
from qbsync.config import Config
from qbsync.errors import ConfigError, QboUnavailableError
from qbsync.locks import run_lock


@click.command("disconnect")
@click.option("--forget", is_flag=True, help="Also delete the local state (links, export history).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def disconnect_command(forget: bool, yes: bool) -> None:
    """Revoke qbsync's access to the QBO company and delete the stored tokens.

    Links and export history stay (unless --forget), so reconnecting the same company resumes.
    """
    obj = CliContext.get()
    with next_steps(obj):
        config, store = obj.load()
        with contextlib.ExitStack() as held:
            if forget:  # never delete the state under a running sync
                held.enter_context(run_lock(config.data_dir))
            _disconnect(obj, config, store, forget=forget, yes=yes)


def _disconnect(
    obj: CliContext, config: Config, store: CredentialStore, *, forget: bool, yes: bool
) -> None:
    if forget and not yes:
        click.confirm(
            f"Delete the local state {config.state_path} (links and export history)?",
            abort=True,
            err=True,
        )
    with token_lock(config.data_dir):
        tokens = store.load_tokens()
        mismatch = issuer_mismatch(read_issuer(config.data_dir), config.qbo.endpoints)
        who = probe.server_name(config.qbo.endpoints)
        if tokens is None:
            if not forget:
                clear_pending(config)
                render.result("Not connected (no stored tokens); nothing to do.")
                return
        elif mismatch:
            # Revoking would send the refresh token to a server that never issued it.
            render.warn(
                f"{mismatch}: not sending them there to be revoked; deleting them locally. "
                "To cut access now, disconnect the app in that company (QuickBooks: Settings > "
                "Apps > Connected apps)."
            )
            store.delete_tokens()
        else:
            try:
                token_endpoint.revoke(
                    config.qbo.endpoints,
                    config.qbo.client_id,
                    resolve_client_secret(store),
                    tokens.refresh_token,
                    timeout=config.qbo.timeout_seconds,
                )
                render.info(f"Revoked qbsync's access at {who}.")
            except ConfigError as exc:
                # A wrong or missing client secret (invalid_client): deleting the tokens now
                # would leave the grant live at Intuit with nothing left to revoke it with.
                raise ConfigError(
                    f"{exc.message}; the tokens were not revoked and are still stored",
                    hint=_fix_secret_then(obj, "disconnect"),
                ) from None
            except QboUnavailableError as exc:  # unreachable or failing: delete locally anyway
                cut = (
                    " To cut access now, disconnect the app in QuickBooks (Settings > Apps > "
                    "Connected apps)."
                    if config.qbo.endpoints.is_intuit
                    else ""
                )
                render.warn(
                    f"could not revoke the tokens ({exc.message}); deleting them locally "
                    f"anyway.{cut}"
                )
            store.delete_tokens()
    clear_pending(config)
    if forget:
        deleted = False
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{config.state_path}{suffix}").unlink()
                deleted = True
        # Say what happened: no tokens means nothing was revoked or deleted at Intuit's side.
        first = (
            "Disconnected; deleted the tokens"
            if tokens is not None
            else "Not connected (no stored tokens)"
        )
        second = (
            f"Deleted the local state {config.state_path}."
            if deleted
            else f"There was no local state to delete ({config.state_path})."
        )
        render.result(f"{first}. {second}")
    else:
        render.result(
            "Disconnected; deleted the stored tokens. Links and export history are kept: "
            f"`{command_line(obj, 'auth')}` with the same company resumes."
        )


def _fix_secret_then(obj: CliContext, *again: str) -> str:
    """Fix the client secret in use, then run the command again."""
    fix = f"run `{command_line(obj, 'init', '--force')}`"
    if os.environ.get(CLIENT_SECRET_ENV, "").strip():
        fix = f"unset {CLIENT_SECRET_ENV} (to use the stored secret) or {fix}"
    return f"{fix}, then `{command_line(obj, *again)}` again"


def register(group: click.Group) -> None:
    group.add_command(disconnect_command)
