"""``[pull]``: where `qbsync pull` delivers the events it reads from QBO (docs/pull.md).

``sink`` defaults to the source's kind: a csv source gets a csv file of events beside its
invoices file (``qbo-events.csv``), an http source gets ``POST {base_url}/invoices/{id}/qbo-events``
with the same bearer token, a source plugin ``<name>`` a sink plugin of the same name (entry point
group ``qbsync.sinks``). ``[pull.options]`` is handed to a sink plugin as-is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qbsync.config.checks import ENV_NAME, Checker
from qbsync.config.source import SOURCE_NAME, SourceConfig
from qbsync.hosts import is_loopback_host

DEFAULT_EVENTS_CSV = "qbo-events.csv"
SINK_ENTRY_POINT_GROUP = "qbsync.sinks"


@dataclass(frozen=True)
class PullConfig:
    sink: str = "csv"  # csv | http | a sink plugin's name
    events_csv: Path | None = None
    timeout_seconds: float = 30.0
    retries: int = 3  # per event, for 5xx and timeouts, with backoff
    backoff_seconds: float = 1.0
    options: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None  # http: the platform's API ([source] base_url by default)
    token_env: str | None = None  # http: its bearer token's variable ([source] token_env)


def pull_config(check: Checker, body: dict[str, Any], source: SourceConfig) -> PullConfig:
    sink = check.string(body, "pull", "sink", default=source.type)
    if not SOURCE_NAME.fullmatch(sink):
        raise check.fail(
            "pull", "sink", f"expected csv, http or a sink plugin's name; got {sink!r}"
        )
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise check.fail("pull", "options", "expected a table [pull.options] of the sink's options")
    events = check.optional_string(body, "pull", "events_csv")
    path: Path | None = check.path_of(events) if events else None
    if sink == "csv" and path is None and source.invoices is not None:
        path = source.invoices.parent / DEFAULT_EVENTS_CSV  # else: `pull` says it is needed
    base_url = check.optional_string(body, "pull", "base_url") or source.base_url
    token_env = check.optional_string(body, "pull", "token_env") or source.token_env
    if sink == "http":
        parts = urlsplit(base_url or "")
        secure = parts.scheme == "https" or (
            parts.scheme == "http" and is_loopback_host(parts.hostname)
        )
        if not parts.hostname or not secure:
            raise check.fail(
                "pull",
                "base_url",
                "expected the platform's https URL (plain http only for localhost); the http "
                "sink uses [source] base_url unless [pull] base_url is set",
            )
    if token_env is not None and not ENV_NAME.fullmatch(token_env):
        raise check.fail("pull", "token_env", "expected the NAME of an environment variable")
    retries = check.integer(body, "pull", "retries", 3, low=0)
    return PullConfig(
        sink=sink,
        events_csv=path,
        timeout_seconds=check.number(body, "pull", "timeout_seconds", 30.0),
        retries=retries,
        backoff_seconds=check.number(body, "pull", "backoff_seconds", 1.0),
        options=options,
        base_url=base_url.rstrip("/") if base_url else None,
        token_env=token_env,
    )
