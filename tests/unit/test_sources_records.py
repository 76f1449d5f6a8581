"""sources/records.py: Problem's text, Member.active, SourceInvoice.fingerprint."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from qbsync.sources import InvoiceLine, Member, PlatformPayment, Problem, Read, SourceInvoice


def test_problem_reads_as_where_record_field_reason() -> None:
    problem = Problem("members.csv line 7", "m-7", "email", "invalid email 'ada@'", "member")
    assert str(problem) == "members.csv line 7: member m-7: email: invalid email 'ada@'"


def test_problem_leaves_out_what_is_not_known() -> None:
    assert str(Problem("members.csv line 3", None, None, "not UTF-8 text")) == (
        "members.csv line 3: not UTF-8 text"
    )
    assert str(Problem("GET /invoices page 1 item 2", "i-1", None, "no lines", "invoice")) == (
        "GET /invoices page 1 item 2: invoice i-1: no lines"
    )
    # Built by hand (the engine) with no kind: the id alone.
    assert str(Problem("x", "m-1", "email", "no usable email")) == "x: m-1: email: no usable email"


def test_member_is_active_only_with_status_active() -> None:
    assert Member(id="m", email="").active
    assert not Member(id="m", email="", status="inactive").active


def test_read_starts_empty() -> None:
    read: Read[Member] = Read([], [])
    assert read.records == [] and read.problems == []


def _invoice(**changes: object) -> SourceInvoice:
    base = SourceInvoice(
        id="i-1",
        member_id="m-1",
        number="1001",
        created_at=datetime(2024, 6, 1, 10, 0, tzinfo=UTC),
        due_date=date(2024, 6, 30),
        status="pending",
        currency="USD",
        lines=(InvoiceLine("Membership", Decimal("1"), Decimal("10.50"), "MEM", "TAX"),),
        tax_amount=Decimal("0.84"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_fingerprint_is_a_stable_sha256_hex() -> None:
    first = _invoice().fingerprint()
    assert first == _invoice().fingerprint()
    assert len(first) == 64 and int(first, 16) >= 0


def test_fingerprint_is_the_same_for_the_same_amounts_and_instants() -> None:
    same = _invoice(
        created_at=datetime(2024, 6, 1, 5, 0, tzinfo=timezone(timedelta(hours=-5))),
        lines=(InvoiceLine("Membership", Decimal("1.000"), Decimal("10.5"), "MEM", "TAX"),),
        tax_amount=Decimal("0.840"),
    )
    assert same.fingerprint() == _invoice().fingerprint()


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "i-2"},
        {"member_id": "m-2"},
        {"number": "1002"},
        {"created_at": datetime(2024, 6, 1, 10, 1, tzinfo=UTC)},
        {"due_date": None},
        {"due_date": date(2024, 7, 1)},
        {"status": "paid"},
        {"currency": None},
        {"currency": "EUR"},
        {"kind": "credit_note"},
        {"kind": "credit_note", "applies_to": "i-0"},
        {"tax_amount": None},
        {"tax_amount": Decimal("0.85")},
        {"lines": (InvoiceLine("Membership!", Decimal("1"), Decimal("10.50"), "MEM", "TAX"),)},
        {"lines": (InvoiceLine("Membership", Decimal("2"), Decimal("10.50"), "MEM", "TAX"),)},
        {"lines": (InvoiceLine("Membership", Decimal("1"), Decimal("10.51"), "MEM", "TAX"),)},
        {"lines": (InvoiceLine("Membership", Decimal("1"), Decimal("10.50"), "MEM2", "TAX"),)},
        {"lines": (InvoiceLine("Membership", Decimal("1"), Decimal("10.50"), "MEM", ""),)},
        {
            "lines": (
                InvoiceLine("Membership", Decimal("1"), Decimal("10.50"), "MEM", "TAX"),
                InvoiceLine("Fee", Decimal("1"), Decimal("0"), "", ""),
            )
        },
    ],
    ids=lambda c: next(iter(c)),
)
def test_fingerprint_changes_with_every_field(changes: dict[str, object]) -> None:
    assert _invoice(**changes).fingerprint() != _invoice().fingerprint()


def test_fingerprint_tells_apart_a_zero_tax_and_no_tax() -> None:
    assert (
        _invoice(tax_amount=Decimal("0")).fingerprint() != _invoice(tax_amount=None).fingerprint()
    )
    assert _invoice(tax_amount=Decimal("-0.00")).fingerprint() == (
        _invoice(tax_amount=Decimal("0")).fingerprint()
    )


def test_fingerprint_of_a_plain_invoice_is_what_earlier_versions_stored() -> None:
    # Stored in `exports` by earlier versions: a change here flags every exported invoice as
    # "changed since export".
    assert _invoice().fingerprint() == (
        "5c91f97251fe21dd5bfc17b3454dad7601bbd9886cb214e2462ed2f39050f07b"
    )


def test_fingerprint_leaves_payments_out_and_keeps_old_hashes_with_default_kind() -> None:
    # A payment taken at the platform is not an edit (the engine pushes payments by id): an
    # exported invoice that gets paid must not read as "changed". Defaults add nothing, so the
    # hash earlier versions stored still matches.
    paid = PlatformPayment("p-1", datetime(2024, 6, 2, tzinfo=UTC), Decimal("11.34"), "card")
    assert _invoice(payments=(paid,), kind="invoice", applies_to=None).fingerprint() == (
        "5c91f97251fe21dd5bfc17b3454dad7601bbd9886cb214e2462ed2f39050f07b"
    )
    note = _invoice(kind="credit_note")
    assert note.fingerprint() != _invoice(kind="credit_note", applies_to="i-0").fingerprint()


def test_fingerprint_leaves_the_platform_total_out() -> None:
    # Derived from the lines and tax (which are in it); adding a `total` column must not flag
    # every exported invoice as changed.
    assert _invoice(total=Decimal("11.34")).fingerprint() == _invoice().fingerprint()


@pytest.mark.parametrize(
    ("absurd", "near"),
    [
        ("1E+999999999", "2E+999999999"),
        ("1" * 60, "1" * 59 + "2"),
        ("1E-999999999", "2E-999999999"),
    ],
)
def test_fingerprint_of_an_absurd_amount_neither_raises_nor_collides(
    absurd: str, near: str
) -> None:
    # A JSON source may send 1e999999999: normalizing it in the default context raised Overflow,
    # stopping every export and `status` while such an invoice was listed.
    line = InvoiceLine("Membership", Decimal(absurd), Decimal("10.50"), "MEM", "TAX")
    other = InvoiceLine("Membership", Decimal(near), Decimal("10.50"), "MEM", "TAX")
    fingerprint = _invoice(lines=(line,)).fingerprint()
    assert fingerprint != _invoice(lines=(other,)).fingerprint()
