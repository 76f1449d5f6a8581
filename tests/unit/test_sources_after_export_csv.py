"""The csv source after export: void/paid statuses, platform payments, credit notes, and
invoices_since / read_changed reading exported invoices again whatever their status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from qbsync.config.source import SourceConfig
from qbsync.sources import (
    ChangedInvoices,
    Member,
    PlatformPayment,
    Read,
    SourceInvoice,
    open_source,
    read_changed,
)
from qbsync.sources.csv_source import CsvSource

TZ = timezone(timedelta(hours=-5), "EST")
HEADER = (
    "invoice_id,member_id,number,created_at,status,quantity,unit_price,type,applies_to,"
    "payment_id,paid_at,paid_amount,payment_method,payment_ref\n"
)


def _source(tmp_path: Path, invoices: str) -> CsvSource:
    (tmp_path / "members.csv").write_text("id,email\n")
    (tmp_path / "invoices.csv").write_text(invoices)
    config = SourceConfig(
        type="csv",
        members=tmp_path / "members.csv",
        invoices=tmp_path / "invoices.csv",
        base_dir=tmp_path,
    )
    source = open_source(config, tz=TZ)
    assert isinstance(source, CsvSource)
    return source


def _problems(read: Read[SourceInvoice]) -> list[str]:
    return [str(p) for p in read.problems]


def test_void_and_voided_read_as_void_and_paid_stays_paid(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        HEADER + "i-1,m-1,1,2024-06-01,VOIDED,1,10,,,,,,,\n"
        "i-2,m-1,2,2024-06-01,void,1,10,,,,,,,\n"
        "i-3,m-1,3,2024-06-01,Paid,1,10,,,,,,,\n",
    )
    read = source.invoices(statuses=["void", "paid"], created_since=None)
    assert _problems(read) == []
    assert [(i.id, i.status) for i in read.records] == [
        ("i-1", "void"),
        ("i-2", "void"),
        ("i-3", "paid"),
    ]
    # Asked as "voided", the alias is wanted too.
    assert len(source.invoices(statuses=["Voided"], created_since=None).records) == 2


def test_a_platform_payment_is_read_exactly(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        HEADER + "i-1,m-1,1,2024-06-01,paid,1,10,,,p-9, 2024-06-02T10:30:00 ,10,Card,ch_123\n"
        "i-1,m-1,1,2024-06-01,paid,2,5,,,,,,,\n"
        "i-2,m-1,2,2024-06-01,paid,1,10,,,p-10,2024-06-03,7.5,,\n",
    )
    read = source.invoices(statuses=["paid"], created_since=None)
    assert _problems(read) == []
    first, second = read.records
    assert len(first.lines) == 2
    assert first.payments == (
        PlatformPayment(
            "p-9", datetime(2024, 6, 2, 10, 30, tzinfo=TZ), Decimal("10.00"), "Card", "ch_123"
        ),
    )
    assert str(first.payments[0].amount) == "10.00"
    assert second.payments == (
        PlatformPayment("p-10", datetime(2024, 6, 3, tzinfo=TZ), Decimal("7.50")),
    )
    assert first.kind == "invoice" and first.applies_to is None


def test_a_payment_is_all_or_nothing_naming_the_missing_field(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        HEADER + "i-1,m-1,1,2024-06-01,paid,1,10,,,p-1,2024-06-02,,,\n"
        "i-2,m-1,2,2024-06-01,paid,1,10,,,,,10,card,\n"
        "i-3,m-1,3,2024-06-01,paid,1,10,,,p-3,2024-06-02,0,,\n"
        "i-4,m-1,4,2024-06-01,paid,1,10,,,p-4,2024-06-02,1.005,,\n"
        "i-5,m-1,5,2024-06-01,paid,1,10,,,p-5,yesterday,-3,,\n"
        "i-6,m-1,6,2024-06-01,paid,1,10,,,,,,,\n",
    )
    read = source.invoices(statuses=["paid"], created_since=None)
    assert [i.id for i in read.records] == ["i-6"]
    needs = "(a payment needs payment_id, paid_at and paid_amount; this one has"
    assert _problems(read) == [
        f"invoices.csv line 2: invoice i-1: paid_amount: no paid_amount {needs} payment_id, paid_at)",
        f"invoices.csv line 3: invoice i-2: payment_id: no payment_id {needs} paid_amount, payment_method)",
        f"invoices.csv line 3: invoice i-2: paid_at: no paid_at {needs} paid_amount, payment_method)",
        "invoices.csv line 4: invoice i-3: paid_amount: a payment amount must be more than 0, got 0",
        "invoices.csv line 5: invoice i-4: paid_amount: more than 2 decimals: '1.005'",
        "invoices.csv line 6: invoice i-5: paid_at: invalid date 'yesterday' (expected ISO 8601 "
        "such as 2024-05-31 or 2024-05-31T14:00:00Z)",
        "invoices.csv line 6: invoice i-5: paid_amount: a payment amount must be more than 0, got -3",
    ]


def test_one_payment_id_on_two_invoices_reports_the_second(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        HEADER + "i-1,m-1,1,2024-06-01,paid,1,10,,,p-1,2024-06-02,10,,\n"
        "i-2,m-1,2,2024-06-01,paid,1,10,,,p-1,2024-06-02,10,,\n",
    )
    read = source.invoices(statuses=["paid"], created_since=None)
    assert [i.id for i in read.records] == ["i-1"]
    assert _problems(read) == [
        "invoices.csv line 3: invoice i-2: payment_id: payment id 'p-1' is also on invoice i-1 "
        "(a platform payment id names one payment)"
    ]


def test_rows_of_one_invoice_must_agree_on_the_payment(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        HEADER + "i-1,m-1,1,2024-06-01,paid,1,10,,,p-1,2024-06-02,10,,\n"
        "i-1,m-1,1,2024-06-01,paid,1,10,,,p-2,2024-06-02,10,,\n",
    )
    read = source.invoices(statuses=["paid"], created_since=None)
    assert read.records == []
    assert _problems(read) == [
        "invoices.csv line 3: invoice i-1: payment_id: 'p-2' here but 'p-1' on line 2 (rows of "
        "one invoice must agree)"
    ]


def test_credit_notes_and_bad_types(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        HEADER + "c-1,m-1,C1,2024-06-01,pending,1,10,Credit_Note,i-1,,,,,\n"
        "c-2,m-1,C2,2024-06-01,pending,1,10,credit_note,,,,,,\n"
        "c-3,m-1,C3,2024-06-01,pending,1,10,refund,,,,,,\n"
        "c-4,m-1,C4,2024-06-01,pending,1,10,,i-1,,,,,\n"
        "c-5,m-1,C5,2024-06-01,pending,1,10,credit_note,c-5,,,,,\n",
    )
    read = source.invoices(statuses=["pending"], created_since=None)
    assert [(i.id, i.kind, i.applies_to) for i in read.records] == [
        ("c-1", "credit_note", "i-1"),
        ("c-2", "credit_note", None),
    ]
    assert _problems(read) == [
        "invoices.csv line 4: invoice c-3: type: unknown type 'refund' (expected invoice or "
        "credit_note)",
        "invoices.csv line 5: invoice c-4: applies_to: only a credit_note applies to an invoice",
        "invoices.csv line 6: invoice c-5: applies_to: a credit note cannot apply to itself",
    ]


def test_a_file_without_the_new_columns_reads_as_before(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        "invoice_id,member_id,number,created_at,status,quantity,unit_price\n"
        "i-1,m-1,1,2024-06-01,pending,1,10\n",
    )
    (invoice,) = source.invoices(statuses=["pending"], created_since=None).records
    assert invoice.kind == "invoice" and invoice.applies_to is None and invoice.payments == ()


def test_invoices_since_reads_every_status_created_since(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        HEADER + "i-1,m-1,1,2024-06-01,voided,1,10,,,,,,,\n"
        "i-2,m-1,2,2024-06-01,paid,1,10,,,p-2,2024-06-02,10,,\n"
        "i-3,m-1,3,2024-06-01,refunded,1,10,,,,,,,\n"
        "i-4,m-1,4,2024-01-01,void,1,10,,,,,,,\n",
    )
    assert isinstance(source, ChangedInvoices)
    read = source.invoices_since(
        datetime(2030, 1, 1, tzinfo=UTC), created_since=datetime(2024, 5, 1, tzinfo=TZ)
    )
    assert _problems(read) == []
    # updated_since filters nothing in a CSV file (no update times): the engine compares
    # fingerprints. The old one (created before created_since) stays out.
    assert [(i.id, i.status) for i in read.records] == [
        ("i-1", "void"),
        ("i-2", "paid"),
        ("i-3", "refunded"),
    ]
    # The export read keeps its meaning: only the statuses asked for.
    assert source.invoices(statuses=["pending"], created_since=None).records == []


class _OldPlugin:
    """A plugin written before invoices_since: only invoices(statuses=...)."""

    name = "old"

    def __init__(self, invoices: list[SourceInvoice]) -> None:
        self.all = invoices
        self.asked: list[list[str]] = []

    def members(self) -> Read[Member]:
        return Read([], [])

    def invoices(
        self, *, statuses: Sequence[str], created_since: datetime | None
    ) -> Read[SourceInvoice]:
        self.asked.append(list(statuses))
        return Read([i for i in self.all if i.status in statuses], [])


def test_read_changed_falls_back_to_the_old_protocol_and_normalises(tmp_path: Path) -> None:
    base = _source(
        tmp_path,
        HEADER + "i-1,m-1,1,2024-06-01,pending,1,10,,,,,,,\n"
        "i-2,m-1,2,2024-06-01,paid,1,10,,,,,,,\n",
    ).invoices(statuses=["pending", "paid"], created_since=None)
    voided = replace(base.records[0], id="i-3", status="voided")
    plugin = _OldPlugin([*base.records, voided])
    assert not isinstance(plugin, ChangedInvoices)
    read = read_changed(plugin, None, created_since=None, statuses=["Pending"])
    assert plugin.asked == [["pending", "void", "voided", "paid"]]
    assert [(i.id, i.status) for i in read.records] == [
        ("i-1", "pending"),
        ("i-2", "paid"),
        ("i-3", "void"),
    ]


def test_read_changed_uses_invoices_since_when_the_source_has_it(tmp_path: Path) -> None:
    source = _source(tmp_path, HEADER + "i-1,m-1,1,2024-06-01,cancelled,1,10,,,,,,,\n")
    read = read_changed(source, None, created_since=None, statuses=["pending"])
    assert [(i.id, i.status) for i in read.records] == [("i-1", "cancelled")]
