"""A source invoice -> the QBO Invoice create body, or the reason it cannot go.

The body is a plain dict built field by field (never python-quickbooks objects: their defaults
send ``AllowIPNPayment: true``, which Intuit says must be false). Amounts are Decimals; write the
body with ``qbsync.exactjson.dumps``. Rules and QBO limits: docs/qbo-facts.md "Invoice".

Naive datetimes (``created_at`` without a zone) are read as wall time in the export time zone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, localcontext
from typing import Any

from qbsync.config import ExportConfig
from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.sync.money import (
    AMOUNT_PLACES,
    QTY_PRICE_PLACES,
    MoneyError,
    below_limit,
    bounded,
    check_minor_unit,
    line_amount,
)
from qbsync.zones import machine_zone

DOC_NUMBER_MAX = 21  # QBO DocNumber (code 2050 beyond it)
PRIVATE_NOTE_MAX = 4000
DESCRIPTION_MAX = 4000


@dataclass(frozen=True)
class QboRefs:
    """What the QBO company has, read once per export."""

    items: Mapping[str, str]  # lower-cased QBO item Name -> Id
    tax_codes: Mapping[str, str]  # lower-cased QBO TaxCode Name -> Id
    home_currency: str  # e.g. "USD"
    multicurrency: bool
    custom_txn_numbers: bool  # Preferences.SalesFormsPrefs.CustomTxnNumbers


@dataclass(frozen=True)
class CustomerInfo:
    """The linked QBO customer, as last read."""

    id: str
    active: bool
    currency: str | None
    email: str | None


@dataclass(frozen=True)
class Mapped:
    invoice_id: str
    body: dict[str, Any]
    total: Decimal  # source_total: qbsync's sum of the lines and tax (AST may change QBO's)
    doc_number: str | None  # the DocNumber sent, None when QBO numbers the invoice
    marker: str  # the PrivateNote that finds this invoice in QBO again
    platform_total: Decimal | None = None  # the platform's own total, when the source gives it


@dataclass(frozen=True)
class Refused:
    invoice_id: str
    field: str  # the source field at fault: "customer", "currency", "item_code", ...
    reason: str  # what is wrong and the next step (the config key to set, the command to run)


class _Refusal(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


MARKER_END = ";"  # ends every marker; never inside one (escaped below)


def marker(invoice: SourceInvoice) -> str:
    """The PrivateNote qbsync writes on each invoice it exports: ``qbsync:<id> #<number>;``.

    Id and number go in with ``%``, ``#``, ``;`` and control characters as ``%XX``, so the first
    ``;`` ends the marker and no invoice's marker starts with another's (``qbsync:A #1;`` is not
    a prefix of ``qbsync:A %231 x #2;``). Invoices exported before carry ``qbsync:<id> #<number>``
    without the end (export_apply.carries_marker tells the two apart).
    """

    return f"qbsync:{marker_text(invoice.id)} #{marker_text(invoice.number)}{MARKER_END}"


def marker_text(text: str) -> str:
    """``%``, ``#``, ``;`` and control characters as ``%XX``: a marker's parts never hold its end."""
    return "".join(
        f"%{ord(c):02X}" if c in "%#;" or ord(c) < 32 or ord(c) == 127 else c for c in text
    )


def source_total(invoice: SourceInvoice) -> Decimal:
    """The sum of the line amounts plus the tax amount (when the source gives one)."""
    with localcontext() as ctx:
        ctx.prec = 60
        total = sum((line_amount(ln.quantity, ln.unit_price) for ln in invoice.lines), Decimal(0))
        if invoice.tax_amount is not None:
            total += invoice.tax_amount
        return total


def uses_source_numbers(export: ExportConfig, refs: QboRefs) -> bool:
    """Send the source's number as DocNumber? ``source``: yes; ``qbo``: no; ``auto``: when the
    company has custom transaction numbers on (with it off QBO numbers invoices itself)."""
    if export.doc_number == "source":
        return True
    if export.doc_number == "qbo":
        return False
    return refs.custom_txn_numbers


def map_invoice(
    invoice: SourceInvoice,
    member: Member,
    customer: CustomerInfo,
    export: ExportConfig,
    refs: QboRefs,
    tz: tzinfo | None,
) -> Mapped | Refused:
    """The QBO Invoice create body for ``invoice``, or why it cannot be exported.

    ``tz`` is the export time zone (None: the machine's local zone): TxnDate is the date
    ``created_at`` falls on there.
    """
    try:
        return _map(invoice, member, customer, export, refs, tz)
    except (_Refusal, MoneyError) as refusal:
        return Refused(invoice.id, refusal.field, refusal.reason)
    except ArithmeticError as exc:  # never expected past the checks; still one invoice, not all
        return Refused(invoice.id, "lines", f"invoice {invoice.number}: cannot compute it: {exc!r}")


def _map(
    invoice: SourceInvoice,
    member: Member,
    customer: CustomerInfo,
    export: ExportConfig,
    refs: QboRefs,
    tz: tzinfo | None,
) -> Mapped:
    _check_customer(invoice, customer)
    currency_ref = _currency_ref(invoice, customer, refs)
    if not invoice.lines:
        raise _Refusal("lines", f"invoice {invoice.number} has no lines; QBO needs at least one")
    lines = [_line(n, line, export, refs) for n, line in enumerate(invoice.lines, start=1)]
    _check_tax_amount(invoice.tax_amount)
    total = below_limit(source_total(invoice), "total", f"invoice {invoice.number}: the total")
    platform_total = None
    if invoice.total is not None:
        platform_total = bounded(invoice.total, "total", AMOUNT_PLACES, "the platform's total")
    if total <= 0:
        raise _Refusal(
            "total",
            f"invoice {invoice.number} totals {total}; only invoices with a total above zero "
            "go to QBO as invoices: a negative total goes as a credit memo with [export] "
            'negative = "credit_memo" (or issue it as a credit note at the platform)',
        )
    doc_number = _doc_number(invoice, export, refs)
    note = marker(invoice)
    if len(note) > PRIVATE_NOTE_MAX:
        raise _Refusal(
            "id",
            f"the invoice id and number make a {len(note)}-character PrivateNote; "
            f"QBO takes at most {PRIVATE_NOTE_MAX}",
        )

    body: dict[str, Any] = {"CustomerRef": {"value": customer.id}, "Line": lines}
    body["TxnDate"] = _local_date(invoice.created_at, tz)
    if invoice.due_date is not None:
        body["DueDate"] = invoice.due_date.isoformat()
    if doc_number is not None:
        body["DocNumber"] = doc_number
    body["PrivateNote"] = note
    email = _first_email(member.email)
    if email:
        body["BillEmail"] = {"Address": email}
    body["AllowIPNPayment"] = False
    body["AllowOnlineCreditCardPayment"] = "card" in export.online_payment
    body["AllowOnlineACHPayment"] = "ach" in export.online_payment
    if invoice.tax_amount is not None:
        body["TxnTaxDetail"] = {"TotalTax": invoice.tax_amount}
    if currency_ref is not None:
        body["CurrencyRef"] = {"value": currency_ref}
    return Mapped(invoice.id, body, total, doc_number, note, platform_total)


def _check_customer(invoice: SourceInvoice, customer: CustomerInfo) -> None:
    if customer.active:
        return
    raise _Refusal(
        "customer",
        f"QBO customer {customer.id} (linked to member {invoice.member_id}) is inactive; "
        f"reactivate it in QBO, or link the member to another customer with "
        f"`qbsync link {invoice.member_id} <customer id>`",
    )


def _currency_ref(invoice: SourceInvoice, customer: CustomerInfo, refs: QboRefs) -> str | None:
    """The CurrencyRef to send (None: the home currency), or a refusal."""
    home = refs.home_currency.strip().upper()
    wanted = (invoice.currency or home).strip().upper() or home
    check_minor_unit(wanted, invoice.number)
    if not refs.multicurrency:
        if wanted != home:
            raise _Refusal(
                "currency",
                f"invoice {invoice.number} is in {wanted} but the QBO company's home currency "
                f"is {home} and multicurrency is off; exporting it needs multicurrency on in "
                "QBO (Account and settings > Advanced; it cannot be turned off again)",
            )
        return None
    held = (customer.currency or home).strip().upper() or home
    if held != wanted:
        raise _Refusal(
            "currency",
            f"invoice {invoice.number} is in {wanted} but QBO customer {customer.id} uses "
            f"{held} (QBO cannot change a customer's currency); link member "
            f"{invoice.member_id} to a {wanted} customer with "
            f"`qbsync link {invoice.member_id} <customer id>`",
        )
    return None if wanted == home else wanted


def _line(number: int, line: InvoiceLine, export: ExportConfig, refs: QboRefs) -> dict[str, Any]:
    where = f"line {number}:"
    quantity = bounded(line.quantity, "quantity", QTY_PRICE_PLACES, f"{where} quantity")
    unit_price = bounded(line.unit_price, "unit_price", QTY_PRICE_PLACES, f"{where} unit_price")
    if len(line.description) > DESCRIPTION_MAX:
        raise _Refusal(
            "description",
            f"line {number}: the description is {len(line.description)} characters; "
            f"QBO takes at most {DESCRIPTION_MAX}",
        )
    detail: dict[str, Any] = {
        "ItemRef": {"value": _item_id(number, line.item_code, export, refs)},
        "Qty": quantity,
        "UnitPrice": unit_price,
    }
    tax_code_id = _tax_code_id(number, line.tax_code, export, refs)
    if tax_code_id is not None:
        detail["TaxCodeRef"] = {"value": tax_code_id}
    out: dict[str, Any] = {
        "DetailType": "SalesItemLineDetail",
        "Amount": below_limit(line_amount(quantity, unit_price), "amount", f"{where} amount"),
    }
    if line.description:
        out["Description"] = line.description
    out["SalesItemLineDetail"] = detail
    return out


def _item_id(number: int, code: str, export: ExportConfig, refs: QboRefs) -> str:
    code = code.strip()
    default_key = "[export] default_item"
    if not code:
        return _lookup_item(number, export.default_item, default_key, refs)
    if code in export.items:
        return _lookup_item(
            number, export.items[code], f"{_toml_key(code)} under [export.items]", refs
        )
    direct = refs.items.get(code.lower())
    if direct is not None:
        return direct
    if export.unmapped_items == "default":
        return _lookup_item(number, export.default_item, default_key, refs)
    raise _Refusal(
        "item_code",
        f"line {number}: item code {_toml_key(code)} is not mapped to a QBO item; "
        f'add  {_toml_key(code)} = "<QBO item name>"  under [export.items] '
        f'(or set [export] unmapped_items = "default" to use {_toml_key(export.default_item)})',
    )


def _lookup_item(number: int, name: str, key: str, refs: QboRefs) -> str:
    found = refs.items.get(name.strip().lower())
    if found is None:
        raise _Refusal(
            "item_code",
            f"line {number}: QBO has no item named {_toml_key(name)} (from {key}); "
            f"create it in QBO or change {key}",
        )
    return found


def _tax_code_id(number: int, code: str, export: ExportConfig, refs: QboRefs) -> str | None:
    code = code.strip()
    if code and code in export.tax_codes:
        name, key = export.tax_codes[code], f"{_toml_key(code)} under [export.tax_codes]"
    elif code and code.lower() in refs.tax_codes:
        return refs.tax_codes[code.lower()]
    elif export.default_tax_code:
        name, key = export.default_tax_code, "[export] default_tax_code"
    else:
        return None
    found = refs.tax_codes.get(name.strip().lower())
    if found is None:
        raise _Refusal(
            "tax_code",
            f"line {number}: QBO has no tax code named {_toml_key(name)} (from {key}); "
            f"create it in QBO or change {key}",
        )
    return found


def _check_tax_amount(tax: Decimal | None) -> None:
    if tax is None:
        return
    bounded(tax, "tax_amount", AMOUNT_PLACES, "tax amount")
    if tax < 0:
        raise _Refusal("tax_amount", f"tax amount {tax} is below zero")


def _doc_number(invoice: SourceInvoice, export: ExportConfig, refs: QboRefs) -> str | None:
    if not uses_source_numbers(export, refs) or not invoice.number:
        return None
    if len(invoice.number) > DOC_NUMBER_MAX:
        raise _Refusal(
            "number",
            f"invoice number {invoice.number!r} is {len(invoice.number)} characters; QBO's "
            f'DocNumber takes at most {DOC_NUMBER_MAX}; set [export] doc_number = "qbo" to '
            "let QBO number invoices",
        )
    return invoice.number


def _local_date(moment: datetime, tz: tzinfo | None) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.date().isoformat()  # already wall time in the export zone
    return moment.astimezone(tz if tz is not None else machine_zone()).date().isoformat()


def _first_email(emails: str) -> str:
    """The first address of a comma-separated list (QBO customers may hold several)."""
    for part in emails.split(","):
        if part.strip():
            return part.strip()
    return ""


def _toml_key(text: str) -> str:
    """``text`` as a TOML basic string, for pasting into the config file."""
    return json.dumps(text, ensure_ascii=False)
