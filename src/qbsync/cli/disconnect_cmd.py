"""`qbsync disconnect`: revoke qbsync's access where the tokens were issued and delete them;
with --forget, the local state too (the work is in ``qbsync.auth.connect.disconnect``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, stdin_is_terminal, yes_option
from qbsync.errors import QbsyncError, UsageError

if TYPE_CHECKING:
    from qbsync.auth.credentials import CredentialStore


@command("disconnect")
@click.option("--forget", is_flag=True, help="Also delete the local state (links, export history).")
@yes_option
def disconnect_command(forget: bool, yes: bool) -> None:
    """Revoke qbsync's access to the QBO company and delete the stored tokens.

    Asks first (--yes does not). Links and export history stay unless --forget.
    """
    from qbsync.auth import connect, probe
    from qbsync.cli import render

    obj = CliContext.get()
    # --forget never deletes the state under a running sync: the run lock, before anything.
    with open_session(obj, qbo=False, state=False, run_lock=forget) as session:
        config, store = session.config, session.store
        tokens = store.load_tokens()
        if tokens is None and not forget:
            connect.disconnect(config, store, forget=False)  # drops a waiting --print-url login
            render.result("Not connected (no stored tokens); nothing to do.")
            return
        who = probe.server_name(config.qbo.endpoints)
        steps = []
        if tokens is not None:
            steps.append(f"revoke qbsync's access at {who} and delete the stored tokens")
        if forget:
            steps.append(f"delete the local state {config.state_path} (links, export history)")
        question = " and ".join(steps)
        if not yes:
            if not stdin_is_terminal():
                raise UsageError(
                    f"disconnect would {question}, and there is no terminal to confirm it on; "
                    "nothing was changed",
                    hint="run `qbsync disconnect --yes`" + (" --forget" if forget else ""),
                )
            click.confirm(f"{question[:1].upper()}{question[1:]}?", abort=True, err=True)
        done = connect.disconnect(config, store, forget=forget)
    if done.revoked_at:
        render.info(f"Revoked qbsync's access at {done.revoked_at}.")
    elif done.not_revoked:
        cut = (
            " To cut access now, disconnect the app in that company (QuickBooks: Settings > "
            "Apps > Connected apps)."
            if config.qbo.endpoints.is_intuit or done.issued_elsewhere
            else ""
        )
        render.warn(f"{done.not_revoked}; deleted them locally anyway.{cut}")
    first = "Not connected"
    if done.had_tokens:
        first = (
            "Disconnected; deleted the tokens"
            if forget
            else "Disconnected; deleted the stored tokens"
        )
    if not done.had_tokens:
        first += " (no stored tokens)"
    if forget:
        second = (
            f"Deleted the local state {done.state_path}."
            if done.state_deleted
            else f"There was no local state to delete ({done.state_path})."
        )
        render.result(f"{first}. {second}")
        return
    kept = ["the config"]
    if _has_secret(store):
        kept.append("the client secret")
    if done.state_path.exists():
        kept.append(f"the local state {done.state_path} (links, export history)")
    render.result(f"{first}. Kept: {', '.join(kept)}; `{obj.command_line('auth')}` connects again.")


def _has_secret(store: CredentialStore) -> bool:
    try:
        return store.load_client_secret() is not None
    except QbsyncError:
        return False


def register(group: click.Group) -> None:
    group.add_command(disconnect_command)
