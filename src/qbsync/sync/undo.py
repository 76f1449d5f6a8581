"""`qbsync undo RUN_ID`: void every invoice an export run sent to QBO (never delete: numbers
and the audit trail stay), blockers listed first.

Blockers (qbo-facts.md "After export"): a payment applied (QBO refuses the void), a date on or
before the books' close date (6210), an invoice emailed to the customer (they hold it). Each
void is recorded ``pushing`` in state.pushes (kind ``undo``) before it goes; the QBO invoice is
read first, so a kill between the void and its record is settled by reading it again (voided
already: recorded, nothing sent). An undone invoice is held ("undone in run N"), so the next
export does not send it again until `qbsync release`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from qbsync.errors import QboError, QboStaleObjectError, UsageError
from qbsync.qbo.query import quote
from qbsync.qbo.requestids import attempt_key, request_id
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.sync.after_apply import (
    QboWrites,
    book_close_date,
    is_voided,
    payment_words,
    qbo_reason,
    refusal_fix,
    unpaid,
)
from qbsync.sync.export_apply import clear_refusal
from qbsync.sync.runrecord import Outcome, RunRecord
from qbsync.sync.vocabulary import Problem


@dataclass
class UndoItem:
    record: ExportRecord
    blocker: str | None = None
    voided: bool = False  # voided in QBO already (by hand, or by a run that was killed)
    sync_token: str = "0"


@dataclass
class CustomerItem:
    member_id: str
    customer_id: str
    blocker: str | None = None
    sync_token: str = "0"


@dataclass
class UndoPlan:
    run_id: int
    items: list[UndoItem] = field(default_factory=list)
    customers: list[CustomerItem] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # undone by an earlier `undo`

    @property
    def to_void(self) -> list[UndoItem]:
        return [i for i in self.items if i.blocker is None]

    @property
    def blocked(self) -> list[UndoItem]:
        return [i for i in self.items if i.blocker is not None]


def plan_undo(run_id: int, *, client: QboWrites, state: State, customers: bool) -> UndoPlan:
    run = state.runs.get(run_id)
    if run is None or run.command != "export":
        raise UsageError(
            f"run {run_id} is not an export run qbsync recorded",
            hint="`qbsync runs` lists the recorded runs",
        )
    plan = UndoPlan(run_id)
    records = [r for r in state.exports.all() if r.run_id == run_id]
    undone = {p.record_id for p in state.pushes.all("undo") if p.state == "pushed"}
    plan.already = [r.invoice_id for r in records if r.invoice_id in undone]
    closed = book_close_date(client)
    for record in records:
        if record.state != "exported" or not record.qbo_id or record.invoice_id in undone:
            continue
        obj = client.get("Invoice", record.qbo_id)
        item = UndoItem(record, sync_token=str(obj.get("SyncToken", "0")))
        if is_voided(obj):
            item.voided = True
        elif not unpaid(obj):
            item.blocker = f"{payment_words(obj)} applied: remove it in QBO first"
        elif closed and str(obj.get("TxnDate") or record.txn_date) <= closed:
            item.blocker = f"its date is in a closed period (books closed through {closed})"
        elif obj.get("EmailStatus") == "EmailSent":
            item.blocker = "it was emailed to the customer: void it in QBO by hand if you mean it"
        plan.items.append(item)
    if customers:
        plan.customers = _customers(run_id, client, state)
    return plan


def _customers(run_id: int, client: QboWrites, state: State) -> list[CustomerItem]:
    """Customers that run created (links how=created, recorded as created in that run) with
    no transaction other than that run's invoices (voided by the undo)."""
    made = {o.record_id for o in state.runs.outcomes(run_id, only=["created"])}
    links = state.members.links()
    ours = {r.qbo_id for r in state.exports.all() if r.run_id == run_id and r.qbo_id}
    items = []
    for member_id in sorted(made):
        link = links.get(member_id)
        if link is None or link.how != "created":
            continue
        customer = client.get("Customer", link.customer_id)
        item = CustomerItem(member_id, link.customer_id, sync_token=str(customer["SyncToken"]))
        if not customer.get("Active", True):
            continue  # inactive already
        ref = quote(link.customer_id)
        other = [
            f"{entity} {t['Id']}"
            for entity in ("Invoice", "Payment", "CreditMemo")
            for t in client.query(f"select * from {entity} where CustomerRef = {ref}")  # noqa: S608
            if not (entity == "Invoice" and str(t["Id"]) in ours)
        ]
        if other:
            item.blocker = f"it has other transactions ({', '.join(other[:3])})"
        items.append(item)
    return items


