"""Who answers OAuth requests (Intuit, or the emulator at its URL) for messages and next steps,
and the emulator probe: fail fast when an emulator environment cannot complete a login."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit

import requests

from qbsync.config.checks import DEFAULT_SCOPES
from qbsync.config.endpoints import API_PATH, Endpoints
from qbsync.errors import ConfigError, QboUnavailableError

DISCOVERY_PATH = "/.well-known/openid_configuration"
PROBE_TIMEOUT = 3.0


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


def emulator_answers(endpoints: Endpoints, *, timeout: float = 1.0) -> bool:
    """Whether an emulator environment's discovery document answers (it is running)."""
    try:
        resp = requests.get(
            emulator_base(endpoints) + DISCOVERY_PATH, timeout=timeout, allow_redirects=False
        )
    except requests.RequestException:
        return False
    return resp.status_code == 200


def unavailable_hint(endpoints: Endpoints, error: QboUnavailableError) -> str | None:
    """The next step after QBO failed or could not be reached (None: the error's own hint).

    "Is the emulator running? Start it" is right only when nothing answers: a 500 or a request
    that hung came from a running server, and starting another one would not help.
    """
    if endpoints.is_intuit:
        return None if error.status is not None else unreachable_hint(endpoints)
    if error.status is not None or emulator_answers(endpoints):
        return (
            f"{server_name(endpoints)} is running but failed this request; try again (check "
            "the faults injected into it, if any)"
        )
    return unreachable_hint(endpoints)


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
