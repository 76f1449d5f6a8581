"""The TOML config file -> frozen, validated dataclasses; and writing one for `qbsync init`.

Every problem is a ``ConfigError`` that names the file, the key (``[qbo] client_id``) and what
was expected, because the operator reading it may be looking at a cron mail weeks later. The
config never holds a secret: a key that looks like one is refused (its value is never echoed).
Environment override: ``QBSYNC_ENVIRONMENT`` replaces ``[qbo] environment`` (CI against the
emulator without editing the file).
"""

import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w

from qbsync.config.checks import (
    APP_BATCH_PER_MINUTE,
    DEFAULT_BATCH_PER_MINUTE,
    DEFAULT_BATCH_SIZE,
    DEFAULT_DISPLAY_NAME,
    DEFAULT_ENVIRONMENT,
    DEFAULT_EXPORT_DAYS,
    DEFAULT_MINOR_VERSION,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SCOPES,
    DEFAULT_TIMEOUT_SECONDS,
    DOC_NUMBER_MODES,
    ENVIRONMENT_ENV,
    KNOWN_KEYS,
    NEGATIVE_MODES,
    ON_CHANGE_MODES,
    ONLINE_PAYMENTS,
    REALM_BATCH_PER_MINUTE,
    RECORDED_IN,
    TOKEN_STORES,
    UNMAPPED_ITEM_MODES,
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
from qbsync.config.pull import PullConfig, pull_config
from qbsync.config.source import SourceConfig, source_config
from qbsync.errors import ConfigError, UsageError
from qbsync.files import atomic_write
from qbsync.paths import DEFAULT_PROFILE, config_path, ensure_dir

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_EXPORT_DAYS",
    "DEFAULT_SCOPES",
    "KNOWN_KEYS",
    "Config",
    "ExportConfig",
    "MembersConfig",
    "QboConfig",
    "SourceConfig",
    "check_setting",
    "environment_problem",
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
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_per_minute: int = DEFAULT_BATCH_PER_MINUTE  # the pacer's batch requests a minute

    @property
    def endpoints(self) -> Endpoints:
        return endpoints_for(self.environment)


@dataclass(frozen=True)
class MembersConfig:
    """``[members]``: how connect-members treats a member with no, or an inactive, QBO match."""

    create_missing: bool = True
    reactivate_inactive: bool = True
    update_display_name: bool = False
    display_name: str = DEFAULT_DISPLAY_NAME


@dataclass(frozen=True)
class ExportConfig:
    """``[export]``: when invoices go to QBO and how their lines map (docs/configuration.md)."""

    days: tuple[int, ...] = DEFAULT_EXPORT_DAYS
    month_end: bool = True
    timezone: str | None = None  # IANA name; None: the machine's local time zone
    statuses: tuple[str, ...] = ("pending",)
    doc_number: str = "auto"  # auto | source | qbo
    default_item: str = "Services"
    unmapped_items: str = "fail"  # fail | default
    default_tax_code: str | None = None
    online_payment: tuple[str, ...] = ()
    items: Mapping[str, str] = field(default_factory=dict)
    tax_codes: Mapping[str, str] = field(default_factory=dict)
    # When the integration was enabled (aware, UTC): written by the first `qbsync auth` and never
    # moved by qbsync unless the operator says so. A new state takes it from here, so a lost state
    # does not move it to "now" (docs/reliability.md "Losing the state").
    enabled_at: datetime | None = None
    on_change: str = "report"  # report | update: an exported invoice edited at the platform
    negative: str = "refuse"  # refuse | credit_memo: an invoice with a negative total


@dataclass(frozen=True)
class PaymentsConfig:
    """``[payments]``: which system takes payments (docs/after-export.md "One owner")."""

    recorded_in: str = "qbo"  # qbo (nothing pushed) | platform (each becomes a QBO Payment)
    deposit_account: str | None = None  # QBO account name; None: Undeposited Funds
    methods: Mapping[str, str] = field(default_factory=dict)  # platform method -> QBO name


@dataclass(frozen=True)
class Config:
    path: Path
    profile: str
    data_dir: Path
    qbo: QboConfig
    token_store: str
    source: SourceConfig
    export: ExportConfig
    members: MembersConfig = MembersConfig()
    pull: PullConfig = field(default_factory=PullConfig)
    payments: PaymentsConfig = PaymentsConfig()

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
        batch_size=_batch_size(check, qbo),
        batch_per_minute=_batch_per_minute(check, qbo),
    )

    tokens = check.table(doc, "tokens", required=False)
    store = check.string(tokens, "tokens", "store", default="auto")
    check.choice(store, "tokens", "store", TOKEN_STORES)

    source = source_config(check, check.table(doc, "source", required=True))
    return Config(
        path=path,
        profile=profile,
        data_dir=Path(data_dir),
        qbo=qbo_config,
        token_store=store,
        source=source,
        export=_export(check, check.table(doc, "export", required=False)),
        members=_members(check, check.table(doc, "members", required=False)),
        pull=pull_config(check, check.table(doc, "pull", required=False), source),
        payments=_payments(check, check.table(doc, "payments", required=False)),
    )


def write_config(path: Path, values: dict[str, Any], *, force: bool) -> None:
    """Write ``values`` as TOML to ``path`` atomically; refuse to overwrite unless ``force``."""
    path = Path(path).expanduser()
    Checker(path).no_secrets(values)  # never let a secret reach the file, whoever calls us
    if path.exists() and not force:
        raise UsageError(f"config file {path} already exists", hint="pass --force to overwrite it")
    ensure_dir(path.parent)  # never group/world-writable, whatever the umask
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


