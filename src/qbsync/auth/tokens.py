"""TokenManager: hands out a valid access token and refreshes it without ever losing access.

Other QBO tools lose their connection in three ways, and each rule here answers one:
- a rotated refresh token was not saved: the new TokenSet is saved before its access token is
  returned, so nothing uses a token the store does not hold;
- two processes refreshed at once: every refresh happens under ``token_lock`` (a cross-process
  flock) after re-reading the stored TokenSet, so the second process finds the first one's new
  tokens and uses them instead of spending the now-stale refresh token;
- a token expired while nobody looked: refresh tokens past their rolling or hard expiry are
  refused locally with "run `qbsync auth`" rather than sent to Intuit.

Tokens also belong to the server that issued them: `qbsync auth` records its API base in the
state's meta (``tokens_api_base``), and the manager refuses to send the stored tokens anywhere
else (the config's ``environment`` changed from an emulator to sandbox, or sandbox to production,
or ``QBSYNC_ENVIRONMENT`` points elsewhere): AuthError, "run `qbsync auth`". Older data folders
without that record are not checked.

If a refresh POST times out after Intuit rotated the token, the previous refresh token keeps
working for about 24 h (qbo-facts.md), so the next run can still refresh: we never retry the POST
inside one run, since a retried refresh could spend a token twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import requests

from qbsync.auth import token_endpoint
from qbsync.auth.credentials import (
    CredentialStore,
    TokenSet,
    open_store,
    resolve_client_secret,
    token_lock,
)
from qbsync.auth.probe import server_name
from qbsync.config import Config
from qbsync.config.checks import ENVIRONMENT_ENV
from qbsync.config.endpoints import API_PATH, PRODUCTION_API_BASE, SANDBOX_API_BASE, Endpoints
from qbsync.errors import AuthError, CredentialStoreError, QbsyncError
from qbsync.redact import register_secret
from qbsync.state.db import State

log = logging.getLogger(__name__)

# Refresh when the access token has less than this left, so a request never starts with a token
# that dies in flight.
REFRESH_MARGIN = timedelta(minutes=5)
LOCK_TIMEOUT = 60.0


ISSUER_META_KEY = "tokens_api_base"
STATE_FILE = "state.sqlite3"


def describe_api_base(api_base: str) -> str:
    """``sandbox``, ``production`` or ``the emulator at URL``, for messages."""
    if api_base == SANDBOX_API_BASE:
        return "sandbox"
    if api_base == PRODUCTION_API_BASE:
        return "production"
    base = api_base[: -len(API_PATH)] if api_base.endswith(API_PATH) else api_base
    return f"the emulator at {base}"


def read_issuer(data_dir: Path) -> str | None:
    """The API base of the server that issued the stored tokens, as `auth` recorded it."""
    path = Path(data_dir) / STATE_FILE
    if not path.exists():  # do not create a state database just to look at it
        return None
    with State.open(path) as state:
        return state.get_meta(ISSUER_META_KEY)


def record_issuer(state: State, endpoints: Endpoints) -> None:
    """Called by `auth` right after the new tokens are saved."""
    state.set_meta(ISSUER_META_KEY, endpoints.api_base)


def issuer_mismatch(issued_by: str | None, endpoints: Endpoints) -> str | None:
    """Why the stored tokens must not be sent to ``endpoints`` (another server issued them)."""
    if not issued_by or issued_by.rstrip("/") == endpoints.api_base.rstrip("/"):
        return None
    said_by = (
        "QBSYNC_ENVIRONMENT says"
        if os.environ.get(ENVIRONMENT_ENV, "").strip()
        else ("the config says")
    )
    return (
        f"the stored tokens were issued by {describe_api_base(issued_by)} but {said_by} "
        f"{describe_api_base(endpoints.api_base)}"
    )


def issuer_mismatch_hint() -> str:
    """The next step for tokens issued by another environment."""
    if os.environ.get(ENVIRONMENT_ENV, "").strip():
        return f"run `qbsync auth` to connect to this environment, or unset {ENVIRONMENT_ENV}"
    return "run `qbsync auth` to connect to this environment, or set `environment` back"


def refresh_expiry_problem(tokens: TokenSet, now: datetime) -> str | None:
    """Why the refresh token can no longer be used (rolling or hard expiry), or None."""
    if tokens.refresh_hard_expires_at is not None and tokens.refresh_hard_expires_at <= now:
        return "the refresh token reached its hard (five-year) expiry"
    if tokens.refresh_expires_at <= now:
        return "the refresh token expired (it was not used for 100 days)"
    return None


def refresh_margin(tokens: TokenSet) -> timedelta:
    """REFRESH_MARGIN, or a quarter of the token's lifetime when that is shorter.

    Intuit's tokens live an hour, so this is five minutes. An emulator issuing one-minute tokens
    would otherwise make every request refresh (and rotate) first.
    """
    lifetime = tokens.access_expires_at - tokens.obtained_at
    if lifetime <= timedelta(0):
        return REFRESH_MARGIN
    return min(REFRESH_MARGIN, lifetime / 4)


def access_token_fresh(tokens: TokenSet, now: datetime) -> bool:
    return tokens.access_expires_at - now > refresh_margin(tokens)


class TokenManager:
    """Valid access tokens for one profile, refreshed under the cross-process token lock."""

    def __init__(
        self,
        store: CredentialStore,
        endpoints: Endpoints,
        client_id: str,
        client_secret: str,
        data_dir: Path,
        *,
        http: requests.Session | None = None,
        clock: Callable[[], datetime] = token_endpoint.utcnow,
        timeout: float = token_endpoint.HTTP_TIMEOUT,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.store = store
        self.endpoints = endpoints
        self.client_id = client_id
        self._client_secret = client_secret
        register_secret(client_secret)
        self.data_dir = data_dir
        self._http = http or requests.Session()
        self._clock = clock
        self._timeout = timeout
        self._lock_timeout = lock_timeout
        self._cached: TokenSet | None = None

    def __repr__(self) -> str:
        return f"TokenManager(store={self.store.kind!r}, client_id={self.client_id!r})"

    def tokens(self) -> TokenSet:
        """The TokenSet in use (read from the store once); AuthError when none is stored."""
        if self._cached is None:
            self._cached = self._load()
        return self._cached

    @property
    def realm_id(self) -> str:
        return self.tokens().realm_id

    def access_token(self) -> str:
        """A valid access token, refreshing first when it expires within REFRESH_MARGIN."""
        current = self.tokens()
        if access_token_fresh(current, self._clock()):
            return current.access_token
        return self._refresh(token_used=current.access_token)

    def after_401(self, token_used: str) -> str:
        """QBO refused ``token_used``: get another one (refreshing at most once)."""
        return self._refresh(token_used=token_used, forced=True)

    def _load(self) -> TokenSet:
        tokens = self.store.load_tokens()
        if tokens is None:
            raise AuthError(
                f"qbsync is not connected to QuickBooks Online (no tokens in the {self.store.kind} "
                f"store at {self.store.location})"
            )
        problem = issuer_mismatch(read_issuer(self.data_dir), self.endpoints)
        if problem:
            # Never send a token (nor the refresh token) to a server that did not issue it.
            raise AuthError(problem, hint=issuer_mismatch_hint())
        return tokens

    def _refresh(self, *, token_used: str, forced: bool = False) -> str:
        with token_lock(self.data_dir, timeout=self._lock_timeout):
            # Re-read under the lock: another process may have rotated the tokens since we read
            # them, and its refresh token is the only one guaranteed to keep working.
            stored = self._load()
            if self._cached is not None and stored.realm_id != self._cached.realm_id:
                # `qbsync auth --fresh-state` connected another company meanwhile: this run's
                # URLs and state point at the old one, so it must not carry on with new tokens.
                raise QbsyncError(
                    f"the stored tokens were replaced by tokens for QBO company {stored.realm_id} "
                    f"while this run was working with company {self._cached.realm_id}; stopped "
                    "so that nothing is sent to the wrong books",
                    hint="run the command again: it will use the newly connected company",
                )
            now = self._clock()
            if stored.access_token != token_used and access_token_fresh(stored, now):
                log.debug("another process already refreshed the tokens; using its access token")
                self._cached = stored
                return stored.access_token
            if not forced and access_token_fresh(stored, now):
                self._cached = stored
                return stored.access_token
            problem = refresh_expiry_problem(stored, now)
            if problem:
                raise AuthError(problem, hint="run `qbsync auth` to connect again")
            log.info("refreshing the QBO access token")
            new = token_endpoint.refresh_tokens(
                self.endpoints,
                self.client_id,
                self._client_secret,
                stored,
                http=self._http,
                now=now,
                timeout=self._timeout,
            )
            # Save before use: if we crashed after using an unsaved rotated token, the stored
            # one would die about 24 h later and the connection with it.
            try:
                self.store.save_tokens(new)
            except (QbsyncError, OSError) as exc:
                reason = exc.message if isinstance(exc, QbsyncError) else str(exc)
                issuer = server_name(self.endpoints)
                raise CredentialStoreError(
                    f"{issuer[:1].upper()}{issuer[1:]} issued new tokens, but they could not be "
                    f"saved ({reason}); the stored refresh token keeps working for about 24 "
                    "hours (the grace period after a rotation), so nothing is lost yet",
                    hint="fix the token store (space, permissions, keyring), then run qbsync "
                    "again within a day; after that, `qbsync auth` would be needed",
                ) from None
            self._cached = new
            log.debug("saved the refreshed tokens to the %s store", self.store.kind)
            return new.access_token


def token_manager_for(
    config: Config,
    *,
    store: CredentialStore | None = None,
    http: requests.Session | None = None,
) -> TokenManager:
    """The TokenManager for a loaded config: its store, endpoints, client id and secret."""
    store = store or open_store(
        config.token_store, profile=config.profile, data_dir=config.data_dir
    )
    return TokenManager(
        store,
        config.qbo.endpoints,
        config.qbo.client_id,
        resolve_client_secret(store),
        config.data_dir,
        http=http,
        timeout=config.qbo.timeout_seconds,
    )
