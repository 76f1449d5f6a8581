"""Credit notes -> QBO CreditMemos, exactly once, applied to the invoice they credit.

A platform ``credit_note`` (or, under ``[export] negative = "credit_memo"``, an invoice whose
total is below zero) becomes a QBO CreditMemo mapped like an invoice (invoice_map.map_invoice:
the same Line model, items, tax codes; qbo-facts.md "After export": "CreditMemo: same line model
as Invoice"), with ``qbsync-cm:<id> #<number>;`` in its PrivateNote. Amounts: a credit note's
total is its absolute value; one whose lines sum below zero is sent with its lines (and tax)
negated. New credit memos go on export days, like invoices.

With ``applies_to`` the credit memo is applied to that invoice once both are in QBO: a
zero-total Payment whose lines link both (qbo-facts.md "After export", Intuit's example), with
``qbsync-cm-apply:<id>;`` in its PrivateNote. Until the invoice is in QBO the memo stays
unapplied and the run says so; a later run applies it.

Exactly once, both writes: recorded ``pushing`` in state.pushes (kinds ``credit_memo`` and
``credit_apply``) before the create is sent; before any create the customer's credit memos (or
payments) are looked up by marker, and a ``pushing`` row not found waits out the settle grace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from qbsync.config import Config
from qbsync.errors import QboError
from qbsync.qbo.query import quote
from qbsync.qbo.requestids import attempt_key, request_id
from qbsync.sources.records import Member, SourceInvoice
from qbsync.state.db import State
from qbsync.sync.after_apply import (
    AfterOutcome,
    QboWrites,
    is_voided,
    qbo_reason,
    refusal_fix,
)
from qbsync.sync.after_pay import find_payment
from qbsync.sync.credit_plan import (
    NOT_ON_CREDIT_MEMO,
    CreditAction,
    apply_marker,
    as_positive,
    credit_marker,
)
from qbsync.sync.export_apply import carries_marker, clear_refusal, settle_grace
from qbsync.sync.invoice_map import CustomerInfo, QboRefs, Refused, map_invoice
from qbsync.sync.runrecord import Outcome
from qbsync.sync.vocabulary import Problem


def _done(outcome: AfterOutcome, action: CreditAction, verb: str, detail: str, qbo: str) -> None:
    outcome.outcomes.append(
        Outcome("invoice", action.note.id, verb, "exported", detail, qbo_id=qbo)
    )
    outcome.pushed.append(f"{verb} {action.key}")


def _tell(
    outcome: AfterOutcome, action: CreditAction, what: str, fix: str, state: str, code: Any = None
) -> None:
    note = action.note.id
    verb = "credit_memo" if action.step == "create" else "credit_apply"
    outcome.outcomes.append(
        Outcome("invoice", note, verb, state, what, None if code is None else str(code))
    )
    if state != "waiting":  # waiting for its invoice is shown, not a problem
        outcome.problems.append(Problem(what, fix, kind="invoice", record=note, state=state))


def find_credit_memo(client: QboWrites, customer_id: str, marker: str) -> dict[str, Any] | None:
    sql = f"select * from CreditMemo where CustomerRef = {quote(customer_id)}"  # noqa: S608
    for memo in client.query(sql):
        if carries_marker(str(memo.get("PrivateNote") or ""), marker):
            return memo
    return None


def apply_credits(
    actions: Sequence[CreditAction],
    *,
    client: QboWrites,
    state: State,
    config: Config,
    members: Mapping[str, Member],
    refs: Callable[[], QboRefs],
    run_id: int | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AfterOutcome:
    from qbsync.sync.export_run import export_tz

    outcome = AfterOutcome()
    grace = settle_grace(emulator=config.qbo.endpoints.name == "emulator")
    cache: list[QboRefs] = []
    for action in actions:
        try:
            if action.step == "create":
                customer = _customer(state, action.note)
                if customer is None:
                    _tell(
                        outcome, action,
                        f"credit note {action.note.id}: member {action.note.member_id} is not "
                        "connected to a QBO customer",
                        f"qbsync connect-members, or qbsync link {action.note.member_id} "
                        "CUSTOMER_ID", "blocked",
                    )  # fmt: skip
                    continue
                if not cache:
                    cache.append(refs())
                memo_id = _create(
                    action, client, state, config, members, customer, cache[0],
                    export_tz(config.export), run_id, grace, now, outcome,
                )  # fmt: skip
                if memo_id is None or not action.note.applies_to:
                    continue
            _apply(action, client, state, run_id, grace, now, outcome)
        except QboError as exc:  # a read failed: this one waits for the next run
            _tell(
                outcome, action,
                f"credit note {action.note.id}: could not {action.step} in QBO: {qbo_reason(exc)}",
                "the next export tries again", "in-flight", exc.code,
            )  # fmt: skip
    return outcome


def _customer(state: State, note: SourceInvoice) -> CustomerInfo | None:
    link = state.members.links().get(note.member_id)
    if link is None:
        return None
    cached = state.customers.all().get(link.customer_id)
    return CustomerInfo(
        id=link.customer_id,
        active=cached.active if cached else True,
        currency=cached.currency if cached else None,
        email=cached.emails[0] if cached and cached.emails else None,
    )


def _create(
    action: CreditAction,
    client: QboWrites,
    state: State,
    config: Config,
    members: Mapping[str, Member],
    customer: CustomerInfo,
    refs: QboRefs,
    tz: Any,
    run_id: int | None,
    grace: Any,
    now: Callable[[], datetime],
    outcome: AfterOutcome,
) -> str | None:
    """The QBO credit memo's Id once it is there (created now or found), else None."""
    note = action.note
    marker = credit_marker(note)
    push = state.pushes.get("credit_memo", note.id)
    # Looked for first, always: a kill after the send, or a state behind QBO, never sends twice.
    found = find_credit_memo(client, customer.id, marker)
    if found is not None:
        state.pushes.found(
            "credit_memo", note.id, note.applies_to or note.id, qbo_id=str(found["Id"]),
            detail="found in QBO", run_id=run_id,
        )  # fmt: skip
        _done(outcome, action, "credit_memo", f"QBO credit memo {found['Id']} (found)", found["Id"])
        return str(found["Id"])
    if push is not None and push.state == "pushing" and now() - push.attempted_at < grace:
        outcome.unclear.append(note.id)
        _tell(
            outcome, action,
            f"credit note {note.id} was sent and is not in QBO yet",
            "the next export looks for it in QBO before sending it again", "in-flight",
        )  # fmt: skip
        return None
    member = members.get(note.member_id)
    if member is None:
        _tell(
            outcome, action, f"credit note {note.id}: its member {note.member_id} is not in the "
            "source", f"add member {note.member_id} to the source", "blocked",
        )  # fmt: skip
        return None
    mapped = map_invoice(as_positive(note), member, customer, config.export, refs, tz)
    if isinstance(mapped, Refused):
        _tell(
            outcome, action, f"credit note {note.id}: {mapped.field}: {mapped.reason}",
            "fix it at the platform or in the config; the next export day sends it", "refused",
        )  # fmt: skip
        return None
    body = {k: v for k, v in mapped.body.items() if k not in NOT_ON_CREDIT_MEMO}
    body["PrivateNote"] = marker
    rid = request_id("creditmemo-create", [note.id, attempt_key(run_id, now())])
    state.pushes.begin(
        "credit_memo", note.id, note.applies_to or note.id, request_id=rid, marker=marker,
        fingerprint=note.fingerprint(), run_id=run_id, now=now(),
    )  # fmt: skip
    created: dict[str, Any] | None
    try:
        created = client.create("CreditMemo", body, rid)
    except QboError as exc:
        if clear_refusal(exc):
            state.pushes.fail("credit_memo", note.id, detail=qbo_reason(exc))
            _tell(
                outcome, action, f"credit note {note.id}: QBO refused the credit memo: "
                f"{qbo_reason(exc)}", refusal_fix(exc, "fix what QBO says"), "failed", exc.code,
            )  # fmt: skip
            return None
        created = _look(lambda: find_credit_memo(client, customer.id, marker))
        if created is None:
            outcome.unclear.append(note.id)
            _tell(
                outcome, action, f"credit note {note.id} got no clear answer from QBO",
                "the next export looks for it in QBO before sending it again", "in-flight",
                exc.code,
            )  # fmt: skip
            return None
    memo_id = str(created["Id"])
    state.pushes.done("credit_memo", note.id, qbo_id=memo_id, detail="created")
    _done(outcome, action, "credit_memo", f"QBO credit memo {memo_id} of {mapped.total}", memo_id)
    return memo_id