def check_setting(path: Path, table: str, key: str, value: Any) -> None:
    """Raise ``ConfigError`` unless ``[table] key = value`` passes the check ``load_config``
    gives it (on its own: the other keys of its table at their defaults). For `init --force`,
    which keeps every valid key the file has (config/write.py)."""
    check = Checker(path)
    body = {key: value}
    if table == "members":
        _members(check, body)
    elif table == "export":
        _export(check, body)
    elif table == "payments":
        _payments(check, body)
    elif (table, key) == ("qbo", "batch_size"):
        _batch_size(check, body)
    elif (table, key) == ("source", "timeout_seconds"):
        check.number(body, "source", key, 30.0)
    else:  # the keys init asks for have their own checks in write.py; nothing passes unchecked
        raise check.fail(table, key, "no check for this key")


def _batch_size(check: Checker, qbo: dict[str, Any]) -> int:
    size = check.integer(qbo, "qbo", "batch_size", DEFAULT_BATCH_SIZE, low=1)
    if size > DEFAULT_BATCH_SIZE:
        raise check.fail("qbo", "batch_size", f"QBO takes at most 30 items a batch; got {size}")
    return size


def _batch_per_minute(check: Checker, qbo: dict[str, Any]) -> int:
    """Lower is always allowed; above Intuit's 40 per app only with a warning (another app, or
    a change on Intuit's side, may be why), and never above the realm's 120 for all apps."""
    value = check.integer(qbo, "qbo", "batch_per_minute", DEFAULT_BATCH_PER_MINUTE, low=1)
    if value > REALM_BATCH_PER_MINUTE:
        raise check.fail(
            "qbo",
            "batch_per_minute",
            f"QBO takes at most {REALM_BATCH_PER_MINUTE} batch requests a minute per company "
            f"(all apps together) and {APP_BATCH_PER_MINUTE} per app; got {value}",
        )
    if value > APP_BATCH_PER_MINUTE:
        log.warning(
            "%s: [qbo] batch_per_minute = %d is above Intuit's limit of %d batch requests a "
            "minute per app; QBO may answer 429 and each one costs a 60 s wait",
            check.path,
            value,
            APP_BATCH_PER_MINUTE,
        )
    return value


def _choice(
    check: Checker, body: dict[str, Any], key: str, default: str, choices: tuple[str, ...]
) -> str:
    value = check.string(body, "export", key, default=default)
    check.choice(value, "export", key, choices)
    return value


def _payments(check: Checker, body: dict[str, Any]) -> PaymentsConfig:
    recorded_in = check.string(body, "payments", "recorded_in", default="qbo")
    check.choice(recorded_in, "payments", "recorded_in", RECORDED_IN)
    return PaymentsConfig(
        recorded_in=recorded_in,
        deposit_account=check.optional_string(body, "payments", "deposit_account"),
        methods={k.lower(): v for k, v in check.mapping(body, "payments", "methods").items()},
    )


def _members(check: Checker, body: dict[str, Any]) -> MembersConfig:
    template = check.string(body, "members", "display_name", default=DEFAULT_DISPLAY_NAME)
    try:
        template.format_map(_TemplateProbe())
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise check.fail(
            "members",
            "display_name",
            f"expected a template such as {DEFAULT_DISPLAY_NAME!r} using "
            f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}; {exc}",
        ) from None
    return MembersConfig(
        create_missing=check.boolean(body, "members", "create_missing", True),
        reactivate_inactive=check.boolean(body, "members", "reactivate_inactive", True),
        update_display_name=check.boolean(body, "members", "update_display_name", False),
        display_name=template,
    )


# Member fields a display_name template may use.
TEMPLATE_FIELDS = ("id", "email", "first_name", "last_name", "company")


class _TemplateProbe(dict[str, str]):
    def __missing__(self, key: str) -> str:
        if key not in TEMPLATE_FIELDS:
            raise KeyError(f"unknown field {{{key}}}")
        return ""


def _export(check: Checker, body: dict[str, Any]) -> ExportConfig:
    timezone = check.optional_string(body, "export", "timezone")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise check.fail(
                "export",
                "timezone",
                f"unknown time zone {timezone!r}; expected e.g. America/New_York",
            ) from None
    doc_number = check.string(body, "export", "doc_number", default="auto")
    check.choice(doc_number, "export", "doc_number", DOC_NUMBER_MODES)
    unmapped = check.string(body, "export", "unmapped_items", default="fail")
    check.choice(unmapped, "export", "unmapped_items", UNMAPPED_ITEM_MODES)
    online = check.strings(body, "export", "online_payment", ())
    for kind in online:
        check.choice(kind, "export", "online_payment", ONLINE_PAYMENTS)
    return ExportConfig(
        days=check.days(body),
        month_end=check.boolean(body, "export", "month_end", True),
        timezone=timezone,
        statuses=tuple(s.lower() for s in check.strings(body, "export", "statuses", ("pending",))),
        doc_number=doc_number,
        default_item=check.string(body, "export", "default_item", default="Services"),
        unmapped_items=unmapped,
        default_tax_code=check.optional_string(body, "export", "default_tax_code"),
        online_payment=online,
        items=check.mapping(body, "export", "items"),
        tax_codes=check.mapping(body, "export", "tax_codes"),
        enabled_at=check.moment(body, "export", "enabled_at"),
        on_change=_choice(check, body, "on_change", "report", ON_CHANGE_MODES),
        negative=_choice(check, body, "negative", "refuse", NEGATIVE_MODES),
    )
