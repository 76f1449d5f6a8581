"""`qbsync hold` / `qbsync release`: the operator sets invoices aside, and takes them back.

A held invoice is never sent (eligibility.classify skips it as ``held``) and is not a problem:
cron stops mailing about it. Holding an invoice already exported or sent is refused: QBO has it
(or may have it) already, and a hold cannot take it back. Holding an id neither the source nor
the state knows is allowed (the platform may list it later) and said.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from qbsync.state.db import State

# Stored export states a hold cannot apply to (state/exports.py).
_SENT = {
    "exported": "already exported to QBO: a hold cannot take it back (void it in QBO if needed)",
    "exporting": "already sent to QBO; its outcome is being settled (qbsync export settles it)",
}


@dataclass
class HoldPlan:
    to_hold: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # invoice id -> why not
    unknown: list[str] = field(default_factory=list)  # held, but nothing lists them (yet)


def plan_hold(
    invoice_ids: Sequence[str], *, stored: Mapping[str, str], known: Collection[str] | None
) -> HoldPlan:
    """Which ids can be held (pure). ``stored``: invoice id -> exports state; ``known``: the
    source's invoice ids (None: the source could not be read, so nothing is called unknown)."""
    plan = HoldPlan()
    for invoice_id in dict.fromkeys(i.strip() for i in invoice_ids if i.strip()):
        why = _SENT.get(stored.get(invoice_id, ""))
        if why is not None:
            plan.refused[invoice_id] = why
            continue
        plan.to_hold.append(invoice_id)
        if known is not None and invoice_id not in known and invoice_id not in stored:
            plan.unknown.append(invoice_id)
    return plan


def hold_invoices(
    state: State, invoice_ids: Sequence[str], reason: str, *, known: Collection[str] | None
) -> HoldPlan:
    plan = plan_hold(invoice_ids, stored=state.exports.states(), known=known)
    if plan.to_hold:
        state.exports.hold(plan.to_hold, reason)
    return plan


def release_invoices(state: State, invoice_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(released, not held) ids."""
    ids = list(dict.fromkeys(i.strip() for i in invoice_ids if i.strip()))
    released = state.exports.release(ids)
    return released, [i for i in ids if i not in released]
