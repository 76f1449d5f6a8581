"""A company's whole state: loaded from its seed, and exported to plain data and back
(``serve --data``: persist.py writes it).

Exports are deep copies, money as Decimal; ``requestids`` holds api.ApiResult objects, which
persist.py turns into dicts. Files written before Payment and CreditMemo were emulated load with
none of either.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from qbsync.emulator.entities import ALL_ENTITIES, WRITABLE, Fault, check_types, exact, is_blank
from qbsync.emulator.indexes import Indexes
from qbsync.emulator.prefs import SEED_KEYS, Preferences

if TYPE_CHECKING:
    from qbsync.emulator.store import Company


def load_seed(company: Company, seed: dict[str, Any]) -> None:
    """Fill a just-reset company from its seed (under its lock), each record through QBO's
    rules; a bad record is a ValueError naming it, e.g. ``Customer[2]``."""
    stamp = company.stamp()
    info = seed.get("company") or {}
    company.prefs = Preferences.from_seed(info, stamp)
    # Invoices last: they refer to customers, items and tax codes.
    for entity in ("Customer", "Vendor", "Employee", "Item", "TaxCode", "Invoice"):
        raws = seed.get(entity) or []
        if not isinstance(raws, list) or not all(isinstance(r, dict) for r in raws):
            raise ValueError(f"key '{entity}' must be a list of objects")
        for index, raw in enumerate(raws):
            try:
                _load(company, entity, exact(copy.deepcopy(raw)), stamp)
            except Fault as fault:
                raise ValueError(f"{entity}[{index}]: {fault.message} ({fault.detail})") from fault
    # The seed's emulator settings (SEED_KEYS) are not CompanyInfo fields.
    company._info = {k: v for k, v in info.items() if k not in SEED_KEYS}
    company._info.update(
        {
            "Id": "1",
            "SyncToken": "0",
            "CompanyName": company.company_name,
            "Country": company.country,
            "domain": "QBO",
            "sparse": False,
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
        }
    )


def _load(company: Company, entity: str, record: dict[str, Any], stamp: str) -> None:
    """Store one seed record after QBO's rules, as if it had been created through the API
    (an inactive one keeps its seed name: it was renamed when it went inactive)."""
    ident = str(record["Id"]) if not is_blank(record.get("Id")) else None
    if entity in WRITABLE:
        check_types(entity, record)
        previous = {"Id": None, "Active": record.get("Active", True)}
        record = company._apply(entity, company._input(entity, record), previous)
    if ident is not None and company._id_taken(entity, ident):
        raise ValueError(
            f"{entity} Id {ident} is already used (Customer, Vendor and "
            "Employee Ids share one sequence)"
        )
    ident = ident or company._new_id(entity)
    company._store(entity, ident, record, stamp, create_time=stamp, token="0")


def export_state(company: Company) -> dict[str, Any]:
    with company.lock:
        return copy.deepcopy(
            {
                "realm_id": company.realm_id,
                "info": company._info,
                "rows": company._rows,
                "next_id": company._next_id,
                "deleted": company._deleted,
                "next_doc": company._next_doc,
                "preferences": company.prefs.to_state(),
                "voided": sorted(company._voided),
                "requestids": company.requestids,
            }
        )


def import_state(company: Company, state: dict[str, Any]) -> None:
    with company.lock:
        state = copy.deepcopy(state)
        rows = state["rows"]
        if not set(rows) <= set(ALL_ENTITIES):
            raise ValueError("the saved entities do not match this emulator's")
        # Entities this emulator added since the file was written start empty.
        for entity in ALL_ENTITIES:
            rows.setdefault(entity, {})
            state["deleted"].setdefault(entity, [])
        next_id = {str(k): int(v) for k, v in state["next_id"].items()}
        for entity in ALL_ENTITIES:
            if entity not in ("Customer", "Vendor", "Employee"):
                next_id.setdefault(entity, 1)
        company.realm_id = str(state["realm_id"])
        company._info = dict(state["info"])
        company.company_name = str(company._info.get("CompanyName") or company.company_name)
        company.country = str(company._info.get("Country") or company.country)
        company._rows = rows
        company._next_id = next_id
        company._deleted = state["deleted"]
        company._next_doc = int(state["next_doc"])
        company.prefs = Preferences(**state["preferences"])
        # Invoice Ids, and "Payment:<Id>" for voided payments (older files: invoices only).
        company._voided = {str(ident) for ident in state.get("voided", [])}
        company.requestids.clear()
        company.requestids.update(state["requestids"])
        company._ix = Indexes(company._rows)
        company._ix.rebuild()
