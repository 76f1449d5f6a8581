"""What store.py keeps up to date as records change, so rules and reads need no scan: who holds a
DisplayName, which invoice holds a DocNumber, and each customer's Balance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from qbsync.emulator.entities import ALL_ENTITIES, PERSON_ENTITIES

Rows = dict[str, dict[str, dict[str, Any]]]


class Indexes:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.names: dict[str, tuple[str, str]] = {}  # casefolded DisplayName -> (entity, Id)
        self.docs: dict[str, str] = {}  # DocNumber -> invoice Id

    def rebuild(self) -> None:
        """From stored rows whose Balances are already right (a restored state)."""
        self.names.clear()
        self.docs.clear()
        for entity in ALL_ENTITIES:
            for ident, row in self.rows[entity].items():
                self._index_keys(entity, ident, row)

    def _index_keys(self, entity: str, ident: str, record: dict[str, Any]) -> None:
        if entity in PERSON_ENTITIES and record.get("DisplayName"):
            self.names[record["DisplayName"].casefold()] = (entity, ident)
        if entity == "Invoice" and record.get("DocNumber"):
            self.docs[record["DocNumber"]] = ident

    def add(self, entity: str, ident: str, record: dict[str, Any]) -> None:
        self._index_keys(entity, ident, record)
        if entity == "Invoice":
            self._adjust_balance(record["CustomerRef"]["value"], record["Balance"])

    def remove(self, entity: str, ident: str, old: dict[str, Any] | None) -> None:
        if old is None:
            return
        if entity in PERSON_ENTITIES and old.get("DisplayName"):
            key = old["DisplayName"].casefold()
            if self.names.get(key) == (entity, ident):
                del self.names[key]
        if entity == "Invoice":
            if self.docs.get(old.get("DocNumber", "")) == ident:
                del self.docs[old["DocNumber"]]
            self._adjust_balance(old["CustomerRef"]["value"], -old["Balance"])

    def _adjust_balance(self, customer_id: str, delta: Decimal) -> None:
        # A customer's Balance is what its open invoices owe (no payments are emulated).
        customer = self.rows["Customer"].get(customer_id)
        if customer is not None:
            customer["Balance"] = customer["Balance"] + delta
            customer["BalanceWithJobs"] = customer["Balance"]
