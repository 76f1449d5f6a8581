"""What `qbsync report` runs: read the state (and, with --verify, QBO), build the Report.

No run lock and no run record: a report changes nothing but the home currency it may learn from
QBO's preferences (kept in the state's meta for later reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from qbsync.errors import QbsyncError
from qbsync.sync.ledger import Ledger, LedgerEntry, build_ledger
from qbsync.sync.report import (
    CURRENCY_UNKNOWN,
    InvoiceRow,
    Report,
    add_up,
    per_day,
    state_totals,
)
from qbsync.sync.report_verify import InvoiceReader, Verification, verify_exported
from qbsync.sync.vocabulary import Problem

if TYPE_CHECKING:
    from qbsync.config import Config
    from qbsync.state.db import State


def read_ledger(config: Config, state: State, tz: tzinfo) -> Ledger:
    """The ledger over the source as export reads it (the statuses it exports, created since
    enabling) and the state. A source that cannot be read is the ledger's problem, not an
    error: the report still shows what the state knows, and says so. Rows the source skipped
    (a bad row) are problems too: they never reach QBO until fixed at the platform."""
    from qbsync.sources.base import open_source

    links = {m: link.customer_id for m, link in state.members.links().items()}
    member_states = {m: row.status for m, row in state.members.roster().items()}
    for m in state.members.unlinked():
        member_states[m] = "unlinked"
    invoices = known = None
    source_problem: str | None = None
    skipped_rows: list[Problem] = []
    try:
        source = open_source(config.source, tz=tz)
        members = source.members()
        read = source.invoices(statuses=config.export.statuses, created_since=state.enabled_at)
    except QbsyncError as exc:
        source_problem = exc.message
    else:
        invoices, known = read.records, {m.id for m in members.records}
        skipped_rows = [
            Problem(
                f"{p}: not read, so never exported",
                "fix the row at the platform; the next export reads it again",
                "source",
                p.record_id,
            )
            for p in [*members.problems, *read.problems]
        ]
    ledger = build_ledger(
        invoices,
        exports=state.exports.all(),
        links=links,
        member_states=member_states,
        holds=state.exports.holds(),
        refusals=state.exports.refusals(),
        enabled_at=state.enabled_at,
        statuses=config.export.statuses,
        tz=tz,
        known_members=known,
        source_problem=source_problem,
    )
    ledger.problems.extend(skipped_rows)
    return ledger


def ledger_rows(entries: Sequence[LedgerEntry]) -> list[InvoiceRow]:
    return [
        InvoiceRow(
            invoice_id=e.invoice_id,
            number=e.number,
            member_id=e.member_id,
            state=e.state,
            customer_id=e.customer_id,
            qbo_id=e.qbo_id,
            doc_number=e.doc_number,
            txn_date=e.txn_date,
            platform_total=e.platform_total,
            qbo_total=e.qbo_total,
            difference=e.difference,
            reason=e.reason or None,
            fix=e.fix or None,
        )
        for e in entries
    ]


def make_report(
    state: State,
    ledger: Ledger,
    *,
    tz: tzinfo,
    now: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    client: InvoiceReader | None = None,
) -> Report:
    """The report over the state's export log and the ledger (every invoice and problem qbsync
    knows). ``client``: read the exported invoices back from QBO (--verify)."""
    records = state.exports.all()
    verification: Verification | None = None
    if client is not None:
        verification = verify_exported(client, records)
        if verification.home_currency and verification.home_currency != state.home_currency:
            state.set_home_currency(verification.home_currency)
    days = per_day(
        records,
        state.exports.served_days(),
        tz,
        date_from=date_from,
        date_to=date_to,
        qbo_now=verification.qbo_totals if verification else None,
    )
    rows = ledger_rows(ledger.entries)
    found = list(ledger.problems)
    if verification is not None:
        # What changed in QBO first: nothing else tells the operator about it.
        found = [d.problem() for d in verification.discrepancies] + found
    return Report(
        generated_at=now,
        company=state.company_name,
        realm_id=state.realm_id,
        currency=state.home_currency or CURRENCY_UNKNOWN,
        date_from=date_from,
        date_to=date_to,
        days=tuple(days),
        totals=add_up(days),
        problems=tuple(found),
        states=tuple(state_totals(rows)),
        invoices=tuple(rows),
        verified=verification.to_dict() if verification else None,
        notes=()
        if ledger.source_read
        else ("The source could not be read: states are what the state database records.",),
    )
