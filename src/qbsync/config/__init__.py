"""The TOML config file -> frozen, validated dataclasses; and writing one for `qbsync init`.

Every problem is a ``ConfigError`` that names the file, the key (``[qbo] client_id``) and what
was expected, because the operator reading it may be looking at a cron mail weeks later. The
config never holds a secret: a key that looks like one is refused (its value is never echoed).
Environment override: ``QBSYNC_ENVIRONMENT`` replaces ``[qbo] environment`` (CI against the
emulator without editing the file).
"""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from qbsync.config.checks import (
    DEFAULT_ENVIRONMENT,
    DEFAULT_EXPORT_DAYS,
    DEFAULT_MINOR_VERSION,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SCOPES,
    DEFAULT_TIMEOUT_SECONDS,
    ENV_NAME,
    ENVIRONMENT_ENV,
    KNOWN_KEYS,
    SOURCE_TYPES,
    TOKEN_STORES,
    Checker,
    environment_problem,
    is_secret_key,
)
from qbsync.config.endpoints import Endpoints, endpoints_for
from qbsync.config.hints import (
    init_command_line,
    other_profiles,
    profile_command_line,
    set_hint_command,
)
from qbsync.config.write import dropped_values, existing_values
from qbsync.errors import ConfigError, UsageError
from qbsync.files import atomic_write
from qbsync.hosts import is_loopback_host
from qbsync.paths import DEFAULT_PROFILE, config_path

__all__ = [
    "DEFAULT_EXPORT_DAYS",
    "DEFAULT_SCOPES",
    "KNOWN_KEYS",
    "Config",
    "ExportConfig",
    "QboConfig",
    "SourceConfig",
    "dropped_values",
    "environment_problem",
    "existing_values",
    "is_secret_key",
    "load_config",
    "set_hint_command",
    "write_config",
]


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
    check = Checker(path, profile)
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
        source=_source(check, check.table(doc, "source", required=True)),
        export=ExportConfig(days=check.days(check.table(doc, "export", required=False))),
    )


def write_config(path: Path, values: dict[str, Any], *, force: bool) -> None:
    """Write ``values`` as TOML to ``path`` atomically; refuse to overwrite unless ``force``."""
    path = Path(path).expanduser()
    Checker(path).no_secrets(values)  # never let a secret reach the file, whoever calls us
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


def _without_none(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_none(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_without_none(item) for item in node]
    return node


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


def _source(check: Checker, body: dict[str, Any]) -> SourceConfig:
    kind = check.string(body, "source", "type", default=None)
    check.choice(kind, "source", "type", SOURCE_TYPES)
    if kind == "csv":
        check._not_for(body, kind, ("base_url", "token_env"))
        members = check.string(body, "source", "members", default=None)
        invoices = check.optional_string(body, "source", "invoices")
        return SourceConfig(
            type=kind,
            members=check._path(members),
            invoices=check._path(invoices) if invoices else None,
            base_url=None,
            token_env=None,
        )
    check._not_for(body, kind, ("members", "invoices"))
    base_url = check.string(body, "source", "base_url", default=None)
    parts = urlsplit(base_url)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and is_loopback_host(parts.hostname)
    )
    if not parts.hostname or not secure:
        raise check.fail(
            "source",
            "base_url",
            "expected an https URL (plain http only for localhost/127.0.0.1/[::1])",
        )
    token_env = check.optional_string(body, "source", "token_env")
    if token_env is not None and not ENV_NAME.fullmatch(token_env):
        # Do not echo the value: someone may have pasted the token itself here.
        raise check.fail(
            "source",
            "token_env",
            "expected the NAME of an environment variable (letters, digits and _, not "
            "starting with a digit), not the token itself",
        )
    return SourceConfig(
        type=kind, members=None, invoices=None, base_url=base_url, token_env=token_env
    )
