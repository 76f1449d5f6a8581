"""From when `export` asks the source for invoices (sync/export_workflow.read_since)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from qbsync.sync.export_workflow import read_since

ENABLED = datetime(2026, 11, 1, tzinfo=UTC)


def _config(kind: str) -> SimpleNamespace:
    return SimpleNamespace(source=SimpleNamespace(type=kind))


def test_a_csv_is_read_whole_so_old_invoices_are_counted_not_eligible() -> None:
    assert read_since(_config("csv"), ENABLED) is None  # type: ignore[arg-type]


def test_the_platforms_api_and_plugins_are_asked_only_since_enablement() -> None:
    assert read_since(_config("http"), ENABLED) == ENABLED  # type: ignore[arg-type]
    assert read_since(_config("acme-plugin"), ENABLED) == ENABLED  # type: ignore[arg-type]
