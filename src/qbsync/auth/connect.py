"""What `qbsync auth` and `qbsync disconnect` do, without the browser, prompts or rendering.

``connect`` spends an authorization code: it refuses another company unless asked to start the
state over, exchanges the code once, saves the tokens, records which server issued them and binds
the state to the company. ``record_company_name`` then reads CompanyInfo (an outage there leaves a
working connection and a warning). ``disconnect`` revokes the refresh token where it was issued,
deletes the stored tokens and, with ``forget``, the local state.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from qbsync.auth import probe, token_endpoint
from qbsync.auth.credentials import (
    CLIENT_SECRET_ENV,
    CredentialStore,
    TokenSet,
    resolve_client_secret,
    token_lock,
)
from qbsync.auth.pending import clear_pending
from qbsync.auth.tokens import issuer_mismatch, read_issuer, record_issuer
from qbsync.config import Config
from qbsync.errors import AuthError, ConfigError, QboUnavailableError, QbsyncError, StateError
from qbsync.locks import run_lock
from qbsync.state.db import State

if TYPE_CHECKING:
    from qbsync.auth.oauth import Callback
    from qbsync.qbo.client import QboClient


@dataclass(frozen=True)
class Connection:
    """The company a profile is connected to (tokens stored and the state bound)."""

    realm_id: str
    company_name: str | None
    enabled_at: datetime | None


def current_connection(store: CredentialStore, state: State) -> Connection | None:
    """The connection a new login would replace, or None when no tokens are stored."""
    tokens = store.load_tokens()
    if tokens is None:
        return None
    same = state.realm_id == tokens.realm_id
    return Connection(
        tokens.realm_id,
        state.company_name if same else None,
        state.enabled_at if same else None,
    )


def check_login_possible(config: Config, state: State, *, starting: bool) -> None:
    """Fail before the login starts (or a pasted code is spent) when it could not finish.

    The state is open (an unusable one has failed already); an emulator that is not running, or
    that does not know this client and redirect URI, fails now rather than after the operator
    logged in. Intuit is never probed.
    """
    with state.transaction():  # writable now, not only readable
        pass
    qbo = config.qbo
    probe.probe_emulator(
        qbo.endpoints,
        client_id=qbo.client_id if starting else None,
        redirect_uri=qbo.redirect_uri if starting else None,
        scopes=qbo.scopes,
    )


@dataclass(frozen=True)
class Connected:
    realm_id: str
    enabled_at: datetime | None  # None: a lost state, and a config that never recorded it
    replaced: str | None  # the realm whose links and history were deleted (--fresh-state)
    # The profile was connected before but its state holds no history (deleted, or a new data
    # folder): the state is left unbound, so syncing refuses until `qbsync state rebuild`.
    history_missing: bool = False
    config_problem: str | None = None  # [export] enabled_at could not be written to the config


def connect(
    config: Config,
    store: CredentialStore,
    state: State,
    secret: str,
    redirect_uri: str,
    callback: Callback,
    *,
    fresh_state: bool,
    confirm: Callable[[str], None],
) -> Connected:
    """Exchange the code, save the tokens, bind the state to the company.

    Another company than the state's is refused before the code is spent (the working
    connection's tokens are never replaced by tokens the state does not belong to), unless
    ``fresh_state``: then, under the run lock and after ``confirm(question)`` (which raises to
    say no), the state is emptied once the exchange succeeded.
    """
    bound = state.realm_id
    switching = bound is not None and bound != callback.realm_id
    # Connected before (the config recorded the enablement, or tokens are stored) but the state
    # is unbound: the state was lost, not new. Binding it now would forget what was exported.
    history_missing = bound is None and connected_before(config, store)
    if switching and not fresh_state:
        name = state.company_name
        raise StateError(
            f"this profile is connected to QBO company {bound}"
            + (f" ({name})" if name else "")
            + f", not {callback.realm_id}; its links point into that company's books",
            hint="run `qbsync auth --fresh-state` to start this profile over for the new "
            "company, or use another --profile",
        )
    with contextlib.ExitStack() as held:
        if switching:
            # Emptying the state under a running sync would leave it recording into nothing.
            held.enter_context(run_lock(config.data_dir))
            confirm(
                f"Delete this profile's links and export history for company {bound} and "
                f"connect company {callback.realm_id} (enabled from now on)?"
            )
        # A code can be spent only once: make sure the state can be written (another process
        # may hold it for longer than the busy timeout) before spending it, not after.
        with state.transaction():
            pass
        now = token_endpoint.utcnow()
        tokens = token_endpoint.exchange_code(
            config.qbo.endpoints,
            config.qbo.client_id,
            secret,
            redirect_uri,
            callback,
            now=now,
            timeout=config.qbo.timeout_seconds,
        )
        if switching:
            state.reset_for_new_realm()
        _save(config, store, state, tokens)
        if history_missing:
            # `qbsync state rebuild` binds it, from QBO's markers and the config's enabled_at.
            return Connected(tokens.realm_id, config.export.enabled_at, None, history_missing=True)
        # Bind before the first API call: whatever CompanyInfo does, the stored tokens and the
        # state agree on the company, and enabled_at is the moment of this first connection
        # (another company after --fresh-state, confirmed above: a new enablement).
        enabled_at = state.bind_realm(tokens.realm_id, now=now, company_name=None)
    problem = None
    if switching or config.export.enabled_at is None:
        problem = record_enabled_at(config, enabled_at)
    return Connected(
        tokens.realm_id, enabled_at, bound if switching else None, config_problem=problem
    )


def record_enabled_at(config: Config, enabled_at: datetime) -> str | None:
    """Keep enabled_at in the config too (a new state takes it from there); what went wrong, as
    a warning: the state has it, and the next command that opens the state tries again."""
    from qbsync.config.enabled import write_enabled_at

    try:
        write_enabled_at(config.path, enabled_at)
    except ConfigError as exc:
        return exc.message
    return None


def connected_before(config: Config, store: CredentialStore) -> bool:
    """The config recorded an enablement, or tokens are stored: the profile was connected."""
    if config.export.enabled_at is not None:
        return True
    try:
        return store.load_tokens() is not None
    except QbsyncError:  # unreadable tokens: something was stored
        return True


def _save(config: Config, store: CredentialStore, state: State, tokens: TokenSet) -> None:
    with token_lock(config.data_dir):
        store.save_tokens(tokens)
        # Which server issued them: no later run sends them to another one.
        record_issuer(state, config.qbo.endpoints)


def record_company_name(client: QboClient, state: State) -> tuple[str | None, QbsyncError | None]:
    """Read CompanyInfo and keep its name in the state: (name, None), or (None, the error) when
    it could not be read. A refusal by the company (AuthError) is raised: the app lost access."""
    try:
        info = client.company_info()
    except AuthError:
        raise
    except QbsyncError as exc:  # connected all the same; status --check can retry later
        return None, exc
    name = str(info.get("CompanyName") or "") or None
    if name:
        state.set_meta("company_name", name)
    return name, None


# -- disconnect ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Disconnected:
    had_tokens: bool
    revoked_at: str | None  # who revoked them ("Intuit", "the QBO emulator at URL")
    not_revoked: str | None  # why they were deleted without being revoked
    issued_elsewhere: bool  # another server issued them: they were not sent to this one
    state_path: Path
    state_deleted: bool  # with forget: there was a state database, and it is gone


def disconnect(config: Config, store: CredentialStore, *, forget: bool) -> Disconnected:
    """Revoke the stored refresh token where it was issued, delete it; with ``forget`` also the
    local state (the caller holds the run lock).

    A refused client secret stops everything (ConfigError, exit 2): deleting the tokens then would
    leave the grant live with nothing left to revoke it with. An unreachable server does not: the
    tokens are deleted anyway and ``not_revoked`` says why.
    """
    revoked_at: str | None = None
    not_revoked: str | None = None
    endpoints = config.qbo.endpoints
    with token_lock(config.data_dir):
        tokens = store.load_tokens()
        mismatch = issuer_mismatch(read_issuer(config.data_dir), endpoints) if tokens else None
        if tokens is not None and mismatch:
            # Revoking would send the refresh token to a server that never issued it.
            not_revoked = f"{mismatch}: not sending them there to be revoked"
        elif tokens is not None:
            try:
                token_endpoint.revoke(
                    endpoints,
                    config.qbo.client_id,
                    resolve_client_secret(store),
                    tokens.refresh_token,
                    timeout=config.qbo.timeout_seconds,
                )
                revoked_at = probe.server_name(endpoints)
            except ConfigError as exc:
                raise ConfigError(
                    f"{exc.message}; the tokens were not revoked and are still stored",
                    hint=_fix_secret_then("disconnect"),
                ) from None
            except QboUnavailableError as exc:
                not_revoked = f"could not revoke them ({exc.message})"
        if tokens is not None:
            store.delete_tokens()
    clear_pending(config.data_dir)
    deleted = State.delete_files(config.state_path) if forget else False
    return Disconnected(
        tokens is not None, revoked_at, not_revoked, bool(mismatch), config.state_path, deleted
    )


def _fix_secret_then(*again: str) -> str:
    """Fix the client secret in use, then run the command again."""
    fix = "run `qbsync init --force`"
    if os.environ.get(CLIENT_SECRET_ENV, "").strip():
        fix = f"unset {CLIENT_SECRET_ENV} (to use the stored secret) or {fix}"
    return f"{fix}, then `qbsync {' '.join(again)}` again"
