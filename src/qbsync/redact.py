"""Scrub secrets out of text before it is printed or logged.

Known secret values (the client secret and tokens currently in use, an authorization code) are
registered with ``register_secret`` as soon as they are read; ``redact`` replaces each with
``***``, also in its URL-encoded forms (a token in a query string or form body). Values that look
like bearer tokens or OAuth fields in a query string or JSON body are masked too, so a secret
that was never registered (another process's token, in an exception's URL) is still hidden.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

_lock = threading.Lock()
_secrets: set[str] = set()

# A value runs up to a quote, &, whitespace, comma, } or ; (none of which an OAuth token holds).
_VALUE = r"[^\"'&\s,};]+"
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|id_token|token)[\"']?\s*[:=]\s*[\"']?)"
        + _VALUE
    ),
    # `code=...` is an authorization code; but not `errorCode=003200` / `statusCode=401` or a
    # QBO error code ("code": "6240"), which people need to read.
    re.compile(
        r"(?i)((?<![A-Za-z0-9])code[\"']?\s*[:=]\s*[\"']?)(?![0-9]+(?:[\"'&\s,};]|$))" + _VALUE
    ),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
]


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` masks it wherever it shows up."""
    if value and len(value) >= 6:
        forms = {value, quote(value, safe=""), quote_plus(value)}
        with _lock:
            _secrets.update(forms)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record, including a traceback logged with ``exc_info``."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
