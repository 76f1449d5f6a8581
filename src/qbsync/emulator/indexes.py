"""What store.py keeps up to date as records change, so rules and reads need no scan: who holds a
DisplayName, which invoice holds a DocNumber, each customer's Balance, and what payments apply
to each invoice and credit memo."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from qbsync.emulator.entities import ALL_ENTITIES, PERSON_ENTITIES

Rows = dict[str, dict[str, dict[str, Any]]]
Target = tuple[str, str]  # (TxnType, TxnId): an invoice or credit memo a payment line links

ZERO = Decimal("0")


def payment_links(payment: dict[str, Any]) -> list[tuple[Target, Decimal]]:
    """(target, amount) for each stored payment line (payments.py stores one LinkedTxn a line)."""
    out = []
    for line in payment.get("Line") or []:
        for linked in line.get("LinkedTxn") or []:
            out.append(((linked["TxnType"], str(linked["TxnId"])), line["Amount"]))
    return out


class Indexes:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.names: dict[str, tuple[str, str]] = {}  # casefolded DisplayName -> (entity, Id)
        self.docs: dict[str, str] = {}  # DocNumber -> invoice Id
        self.applied: dict[Target, Decimal] = {}  # what payments apply to an invoice/credit memo
        self.links: dict[Target, dict[str, None]] = {}  # ... and which payments (ordered set)

    def rebuild(self) -> None:
        """From stored rows whose Balances are already right (a restored state)."""
        self.names.clear()
        self.docs.clear()
        self.applied.clear()
        self.links.clear()
        for entity in ALL_ENTITIES:
            for ident, row in self.rows[entity].items():
                self._index_keys(entity, ident, row)

    def _index_keys(self, entity: str, ident: str, record: dict[str, Any]) -> None:
        if entity in PERSON_ENTITIES and record.get("DisplayName"):
            self.names[record["DisplayName"].casefold()] = (entity, ident)
        if entity == "Invoice" and record.get("DocNumber"):
            self.docs[record["DocNumber"]] = ident
        if entity == "Payment":
            for target, amount in payment_links(record):
                self.applied[target] = self.applied.get(target, ZERO) + amount
                self.links.setdefault(target, {})[ident] = None

    def add(self, entity: str, ident: str, record: dict[str, Any]) -> None:
        self._index_keys(entity, ident, record)
        self._adjust_balance(entity, record, 1)

    def remove(self, entity: str, ident: str, old: dict[str, Any] | None) -> None:
        if old is None:
            return
        if entity in PERSON_ENTITIES and old.get("DisplayName"):
            key = old["DisplayName"].casefold()
            if self.names.get(key) == (entity, ident):
                del self.names[key]
        if entity == "Invoice" and self.docs.get(old.get("DocNumber", "")) == ident:
            del self.docs[old["DocNumber"]]
        if entity == "Payment":
            for target, amount in payment_links(old):
                self.applied[target] = self.applied.get(target, ZERO) - amount
                self.links.get(target, {}).pop(ident, None)
                if not self.links.get(target):
                    self.applied.pop(target, None)
                    self.links.pop(target, None)
        self._adjust_balance(entity, old, -1)

    def _adjust_balance(self, entity: str, record: dict[str, Any], sign: int) -> None:
        # A customer's Balance is what it owes on open invoices less its open credits: credit
        # memos' remaining credit and payments' unapplied amounts (its accounts receivable).
        if entity == "Invoice":
            delta = record["Balance"]
        elif entity == "CreditMemo":
            delta = -record["Balance"]
        elif entity == "Payment":
            delta = -record["UnappliedAmt"]
        else:
            return
        customer = self.rows["Customer"].get(record["CustomerRef"]["value"])
        if customer is not None:
            customer["Balance"] = customer["Balance"] + sign * delta
            customer["BalanceWithJobs"] = customer["Balance"]
