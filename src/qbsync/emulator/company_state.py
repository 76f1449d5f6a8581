"""A company's whole state as plain data, and back (``serve --data``: persist.py writes it).

A deep copy, money as Decimal; ``requestids`` holds api.ApiResult objects, which persist.py turns
into dicts. Files written before Payment and CreditMemo were emulated load with none of either.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from qbsync.emulator.entities import ALL_ENTITIES
from qbsync.emulator.indexes import Indexes
from qbsync.emulator.prefs import Preferences

if TYPE_CHECKING:
    from qbsync.emulator.store import Company


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
