"""Intuit OAuth 2.0: authorization URL, redirect checks and paste parsing.

The loopback catcher (the one-shot local web server a browser is redirected to) lives in
``qbsync.auth.loopback``; the token endpoint (code exchange, refresh, revoke) in ``qbsync.auth.token_endpoint``;
server names, next-step hints and the emulator probe in ``qbsync.auth.probe``.

The authorization URL is built with requests-oauthlib, which applies oauthlib's https-only check, so
it is relaxed for that one call and only for a loopback emulator (``allow_insecure_transport``).

Nothing here logs or raises with a token, code or secret in the text.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from qbsync.config.checks import DEFAULT_SCOPES
from qbsync.config.endpoints import Endpoints
from qbsync.errors import OAuthFlowError, UsageError
from qbsync.hosts import is_loopback_host
from qbsync.redact import register_secret

_env_lock = threading.Lock()


@contextlib.contextmanager
def allow_insecure_transport(endpoints: Endpoints) -> Iterator[None]:
    """Let oauthlib accept http:// for the ``with`` block, only for a loopback emulator.

    oauthlib reads OAUTHLIB_INSECURE_TRANSPORT from the environment at call time; we set it for the
    one call and restore the previous value, so it is never left set for the rest of the process.
    """
    if not endpoints.loopback:
        yield
        return
    with _env_lock:
        previous = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
            else:
                os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = previous


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    redirect_uri: str


def build_authorization_url(
    endpoints: Endpoints, client_id: str, redirect_uri: str, scopes: Sequence[str]
) -> AuthorizationRequest:
    """The URL the operator opens; ``state`` is random and checked on the way back (CSRF)."""
    from requests_oauthlib import OAuth2Session  # heavy (110 ms): only when a login starts

    state = secrets.token_urlsafe(24)
    session = OAuth2Session(
        client_id, redirect_uri=redirect_uri, scope=list(scopes or DEFAULT_SCOPES), state=state
    )
    with allow_insecure_transport(endpoints):
        url, returned_state = session.authorization_url(endpoints.authorize_url)
    return AuthorizationRequest(url=url, state=returned_state, redirect_uri=redirect_uri)


def is_loopback_redirect(redirect_uri: str) -> bool:
    """True for ``http://localhost:PORT/...``, ``http://127.0.0.1:...``, ``http://[::1]:...``."""
    parts = urlsplit(redirect_uri)
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


@dataclass(frozen=True)
class Callback:
    """What Intuit's redirect carried, already checked."""

    code: str
    realm_id: str

    def __repr__(self) -> str:  # the code is a secret until it is exchanged
        return f"Callback(realm_id={self.realm_id!r}, code=***)"


def check_callback(params: dict[str, str], expected_state: str) -> Callback:
    """Validate the redirect's query parameters; raise OAuthFlowError saying what to fix."""
    error = params.get("error")
    state = params.get("state")
    # An error redirect carries the state too (RFC 6749 4.1.2.1): one with another login's state
    # is not ours to report (a stale tab, or a forged "declined" link).
    if error and state and not secrets.compare_digest(state, expected_state):
        error = None
    if error:
        if error == "access_denied":
            raise OAuthFlowError(
                "authorization was declined: the operator clicked Cancel/Disconnect, or the "
                "company does not allow this app",
                hint="run `qbsync auth` again and choose Connect (an admin of the company must approve)",
            )
        description = params.get("error_description", "")
        raise OAuthFlowError(
            f"Intuit answered the authorization with error {error!r}"
            + (f": {description}" if description else ""),
            hint="check the app's scopes and redirect URI in the Intuit developer portal, "
            "then run `qbsync auth` again",
        )
    if not state or not secrets.compare_digest(state, expected_state):
        raise OAuthFlowError(
            "the redirect's state does not match this login (missing or wrong state: a stale "
            "tab, or a possible cross-site request forgery); nothing was exchanged",
            hint="run `qbsync auth` again and use the address from that run only",
        )
    code = params.get("code")
    if not code:
        raise OAuthFlowError(
            "the redirect carries no authorization code",
            hint="paste the whole address the browser landed on (it contains ?code=...)",
        )
    realm_id = params.get("realmId")
    if not realm_id:
        raise OAuthFlowError(
            "the redirect carries no realmId (company id)",
            hint="connect with a QuickBooks Online company (accounting scope), then paste the "
            "whole address",
        )
    register_secret(code)
    return Callback(code=code, realm_id=realm_id)


def query_params(query: str) -> dict[str, str]:
    """First value of each parameter of a URL query string."""
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items() if v}


NOT_AN_ADDRESS = (
    "that is not the whole address: paste the full address from the browser's address bar "
    "(it contains code=, state= and realmId=)"
)


class PastedTextError(UsageError):
    """What was pasted is not a redirect address at all (exit 2): the login is still valid."""


def parse_pasted_redirect(text: str, expected_state: str) -> Callback:
    """Parse the address the browser landed on (pasted by the operator) and check it.

    Text that carries none of ``code=``, ``state=``, ``error=`` (only the code, a half-copied
    address, anything else) raises ``PastedTextError``: that is a paste mistake, not a forged
    redirect, and the pending login can still be completed.
    """
    text = text.strip()
    if not any(key in text for key in ("code=", "state=", "error=")):
        raise PastedTextError(NOT_AN_ADDRESS)
    parts = urlsplit(text)
    query = parts.query if (parts.scheme or "?" in text) else text.lstrip("?")
    return check_callback(query_params(query), expected_state)
