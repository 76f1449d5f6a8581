"""Platform payments pushed to QBO as Payments (``[payments] recorded_in = "platform"``).

Each platform payment becomes one QBO Payment applied to its invoice (qbo-facts.md "After
export": CustomerRef, TotalAmt, ``Line[{Amount, LinkedTxn[{TxnId, TxnType: "Invoice"}]}]``,
PaymentRefNum, PaymentMethodRef, DepositToAccountRef (Undeposited Funds when none is sent)), with
``qbsync-pay:<payment id>;`` in its PrivateNote. Exactly once per platform payment id: recorded
``pushing`` before the create is sent; a ``pushing`` row is looked for in QBO by customer, marker
(and reference) before anything is sent again, and waits out the settle grace when not found
(QBO may still be working on it: export_apply.settle_grace).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from qbsync.config import Config
from qbsync.errors import QboError
from qbsync.qbo.query import quote
from qbsync.qbo.requestids import attempt_key, request_id
from qbsync.state.db import State
from qbsync.sync.after_apply import (
    AfterOutcome,
    QboWrites,
    is_voided,
    qbo_reason,
    refusal_fix,
)
from qbsync.sync.after_plan import AfterAction
from qbsync.sync.export_apply import MARKER_END, carries_marker, clear_refusal, settle_grace
from qbsync.sync.invoice_map import marker_text

PAYMENT_REF_MAX = 21  # QBO's PaymentRefNum length (Intuit's Payment reference)


def pay_marker(payment_id: str) -> str:
    return f"qbsync-pay:{marker_text(payment_id)}{MARKER_END}"


def find_payment(
    client: QboWrites, customer_id: str, marker: str, reference: str | None
) -> dict[str, Any] | None:
    """The QBO Payment a platform payment became: the customer's payments, confirmed by the
    PrivateNote marker (and the reference when one was sent)."""
    sql = f"select * from Payment where CustomerRef = {quote(customer_id)}"  # noqa: S608 - quote()
    for payment in client.query(sql):
        if not carries_marker(str(payment.get("PrivateNote") or ""), marker):
            continue
        if reference and payment.get("PaymentRefNum") not in (None, reference[:PAYMENT_REF_MAX]):
            continue
        return payment
    return None


def payer_for(
    client: QboWrites,
    state: State,
    config: Config,
    run_id: int | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[AfterAction, AfterOutcome], None] | None:
    if config.payments.recorded_in != "platform":
        return None
    from qbsync.sync.export_run import export_tz

    grace = settle_grace(emulator=config.qbo.endpoints.name == "emulator")
    tz = export_tz(config.export)  # the export zone, as for invoices' TxnDate
    refs: dict[str, dict[str, str] | None] = {}

    def ref_named(entity: str, name: str | None) -> dict[str, str] | None:
        """An Account or PaymentMethod by name, read once per run."""
        if not name:
            return None
        key = f"{entity}:{name}"
        if key not in refs:
            sql = f"select * from {entity} where Name = {quote(name)}"  # noqa: S608 - quote()
            rows = client.query(sql)
            refs[key] = {"value": str(rows[0]["Id"])} if rows else None
        return refs[key]

    def pay(action: AfterAction, outcome: AfterOutcome) -> None:
        payment = action.payment
        assert payment is not None
        record, pid = action.record, str(payment.id)
        marker = pay_marker(pid)
        qbo_id = str(record.qbo_id)
        invoice = client.get("Invoice", qbo_id)
        customer = str((invoice.get("CustomerRef") or {}).get("value") or record.customer_id)
        push = state.pushes.get("payment", pid)
        if push is not None and push.state == "pushing":  # an earlier run sent it: look first
            found = find_payment(client, customer, marker, payment.reference)
            if found is not None:
                state.pushes.done("payment", pid, qbo_id=str(found["Id"]), detail="found in QBO")
                outcome.done(action, "payment", f"QBO payment {found['Id']} (found)", qbo_id)
                return
            if now() - push.attempted_at < grace:
                outcome.unclear.append(pid)
                outcome.problem(
                    action,
                    f"payment {pid} of invoice {action.invoice.id} was sent and is not in QBO yet",
                    "the next export looks for it in QBO before sending it again",
                    state="in-flight",
                )
                return
        if is_voided(invoice):
            outcome.problem(
                action,
                f"payment {pid} ({payment.amount}) was taken on the platform, but QBO invoice "
                f"{qbo_id} is voided",
                "record it in QBO by hand (as a credit or a refund), or un-void at the platform",
            )
            return
        balance = Decimal(str(invoice.get("Balance", "0")))
        if payment.amount > balance:
            outcome.problem(
                action,
                f"payment {pid} ({payment.amount}) is more than QBO invoice {qbo_id}'s balance "
                f"({balance}): was it recorded in QBO too?",
                "one system takes payments ([payments] recorded_in): remove the double in QBO",
            )
            return
        body: dict[str, Any] = {
            "CustomerRef": {"value": customer},
            "TotalAmt": payment.amount,
            "TxnDate": payment.paid_at.astimezone(tz).date().isoformat(),
            "Line": [
                {"Amount": payment.amount, "LinkedTxn": [{"TxnId": qbo_id, "TxnType": "Invoice"}]}
            ],
            "PrivateNote": marker,
        }
        if payment.reference:
            body["PaymentRefNum"] = payment.reference[:PAYMENT_REF_MAX]
        method = config.payments.methods.get((payment.method or "").lower())
        if (method_ref := ref_named("PaymentMethod", method)) is not None:
            body["PaymentMethodRef"] = method_ref
        if (account := ref_named("Account", config.payments.deposit_account)) is not None:
            body["DepositToAccountRef"] = account
        rid = request_id("payment-create", [pid, attempt_key(run_id, now())])
        state.pushes.begin(
            "payment", pid, action.invoice.id, request_id=rid, marker=marker, run_id=run_id,
            now=now(),
        )  # fmt: skip
        try:
            created = client.create("Payment", body, rid)
        except QboError as exc:
            if clear_refusal(exc):
                state.pushes.fail("payment", pid, detail=qbo_reason(exc))
                outcome.problem(
                    action,
                    f"payment {pid} of invoice {action.invoice.id}: QBO refused it: "
                    f"{qbo_reason(exc)}",
                    refusal_fix(exc, "record it in QBO by hand, or fix what QBO says"),
                    code=exc.code,
                )
                return
            found = _look(client, customer, marker, payment.reference)
            if found is None:
                outcome.unclear.append(pid)
                outcome.problem(
                    action,
                    f"payment {pid} of invoice {action.invoice.id} got no clear answer from QBO",
                    "the next export looks for it in QBO before sending it again",
                    state="in-flight",
                    code=exc.code,
                )
                return
            created = found
        state.pushes.done("payment", pid, qbo_id=str(created["Id"]), detail="created")
        outcome.done(action, "payment", f"QBO payment {created['Id']} of {payment.amount}", qbo_id)

    return pay


def _look(
    client: QboWrites, customer: str, marker: str, reference: str | None
) -> dict[str, Any] | None:
    try:
        return find_payment(client, customer, marker, reference)
    except QboError:
        return None
