"""What `qbsync report` runs: read the state (and, with --verify, QBO), build the Report.

No run lock and no run record: a report changes nothing but the home currency it may learn from
QBO's preferences (kept in the state's meta for later reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from qbsync.sync.report import (
    CURRENCY_UNKNOWN,
    InvoiceRow,
    Report,
    add_up,
    export_rows,
    per_day,
    problems_of,
    state_totals,
)
from qbsync.sync.report_verify import InvoiceReader, Verification, verify_exported
from qbsync.sync.vocabulary import Problem

if TYPE_CHECKING:
    from qbsync.state.db import State


def make_report(
    state: State,
    *,
    tz: tzinfo,
    now: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    client: InvoiceReader | None = None,
    rows: Sequence[InvoiceRow] | None = None,
    problems: Sequence[Problem] | None = None,
) -> Report:
    """The report over the state's export log. ``client``: read the exported invoices back from
    QBO (--verify). ``rows`` / ``problems``: every invoice and problem qbsync knows (the ledger);
    without them, those the export log knows."""
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
    invoice_rows = list(rows) if rows is not None else export_rows(records)
    found = list(problems) if problems is not None else problems_of(invoice_rows)
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
        states=tuple(state_totals(invoice_rows)),
        invoices=tuple(invoice_rows),
        verified=verification.to_dict() if verification else None,
    )
