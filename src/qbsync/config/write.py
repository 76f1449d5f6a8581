"""What `qbsync init --force` keeps of an existing config (``existing_values``, the new defaults)
and what it drops (``dropped_values``, for its notes).

Every key the config schema knows (``KNOWN_KEYS``) is kept when its value passes its check, so
`init --force --token-store file` changes the store and nothing else (README): the keys init asks
for have their checks here, the others (``[members]``, most of ``[export]``, ``[qbo]
batch_size``...) go through ``check_setting``, the check ``load_config`` gives them."""

from __future__ import annotations

import contextlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbsync.config import check_setting
from qbsync.config.checks import (
    DEFAULT_TIMEOUT_SECONDS,
    ENV_NAME,
    KNOWN_KEYS,
    SOURCE_TYPES,
    TOKEN_STORES,
    Checker,
    is_secret_key,
)
from qbsync.errors import ConfigError


def existing_values(path: Path) -> dict[str, Any]:
    """What an existing config file holds that is valid on its own, shaped as ``write_config``
    takes it: for `qbsync init --force`, which starts from the operator's values, not defaults.

    Tolerant: an unreadable file gives ``{}``, and each value that does not pass its own check
    (or that is named like a secret) is left out. csv paths are returned absolute.
    """
    path = Path(path).expanduser()
    doc = _read_doc(path)
    return {} if doc is None else _existing_from(path, doc)


def _read_doc(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def _existing_from(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    check = Checker(path)
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
    keep(
        "qbo",
        "timeout_seconds",
        lambda: check.number(qbo, "qbo", "timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
    )
    keep("tokens", "store", lambda: _valid_choice(check, table("tokens"), "tokens", "store"))
    keep("source", "type", lambda: _valid_choice(check, source, "source", "type"))
    keep("source", "members", lambda: _valid_path(check, source, "members"))
    keep("source", "invoices", lambda: _valid_path(check, source, "invoices"))
    keep("source", "base_url", lambda: check.string(source, "source", "base_url", default=None))
    keep("source", "token_env", lambda: _valid_env_name(check, source))
    keep("export", "days", lambda: list(check.days(table("export"))))
    # enabled_at is the integration's history, not a setting: `init --force` never drops it.
    keep("export", "enabled_at", lambda: _valid_moment(check, table("export")))
    for name in ("qbo", "source", "members", "export", "payments"):
        for key in KNOWN_KEYS[name]:
            if key in table(name) and key not in out.setdefault(name, {}):
                value = table(name)[key]
                if not (isinstance(value, dict | list) and _holds_secret(value)):
                    keep(name, key, lambda n=name, k=key, v=value: _checked(path, n, k, v))
    kind = out["source"].get("type")
    options = source.get(kind) if isinstance(kind, str) else None
    if isinstance(kind, str) and isinstance(options, dict) and not _holds_secret(options):
        out["source"][kind] = options  # [source.<type>]: that source's own options, as they are
    return {name: body for name, body in out.items() if body}


def _checked(path: Path, table: str, key: str, value: Any) -> Any:
    check_setting(path, table, key, value)
    return value


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
    doc = _read_doc(path)
    if doc is None:
        return []
    kept = _existing_from(path, doc)
    out: list[DroppedValue] = []
    for name, body in doc.items():
        if not isinstance(body, dict):
            reason = "secret" if is_secret_key(name) else "unknown"
            out.append(DroppedValue(None, name, reason))
            continue
        for key, value in body.items():
            if is_secret_key(key) or (isinstance(value, dict | list) and _holds_secret(value)):
                out.append(DroppedValue(name, key, "secret"))
            elif key in kept.get(name, {}):
                continue
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


def _valid_environment(check: Checker, qbo: dict[str, Any]) -> str:
    value = check.string(qbo, "qbo", "environment", default=None)
    check.environment(value)
    return value


def _valid_choice(check: Checker, body: dict[str, Any], table: str, key: str) -> str:
    value = check.string(body, table, key, default=None)
    allowed = TOKEN_STORES if table == "tokens" else SOURCE_TYPES
    check.choice(value, table, key, allowed)
    return value


def _valid_path(check: Checker, source: dict[str, Any], key: str) -> str:
    return str(check.path_of(check.string(source, "source", key, default=None)))


def _valid_env_name(check: Checker, source: dict[str, Any]) -> str:
    value = check.string(source, "source", "token_env", default=None)
    if not ENV_NAME.fullmatch(value):
        raise check.fail("source", "token_env", "expected the NAME of an environment variable")
    return value


def _valid_moment(check: Checker, export: dict[str, Any]) -> str:
    from qbsync.config.enabled import enabled_at_text

    moment = check.moment(export, "export", "enabled_at")
    if moment is None:  # pragma: no cover - keep() only asks when the key is there
        raise check.fail("export", "enabled_at", "missing")
    return enabled_at_text(moment)
