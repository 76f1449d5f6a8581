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
# What a token looks like when it follows a bare `key: ` (in prose the next word follows): long,
# no spaces, only the characters of OAuth tokens and base64.
_TOKENISH = r"(?=[A-Za-z0-9._~+/=-]{16,})"
_SECRET_KEYS = r"(?:access_token|refresh_token|client_secret|id_token|token)"
# `code` is an authorization code; but not `errorCode=003200` / `statusCode=401` or a QBO error
# code ("code": "6240"), which people need to read.
_CODE_KEY = r"(?<![A-Za-z0-9])code"
_NOT_A_NUMBER = r"(?![0-9]+(?:[\"'&\s,};]|$))"


def _key_value_patterns(key: str, guard: str = "") -> list[re.Pattern[str]]:
    """``key`` with a value that looks like data, not like a sentence about ``key``."""
    return [
        # key=value (query strings, form bodies, reprs), key = "value" / key: 'value' (quoted)
        re.compile(rf"(?i)({key}\s*=\s*[\"']?){guard}" + _VALUE),
        re.compile(rf"(?i)({key}\s*:\s*[\"']){guard}" + _VALUE),
        # "key": value (JSON, Python dicts): the key itself is quoted
        re.compile(rf"(?i)([\"'][A-Za-z0-9_]*{key}[\"']\s*:\s*[\"']?){guard}" + _VALUE),
        # key: value, only when the value looks like a token ("token: expired" stays readable)
        re.compile(rf"(?i)({key}\s*:\s*){guard}{_TOKENISH}" + _VALUE),
    ]


_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+"),
    *_key_value_patterns(_SECRET_KEYS),
    *_key_value_patterns(_CODE_KEY, _NOT_A_NUMBER),
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
