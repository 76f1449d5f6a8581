"""Intuit's OAuth 2.0 server, emulated: clients, authorization codes, grants, tokens, revoke.

Everything here is pure state behind one lock; ``server.py`` turns HTTP into these calls.
Behaviours and where they come from (see docs/qbo-facts.md, "OAuth 2.0"):

- The redirect carries ``code``, ``state`` and ``realmId``; the token exchange must repeat the
  same ``redirect_uri`` (RFC 6749 4.1.3).
- Client authentication at the token endpoint: ``client_secret_basic`` or ``client_secret_post``
  (Intuit's discovery document lists both); a wrong client answers 401 ``invalid_client``.
- Codes are single-use. A second use answers ``invalid_grant`` and revokes what the code already
  produced (RFC 6749 4.1.2: "SHOULD revoke (when possible) all tokens previously issued based on
  that authorization code"; Intuit warns that reusing a code can invalidate tokens).
- Access tokens live 3600 s. Refresh tokens roll: each refresh issues a new one; the previous one
  keeps working for ``refresh_grace`` seconds (Intuit: "about 24 h"), answering with the latest
  refresh token, then answers ``invalid_grant`` (Intuit FAQ; oauth-jsclient issues 74, 77).
- ``x_refresh_token_expires_in`` is 8726400 s: the value Intuit actually returns, although its
  docs say "100 days". Since Nov 2025 a grant also has a hard limit of five years, reported as
  ``x_refresh_token_hard_expires_in`` only when the request carries
  ``x-include-refresh-token-hard-expires-in: true`` (Intuit blog 2025-11-12; intuit-oauth 1.2.7).
- Revoking an access or a refresh token revokes the whole grant (Intuit's revoke endpoint
  "revokes the access and refresh token"); unknown tokens answer 200 as RFC 7009 2.2 asks.
"""

from __future__ import annotations

import math
import secrets
import threading
from typing import Any

from qbsync.emulator.clock import Clock
from qbsync.emulator.grants import (
    ACCOUNTING_SCOPE,
    HARD_EXPIRY_HEADER,
    HARD_LIFETIME,
    KNOWN_SCOPES,
    PAYMENT_SCOPE,
    REFRESH_TOKEN_TTL,
    AccessCheck,
    AuthorizeOutcome,
    Code,
    Grant,
    OAuthClient,
    Reply,
    export_grants,
    import_grants,
    parse_basic,
    with_query,
)
from qbsync.emulator.grants import error_reply as _error

__all__ = [
    "ACCOUNTING_SCOPE",
    "HARD_EXPIRY_HEADER",
    "KNOWN_SCOPES",
    "AccessCheck",
    "Grant",
    "OAuthClient",
    "OAuthServer",
    "Reply",
]


