"""Payments: QBO's rules for ``Payment`` and what applying one does to invoices and credit memos.

Sources (docs/emulator-rules.md "Payment"): Intuit's Payment reference (copy in Petrus-Han/
finance_plugins ``ref/quickbooks_dev_docs/api-reference/payment.md``) and qbo-facts.md "After
export": ``CustomerRef`` and ``TotalAmt`` required; ``Line[{Amount, LinkedTxn[{TxnId, TxnType}]}]``
links invoices and credit memos; ``UnappliedAmt`` is read-only; ``DepositToAccountRef`` defaults to
Undeposited Funds; lines update all-or-nothing, even in a sparse update (python-quickbooks 0.9.12's
Payment docstring quotes Intuit: "Lines can be updated only ALL or NONE"). Applying a payment
changes the linked invoice's Balance and bumps its SyncToken. A credit memo is applied through a
payment whose lines link both (a zero-total payment, Intuit's example): credit memo lines count
against the invoice lines. Voiding (``operation=update&include=void``, consolibyte quickbooks-php
and python-quickbooks' VoidMixin) zeroes the amounts, clears the lines and puts "Voided" before the
PrivateNote (Intuit's Payment and BillPayment references).

Unverified, so Choices (stricter for clients): the refusal codes (6000 business validation for
over-application, another customer's invoice, credit beyond the invoices; 2010 for malformed lines),
one LinkedTxn per line, TxnType Invoice or CreditMemo only.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from qbsync.emulator import rules
from qbsync.emulator.entities import (
    business,
    clean,
    invalid_property,
    is_blank,
    not_found,
    required_missing,
    to_money,
)
from qbsync.emulator.indexes import Target, payment_links
from qbsync.emulator.textrules import PRIVATE_NOTE_MAX, check_text

if TYPE_CHECKING:
    from qbsync.emulator.store import Company

ZERO = Decimal("0")
# Intuit's sample payment answers DepositToAccountRef 4, the sandbox's Undeposited Funds account.
UNDEPOSITED_FUNDS = {"value": "4", "name": "Undeposited Funds"}
TARGET_TYPES = ("Invoice", "CreditMemo")
_LINE_KEYS = frozenset({"Amount", "LinkedTxn", "LineEx"})
_LINKED_KEYS = frozenset({"TxnId", "TxnType", "TxnLineId"})


def _target(company: Company, line: dict[str, Any], where: str) -> Target:
    linked = line.get("LinkedTxn")
    if not isinstance(linked, list) or len(linked) != 1 or not isinstance(linked[0], dict):
        raise invalid_property(f"{where}.LinkedTxn", "one LinkedTxn object is expected per line")
    for key in linked[0]:
        if key not in _LINKED_KEYS:
            raise invalid_property(f"{where}.LinkedTxn.{key}", "not a property of LinkedTxn")
    txn_type, txn_id = linked[0].get("TxnType"), linked[0].get("TxnId")
    if is_blank(txn_id) or is_blank(txn_type):
        raise required_missing(f"{where}.LinkedTxn.{'TxnId' if is_blank(txn_id) else 'TxnType'}")
    if txn_type not in TARGET_TYPES:
        raise invalid_property(f"{where}.LinkedTxn.TxnType", "Invoice or CreditMemo is expected")
    if isinstance(txn_id, bool) or not isinstance(txn_id, str | int):
        raise invalid_property(f"{where}.LinkedTxn.TxnId", "a string is expected")
    if company.get_row(txn_type, str(txn_id)) is None:
        # QBO: 610 Object Not Found for a LinkedTxn naming nothing (ruckus/quickbooks-ruby #277).
        raise not_found(txn_type, str(txn_id))
    return (txn_type, str(txn_id))


def apply_payment(
    company: Company, record: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The payment to store (lines checked against what is open), or a Fault."""
    record = clean(record)
    customer_id = rules.customer_ref(company, record)
    if is_blank(record.get("TotalAmt")):
        raise required_missing("TotalAmt")
    total = to_money(record["TotalAmt"], "TotalAmt")
    if total < 0:
        raise invalid_property("TotalAmt", "a payment's total cannot be negative")
    lines = record.get("Line") or []
    if not isinstance(lines, list):
        raise invalid_property("Line", "a list is expected")
    # What this payment applies now: open amounts are checked as if it applied nothing.
    own: dict[Target, Decimal] = {}
    for target, amount in payment_links(previous or {}):
        own[target] = own.get(target, ZERO) + amount
    stored: list[dict[str, Any]] = []
    per_target: dict[Target, Decimal] = {}
    for index, line in enumerate(lines):
        where = f"Line[{index}]"
        if not isinstance(line, dict):
            raise invalid_property(where, "an object is expected")
        for key in line:
            if key not in _LINE_KEYS:
                raise invalid_property(f"{where}.{key}", "not a property of a payment line")
        if is_blank(line.get("Amount")):
            raise required_missing(f"{where}.Amount")
        amount = to_money(line["Amount"], f"{where}.Amount")
        if amount < 0:
            raise invalid_property(f"{where}.Amount", "a line amount cannot be negative")
        target = _target(company, line, where)
        row = company.get_row(*target)
        assert row is not None
        if row["CustomerRef"]["value"] != customer_id:
            raise business(
                f"{target[0]} {target[1]} belongs to another customer than the payment's",
                f"{where}.LinkedTxn",
            )
        per_target[target] = per_target.get(target, ZERO) + amount
        stored.append({"Amount": amount, "LinkedTxn": [{"TxnId": target[1], "TxnType": target[0]}]})
    for target, amount in per_target.items():
        row = company.get_row(*target)
        assert row is not None
        open_amount = row["Balance"] + own.get(target, ZERO)
        if amount > open_amount:
            what = "open balance" if target[0] == "Invoice" else "remaining credit"
            raise business(
                f"The amount applied to {target[0]} {target[1]} ({amount}) is more than its "
                f"{what} ({open_amount})",
                "Line",
            )
    invoices = sum((a for t, a in per_target.items() if t[0] == "Invoice"), ZERO)
    credits = sum((a for t, a in per_target.items() if t[0] == "CreditMemo"), ZERO)
    if credits > invoices:
        raise business("Credit memos can only be applied to invoices of the same payment", "Line")
    if invoices - credits > total:
        raise business(
            f"The lines apply {invoices - credits}, more than the payment's TotalAmt {total}",
            "TotalAmt",
        )
    check_text(record, "PrivateNote", PRIVATE_NOTE_MAX)
    record["TotalAmt"] = total
    record["Line"] = stored
    record["UnappliedAmt"] = total - (invoices - credits)
    record.setdefault("TxnDate", company.today())
    record.setdefault("DepositToAccountRef", dict(UNDEPOSITED_FUNDS))
    record.setdefault("ProcessPayment", False)
    return record


