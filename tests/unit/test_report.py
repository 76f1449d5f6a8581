"""`qbsync report`'s pure parts: per-day aggregation, --verify's comparison and chunks, the HTML
(escaped, self-contained) and the CSV (spreadsheet-safe)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from qbsync.csvout import to_csv
from qbsync.state.exports import ExportRecord
from qbsync.sync.report import (
    INVOICE_FIELDS,
    InvoiceRow,
    Report,
    add_up,
    chart_bars,
    per_day,
    state_totals,
)
from qbsync.sync.report_html import render_html
from qbsync.sync.report_verify import compare, id_chunks, in_statement, verify_exported
from qbsync.sync.vocabulary import Problem

AT = datetime(2026, 3, 15, 14, 0, tzinfo=UTC)
UTC_TZ = ZoneInfo("UTC")


def _rec(
    i: str, total: str, *, run: int | None = 1, qbo: str | None = None, **more: Any
) -> ExportRecord:
    base = ExportRecord(
        invoice_id=i,
        member_id="m1",
        customer_id="57",
        state="exported",
        number=f"N{i}",
        doc_number=f"N{i}",
        txn_date="2026-03-15",
        marker=f"qbsync:{i}",
        request_id=None,
        bid=None,
        source_total=Decimal(total),
        fingerprint="f",
        qbo_id=f"1{i}",
        qbo_total=Decimal(qbo if qbo is not None else total),
        exported_at=AT,
        attempted_at=AT,
        run_id=run,
    )
    return replace(base, **more)


# -- per day ---------------------------------------------------------------------------------


def test_invoices_group_under_the_export_day_their_run_served() -> None:
    served = {1: date(2026, 3, 15), 2: date(2026, 4, 1)}
    records = [
        _rec("1", "10.10", run=1),
        _rec("2", "0.20", run=1),
        # exported on 04-02 by the run that served 04-01 (`--as-of`, or past midnight)
        _rec("3", "5.00", run=2, exported_at=AT + timedelta(days=18)),
    ]
    days = per_day(records, served, UTC_TZ)
    assert [(d.day, d.export_day, d.invoices, d.platform_total) for d in days] == [
        (date(2026, 3, 15), True, 2, Decimal("10.30")),
        (date(2026, 4, 1), True, 1, Decimal("5.00")),
    ]


def test_exported_outside_an_export_day_groups_by_its_date_in_the_export_zone() -> None:
    late = datetime(2026, 3, 16, 3, 30, tzinfo=UTC)  # 03-15 23:30 in New York
    records = [_rec("1", "1.00", run=7, exported_at=late), _rec("2", "2.00", run=1)]
    days = per_day(records, {1: date(2026, 3, 15)}, ZoneInfo("America/New_York"))
    # Same date, but its own line: it was not part of the export day.
    assert [(d.day, d.export_day, d.invoices) for d in days] == [
        (date(2026, 3, 15), True, 1),
        (date(2026, 3, 15), False, 1),
    ]
    assert per_day(records, {1: date(2026, 3, 15)}, UTC_TZ)[-1].day == date(2026, 3, 16)


def test_only_exported_rows_count_and_sums_are_exact() -> None:
    records = [_rec(str(n), "0.10") for n in range(10)] + [
        _rec("f", "99.00", state="failed", qbo_id=None, qbo_total=None),
        _rec("x", "99.00", state="exporting", qbo_id=None, qbo_total=None),
    ]
    (day,) = per_day(records, {1: date(2026, 3, 15)}, UTC_TZ)
    assert day.invoices == 10
    assert day.platform_total == Decimal("1.00")  # ten float 0.1s would not make 1.0
    assert day.qbo_total == Decimal("1.00") and day.difference == 0


def test_platform_total_is_the_sources_total_when_given_and_differences_add_up() -> None:
    records = [
        # QBO computed tax: 4.20 more than the platform's own total
        _rec("1", "100.00", qbo="104.20", platform_total=Decimal("100.00")),
        # the platform's total is lower than qbsync's line sums: the platform's counts
        _rec("2", "50.00", qbo="50.00", platform_total=Decimal("49.99")),
        _rec("3", "7.00", qbo_total=None),  # an old row: QBO's total unknown
    ]
    (day,) = per_day(records, {1: date(2026, 3, 15)}, UTC_TZ)
    assert day.platform_total == Decimal("156.99")
    assert day.qbo_total == Decimal("154.20")
    assert day.difference == Decimal("4.21")
    assert day.qbo_unknown == 1
    totals = add_up([day, day])
    assert totals.difference == Decimal("8.42") and totals.qbo_unknown == 2


def test_from_and_to_are_inclusive() -> None:
    served = {1: date(2026, 3, 1), 2: date(2026, 3, 15), 3: date(2026, 4, 1)}
    records = [_rec("1", "1", run=1), _rec("2", "2", run=2), _rec("3", "3", run=3)]
    days = per_day(records, served, UTC_TZ, date_from=date(2026, 3, 15), date_to=date(2026, 4, 1))
    assert [d.day for d in days] == [date(2026, 3, 15), date(2026, 4, 1)]


def test_verified_totals_replace_the_recorded_ones() -> None:
    records = [_rec("1", "10.00"), _rec("2", "5.00")]
    (day,) = per_day(
        records, {1: date(2026, 3, 15)}, UTC_TZ, qbo_now={"1": Decimal("0"), "2": Decimal("5.00")}
    )
    assert day.qbo_total == Decimal("5.00") and day.difference == Decimal("-10.00")


def test_state_totals_follow_the_vocabulary_order() -> None:
    rows = [
        InvoiceRow("a", "1", "m", "refused", platform_total=Decimal("1.50")),
        InvoiceRow("b", "2", "m", "exported", platform_total=Decimal("2.25")),
        InvoiceRow("c", "3", "m", "exported", platform_total=Decimal("0.75")),
        InvoiceRow("d", "4", "m", "waiting"),
    ]
    assert [(s.state, s.invoices, s.amount) for s in state_totals(rows)] == [
        ("waiting", 1, Decimal("0")),
        ("exported", 2, Decimal("3.00")),
        ("refused", 1, Decimal("1.50")),
    ]


# -- --verify ---------------------------------------------------------------------------------


def _held(record: ExportRecord, **more: Any) -> dict[str, Any]:
    return {
        "Id": record.qbo_id,
        "TotalAmt": record.qbo_total,
        "CustomerRef": {"value": record.customer_id},
        "DocNumber": record.doc_number,
        **more,
    }


def test_compare_flags_missing_total_customer_and_docnumber_changes() -> None:
    same, gone, voided, moved = (_rec(i, "25.00") for i in "1234")
    found = {
        str(same.qbo_id): _held(same),
        str(voided.qbo_id): _held(voided, TotalAmt=Decimal("0")),
        str(moved.qbo_id): _held(moved, CustomerRef={"value": "58"}, DocNumber="X-1"),
    }
    got = [
        (d.invoice_id, d.kind, d.expected, d.found)
        for d in compare([same, gone, voided, moved], found)
    ]
    assert got == [
        ("2", "missing", None, None),
        ("3", "total", "25.00", "0"),
        ("4", "customer", "57", "58"),
        ("4", "doc_number", "N4", "X-1"),
    ]


def test_compare_leaves_alone_a_docnumber_qbo_chose() -> None:
    record = _rec("1", "25.00", doc_number=None)
    assert compare([record], {str(record.qbo_id): _held(record, DocNumber="1038")}) == []


def test_ids_go_1000_to_a_query_quoted() -> None:
    ids = [str(n) for n in range(2345)]
    chunks = id_chunks(ids)
    assert [len(c) for c in chunks] == [1000, 1000, 345]
    assert in_statement(["1", "2"]) == "select * from Invoice where Id in ('1', '2')"


class _Client:
    """Answers each query with the invoices it holds, one page of 1,000 at most."""

    def __init__(self, held: dict[str, dict[str, Any]]) -> None:
        self.held = held
        self.statements: list[str] = []
        self.request_count = 0

    def query_pages(self, sql: str, *, page_size: int = 1000) -> Any:
        ids = re.findall(r"'(\d+)'", sql)
        rows = [self.held[i] for i in ids if i in self.held]
        for start in range(0, len(rows) + 1, page_size):
            self.request_count += 1
            self.statements.append(sql)
            yield rows[start : start + page_size]

    def preferences(self) -> dict[str, Any]:
        self.request_count += 1
        return {"CurrencyPrefs": {"HomeCurrency": {"value": "CAD"}}}


def test_verify_reads_each_full_chunk_in_one_request() -> None:
    records = [_rec(str(n), "1.00", qbo_id=str(n)) for n in range(1, 2001)]
    client = _Client({str(r.qbo_id): _held(r) for r in records})
    result = verify_exported(client, records)
    # 2 queries of 1,000 (no empty extra page asked for) + the preferences read
    assert result.checked == 2000 and result.requests == 3 and len(client.statements) == 2
    assert result.discrepancies == () and result.home_currency == "CAD"


def test_verify_counts_a_deleted_invoice_as_zero_in_qbo() -> None:
    records = [_rec("1", "4.00"), _rec("2", "6.00")]
    client = _Client({str(records[1].qbo_id): _held(records[1])})
    result = verify_exported(client, records)
    assert result.qbo_totals == {"1": Decimal("0"), "2": Decimal("6.00")}
    assert [d.kind for d in result.discrepancies] == ["missing"]
    assert result.discrepancies[0].problem().kind == "qbo"


# -- HTML and CSV ----------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _report(**more: Any) -> Report:
    served = {1: date(2026, 3, 1), 2: date(2026, 3, 15)}
    records = [_rec("1", "10.00", run=1), _rec("2", "20.00", run=2, qbo="20.50")]
    days = per_day(records, served, UTC_TZ)
    rows = (
        InvoiceRow("1", "N1", "m1", "exported", platform_total=Decimal("10.00")),
        InvoiceRow("9", f'=HYPERLINK("x") {HOSTILE}', "m2", "blocked", reason=f"member {HOSTILE}"),
    )
    base = Report(
        generated_at=AT,
        company=f"Acme {HOSTILE}",
        realm_id="9130",
        currency="USD",
        date_from=None,
        date_to=None,
        days=tuple(days),
        totals=add_up(days),
        problems=(Problem(f"member {HOSTILE} needs review", "qbsync links", "member", "m2"),),
        states=tuple(state_totals(rows)),
        invoices=rows,
    )
    return replace(base, **more)


def test_html_escapes_hostile_platform_text() -> None:
    html = render_html(_report())
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;" in html and "onerror=alert(1)&gt;" in html


def test_html_is_self_contained_with_an_inline_chart_and_print_css() -> None:
    html = render_html(_report())
    assert not re.search(r"(?i)(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "@import" not in html and "url(" not in html
    assert "<svg" in html and html.count("<rect") == 2 and "@media print" in html
    # Problems come before the per-day table, which shows the difference of 0.50.
    assert html.index('id="problems"') < html.index('id="days"') < html.index('id="states"')
    assert "0.50" in html and "30.50" in html and "Not balanced" in html


def test_html_without_exports_or_problems() -> None:
    empty = _report(days=(), totals=add_up([]), problems=(), states=(), invoices=())
    html = render_html(empty)
    assert "No invoice was exported" in html and "No problem" in html and "<svg" not in html


def test_chart_bars_scale_to_the_largest_day() -> None:
    days = per_day(
        [_rec("1", "10.00", run=1), _rec("2", "40.00", run=2)],
        {1: date(2026, 3, 1), 2: date(2026, 3, 2)},
        UTC_TZ,
    )
    small, big = chart_bars(days)
    assert big.height == 4 * small.height and small.value == "10.00" and big.value == "40.00"
    assert big.y + big.height == small.y + small.height  # one baseline


def test_csv_rows_are_the_invoices_fields_and_spreadsheet_safe() -> None:
    report = _report()
    text = to_csv(INVOICE_FIELDS, (row.cells() for row in report.invoices))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(INVOICE_FIELDS)
    assert rows[1][:4] == ["1", "N1", "m1", "exported"] and rows[1][8] == "10.00"
    assert rows[2][1].startswith("'=HYPERLINK")  # a formula reads as text
