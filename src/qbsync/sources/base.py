"""The ``Source`` protocol and ``open_source``: csv and http built in, anything else by plugin.

A plugin is an installed package with an entry point in the group ``qbsync.sources`` whose name
is the ``[source] type`` it serves; the entry point is a factory
``factory(config: SourceConfig, *, tz: tzinfo) -> Source`` (a class with that constructor will
do). Its settings live in ``[source.<name>]`` and reach it as ``config.options``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, tzinfo
from importlib import metadata
from typing import Protocol, runtime_checkable

from qbsync.config.source import ENTRY_POINT_GROUP, SourceConfig
from qbsync.errors import ConfigError, QbsyncError
from qbsync.sources.csv_source import CsvSource
from qbsync.sources.fields import STATUS_ALIASES
from qbsync.sources.http_source import HttpSource
from qbsync.sources.records import Member, Read, SourceInvoice


@runtime_checkable
class Source(Protocol):
    """Where members and invoices come from.

    ``members()`` reads every member, active or not. ``invoices()`` reads the invoices whose
    status is one of ``statuses`` (compared case-insensitively; none when empty) created at or
    after ``created_since`` (aware; every invoice when None). Records that cannot be read come
    back as problems; a failure of the whole source raises a ``QbsyncError``.
    """

    name: str

    def members(self) -> Read[Member]: ...

    def invoices(
        self, *, statuses: Sequence[str], created_since: datetime | None
    ) -> Read[SourceInvoice]: ...


@runtime_checkable
class ChangedInvoices(Protocol):
    """What a source offers to show exported invoices again (optional for plugins).

    ``invoices_since(updated_since, created_since=...)`` reads the invoices changed at or after
    ``updated_since`` (every invoice when None), WHATEVER their status (void, paid, ...), created
    at or after ``created_since``. It may return more than changed (csv returns every invoice):
    the engine compares fingerprints. csv and http have it; ``read_changed`` falls back for a
    plugin without it.
    """

    def invoices_since(
        self, updated_since: datetime | None, *, created_since: datetime | None
    ) -> Read[SourceInvoice]: ...


# What a plugin without invoices_since is asked for besides the export statuses: the statuses an
# exported invoice moves to at the platform (docs/sources.md). A plugin whose invoices move to
# another status must implement invoices_since.
AFTER_EXPORT_STATUSES = ("void", "voided", "paid")


def read_changed(
    source: Source,
    updated_since: datetime | None,
    *,
    created_since: datetime | None,
    statuses: Sequence[str],
) -> Read[SourceInvoice]:
    """Invoices changed since ``updated_since``, any status: ``source.invoices_since`` when the
    source has it, else ``invoices()`` over ``statuses`` and ``AFTER_EXPORT_STATUSES``. Statuses
    come back normalised ("voided" -> "void") whoever read them."""
    if isinstance(source, ChangedInvoices):
        read = source.invoices_since(updated_since, created_since=created_since)
    else:
        wanted = dict.fromkeys(s.strip().lower() for s in (*statuses, *AFTER_EXPORT_STATUSES))
        read = source.invoices(statuses=list(wanted), created_since=created_since)
    read.records = [
        replace(r, status=STATUS_ALIASES[r.status]) if r.status in STATUS_ALIASES else r
        for r in read.records
    ]
    return read


def open_source(config: SourceConfig, *, tz: tzinfo) -> Source:
    """The source ``config.type`` names; ``tz`` is the zone of naive datetimes and bare dates."""
    if config.type == "csv":
        return CsvSource(config, tz=tz)
    if config.type == "http":
        return HttpSource(config, tz=tz)
    return _plugin(config, tz)


def _plugin(config: SourceConfig, tz: tzinfo) -> Source:
    name = config.type
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise ConfigError(
            f"[source] type: no source plugin named {name!r} is installed (entry-point group "
            f"{ENTRY_POINT_GROUP!r})",
            hint=f"install the package that provides the {name!r} source, or fix [source] type",
        )
    entry = found[0]
    try:
        factory = entry.load()
    except Exception as exc:  # any import-time failure of third-party code
        raise ConfigError(
            f"source plugin {name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}",
            hint=f"reinstall or fix the package that provides the {name!r} source",
        ) from exc
    if not callable(factory):
        raise ConfigError(
            f"source plugin {name!r} ({entry.value}) is not callable; expected a factory "
            "(config, *, tz) -> Source"
        )
    try:
        source = factory(config, tz=tz)
    except QbsyncError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"source plugin {name!r} ({entry.value}) failed to start: {type(exc).__name__}: {exc}",
            hint=f"check [source.{name}] in the config, or the plugin's own documentation",
        ) from exc
    if not isinstance(source, Source) or not isinstance(getattr(source, "name", None), str):
        raise ConfigError(
            f"source plugin {name!r} ({entry.value}) returned {type(source).__name__}, not a "
            "source (expected an object with a name, members() and invoices())"
        )
    return source
