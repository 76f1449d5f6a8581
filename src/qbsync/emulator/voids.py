"""Voiding an invoice: ``POST invoice?operation=void`` with ``{Id, SyncToken}``.

What QBO does (qbo-facts.md "After export"; captured in minimul/qbo_api ``spec/vcr/void/invoice.yml``,
2022; Intuit's Invoice reference as quoted by brilliantconnect.com's QBO connector page): the
invoice stays, every amount and quantity is zeroed (line Amounts, the SubTotal line, TotalAmt,
Balance, TotalTax), "Voided" is put before the PrivateNote's text, and the SyncToken goes up. QBO
refuses to void an invoice with a payment applied (LanternOps/breeze issue 5180). A voided invoice
cannot be modified (qbo-facts.md "Entities", Invoice).

Unverified, so Choices (docs/emulator-rules.md): the refusal codes (6000 business validation for
both), the separator when a note exists ("Voided - <note>"), voiding twice (refused like any change),
and ``operation: void`` inside a batch (refused: Intuit's batch reference lists create, update,
delete and query only).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from qbsync.emulator.entities import business
from qbsync.emulator.textrules import PRIVATE_NOTE_MAX

if TYPE_CHECKING:
    from qbsync.emulator.entities import Fault
    from qbsync.emulator.store import Company

VOIDED = "Voided"
ZERO = Decimal("0")  # the capture answers 0, not 0.00, for the zeroed amounts


def voided_is_final(ident: str, entity: str = "Invoice") -> Fault:
    return business(
        f"{entity} {ident} has been voided: a voided transaction cannot be modified", "Id"
    )


def applied_payments(company: Company, invoice_id: str) -> list[str]:
    """Ids of the payments whose lines link this invoice (qbo-facts.md "After export": a payment
    is applied through ``Payment.Line[].LinkedTxn[{TxnId, TxnType: "Invoice"}]``; payments.py)."""
    return company.linked_payments(("Invoice", invoice_id))


def voided_record(company: Company, previous: dict[str, Any]) -> dict[str, Any]:
    """The invoice as a void leaves it (a new dict), or a Fault when it cannot be voided."""
    ident = str(previous["Id"])
    if company.is_voided("Invoice", ident):
        raise voided_is_final(ident)
    paid = applied_payments(company, ident)
    if paid:
        raise business(
            f"Invoice {ident} has payments applied ({', '.join(paid)}): delete or unapply "
            "them before voiding it",
            "Id",
        )
    record = copy.deepcopy(previous)
    for line in record.get("Line") or []:
        if "Amount" in line:
            line["Amount"] = ZERO
        detail = line.get("SalesItemLineDetail")
        if isinstance(detail, dict) and "Qty" in detail:
            detail["Qty"] = ZERO
    record["TotalAmt"] = ZERO
    record["Balance"] = ZERO
    record["TxnTaxDetail"] = {"TotalTax": ZERO}
    note = record.get("PrivateNote")
    record["PrivateNote"] = (f"{VOIDED} - {note}" if note else VOIDED)[:PRIVATE_NOTE_MAX]
    return record
