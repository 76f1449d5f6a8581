"""`qbsync export` from start to end, for the CLI: what is due, what is eligible, the mapped
invoices (the plan); then the batches."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from qbsync.config import Config, ExportConfig
from qbsync.errors import AuthError
from qbsync.sources.records import Member, Problem, SourceInvoice
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.sync.eligibility import Eligible, Skipped, aware, classify
from qbsync.sync.export_adopt import adopt_from_qbo
from qbsync.sync.export_apply import (
    ExportOutcome,
    InvoiceWriter,
    Progress,
    ToSend,
    export_batches,
    settle_grace,
    settle_in_flight,
)
from qbsync.sync.invoice_map import CustomerInfo, Mapped, QboRefs, Refused, map_invoice
from qbsync.sync.schedule import due_export_day, next_export_day, today_in
from qbsync.zones import machine_zone


class QboInvoices(InvoiceWriter, Protocol):
    def preferences(self) -> dict[str, Any]: ...


def export_tz(export: ExportConfig) -> tzinfo:
    """The one export time zone: ``[export] timezone``, else this machine's zone with its DST
    rules (never today's fixed offset: qbsync.zones). Naive source times, TxnDate, eligibility
    and export days are all read in it."""
    return ZoneInfo(export.timezone) if export.timezone else machine_zone()


def local_tz(export: ExportConfig) -> tzinfo:
    """The zone sources read naive times in: the export zone (the same one, by design)."""
    return export_tz(export)


@dataclass(frozen=True)
class Due:
    today: date
    day: date | None  # the export day to serve now; None: not due
    next_day: date


def due(
    state: State, export: ExportConfig, *, as_of: date | None, now: datetime | None = None
) -> Due:
    today = as_of or today_in(export_tz(export), now or datetime.now(UTC))
    enabled = state.enabled_at
    enabled_on = today_in(export_tz(export), enabled) if enabled else None
    day = due_export_day(
        today, state.exports.last_served_day(today), export.days, export.month_end, enabled_on
    )
    return Due(today, day, next_export_day(today, export.days, export.month_end))


def changed_since_export(
    invoices: Sequence[SourceInvoice], records: Mapping[str, ExportRecord]
) -> list[str]:
    """Exported invoices that read differently at the source now (never sent again)."""
    return [
        invoice.id
        for invoice in invoices
        if (done := records.get(invoice.id)) is not None
        and done.state == "exported"
        and done.fingerprint != invoice.fingerprint()
    ]


def qbo_refs(client: QboInvoices) -> QboRefs:
    """Item and tax-code names -> Ids, home currency and numbering, read once per run."""
    prefs = client.preferences()
    items = {  # a plain query answers active items only (qbo-facts.md "Query")
        str(i.get("Name", "")).lower(): str(i["Id"]) for i in client.query("select * from Item")
    }
    tax_codes = {
        str(t.get("Name", "")).lower(): str(t["Id"]) for t in client.query("select * from TaxCode")
    }
    currency = prefs.get("CurrencyPrefs") or {}
    sales = prefs.get("SalesFormsPrefs") or {}
    return QboRefs(
        items=items,
        tax_codes=tax_codes,
        home_currency=str((currency.get("HomeCurrency") or {}).get("value") or "USD"),
        multicurrency=bool(currency.get("MultiCurrencyEnabled", False)),
        custom_txn_numbers=bool(sales.get("CustomTxnNumbers", False)),
    )


@dataclass
class ExportPlan:
    today: date
    export_day: date | None
    settled: ExportOutcome
    to_send: list[ToSend] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    changed_since_export: list[str] = field(default_factory=list)
    members: dict[str, str] = field(default_factory=dict)  # invoice id -> member id, for views
    # The platform's changes to exported invoices this run pushes or reports (after_plan.py).
    after: list[Any] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((t.mapped.total for t in self.to_send), Decimal("0"))


def plan_export(
    invoices: Sequence[SourceInvoice],
    members: Sequence[Member],
    problems: Sequence[Problem],
    *,
    client: QboInvoices,
    state: State,
    config: Config,
    today: date,
    export_day: date | None,
    now: datetime | None = None,
    settle: bool = True,
    assume_links: Mapping[str, str] | None = None,
) -> ExportPlan:
    """``assume_links``: members a dry run would connect first (member -> customer id, or a
    placeholder for a customer to create), so that it lists their invoices as they would go."""
    enabled_at = state.enabled_at
    if enabled_at is None:
        raise AuthError(
            "this profile has never been connected to QBO, so nothing is eligible yet",
            hint="run `qbsync auth`",
        )
    # A dry run settles nothing: invoices still in flight are listed as such.
    grace = settle_grace(emulator=config.qbo.endpoints.name == "emulator")
    settled = settle_in_flight(client, state, now=now, grace=grace) if settle else ExportOutcome()
    plan = ExportPlan(today, export_day, settled, problems=list(problems))
    plan.members = {invoice.id: invoice.member_id for invoice in invoices}
    by_member = {m.id: m for m in members}
    links = {m: link.customer_id for m, link in state.members.links().items()}
    links.update(assume_links or {})
    roster = state.members.roster()
    member_states = {m: row.status for m, row in roster.items() if m not in links}
    for m in state.members.unlinked():
        member_states[m] = "unlinked"
    records = {r.invoice_id: r for r in state.exports.all()}
    held = state.exports.holds()  # `qbsync hold`: never sent
    tz = export_tz(config.export)  # one zone for eligibility and TxnDate
    eligible, skipped = classify(
        invoices,
        enabled_at=enabled_at,
        statuses=config.export.statuses,
        settled={i: r.state for i, r in records.items()},
        links=links,
        member_states=member_states,
        known_members=by_member.keys(),
        tz=tz,
        member_details={m: row.detail for m, row in roster.items() if m not in links},
        held=held.keys(),
    )
    plan.skipped = [s for s in skipped if s.reason_code != "already_exported"]
    plan.changed_since_export = changed_since_export(invoices, records)
    if not eligible:
        return plan
    refs = qbo_refs(client)
    state.set_meta("custom_txn_numbers", "true" if refs.custom_txn_numbers else "false")
    plan.to_send, plan.refused = _map_all(eligible, by_member, state, config, refs, tz)
    if settle and plan.to_send:
        # One read: invoices QBO holds that a state behind it (a restored backup) would resend.
        since = state.exports.last_activity_at() or enabled_at
        plan.to_send, settled.adopted = adopt_from_qbo(
            client, state, plan.to_send, since=since, now=now
        )
    return plan


def _map_all(
    eligible: list[Eligible],
    members: dict[str, Member],
    state: State,
    config: Config,
    refs: QboRefs,
    tz: tzinfo,
) -> tuple[list[ToSend], list[Refused]]:
    to_send: list[ToSend] = []
    refused: list[Refused] = []
    customers = state.customers.all()  # once, not a query per invoice
    for item in eligible:
        invoice = item.invoice
        cached = customers.get(item.customer_id)
        customer = CustomerInfo(
            id=item.customer_id,
            active=cached.active if cached else True,
            currency=cached.currency if cached else None,
            email=cached.emails[0] if cached and cached.emails else None,
        )
        result = map_invoice(invoice, members[invoice.member_id], customer, config.export, refs, tz)
        if isinstance(result, Mapped):
            to_send.append(
                ToSend(
                    result,
                    invoice.member_id,
                    item.customer_id,
                    invoice.number,
                    invoice.fingerprint(),
                )
            )
        else:
            refused.append(result)
    return to_send, refused


def apply_export(
    plan: ExportPlan,
    *,
    client: QboInvoices,
    state: State,
    config: Config,
    run_id: int | None,
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportOutcome:
    outcome = export_batches(
        plan.to_send,
        client=client,
        state=state,
        batch_size=config.qbo.batch_size,
        run_id=run_id,
        progress=progress,
        now=now,
    )
    if run_id is not None and plan.refused:
        state.runs.record(
            run_id,
            "invoice",
            [(r.invoice_id, "refused", f"{r.field}: {r.reason}") for r in plan.refused],
        )
    # One row per refused invoice (the ledger's `refused`), replacing the last export's.
    state.exports.record_refusals(
        run_id, [(r.invoice_id, f"{r.field}: {r.reason}", refusal_fix(r)) for r in plan.refused]
    )
    # The day is served once everything sent has a clear answer; with invoices still in flight it
    # stays due, so the next daily run settles them (and serves it).
    # A day served ahead of time by `--as-of` blocks only that day: `due` looks at days served on
    # or before the date it evaluates.
    settled = not outcome.in_flight and not plan.settled.in_flight
    if plan.export_day is not None and settled:
        state.exports.serve_day(plan.export_day, run_id=run_id, now=now())
    return outcome


def refusal_fix(refused: Refused) -> str:
    """The fix for a refused invoice: its reason names the config line or the platform field;
    once that is fixed the next export sends it, or the operator sets it aside."""
    return (
        f"fix the {refused.field} as the reason says (the config line or the platform); the next "
        f"export sends it, or qbsync hold {refused.invoice_id} --reason TEXT"
    )


def export_summary(plan: ExportPlan, outcome: ExportOutcome | None) -> dict[str, Any]:
    by_reason: dict[str, int] = {}
    for skip in plan.skipped:
        by_reason[skip.reason_code] = by_reason.get(skip.reason_code, 0) + 1
    exported = outcome.exported if outcome else []
    failed = outcome.failed if outcome else []
    differences = [
        {
            "invoice": r.invoice_id,
            "source_total": str(r.source_total),  # qbsync's sum of the lines and tax
            "platform_total": None if r.platform_total is None else str(r.platform_total),
            "checked_against": "line sums" if r.platform_total is None else "platform total",
            "qbo_total": str(r.qbo_total),
        }
        for r in exported
        if r.difference is not None
    ]
    return {
        "today": plan.today.isoformat(),
        "export_day": plan.export_day.isoformat() if plan.export_day else None,
        "to_export": len(plan.to_send),
        "to_export_total": str(plan.total),
        "exported": len(exported),
        "exported_total": str(sum((r.source_total for r in exported), Decimal("0"))),
        "failed": len(failed) + len(plan.refused),
        "refused": len(plan.refused),
        "failures": [
            f"invoice {r.invoice_id}: {r.error_message} [QBO {r.error_code}]" for r in failed
        ]
        + [f"invoice {r.invoice_id}: {r.field}: {r.reason}" for r in plan.refused],
        "skipped": by_reason,
        "skipped_detail": [f"invoice {s.invoice_id}: {s.reason}" for s in plan.skipped],
        "in_flight": (outcome.in_flight if outcome else []) + plan.settled.in_flight,
        "settled_from_earlier_runs": plan.settled.settled,
        "adopted_from_qbo": plan.settled.adopted,
        "total_differences": differences,
        "changed_since_export": plan.changed_since_export,
        "source_problems": [str(p) for p in plan.problems],
    }


def members_to_connect(
    invoices: Sequence[SourceInvoice],
    members: Sequence[Member],
    state: State,
    config: Config,
) -> list[Member]:
    """Members with an invoice that could be exported but no link yet (new sign-ups): export
    gives each one connect attempt first, under connect-members' rules."""
    enabled_at = state.enabled_at
    if enabled_at is None:
        return []
    links = state.members.links()
    unlinked = state.members.unlinked()
    exported = state.exports.states()
    held = state.exports.holds()  # a held invoice gives its member no reason to connect
    statuses = set(config.export.statuses)
    tz = export_tz(config.export)
    wanted = {
        inv.member_id
        for inv in invoices
        if inv.status in statuses
        and aware(inv.created_at, tz) >= enabled_at
        and exported.get(inv.id) != "exported"
        and inv.member_id not in links
        and inv.member_id not in unlinked
        and inv.id not in held
    }
    return [m for m in members if m.id in wanted and m.active]
