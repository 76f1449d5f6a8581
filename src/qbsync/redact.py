"""Scrub secrets out of text before it is printed or logged.

Known secret values (the client secret and tokens currently in use) are registered with
``register_secret`` as soon as they are read; ``redact`` replaces each with ``***``. Values that
look like bearer tokens or OAuth fields in a query string or JSON body are masked too.
"""

from __future__ import annotations

import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|code|token)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\"'&\s,}]+"
    ),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
]


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` masks it wherever it shows up."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class RedactingFilter:
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: object) -> bool:
        import logging

        if isinstance(record, logging.LogRecord):
            record.msg = redact(record.getMessage())
            record.args = None
        return True
