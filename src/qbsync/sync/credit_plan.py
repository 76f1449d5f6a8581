"""Which credit notes become QBO credit memos, and when (pure): credit_memos.py applies them.

A credit: a ``credit_note``, or (under ``[export] negative = "credit_memo"``) an invoice whose lines
sum below zero. New ones go on export days, like invoices (they are new documents); one left
``pushing`` is settled on any day, and an application (``applies_to``) is tried every run until
it is done.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Literal

from qbsync.config import Config
from qbsync.sources.records import SourceInvoice
from qbsync.state.pushes import Push
from qbsync.sync.eligibility import aware
from qbsync.sync.export_apply import MARKER_END
from qbsync.sync.invoice_map import marker_text
from qbsync.sync.invoice_map import source_total as lines_total
from qbsync.sync.money import MoneyError

CreditStep = Literal["create", "apply"]
# Invoice fields a CreditMemo does not have (Intuit's CreditMemo reference: no DueDate, no
# online-payment switches: nothing is paid on a credit).
NOT_ON_CREDIT_MEMO = (
    "DueDate",
    "AllowIPNPayment",
    "AllowOnlineCreditCardPayment",
    "AllowOnlineACHPayment",
)


@dataclass(frozen=True)
class CreditAction:
    step: CreditStep  # create (then apply when it can), or apply an existing credit memo
    note: SourceInvoice
    kind: str = "credit_memo"

    @property
    def key(self) -> str:
        return self.note.id


def credit_marker(note: SourceInvoice) -> str:
    """``qbsync-cm:<id> #<number>;``: never an invoice's marker (``qbsync:``), escaped alike."""
    return f"qbsync-cm:{marker_text(note.id)} #{marker_text(note.number)}{MARKER_END}"


def apply_marker(note_id: str) -> str:
    return f"qbsync-cm-apply:{marker_text(note_id)}{MARKER_END}"


def total_below_zero(invoice: SourceInvoice) -> bool:
    try:
        return lines_total(invoice) < 0
    except (MoneyError, ArithmeticError):
        return False  # not a number QBO could hold: the invoice export refuses it with why


def is_credit(invoice: SourceInvoice, config: Config) -> bool:
    """A credit note, or a negative-total invoice under ``[export] negative = "credit_memo"``."""
    if invoice.kind == "credit_note":
        return True
    return config.export.negative == "credit_memo" and total_below_zero(invoice)


def as_positive(note: SourceInvoice) -> SourceInvoice:
    """The credit with a total above zero: lines, tax and total negated when they sum below
    zero (a negative invoice, or a credit note written with negative amounts)."""
    if not total_below_zero(note):
        return note
    lines = tuple(replace(ln, unit_price=-ln.unit_price) for ln in note.lines)
    tax = None if note.tax_amount is None else -note.tax_amount
    total = None if note.total is None else abs(note.total)
    return replace(note, lines=lines, tax_amount=tax, total=total)


def plan_credits(
    credits: Sequence[SourceInvoice],
    pushes: Sequence[Push],
    *,
    enabled_at: datetime | None,
    statuses: Collection[str],
    held: Collection[str],
    exported_ids: Collection[str],
    export_day: bool,
    tz: tzinfo | None = None,
) -> list[CreditAction]:
    """(pure) New credit memos on export days (and any ``pushing`` one to settle, every day);
    applications every day until done."""
    done = {(p.kind, p.record_id): p for p in pushes}
    actions: list[CreditAction] = []
    for note in credits:
        memo = done.get(("credit_memo", note.id))
        if memo is not None and memo.state == "pushed":
            applied = done.get(("credit_apply", note.id))
            if note.applies_to and (applied is None or applied.state != "pushed"):
                actions.append(CreditAction("apply", note))
            continue
        if memo is not None and memo.state == "pushing":
            actions.append(CreditAction("create", note))  # settled by looking in QBO first
            continue
        if enabled_at is None or note.status not in statuses:
            continue
        if aware(note.created_at, tz) < enabled_at:  # naive times: wall time in the export zone
            continue
        if note.id in held or note.id in exported_ids or not export_day:
            continue
        actions.append(CreditAction("create", note))
    return actions
