"""``Company``: one emulated QBO realm, its entities and QBO's rules, thread-safe.

Every public method takes the company's re-entrant lock, so the threaded HTTP server can call it
from many requests at once; api.py also holds it around a requestid check and the work it guards.
Records are stored as plain dicts (money as Decimal) and handed out as deep copies.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from qbsync.emulator import cdc, closing, company_state, lookup, payments, rules, versions, voids
from qbsync.emulator.entities import (
    ALL_ENTITIES,
    NAME_LIST,
    PERSON_ENTITIES,
    TRANSACTIONS,
    WRITABLE,
    Fault,
    check_types,
    clean,
    invalid_property,
    not_found,
    parse_offset,
    unsupported,
)
from qbsync.emulator.indexes import Indexes, payment_links
from qbsync.emulator.prefs import Preferences

__all__ = ["Company", "Fault"]

DEFAULT_REALM = "9341455130166501"
NAME_SEQUENCE = "Name"  # Customer, Vendor and Employee Ids share one sequence (qbo-facts.md)


def _sequence(entity: str) -> str:
    return NAME_SEQUENCE if entity in PERSON_ENTITIES else entity


def _void_key(entity: str, ident: str) -> str:
    # Invoice Ids as such (files written before payments were emulated); other entities named.
    return ident if entity == "Invoice" else f"{entity}:{ident}"


class Company:
    """One realm. ``seed`` is a dict shaped like default_seed.json; missing keys mean empty."""

    prefs: Preferences  # set by reset() (company_state.load_seed) or import_state
    _info: dict[str, Any]  # the CompanyInfo record

    def __init__(self, seed: dict[str, Any], *, clock: Callable[[], datetime]) -> None:
        self.lock = threading.RLock()
        self._seed = copy.deepcopy(seed)
        self._clock = clock
        info = self._seed.get("company") or {}
        if not isinstance(info, dict):
            raise ValueError("key 'company' must be an object of CompanyInfo fields")
        self.realm_id = str(self._seed.get("realm_id") or DEFAULT_REALM)
        self.company_name = str(info.get("CompanyName") or "Emulated Company")
        self.country = str(info.get("Country") or "US")
        # QBO stamps times in the company's zone (Pacific for US companies); the emulator uses
        # UTC unless the seed sets "utc_offset", e.g. "-08:00", to test offset handling.
        self.tz = parse_offset(str(self._seed.get("utc_offset") or "+00:00"))
        self.requestids: dict[str, Any] = {}
        self.reset()

    @property
    def custom_txn_numbers(self) -> bool:
        return self.prefs.custom_txn_numbers

    # -- time -----------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    def stamp(self) -> str:
        return self.now().isoformat(timespec="seconds")

    def time_str(self) -> str:
        """The ``time`` field of every answer."""
        return self.now().isoformat(timespec="milliseconds")

    def today(self) -> str:
        return self.now().date().isoformat()

    # -- lifecycle ------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self._rows: dict[str, dict[str, dict[str, Any]]] = {e: {} for e in ALL_ENTITIES}
            self._next_id: dict[str, int] = {_sequence(e): 1 for e in ALL_ENTITIES}
            self._deleted: dict[str, list[dict[str, Any]]] = {e: [] for e in ALL_ENTITIES}
            self._ix = Indexes(self._rows)
            self._next_doc = 1001
            self._voided: set[str] = set()  # voided invoices and payments (_void_key)
            self.requestids.clear()
            company_state.load_seed(self, self._seed)

    def export_state(self) -> dict[str, Any]:
        """Everything a restart must keep (company_state.py; persist.py writes it)."""
        return company_state.export_state(self)

    def import_state(self, state: dict[str, Any]) -> None:
        """Take over a state from ``export_state`` (KeyError/TypeError/ValueError if malformed)."""
        company_state.import_state(self, state)

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            return {e: [self.render(r) for r in self._sorted(e)] for e in ALL_ENTITIES}

    def count(self, entity: str) -> int:
        with self.lock:
            return len(self._rows.get(entity, {}))

    # -- lookups used by rules.py ---------------------------------------------------------
    def rows(self, entity: str) -> Iterator[dict[str, Any]]:
        return iter(list(self._rows[entity].values()))

    def get_row(self, entity: str, ident: str) -> dict[str, Any] | None:
        return self._rows[entity].get(str(ident))

    def name_owner(self, name: str, exclude: tuple[str, str | None]) -> tuple[str, str] | None:
        """Who holds ``name`` as DisplayName among Customer, Vendor and Employee (any state).

        Case-insensitive: stricter than QBO may be (unverified; docs/emulator-rules.md)."""
        owner = self._ix.names.get(name.casefold())
        return None if owner is None or owner == exclude else owner

    def doc_owner(self, doc_number: str) -> str | None:
        """The Id of the invoice that carries ``doc_number``, if any."""
        return self._ix.docs.get(doc_number)

    def next_doc_number(self) -> str:
        while str(self._next_doc) in self._ix.docs:
            self._next_doc += 1
        doc = str(self._next_doc)
        self._next_doc += 1
        return doc

    # -- entity operations ----------------------------------------------------------------
    def canonical(self, name: str) -> str:
        for entity in (*ALL_ENTITIES, "CompanyInfo"):
            if entity.lower() == name.lower():
                return entity
        raise unsupported(f"Entity {name} is not supported")

    def read(self, entity: str, ident: str) -> dict[str, Any]:
        with self.lock:
            row = self._rows[entity].get(ident)
            if row is None:
                raise not_found(entity, ident)
            return self.render(row)

    def create(self, entity: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._writable(entity)
            check_types(entity, data)
            record = self._apply(entity, self._input(entity, data), None)
            closing.check_create(self, entity, record)  # 6210 (closing.py)
            ident = self._new_id(entity)
            stamp = self.stamp()
            self._store(entity, ident, record, stamp, create_time=stamp, token="0")
            self._after_write(entity, None, self._rows[entity][ident])
            return self.render(self._rows[entity][ident])

    def update(
        self, entity: str, data: dict[str, Any], *, in_product: bool = False
    ) -> dict[str, Any]:
        """``in_product``: a QBO user's action in the product (merge.py), which also moves voided
        invoices; through the API a voided invoice or payment cannot be modified."""
        with self.lock:
            self._writable(entity)
            check_types(entity, data)
            previous = self._current(entity, data)
            if not in_product and self.is_voided(entity, previous["Id"]):
                raise voids.voided_is_final(previous["Id"], entity)
            sparse = data.get("sparse", False)
            if not isinstance(sparse, bool):
                raise invalid_property("sparse", "true or false is expected")
            incoming = self._input(entity, data)
            if sparse:
                # Sparse: only the fields sent change; "" clears one (QBO leaves it out after).
                merged = {k: v for k, v in previous.items() if WRITABLE[entity].get(k) != "ro"}
                merged.update({k: v for k, v in data.items() if k in incoming or v == ""})
            else:
                merged = incoming  # full update: fields not sent go back to their defaults
            record = self._apply(entity, merged, previous, in_product=in_product)
            closing.check_change(self, entity, previous, record, in_product=in_product)
            token = str(int(previous["SyncToken"]) + 1)
            create_time = previous["MetaData"]["CreateTime"]
            if versions.unchanged(self._stored_form(entity, record, previous), previous):
                # An update that changes nothing keeps SyncToken and LastUpdatedTime, as real
                # QBO does (docs/emulator-rules.md "Entities and common behaviour").
                return self.render(previous)
            self._store(entity, previous["Id"], record, self.stamp(), create_time, token)
            self._after_write(entity, previous, self._rows[entity][previous["Id"]])
            return self.render(self._rows[entity][previous["Id"]])

    def void(self, entity: str, data: dict[str, Any]) -> dict[str, Any]:
        """An invoice (``operation=void``, voids.py) or a payment (``operation=update&include=
        void``, payments.py) with ``{Id, SyncToken}``; api.py picks which operation goes where."""
        with self.lock:
            if entity not in ("Invoice", "Payment"):
                raise unsupported(f"Operation Void is not supported for {entity}")
            previous = self._current(entity, data)
            closing.check_change(self, entity, previous)  # 6210, 6540 (closing.py)
            if entity == "Invoice":
                record = voids.voided_record(self, previous)
            elif self.is_voided(entity, previous["Id"]):
                raise voids.voided_is_final(previous["Id"], entity)
            else:
                record = payments.voided(previous)
            token = str(int(previous["SyncToken"]) + 1)
            create_time = previous["MetaData"]["CreateTime"]
            self._store(entity, previous["Id"], record, self.stamp(), create_time, token)
            self._voided.add(_void_key(entity, previous["Id"]))
            self._after_write(entity, previous, self._rows[entity][previous["Id"]])
            return self.render(self._rows[entity][previous["Id"]])

    def is_voided(self, entity: str, ident: str) -> bool:
        return _void_key(entity, ident) in self._voided

    def delete(
        self, entity: str, data: dict[str, Any], *, in_product: bool = False
    ) -> dict[str, Any]:
        """``operation=delete``: a hard delete of an invoice, payment or credit memo.
        ``in_product``: as a QBO user deletes in the product, where payments applied to the
        invoice stay with their amount unapplied (payments.unlink); the API refuses those."""
        with self.lock:
            if entity not in TRANSACTIONS:
                # Name-list entities are never deleted in QBO, only made inactive (qbo-facts.md).
                raise unsupported(
                    f"Operation Delete is not supported for {entity}; send Active:false instead"
                )
            previous = self._current(entity, data)
            closing.check_change(self, entity, previous, in_product=in_product)
            if in_product:
                payments.unlink(self, entity, previous["Id"])
            payments.check_delete(self, entity, previous["Id"])
            self.forget(entity, previous["Id"])
            self._after_write(entity, previous, None)
            return {"Id": previous["Id"], "status": "Deleted", "domain": "QBO"}

    def applied_to(self, target: tuple[str, str]) -> Decimal:
        """What payments apply to an invoice or credit memo (``("Invoice", Id)``)."""
        return self._ix.applied.get(target, Decimal("0"))

    def linked_payments(self, target: tuple[str, str]) -> list[str]:
        """Ids of the payments whose lines link an invoice or credit memo, in Id order."""
        return sorted(self._ix.links.get(target, {}), key=int)

    def _after_write(
        self, entity: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        """After a payment changes, each invoice and credit memo it links (before or after) is
        stored again with its new Balance: SyncToken +1 and LastUpdatedTime now, as QBO bumps
        an invoice a payment is applied to (qbo-facts.md "After export")."""
        if entity != "Payment":
            return
        targets = {t for t, _ in payment_links(old or {})} | {
            t for t, _ in payment_links(new or {})
        }
        for target_entity, ident in sorted(targets):
            row = self._rows[target_entity].get(ident)
            if row is None:
                continue
            record = {k: v for k, v in row.items() if k not in ("Id", "SyncToken", "MetaData")}
            if versions.unchanged(self._stored_form(target_entity, record, row), row):
                continue
            token = str(int(row["SyncToken"]) + 1)
            self._store(
                target_entity, ident, record, self.stamp(), row["MetaData"]["CreateTime"], token
            )

    def forget(self, entity: str, ident: str) -> None:
        """Remove a record for good, leaving a CDC tombstone (an invoice, payment or credit
        memo delete; the customer merged away by merge.py). Call under the lock."""
        previous = self._rows[entity].pop(ident)
        self._ix.remove(entity, ident, previous)
        self._voided.discard(_void_key(entity, ident))
        stamp = {"LastUpdatedTime": self.stamp()}
        self._deleted[entity].append(
            {"Id": ident, "status": "Deleted", "domain": "QBO", "MetaData": stamp}
        )

    def company_info(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._info)

    def preferences(self) -> dict[str, Any]:
        with self.lock:
            return self.prefs.row()

    def set_preferences(self, **changes: Any) -> dict[str, Any]:
        """Change ``custom_txn_numbers``, ``home_currency``, ``multi_currency``,
        ``sales_tax_rate`` or ``book_close_date`` (ValueError on a wrong value), as a company admin does in QBO's
        settings; answers the new Preferences."""
        with self.lock:
            self.prefs.change(self.stamp(), **changes)
            return self.prefs.row()

    # -- query and change data capture ----------------------------------------------------
    def query(self, text: str) -> dict[str, Any]:
        """The ``QueryResponse`` object for one query (see lookup.py)."""
        with self.lock:
            return lookup.run_query(self, text)

    def cdc(self, entities: str, changed_since: str) -> list[dict[str, Any]]:
        """The ``CDCResponse`` list (see cdc.py)."""
        with self.lock:
            return cdc.changes(self, entities, changed_since)

    def info_row(self) -> dict[str, Any]:
        """The stored CompanyInfo record (not a copy: call under the lock, do not change it)."""
        return self._info

    def deleted(self, entity: str) -> list[dict[str, Any]]:
        """Tombstones of deleted records, for CDC."""
        return list(self._deleted[entity])

    def render(self, row: dict[str, Any]) -> dict[str, Any]:
        """A record as QBO answers it: a deep copy, blanks left out."""
        return clean(copy.deepcopy(row)) | {"sparse": False}

    # -- internals ------------------------------------------------------------------------
    def _writable(self, entity: str) -> None:
        if entity not in WRITABLE:
            raise unsupported(f"Operation Create/Update is not supported for {entity}")

    def _input(self, entity: str, data: dict[str, Any]) -> dict[str, Any]:
        """Writable fields sent by the client, blanks dropped."""
        return clean({k: v for k, v in data.items() if WRITABLE[entity].get(k) != "ro"})

    def _current(self, entity: str, data: dict[str, Any]) -> dict[str, Any]:
        return versions.current(self._rows[entity], entity, data)

    def _apply(
        self,
        entity: str,
        record: dict[str, Any],
        previous: dict[str, Any] | None,
        *,
        in_product: bool = False,
    ) -> dict[str, Any]:
        if entity in PERSON_ENTITIES:
            return rules.apply_person(self, entity, record, previous)
        if entity == "Item":
            return rules.apply_item(self, record, previous)
        if entity in ("Invoice", "CreditMemo"):
            record = rules.apply_invoice(self, record, previous, entity)
            if previous is not None and not in_product:  # a merge moves paid invoices too
                payments.check_change(self, entity, previous, record)
            return record
        if entity == "Payment":
            return payments.apply_payment(self, record, previous)
        raise unsupported(f"Operation Create/Update is not supported for {entity}")

    def _id_taken(self, entity: str, ident: str) -> bool:
        group = PERSON_ENTITIES if entity in PERSON_ENTITIES else (entity,)
        return any(ident in self._rows[e] for e in group)

    def _new_id(self, entity: str) -> str:
        # One sequence for Customer, Vendor and Employee: a vendor's Id is never a customer's.
        seq = _sequence(entity)
        while self._id_taken(entity, str(self._next_id[seq])):
            self._next_id[seq] += 1
        ident = str(self._next_id[seq])
        self._next_id[seq] += 1
        return ident

    def _store(
        self,
        entity: str,
        ident: str,
        record: dict[str, Any],
        stamp: str,
        create_time: str,
        token: str,
    ) -> None:
        old = self._rows[entity].get(ident)
        record = self._stored_form(entity, record, old)
        record.update(
            Id=ident,
            SyncToken=token,
            MetaData={"CreateTime": create_time, "LastUpdatedTime": stamp},
        )
        self._ix.remove(entity, ident, old)
        self._rows[entity][ident] = record
        self._ix.add(entity, ident, record)

    def _stored_form(
        self, entity: str, record: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        """``record`` as it would be stored over ``old``, without Id, SyncToken and MetaData."""
        record = {k: v for k, v in record.items() if k not in ("sparse", "domain", "status")}
        record.update(domain="QBO", sparse=False)
        if entity in NAME_LIST:
            record.setdefault("Active", True)
        if entity == "Customer":
            # A customer's Balance is what it owes less its open credits (indexes.py); kept up
            # to date as invoices, credit memos and payments change, so reads need no scan.
            record["Balance"] = old["Balance"] if old else Decimal("0.00")
            record["BalanceWithJobs"] = record["Balance"]
        payments.derive(self, entity, record, old["Id"] if old else None)
        return record

    def _sorted(self, entity: str) -> list[dict[str, Any]]:
        def key(row: dict[str, Any]) -> tuple[int, str]:
            ident = row["Id"]
            return (int(ident), "") if ident.isdigit() else (1 << 62, ident)

        return sorted(self._rows[entity].values(), key=key)
