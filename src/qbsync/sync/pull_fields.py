"""QBO's fields as `qbsync pull` reads them (pure): an invoice's state and fingerprint, what a
payment applies to an invoice, and stable event ids. Sources: qbo-facts.md "After export";
docs/pull.md."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

EVENT_KINDS = (
    "payment",
    "payment-removed",
    "credit",
    "paid",
    "partly-paid",
    "reopened",
    "voided",
    "deleted",
    "edited",
)
QBO_STATES = ("open", "partly-paid", "paid", "voided", "deleted")
CSV_COLUMNS = (
    "event_id",
    "occurred_at",
    "event",
    "invoice_id",
    "number",
    "qbo_invoice_id",
    "amount",
    "balance",
    "qbo_payment_id",
    "payment_method",
    "reference",
    "detail",
)


def event_id(*parts: object) -> str:
    """Stable: the same change always gets the same id (what the sinks de-duplicate on)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def ref(value: Any) -> str | None:
    return str(value.get("value")) if isinstance(value, dict) and value.get("value") else None


def updated(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("MetaData")
    return str(meta.get("LastUpdatedTime")) if isinstance(meta, dict) else None


def is_voided(invoice: Mapping[str, Any]) -> bool:
    note = str(invoice.get("PrivateNote") or "")
    return note.startswith("Voided") and dec(invoice.get("TotalAmt")) == 0


def qbo_state(invoice: Mapping[str, Any]) -> str:
    if is_voided(invoice):
        return "voided"
    balance, total = dec(invoice.get("Balance")), dec(invoice.get("TotalAmt"))
    if balance <= 0:
        return "paid"
    return "open" if balance >= total else "partly-paid"


def fingerprint(invoice: Mapping[str, Any]) -> str:
    """What an accountant's edit changes: customer, total, the item lines. Balance, SyncToken,
    LinkedTxn (payments) are left out, so a payment is never taken for an edit."""
    lines = [
        (
            str(line.get("Amount")),
            ref((line.get("SalesItemLineDetail") or {}).get("ItemRef")),
            str((line.get("SalesItemLineDetail") or {}).get("Qty")),
            str((line.get("SalesItemLineDetail") or {}).get("UnitPrice")),
            str(line.get("Description") or ""),
        )
        for line in invoice.get("Line") or []
        if isinstance(line, dict) and line.get("DetailType") == "SalesItemLineDetail"
    ]
    body = [ref(invoice.get("CustomerRef")), str(dec(invoice.get("TotalAmt"))), lines]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:24]


def applied_to(payment: Mapping[str, Any], qbo_invoice_id: str) -> Decimal:
    """What ``payment``'s lines apply to one invoice (0 for a voided payment: no lines)."""
    total = Decimal(0)
    for line in payment.get("Line") or []:
        for link in line.get("LinkedTxn") or [] if isinstance(line, dict) else []:
            if link.get("TxnType") == "Invoice" and str(link.get("TxnId")) == qbo_invoice_id:
                total += dec(line.get("Amount"))
    return total


def linked_invoices(payment: Mapping[str, Any]) -> set[str]:
    return {
        str(link.get("TxnId"))
        for line in payment.get("Line") or []
        if isinstance(line, dict)
        for link in line.get("LinkedTxn") or []
        if link.get("TxnType") == "Invoice"
    }


def payment_kind(payment: Mapping[str, Any]) -> str:
    """A credit memo applied through a (usually zero-total) payment is a credit (qbo-facts.md
    "After export": CreditMemo applied through a Payment whose lines link both)."""
    for line in payment.get("Line") or []:
        for link in line.get("LinkedTxn") or [] if isinstance(line, dict) else []:
            if link.get("TxnType") == "CreditMemo":
                return "credit"
    return "payment"


def invoice_payment_ids(invoice: Mapping[str, Any]) -> list[str]:
    return [
        str(link.get("TxnId"))
        for link in invoice.get("LinkedTxn") or []
        if isinstance(link, dict) and link.get("TxnType") == "Payment"
    ]
