"""What `qbsync pull` makes of what changed in QBO (pure): each exported invoice's QBO state,
the payments applied to it, and the events for the platform.

States come from QBO's own fields (issue 14; qbo-facts.md "After export"): ``open`` (Balance =
TotalAmt), ``partly-paid``, ``paid`` (Balance 0), ``voided`` (a void zeroes the amounts and puts
"Voided" before the PrivateNote: minimul/qbo_api spec/vcr/void/invoice.yml), ``deleted`` (CDC's
``"status": "Deleted"``, or an exported Id a by-Id read no longer finds). Payments are read, not
inferred from Balance: an invoice's ``LinkedTxn`` names its payments, each Payment's lines give
the amount applied; a payment applied before and no longer named (voided: ``"Line": []``,
deleted, or its lines changed) is ``payment-removed``, judged against what earlier pulls saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from qbsync.qbo.query import parse_qbo_time
from qbsync.state.pulls import PaymentApplied, PullEvent, QboInvoice
from qbsync.sync.pull_fields import (
    applied_to,
    dec,
    event_id,
    fingerprint,
    invoice_payment_ids,
    linked_invoices,
    payment_kind,
    qbo_state,
    ref,
    updated,
)


@dataclass(frozen=True)
class Exported:
    """An invoice qbsync exported (an ``exports`` row in state exported, with its QBO Id)."""

    invoice_id: str
    number: str
    qbo_id: str
    total: Decimal | None
    customer_id: str


@dataclass
class Changes:
    """What one read found: live objects by Id, and deleted Ids."""

    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_invoices: dict[str, str | None] = field(default_factory=dict)  # Id -> when
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_payments: set[str] = field(default_factory=set)


@dataclass
class PullPlan:
    invoices: list[QboInvoice] = field(default_factory=list)
    payments: list[PaymentApplied] = field(default_factory=list)
    events: list[PullEvent] = field(default_factory=list)


def affected(
    changes: Changes,
    exported: Mapping[str, Exported],
    recorded: Iterable[PaymentApplied],
) -> set[str]:
    """QBO Ids of exported invoices this read may have changed."""
    ids = {i for i in changes.invoices if i in exported}
    ids |= {i for i in changes.deleted_invoices if i in exported}
    for payment in changes.payments.values():
        ids |= {i for i in linked_invoices(payment) if i in exported}
    touched = set(changes.payments) | changes.deleted_payments
    ids |= {p.qbo_invoice_id for p in recorded if p.payment_id in touched}
    return {i for i in ids if i in exported}


def missing(
    changes: Changes, exported: Mapping[str, Exported], recorded: Iterable[PaymentApplied]
) -> tuple[set[str], set[str]]:
    """(invoice Ids, payment Ids) the plan needs and the read did not bring: fetched by Id."""
    rec = list(recorded)
    ids = affected(changes, exported, rec)
    invoices = {i for i in ids if i not in changes.invoices and i not in changes.deleted_invoices}
    known = {p.payment_id for p in rec} | set(changes.payments) | changes.deleted_payments
    payments = {
        p for i in ids if i in changes.invoices for p in invoice_payment_ids(changes.invoices[i])
    }
    return invoices, payments - known


def plan_pull(
    changes: Changes,
    exported: Mapping[str, Exported],
    known: Mapping[str, QboInvoice],
    recorded: Iterable[PaymentApplied],
    *,
    own_payments: frozenset[str] = frozenset(),
    own_voids: frozenset[str] = frozenset(),
    own_updates: Mapping[str, datetime] | None = None,
) -> PullPlan:
    """The new QBO states, payment rows and events. qbsync's own writes never come back as
    events (they came from the platform): ``own_payments``, payments qbsync created from platform
    payments; ``own_voids``, QBO invoice ids qbsync voided (a platform void, `undo`);
    ``own_updates``, QBO invoice id -> when qbsync updated it (a platform edit): a QBO change
    stamped within OWN_WRITE_WINDOW of that update is taken for it. Their effect is recorded."""
    rec = list(recorded)
    by_invoice: dict[str, dict[str, PaymentApplied]] = {}
    for p in rec:
        if p.active:
            by_invoice.setdefault(p.qbo_invoice_id, {})[p.payment_id] = p
    plan = PullPlan()
    for qbo_id in sorted(affected(changes, exported, rec), key=_id_order):
        ex = exported[qbo_id]
        before = known.get(qbo_id)
        if qbo_id in changes.deleted_invoices or qbo_id not in changes.invoices:
            _deleted(plan, ex, before, by_invoice.get(qbo_id, {}), changes, qbo_id)
            continue
        _invoice(
            plan,
            ex,
            before,
            changes.invoices[qbo_id],
            by_invoice.get(qbo_id, {}),
            changes,
            own_payments,
            own=_own_write(qbo_id, changes.invoices[qbo_id], own_voids, own_updates or {}),
        )
    return plan


# QBO stamps LastUpdatedTime with its own clock; qbsync records its update's end with this
# machine's: a change in QBO stamped this close to qbsync's own update is taken for it.
OWN_WRITE_WINDOW = timedelta(minutes=5)


def _own_write(
    qbo_id: str,
    invoice: Mapping[str, Any],
    own_voids: frozenset[str],
    own_updates: Mapping[str, datetime],
) -> str | None:
    """ "void" / "update" when the invoice's last change in QBO is qbsync's own, else None."""
    if qbo_id in own_voids:
        return "void"
    done = own_updates.get(qbo_id)
    stamp = parse_qbo_time(updated(invoice))
    if done is not None and stamp is not None and abs(stamp - done) <= OWN_WRITE_WINDOW:
        return "update"
    return None


def _id_order(ident: str) -> tuple[int, str]:
    return (int(ident), "") if ident.isdigit() else (1 << 62, ident)


def _event(
    kind: str,
    ex: Exported,
    *,
    key: tuple[object, ...],
    occurred_at: str | None,
    amount: Decimal | None = None,
    balance: Decimal | None = None,
    payment: PaymentApplied | None = None,
    detail: str = "",
    problem: str | None = None,
) -> PullEvent:
    eid = event_id(kind, ex.qbo_id, *key)
    payload = {
        "event_id": eid,
        "occurred_at": occurred_at,
        "event": kind,
        "invoice_id": ex.invoice_id,
        "number": ex.number,
        "qbo_invoice_id": ex.qbo_id,
        "amount": None if amount is None else str(amount),
        "balance": None if balance is None else str(balance),
        "qbo_payment_id": payment.payment_id if payment else None,
        "payment_method": payment.method if payment else None,
        "reference": payment.reference if payment else None,
        "detail": detail,
    }
    return PullEvent(eid, kind, ex.invoice_id, ex.qbo_id, payload, problem=problem)


def _deleted(
    plan: PullPlan,
    ex: Exported,
    before: QboInvoice | None,
    applied: Mapping[str, PaymentApplied],
    changes: Changes,
    qbo_id: str,
) -> None:
    if before is not None and before.state == "deleted":
        return
    total = before.total if before else (ex.total or Decimal(0))
    plan.invoices.append(
        QboInvoice(
            qbo_id,
            ex.invoice_id,
            "deleted",
            Decimal(0),
            total,
            before.customer_id if before else ex.customer_id,
            None,
            before.fingerprint_export if before else None,
            None,
            before.last_payment_at if before else None,
        )
    )
    for p in applied.values():  # the payments stay in QBO, unapplied (Intuit's help)
        plan.payments.append(_inactive(p))
    plan.events.append(
        _event(
            "deleted",
            ex,
            key=(),
            occurred_at=changes.deleted_invoices.get(qbo_id),
            amount=total,
            balance=Decimal(0),
            detail="the invoice was deleted in QBO",
            problem=f"invoice {ex.invoice_id} (#{ex.number}) was deleted in QBO: the books no "
            "longer hold it",
        )
    )


def _inactive(p: PaymentApplied) -> PaymentApplied:
    return PaymentApplied(
        p.payment_id, p.qbo_invoice_id, p.kind, p.amount, p.txn_date, p.method, p.reference, False
    )


def _applied_now(
    invoice: Mapping[str, Any],
    qbo_id: str,
    applied: Mapping[str, PaymentApplied],
    changes: Changes,
) -> dict[str, PaymentApplied]:
    now: dict[str, PaymentApplied] = {}
    for pid in invoice_payment_ids(invoice):
        obj = changes.payments.get(pid)
        if obj is None:
            if pid in applied and pid not in changes.deleted_payments:
                now[pid] = applied[pid]  # unchanged since it was read
            continue
        amount = applied_to(obj, qbo_id)
        if amount <= 0:
            continue
        method = obj.get("PaymentMethodRef")
        now[pid] = PaymentApplied(
            pid,
            qbo_id,
            payment_kind(obj),
            amount,
            obj.get("TxnDate"),
            (method.get("name") or method.get("value")) if isinstance(method, dict) else None,
            obj.get("PaymentRefNum"),
        )
    return now


def _invoice(
    plan: PullPlan,
    ex: Exported,
    before: QboInvoice | None,
    invoice: Mapping[str, Any],
    applied: Mapping[str, PaymentApplied],
    changes: Changes,
    own_payments: frozenset[str],
    *,
    own: str | None = None,
) -> None:
    qbo_id = ex.qbo_id
    when = updated(invoice)
    balance, total = dec(invoice.get("Balance")), dec(invoice.get("TotalAmt"))
    state = qbo_state(invoice)
    now = _applied_now(invoice, qbo_id, applied, changes)
    for pid, old in applied.items():
        new = now.get(pid)
        if new is not None and new.amount == old.amount:
            continue
        plan.payments.append(_inactive(old))
        if pid not in own_payments:
            pay = changes.payments.get(pid)
            plan.events.append(
                _event(
                    "payment-removed",
                    ex,
                    key=(pid, old.amount, invoice.get("SyncToken")),
                    occurred_at=updated(pay) if pay else when,
                    amount=old.amount,
                    balance=balance,
                    payment=old,
                    detail="the payment was voided, deleted or changed in QBO",
                )
            )
    last_payment = before.last_payment_at if before else None
    for pid, new in now.items():
        seen = applied.get(pid)
        if seen is not None and seen.amount == new.amount:
            continue
        plan.payments.append(new)
        last_payment = max(filter(None, (last_payment, new.txn_date)), default=None)
        if pid not in own_payments:
            plan.events.append(
                _event(
                    new.kind,
                    ex,
                    key=(pid, new.amount, invoice.get("SyncToken")),
                    occurred_at=updated(changes.payments[pid]),
                    amount=new.amount,
                    balance=balance,
                    payment=new,
                    detail=f"{new.kind} {new.amount} applied in QBO",
                )
            )
    prev_state = before.state if before else "open"
    prev_balance = before.balance if before else (ex.total or total)
    token = invoice.get("SyncToken")
    if state == "voided":
        if prev_state != "voided" and own != "void":
            plan.events.append(
                _event(
                    "voided",
                    ex,
                    key=(),
                    occurred_at=when,
                    amount=total,
                    balance=balance,
                    detail="the invoice was voided in QBO",
                )
            )
    elif state == "paid" and prev_state != "paid":
        plan.events.append(
            _event("paid", ex, key=(token,), occurred_at=when, amount=total, balance=balance)
        )
    elif state in ("open", "partly-paid") and balance > prev_balance and prev_state != "open":
        plan.events.append(
            _event(
                "reopened",
                ex,
                key=(token, balance),
                occurred_at=when,
                amount=total,
                balance=balance,
                detail=f"balance back up from {prev_balance}",
            )
        )
    elif state == "partly-paid" and balance < prev_balance:
        plan.events.append(
            _event(
                "partly-paid",
                ex,
                key=(token, balance),
                occurred_at=when,
                amount=total,
                balance=balance,
            )
        )
    print_now = fingerprint(invoice)
    at_export = before.fingerprint_export if before else None
    if state != "voided" and own != "update":
        _edited(plan, ex, before, invoice, print_now)
    if before is None:
        at_export = print_now
    plan.invoices.append(
        QboInvoice(
            qbo_id,
            ex.invoice_id,
            state,
            balance,
            total,
            ref(invoice.get("CustomerRef")),
            None if token is None else str(token),
            at_export,
            print_now if state != "voided" else (before.fingerprint if before else None),
            last_payment,
        )
    )


def _edited(
    plan: PullPlan,
    ex: Exported,
    before: QboInvoice | None,
    invoice: Mapping[str, Any],
    print_now: str,
) -> None:
    total, customer = dec(invoice.get("TotalAmt")), ref(invoice.get("CustomerRef"))
    changed: list[str] = []
    if before is None or before.fingerprint is None:
        # First sight: compared with what the export recorded (total and customer; the lines
        # as exported are known from here on).
        if ex.total is not None and total != ex.total:
            changed.append(f"total {ex.total} -> {total}")
        if customer != ex.customer_id:
            changed.append(f"customer {ex.customer_id} -> {customer}")
    elif print_now != before.fingerprint:
        if total != before.total:
            changed.append(f"total {before.total} -> {total}")
        if customer != before.customer_id:
            changed.append(f"customer {before.customer_id} -> {customer}")
        if not changed:
            changed.append("lines changed")
    if not changed:
        return
    detail = "edited in QBO: " + "; ".join(changed)
    plan.events.append(
        _event(
            "edited",
            ex,
            key=(print_now,),
            occurred_at=updated(invoice),
            amount=total,
            balance=dec(invoice.get("Balance")),
            detail=detail,
            problem=f"invoice {ex.invoice_id} (#{ex.number}) was {detail}",
        )
    )
