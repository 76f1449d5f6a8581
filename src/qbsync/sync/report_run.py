"""What `qbsync report` runs: read the state (and, with --verify, QBO), build the Report.

No run lock and no run record: a report changes nothing but the home currency it may learn from
QBO's preferences (kept in the state's meta for later reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from qbsync.sync.ledger import Ledger, LedgerEntry
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


def read_ledger(config: Config, state: State) -> Ledger:
    """The ledger `qbsync invoices` shows (figures.read_source + load_ledger: the same states
    and problems). A source that cannot be read is the ledger's problem, not an error: the
    report still shows what the state knows, and says so. Rows the source skipped (a bad row)
    are problems too: they never reach QBO until fixed at the platform."""
    from qbsync.sync.figures import load_ledger, read_source

    read = read_source(config, remote=True)
    ledger = load_ledger(
        state,
        config,
        source_invoices=read.invoices,
        known_members=read.member_ids,
        source_problem=read.problem,
    )
    ledger.problems.extend(
        Problem(
            f"{row}: not read, so never exported",
            "fix the row at the platform; the next export reads it again",
            "source",
        )
        for row in read.row_problems
    )
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
            qbo_state=e.qbo_state,
            qbo_balance=e.qbo_balance,
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
        pulled = {e.invoice_id: (e.qbo_state, e.qbo_balance) for e in ledger.entries if e.qbo_id}
        verification = verify_exported(client, records, pulled=pulled)
        if verification.home_currency and verification.home_currency != state.home_currency:
            state.set_home_currency(verification.home_currency)
    days = per_day(
        records,
        state.exports.served_days(),
        tz,
        date_from=date_from,
        date_to=date_to,
        qbo_now=verification.qbo_totals if verification else None,
        paid={e.invoice_id: e.qbo_paid for e in ledger.entries if e.qbo_paid is not None},
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
