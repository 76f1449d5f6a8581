"""The OAuth emulator's vocabulary: scopes, lifetimes, clients, codes, grants and replies.

Kept apart from ``oauth.py`` (the server's logic) so each reads in one sitting. Where the numbers
come from is told in ``oauth.py``'s docstring.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
PAYMENT_SCOPE = "com.intuit.quickbooks.payment"
KNOWN_SCOPES = frozenset(
    {ACCOUNTING_SCOPE, PAYMENT_SCOPE, "openid", "profile", "email", "phone", "address"}
)
REFRESH_TOKEN_TTL = 8_726_400
HARD_LIFETIME = 5 * 365 * 86_400
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    deny: bool = False

    def __repr__(self) -> str:  # the secret never shows up in a test failure or a log
        return f"OAuthClient(client_id={self.client_id!r}, redirect_uris={self.redirect_uris!r})"


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    realm_id: str
    expires_at: float
    used: bool = False
    grant_id: str | None = None


@dataclass
class Grant:
    """One user consent: the access and refresh tokens issued from it, and whether it is revoked."""

    grant_id: str
    client_id: str
    realm_id: str
    scopes: tuple[str, ...]
    started_at: float
    hard_expires_at: float
    refresh_token: str = ""
    refresh_expires_at: float = 0.0
    previous_refresh: dict[str, float] = field(default_factory=dict)  # old token -> usable until
    access: dict[str, float] = field(default_factory=dict)  # access token -> expires at
    rotations: int = 0
    revoked: bool = False


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthorizeOutcome:
    """Either a redirect (``location``) or an error page (``status`` 400 and ``message``)."""

    status: int
    location: str | None = None
    message: str = ""


@dataclass(frozen=True)
class AccessCheck:
    reason: str  # "ok", "missing", "malformed", "unknown", "expired", "revoked"
    grant: Grant | None = None


def error_reply(status: int, error: str, description: str | None = None) -> Reply:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return Reply(status, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """``Basic base64(id:secret)``; RFC 6749 2.3.1 form-encodes both parts before base64."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if ":" not in decoded:
        return None
    client_id, client_secret = decoded.split(":", 1)
    return unquote_plus(client_id), unquote_plus(client_secret)


def export_grants(
    clients: dict[str, OAuthClient], codes: dict[str, Code], grants: dict[str, Grant]
) -> dict[str, Any]:
    """Plain JSON-able data for a restart (persist.py); secrets included: write it 0600."""
    return {
        "clients": [asdict(c) for c in clients.values()],
        "codes": {value: asdict(code) for value, code in codes.items()},
        "grants": {gid: asdict(grant) for gid, grant in grants.items()},
    }


def import_grants(
    state: dict[str, Any],
) -> tuple[dict[str, OAuthClient], dict[str, Code], dict[str, Grant]]:
    """The inverse of ``export_grants`` (KeyError/TypeError/ValueError when malformed)."""
    clients = {}
    for raw in state["clients"]:
        client = OAuthClient(**{**raw, "redirect_uris": tuple(raw["redirect_uris"])})
        clients[client.client_id] = client
    codes = {
        value: Code(**{**raw, "scopes": tuple(raw["scopes"])})
        for value, raw in state["codes"].items()
    }
    grants = {
        gid: Grant(**{**raw, "scopes": tuple(raw["scopes"])})
        for gid, raw in state["grants"].items()
    }
    return clients, codes, grants
