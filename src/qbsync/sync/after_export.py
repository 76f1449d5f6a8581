"""The platform's changes after export, inside every `export` run: plan, preview, apply.

On an export day they go with the day's new invoices; on any other day `export --if-due` pushes
them alone (new invoices wait for their day) and, with nothing to push, stays silent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from qbsync.config import Config
from qbsync.sources.records import Member, SourceInvoice
from qbsync.state.db import State
from qbsync.sync.after_apply import (
    AfterOutcome,
    QboWrites,
    Updater,
    apply_after_export,
    record_outcome,
)
from qbsync.sync.after_plan import AfterAction, plan_after_export
from qbsync.sync.credit_memos import apply_credits
from qbsync.sync.credit_plan import CreditAction, is_credit, plan_credits
from qbsync.sync.export_apply import carries_marker
from qbsync.sync.invoice_map import CustomerInfo, QboRefs, Refused, map_invoice
from qbsync.sync.runrecord import Outcome, RunRecord

WORDS = {
    "void": "void the QBO invoice (voided at the platform)",
    "update": "update the QBO invoice (edited at the platform)",
    "report": "report: changed at the platform after export",
    "payment": "record the platform's payment in QBO",
    "create": "create a QBO credit memo (credit note)",
    "apply": "apply the QBO credit memo to invoice",
}


@dataclass
class AfterExport:
    actions: list[AfterAction] = field(default_factory=list)
    credits: list[CreditAction] = field(default_factory=list)
    outcome: AfterOutcome | None = None

    @property
    def pushes(self) -> list[AfterAction | CreditAction]:
        """Actions that write to QBO (a report only tells)."""
        return [*(a for a in self.actions if a.kind != "report"), *self.credits]

    @property
    def planned(self) -> int:
        return len(self.actions) + len(self.credits)


def split_invoices(
    invoices: Sequence[SourceInvoice], config: Config
) -> tuple[list[SourceInvoice], list[SourceInvoice]]:
    """(invoices in an exported status: candidates for export, every invoice read). Credits
    (credit notes; negative totals under ``[export] negative = "credit_memo"``) are never sent
    as invoices: they become credit memos (credit_memos.py)."""
    wanted = set(config.export.statuses)
    new = [i for i in invoices if i.status in wanted and not is_credit(i, config)]
    return new, list(invoices)


def plan_after(
    invoices: Sequence[SourceInvoice], state: State, config: Config, *, export_day: bool
) -> AfterExport:
    """``export_day``: new credit memos go only then, like new invoices."""
    from qbsync.sync.export_run import export_tz

    exports = state.exports.all()
    records = {r.invoice_id: r for r in exports}
    pushes = state.pushes.all()
    credits = plan_credits(
        [i for i in invoices if is_credit(i, config)],
        pushes,
        enabled_at=state.enabled_at,
        statuses=config.export.statuses,
        held=state.exports.holds().keys(),
        exported_ids=records.keys(),
        export_day=export_day,
        tz=export_tz(config.export),
    )
    return AfterExport(plan_after_export(invoices, records, pushes, config), credits)


def preview(after: AfterExport) -> list[Outcome]:
    """A dry run's list: what would be pushed (nothing is read from QBO for it)."""
    return [
        Outcome(
            "invoice",
            a.invoice.id,
            a.kind,
            "changed" if a.kind == "report" else "waiting",
            WORDS[a.kind] + (f" {a.payment.id}, {a.payment.amount}" if a.payment else ""),
            qbo_id=a.record.qbo_id,
        )
        for a in after.actions
    ] + [
        Outcome(
            "invoice",
            c.note.id,
            "credit_memo" if c.step == "create" else "credit_apply",
            "waiting",
            WORDS[c.step] + (f" {c.note.applies_to}" if c.step == "apply" else ""),
        )
        for c in after.credits
    ]


def apply_after(
    after: AfterExport,
    *,
    client: QboWrites,
    state: State,
    config: Config,
    members: Sequence[Member],
    refs: Any,
    run_id: int | None,
) -> AfterOutcome:
    """``refs``: a callable giving QboRefs (read at most once, only when an update needs it)."""
    from qbsync.sync.after_pay import payer_for

    updater = updater_for(state, config, {m.id: m for m in members}, refs)
    payer = payer_for(client, state, config, run_id)
    outcome = apply_after_export(
        after.actions, client=client, state=state, run_id=run_id, updater=updater, payer=payer
    )
    if after.credits:
        credited = apply_credits(
            after.credits,
            client=client,
            state=state,
            config=config,
            members={m.id: m for m in members},
            refs=refs,
            run_id=run_id,
        )
        record_outcome(state, run_id, credited)
        outcome.outcomes.extend(credited.outcomes)
        outcome.problems.extend(credited.problems)
        outcome.pushed.extend(credited.pushed)
        outcome.unclear.extend(credited.unclear)
    after.outcome = outcome
    return outcome


def updater_for(state: State, config: Config, members: Mapping[str, Member], refs: Any) -> Updater:
    from qbsync.sync.export_run import export_tz

    cache: list[QboRefs] = []

    def update(action: AfterAction, obj: dict[str, Any]) -> tuple[dict[str, Any], Decimal] | str:
        invoice, record = action.invoice, action.record
        member = members.get(invoice.member_id)
        if member is None:
            return f"its member {invoice.member_id} is not in the source"
        link = state.members.links().get(invoice.member_id)
        customer_id = link.customer_id if link else record.customer_id
        cached = state.customers.all().get(customer_id)
        customer = CustomerInfo(
            id=customer_id,
            active=cached.active if cached else True,
            currency=cached.currency if cached else None,
            email=cached.emails[0] if cached and cached.emails else None,
        )
        if not cache:
            cache.append(refs())
        mapped = map_invoice(
            invoice, member, customer, config.export, cache[0], export_tz(config.export)
        )
        if isinstance(mapped, Refused):
            return f"{mapped.field}: {mapped.reason}"
        new = mapped.body
        note = str(obj.get("PrivateNote") or "")
        # The marker stays as exported (it finds the invoice again), with what a person added.
        body: dict[str, Any] = {
            "Id": str(obj["Id"]),
            "SyncToken": str(obj.get("SyncToken", "0")),
            "sparse": True,  # only these fields change; Line replaces every line (qbo-facts.md)
            "Line": new["Line"],
            "CustomerRef": new["CustomerRef"],
            "TxnDate": new["TxnDate"],
            "PrivateNote": note if carries_marker(note, record.marker) else record.marker,
        }
        for key in ("DueDate", "TxnTaxDetail", "DocNumber", "BillEmail"):
            if key in new:
                body[key] = new[key]
        return body, mapped.total

    return update


def add_to_record(record: RunRecord, after: AfterExport, *, dry_run: bool) -> None:
    """The after-export outcomes and problems into the run's one record."""
    if dry_run:
        record.outcomes.extend(preview(after))
        record.details["after_export"] = {"planned": after.planned, "pushed": []}
        return
    outcome = after.outcome
    if outcome is None:
        return
    record.outcomes.extend(outcome.outcomes)
    record.problems.extend(outcome.problems)
    record.details["after_export"] = {
        "planned": after.planned,
        "pushed": outcome.pushed,
        "unclear": outcome.unclear,
    }
