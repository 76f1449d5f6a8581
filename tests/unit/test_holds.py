"""plan_hold (pure): what `qbsync hold` may set aside."""

from __future__ import annotations

from qbsync.sync.holds import plan_hold


def test_sent_invoices_cannot_be_held_and_unknown_ones_are_held_and_named() -> None:
    plan = plan_hold(
        ["a", "b", "c", "d", " a ", ""],
        stored={"a": "exported", "b": "exporting", "c": "failed"},
        known={"c"},
    )
    assert set(plan.refused) == {"a", "b"}
    assert "already exported" in plan.refused["a"]
    assert plan.to_hold == ["c", "d"] and plan.unknown == ["d"]


def test_an_unread_source_calls_nothing_unknown() -> None:
    plan = plan_hold(["x"], stored={}, known=None)
    assert plan.to_hold == ["x"] and plan.unknown == []