def _apply(
    action: CreditAction,
    client: QboWrites,
    state: State,
    run_id: int | None,
    grace: Any,
    now: Callable[[], datetime],
    outcome: AfterOutcome,
) -> None:
    note = action.note
    target = str(note.applies_to)
    memo_push = state.pushes.get("credit_memo", note.id)
    assert memo_push is not None and memo_push.qbo_id
    memo_id = memo_push.qbo_id
    step = CreditAction("apply", note)
    record = state.exports.get(target)
    if record is None or record.state != "exported" or not record.qbo_id:
        _tell(
            outcome, step, f"credit memo {memo_id} (credit note {note.id}) is unapplied: invoice "
            f"{target} is not in QBO yet", "a later export applies it once the invoice is there",
            "waiting",
        )  # fmt: skip
        return
    memo = client.get("CreditMemo", memo_id)
    customer = str((memo.get("CustomerRef") or {}).get("value") or "")
    marker = apply_marker(note.id)
    push = state.pushes.get("credit_apply", note.id)
    found = find_payment(client, customer, marker, None)
    if found is not None:
        state.pushes.found(
            "credit_apply", note.id, target, qbo_id=str(found["Id"]), detail="found in QBO",
            run_id=run_id,
        )  # fmt: skip
        _done(outcome, step, "credit_apply", f"applied by QBO payment {found['Id']} (found)",
              record.qbo_id)  # fmt: skip
        return
    if push is not None and push.state == "pushing" and now() - push.attempted_at < grace:
        outcome.unclear.append(note.id)
        _tell(
            outcome,
            step,
            f"the application of credit memo {memo_id} is not in QBO yet",
            "the next export looks for it in QBO before sending it again",
            "in-flight",
        )
        return
    invoice = client.get("Invoice", record.qbo_id)
    credit = Decimal(str(memo.get("RemainingCredit", memo.get("Balance", "0"))))
    balance = Decimal(str(invoice.get("Balance", "0")))
    why = None
    if is_voided(invoice):
        why = f"QBO invoice {record.qbo_id} is voided"
    elif str((invoice.get("CustomerRef") or {}).get("value")) != customer:
        why = f"QBO invoice {record.qbo_id} belongs to another customer"
    elif credit <= 0:
        why = f"credit memo {memo_id} has no credit left in QBO (applied there by hand?)"
    elif balance <= 0:
        why = f"QBO invoice {record.qbo_id} has no balance left"
    if why:
        _tell(
            outcome, step, f"credit memo {memo_id} (credit note {note.id}) is left unapplied: "
            f"{why}", "apply it in QBO by hand (Receive payment), or leave it as credit", "changed",
        )  # fmt: skip
        return
    amount = min(credit, balance)  # what is left of the credit stays on the customer
    body = {
        "CustomerRef": {"value": customer},
        "TotalAmt": Decimal("0"),  # no money moves: the credit pays the invoice
        "Line": [
            {"Amount": amount, "LinkedTxn": [{"TxnId": record.qbo_id, "TxnType": "Invoice"}]},
            {"Amount": amount, "LinkedTxn": [{"TxnId": memo_id, "TxnType": "CreditMemo"}]},
        ],
        "PrivateNote": marker,
    }
    rid = request_id("creditmemo-apply", [note.id, attempt_key(run_id, now())])
    state.pushes.begin(
        "credit_apply", note.id, target, request_id=rid, marker=marker, run_id=run_id, now=now()
    )
    created: dict[str, Any] | None
    try:
        created = client.create("Payment", body, rid)
    except QboError as exc:
        if clear_refusal(exc):
            state.pushes.fail("credit_apply", note.id, detail=qbo_reason(exc))
            _tell(outcome, step, f"credit memo {memo_id}: QBO refused to apply it to invoice "
                  f"{record.qbo_id}: {qbo_reason(exc)}", refusal_fix(exc, "apply it by hand"),
                  "failed", exc.code)  # fmt: skip
            return
        created = _look(lambda: find_payment(client, customer, marker, None))
        if created is None:
            outcome.unclear.append(note.id)
            _tell(outcome, step, f"applying credit memo {memo_id} got no clear answer from QBO",
                  "the next export looks for it in QBO before sending it again", "in-flight",
                  exc.code)  # fmt: skip
            return
    state.pushes.done("credit_apply", note.id, qbo_id=str(created["Id"]), detail="applied")
    _done(outcome, step, "credit_apply",
          f"credit memo {memo_id} applied to QBO invoice {record.qbo_id} ({amount})",
          record.qbo_id)  # fmt: skip


def _look(find: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    try:
        return find()
    except QboError:
        return None
