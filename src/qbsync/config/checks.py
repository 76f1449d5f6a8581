"""Validation of config values: every problem names the file, the `[table] key` and what was
expected. The known keys and defaults live here; `config.py` re-exports them."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qbsync.config.endpoints import (
    emulator_url_base,
    emulator_url_extra,
    endpoints_for,
)
from qbsync.config.hints import init_command_line
from qbsync.errors import ConfigError
from qbsync.hosts import is_loopback_host
from qbsync.paths import DEFAULT_PROFILE

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
PAYMENT_SCOPE = "com.intuit.quickbooks.payment"
KNOWN_SCOPES = (ACCOUNTING_SCOPE, PAYMENT_SCOPE, "openid", "profile", "email", "phone", "address")
DEFAULT_SCOPES = (ACCOUNTING_SCOPE, PAYMENT_SCOPE)
DEFAULT_ENVIRONMENT = "sandbox"
DEFAULT_REDIRECT_URI = "http://localhost:8765/callback"
DEFAULT_MINOR_VERSION = 75  # 1-74 were retired on 2025-08-01 (docs/qbo-facts.md)
# Each whole QBO request, headers and body. QBO itself gives up on a request after 120 s
# (qbo-facts.md "Limits"): a shorter bound would cut answers QBO is still working on.
DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_EXPORT_DAYS = (5, 10, 15, 20, 25, 30)
TOKEN_STORES = ("auto", "keyring", "file")
SOURCE_TYPES = ("csv", "http")
ENVIRONMENT_ENV = "QBSYNC_ENVIRONMENT"

DEFAULT_BATCH_SIZE = 30  # QBO's recommended maximum per batch request (qbo-facts.md "Batch")
# Intuit's limits page (qbo-facts.md "Batch"): 40 batch requests a minute per realm and app (one
# app: qbsync), 120 per realm across all apps. The default keeps one in hand (qbo/pacing.py).
APP_BATCH_PER_MINUTE = 40
REALM_BATCH_PER_MINUTE = 120
DEFAULT_BATCH_PER_MINUTE = APP_BATCH_PER_MINUTE - 1
DEFAULT_DISPLAY_NAME = "{first_name} {last_name}"
DOC_NUMBER_MODES = ("auto", "source", "qbo")
UNMAPPED_ITEM_MODES = ("fail", "default")
ONLINE_PAYMENTS = ("card", "ach")
ON_CHANGE_MODES = ("report", "update")  # an exported invoice edited at the platform
NEGATIVE_MODES = ("refuse", "credit_memo")  # an invoice with a negative total
RECORDED_IN = ("qbo", "platform")  # which system takes (records) payments: one owner

# Keys of each table. A key whose value is itself a table (`[source.<name>]`, `[export.items]`)
# is listed too; `check.known_keys` leaves the inside of those to the code that reads them.
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "qbo": (
        "environment", "client_id", "redirect_uri", "scopes", "minor_version", "timeout_seconds",
        "batch_size", "batch_per_minute",
    ),
    "tokens": ("store",),
    "source": ("type", "members", "invoices", "base_url", "token_env", "timeout_seconds"),
    "members": ("create_missing", "reactivate_inactive", "update_display_name", "display_name"),
    "export": (
        "days", "month_end", "timezone", "statuses", "doc_number", "default_item",
        "unmapped_items", "default_tax_code", "online_payment", "items", "tax_codes",
        "enabled_at", "on_change", "negative",
    ),
    "pull": ("sink", "events_csv", "timeout_seconds", "retries", "backoff_seconds", "options",
             "base_url", "token_env"),
    "payments": ("recorded_in", "deposit_account", "methods"),
}  # fmt: skip
# Tables under a table: their keys are free-form (item codes, a plugin's own options).
SUBTABLES: dict[str, tuple[str, ...]] = {
    "export": ("items", "tax_codes"),
    "payments": ("methods",),
}

# Key names that hold secrets in other tools' configs. `token_env` (the NAME of a variable) and
# `[tokens] store` are ours and safe; anything else named like a token or secret is refused.
_SECRET_NAMES = {
    "client_secret", "secret", "password", "passwd", "access_token", "refresh_token", "token",
    "api_key", "apikey", "auth_code", "code",
}  # fmt: skip
_SAFE_NAMES = {"token_env", "store"}
_SECRET_SUFFIXES = ("_secret", "_password", "_token", "_api_key")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def redirect_uri_problem(uri: str, environment: str) -> str | None:
    """What is wrong with ``uri`` as the redirect URI for ``environment`` (None if fine)."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"expected an http(s) URL such as {DEFAULT_REDIRECT_URI}"
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number 0-65535
    except ValueError:
        return "expected a valid port number after the host"
    if parts.fragment:
        return "expected a URL without a #fragment"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return "plain http is allowed only for localhost, 127.0.0.1 or [::1]; use https for any other host"
    if environment == "production" and (parts.scheme != "https" or _is_ip(parts.hostname)):
        # Intuit's "set redirect URI" page: production keys need HTTPS and no IP address.
        return (
            "Intuit production keys accept only an https redirect URI with a host name (no IP "
            "address); register one in your Intuit app (e.g. the OAuth 2.0 Playground redirect) "
            "and paste the address the browser lands on during `qbsync auth`"
        )
    return None


