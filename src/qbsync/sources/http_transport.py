"""The http source's transport pieces: the bearer token, Retry-After, what counts as a failed
connection (http_source.py uses them; bounded.py bounds each request's body)."""

from __future__ import annotations

import os

import requests

from qbsync.errors import ConfigError
from qbsync.redact import register_secret

MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is cut to this
TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class BearerAuth(requests.auth.AuthBase):
    """Sets ``Authorization: Bearer ...``. Passed as ``auth=`` so requests never swaps in ~/.netrc."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


def bearer_token(variable: str) -> str:
    token = os.environ.get(variable, "").strip()
    if not token:
        raise ConfigError(
            f"the environment variable {variable} ([source] token_env) is not set or empty",
            hint=f"export {variable}=<the platform's API token> before running qbsync",
        )
    register_secret(token)
    return token


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by APIs we know; ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
