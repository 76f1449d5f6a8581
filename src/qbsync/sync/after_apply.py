"""The platform's changes after export, applied to QBO: voids, updates, reports (payments:
after_pay.py).

Every write reads the QBO invoice first (Id, current SyncToken, Balance, LinkedTxn,
EmailStatus) and is recorded ``pushing`` in state.pushes before it is sent. A void or an update
says the same thing however often it is sent, so a kill between send and record is settled by
the next run reading the invoice again: voided already -> recorded, nothing sent. A stale
SyncToken (5010) is read again and retried once; a clear refusal (6210 closed books, 6540
deposited, a payment applied) is a problem with QBO's reason, never retried blindly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from qbsync.errors import QboError, QboStaleObjectError, QbsyncError
from qbsync.qbo.requestids import attempt_key, request_id
from qbsync.state.db import State
from qbsync.sync.after_plan import AfterAction
from qbsync.sync.export_apply import clear_refusal, total_of
from qbsync.sync.runrecord import Outcome
from qbsync.sync.vocabulary import Problem

log = logging.getLogger(__name__)


# The sparse update body of an edited invoice and qbsync's total for it, or why it cannot map.
Updater = Callable[[AfterAction, dict[str, Any]], "tuple[dict[str, Any], Decimal] | str"]


class QboWrites(Protocol):
    def get(self, entity: str, entity_id: str) -> dict[str, Any]: ...
    def void(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]: ...
    def update(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]: ...
    def create(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]: ...
    def query(self, sql: str, *, page_size: int = 1000) -> list[dict[str, Any]]: ...
    def preferences(self) -> dict[str, Any]: ...


@dataclass
class AfterOutcome:
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)  # "void 12", "update 12", "payment p-1"
    unclear: list[str] = field(default_factory=list)  # sent without a clear answer

    def done(self, action: AfterAction, verb: str, detail: str, qbo_id: str | None) -> None:
        self.outcomes.append(
            Outcome("invoice", action.invoice.id, action.kind, "exported", detail, qbo_id=qbo_id)
        )
        self.pushed.append(f"{verb} {action.key}")

    def problem(
        self, action: AfterAction, what: str, fix: str, *, state: str = "changed", code: Any = None
    ) -> None:
        invoice = action.invoice.id
        self.outcomes.append(
            Outcome(
                "invoice", invoice, action.kind, state, what, None if code is None else str(code)
            )
        )
        self.problems.append(Problem(what, fix, kind="invoice", record=invoice, state=state))


# -- what a QBO invoice shows ---------------------------------------------------------------


def is_voided(obj: Mapping[str, Any]) -> bool:
    """QBO voids an invoice by zeroing its amounts and putting "Voided" before its PrivateNote
    (qbo-facts.md "After export"; minimul/qbo_api spec/vcr/void/invoice.yml)."""
    note = str(obj.get("PrivateNote") or "")
    return note.startswith("Voided") and total_of(obj) == 0


def applied_payments(obj: Mapping[str, Any]) -> list[str]:
    """Ids of the payments QBO shows applied to the invoice (its read-only LinkedTxn entries of
    type Payment; qbo-facts.md "After export")."""
    return [
        str(link.get("TxnId"))
        for link in obj.get("LinkedTxn") or []
        if isinstance(link, dict) and link.get("TxnType") == "Payment"
    ]


def unpaid(obj: Mapping[str, Any]) -> bool:
    """No payment applied: Balance equals TotalAmt and no linked payment."""
    total = total_of(obj)
    try:
        balance = Decimal(str(obj.get("Balance"))) if obj.get("Balance") is not None else total
    except ArithmeticError:
        balance = None
    return not applied_payments(obj) and balance == total


def book_close_date(client: QboWrites) -> str | None:
    """``Preferences.AccountingInfoPrefs.BookCloseDate``: QBO refuses changes to transactions
    dated on or before it (6210, qbo-facts.md "After export"), so none is sent blindly."""
    prefs = client.preferences()
    value = (prefs.get("AccountingInfoPrefs") or {}).get("BookCloseDate")
    return str(value)[:10] if value else None


def in_closed_books(obj: Mapping[str, Any], closed: str | None) -> bool:
    return bool(closed) and str(obj.get("TxnDate") or "9999") <= str(closed)


def payment_words(obj: Mapping[str, Any]) -> str:
    ids = applied_payments(obj)
    if ids:
        return "payment " + ", ".join(ids)
    return f"a payment (balance {obj.get('Balance')} of {obj.get('TotalAmt')})"


def qbo_reason(exc: QbsyncError) -> str:
    code = getattr(exc, "code", None)
    return f"{exc.message} [QBO {code}]" if code else exc.message


def refusal_fix(exc: QbsyncError, default: str) -> str:
    """What to do about a clear refusal: QBO's closed-books and deposited codes name theirs
    (qbo-facts.md "After export": 6210 account period closed, 6540 deposited transaction)."""
    code = str(getattr(exc, "code", "") or "")
    if code == "6210":
        return "the books are closed for its date in QBO: reopen the period or change it by hand"
    if code == "6540":
        return (
            "it is part of a deposit in QBO: remove it from the deposit first, or change it by hand"
        )
    return default


# -- applying -------------------------------------------------------------------------------


def apply_after_export(
    actions: Sequence[AfterAction],
    *,
    client: QboWrites,
    state: State,
    run_id: int | None,
    updater: Updater | None = None,
    payer: Callable[[AfterAction, AfterOutcome], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AfterOutcome:
    """``updater(action, qbo_invoice)``: the sparse update body for an edited invoice and its
    total, or why it cannot be mapped; ``payer``: pushes one platform payment (after_pay.py)."""
    outcome = AfterOutcome()
    books: list[str | None] = []

    def closed_through() -> str | None:  # read once per run, only when a write is due
        if not books:
            books.append(book_close_date(client))
        return books[0]

    for action in actions:
        try:
            if action.kind == "void":
                _void(action, client, state, run_id, outcome, now, closed_through)
            elif action.kind == "update" and updater is not None:
                _update(action, client, state, run_id, outcome, updater, now, closed_through)
            elif action.kind == "report":
                _report(action, client, state, outcome)
            elif action.kind == "payment" and payer is not None:
                payer(action, outcome)
        except QboError as exc:  # a read failed: this one waits for the next run
            outcome.problem(
                action,
                f"invoice {action.invoice.id}: could not {action.kind} in QBO: {qbo_reason(exc)}",
                "the next export tries again",
                state="in-flight",
                code=exc.code,
            )
    record_outcome(state, run_id, outcome)
    return outcome


def _void(
    action: AfterAction,
    client: QboWrites,
    state: State,
    run_id: int | None,
    outcome: AfterOutcome,
    now: Callable[[], datetime],
    closed_through: Callable[[], str | None],
) -> None:
    qbo_id = str(action.record.qbo_id)
    invoice_id = action.invoice.id
    for attempt in (1, 2):  # the second only after a stale SyncToken (5010)
        obj = client.get("Invoice", qbo_id)
        if is_voided(obj):
            state.pushes.found(
                "void", invoice_id, invoice_id, qbo_id=qbo_id, detail="voided in QBO",
                run_id=run_id,
            )  # fmt: skip
            outcome.done(action, "void", f"QBO invoice {qbo_id} is voided already", qbo_id)
            return
        if not unpaid(obj):
            outcome.problem(
                action,
                f"invoice {invoice_id} was voided at the platform, but QBO invoice {qbo_id} has "
                f"{payment_words(obj)} applied",
                f"remove (or unapply) {payment_words(obj)} in QBO; the next export voids it",
            )
            return
        if in_closed_books(obj, closed_through()):
            outcome.problem(
                action,
                f"invoice {invoice_id} was voided at the platform, but QBO invoice {qbo_id} is "
                f"dated in a closed period (books closed through {closed_through()})",
                "void it in QBO by hand, or reopen the period; the next export voids it then",
            )
            return
        rid = request_id("invoice-void", [invoice_id, attempt_key(run_id, now())])
        state.pushes.begin(
            "void", invoice_id, invoice_id, request_id=rid, qbo_id=qbo_id, run_id=run_id, now=now()
        )
        body = {"Id": qbo_id, "SyncToken": str(obj.get("SyncToken", "0"))}
        try:
            client.void("Invoice", body, rid)
        except QboStaleObjectError:
            if attempt == 1:
                continue
            raise
        except QboError as exc:
            if clear_refusal(exc):
                state.pushes.fail("void", invoice_id, detail=qbo_reason(exc))
                outcome.problem(
                    action,
                    f"invoice {invoice_id} was voided at the platform; QBO refused to void "
                    f"invoice {qbo_id}: {qbo_reason(exc)}",
                    refusal_fix(exc, "void it in QBO by hand, or fix what QBO says"),
                    code=exc.code,
                )
            else:
                outcome.unclear.append(invoice_id)
                outcome.problem(
                    action,
                    f"invoice {invoice_id}: the void of QBO invoice {qbo_id} got no clear answer",
                    "the next export reads it in QBO before voiding it again",
                    state="in-flight",
                    code=exc.code,
                )
            return
        state.pushes.done("void", invoice_id, qbo_id=qbo_id, detail="voided")
        outcome.done(action, "void", f"voided QBO invoice {qbo_id}", qbo_id)
        return


def _update(
    action: AfterAction,
    client: QboWrites,
    state: State,
    run_id: int | None,
    outcome: AfterOutcome,
    updater: Updater,
    now: Callable[[], datetime],
    closed_through: Callable[[], str | None],
) -> None:
    qbo_id = str(action.record.qbo_id)
    invoice = action.invoice
    fingerprint = invoice.fingerprint()
    for attempt in (1, 2):  # the second only after a stale SyncToken (5010)
        obj = client.get("Invoice", qbo_id)
        why = _not_updatable(obj)
        if why is None and in_closed_books(obj, closed_through()):
            why = f"is dated in a closed period (books closed through {closed_through()})"
        if why:
            outcome.problem(
                action,
                f"invoice {invoice.id} changed at the platform after export; not updated in QBO: "
                f"QBO invoice {qbo_id} {why}",
                "change it in QBO by hand (qbsync updates only unpaid invoices not emailed)",
            )
            return
        mapped = updater(action, obj)
        if isinstance(mapped, str):
            outcome.problem(
                action,
                f"invoice {invoice.id} changed at the platform after export, and cannot be "
                f"mapped any more: {mapped}",
                "fix it at the platform; the next export updates QBO",
                state="refused",
            )
            return
        body, total = mapped
        rid = request_id("invoice-update", [invoice.id, fingerprint, attempt_key(run_id, now())])
        state.pushes.begin(
            "update", invoice.id, invoice.id, request_id=rid, fingerprint=fingerprint,
            qbo_id=qbo_id, run_id=run_id, now=now(),
        )  # fmt: skip
        try:
            written = client.update("Invoice", body, rid)
        except QboStaleObjectError:
            if attempt == 1:
                continue
            raise
        except QboError as exc:
            if clear_refusal(exc):
                state.pushes.fail("update", invoice.id, detail=qbo_reason(exc))
                outcome.problem(
                    action,
                    f"invoice {invoice.id} changed at the platform; QBO refused the update of "
                    f"invoice {qbo_id}: {qbo_reason(exc)}",
                    refusal_fix(exc, "change it in QBO by hand, or fix what QBO says"),
                    code=exc.code,
                )
            else:
                outcome.unclear.append(invoice.id)
                outcome.problem(
                    action,
                    f"invoice {invoice.id}: the update of QBO invoice {qbo_id} got no clear answer",
                    "the next export reads it and updates it again (an update is the same "
                    "whatever how often it is sent)",
                    state="in-flight",
                    code=exc.code,
                )
            return
        with state.transaction():
            state.exports.mark_updated(
                invoice.id,
                fingerprint=fingerprint,
                source_total=total,
                platform_total=invoice.total,
                qbo_total=total_of(written),
            )
            state.pushes.done("update", invoice.id, qbo_id=qbo_id, detail="updated")
        outcome.done(action, "update", f"updated QBO invoice {qbo_id}", qbo_id)
        return


def _not_updatable(obj: Mapping[str, Any]) -> str | None:
    """Why QBO's copy must not be rewritten: paid, emailed to the customer, or voided."""
    if is_voided(obj):
        return "is voided"
    if not unpaid(obj):
        return f"has {payment_words(obj)} applied"
    if obj.get("EmailStatus") == "EmailSent":  # the customer has this version
        return "was emailed to the customer (EmailStatus EmailSent)"
    return None


