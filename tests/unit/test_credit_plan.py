"""Which credit notes become credit memos, and when (sync/credit_plan.py, pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from qbsync.sources.records import InvoiceLine, SourceInvoice
from qbsync.state.pushes import Push
from qbsync.sync.credit_plan import as_positive, credit_marker, plan_credits
from qbsync.sync.invoice_map import marker, source_total

ENABLED = datetime(2030, 1, 1, tzinfo=UTC)


def note(nid: str = "c1", price: str = "10.00", **more: object) -> SourceInvoice:
    return SourceInvoice(
        id=nid, member_id="m1", number=f"N;{nid}", created_at=ENABLED + timedelta(days=1),
        due_date=None, status="pending", currency=None,
        lines=(InvoiceLine("credit", Decimal("2"), Decimal(price)),),
        kind="credit_note", **more,  # type: ignore[arg-type]
    )  # fmt: skip


def push(kind: str, state: str, rid: str = "c1") -> Push:
    return Push(kind, rid, rid, state, None, None, None, "7", None, 1, ENABLED, None)


def plan(notes: list[SourceInvoice], pushes: list[Push], **more: object) -> list[tuple[str, str]]:
    args: dict[str, object] = {
        "enabled_at": ENABLED, "statuses": ("pending",), "held": (), "exported_ids": (),
        "export_day": True, **more,
    }  # fmt: skip
    return [(a.step, a.note.id) for a in plan_credits(notes, pushes, **args)]  # type: ignore[arg-type]


def test_new_credit_notes_go_on_export_days_only_and_once() -> None:
    assert plan([note()], []) == [("create", "c1")]
    assert plan([note()], [], export_day=False) == []
    assert plan([note()], [push("credit_memo", "pushing")], export_day=False) == [("create", "c1")]
    assert plan([note()], [push("credit_memo", "pushed")]) == []
    old = replace(note(), created_at=ENABLED - timedelta(days=1))
    assert plan([old], []) == [] and plan([note()], [], held=("c1",)) == []


def test_an_application_is_planned_every_day_until_done() -> None:
    applies = note(applies_to="i1")
    memo = push("credit_memo", "pushed")
    assert plan([applies], [memo], export_day=False) == [("apply", "c1")]
    assert plan([applies], [memo, push("credit_apply", "pushed")]) == []


def test_amounts_written_negative_are_negated_and_markers_never_an_invoices() -> None:
    negative = note(price="-5.00", tax_amount=Decimal("-1.00"), total=Decimal("-11.00"))
    positive = as_positive(negative)
    assert source_total(positive) == Decimal("11.00") and positive.total == Decimal("11.00")
    assert as_positive(note()) == note()
    assert credit_marker(note()) == "qbsync-cm:c1 #N%3Bc1;"
    assert not credit_marker(note()).startswith(marker(note()).rstrip(";"))
