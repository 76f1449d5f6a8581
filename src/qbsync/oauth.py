"""Intuit OAuth 2.0: authorization URL, redirect parsing, code exchange, refresh, revoke.

The loopback catcher (the one-shot local web server a browser is redirected to) lives in
``qbsync.loopback``; this module holds everything that talks to Intuit's OAuth endpoints.

Token requests are made with plain ``requests`` + HTTP Basic client auth rather than
requests-oauthlib's ``fetch_token``: Intuit accepts ``client_secret_basic`` (its discovery document
lists it; see docs/qbo-facts.md), we need the extra ``x_refresh_token_*`` fields of the
response, and this way oauthlib's https-only check never has to be switched off for the emulator.
Intuit's own client (intuit/oauth-pythonclient ``intuitlib/client.py``) does the same: a form POST
with a Basic header for ``authorization_code`` and ``refresh_token`` grants, and a JSON body
``{"token": ...}`` with a Basic header for revoke.
The authorization URL is built with requests-oauthlib, which does apply that check, so it is relaxed
for that one call and only for a loopback emulator (``allow_insecure_transport``).

Nothing here logs or raises with a token, code or secret in the text.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from qbsync.credentials import CLIENT_SECRET_ENV, TokenSet
from qbsync.environments import API_PATH, Endpoints, is_loopback_host
from qbsync.errors import (
    AuthError,
    ConfigError,
    OAuthFlowError,
    QboUnavailableError,
    QbsyncError,
    UsageError,
)
from qbsync.redact import register_secret

log = logging.getLogger(__name__)

DEFAULT_SCOPES = ("com.intuit.quickbooks.accounting", "com.intuit.quickbooks.payment")
# Intuit: access tokens live 3600 s, refresh tokens roll over 100 days (qbo-facts.md). Used only
# when a response leaves the field out.
DEFAULT_ACCESS_TTL = 3600
DEFAULT_REFRESH_TTL = 100 * 24 * 3600
HTTP_TIMEOUT = 30.0
# Asks Intuit to add x_refresh_token_hard_expires_in (the five-year cap, Intuit blog 2025-11-12).
HARD_EXPIRY_HEADER = {"x-include-refresh-token-hard-expires-in": "true"}
REINIT_HINT = "check client_id in the config and the client secret, or run `qbsync init --force`"
ENV_SECRET_HINT = (
    f"check {CLIENT_SECRET_ENV} (unset it to use the stored secret) and client_id in the config, "
    "or run `qbsync init --force`"
)
DISCOVERY_PATH = "/.well-known/openid_configuration"
PROBE_TIMEOUT = 3.0

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


def emulator_base(endpoints: Endpoints) -> str:
    """The base URL an emulator environment was configured with (its API base minus /v3)."""
    base = endpoints.api_base
    return base[: -len(API_PATH)] if base.endswith(API_PATH) else base


def server_name(endpoints: Endpoints) -> str:
    """Who answers OAuth requests, for messages: Intuit, or the emulator at its URL."""
    return (
        f"the QBO emulator at {emulator_base(endpoints)}" if not endpoints.is_intuit else "Intuit"
    )


def emulator_start_hint(endpoints: Endpoints) -> str:
    """``qbsync emulator serve`` with the configured port (a next step, not the error again)."""
    parts = urlsplit(emulator_base(endpoints))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not endpoints.loopback:
        return f"check that the emulator at {emulator_base(endpoints)} is running, or fix `environment`"
    return (
        f"start it with `qbsync emulator serve --port {port}` (or fix `environment` in the config)"
    )


def unreachable_hint(endpoints: Endpoints) -> str:
    """The next step when QBO or the OAuth server did not answer."""
    if endpoints.is_intuit:
        return (
            "check this machine's network (proxy, DNS, firewall) and try again later; Intuit "
            "posts outages at https://status.developer.intuit.com"
        )
    if not endpoints.loopback:
        return emulator_start_hint(endpoints)
    port = urlsplit(emulator_base(endpoints)).port or 80
    return (
        f"is `qbsync emulator serve` running at {emulator_base(endpoints)}? Start it with "
        f"`qbsync emulator serve --port {port}`, or fix `environment` in the config"
    )


def endpoint_name(endpoints: Endpoints | None, endpoint: str) -> str:
    """``Intuit's token endpoint`` or ``the token endpoint of the QBO emulator at URL``."""
    if endpoints is None or endpoints.is_intuit:
        return f"Intuit's {endpoint} endpoint"
    return f"the {endpoint} endpoint of {server_name(endpoints)}"


