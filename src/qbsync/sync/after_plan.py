"""What the platform changed after export, and what qbsync pushes to QBO for it (pure).

Every `export` run (export day or not) looks at the invoices it exported: voided at the platform
-> void the QBO invoice; edited -> report it (state ``changed``) or update the QBO invoice
(``[export] on_change``); paid on the platform with ``[payments] recorded_in = "platform"`` ->
one QBO Payment per platform payment. A status change alone (pending -> paid or void) is not an
edit. What was already pushed (state.pushes) is not planned again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from qbsync.config import Config
from qbsync.sources.records import PlatformPayment, SourceInvoice
from qbsync.state.exports import ExportRecord
from qbsync.state.pushes import Push

# Platform statuses that mean "voided" (sources.base.read_changed reads "voided" as "void").
VOID_STATUSES = ("void", "voided")
ActionKind = Literal["void", "update", "report", "payment"]


@dataclass(frozen=True)
class AfterAction:
    kind: ActionKind
    invoice: SourceInvoice
    record: ExportRecord
    payment: PlatformPayment | None = None  # for kind "payment"
    known: str | None = None  # report: what changed, as found by an earlier run

    @property
    def key(self) -> str:
        """The pushes row's record id: the payment's id for a payment, else the invoice's."""
        return str(self.payment.id) if self.payment is not None else self.invoice.id


def is_edit(invoice: SourceInvoice, exported: str, statuses: Iterable[str]) -> bool:
    """The invoice reads differently from the one exported (fingerprint ``exported``) other than
    by its status: compared with the status set back to each exported status."""
    if invoice.fingerprint() == exported:
        return False
    return all(replace(invoice, status=s).fingerprint() != exported for s in statuses)


def plan_after_export(
    invoices: Sequence[SourceInvoice],
    records: Mapping[str, ExportRecord],
    pushes: Sequence[Push],
    config: Config,
) -> list[AfterAction]:
    done = {(p.kind, p.record_id): p for p in pushes}
    actions: list[AfterAction] = []
    statuses = config.export.statuses
    for invoice in invoices:
        record = records.get(invoice.id)
        if record is None or record.state != "exported" or not record.qbo_id:
            continue
        undone = done.get(("undo", invoice.id))
        if undone is not None and undone.state == "pushed":
            continue  # `qbsync undo` voided it in QBO: nothing more goes until it is released
        if invoice.status in VOID_STATUSES:
            push = done.get(("void", invoice.id))
            if push is None or push.state != "pushed":
                actions.append(AfterAction("void", invoice, record))
            continue  # a voided invoice is neither edited nor paid any more
        if is_edit(invoice, record.fingerprint, statuses):
            if config.export.on_change == "update":
                actions.append(AfterAction("update", invoice, record))
            else:
                seen = done.get(("report", invoice.id))
                fresh = seen is not None and seen.fingerprint == invoice.fingerprint()
                known = seen.detail if fresh and seen is not None else None
                actions.append(AfterAction("report", invoice, record, known=known))
        if config.payments.recorded_in == "platform":
            for payment in invoice.payments:
                push = done.get(("payment", str(payment.id)))
                if push is None or push.state != "pushed":
                    actions.append(AfterAction("payment", invoice, record, payment=payment))
    return actions
