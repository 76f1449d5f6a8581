"""The invoice ledger: each vocabulary state reached, one state per invoice, the problems."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from qbsync.sources.records import InvoiceLine, SourceInvoice
from qbsync.state.exports import ExportRecord, Hold, Refusal
from qbsync.sync.eligibility import classify
from qbsync.sync.ledger import Ledger, build_ledger
from qbsync.sync.vocabulary import INVOICE_STATES

ENABLED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = ENABLED_AT + timedelta(days=1)


def _invoice(id: str, member: str = "m1", **changes: Any) -> SourceInvoice:
    base = SourceInvoice(
        id=id,
        member_id=member,
        number=f"N-{id}",
        created_at=LATER,
        due_date=date(2026, 3, 20),
        status="pending",
        currency="USD",
        lines=(InvoiceLine("Membership", Decimal("2"), Decimal("12.50")),),
    )
    return replace(base, **changes)


def _row(invoice: SourceInvoice, state: str = "exported", **changes: Any) -> ExportRecord:
    base = ExportRecord(
        invoice_id=invoice.id,
        member_id=invoice.member_id,
        customer_id="57",
        state=state,
        number=invoice.number,
        doc_number=invoice.number,
        txn_date="2026-03-02",
        marker=f"qbsync:{invoice.id}",
        request_id=None,
        bid=None,
        source_total=Decimal("25.00"),
        fingerprint=invoice.fingerprint(),
        qbo_id="130" if state == "exported" else None,
        qbo_total=Decimal("25.00") if state == "exported" else None,
        exported_at=LATER if state == "exported" else None,
        run_id=3,
    )
    return replace(base, **changes)


def _ledger(
    invoices: list[SourceInvoice] | None,
    *,
    exports: list[ExportRecord] = (),  # type: ignore[assignment]
    holds: dict[str, Hold] | None = None,
    refusals: dict[str, Refusal] | None = None,
    member_states: dict[str, str] | None = None,
    links: dict[str, str] | None = None,
    source_problem: str | None = None,
) -> Ledger:
    return build_ledger(
        invoices,
        exports=list(exports),
        links={"m1": "57"} if links is None else links,
        member_states=member_states or {},
        holds=holds or {},
        refusals=refusals or {},
        enabled_at=ENABLED_AT,
        statuses=("pending",),
        tz=UTC,
        known_members={"m1", "m2", "m3"} if invoices is not None else None,
        source_problem=source_problem,
    )


def _hold(id: str) -> Hold:
    return Hold(id, "disputed by the member", LATER)


def _refusal(id: str) -> Refusal:
    return Refusal(id, "item_code: line 1: X is not mapped", "add X to [export.items]", 4, LATER)


def _only(ledger: Ledger) -> Any:
    assert len(ledger.entries) == 1
    return ledger.entries[0]


def test_waiting_with_the_platform_total_from_the_line_sums() -> None:
    entry = _only(_ledger([_invoice("a")]))
    assert (entry.state, entry.customer_id, entry.fix) == ("waiting", "57", "")
    assert entry.platform_total == Decimal("25.00") and entry.qbo_id is None
    assert _ledger([_invoice("a", total=Decimal("24.99"))]).entries[0].platform_total == Decimal(
        "24.99"
    )


def test_exported_with_its_qbo_fields_and_no_problem() -> None:
    invoice = _invoice("a")
    ledger = _ledger([invoice], exports=[_row(invoice)])
    entry = _only(ledger)
    assert (entry.state, entry.qbo_id, entry.doc_number, entry.txn_date) == (
        "exported",
        "130",
        "N-a",
        "2026-03-02",
    )
    assert entry.difference is None and ledger.problems == []


def test_exported_with_another_total_in_qbo_is_a_problem_naming_the_difference() -> None:
    invoice = _invoice("a", total=Decimal("25.00"))
    row = _row(invoice, platform_total=Decimal("25.00"), qbo_total=Decimal("20.80"))
    ledger = _ledger([invoice], exports=[row])
    entry = _only(ledger)
    assert entry.state == "exported" and entry.difference == Decimal("-4.20")
    assert entry.to_dict()["difference"] == "-4.20" and entry.to_dict()["qbo_total"] == "20.80"
    assert [p.record for p in ledger.problems] == ["a"]
    assert "130" in ledger.problems[0].fix


def test_in_flight_failed_and_changed_from_the_export_rows() -> None:
    a, b, c = _invoice("a"), _invoice("b"), _invoice("c")
    changed_c = replace(c, lines=(InvoiceLine("Membership", Decimal("3"), Decimal("12.50")),))
    rows = [
        _row(a, "exporting"),
        _row(b, "failed", error_code="6000", error_message="bad"),
        _row(c),
    ]
    ledger = _ledger([a, b, changed_c], exports=rows)
    states = {e.invoice_id: e.state for e in ledger.entries}
    assert states == {"a": "in-flight", "b": "failed", "c": "changed"}
    assert "QBO 6000" in ledger.get("b").reason  # type: ignore[union-attr]
    assert {p.record: p.state for p in ledger.problems} == {"b": "failed", "c": "changed"}


def test_refused_by_the_last_export_not_waiting() -> None:
    # status counted a refused invoice as waiting for the next export day.
    ledger = _ledger([_invoice("a")], refusals={"a": _refusal("a")})
    entry = _only(ledger)
    assert (entry.state, entry.fix, entry.run_id) == ("refused", "add X to [export.items]", 4)
    assert ledger.counts["waiting"] == 0 and ledger.counts["refused"] == 1
    assert ledger.problems[0].fix == "add X to [export.items]"


def test_blocked_members_name_the_member_in_the_fix() -> None:
    invoices = [_invoice("a", "m2"), _invoice("b", "m3"), _invoice("c", "m9")]
    ledger = _ledger(invoices, member_states={"m2": "needs_review", "m3": "unmatched"})
    assert [e.state for e in ledger.entries] == ["blocked"] * 3
    assert "qbsync link m2 CUSTOMER_ID" in ledger.entries[0].fix
    assert "qbsync connect-members" in ledger.entries[1].fix
    assert "add member m9" in ledger.entries[2].fix
    kinds = sorted((p.kind, p.record) for p in ledger.problems)
    assert kinds == [("invoice", "a"), ("invoice", "b"), ("invoice", "c"), ("member", "m2")]


def test_held_is_not_a_problem_and_wins_over_refused_and_failed() -> None:
    a, b = _invoice("a"), _invoice("b")
    ledger = _ledger(
        [a, b],
        exports=[_row(b, "failed", error_message="x")],
        holds={"a": _hold("a"), "b": _hold("b"), "zz": _hold("zz")},
        refusals={"a": _refusal("a")},
    )
    assert {e.invoice_id: e.state for e in ledger.entries} == {
        "a": "held",
        "b": "held",
        "zz": "held",
    }
    assert ledger.get("zz").reason.endswith("(the source does not list it)")  # type: ignore[union-attr]
    assert ledger.get("a").fix == "qbsync release a"  # type: ignore[union-attr]
    assert ledger.problems == []


def test_a_hold_does_not_hide_an_exported_invoice() -> None:
    invoice = _invoice("a")
    entry = _only(_ledger([invoice], exports=[_row(invoice)], holds={"a": _hold("a")}))
    assert entry.state == "exported"


def test_not_eligible_before_enablement_other_status_and_unlinked_by_hand() -> None:
    invoices = [
        _invoice("a", created_at=ENABLED_AT - timedelta(days=3)),
        _invoice("b", status="paid"),
        _invoice("c", "m2"),
    ]
    ledger = _ledger(invoices, member_states={"m2": "unlinked"})
    assert [e.state for e in ledger.entries] == ["not-eligible"] * 3
    assert ledger.problems == [] and ledger.counts["not-eligible"] == 3


def test_unread_source_lists_only_the_state_and_says_so() -> None:
    a, b = _invoice("a"), _invoice("b")
    ledger = _ledger(
        None,
        exports=[_row(a), _row(b, "failed", error_message="x")],
        refusals={"b": _refusal("b"), "c": _refusal("c")},
        holds={"d": _hold("d")},
        source_problem="members.csv: no such file",
    )
    assert not ledger.source_read
    assert {e.invoice_id: e.state for e in ledger.entries} == {
        "a": "exported",
        "b": "refused",
        "c": "refused",
        "d": "held",
    }
    assert ledger.problems[0].kind == "source" and "no such file" in ledger.problems[0].what


def test_a_failed_invoice_the_source_no_longer_offers_is_not_eligible() -> None:
    gone = _invoice("gone")
    ledger = _ledger([_invoice("a")], exports=[_row(gone, "failed", error_message="x")])
    assert ledger.get("gone").state == "not-eligible"  # type: ignore[union-attr]


def test_every_invoice_in_exactly_one_state_and_waiting_matches_eligibility() -> None:
    invoices = [_invoice(str(n), f"m{n % 4}") for n in range(12)]
    ledger = _ledger(invoices, member_states={"m2": "needs_review"}, refusals={"5": _refusal("5")})
    counts = ledger.counts
    assert set(counts) == set(INVOICE_STATES) and sum(counts.values()) == len(invoices)
    eligible, _ = classify(
        invoices,
        enabled_at=ENABLED_AT,
        statuses=("pending",),
        settled={},
        links={"m1": "57"},
        member_states={"m2": "needs_review"},
        known_members={"m1", "m2", "m3"},
        tz=UTC,
    )
    assert counts["waiting"] + counts["refused"] == len(eligible)
