"""Where Intuit's endpoints are for each `environment` setting.

`environment` is ``sandbox``, ``production``, or the base URL of a QBO emulator
(``http://127.0.0.1:4116``). The emulator serves every endpoint under one base URL, at the same
paths Intuit uses on its several hosts, so only the host part changes.

Intuit's endpoints come from its OpenID discovery documents (see docs/qbo-facts.md):
authorization ``https://appcenter.intuit.com/connect/oauth2``, token
``https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer``, revoke
``https://developer.api.intuit.com/v2/oauth2/tokens/revoke``; API bases
``https://sandbox-quickbooks.api.intuit.com/v3`` and ``https://quickbooks.api.intuit.com/v3``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from qbsync.errors import ConfigError
from qbsync.hosts import is_loopback_host

AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/v2/oauth2/tokens/revoke"
API_PATH = "/v3"

INTUIT_AUTHORIZE_URL = "https://appcenter.intuit.com" + AUTHORIZE_PATH
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com" + TOKEN_PATH
INTUIT_REVOKE_URL = "https://developer.api.intuit.com" + REVOKE_PATH
SANDBOX_API_BASE = "https://sandbox-quickbooks.api.intuit.com" + API_PATH
PRODUCTION_API_BASE = "https://quickbooks.api.intuit.com" + API_PATH


@dataclass(frozen=True)
class Endpoints:
    name: str  # "sandbox", "production" or "emulator"
    authorize_url: str
    token_url: str
    revoke_url: str
    api_base: str  # ends in /v3; entities live under {api_base}/company/{realm}/...
    loopback: bool  # True only for an emulator on a loopback address (plain HTTP allowed)

    @property
    def is_intuit(self) -> bool:
        return self.name in ("sandbox", "production")


def emulator_url_extra(url: str) -> bool:
    """True when an emulator URL has more than scheme://host:port (a path, query or fragment):
    the endpoints' paths (`/v3`, `/oauth2/...`) are added to the base, so `.../v3` would give
    `.../v3/v3`."""
    parts = urlsplit(url.strip())
    return parts.path not in ("", "/") or bool(parts.query or parts.fragment)


def emulator_url_base(url: str) -> str:
    """``scheme://host:port`` of ``url``: what an emulator environment should be."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}"


def endpoints_for(environment: str) -> Endpoints:
    """Resolve an `environment` setting; raise ConfigError naming what is expected."""
    env = environment.strip()
    if env == "sandbox":
        return Endpoints(
            "sandbox", INTUIT_AUTHORIZE_URL, INTUIT_TOKEN_URL, INTUIT_REVOKE_URL,
            SANDBOX_API_BASE, False,
        )  # fmt: skip
    if env == "production":
        return Endpoints(
            "production", INTUIT_AUTHORIZE_URL, INTUIT_TOKEN_URL, INTUIT_REVOKE_URL,
            PRODUCTION_API_BASE, False,
        )  # fmt: skip
    parts = urlsplit(env)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"environment {environment!r} is not 'sandbox', 'production' or an emulator base URL "
            "such as 'http://127.0.0.1:4116'"
        )
    if emulator_url_extra(env):
        raise ConfigError(
            f"environment {environment!r}: expected the emulator's base URL without a path, "
            f"e.g. {emulator_url_base(env)}"
        )
    loopback = is_loopback_host(parts.hostname)
    if parts.scheme == "http" and not loopback:
        raise ConfigError(
            f"environment {environment!r}: plain http is allowed only for a loopback emulator "
            "(127.0.0.1, localhost, [::1]); use https for any other host"
        )
    base = env.rstrip("/")
    return Endpoints(
        "emulator", base + AUTHORIZE_PATH, base + TOKEN_PATH, base + REVOKE_PATH,
        base + API_PATH, loopback,
    )  # fmt: skip