def probe_emulator(
    endpoints: Endpoints,
    *,
    client_id: str | None = None,
    redirect_uri: str | None = None,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    http: requests.Session | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> None:
    """Fail fast when an emulator environment cannot complete a login (never called for Intuit).

    GETs the emulator's discovery document, so a login does not wait for a browser that can
    never come back: ``QboUnavailableError`` (exit 1) naming the URL and how to start it. With
    ``client_id`` and ``redirect_uri``, also GETs the authorize URL (not following the redirect)
    and raises ``ConfigError`` (exit 2) when the emulator answers it with an error page (an
    unknown client, an unregistered redirect URI): the browser would only show that page.
    """
    if endpoints.is_intuit:
        return
    base = emulator_base(endpoints)
    sender = http or requests.Session()
    try:
        resp = sender.get(base + DISCOVERY_PATH, timeout=timeout, allow_redirects=False)
        _check_discovery(endpoints, resp)
        if client_id is not None and redirect_uri is not None:
            _probe_authorize(endpoints, sender, client_id, redirect_uri, scopes, timeout)
    except requests.RequestException:
        raise QboUnavailableError(
            f"the QBO emulator at {base} is not answering", hint=emulator_start_hint(endpoints)
        ) from None
    finally:
        if http is None:
            sender.close()


def _probe_authorize(
    endpoints: Endpoints,
    sender: requests.Session,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    timeout: float,
) -> None:
    # No `state`: the emulator checks client_id and redirect_uri first (an error page when
    # either is wrong), then answers a request without state with an error redirect, so the
    # probe issues no code and uses up no "deny the next login".
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes or DEFAULT_SCOPES),
        }
    )
    resp = sender.get(f"{endpoints.authorize_url}?{query}", timeout=timeout, allow_redirects=False)
    if resp.status_code != 400:
        return
    page = _error_page_text(resp.text)
    lowered = page.lower()
    if "redirect_uri" in lowered:
        what = f"redirect_uri {redirect_uri} is not registered for client {client_id!r}"
    elif "client" in lowered:
        what = f"client_id {client_id!r} is not registered"
    else:
        what = f"HTTP 400: {page or 'no reason given'}"
    raise ConfigError(
        f"{server_name(endpoints)} refuses this login: {what}",
        hint="set client_id and redirect_uri in the config to a client the emulator knows "
        "(`qbsync emulator serve` lists them when it starts; `qbsync init --force` rewrites "
        "the config), or register them in the emulator's --seed file",
    )


def _error_page_text(html_text: str) -> str:
    """The reason an HTML error page gives (its <p>, else its text), short and on one line."""
    match = re.search(r"<p>(.*?)</p>", html_text, re.S | re.I)
    text = match.group(1) if match else html_text
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
    return text[:200]


def _check_discovery(endpoints: Endpoints, resp: requests.Response) -> None:
    base = emulator_base(endpoints)
    body: object = None
    with contextlib.suppress(ValueError):
        body = resp.json()
    if resp.status_code != 200 or not isinstance(body, dict) or "token_endpoint" not in body:
        raise QboUnavailableError(
            f"{base} answers, but not as a QBO emulator (HTTP {resp.status_code} for "
            f"{DISCOVERY_PATH})",
            hint="check `environment` in the config: it must be the emulator's base URL, "
            "as printed by `qbsync emulator serve`",
        )


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    redirect_uri: str


def build_authorization_url(
    endpoints: Endpoints, client_id: str, redirect_uri: str, scopes: Sequence[str]
) -> AuthorizationRequest:
    """The URL the operator opens; ``state`` is random and checked on the way back (CSRF)."""
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


# --- token endpoint -------------------------------------------------------------------------


