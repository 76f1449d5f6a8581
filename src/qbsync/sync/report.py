"""`qbsync report`: the reconciliation an accountant signs. Pure: built from what the state records
(and, with ``--verify``, what QBO holds now, read by report_verify.py).

Sections, in the order every rendering shows them (terminal, --json, CSV, HTML):
- per export day: invoices exported, platform total, QBO total, difference. Each exported invoice
  belongs to the export day its run served (``export_days.run_id``); one exported outside an
  ``--if-due`` day (``export --yes``, or a day left unserved while invoices were in flight) is
  grouped under the date it was exported, in the export time zone, and marked so;
- every problem, each with its fix;
- totals by state: every invoice qbsync knows, now, in the one vocabulary (vocabulary.py).

The platform total of an invoice is the source's own ``total`` when it gives one, else qbsync's
sum of the lines and tax (``ExportRecord.expected_total``): the figure QBO's TotalAmt is checked
against. Amounts are Decimal and summed exactly; nothing is rounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from qbsync.state.exports import ExportRecord
from qbsync.sync.vocabulary import INVOICE_STATES, Problem

CURRENCY_UNKNOWN = "home currency"  # no command has read QBO's preferences into the state yet
ZERO = Decimal("0")
CENTS = Decimal("0.00")  # money sums start here, so an empty one reads 0.00

# One row per invoice: the fields of `qbsync invoices --json`, in its order.
INVOICE_FIELDS = (
    "invoice_id",
    "number",
    "member_id",
    "state",
    "customer_id",
    "qbo_id",
    "doc_number",
    "txn_date",
    "platform_total",
    "qbo_total",
    "difference",
    "reason",
    "fix",
    "qbo_state",  # QBO's side as `qbsync pull` last recorded it: last, so the order above stays
    "qbo_balance",
)


@dataclass(frozen=True)
class InvoiceRow:
    """One invoice as `qbsync invoices --json` shows it (amounts exact; None: not known)."""

    invoice_id: str
    number: str
    member_id: str
    state: str
    customer_id: str | None = None
    qbo_id: str | None = None
    doc_number: str | None = None
    txn_date: str | None = None
    platform_total: Decimal | None = None
    qbo_total: Decimal | None = None
    difference: Decimal | None = None
    reason: str | None = None
    fix: str | None = None
    qbo_state: str | None = None
    qbo_balance: Decimal | None = None

    def cells(self) -> list[object]:
        return [getattr(self, name) for name in INVOICE_FIELDS]

    def to_dict(self) -> dict[str, str | None]:
        return {
            name: None if value is None else str(value)
            for name, value in zip(INVOICE_FIELDS, self.cells(), strict=True)
        }


@dataclass(frozen=True)
class DayTotals:
    """One export day's line. ``export_day``: an export day served by `export --if-due` (False:
    invoices exported outside one, grouped by the date they were exported)."""

    day: date
    export_day: bool
    invoices: int
    platform_total: Decimal
    qbo_total: Decimal
    difference: Decimal  # QBO total minus platform total, summed over the invoices QBO has
    qbo_unknown: int = 0  # exported invoices whose QBO total qbsync did not record
    paid_in_qbo: Decimal = CENTS  # applied to them by payments and credits, as pull recorded

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "export_day": self.export_day,
            "invoices": self.invoices,
            "platform_total": str(self.platform_total),
            "qbo_total": str(self.qbo_total),
            "difference": str(self.difference),
            "qbo_total_unknown": self.qbo_unknown,
            "paid_in_qbo": str(self.paid_in_qbo),
        }


@dataclass(frozen=True)
class StateTotal:
    state: str
    invoices: int
    amount: Decimal  # the platform totals of those invoices (as far as qbsync knows them)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "invoices": self.invoices, "amount": str(self.amount)}


@dataclass(frozen=True)
class Totals:
    """The per-day lines added up."""

    invoices: int
    platform_total: Decimal
    qbo_total: Decimal
    difference: Decimal
    qbo_unknown: int
    paid_in_qbo: Decimal = CENTS

    def to_dict(self) -> dict[str, Any]:
        return {
            "invoices": self.invoices,
            "platform_total": str(self.platform_total),
            "qbo_total": str(self.qbo_total),
            "difference": str(self.difference),
            "qbo_total_unknown": self.qbo_unknown,
            "paid_in_qbo": str(self.paid_in_qbo),
        }


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    company: str | None
    realm_id: str | None
    currency: str  # "USD"..., or CURRENCY_UNKNOWN
    date_from: date | None
    date_to: date | None
    days: tuple[DayTotals, ...]
    totals: Totals
    problems: tuple[Problem, ...]
    states: tuple[StateTotal, ...]
    invoices: tuple[InvoiceRow, ...]
    verified: dict[str, Any] | None = None  # report_verify.Verification.to_dict(), with --verify
    notes: tuple[str, ...] = field(default=())

    @property
    def balanced(self) -> bool:
        """The per-day lines reconcile: every exported invoice's QBO total equals its platform
        total, every QBO total is known, and --verify (when run) found nothing."""
        return (
            self.totals.difference == ZERO
            and self.totals.qbo_unknown == 0
            and not (self.verified or {}).get("discrepancies")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "company": self.company,
            "realm_id": self.realm_id,
            "currency": self.currency,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "balanced": self.balanced,
            "days": [d.to_dict() for d in self.days],
            "totals": self.totals.to_dict(),
            "problems": [p.to_dict() for p in self.problems],
            "states": [s.to_dict() for s in self.states],
            "verify": self.verified,
            "notes": list(self.notes),
        }

    def summary_lines(self) -> list[str]:
        """The few lines `make demo` and a terminal end with."""
        t = self.totals
        cur = self.currency
        period = period_text(self.date_from, self.date_to)
        lines = [
            f"Reconciliation for {self.company or 'the QBO company'} ({period}), amounts in {cur}:",
            f"  {t.invoices} invoice(s) exported on {len(self.days)} day(s): platform "
            f"{t.platform_total}, QBO {t.qbo_total}, difference {t.difference}",
            f"  paid in QBO (as the last `qbsync pull` recorded): {t.paid_in_qbo}",
        ]
        if t.qbo_unknown:
            lines.append(f"  {t.qbo_unknown} exported invoice(s) without a recorded QBO total")
        if self.verified is not None:
            found = len(self.verified.get("discrepancies", []))
            lines.append(
                f"  verified against QBO: {self.verified['checked']} invoice(s) read back in "
                f"{self.verified['requests']} request(s), {found} changed or missing"
            )
            unseen = len(self.verified.get("unpulled", []))
            if unseen:
                lines.append(
                    f"  {unseen} invoice(s) changed in QBO since the last pull (payments, "
                    "voids...): pull has not seen that change yet: run qbsync pull"
                )
        lines.append(
            f"  {len(self.problems)} problem(s) need you" if self.problems else "  no problem"
        )
        return lines


def period_text(date_from: date | None, date_to: date | None) -> str:
    if date_from is None and date_to is None:
        return "all export days"
    start = date_from.isoformat() if date_from else "the first export"
    end = date_to.isoformat() if date_to else "today"
    return f"{start} to {end}"


def day_of(
    record: ExportRecord, served: Mapping[int, date], tz: tzinfo
) -> tuple[date, bool] | None:
    """The day an exported invoice is reported under, and whether it is a served export day."""
    if record.run_id is not None and record.run_id in served:
        return served[record.run_id], True
    moment = record.exported_at or record.attempted_at
    if moment is None:  # pragma: no cover - every stored row has attempted_at
        return None
    return moment.astimezone(tz).date(), False


def per_day(
    records: Iterable[ExportRecord],
    served: Mapping[int, date],
    tz: tzinfo,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    qbo_now: Mapping[str, Decimal] | None = None,
    paid: Mapping[str, Decimal] | None = None,
) -> list[DayTotals]:
    """Exported invoices added up per export day, oldest first, within [date_from, date_to].

    ``qbo_now``: QBO's totals as read back by --verify (invoice id -> TotalAmt, 0 for one QBO no
    longer has), used instead of the totals recorded at export. ``paid``: invoice id -> what
    payments and credits applied to it in QBO, as `qbsync pull` recorded (report_run)."""
    # Keyed by day and kind: invoices exported outside an export day stay a line of their own,
    # also on a date that is an export day too.
    groups: dict[tuple[date, bool], dict[str, Any]] = {}
    for record in records:
        if record.state != "exported":
            continue
        placed = day_of(record, served, tz)
        if placed is None:
            continue
        day, is_export_day = placed
        if (date_from and day < date_from) or (date_to and day > date_to):
            continue
        g = groups.setdefault(
            (day, is_export_day),
            {"n": 0, "platform": ZERO, "qbo": ZERO, "diff": ZERO, "unk": 0, "paid": CENTS},
        )
        g["n"] += 1
        g["paid"] += (paid or {}).get(record.invoice_id, ZERO)
        expected = record.expected_total
        g["platform"] += expected
        qbo = qbo_now.get(record.invoice_id, record.qbo_total) if qbo_now else record.qbo_total
        if qbo is None:
            g["unk"] += 1
            continue
        g["qbo"] += qbo
        g["diff"] += qbo - expected
    return [
        DayTotals(day, served_day, g["n"], g["platform"], g["qbo"], g["diff"], g["unk"], g["paid"])
        for (day, served_day), g in sorted(groups.items(), key=lambda kv: (kv[0][0], not kv[0][1]))
    ]


def add_up(days: Sequence[DayTotals]) -> Totals:
    return Totals(
        invoices=sum(d.invoices for d in days),
        platform_total=sum((d.platform_total for d in days), ZERO),
        qbo_total=sum((d.qbo_total for d in days), ZERO),
        difference=sum((d.difference for d in days), ZERO),
        qbo_unknown=sum(d.qbo_unknown for d in days),
        paid_in_qbo=sum((d.paid_in_qbo for d in days), CENTS),
    )


def state_totals(rows: Iterable[InvoiceRow]) -> list[StateTotal]:
    """Count and platform amount per state, in the vocabulary's order (empty states left out)."""
    counts: dict[str, int] = {}
    amounts: dict[str, Decimal] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
        amounts[row.state] = amounts.get(row.state, ZERO) + (row.platform_total or ZERO)
    order = [s for s in INVOICE_STATES if s in counts] + sorted(set(counts) - set(INVOICE_STATES))
    return [StateTotal(s, counts[s], amounts[s]) for s in order]


