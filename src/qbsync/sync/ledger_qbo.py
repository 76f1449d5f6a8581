"""QBO's side of every exported invoice, as `qbsync pull` last recorded it (issue 14 item 6): what
`status`, `invoices` and `report` show next to the platform's side, and the problems it makes.

Pure, but for ``load_qbo_sides`` (which reads the state). States are pull's (sync/pull_fields.py
QBO_STATES: open, partly-paid, paid, voided, deleted), or ``NOT_PULLED`` for an exported invoice
no pull has seen yet. An edit is judged as pull judges it (sync/pull_plan.py ``_edited``): the
customer, total or item lines differ from what the export recorded / what pull first saw.

Problems (the operator's-view vocabulary; pull issue item 5): an exported invoice ``deleted`` or
``edited`` in QBO (the books no longer match the platform), or ``voided`` in QBO while the
platform still has it pending. Payments are not problems.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from qbsync.state.exports import ExportRecord
from qbsync.state.pulls import PaymentApplied, QboInvoice
from qbsync.sync.pull_fields import QBO_STATES
from qbsync.sync.vocabulary import Problem

if TYPE_CHECKING:
    from qbsync.state.db import State
    from qbsync.sync.ledger import LedgerEntry

NOT_PULLED = "not pulled yet"
# The fix for each QBO-side problem; pull's run record uses the same words (sync/pull_run.py).
QBO_FIX = {
    "deleted": "void/delete it at the platform too, or re-create it in QBO",
    "edited": "change it at the platform to match, or undo the edit in QBO",
    "voided": "void/cancel it at the platform too, or re-create it in QBO",
}
# The ledger states whose invoice is in QBO (exported, then perhaps changed at the platform).
IN_QBO = ("exported", "changed")


@dataclass(frozen=True)
class QboSide:
    """One exported invoice in QBO as the last pull saw it."""

    state: str  # pull_fields.QBO_STATES
    balance: Decimal
    total: Decimal
    paid: Decimal  # applied to it by payments and credits pull recorded (still applied)
    edited: str | None = None  # what was edited in QBO since export (None: nothing)


def qbo_sides(
    pulled: Mapping[str, QboInvoice],
    exports: Iterable[ExportRecord],
    payments: Iterable[PaymentApplied],
    edit_details: Mapping[str, str],
) -> dict[str, QboSide]:
    """By platform invoice id: ``pulled`` is state.pulls.invoices() (by QBO Id), ``payments``
    the applications still active, ``edit_details`` the last `edited` event's detail per
    platform invoice id."""
    paid: dict[str, Decimal] = {}
    for p in payments:
        if p.active:
            paid[p.qbo_invoice_id] = paid.get(p.qbo_invoice_id, Decimal(0)) + p.amount
    records = {r.qbo_id: r for r in exports if r.qbo_id}
    out: dict[str, QboSide] = {}
    for qbo_id, inv in pulled.items():
        record = records.get(qbo_id)
        edited = _edited(inv, record, edit_details.get(inv.invoice_id))
        out[inv.invoice_id] = QboSide(
            inv.state, inv.balance, inv.total, paid.get(qbo_id, Decimal(0)), edited
        )
    return out


def _edited(inv: QboInvoice, record: ExportRecord | None, detail: str | None) -> str | None:
    if inv.state in ("voided", "deleted"):  # a void zeroes the total: not an edit
        return None
    changes: list[str] = []
    if inv.fingerprint_export and inv.fingerprint and inv.fingerprint != inv.fingerprint_export:
        changes.append("lines")
    if record is not None:
        if record.qbo_total is not None and inv.total != record.qbo_total:
            changes.append(f"total {record.qbo_total} -> {inv.total}")
        if inv.customer_id and record.customer_id and inv.customer_id != record.customer_id:
            changes.append(f"customer {record.customer_id} -> {inv.customer_id}")
    if not changes:
        return None
    if detail:  # pull's own words for it ("edited in QBO: total 25.00 -> 30.00")
        return detail
    return "edited in QBO: " + "; ".join("lines changed" if c == "lines" else c for c in changes)


def load_qbo_sides(state: State) -> dict[str, QboSide]:
    """Everything pull recorded, by platform invoice id (a few queries, no QBO request)."""
    details = {
        e.invoice_id: str(e.payload.get("detail") or "edited in QBO")
        for e in state.pulls.events()
        if e.kind == "edited"
    }
    return qbo_sides(state.pulls.invoices(), state.exports.all(), state.pulls.payments(), details)


def with_qbo(
    entries: Sequence[LedgerEntry],
    sides: Mapping[str, QboSide] | None,
    pending: Collection[str] | None,
) -> tuple[list[LedgerEntry], list[Problem]]:
    """Each entry in QBO gets its QBO state and balance (``NOT_PULLED`` when no pull saw it);
    one deleted, edited, or voided while ``pending`` at the platform (None: the source was not
    read, so that is not known) becomes a problem, its reason and fix saying so."""
    if sides is None:
        return list(entries), []
    out: list[LedgerEntry] = []
    problems: list[Problem] = []
    for e in entries:
        if e.state not in IN_QBO or not e.qbo_id:
            out.append(e)
            continue
        side = sides.get(e.invoice_id)
        if side is None:
            out.append(replace(e, qbo_state=NOT_PULLED))
            continue
        e = replace(e, qbo_state=side.state, qbo_balance=side.balance, qbo_paid=side.paid)
        what = _problem_text(e, side, pending)
        if what is None:
            out.append(e)
            continue
        kind = "edited" if side.edited and side.state not in ("deleted", "voided") else side.state
        fix = QBO_FIX[kind]
        if e.state == "exported":  # a `changed` entry keeps the platform's side of the story
            e = replace(e, reason=what, fix=fix)
        e = replace(e, qbo_problem=what)
        out.append(e)
        label = f"invoice {e.invoice_id} ({e.number or '-'}, QBO invoice {e.qbo_id})"
        problems.append(Problem(f"{label}: {what}", fix, "invoice", e.invoice_id, kind))
    return out, problems


def _problem_text(e: LedgerEntry, side: QboSide, pending: Collection[str] | None) -> str | None:
    if side.state == "deleted":
        return "deleted in QBO: the books no longer hold it (qbsync does not export it again)"
    if side.state == "voided":
        if pending is not None and e.invoice_id in pending:
            return "voided in QBO while the platform still has it pending"
        return None
    return side.edited


def qbo_state_counts(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    """Exported invoices by QBO state (`status`): every state named, then ``NOT_PULLED``."""
    counts = dict.fromkeys((*QBO_STATES, NOT_PULLED), 0)
    for e in entries:
        if e.qbo_state is not None:
            counts[e.qbo_state] = counts.get(e.qbo_state, 0) + 1
    return counts