def _report(action: AfterAction, client: QboWrites, state: State, outcome: AfterOutcome) -> None:
    invoice = action.invoice
    what = action.known
    if what is None:  # read once per version of the invoice, then kept
        obj = client.get("Invoice", str(action.record.qbo_id))
        what = describe_change(invoice, obj)
        state.pushes.note(
            "report", invoice.id, invoice.id, fingerprint=invoice.fingerprint(), detail=what
        )
    outcome.problem(
        action,
        f"invoice {invoice.id} changed at the platform after it was exported: {what}",
        'change it in QBO by hand, or set [export] on_change = "update" to let qbsync update '
        "unpaid invoices",
    )


def describe_change(invoice: Any, obj: Mapping[str, Any]) -> str:
    """The platform's invoice against QBO's copy, in a few words."""
    from qbsync.sync.invoice_map import source_total

    parts = []
    platform = invoice.total if invoice.total is not None else source_total(invoice)
    qbo_total = total_of(obj)
    if qbo_total is not None and qbo_total != platform:
        parts.append(f"total {qbo_total} in QBO, {platform} at the platform")
    lines = [ln for ln in obj.get("Line") or [] if ln.get("DetailType") == "SalesItemLineDetail"]
    if len(lines) != len(invoice.lines):
        parts.append(f"{len(lines)} line(s) in QBO, {len(invoice.lines)} at the platform")
    due = invoice.due_date.isoformat() if invoice.due_date else None
    if due != obj.get("DueDate"):
        parts.append(f"due date {obj.get('DueDate')} in QBO, {due} at the platform")
    return "; ".join(parts) or "its details (descriptions, items or dates)"


def record_outcome(state: State, run_id: int | None, outcome: AfterOutcome) -> None:
    if run_id is None or not outcome.outcomes:
        return
    state.runs.record(
        run_id,
        "invoice",
        [
            (o.id, o.action if o.result == "exported" else o.result, o.detail)
            for o in outcome.outcomes
        ],
    )