class OAuthServer:
    """The state of Intuit's OAuth server for one emulator, safe to call from many threads."""

    def __init__(
        self,
        clock: Clock,
        realm_id: str,
        *,
        access_token_ttl: float = 3600,
        refresh_grace: float = 86400,
        code_ttl: float = 300,
    ) -> None:
        for name, value in (
            ("access_token_ttl", access_token_ttl),
            ("refresh_grace", refresh_grace),
            ("code_ttl", code_ttl),
        ):
            # NaN would make every expiry check false: tokens that never expire.
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds >= 0")
        self.clock = clock
        self.realm_id = realm_id
        self.access_token_ttl = access_token_ttl
        self.refresh_grace = refresh_grace
        self.code_ttl = code_ttl
        self._lock = threading.RLock()
        self._clients: dict[str, OAuthClient] = {}
        self._codes: dict[str, Code] = {}
        self._grants: dict[str, Grant] = {}
        self._by_access: dict[str, str] = {}
        self._by_refresh: dict[str, str] = {}
        self._deny_next = False

    # -- clients -----------------------------------------------------------------------------

    def add_client(self, client: OAuthClient) -> None:
        if not client.client_id or not client.client_secret or not client.redirect_uris:
            raise ValueError("a client needs a client_id, a client_secret and redirect URIs")
        with self._lock:
            self._clients[client.client_id] = client

    def clients(self) -> list[OAuthClient]:
        with self._lock:
            return list(self._clients.values())

    def deny_next_authorization(self) -> None:
        with self._lock:
            self._deny_next = True

    def _authenticate(self, client_id: str | None, client_secret: str | None) -> OAuthClient | None:
        client = self._clients.get(client_id or "")
        if client is None or client_secret is None:
            return None
        if not secrets.compare_digest(client.client_secret.encode(), client_secret.encode()):
            return None
        return client

    # -- authorize (the browser step) ----------------------------------------------------------

    def authorize(
        self, params: dict[str, str], repeated: frozenset[str] = frozenset()
    ) -> AuthorizeOutcome:
        with self._lock:
            # RFC 6749 3.1: parameters MUST NOT be repeated. A repeated client_id or
            # redirect_uri leaves no trustworthy address to redirect to: an error page.
            if repeated & {"client_id", "redirect_uri"}:
                return AuthorizeOutcome(400, message="client_id and redirect_uri may appear once.")
            client = self._clients.get(params.get("client_id", ""))
            if client is None:
                return AuthorizeOutcome(
                    400, message="Unknown client_id: the app is not registered."
                )
            redirect_uri = params.get("redirect_uri", "")
            # Never redirect to a URI the app did not register: that is how codes get stolen.
            if redirect_uri not in client.redirect_uris:
                return AuthorizeOutcome(
                    400, message="The redirect_uri is not registered for this app (exact match)."
                )
            state = params.get("state")
            if not state:
                return self._redirect_error(
                    redirect_uri, "invalid_request", None, "state is required"
                )
            if repeated & {"response_type", "scope", "state"}:
                return self._redirect_error(
                    redirect_uri, "invalid_request", state, "a parameter is repeated"
                )
            if params.get("response_type") != "code":
                return self._redirect_error(redirect_uri, "unsupported_response_type", state)
            scopes = tuple(params.get("scope", "").split())
            if not scopes or any(scope not in KNOWN_SCOPES for scope in scopes):
                return self._redirect_error(redirect_uri, "invalid_scope", state)
            if client.deny or self._deny_next:
                self._deny_next = False
                return self._redirect_error(redirect_uri, "access_denied", state)
            code = secrets.token_urlsafe(32)
            self._codes[code] = Code(
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                realm_id=self.realm_id,
                expires_at=self.clock.timestamp() + self.code_ttl,
            )
            query = {"code": code, "state": state}
            if ACCOUNTING_SCOPE in scopes or PAYMENT_SCOPE in scopes:
                query["realmId"] = self.realm_id
            return AuthorizeOutcome(302, location=with_query(redirect_uri, query))

    @staticmethod
    def _redirect_error(
        redirect_uri: str, error: str, state: str | None, description: str | None = None
    ) -> AuthorizeOutcome:
        query = {"error": error}
        if description:
            query["error_description"] = description
        if state:
            query["state"] = state
        return AuthorizeOutcome(302, location=with_query(redirect_uri, query))

    # -- token endpoint ------------------------------------------------------------------------

    def token(
        self, form: dict[str, str], authorization: str | None, *, include_hard: bool = False
    ) -> Reply:
        basic = parse_basic(authorization)
        client_id: str | None = basic[0] if basic else form.get("client_id")
        client_secret: str | None = basic[1] if basic else form.get("client_secret")
        with self._lock:
            client = self._authenticate(client_id, client_secret)
            if client is None:
                return _error(401, "invalid_client")
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                return self._exchange_code(client, form, include_hard)
            if grant_type == "refresh_token":
                return self._refresh(client, form.get("refresh_token", ""), include_hard)
            if not grant_type:
                return _error(400, "invalid_request", "grant_type is required")
            return _error(400, "unsupported_grant_type")

    def _exchange_code(
        self, client: OAuthClient, form: dict[str, str], include_hard: bool
    ) -> Reply:
        code_value = form.get("code")
        if not code_value:
            return _error(400, "invalid_request", "code is required")
        code = self._codes.get(code_value)
        if code is None or code.client_id != client.client_id:
            return _error(400, "invalid_grant")
        if code.used:
            if code.grant_id is not None:
                self._grants[code.grant_id].revoked = True
            return _error(400, "invalid_grant")
        if self.clock.timestamp() >= code.expires_at:
            return _error(400, "invalid_grant")
        redirect_uri = form.get("redirect_uri")
        if not redirect_uri:
            return _error(400, "invalid_request", "redirect_uri is required")
        if redirect_uri != code.redirect_uri:
            return _error(400, "invalid_grant")
        code.used = True
        grant = self._new_grant(client.client_id, code.realm_id, code.scopes)
        code.grant_id = grant.grant_id
        return Reply(200, self._token_body(grant, include_hard), {"Cache-Control": "no-store"})

    def _refresh(self, client: OAuthClient, refresh_token: str, include_hard: bool) -> Reply:
        if not refresh_token:
            return _error(400, "invalid_request", "refresh_token is required")
        grant = self._grants.get(self._by_refresh.get(refresh_token, ""))
        now = self.clock.timestamp()
        if grant is None or grant.client_id != client.client_id or grant.revoked:
            return _error(400, "invalid_grant")
        if now >= grant.hard_expires_at:
            return _error(400, "invalid_grant")
        if refresh_token == grant.refresh_token:
            if now >= grant.refresh_expires_at:
                return _error(400, "invalid_grant")
            grant.previous_refresh[refresh_token] = now + self.refresh_grace
            self._set_refresh(grant, now)
            grant.rotations += 1
        elif now >= grant.previous_refresh.get(refresh_token, 0.0):
            return _error(400, "invalid_grant")
        # A previous token inside its grace period gets the latest refresh token back, so two
        # processes racing on the same old token both end up holding the current one.
        self._new_access(grant, now)
        return Reply(200, self._token_body(grant, include_hard), {"Cache-Control": "no-store"})

    def _new_grant(self, client_id: str, realm_id: str, scopes: tuple[str, ...]) -> Grant:
        now = self.clock.timestamp()
        grant = Grant(
            grant_id=secrets.token_hex(8),
            client_id=client_id,
            realm_id=realm_id,
            scopes=scopes,
            started_at=now,
            hard_expires_at=now + HARD_LIFETIME,
        )
        self._grants[grant.grant_id] = grant
        self._set_refresh(grant, now)
        self._new_access(grant, now)
        return grant

    def _set_refresh(self, grant: Grant, now: float) -> None:
        grant.refresh_token = secrets.token_urlsafe(48)
        grant.refresh_expires_at = min(now + REFRESH_TOKEN_TTL, grant.hard_expires_at)
        self._by_refresh[grant.refresh_token] = grant.grant_id

    def _new_access(self, grant: Grant, now: float) -> str:
        token = secrets.token_urlsafe(48)
        grant.access[token] = now + self.access_token_ttl
        self._by_access[token] = grant.grant_id
        return token

    def _token_body(self, grant: Grant, include_hard: bool) -> dict[str, Any]:
        now = self.clock.timestamp()
        access_token = max(grant.access, key=lambda token: grant.access[token])
        body: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access_token,
            "refresh_token": grant.refresh_token,
            "expires_in": round(self.access_token_ttl),
            "x_refresh_token_expires_in": max(0, round(grant.refresh_expires_at - now)),
        }
        if include_hard:
            body["x_refresh_token_hard_expires_in"] = max(0, round(grant.hard_expires_at - now))
        return body

    def issue_tokens(
        self,
        client_id: str | None = None,
        *,
        realm_id: str | None = None,
        include_hard: bool = True,
    ) -> dict[str, Any]:
        """A grant without the browser step: what the token endpoint would answer, plus realmId."""
        with self._lock:
            if client_id is None:
                if not self._clients:
                    raise ValueError("no OAuth client is registered with the emulator")
                client_id = next(iter(self._clients))
            elif client_id not in self._clients:
                raise ValueError(f"unknown client_id {client_id!r}")
            grant = self._new_grant(
                client_id, realm_id or self.realm_id, (ACCOUNTING_SCOPE, PAYMENT_SCOPE)
            )
            return {**self._token_body(grant, include_hard), "realmId": grant.realm_id}

    # -- revoke ----------------------------------------------------------------------------------

    def revoke(self, token: str | None, authorization: str | None) -> Reply:
        basic = parse_basic(authorization)
        with self._lock:
            client = self._authenticate(*basic) if basic else None
            if client is None:
                return _error(401, "invalid_client")
            if not token:
                return _error(400, "invalid_request", "token is required")
            grant = self._find_grant(token)
            if grant is None:
                return Reply(200, None)
            if grant.client_id != client.client_id:
                return _error(400, "invalid_request", "the token belongs to another client")
            grant.revoked = True
            return Reply(200, None)

    def _find_grant(self, token: str) -> Grant | None:
        grant_id = self._by_access.get(token) or self._by_refresh.get(token)
        return self._grants.get(grant_id) if grant_id else None

    # -- restart (persist.py) -------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        with self._lock:
            return export_grants(self._clients, self._codes, self._grants)

    def import_state(self, state: dict[str, Any]) -> None:
        clients, codes, grants = import_grants(state)
        with self._lock:
            self._clients, self._codes, self._grants = clients, codes, grants
            self._by_access = {t: g.grant_id for g in grants.values() for t in g.access}
            self._by_refresh = {
                t: g.grant_id
                for g in grants.values()
                for t in (g.refresh_token, *g.previous_refresh)
            }

    # -- resource server side --------------------------------------------------------------------

    def check_access(self, authorization: str | None) -> AccessCheck:
        if not authorization:
            return AccessCheck("missing")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AccessCheck("malformed")
        token = token.strip()
        with self._lock:
            grant = self._grants.get(self._by_access.get(token, ""))
            if grant is None:
                return AccessCheck("unknown")
            if grant.revoked:
                return AccessCheck("revoked", grant)
            if self.clock.timestamp() >= grant.access[token]:
                return AccessCheck("expired", grant)
            return AccessCheck("ok", grant)

    def token_state(self, token: str) -> str:
        """For tests: "active", "grace" (an old refresh token still accepted), "expired",
        "revoked" or "unknown"."""
        now = self.clock.timestamp()
        with self._lock:
            grant = self._find_grant(token)
            if grant is None:
                return "unknown"
            if grant.revoked:
                return "revoked"
            if token in grant.access:
                return "active" if now < grant.access[token] else "expired"
            if token == grant.refresh_token:
                limit = min(grant.refresh_expires_at, grant.hard_expires_at)
                return "active" if now < limit else "expired"
            return "grace" if now < grant.previous_refresh.get(token, 0.0) else "expired"

    def grant_state(self, token: str) -> dict[str, Any] | None:
        """For tests: the grant a token belongs to, without any token value."""
        with self._lock:
            grant = self._find_grant(token)
            if grant is None:
                return None
            return {
                "grant_id": grant.grant_id,
                "client_id": grant.client_id,
                "realm_id": grant.realm_id,
                "scopes": list(grant.scopes),
                "revoked": grant.revoked,
                "rotations": grant.rotations,
                "is_latest_refresh_token": token == grant.refresh_token,
                "token_state": self.token_state(token),
            }