def voided(previous: dict[str, Any]) -> dict[str, Any]:
    """A payment as a void leaves it: amounts zeroed, lines cleared, "Voided" before the note
    (Intuit's Payment reference answers ``"TotalAmt": 0, "UnappliedAmt": 0, "PrivateNote":
    "Voided", "Line": []``; separator before an existing note as for invoices, voids.py)."""
    record = copy.deepcopy(previous)
    record["TotalAmt"] = ZERO
    record["UnappliedAmt"] = ZERO
    record["Line"] = []
    note = record.get("PrivateNote")
    record["PrivateNote"] = (f"Voided - {note}" if note else "Voided")[:PRIVATE_NOTE_MAX]
    return record


def derive(company: Company, entity: str, record: dict[str, Any], ident: str | None) -> None:
    """Set what payments decide on an invoice or credit memo: Balance (TotalAmt less what is
    applied), RemainingCredit, and the read-only ``LinkedTxn`` naming each payment."""
    if entity not in TARGET_TYPES:
        return
    target = (entity, ident or "")
    record["Balance"] = record["TotalAmt"] - company.applied_to(target)
    linked = company.linked_payments(target)
    if linked:
        record["LinkedTxn"] = [{"TxnId": p, "TxnType": "Payment"} for p in linked]
    else:
        record.pop("LinkedTxn", None)
    if entity == "CreditMemo":
        record["RemainingCredit"] = record["Balance"]


def check_change(
    company: Company, entity: str, previous: dict[str, Any], record: dict[str, Any]
) -> None:
    """An invoice or credit memo with payments applied keeps its customer and a total no lower
    than what is applied (Choice: QBO's behaviour here is unverified; docs/emulator-rules.md)."""
    if entity not in TARGET_TYPES or not previous.get("Id"):
        return
    target = (entity, str(previous["Id"]))
    linked = company.linked_payments(target)
    if not linked:
        return
    if record["CustomerRef"]["value"] != previous["CustomerRef"]["value"]:
        raise business(
            f"{entity} {target[1]} has payments applied ({', '.join(linked)}): it cannot move "
            "to another customer",
            "CustomerRef",
        )
    applied = company.applied_to(target)
    if record["TotalAmt"] < applied:
        raise business(
            f"{entity} {target[1]} has {applied} applied by payments ({', '.join(linked)}): its "
            "total cannot go below that",
            "Line",
        )


def check_delete(company: Company, entity: str, ident: str) -> None:
    """Choice (unverified for QBO's API; Intuit's help says a deleted invoice's payment stays on
    the books, unapplied, in the product): through the API an invoice or credit memo with
    payments applied is not deleted. ``unlink`` is the product's way (the admin API)."""
    linked = company.linked_payments((entity, ident))
    if entity in TARGET_TYPES and linked:
        raise business(
            f"{entity} {ident} has payments applied ({', '.join(linked)}): delete them or "
            "unapply them first",
            "Id",
        )


def unlink(company: Company, entity: str, ident: str) -> None:
    """Take an invoice or credit memo out of every payment that applies to it, as QBO's product
    does when one is deleted (the payment stays, its amount unapplied). Call under the lock."""
    for payment_id in company.linked_payments((entity, ident)):
        payment = company.get_row("Payment", payment_id)
        assert payment is not None
        kept = [
            line
            for line in payment["Line"]
            if (line["LinkedTxn"][0]["TxnType"], line["LinkedTxn"][0]["TxnId"]) != (entity, ident)
        ]
        if _total(kept, "CreditMemo") > _total(kept, "Invoice"):
            # Credit left with no invoice to offset goes back to the credit memos too.
            kept = [line for line in kept if line["LinkedTxn"][0]["TxnType"] == "Invoice"]
        company.update(
            "Payment",
            {"Id": payment_id, "SyncToken": payment["SyncToken"], "sparse": True, "Line": kept},
            in_product=True,
        )


def _total(lines: list[dict[str, Any]], txn_type: str) -> Decimal:
    return sum((x["Amount"] for x in lines if x["LinkedTxn"][0]["TxnType"] == txn_type), ZERO)
