"""A source invoice -> the QBO Invoice body, or the reason it is refused: one test per rule."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from qbsync.config import ExportConfig
from qbsync.exactjson import dumps
from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.sync.invoice_map import (
    CustomerInfo,
    Mapped,
    QboRefs,
    Refused,
    line_amount,
    map_invoice,
    marker,
    source_total,
    uses_source_numbers,
)

NEW_YORK = ZoneInfo("America/New_York")
REFS = QboRefs(
    items={"services": "1", "gold membership": "7", "gold-plan": "8", "day pass": "9"},
    tax_codes={"tax": "TAX", "non": "NON", "vat 20%": "12"},
    home_currency="USD",
    multicurrency=False,
    custom_txn_numbers=False,
)
CUSTOMER = CustomerInfo(id="57", active=True, currency=None, email="ann@example.com")
MEMBER = Member(id="m1", email="ann@example.com", first_name="Ann")
EXPORT = ExportConfig()


def _invoice(**changes: Any) -> SourceInvoice:
    base = SourceInvoice(
        id="inv-1",
        member_id="m1",
        number="INV-1001",
        created_at=datetime(2026, 3, 5, 15, 0, tzinfo=UTC),
        due_date=date(2026, 3, 19),
        status="pending",
        currency="USD",
        lines=(InvoiceLine("Monthly membership", Decimal("1"), Decimal("25.00")),),
    )
    return replace(base, **changes)


def _line(**changes: Any) -> InvoiceLine:
    return replace(InvoiceLine("Desk", Decimal("2"), Decimal("10.00")), **changes)


def _mapped(
    invoice: SourceInvoice | None = None,
    *,
    member: Member = MEMBER,
    customer: CustomerInfo = CUSTOMER,
    export: ExportConfig = EXPORT,
    refs: QboRefs = REFS,
    tz: Any = UTC,
) -> Mapped:
    result = map_invoice(invoice or _invoice(), member, customer, export, refs, tz)
    assert isinstance(result, Mapped), result
    return result


def _refused(
    invoice: SourceInvoice | None = None,
    *,
    member: Member = MEMBER,
    customer: CustomerInfo = CUSTOMER,
    export: ExportConfig = EXPORT,
    refs: QboRefs = REFS,
    tz: Any = UTC,
) -> Refused:
    result = map_invoice(invoice or _invoice(), member, customer, export, refs, tz)
    assert isinstance(result, Refused), result
    assert result.invoice_id == (invoice or _invoice()).id
    return result


def _detail(mapped: Mapped, index: int = 0) -> dict[str, Any]:
    detail: dict[str, Any] = mapped.body["Line"][index]["SalesItemLineDetail"]
    return detail


# -- helpers ---------------------------------------------------------------------------------


def test_marker_names_id_and_number() -> None:
    assert marker(_invoice()) == "qbsync:inv-1 #INV-1001;"


@pytest.mark.parametrize(
    ("qty", "price", "amount"),
    [
        ("14.50", "128.35", "1861.08"),  # 1861.075: half-up, as QBO checks it
        ("1", "25", "25.00"),
        ("3", "0.333", "1.00"),  # 0.999
        ("1", "0.005", "0.01"),
        ("1", "0.0049999", "0.00"),
        ("-1", "10.005", "-10.01"),  # half away from zero on a discount line
        ("0.0000001", "1234567.1234567", "0.12"),
    ],
)
def test_line_amount_rounds_half_up_to_cents(qty: str, price: str, amount: str) -> None:
    result = line_amount(Decimal(qty), Decimal(price))
    assert result == Decimal(amount)
    assert str(result) == amount


def test_line_amount_is_exact_beyond_the_default_decimal_precision() -> None:
    # 31 digits: the default 28-digit context would round the product to ...0.00500 -> 0.01
    qty = Decimal("10000000000000000000000.0049999")
    assert (qty * 1).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) != qty.quantize(
        Decimal("0.01")
    )
    assert line_amount(qty, Decimal("1")) == Decimal("10000000000000000000000.00")
    assert line_amount(Decimal("1"), Decimal("12345678901234567.89")) == Decimal(
        "12345678901234567.89"
    )


def test_source_total_sums_line_amounts_and_tax() -> None:
    invoice = _invoice(
        lines=(_line(quantity=Decimal("14.50"), unit_price=Decimal("128.35")), _line()),
        tax_amount=Decimal("5.10"),
    )
    assert source_total(invoice) == Decimal("1861.08") + Decimal("20.00") + Decimal("5.10")
    assert source_total(replace(invoice, tax_amount=None)) == Decimal("1881.08")


@pytest.mark.parametrize(
    ("mode", "custom", "expected"),
    [
        ("source", False, True),
        ("source", True, True),
        ("qbo", True, False),
        ("qbo", False, False),
        ("auto", True, True),
        ("auto", False, False),
    ],
)
def test_uses_source_numbers(mode: str, custom: bool, expected: bool) -> None:
    refs = replace(REFS, custom_txn_numbers=custom)
    assert uses_source_numbers(ExportConfig(doc_number=mode), refs) is expected


# -- the body --------------------------------------------------------------------------------


def test_a_plain_invoice_maps_to_the_whole_body() -> None:
    mapped = _mapped()
    assert mapped.invoice_id == "inv-1"
    assert mapped.total == Decimal("25.00")
    assert mapped.doc_number is None
    assert mapped.marker == "qbsync:inv-1 #INV-1001;"
    assert mapped.body == {
        "CustomerRef": {"value": "57"},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("25.00"),
                "Description": "Monthly membership",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "1"},
                    "Qty": Decimal("1"),
                    "UnitPrice": Decimal("25.00"),
                },
            }
        ],
        "TxnDate": "2026-03-05",
        "DueDate": "2026-03-19",
        "PrivateNote": "qbsync:inv-1 #INV-1001;",
        "BillEmail": {"Address": "ann@example.com"},
        "AllowIPNPayment": False,
        "AllowOnlineCreditCardPayment": False,
        "AllowOnlineACHPayment": False,
    }


def test_the_body_is_exact_json() -> None:
    invoice = _invoice(lines=(_line(quantity=Decimal("14.50"), unit_price=Decimal("128.35")),))
    text = dumps(_mapped(invoice).body)
    assert '"Amount":1861.08' in text
    assert '"Qty":14.50,"UnitPrice":128.35' in text
    assert json.loads(text, parse_float=Decimal)["Line"][0]["Amount"] == Decimal("1861.08")


def test_body_holds_only_plain_json_types() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert all(isinstance(k, str) for k in node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        else:
            assert isinstance(node, str | bool | Decimal), type(node)

    walk(_mapped(_invoice(tax_amount=Decimal("2.00"))).body)


def test_allow_ipn_payment_is_always_false() -> None:
    export = ExportConfig(online_payment=("card", "ach"))
    assert _mapped(export=export).body["AllowIPNPayment"] is False


@pytest.mark.parametrize(
    ("online", "card", "ach"),
    [
        ((), False, False),
        (("card",), True, False),
        (("ach",), False, True),
        (("card", "ach"), True, True),
    ],
)
def test_online_payment_flags_follow_the_config(
    online: tuple[str, ...], card: bool, ach: bool
) -> None:
    body = _mapped(export=ExportConfig(online_payment=online)).body
    assert body["AllowOnlineCreditCardPayment"] is card
    assert body["AllowOnlineACHPayment"] is ach
    assert "AllowOnlinePayment" not in body  # deprecated


def test_txn_date_is_the_created_date_in_the_export_zone() -> None:
    late = _invoice(created_at=datetime(2026, 11, 2, 4, 30, tzinfo=UTC))  # 23:30 EST Nov 1st
    assert _mapped(late, tz=NEW_YORK).body["TxnDate"] == "2026-11-01"
    assert _mapped(late, tz=UTC).body["TxnDate"] == "2026-11-02"


def test_txn_date_with_no_zone_uses_the_machine_zone() -> None:
    moment = datetime(2026, 11, 2, 4, 30, tzinfo=UTC)
    expected = moment.astimezone().date().isoformat()
    assert _mapped(_invoice(created_at=moment), tz=None).body["TxnDate"] == expected


def test_a_naive_created_at_is_wall_time_in_the_export_zone() -> None:
    naive = _invoice(created_at=datetime(2026, 3, 5, 23, 30))
    assert _mapped(naive, tz=NEW_YORK).body["TxnDate"] == "2026-03-05"
    assert _mapped(naive, tz=ZoneInfo("Asia/Tokyo")).body["TxnDate"] == "2026-03-05"


def test_due_date_is_left_out_when_the_source_has_none() -> None:
    assert "DueDate" not in _mapped(_invoice(due_date=None)).body


def test_bill_email_is_the_members_first_address() -> None:
    member = replace(MEMBER, email=" , ann@example.com, billing@example.com")
    assert _mapped(member=member).body["BillEmail"] == {"Address": "ann@example.com"}


def test_no_bill_email_without_a_member_email() -> None:
    assert "BillEmail" not in _mapped(member=replace(MEMBER, email="")).body
    assert "BillEmail" not in _mapped(member=replace(MEMBER, email=" , ")).body


def test_tax_amount_goes_to_txn_tax_detail() -> None:
    mapped = _mapped(_invoice(tax_amount=Decimal("2.06")))
    assert mapped.body["TxnTaxDetail"] == {"TotalTax": Decimal("2.06")}
    assert mapped.total == Decimal("27.06")


def test_zero_tax_amount_is_sent() -> None:
    assert _mapped(_invoice(tax_amount=Decimal("0.00"))).body["TxnTaxDetail"] == {
        "TotalTax": Decimal("0.00")
    }


def test_no_txn_tax_detail_without_a_tax_amount() -> None:
    assert "TxnTaxDetail" not in _mapped().body


@pytest.mark.parametrize(
    ("tax", "words"), [("-1.00", "below zero"), ("1.005", "2 decimals"), ("NaN", "not a decimal")]
)
def test_a_bad_tax_amount_is_refused(tax: str, words: str) -> None:
    refused = _refused(_invoice(tax_amount=Decimal(tax)))
    assert refused.field == "tax_amount"
    assert words in refused.reason


# -- DocNumber -------------------------------------------------------------------------------


def test_doc_number_is_sent_with_source_numbers() -> None:
    mapped = _mapped(export=ExportConfig(doc_number="source"))
    assert mapped.body["DocNumber"] == "INV-1001"
    assert mapped.doc_number == "INV-1001"


def test_doc_number_follows_custom_txn_numbers_in_auto_mode() -> None:
    assert _mapped(refs=replace(REFS, custom_txn_numbers=True)).doc_number == "INV-1001"
    mapped = _mapped(refs=replace(REFS, custom_txn_numbers=False))
    assert "DocNumber" not in mapped.body
    assert mapped.doc_number is None


def test_doc_number_is_left_out_in_qbo_mode() -> None:
    mapped = _mapped(
        export=ExportConfig(doc_number="qbo"), refs=replace(REFS, custom_txn_numbers=True)
    )
    assert "DocNumber" not in mapped.body


def test_a_21_character_number_is_fine_and_22_is_refused() -> None:
    export = ExportConfig(doc_number="source")
    assert _mapped(_invoice(number="N" * 21), export=export).doc_number == "N" * 21
    refused = _refused(_invoice(number="N" * 22), export=export)
    assert refused.field == "number"
    assert "21" in refused.reason and "DocNumber" in refused.reason
    assert 'doc_number = "qbo"' in refused.reason


def test_a_long_number_is_fine_when_qbo_numbers_invoices() -> None:
    mapped = _mapped(_invoice(number="N" * 40), export=ExportConfig(doc_number="qbo"))
    assert mapped.marker.endswith("N" * 40 + ";")


def test_an_empty_source_number_is_not_sent() -> None:
    mapped = _mapped(_invoice(number=""), export=ExportConfig(doc_number="source"))
    assert mapped.doc_number is None and "DocNumber" not in mapped.body


def test_a_private_note_over_4000_characters_is_refused() -> None:
    refused = _refused(_invoice(id="i" * 4000))
    assert refused.field == "id"
    assert "4000" in refused.reason


# -- ItemRef ---------------------------------------------------------------------------------


def test_an_empty_item_code_uses_the_default_item() -> None:
    assert _detail(_mapped())["ItemRef"] == {"value": "1"}
    export = ExportConfig(default_item="Day Pass")
    assert _detail(_mapped(export=export))["ItemRef"] == {"value": "9"}


def test_a_mapped_code_looks_up_the_qbo_name_ignoring_case() -> None:
    export = ExportConfig(items={"GOLD": "Gold MEMBERSHIP"})
    invoice = _invoice(lines=(_line(item_code="GOLD"),))
    assert _detail(_mapped(invoice, export=export))["ItemRef"] == {"value": "7"}


def test_a_mapping_wins_over_a_qbo_item_of_the_same_name() -> None:
    export = ExportConfig(items={"gold-plan": "Gold Membership"})
    invoice = _invoice(lines=(_line(item_code="gold-plan"),))
    assert _detail(_mapped(invoice, export=export))["ItemRef"] == {"value": "7"}


def test_an_unmapped_code_equal_to_a_qbo_item_name_uses_that_item() -> None:
    invoice = _invoice(lines=(_line(item_code="Day PASS"),))
    assert _detail(_mapped(invoice))["ItemRef"] == {"value": "9"}


def test_an_unmapped_code_is_refused_with_the_line_to_add() -> None:
    invoice = _invoice(lines=(_line(), _line(item_code="silver-plan")))
    refused = _refused(invoice)
    assert refused.field == "item_code"
    assert 'add  "silver-plan" = "<QBO item name>"  under [export.items]' in refused.reason
    assert refused.reason.startswith("line 2:")
    assert 'unmapped_items = "default"' in refused.reason


def test_an_unmapped_code_uses_the_default_when_configured() -> None:
    export = ExportConfig(unmapped_items="default", default_item="Day Pass")
    invoice = _invoice(lines=(_line(item_code="silver-plan"),))
    assert _detail(_mapped(invoice, export=export))["ItemRef"] == {"value": "9"}


def test_a_mapped_name_qbo_does_not_have_is_refused_naming_it_and_the_key() -> None:
    export = ExportConfig(items={"gold": "Platinum Membership"})
    refused = _refused(_invoice(lines=(_line(item_code="gold"),)), export=export)
    assert refused.field == "item_code"
    assert '"Platinum Membership"' in refused.reason
    assert '"gold" under [export.items]' in refused.reason


def test_a_default_item_qbo_does_not_have_is_refused_naming_it_and_the_key() -> None:
    refused = _refused(export=ExportConfig(default_item="Memberships"))
    assert refused.field == "item_code"
    assert '"Memberships"' in refused.reason
    assert "[export] default_item" in refused.reason


def test_a_code_with_a_quote_is_quoted_for_toml() -> None:
    refused = _refused(_invoice(lines=(_line(item_code='a"b'),)))
    assert 'add  "a\\"b" = "<QBO item name>"' in refused.reason


# -- TaxCodeRef ------------------------------------------------------------------------------


def test_no_tax_code_and_no_default_sends_no_tax_code_ref() -> None:
    assert "TaxCodeRef" not in _detail(_mapped())


def test_a_mapped_tax_code_is_sent() -> None:
    export = ExportConfig(tax_codes={"vat20": "VAT 20%"})
    invoice = _invoice(lines=(_line(tax_code="vat20"),))
    assert _detail(_mapped(invoice, export=export))["TaxCodeRef"] == {"value": "12"}


def test_an_empty_tax_code_uses_the_default_tax_code() -> None:
    export = ExportConfig(default_tax_code="NON")
    assert _detail(_mapped(export=export))["TaxCodeRef"] == {"value": "NON"}


def test_an_unmapped_tax_code_uses_the_default_tax_code() -> None:
    export = ExportConfig(default_tax_code="tax")
    invoice = _invoice(lines=(_line(tax_code="exempt-ish"),))
    assert _detail(_mapped(invoice, export=export))["TaxCodeRef"] == {"value": "TAX"}


def test_an_unmapped_tax_code_without_a_default_sends_none() -> None:
    invoice = _invoice(lines=(_line(tax_code="exempt-ish"),))
    assert "TaxCodeRef" not in _detail(_mapped(invoice))


def test_an_unmapped_tax_code_equal_to_a_qbo_tax_code_name_uses_it() -> None:
    export = ExportConfig(default_tax_code="NON")
    invoice = _invoice(lines=(_line(tax_code="Tax"),))
    assert _detail(_mapped(invoice, export=export))["TaxCodeRef"] == {"value": "TAX"}


def test_an_unknown_mapped_tax_code_name_is_refused() -> None:
    export = ExportConfig(tax_codes={"vat20": "VAT 21%"})
    refused = _refused(_invoice(lines=(_line(tax_code="vat20"),)), export=export)
    assert refused.field == "tax_code"
    assert '"VAT 21%"' in refused.reason
    assert '"vat20" under [export.tax_codes]' in refused.reason


def test_an_unknown_default_tax_code_is_refused() -> None:
    refused = _refused(export=ExportConfig(default_tax_code="GST"))
    assert refused.field == "tax_code"
    assert '"GST"' in refused.reason and "[export] default_tax_code" in refused.reason


# -- Qty, UnitPrice, Amount, Description -----------------------------------------------------


def test_amount_is_the_rounded_product() -> None:
    invoice = _invoice(lines=(_line(quantity=Decimal("14.50"), unit_price=Decimal("128.35")),))
    line = _mapped(invoice).body["Line"][0]
    assert line["Amount"] == Decimal("1861.08")
    assert line["SalesItemLineDetail"]["Qty"] == Decimal("14.50")
    assert line["SalesItemLineDetail"]["UnitPrice"] == Decimal("128.35")


def test_seven_decimals_are_fine() -> None:
    invoice = _invoice(
        lines=(_line(quantity=Decimal("1.1234567"), unit_price=Decimal("99.9999999")),)
    )
    detail = _detail(_mapped(invoice))
    assert str(detail["Qty"]) == "1.1234567"
    assert str(detail["UnitPrice"]) == "99.9999999"


def test_trailing_zeros_past_seven_decimals_are_dropped() -> None:
    invoice = _invoice(lines=(_line(unit_price=Decimal("10.500000000")),))
    assert str(_detail(_mapped(invoice))["UnitPrice"]) == "10.5000000"


@pytest.mark.parametrize("field", ["quantity", "unit_price"])
def test_eight_decimals_are_refused(field: str) -> None:
    invoice = _invoice(lines=(_line(**{field: Decimal("1.00000001")}),))
    refused = _refused(invoice)
    assert refused.field == field
    assert "7 decimals" in refused.reason and "line 1" in refused.reason


def test_a_non_finite_quantity_is_refused() -> None:
    refused = _refused(_invoice(lines=(_line(quantity=Decimal("Infinity")),)))
    assert refused.field == "quantity"


def test_a_4000_character_description_is_fine_and_4001_is_refused() -> None:
    ok = _invoice(lines=(_line(description="d" * 4000),))
    assert len(_mapped(ok).body["Line"][0]["Description"]) == 4000
    refused = _refused(_invoice(lines=(_line(description="d" * 4001),)))
    assert refused.field == "description"
    assert "4000" in refused.reason


def test_an_empty_description_is_left_out() -> None:
    assert "Description" not in _mapped(_invoice(lines=(_line(description=""),))).body["Line"][0]


def test_a_discount_line_is_fine_when_the_total_is_positive() -> None:
    invoice = _invoice(lines=(_line(), _line(quantity=Decimal("1"), unit_price=Decimal("-5.00"))))
    mapped = _mapped(invoice)
    assert mapped.total == Decimal("15.00")
    assert mapped.body["Line"][1]["Amount"] == Decimal("-5.00")


def test_lines_keep_their_order() -> None:
    invoice = _invoice(lines=tuple(_line(description=f"line {n}") for n in range(5)))
    assert [ln["Description"] for ln in _mapped(invoice).body["Line"]] == [
        f"line {n}" for n in range(5)
    ]


def test_an_invoice_without_lines_is_refused() -> None:
    refused = _refused(_invoice(lines=(), tax_amount=Decimal("5.00")))
    assert refused.field == "lines"


# -- refused invoices ------------------------------------------------------------------------


@pytest.mark.parametrize("price", ["0", "-25.00", "0.004"])
def test_a_total_of_zero_or_below_is_refused_as_a_credit_memo(price: str) -> None:
    refused = _refused(_invoice(lines=(_line(quantity=Decimal("1"), unit_price=Decimal(price)),)))
    assert refused.field == "total"
    assert 'negative = "credit_memo"' in refused.reason


def test_an_inactive_customer_is_refused_with_both_ways_out() -> None:
    refused = _refused(customer=replace(CUSTOMER, active=False))
    assert refused.field == "customer"
    assert "57" in refused.reason
    assert "reactivate it in QBO" in refused.reason
    assert "qbsync link m1 <customer id>" in refused.reason


@pytest.mark.parametrize("currency", [None, "USD", "usd", ""])
def test_the_home_currency_sends_no_currency_ref(currency: str | None) -> None:
    assert "CurrencyRef" not in _mapped(_invoice(currency=currency)).body


def test_another_currency_is_refused_without_multicurrency() -> None:
    refused = _refused(_invoice(currency="EUR"))
    assert refused.field == "currency"
    assert "EUR" in refused.reason and "USD" in refused.reason and "multicurrency" in refused.reason


def test_another_currency_goes_with_multicurrency_and_a_matching_customer() -> None:
    refs = replace(REFS, multicurrency=True)
    customer = replace(CUSTOMER, currency="EUR")
    mapped = _mapped(_invoice(currency="eur"), customer=customer, refs=refs)
    assert mapped.body["CurrencyRef"] == {"value": "EUR"}


def test_multicurrency_refuses_a_customer_in_another_currency() -> None:
    refs = replace(REFS, multicurrency=True)
    refused = _refused(_invoice(currency="EUR"), refs=refs)  # customer currency None: home
    assert refused.field == "currency"
    assert "USD" in refused.reason and "qbsync link m1" in refused.reason
    refused = _refused(customer=replace(CUSTOMER, currency="EUR"), refs=refs)  # USD invoice
    assert refused.field == "currency"


def test_multicurrency_home_currency_invoice_sends_no_currency_ref() -> None:
    refs = replace(REFS, multicurrency=True)
    mapped = _mapped(customer=replace(CUSTOMER, currency="USD"), refs=refs)
    assert "CurrencyRef" not in mapped.body


def test_mapping_is_pure() -> None:
    invoice = _invoice(tax_amount=Decimal("1.00"))
    assert _mapped(invoice) == _mapped(invoice)
    assert invoice.lines[0].unit_price == Decimal("25.00")


def test_a_memo_carries_only_its_own_marker() -> None:
    from qbsync.sync.export_apply import carries_marker

    assert carries_marker("qbsync:A #1", "qbsync:A #1")
    assert carries_marker("qbsync:A #1\npaid by check", "qbsync:A #1")
    # the old format (rows sent before markers ended with ";"): only the marker or a new line
    assert not carries_marker("qbsync:A #1 (paid)", "qbsync:A #1")
    assert not carries_marker("qbsync:A #12", "qbsync:A #1")
    assert not carries_marker("qbsync:A #1 #5", "qbsync:A #1")
    assert not carries_marker("qbsync:A #1-b", "qbsync:A #1")
    assert not carries_marker("note: qbsync:A #1", "qbsync:A #1")
