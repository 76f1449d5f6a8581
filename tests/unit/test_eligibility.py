"""Which invoices an export sends: one test per branch, plus order and precedence."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from qbsync.sources.records import InvoiceLine, SourceInvoice
from qbsync.sync.eligibility import REASON_CODES, Eligible, Skipped, classify

ENABLED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def _invoice(id: str = "inv-1", **changes: Any) -> SourceInvoice:
    base = SourceInvoice(
        id=id,
        member_id="m1",
        number=f"N-{id}",
        created_at=ENABLED_AT + timedelta(days=1),
        due_date=date(2026, 3, 20),
        status="pending",
        currency="USD",
        lines=(InvoiceLine("Membership", Decimal("1"), Decimal("25.00")),),
    )
    return replace(base, **changes)


def _classify(
    invoices: Sequence[SourceInvoice],
    *,
    enabled_at: datetime = ENABLED_AT,
    statuses: Sequence[str] = ("pending",),
    settled: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    member_states: Mapping[str, str] | None = None,
    known_members: Collection[str] = ("m1", "m2", "m3"),
    tz: Any = None,
    held: Collection[str] = (),
) -> tuple[list[Eligible], list[Skipped]]:
    return classify(
        invoices,
        enabled_at=enabled_at,
        statuses=statuses,
        settled={} if settled is None else settled,
        links={"m1": "57"} if links is None else links,
        member_states={} if member_states is None else member_states,
        known_members=known_members,
        tz=tz,
        held=held,
    )


def _skipped_one(invoice: SourceInvoice, **kwargs: Any) -> Skipped:
    eligible, skipped = _classify([invoice], **kwargs)
    assert eligible == []
    assert len(skipped) == 1
    assert skipped[0].invoice_id == invoice.id
    assert skipped[0].member_id == invoice.member_id
    assert skipped[0].reason_code in REASON_CODES
    assert skipped[0].reason
    return skipped[0]


def test_a_linked_member_s_pending_invoice_is_eligible_with_its_customer() -> None:
    invoice = _invoice()
    assert _classify([invoice]) == ([Eligible(invoice, "57")], [])


def test_nothing_in_nothing_out() -> None:
    assert _classify([]) == ([], [])


# -- before_enabled --------------------------------------------------------------------------


def test_an_invoice_created_before_enabling_is_skipped() -> None:
    invoice = _invoice(created_at=ENABLED_AT - timedelta(seconds=1))
    skipped = _skipped_one(invoice)
    assert skipped.reason_code == "before_enabled"
    assert "never exported" in skipped.reason


def test_an_invoice_created_at_the_enabling_instant_is_eligible() -> None:
    eligible, _ = _classify([_invoice(created_at=ENABLED_AT)])
    assert len(eligible) == 1


def test_before_enabled_compares_instants_across_zones() -> None:
    # 06:30 in New York (EST) is 11:30 UTC: before 12:00 UTC.
    early = _invoice(created_at=datetime(2026, 3, 1, 6, 30, tzinfo=NEW_YORK))
    assert _skipped_one(early).reason_code == "before_enabled"
    late = _invoice(created_at=datetime(2026, 3, 1, 7, 30, tzinfo=ZoneInfo("America/Denver")))
    assert len(_classify([late])[0]) == 1  # 14:30 UTC


def test_before_enabled_stays_skipped_even_when_retried_later() -> None:
    invoice = _invoice(created_at=ENABLED_AT - timedelta(days=30))
    assert _skipped_one(invoice, settled={"inv-1": "failed"}).reason_code == "before_enabled"


def test_a_naive_created_at_is_wall_time_in_the_export_zone() -> None:
    naive = _invoice(created_at=datetime(2026, 3, 1, 8, 0))  # 08:00 New York = 13:00 UTC
    assert len(_classify([naive], tz=NEW_YORK)[0]) == 1
    assert _skipped_one(naive, tz=UTC).reason_code == "before_enabled"  # 08:00 UTC


# -- status ----------------------------------------------------------------------------------


def test_a_status_not_configured_is_skipped() -> None:
    skipped = _skipped_one(_invoice(status="draft"), statuses=("pending", "open"))
    assert skipped.reason_code == "status"
    assert "'draft'" in skipped.reason and "open, pending" in skipped.reason


def test_status_matches_ignoring_case_and_spaces() -> None:
    eligible, _ = _classify([_invoice(status=" Pending ")], statuses=("PENDING",))
    assert len(eligible) == 1


def test_several_statuses() -> None:
    invoices = [_invoice("a", status="pending"), _invoice("b", status="paid")]
    eligible, skipped = _classify(invoices, statuses=("pending", "paid"))
    assert [e.invoice.id for e in eligible] == ["a", "b"] and skipped == []


# -- settled ---------------------------------------------------------------------------------


def test_an_exported_invoice_is_skipped_as_already_exported() -> None:
    skipped = _skipped_one(_invoice(), settled={"inv-1": "exported"})
    assert skipped.reason_code == "already_exported"


def test_already_exported_wins_over_a_later_status_change() -> None:
    # Paid after export: reported as exported, not as a status problem.
    invoice = _invoice(status="paid")
    assert _skipped_one(invoice, settled={"inv-1": "exported"}).reason_code == "already_exported"


def test_an_exporting_invoice_is_in_flight() -> None:
    skipped = _skipped_one(_invoice(), settled={"inv-1": "exporting"})
    assert skipped.reason_code == "in_flight"


def test_in_flight_wins_over_a_member_problem() -> None:
    # The caller must settle it against QBO whatever happened to the member since.
    invoice = _invoice(member_id="m2")
    assert _skipped_one(invoice, settled={"inv-1": "exporting"}).reason_code == "in_flight"


def test_a_failed_invoice_is_eligible_again() -> None:
    invoice = _invoice()
    assert _classify([invoice], settled={"inv-1": "failed"}) == ([Eligible(invoice, "57")], [])


def test_a_failed_invoice_still_meets_the_other_rules() -> None:
    invoice = _invoice(status="void")
    assert _skipped_one(invoice, settled={"inv-1": "failed"}).reason_code == "status"


def test_another_invoice_s_settled_state_does_not_matter() -> None:
    eligible, _ = _classify([_invoice()], settled={"inv-2": "exported"})
    assert len(eligible) == 1


def test_an_unknown_settled_state_is_a_bug() -> None:
    with pytest.raises(ValueError, match="settled state"):
        _classify([_invoice()], settled={"inv-1": "done"})


# -- members ---------------------------------------------------------------------------------


def test_a_member_unknown_to_the_source_is_skipped() -> None:
    skipped = _skipped_one(_invoice(member_id="m9"), links={"m9": "60"})
    assert skipped.reason_code == "member_unknown"
    assert "m9" in skipped.reason


def test_a_member_without_a_link_or_state_is_not_connected() -> None:
    skipped = _skipped_one(_invoice(member_id="m2"))
    assert skipped.reason_code == "member_not_connected"
    assert "connect-members" in skipped.reason


@pytest.mark.parametrize(
    ("state", "code", "words"),
    [
        ("unmatched", "member_not_connected", "(unmatched)"),
        ("no_email", "member_not_connected", "no email"),
        ("something_new", "member_not_connected", "(something_new)"),
        ("needs_review", "member_needs_review", "more than one QBO customer"),
        ("unlinked", "member_unlinked", "was unlinked"),
    ],
)
def test_member_states_without_a_link(state: str, code: str, words: str) -> None:
    skipped = _skipped_one(_invoice(member_id="m2"), member_states={"m2": state})
    assert skipped.reason_code == code
    assert words in skipped.reason
    if state != "unmatched" and state != "something_new":
        assert "qbsync link m2 <customer id>" in skipped.reason


def test_a_link_wins_over_a_stale_member_state() -> None:
    eligible, _ = _classify([_invoice()], member_states={"m1": "needs_review"})
    assert eligible == [Eligible(_invoice(), "57")]


def test_known_members_may_be_any_collection() -> None:
    for known in (["m1"], {"m1"}, frozenset({"m1"}), ("m1",), {"m1": object()}.keys()):
        assert len(_classify([_invoice()], known_members=known)[0]) == 1


# -- order and precedence --------------------------------------------------------------------


def test_source_order_is_kept_in_both_lists() -> None:
    invoices = [
        _invoice("e1"),
        _invoice("s1", status="draft"),
        _invoice("e2", member_id="m3"),
        _invoice("s2", member_id="m2"),
        _invoice("e3"),
        _invoice("s3", created_at=ENABLED_AT - timedelta(days=1)),
    ]
    eligible, skipped = _classify(invoices, links={"m1": "57", "m3": "58"})
    assert [(e.invoice.id, e.customer_id) for e in eligible] == [
        ("e1", "57"),
        ("e2", "58"),
        ("e3", "57"),
    ]
    assert [(s.invoice_id, s.reason_code) for s in skipped] == [
        ("s1", "status"),
        ("s2", "member_not_connected"),
        ("s3", "before_enabled"),
    ]


def test_before_enabled_wins_over_status_and_member() -> None:
    invoice = _invoice(created_at=ENABLED_AT - timedelta(days=1), status="draft", member_id="m9")
    assert _skipped_one(invoice).reason_code == "before_enabled"


def test_status_wins_over_member() -> None:
    invoice = _invoice(status="draft", member_id="m9")
    assert _skipped_one(invoice).reason_code == "status"


def test_every_reason_code_is_reachable() -> None:
    invoices = [
        _invoice("a", created_at=ENABLED_AT - timedelta(days=1)),
        _invoice("b", status="draft"),
        _invoice("c"),
        _invoice("d"),
        _invoice("e", member_id="m9"),
        _invoice("f", member_id="m2"),
        _invoice("g", member_id="m3"),
        _invoice("h", member_id="m4"),
        _invoice("i"),
    ]
    _, skipped = _classify(
        invoices,
        settled={"c": "exported", "d": "exporting"},
        member_states={"m3": "needs_review", "m4": "unlinked"},
        known_members={"m1", "m2", "m3", "m4"},
        held={"i"},
    )
    assert [s.reason_code for s in skipped] == list(REASON_CODES)


def test_a_held_invoice_is_never_sent_but_a_hold_hides_nothing_sent() -> None:
    # `qbsync hold`: set aside by the operator; a hold on one QBO may already have is ignored.
    eligible, skipped = _classify(
        [_invoice("a"), _invoice("b"), _invoice("c", member_id="m9")],
        settled={"b": "exported"},
        held={"a", "b", "c"},
    )
    assert eligible == []
    assert [(s.invoice_id, s.reason_code) for s in skipped] == [
        ("a", "held"),
        ("b", "already_exported"),
        ("c", "held"),
    ]


def test_an_invoice_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        _classify([_invoice("a"), _invoice("b"), _invoice("a")])