@dataclass(frozen=True)
class Bar:
    """One bar of the HTML report's chart, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    label: str  # the day
    value: str  # the exported platform total
    export_day: bool


CHART_WIDTH = 720
CHART_HEIGHT = 220
CHART_TOP = 18  # y of the tallest bar's top (its value is written above the line there)
CHART_PAD = 40  # left and right: the first and last day labels are centred on their bars
_AXIS = 24  # room for the day labels under the bars


def chart_bars(days: Sequence[DayTotals], *, width: int = CHART_WIDTH) -> list[Bar]:
    """Bars of exported platform totals per day, scaled to the largest (pure: the template only
    draws them). Heights are floats for drawing; the values shown are the exact Decimals."""
    if not days:
        return []
    top = max((d.platform_total for d in days), default=ZERO)
    slot = (width - 2 * CHART_PAD) / len(days)
    bar = max(min(slot * 0.7, 60.0), 2.0)
    usable = CHART_HEIGHT - _AXIS - CHART_TOP
    bars = []
    for i, d in enumerate(days):
        # Display geometry only: the amount itself is never computed in float.
        height = float(d.platform_total / top) * usable if top > 0 else 0.0
        height = max(height, 1.0) if d.platform_total > 0 else 0.0
        bars.append(
            Bar(
                x=round(CHART_PAD + i * slot + (slot - bar) / 2, 2),
                y=round(CHART_HEIGHT - _AXIS - height, 2),
                width=round(bar, 2),
                height=round(height, 2),
                label=d.day.isoformat(),
                value=str(d.platform_total),
                export_day=d.export_day,
            )
        )
    return bars
