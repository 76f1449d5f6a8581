"""The TOML config file -> frozen, validated dataclasses; and writing one for `qbsync init`.

Every problem is a ``ConfigError`` that names the file, the key (``[qbo] client_id``) and what
was expected, because the operator reading it may be looking at a cron mail weeks later. The
config never holds a secret: a key that looks like one is refused (its value is never echoed).
Environment override: ``QBSYNC_ENVIRONMENT`` replaces ``[qbo] environment`` (CI against the
emulator without editing the file).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from qbsync.environments import (
    Endpoints,
    emulator_url_base,
    emulator_url_extra,
    endpoints_for,
    is_loopback_host,
)
from qbsync.errors import ConfigError, UsageError
from qbsync.files import atomic_write
from qbsync.paths import DEFAULT_PROFILE, config_path, is_profile_name, user_config_dir

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
PAYMENT_SCOPE = "com.intuit.quickbooks.payment"
KNOWN_SCOPES = (ACCOUNTING_SCOPE, PAYMENT_SCOPE, "openid", "profile", "email", "phone", "address")
DEFAULT_SCOPES = (ACCOUNTING_SCOPE, PAYMENT_SCOPE)
DEFAULT_ENVIRONMENT = "sandbox"
DEFAULT_REDIRECT_URI = "http://localhost:8765/callback"
DEFAULT_MINOR_VERSION = 75  # 1-74 were retired on 2025-08-01 (docs/qbo-facts.md)
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_EXPORT_DAYS = (5, 10, 15, 20, 25, 30)
TOKEN_STORES = ("auto", "keyring", "file")
SOURCE_TYPES = ("csv", "http")
ENVIRONMENT_ENV = "QBSYNC_ENVIRONMENT"

KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "qbo": (
        "environment", "client_id", "redirect_uri", "scopes", "minor_version", "timeout_seconds",
    ),
    "tokens": ("store",),
    "source": ("type", "members", "invoices", "base_url", "token_env"),
    "export": ("days",),
}  # fmt: skip

# Key names that hold secrets in other tools' configs. `token_env` (the NAME of a variable) and
# `[tokens] store` are ours and safe; anything else named like a token or secret is refused.
_SECRET_NAMES = {
    "client_secret", "secret", "password", "passwd", "access_token", "refresh_token", "token",
    "api_key", "apikey", "auth_code", "code",
}  # fmt: skip
_SAFE_NAMES = {"token_env", "store"}
_SECRET_SUFFIXES = ("_secret", "_password", "_token", "_api_key")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class QboConfig:
    environment: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    minor_version: int
    timeout_seconds: float

    @property
    def endpoints(self) -> Endpoints:
        return endpoints_for(self.environment)


@dataclass(frozen=True)
class SourceConfig:
    type: str
    members: Path | None
    invoices: Path | None
    base_url: str | None
    token_env: str | None


@dataclass(frozen=True)
class ExportConfig:
    days: tuple[int, ...]


@dataclass(frozen=True)
class Config:
    path: Path
    profile: str
    data_dir: Path
    qbo: QboConfig
    token_store: str
    source: SourceConfig
    export: ExportConfig

    @property
    def state_path(self) -> Path:
        return self.data_dir / "state.sqlite3"


def load_config(path: Path, *, profile: str, data_dir: Path) -> Config:
    """Read and validate ``path``; raise ``ConfigError`` naming file, key and expectation."""
    path = Path(path).expanduser()
    doc = _read_toml(path, profile)
    check = _Checker(path, profile)
    check.no_secrets(doc)
    check.known_keys(doc)

    qbo = check.table(doc, "qbo", required=True)
    environment = check.string(qbo, "qbo", "environment", default=DEFAULT_ENVIRONMENT)
    override = os.environ.get(ENVIRONMENT_ENV, "").strip()
    if override:
        problem = environment_problem(override)
        if problem:
            raise ConfigError(
                f"{path}: [qbo] environment (overridden by {ENVIRONMENT_ENV}): {problem}",
                hint=f"fix or unset {ENVIRONMENT_ENV}",
            )
        environment = override
    check.environment(environment)

    redirect_uri = check.string(qbo, "qbo", "redirect_uri", default=DEFAULT_REDIRECT_URI)
    check.redirect_uri(redirect_uri, environment.strip())
    qbo_config = QboConfig(
        environment=environment.strip(),
        client_id=check.client_id(qbo),
        redirect_uri=redirect_uri,
        scopes=check.scopes(qbo),
        minor_version=check.integer(qbo, "qbo", "minor_version", DEFAULT_MINOR_VERSION, low=75),
        timeout_seconds=check.number(qbo, "qbo", "timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
    )

    tokens = check.table(doc, "tokens", required=False)
    store = check.string(tokens, "tokens", "store", default="auto")
    check.choice(store, "tokens", "store", TOKEN_STORES)

    return Config(
        path=path,
        profile=profile,
        data_dir=Path(data_dir),
        qbo=qbo_config,
        token_store=store,
        source=check.source(check.table(doc, "source", required=True)),
        export=ExportConfig(days=check.days(check.table(doc, "export", required=False))),
    )


def write_config(path: Path, values: dict[str, Any], *, force: bool) -> None:
    """Write ``values`` as TOML to ``path`` atomically; refuse to overwrite unless ``force``."""
    path = Path(path).expanduser()
    _Checker(path).no_secrets(values)  # never let a secret reach the file, whoever calls us
    if path.exists() and not force:
        raise UsageError(f"config file {path} already exists", hint="pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    # TOML has no null and tomli-w raises TypeError on None (hukkin/tomli-w#39): a None value
    # means "not set", so it is left out. dumps() before writing: a failure never leaves half a file.
    try:
        data = tomli_w.dumps(_without_none(values)).encode("utf-8")
    except TypeError as exc:
        raise ConfigError(f"{path}: cannot write: {exc}") from None
    try:
        # 0o644: the config holds no secret, and other tools/editors may need to read it.
        atomic_write(path, data, mode=0o644, overwrite=force)
    except FileExistsError:  # created by someone else between our check and the link
        raise UsageError(
            f"config file {path} already exists", hint="pass --force to overwrite it"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot write: {exc.strerror or exc}",
            hint=f"check that you may write to {path.parent}",
        ) from None


def existing_values(path: Path) -> dict[str, Any]:
    """What an existing config file holds that is valid on its own, shaped as ``write_config``
    takes it: for `qbsync init --force`, which starts from the operator's values, not defaults.

    Tolerant: an unreadable file gives ``{}``, and each value that does not pass its own check
    (or that is named like a secret) is left out. csv paths are returned absolute.
    """
    path = Path(path).expanduser()
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    check = _Checker(path)
    out: dict[str, dict[str, Any]] = {"qbo": {}, "tokens": {}, "source": {}, "export": {}}

    def table(name: str) -> dict[str, Any]:
        body = doc.get(name)
        return body if isinstance(body, dict) else {}

    def keep(name: str, key: str, read: Any) -> None:
        if key in table(name) and not is_secret_key(key):
            with contextlib.suppress(ConfigError):
                out[name][key] = read()

    qbo, source = table("qbo"), table("source")
    keep("qbo", "environment", lambda: _valid_environment(check, qbo))
    keep("qbo", "client_id", lambda: check.client_id(qbo))
    keep("qbo", "redirect_uri", lambda: check.string(qbo, "qbo", "redirect_uri", default=None))
    keep("qbo", "scopes", lambda: list(check.scopes(qbo)))
    keep("qbo", "minor_version", lambda: check.integer(qbo, "qbo", "minor_version", 0, low=75))
    keep("qbo", "timeout_seconds", lambda: check.number(qbo, "qbo", "timeout_seconds", 60.0))
    keep("tokens", "store", lambda: _valid_choice(check, table("tokens"), "tokens", "store"))
    keep("source", "type", lambda: _valid_choice(check, source, "source", "type"))
    keep("source", "members", lambda: _valid_path(check, source, "members"))
    keep("source", "invoices", lambda: _valid_path(check, source, "invoices"))
    keep("source", "base_url", lambda: check.string(source, "source", "base_url", default=None))
    keep("source", "token_env", lambda: _valid_env_name(check, source))
    keep("export", "days", lambda: list(check.days(table("export"))))
    return {name: body for name, body in out.items() if body}


# Values that may be quoted in a note about a dropped value (none of them can hold a secret).
_SHOWN_KEYS = {
    ("qbo", "environment"), ("qbo", "scopes"), ("qbo", "minor_version"),
    ("qbo", "timeout_seconds"), ("tokens", "store"), ("source", "type"), ("export", "days"),
}  # fmt: skip


@dataclass(frozen=True)
class DroppedValue:
    """A value of an existing config that ``existing_values`` left out, and why.

    ``reason``: "secret" (named like one: never shown), "unknown" (not a key qbsync reads) or
    "invalid" (failed its check). ``shown``: the value as TOML-ish text, only for keys that
    cannot hold a secret; ``table`` is None for a key outside any table.
    """

    table: str | None
    key: str
    reason: str
    shown: str | None = None

    @property
    def where(self) -> str:
        return f"[{self.table}] {self.key}" if self.table else self.key


def dropped_values(path: Path) -> list[DroppedValue]:
    """What `qbsync init --force` would silently lose from ``path``: each key of the file that
    ``existing_values`` does not keep. An unreadable file gives ``[]``."""
    path = Path(path).expanduser()
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    kept = existing_values(path)
    out: list[DroppedValue] = []
    for name, body in doc.items():
        if not isinstance(body, dict):
            reason = "secret" if is_secret_key(name) else "unknown"
            out.append(DroppedValue(None, name, reason))
            continue
        for key, value in body.items():
            if is_secret_key(key) or (isinstance(value, dict | list) and _holds_secret(value)):
                out.append(DroppedValue(name, key, "secret"))
            elif name not in KNOWN_KEYS or key not in KNOWN_KEYS[name]:
                out.append(DroppedValue(name, key, "unknown"))
            elif key not in kept.get(name, {}):
                shown = repr(value) if (name, key) in _SHOWN_KEYS else None
                out.append(DroppedValue(name, key, "invalid", shown))
    return out


def _holds_secret(node: Any) -> bool:
    if isinstance(node, dict):
        return any(is_secret_key(k) or _holds_secret(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_holds_secret(item) for item in node)
    return False


def _valid_environment(check: _Checker, qbo: dict[str, Any]) -> str:
    value = check.string(qbo, "qbo", "environment", default=None)
    check.environment(value)
    return value


def _valid_choice(check: _Checker, body: dict[str, Any], table: str, key: str) -> str:
    value = check.string(body, table, key, default=None)
    allowed = TOKEN_STORES if table == "tokens" else SOURCE_TYPES
    check.choice(value, table, key, allowed)
    return value


def _valid_path(check: _Checker, source: dict[str, Any], key: str) -> str:
    return str(check._path(check.string(source, "source", key, default=None)))


def _valid_env_name(check: _Checker, source: dict[str, Any]) -> str:
    value = check.string(source, "source", "token_env", default=None)
    if not _ENV_NAME.fullmatch(value):
        raise check.fail("source", "token_env", "expected the NAME of an environment variable")
    return value


def _without_none(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_none(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_without_none(item) for item in node]
    return node


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


# The subcommand being run ("status"), so that a next step can repeat it for another profile.
# Set by the CLI group for each invocation; None (engine use) gives "qbsync --profile NAME ...".
_hint_command: str | None = None


def set_hint_command(name: str | None) -> None:
    """Name the subcommand that next steps repeat with another profile (the CLI sets it)."""
    global _hint_command
    _hint_command = name


def profile_command_line(profile: str, path: Path | None = None) -> str:
    """``qbsync --profile NAME <this subcommand>`` (with ``--config`` when ``path`` is not where
    that profile's config is found by default)."""
    parts = ["qbsync"]
    if path is not None and Path(path).expanduser() != config_path(None, profile):
        parts += ["--config", shlex.quote(str(path))]
    parts += ["--profile", profile, _hint_command or "..."]
    return " ".join(parts)


def init_command_line(path: Path, profile: str) -> str:
    """The `qbsync ... init` command line that writes ``path`` for ``profile``."""
    parts = ["qbsync"]
    if Path(path).expanduser() != config_path(None, profile):
        parts += ["--config", shlex.quote(str(path))]
    if profile != DEFAULT_PROFILE:
        parts += ["--profile", profile]
    return " ".join([*parts, "init"])


def other_profiles(path: Path, profile: str) -> list[str]:
    """Profiles that have a config file next to ``path`` (only for the default config folder)."""
    folder = Path(path).expanduser().parent
    if folder != user_config_dir():
        return []
    try:
        names = sorted(p.stem for p in folder.glob("*.toml") if p.is_file())
    except OSError:
        return []
    found = [DEFAULT_PROFILE if name == "config" else name for name in names]
    return [name for name in found if name != profile and is_profile_name(name)]


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


def _read_toml(path: Path, profile: str = DEFAULT_PROFILE) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        message = f"no config file at {path}"
        init = f"`{init_command_line(path, profile)}`"
        others = other_profiles(path, profile)
        if others:
            message += f"; profiles found: {', '.join(others)}"
            runs = " or ".join(f"`{profile_command_line(name)}`" for name in others)
            hint = f"run {runs} (or {init} to create this profile's config)"
        elif path.expanduser() != config_path(None, profile):  # --config PATH was given
            hint = f"run {init} to create it (or fix the path)"
        else:
            hint = f"run {init} to create one (or pass --config PATH)"
        raise ConfigError(message, hint=hint) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; expected a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: not UTF-8 text; expected a TOML file", hint=f"edit {path}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages name the position ("at line 3, column 9"), never the value.
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint=f"edit {path}") from None


