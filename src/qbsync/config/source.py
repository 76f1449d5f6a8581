"""``[source]``: where members and invoices come from (csv, http, or a plugin by entry point).

Built-in types keep their keys in ``[source]`` itself; any type's own options may also sit in a
``[source.<type>]`` table (a plugin's only place for settings), handed to the source as-is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qbsync.config.checks import ENV_NAME, Checker
from qbsync.hosts import is_loopback_host

BUILTIN_SOURCES = ("csv", "http")
ENTRY_POINT_GROUP = "qbsync.sources"
SOURCE_NAME = re.compile(r"[a-z][a-z0-9_\-]*")


@dataclass(frozen=True)
class SourceConfig:
    type: str
    members: Path | None = None
    invoices: Path | None = None
    base_url: str | None = None
    token_env: str | None = None
    timeout_seconds: float = 30.0
    # [source.<type>]: the source's own options (a plugin reads its settings here).
    options: Mapping[str, Any] = field(default_factory=dict)
    # The config file's folder: relative paths in options resolve against it.
    base_dir: Path = Path()


def plugin_names() -> tuple[str, ...]:
    """Names of the installed source plugins (entry points are listed, not imported)."""
    found = entry_points(group=ENTRY_POINT_GROUP)
    return tuple(sorted({ep.name for ep in found} - set(BUILTIN_SOURCES)))


def source_config(check: Checker, body: dict[str, Any]) -> SourceConfig:
    kind = check.string(body, "source", "type", default=None)
    if not SOURCE_NAME.fullmatch(kind):
        raise check.fail(
            "source", "type", f"expected csv, http or a source plugin's name; got {kind!r}"
        )
    options = body.get(kind, {})
    if not isinstance(options, dict):
        raise check.fail(
            "source", kind, f"expected a table [source.{kind}] of that source's options"
        )
    others = [name for name, value in body.items() if isinstance(value, dict) and name != kind]
    if others:
        raise check.fail(
            f"source.{others[0]}", None, f"options of a source that is not in use (type = {kind!r})"
        )
    base_dir = check.path.parent.absolute()
    timeout = check.number(body, "source", "timeout_seconds", 30.0)
    if kind == "csv":
        check.not_for(body, kind, ("base_url", "token_env"))
        members = check.string(body, "source", "members", default=None)
        invoices = check.optional_string(body, "source", "invoices")
        return SourceConfig(
            type=kind,
            members=check.path_of(members),
            invoices=check.path_of(invoices) if invoices else None,
            timeout_seconds=timeout,
            options=options,
            base_dir=base_dir,
        )
    if kind != "http":  # a plugin: its settings are its own, in [source.<name>]
        installed = plugin_names()
        if kind not in installed:
            raise check.fail(
                "source",
                "type",
                f"expected one of {', '.join((*BUILTIN_SOURCES, *installed))} (no source plugin "
                f"named {kind!r} is installed under the entry-point group {ENTRY_POINT_GROUP!r}); "
                f"got {kind!r}",
            )
        check.not_for(body, kind, ("members", "invoices", "base_url", "token_env"))
        return SourceConfig(type=kind, timeout_seconds=timeout, options=options, base_dir=base_dir)
    check.not_for(body, kind, ("members", "invoices"))
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
        type=kind,
        base_url=base_url.rstrip("/"),
        token_env=token_env,
        timeout_seconds=timeout,
        options=options,
        base_dir=base_dir,
    )
