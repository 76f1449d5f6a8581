"""`qbsync report`: the reconciliation an accountant can sign (per export day, every problem,
totals by state), on the terminal, as --json, and as CSV and HTML files. The engine is
sync/report_run.py; this module parses options, writes the files and renders."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, json_option, quiet_option

if TYPE_CHECKING:
    from qbsync.sync.report import Report

SHOWN_PROBLEMS = 20  # on the terminal; the files and --json hold every one

_DATE = click.DateTime(formats=["%Y-%m-%d"])


@command("report")
@click.option(
    "--from", "date_from", type=_DATE, metavar="DATE", help="First export day (YYYY-MM-DD)."
)
@click.option("--to", "date_to", type=_DATE, metavar="DATE", help="Last export day (YYYY-MM-DD).")
@click.option(
    "--verify",
    is_flag=True,
    help="Read the exported invoices back from QBO (one query per 1,000) and flag any QBO no "
    "longer has, or whose total, customer or DocNumber changed there.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write one row per invoice (the `invoices --json` fields) for a spreadsheet.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the report as one self-contained, printable HTML file.",
)
@json_option
@quiet_option
def report_command(
    date_from: datetime | None,
    date_to: datetime | None,
    verify: bool,
    csv_path: Path | None,
    html_path: Path | None,
    as_json: bool,
) -> None:
    """Reconcile what was exported with what QBO holds, for your accountant.

    Per export day: invoices exported, platform total, QBO total and the difference; then every
    problem with its fix; then every invoice qbsync knows, totalled by state. Offline unless
    --verify. Exits 5 when --verify finds an invoice changed or missing in QBO (listed).
    """
    from qbsync.errors import RecordsFailedError, UsageError
    from qbsync.sync.export_run import export_tz
    from qbsync.sync.report_run import make_report, read_ledger

    obj = CliContext.get()
    start: date | None = date_from.date() if date_from else None
    end: date | None = date_to.date() if date_to else None
    if start and end and start > end:
        raise UsageError(f"--from {start} is after --to {end}", hint="swap the two dates")
    with open_session(obj, qbo=verify, run_lock=False, need_history=False) as session:
        assert session.state is not None
        tz = export_tz(session.config.export)
        built = make_report(
            session.state,
            read_ledger(session.config, session.state),
            tz=tz,
            now=datetime.now(UTC),
            date_from=start,
            date_to=end,
            client=session.client if verify else None,
        )
    written = _write_files(built, csv_path, html_path)
    _render(obj, built, written, as_json=as_json)
    changed = len((built.verified or {}).get("discrepancies", []))
    if changed:
        raise RecordsFailedError(
            f"{changed} exported invoice(s) changed or missing in QBO (listed above)",
            hint="look each one up in QBO's audit log; the report lists what changed",
        )


def _write_files(report: Report, csv_path: Path | None, html_path: Path | None) -> list[Path]:
    from qbsync.csvout import write_csv
    from qbsync.files import atomic_write
    from qbsync.sync.report import INVOICE_FIELDS

    written = []
    if csv_path is not None:
        write_csv(csv_path, INVOICE_FIELDS, (row.cells() for row in report.invoices))
        written.append(csv_path)
    if html_path is not None:
        from qbsync.sync.report_html import render_html

        # 0600 like the CSV: the report names members and amounts.
        atomic_write(html_path, render_html(report).encode("utf-8"), mode=0o600)
        written.append(html_path)
    return written


def _render(obj: CliContext, report: Report, written: list[Path], *, as_json: bool) -> None:
    from qbsync.cli import render

    if as_json:
        doc = {"ok": True, **report.to_dict(), "files": [str(p) for p in written]}
        render.emit_json(doc)
        obj.json_printed = True
        return
    if obj.quiet:
        return
    for line in report.summary_lines():
        render.result(line)
    if report.days:
        cur = report.currency
        rows = [
            (
                d.day.isoformat() + ("" if d.export_day else " *"),
                str(d.invoices),
                str(d.platform_total),
                str(d.qbo_total) + (f" ({d.qbo_unknown} unknown)" if d.qbo_unknown else ""),
                str(d.difference),
                str(d.paid_in_qbo),
            )
            for d in report.days
        ]
        t = report.totals
        rows.append(
            (
                "total",
                str(t.invoices),
                str(t.platform_total),
                str(t.qbo_total),
                str(t.difference),
                str(t.paid_in_qbo),
            )
        )
        render.table(
            f"\nPer export day ({cur})",
            ("day", "invoices", "platform", "QBO", "difference", "paid in QBO"),
            rows,
        )
        if not all(d.export_day for d in report.days):
            render.result("* exported outside an export day: grouped by the date it was exported")
    if report.problems:
        render.result(f"\nProblems ({len(report.problems)}):")
        for p in report.problems[:SHOWN_PROBLEMS]:
            render.result(f"  {p.what}")
            if p.fix:
                render.result(f"    fix: {obj.localize(p.fix)}")
        more = len(report.problems) - SHOWN_PROBLEMS
        if more > 0:
            render.result(f"  and {more} more (--json, --csv or --html list all)")
    unpulled = (report.verified or {}).get("unpulled") or []
    if unpulled:
        render.result(f"\nChanged in QBO since the last pull ({len(unpulled)}):")
        for u in unpulled[:SHOWN_PROBLEMS]:
            render.result(f"  {u['what']}")
        if len(unpulled) > SHOWN_PROBLEMS:
            render.result(f"  and {len(unpulled) - SHOWN_PROBLEMS} more (--json lists all)")
    if report.states:
        render.table(
            "\nTotals by state (every invoice qbsync knows)",
            ("state", "invoices", "platform amount"),
            [(s.state, str(s.invoices), str(s.amount)) for s in report.states],
        )
    for path in written:
        render.result(f"Wrote {path.resolve()}")


def register(group: click.Group) -> None:
    group.add_command(report_command)
