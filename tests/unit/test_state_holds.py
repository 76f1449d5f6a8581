"""state.exports: holds (`qbsync hold` / `release`) and the last export's refusals, per invoice."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from qbsync.state.db import State
from qbsync.state.exports import ExportRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_hold_release_and_a_second_hold_replaces_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with State.open(path) as state:
        state.exports.hold(["a", "b"], "disputed", now=NOW)
        state.exports.hold(["a"], "asked to wait", run_id=None, now=NOW)
        holds = state.exports.holds()
        assert {k: h.reason for k, h in holds.items()} == {"a": "asked to wait", "b": "disputed"}
        assert holds["a"].held_at == NOW
        assert state.exports.release(["b", "nope"]) == ["b"]
    assert _rows(path, "SELECT invoice_id, reason FROM holds") == [("a", "asked to wait")]


def test_refusals_replace_the_last_exports_and_clear_when_sent(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with State.open(path) as state:
        state.exports.record_refusals(7, [("a", "item_code: X", "map X"), ("b", "currency", "f")])
        state.exports.record_refusals(8, [("b", "currency: EUR", "link another customer")])
        refusals = state.exports.refusals()
        assert list(refusals) == ["b"] and refusals["b"].run_id == 8
        assert refusals["b"].fix == "link another customer"
        state.exports.mark_exporting([_record("b")], now=NOW)
        assert state.exports.refusals() == {}
    assert _rows(path, "SELECT COUNT(*) FROM refusals") == [(0,)]


def _record(invoice_id: str) -> ExportRecord:
    return ExportRecord(invoice_id, "m1", "57", "exporting", "N-1", "N-1", "2026-03-01",
                        "qbsync:b #N-1;", "r", "1", Decimal("5"), "fp")  # fmt: skip