class _Checker:
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
            for key in body:
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
        ok = isinstance(value, list) and all(
            isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 31 for day in value
        )
        if not ok or not value:
            raise self.fail(
                "export", "days", "expected a non-empty list of days of the month, 1 to 31"
            )
        return tuple(sorted(set(value)))

    def source(self, body: dict[str, Any]) -> SourceConfig:
        kind = self.string(body, "source", "type", default=None)
        self.choice(kind, "source", "type", SOURCE_TYPES)
        if kind == "csv":
            self._not_for(body, kind, ("base_url", "token_env"))
            members = self.string(body, "source", "members", default=None)
            invoices = self.optional_string(body, "source", "invoices")
            return SourceConfig(
                type=kind,
                members=self._path(members),
                invoices=self._path(invoices) if invoices else None,
                base_url=None,
                token_env=None,
            )
        self._not_for(body, kind, ("members", "invoices"))
        base_url = self.string(body, "source", "base_url", default=None)
        parts = urlsplit(base_url)
        secure = parts.scheme == "https" or (
            parts.scheme == "http" and is_loopback_host(parts.hostname)
        )
        if not parts.hostname or not secure:
            raise self.fail(
                "source",
                "base_url",
                "expected an https URL (plain http only for localhost/127.0.0.1/[::1])",
            )
        token_env = self.optional_string(body, "source", "token_env")
        if token_env is not None and not _ENV_NAME.fullmatch(token_env):
            # Do not echo the value: someone may have pasted the token itself here.
            raise self.fail(
                "source",
                "token_env",
                "expected the NAME of an environment variable (letters, digits and _, not "
                "starting with a digit), not the token itself",
            )
        return SourceConfig(
            type=kind, members=None, invoices=None, base_url=base_url, token_env=token_env
        )

    def _not_for(self, body: dict[str, Any], kind: str, keys: tuple[str, ...]) -> None:
        for key in keys:
            if key in body:
                raise self.fail("source", key, f"not used with type = {kind!r}; remove it")

    def _path(self, value: str) -> Path:
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


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "a table"})
    return names.get(type(value), type(value).__name__)
