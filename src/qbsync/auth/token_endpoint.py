"""Intuit's token and revoke endpoints: code exchange, refresh, revoke, and the TokenSet a token
response becomes.

Token requests are made with plain ``requests`` + HTTP Basic client auth rather than
requests-oauthlib's ``fetch_token``: Intuit accepts ``client_secret_basic`` (its discovery document
lists it; see docs/qbo-facts.md), we need the extra ``x_refresh_token_*`` fields of the
response, and this way oauthlib's https-only check never has to be switched off for the emulator.
Intuit's own client (intuit/oauth-pythonclient ``intuitlib/client.py``) does the same: a form POST
with a Basic header for ``authorization_code`` and ``refresh_token`` grants, and a JSON body
``{"token": ...}`` with a Basic header for revoke.

Nothing here logs or raises with a token, code or secret in the text.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
from requests.auth import HTTPBasicAuth

from qbsync.auth.credentials import CLIENT_SECRET_ENV, TokenSet
from qbsync.auth.probe import endpoint_name, server_name, unreachable_hint
from qbsync.config.endpoints import Endpoints
from qbsync.errors import AuthError, ConfigError, OAuthFlowError, QboUnavailableError, QbsyncError
from qbsync.redact import register_secret

if TYPE_CHECKING:
    from qbsync.auth.oauth import Callback

log = logging.getLogger("qbsync.auth.oauth")  # the name it had before the split (log filters)

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


def _token_post(
    endpoints: Endpoints,
    client: tuple[str, str],
    form: dict[str, str],
    *,
    http: requests.Session | None,
    timeout: float,
    what: str,
    refused: Callable[[Endpoints, str, int], QbsyncError],
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
    raise refused(endpoints, error, resp.status_code)


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
    except requests.ReadTimeout:
        # The server took the request and did not answer: it runs, so "is it running?" or
        # "start it" would be the wrong next step.
        raise QboUnavailableError(
            f"{who} did not answer {what} within {timeout:g} s",
            hint="try again later; nothing was changed on this side",
        ) from None
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
        raise AuthError("the token response carries no refresh token")
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


def _code_refused(endpoints: Endpoints, error: str, status: int) -> QbsyncError:
    if error == "invalid_grant":
        return OAuthFlowError(
            f"{_capital(server_name(endpoints))} refused the authorization code (invalid_grant): "
            "it expired, was already "
            "used, or the redirect URI differs from the one registered for the app",
            hint="run `qbsync auth` again and finish within a few minutes",
        )
    return OAuthFlowError(
        f"the code exchange failed ({error}, HTTP {status})",
        hint="check the app's redirect URI and scopes, then run `qbsync auth` again",
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _refresh_refused(endpoints: Endpoints, error: str, status: int) -> QbsyncError:
    if error == "invalid_grant":
        return AuthError(
            f"{_capital(server_name(endpoints))} refused the stored refresh token (invalid_grant): "
            "the connection was "
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
