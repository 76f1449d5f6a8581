"""Numbers and currencies in the QBO body: plain digits, QBO's precision, refusals per invoice."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from qbsync.config import ExportConfig
from qbsync.exactjson import dumps
from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.sync.invoice_map import CustomerInfo, Mapped, QboRefs, Refused, map_invoice
from qbsync.sync.money import MINOR_UNITS

REFS = QboRefs(
    items={"services": "1"},
    tax_codes={},
    home_currency="USD",
    multicurrency=False,
    custom_txn_numbers=False,
)
CUSTOMER = CustomerInfo(id="57", active=True, currency=None, email=None)
MEMBER = Member(id="m1", email="ann@example.com")


def _invoice(*lines: InvoiceLine, **changes: Any) -> SourceInvoice:
    base = SourceInvoice(
        id="inv-1",
        member_id="m1",
        number="INV-1001",
        created_at=datetime(2026, 3, 5, 15, 0, tzinfo=UTC),
        due_date=date(2026, 3, 19),
        status="pending",
        currency="USD",
        lines=lines or (InvoiceLine("Membership", Decimal("1"), Decimal("25.00")),),
    )
    return replace(base, **changes)


def _map(invoice: SourceInvoice, refs: QboRefs = REFS) -> Mapped | Refused:
    return map_invoice(invoice, MEMBER, CUSTOMER, ExportConfig(), refs, UTC)


def test_exponent_form_numbers_are_sent_in_plain_digits() -> None:
    # `1e2` from a JSON source and `0.0000005` from CSV (Decimal writes it 5E-7).
    quantity = json.loads('{"q": 1e2}', parse_float=Decimal)["q"]
    stamps = InvoiceLine("Stamps", quantity, Decimal("0.0000005"))
    mapped = _map(_invoice(InvoiceLine("Membership", Decimal("1"), Decimal("25.00")), stamps))
    assert isinstance(mapped, Mapped)
    body = dumps(mapped.body)
    assert '"Qty":100,' in body and '"UnitPrice":0.0000005}' in body
    assert '"Amount":0.00,' in body and '"Amount":25.00,' in body
    assert "E+" not in body and "E-" not in body


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (InvoiceLine("Absurd", Decimal("1"), Decimal("1" * 60)), "unit_price"),
        (InvoiceLine("Absurd", Decimal("1E+30"), Decimal("25.00")), "quantity"),
        (InvoiceLine("Absurd", Decimal("1" * 60 + ".5"), Decimal("1")), "quantity"),
        (InvoiceLine("Big", Decimal("9999999"), Decimal("9999999")), "amount"),
    ],
)
def test_an_absurd_number_is_refused_naming_line_and_field(line: InvoiceLine, field: str) -> None:
    # Before: a 60-digit unit price raised decimal.InvalidOperation out of map_invoice, which
    # stopped the whole export for everyone.
    ok = InvoiceLine("Membership", Decimal("1"), Decimal("25.00"))
    refused = _map(_invoice(ok, line))
    assert isinstance(refused, Refused)
    assert (refused.invoice_id, refused.field) == ("inv-1", field)
    assert "line 2" in refused.reason and "too large" in refused.reason


def test_an_absurd_tax_amount_is_refused() -> None:
    refused = _map(_invoice(tax_amount=Decimal("1" * 60)))
    assert isinstance(refused, Refused) and refused.field == "tax_amount"
    assert "too large" in refused.reason


def test_a_total_over_the_bound_is_refused_even_when_each_line_fits() -> None:
    line = InvoiceLine("Big", Decimal("1"), Decimal("9000000000000"))
    refused = _map(_invoice(line, line))
    assert isinstance(refused, Refused) and refused.field == "total"
    assert "INV-1001" in refused.reason


def test_the_largest_amount_qbsync_sends_goes() -> None:
    line = InvoiceLine("Big", Decimal("1"), Decimal("9999999999999.99"))
    mapped = _map(_invoice(line))
    assert isinstance(mapped, Mapped)
    assert '"Amount":9999999999999.99' in dumps(mapped.body)


@pytest.mark.parametrize(
    ("code", "words"), [("JPY", "0 decimals"), ("KWD", "3 decimals"), ("XAU", "no minor unit")]
)
def test_a_currency_without_cents_is_refused(code: str, words: str) -> None:
    refs = replace(REFS, multicurrency=True)
    refused = _map(_invoice(currency=code), refs)
    assert isinstance(refused, Refused) and refused.field == "currency"
    assert code in refused.reason and words in refused.reason


def test_a_home_currency_without_cents_is_refused_too() -> None:
    refused = _map(_invoice(currency=None), replace(REFS, home_currency="JPY"))
    assert isinstance(refused, Refused) and refused.field == "currency"
    assert "JPY" in refused.reason


def test_minor_units_table_holds_only_non_cent_currencies() -> None:
    assert MINOR_UNITS["JPY"] == 0 and MINOR_UNITS["BHD"] == 3 and MINOR_UNITS["XAU"] is None
    assert not {"USD", "EUR", "GBP", "CAD", "AUD"} & MINOR_UNITS.keys()


def test_the_platform_total_rides_along_and_is_checked() -> None:
    mapped = _map(_invoice(total=Decimal("25.00")))
    assert isinstance(mapped, Mapped)
    assert (mapped.total, mapped.platform_total) == (Decimal("25.00"), Decimal("25.00"))
    refused = _map(_invoice(total=Decimal("25.001")))
    assert isinstance(refused, Refused) and refused.field == "total"
    assert "2 decimals" in refused.reason