def apply_undo(
    plan: UndoPlan,
    *,
    client: QboWrites,
    state: State,
    run_id: int | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RunRecord:
    """``run_id``: this undo's own run."""
    record = RunRecord("undo", run_id, details={"undo_of": plan.run_id, "voided": 0})
    reason = f"undone in run {plan.run_id}"
    for item in plan.items:
        invoice = item.record.invoice_id
        if item.blocker is not None:
            _problem(
                record, invoice, f"not undone: {item.blocker}", "fix it in QBO, then undo again"
            )
            continue
        qbo_id = str(item.record.qbo_id)
        try:
            done = item.voided or _void(item, client, state, run_id, now)
        except QboError as exc:
            clear = clear_refusal(exc)
            if clear:
                state.pushes.fail("undo", invoice, detail=qbo_reason(exc))
            fix = "undo again: it reads the invoice in QBO first"
            _problem(
                record,
                invoice,
                f"QBO invoice {qbo_id} not voided: {qbo_reason(exc)}",
                refusal_fix(exc, fix) if clear else fix,
            )
            continue
        if not done:
            continue
        with state.transaction():  # voided in QBO: the state follows in one commit
            state.pushes.found(
                "undo", invoice, invoice, qbo_id=qbo_id, detail=reason, run_id=run_id
            )
            _hold(state, invoice, reason, run_id)
        record.details["voided"] += 1
        record.outcomes.append(
            Outcome("invoice", invoice, "undo", "held", f"QBO invoice {qbo_id} voided; {reason}",
                    qbo_id=qbo_id)
        )  # fmt: skip
    for customer in plan.customers:
        if customer.blocker is not None:
            _problem(
                record,
                customer.member_id,
                f"customer {customer.customer_id} kept active: {customer.blocker}",
                "make it inactive in QBO by hand if you mean it",
                kind="member",
            )
            continue
        body = {"Id": customer.customer_id, "SyncToken": customer.sync_token, "sparse": True,
                "Active": False}  # fmt: skip
        rid = request_id("customer-inactive", [customer.customer_id, attempt_key(run_id, now())])
        client.update("Customer", body, rid)  # the same whatever how often: no record needed
        record.outcomes.append(
            Outcome("member", customer.member_id, "undo", "unlinked",
                    f"customer {customer.customer_id} made inactive")
        )  # fmt: skip
    record.status, record.exit_code = ("partial", 5) if record.problems else ("ok", 0)
    return record


def _void(
    item: UndoItem, client: QboWrites, state: State, run_id: int | None,
    now: Callable[[], datetime],
) -> bool:  # fmt: skip
    invoice, qbo_id = item.record.invoice_id, str(item.record.qbo_id)
    token = item.sync_token
    for attempt in (1, 2):  # the second only after a stale SyncToken (5010): read again
        rid = request_id("invoice-undo", [invoice, attempt_key(run_id, now())])
        state.pushes.begin(
            "undo", invoice, invoice, request_id=rid, qbo_id=qbo_id, run_id=run_id, now=now()
        )
        try:
            client.void("Invoice", {"Id": qbo_id, "SyncToken": token}, rid)
            return True
        except QboStaleObjectError:
            if attempt == 2:
                raise
            obj: dict[str, Any] = client.get("Invoice", qbo_id)
            if is_voided(obj):
                return True
            token = str(obj.get("SyncToken", "0"))
    return False


def _hold(state: State, invoice_id: str, reason: str, run_id: int | None) -> None:
    """Held until `qbsync release`, and no longer `exported` (its QBO invoice is voided), in one
    transaction: a kill between the two never leaves it sendable again."""
    with state.transaction():
        state.exports.hold([invoice_id], reason, run_id=run_id)
        state.exports.mark_undone(invoice_id, message=reason)


def _problem(record: RunRecord, rid: str, what: str, fix: str, *, kind: str = "invoice") -> None:
    record.problems.append(Problem(what, fix, kind=kind, record=rid, state="changed"))
    record.outcomes.append(Outcome(kind, rid, "undo", "changed", what))