def environment_problem(value: str) -> str | None:
    """What is wrong with ``value`` as the `[qbo] environment` setting (None if fine)."""
    env = value.strip()
    if env in ("sandbox", "production"):
        return None
    parts = urlsplit(env)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return (
            f"got {value!r}; expected sandbox, production or an emulator base URL such as "
            "http://127.0.0.1:4116"
        )
    if emulator_url_extra(env):
        return (
            f"got {value!r}; expected the emulator's base URL without a path, e.g. "
            f"{emulator_url_base(env)}"
        )
    try:
        endpoints_for(env)
    except ConfigError:
        return (
            f"got {value!r}: plain http is allowed only for a loopback emulator (127.0.0.1, "
            "localhost, [::1]); expected https for any other host"
        )
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_secret_key(name: str) -> bool:
    key = name.lower().replace("-", "_")
    if key in _SAFE_NAMES:
        return False
    return key in _SECRET_NAMES or key.endswith(_SECRET_SUFFIXES)


class Checker:
    """Validation helpers; every message starts with the file and the `[table] key`."""

    def __init__(self, path: Path, profile: str = DEFAULT_PROFILE) -> None:
        self.path = path
        self.profile = profile

    @property
    def hint(self) -> str:
        return (
            f"edit {self.path} (or write it again with `{init_command_line(self.path, self.profile)} "
            "--force`, which keeps the values that are still valid)"
        )

    def fail(self, table: str, key: str | None, expectation: str) -> ConfigError:
        where = f"[{table}] {key}" if key else f"[{table}]"
        return ConfigError(f"{self.path}: {where}: {expectation}", hint=self.hint)

    def no_secrets(self, node: Any, trail: tuple[str, ...] = ()) -> None:
        if isinstance(node, list):
            for item in node:
                self.no_secrets(item, trail)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if isinstance(value, dict | list):
                self.no_secrets(value, (*trail, key))
            elif is_secret_key(key):
                where = f"[{'.'.join(trail)}] {key}" if trail else key
                raise ConfigError(
                    f"{self.path}: {where}: the config file must not hold secrets; "
                    + _secret_advice(key, trail),
                    hint=f"remove {key} from {self.path} (and rotate it if the file was shared)",
                )

    def known_keys(self, doc: dict[str, Any]) -> None:
        for table, body in doc.items():
            if table not in KNOWN_KEYS:
                raise ConfigError(
                    f"{self.path}: {table!r}: unknown table or key; known tables: "
                    + ", ".join(f"[{name}]" for name in KNOWN_KEYS),
                    hint=self.hint,
                )
            if not isinstance(body, dict):
                raise self.fail(table, None, "expected a table (a [section]), not a value")
            for key, value in body.items():
                if table == "source" and isinstance(value, dict):
                    continue  # [source.<name>]: that source's own options, checked by it
                if key not in KNOWN_KEYS[table]:
                    raise self.fail(
                        table, key, "unknown key; known keys: " + ", ".join(KNOWN_KEYS[table])
                    )

    def table(self, doc: dict[str, Any], name: str, *, required: bool) -> dict[str, Any]:
        if name not in doc:
            if required:
                raise self.fail(name, None, "missing table; this table is required")
            return {}
        value: dict[str, Any] = doc[name]
        return value

    def string(self, body: dict[str, Any], table: str, key: str, *, default: str | None) -> str:
        if key not in body:
            if default is None:
                raise self.fail(table, key, "missing; this key is required")
            return default
        value = body[key]
        if not isinstance(value, str):
            raise self.fail(table, key, f"expected a string, got {_type_name(value)}")
        if not value.strip():
            raise self.fail(table, key, "expected a non-empty string")
        return value.strip()

    def optional_string(self, body: dict[str, Any], table: str, key: str) -> str | None:
        return self.string(body, table, key, default=None) if key in body else None

    def environment(self, value: str) -> None:
        problem = environment_problem(value)
        if problem:
            raise self.fail("qbo", "environment", problem)

    def choice(self, value: str, table: str, key: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            raise self.fail(table, key, f"expected one of {', '.join(allowed)}; got {value!r}")

    def integer(self, body: dict[str, Any], table: str, key: str, default: int, *, low: int) -> int:
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(table, key, f"expected an integer, got {_type_name(value)}")
        if value < low:
            raise self.fail(table, key, f"expected an integer >= {low}, got {value}")
        return value

    def number(self, body: dict[str, Any], table: str, key: str, default: float) -> float:
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(table, key, f"expected a number of seconds, got {_type_name(value)}")
        if not 0 < value <= 600:
            raise self.fail(table, key, f"expected a number of seconds in (0, 600], got {value}")
        return float(value)

    def client_id(self, qbo: dict[str, Any]) -> str:
        value = self.string(qbo, "qbo", "client_id", default=None)
        if any(ch.isspace() for ch in value):
            raise self.fail(
                "qbo", "client_id", "expected your Intuit app's client ID without spaces"
            )
        return value

    def redirect_uri(self, uri: str, environment: str) -> None:
        problem = redirect_uri_problem(uri, environment)
        if problem:
            raise self.fail("qbo", "redirect_uri", problem)

    def scopes(self, qbo: dict[str, Any]) -> tuple[str, ...]:
        value = qbo.get("scopes", list(DEFAULT_SCOPES))
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail("qbo", "scopes", "expected a list of strings")
        if not value:
            raise self.fail(
                "qbo", "scopes", f"expected at least one scope, e.g. [{ACCOUNTING_SCOPE!r}]"
            )
        unknown = [item for item in value if item not in KNOWN_SCOPES]
        if unknown:
            raise self.fail(
                "qbo",
                "scopes",
                f"unknown scope {unknown[0]!r}; known scopes: {', '.join(KNOWN_SCOPES)}",
            )
        return tuple(dict.fromkeys(value))  # drop repeats, keep order

    def days(self, export: dict[str, Any]) -> tuple[int, ...]:
        value = export.get("days", list(DEFAULT_EXPORT_DAYS))
        expected = "expected a non-empty list of days of the month, 1 to 31"
        if not isinstance(value, list) or not value:
            got = "an empty list" if value == [] else _type_name(value)
            raise self.fail("export", "days", f"{expected}, got {got}")
        bad = [
            day
            for day in value
            if not (isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 31)
        ]
        if bad:  # name every value that is not a day, so one edit fixes them all
            shown = ", ".join(_shown(day) for day in bad)
            raise self.fail("export", "days", f"{expected}; not a day: {shown}")
        return tuple(sorted(set(value)))

    def boolean(self, body: dict[str, Any], table: str, key: str, default: bool) -> bool:
        value = body.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(table, key, f"expected true or false, got {_type_name(value)}")
        return value

    def strings(
        self, body: dict[str, Any], table: str, key: str, default: tuple[str, ...]
    ) -> tuple[str, ...]:
        value = body.get(key, list(default))
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            raise self.fail(table, key, "expected a list of non-empty strings")
        return tuple(dict.fromkeys(item.strip() for item in value))

    def mapping(self, body: dict[str, Any], table: str, key: str) -> dict[str, str]:
        """``[table.key]``: code = "QBO name" pairs (codes compared as written, trimmed)."""
        value = body.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(table, key, f'expected a table [{table}.{key}] of code = "name"')
        out: dict[str, str] = {}
        for code, name in value.items():
            if not isinstance(name, str) or not name.strip():
                raise self.fail(
                    f"{table}.{key}", code, "expected the QBO name as a non-empty string"
                )
            out[str(code).strip()] = name.strip()
        return out

    def moment(self, body: dict[str, Any], table: str, key: str) -> datetime | None:
        """An aware time: an ISO 8601 string with its offset, or a TOML offset date-time."""
        if key not in body:
            return None
        value = body[key]
        example = 'e.g. "2026-11-03T10:15:00+00:00"'
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise self.fail(
                    table,
                    key,
                    f"expected a date and time with its offset, {example}; got {value!r}",
                ) from None
        if not isinstance(value, datetime):
            raise self.fail(
                table,
                key,
                f"expected a date and time with its offset, {example}; got {_type_name(value)}",
            )
        if value.tzinfo is None or value.utcoffset() is None:
            raise self.fail(
                table, key, f"expected a date and time WITH its offset (+00:00 for UTC), {example}"
            )
        return value.astimezone(UTC)

    def not_for(self, body: dict[str, Any], kind: str, keys: tuple[str, ...]) -> None:
        for key in keys:
            if key in body:
                raise self.fail("source", key, f"not used with type = {kind!r}; remove it")

    def path_of(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent.absolute() / path


def _secret_advice(key: str, trail: tuple[str, ...]) -> str:
    """Where the secret that ``key`` looks like belongs instead (its value is never named)."""
    name = key.lower().replace("-", "_")
    if trail[:1] == ("source",) or name in ("api_key", "apikey") or name.endswith("_api_key"):
        return (
            "expected the membership platform's API token in an environment variable, with "
            "only that variable's NAME in the config as `[source] token_env`"
        )
    if name in ("password", "passwd") or name.endswith("_password"):
        return "qbsync needs no password; expected no such key"
    if name in ("client_secret", "secret") or name.endswith("_secret"):
        return (
            "expected the client secret in the credential store (`qbsync init` asks for it) or "
            "in the QBSYNC_CLIENT_SECRET environment variable"
        )
    return "QBO tokens are kept in the credential store by `qbsync auth`, never in the config"


def _shown(value: Any) -> str:
    """A config value as TOML writes it: 32, "5", true, 1.5 (a table or list by its type)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return _type_name(value)


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "a table"})
    return names.get(type(value), type(value).__name__)
