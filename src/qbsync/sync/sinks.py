"""Where `qbsync pull` delivers events: the platform, by the source's kind (docs/pull.md).

Every sink answers each event with a ``Delivery``: delivered, refused (the platform said no: a
problem shown with its reason, kept and offered again next run) or unavailable (left for next
run). The state marks an event delivered only after the sink said so, so a crash in between
offers it again: each sink must recognise an event it already holds by its ``event_id`` (the csv
file is read for them; the http platform gets ``Idempotency-Key``; a plugin is told in
docs/sources.md).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from qbsync.config.pull import DEFAULT_EVENTS_CSV, SINK_ENTRY_POINT_GROUP, PullConfig
from qbsync.config.source import SourceConfig
from qbsync.csvout import csv_rows, safe_cell
from qbsync.errors import ConfigError
from qbsync.sources.http_sink import HttpSink
from qbsync.sync.pull_fields import CSV_COLUMNS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    event_id: str
    outcome: str  # delivered | refused | unavailable
    reason: str | None = None


class Sink(Protocol):
    name: str

    def deliver(self, events: Sequence[dict[str, Any]]) -> list[Delivery]:
        """Deliver in order; may stop early (the rest are left for the next run)."""
        ...

    def close(self) -> None: ...


class SinkRefused(Exception):
    """Raised by a sink plugin's ``deliver(event)`` when the platform refuses the event."""


class CsvSink:
    """Appends rows to ``[pull] events_csv``, fsyncs, and only then answers delivered. Ids
    already in the file (a run killed after the write, before the state recorded it) are
    answered delivered without writing them again; a last line cut short by a kill is dropped
    first (its event was never answered delivered, so it is written again whole)."""

    name = "csv"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._have = self._read_ids()

    def _read_ids(self) -> set[str]:
        if not self.path.exists():
            return set()
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with self.path.open("r+b") as handle:
                handle.truncate(cut)
                handle.flush()
                os.fsync(handle.fileno())
            data = data[:cut]
        text = data.decode("utf-8-sig", errors="replace")
        return {row[0] for row in csv.reader(io.StringIO(text)) if row and row[0] != "event_id"}

    def deliver(self, events: Sequence[dict[str, Any]]) -> list[Delivery]:
        fresh = [e for e in events if e["event_id"] not in self._have]
        if fresh:
            new_file = not self.path.exists() or self.path.stat().st_size == 0
            text = ""
            if new_file:
                text = csv_rows([[safe_cell(c) for c in CSV_COLUMNS]])
            text += csv_rows([[e.get(c) for c in CSV_COLUMNS] for e in fresh])
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                data = text.encode("utf-8")
                while data:  # one write normally; a short write continues
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._have.update(e["event_id"] for e in fresh)
        return [Delivery(e["event_id"], "delivered") for e in events]

    def close(self) -> None:
        return None


class PluginSink:
    """A sink plugin: ``factory(options: dict) -> object`` with ``deliver(event: dict)`` (raise
    ``SinkRefused(reason)`` for a refusal; any other exception leaves the rest for next run)."""

    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self._target = target

    def deliver(self, events: Sequence[dict[str, Any]]) -> list[Delivery]:
        answers: list[Delivery] = []
        for event in events:
            try:
                self._target.deliver(dict(event))
            except SinkRefused as exc:
                answers.append(Delivery(event["event_id"], "refused", str(exc)))
                continue
            except Exception as exc:  # third-party code: anything else is "try again later"
                answers.append(
                    Delivery(event["event_id"], "unavailable", f"{type(exc).__name__}: {exc}")
                )
                break
            answers.append(Delivery(event["event_id"], "delivered"))
        return answers

    def close(self) -> None:
        close = getattr(self._target, "close", None)
        if callable(close):
            close()


class _HttpAdapter:
    name = "http"

    def __init__(self, http: HttpSink) -> None:
        self._http = http

    def deliver(self, events: Sequence[dict[str, Any]]) -> list[Delivery]:
        return [Delivery(*answer) for answer in self._http.deliver_each(events)]

    def close(self) -> None:
        self._http.close()


def open_sink(config: PullConfig, source: SourceConfig) -> Sink:
    if config.sink == "csv":
        if config.events_csv is None:
            raise ConfigError(
                "[pull] events_csv is not set and [source] has no invoices file to put "
                f"{DEFAULT_EVENTS_CSV} beside",
                hint='set [pull] events_csv = "path/to/qbo-events.csv"',
            )
        return CsvSink(config.events_csv)
    if config.sink == "http":
        return _HttpAdapter(HttpSink(config, source))
    found = [
        ep for ep in metadata.entry_points(group=SINK_ENTRY_POINT_GROUP) if ep.name == config.sink
    ]
    if not found:
        raise ConfigError(
            f"[pull] sink: no sink plugin named {config.sink!r} is installed (entry-point group "
            f"{SINK_ENTRY_POINT_GROUP!r})",
            hint='install the package that provides it, or set [pull] sink = "csv"',
        )
    try:
        factory = found[0].load()
        return PluginSink(config.sink, factory(dict(config.options)))
    except Exception as exc:  # third-party code failing to load or start
        raise ConfigError(
            f"sink plugin {config.sink!r} failed to start: {type(exc).__name__}: {exc}"
        ) from exc