def _token_post(
    endpoints: Endpoints,
    client: tuple[str, str],
    form: dict[str, str],
    *,
    http: requests.Session | None,
    timeout: float,
    what: str,
    refused: Callable[[str, int], QbsyncError],
) -> dict[str, Any]:
    """POST to the token endpoint once (never retried: a code or a rotated token must not be
    sent twice). Returns the JSON body on 200; an OAuth error answer (``{"error": ...}``)
    becomes ``refused(error, status)``; anything else is invalid_client or unavailable."""
    headers = {"Accept": "application/json", **HARD_EXPIRY_HEADER}
    resp = _post_once(
        http,
        endpoints.token_url,
        client,
        endpoint="token",
        what=what,
        endpoints=endpoints,
        timeout=timeout,
        headers=headers,
        data=form,
    )
    body: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        parsed = resp.json()
        if isinstance(parsed, dict):
            body = parsed
    if resp.status_code == 200 and body.get("access_token"):
        return body
    error = body.get("error")
    who = endpoint_name(endpoints, "token")
    if error == "invalid_client" or resp.status_code == 401:
        raise _credentials_refused(endpoints, f"during {what} ({error or 'HTTP 401'})", client[0])
    if resp.status_code >= 500:
        raise QboUnavailableError(
            f"{who} failed during {what} (HTTP {resp.status_code}"
            + (f", {error})" if isinstance(error, str) and error else ")"),
            hint="the sign-in service is failing; the stored tokens are unchanged: try again later",
        )
    if not isinstance(error, str) or not error:
        # Not an OAuth error at all (an HTML maintenance or proxy page, a 200 without tokens):
        # nothing says the grant is bad, so "run qbsync auth" would be the wrong advice; the
        # stored tokens stay as they are and the next run tries again.
        raise QboUnavailableError(
            f"{who} gave an unexpected answer during {what} "
            f"(HTTP {resp.status_code}, {_content_type(resp)})",
            hint="try again later; if it persists, check `environment` in the config and the "
            "network (a proxy or captive portal?)",
        )
    raise refused(error, resp.status_code)


def secret_origin() -> str:
    """Where the client secret in use came from (same precedence as resolve_client_secret)."""
    if os.environ.get(CLIENT_SECRET_ENV, "").strip():
        return f"the secret came from {CLIENT_SECRET_ENV}, which overrides the stored one"
    return "the secret is the stored one"


def _credentials_refused(endpoints: Endpoints, when: str, client_id: str) -> ConfigError:
    from_env = bool(os.environ.get(CLIENT_SECRET_ENV, "").strip())
    other = (
        ", or they belong to the other environment (sandbox vs production)"
        if endpoints.is_intuit
        else ""
    )
    return ConfigError(
        f"{server_name(endpoints)} refused the app's credentials {when}: client_id "
        f"{client_id!r} or the client secret is wrong ({secret_origin()}){other}",
        hint=ENV_SECRET_HINT if from_env else REINIT_HINT,
    )


def _content_type(resp: requests.Response) -> str:
    return (resp.headers.get("Content-Type") or "no content type").split(";")[0].strip()


def _post_once(
    http: requests.Session | None,
    url: str,
    client: tuple[str, str],
    *,
    endpoint: str,
    what: str,
    timeout: float,
    endpoints: Endpoints | None = None,
    **kwargs: Any,
) -> requests.Response:
    """POST to an Intuit OAuth endpoint once, never following a redirect.

    requests follows redirects by default and re-sends the body on a 307/308 (only the
    Authorization header is dropped for another host), so a redirect would carry the code or
    refresh token to wherever it points, possibly over plain HTTP. Intuit's token and revoke
    endpoints do not redirect: a 3xx is refused as an unexpected answer.
    """
    who = endpoint_name(endpoints, endpoint)
    hint = unreachable_hint(endpoints) if endpoints is not None else None
    sender = http or requests.Session()
    try:
        resp = sender.post(
            url,
            auth=HTTPBasicAuth(*client),
            timeout=timeout,
            allow_redirects=False,
            **kwargs,
        )
    except requests.RequestException as exc:
        raise QboUnavailableError(
            f"could not reach {who} for {what} ({type(exc).__name__})",
            hint=hint,
        ) from None
    finally:
        if http is None:
            sender.close()
    if resp.is_redirect:
        raise QboUnavailableError(
            f"{who} answered {what} with a redirect (HTTP {resp.status_code}); "
            "not followed, so no code or token was sent on",
            hint="check `environment` in the config (it must point at Intuit or a local "
            "emulator), then try again",
        )
    return resp


def token_set_from_response(
    body: dict[str, Any],
    *,
    realm_id: str,
    now: datetime,
    previous: TokenSet | None = None,
) -> TokenSet:
    """Turn a token endpoint response into a TokenSet (expiry times are absolute, aware UTC).

    A refresh response may omit the hard expiry: the previous one still holds then.
    """
    access = str(body["access_token"])
    refresh = str(body.get("refresh_token") or (previous.refresh_token if previous else ""))
    if not refresh:
        raise AuthError("Intuit's token response carries no refresh token")
    register_secret(access)
    register_secret(refresh)
    access_ttl = _seconds(body.get("expires_in"), DEFAULT_ACCESS_TTL)
    refresh_ttl = _seconds(body.get("x_refresh_token_expires_in"), DEFAULT_REFRESH_TTL)
    hard_ttl = body.get("x_refresh_token_hard_expires_in")
    hard: datetime | None
    if hard_ttl is not None:
        hard = now + timedelta(seconds=_seconds(hard_ttl, 0))
    else:
        hard = previous.refresh_hard_expires_at if previous else None
    refresh_expires = now + timedelta(seconds=refresh_ttl)
    if hard is not None and refresh_expires > hard:
        refresh_expires = hard
    return TokenSet(
        realm_id=realm_id,
        access_token=access,
        refresh_token=refresh,
        access_expires_at=now + timedelta(seconds=access_ttl),
        refresh_expires_at=refresh_expires,
        refresh_hard_expires_at=hard,
        obtained_at=now,
    )


def _seconds(value: object, default: int) -> int:
    try:
        return int(float(str(value))) if value is not None else default
    except ValueError:
        return default


def utcnow() -> datetime:
    return datetime.now(UTC)


def _code_refused(error: str, status: int) -> QbsyncError:
    if error == "invalid_grant":
        return OAuthFlowError(
            "Intuit refused the authorization code (invalid_grant): it expired, was already "
            "used, or the redirect URI differs from the one registered for the app",
            hint="run `qbsync auth` again and finish within a few minutes",
        )
    return OAuthFlowError(
        f"the code exchange failed ({error}, HTTP {status})",
        hint="check the app's redirect URI and scopes, then run `qbsync auth` again",
    )


def _refresh_refused(error: str, status: int) -> QbsyncError:
    if error == "invalid_grant":
        return AuthError(
            "Intuit refused the stored refresh token (invalid_grant): the connection was "
            "revoked or disconnected, or the token expired"
        )  # the next step, `qbsync auth`, is AuthError's hint: said once
    return AuthError(f"the token refresh failed ({error}, HTTP {status})")


def exchange_code(
    endpoints: Endpoints,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    callback: Callback,
    *,
    http: requests.Session | None = None,
    now: datetime | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> TokenSet:
    """Exchange an authorization code for tokens, exactly once (reusing a code can make Intuit
    revoke the tokens it issued for it)."""
    form = {
        "grant_type": "authorization_code",
        "code": callback.code,
        "redirect_uri": redirect_uri,  # must repeat the authorize request's redirect_uri
    }
    body = _token_post(
        endpoints, (client_id, client_secret), form,
        http=http, timeout=timeout, what="the code exchange", refused=_code_refused,
    )  # fmt: skip
    return token_set_from_response(body, realm_id=callback.realm_id, now=now or utcnow())


def refresh_tokens(
    endpoints: Endpoints,
    client_id: str,
    client_secret: str,
    current: TokenSet,
    *,
    http: requests.Session | None = None,
    now: datetime | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> TokenSet:
    """Use ``current.refresh_token`` once; the caller must save the result before using it."""
    form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
    body = _token_post(
        endpoints, (client_id, client_secret), form,
        http=http, timeout=timeout, what="the token refresh", refused=_refresh_refused,
    )  # fmt: skip
    return token_set_from_response(
        body, realm_id=current.realm_id, now=now or utcnow(), previous=current
    )


def revoke(
    endpoints: Endpoints,
    client_id: str,
    client_secret: str,
    token: str,
    *,
    http: requests.Session | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> None:
    """Revoke a refresh (or access) token at Intuit: POST JSON ``{"token": ...}`` + Basic auth."""
    resp = _post_once(
        http,
        endpoints.revoke_url,
        (client_id, client_secret),
        endpoint="revoke",
        what="the revoke",
        endpoints=endpoints,
        timeout=timeout,
        json={"token": token},
        headers={"Accept": "application/json"},
    )
    if resp.status_code == 200:
        return
    if resp.status_code == 401:
        raise _credentials_refused(endpoints, "at revoke", client_id)
    if resp.status_code >= 500:
        raise QboUnavailableError(
            f"{endpoint_name(endpoints, 'revoke')} failed (HTTP {resp.status_code})",
            hint="try again later",
        )
    # 400: Intuit treats an unknown/already revoked token as an error; nothing left to revoke.
    log.info("revoke answered HTTP %s; treating the token as already revoked", resp.status_code)
