"""Money and time zones through plan_export / apply_export against the emulator."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.sync.connect import apply_connect, prepare_connect
from qbsync.sync.export_apply import GRACE_ENV
from qbsync.sync.export_run import apply_export, export_summary, plan_export
from qbsync.sync.figures import invoice_figures

from .conftest import Rig

MEMBERS = [Member("m1", "emily.platt@example.com", first_name="Emily", last_name="Platt")]


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GRACE_ENV, "0")


@pytest.fixture
def utc_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _invoice(iid: str, *lines: InvoiceLine, **kw: object) -> SourceInvoice:
    invoice = SourceInvoice(
        id=iid,
        member_id="m1",
        number=f"N-{iid}",
        created_at=datetime.now(UTC) - timedelta(hours=12),
        due_date=None,
        status="pending",
        currency=None,
        lines=lines or (InvoiceLine("Mailbox", Decimal("1"), Decimal("25.00"), "Services"),),
    )
    return dataclasses.replace(invoice, **kw)  # type: ignore[arg-type]


def _connect(rig: Rig) -> None:
    prepared = prepare_connect(
        MEMBERS, [], client=rig.client, state=rig.state, config=rig.config, full=False
    )
    apply_connect(prepared, client=rig.client, state=rig.state, config=rig.config, run_id=None)


def _export(rig: Rig, invoices: list[SourceInvoice]) -> dict[str, object]:
    plan = plan_export(
        invoices, MEMBERS, [], client=rig.client, state=rig.state, config=rig.config,
        today=date.today(), export_day=None,
    )  # fmt: skip
    outcome = apply_export(plan, client=rig.client, state=rig.state, config=rig.config, run_id=None)
    return export_summary(plan, outcome)


def test_one_absurd_row_is_refused_and_the_others_are_exported(rig: Rig) -> None:
    # Before: the 60-digit unit price raised decimal.InvalidOperation and nothing was exported.
    _connect(rig)
    absurd = _invoice("absurd", InvoiceLine("x", Decimal("1"), Decimal("1" * 60), "Services"))
    huge_qty = _invoice("qty", InvoiceLine("x", Decimal("1E+30"), Decimal("25"), "Services"))
    summary = _export(rig, [_invoice("a"), absurd, huge_qty, _invoice("b")])
    assert rig.state.exports.states() == {"a": "exported", "b": "exported"}
    assert sorted(i["PrivateNote"].split(" ")[0] for i in rig.invoices()) == [
        "qbsync:a",
        "qbsync:b",
    ]
    failures = summary["failures"]
    assert isinstance(failures, list) and len(failures) == 2
    assert "invoice absurd: unit_price: line 1: unit_price" in failures[0]
    assert "invoice qty: quantity: line 1: quantity" in failures[1]


def test_qbo_total_is_checked_against_the_platform_total_when_given(rig: Rig) -> None:
    _connect(rig)
    thirds = InvoiceLine("Thirds", Decimal("3"), Decimal("0.333"), "Services")  # QBO: 1.00
    platform_rounded = _invoice("p", thirds, total=Decimal("0.99"))  # the platform's own total
    no_total = _invoice("n", thirds)
    summary = _export(rig, [platform_rounded, no_total])
    p = rig.state.exports.get("p")
    assert p is not None and p.state == "exported"
    assert (p.qbo_total, p.source_total, p.platform_total) == (
        Decimal("1.00"),
        Decimal("1.00"),
        Decimal("0.99"),
    )
    assert p.difference == Decimal("0.01")
    n = rig.state.exports.get("n")
    assert n is not None and n.platform_total is None and n.difference is None
    assert summary["total_differences"] == [
        {
            "invoice": "p",
            "source_total": "1.00",
            "platform_total": "0.99",
            "checked_against": "platform total",
            "qbo_total": "1.00",
        }
    ]
    figures = invoice_figures(rig.state, rig.config, source_invoices=None)
    assert figures["total_differences"] == 1
    assert figures["totals_checked_against"] == (
        "the platform's totals (1), qbsync's line sums only (the source gives no `total`) (1)"
    )


def test_status_says_when_totals_are_checked_against_line_sums_only(rig: Rig) -> None:
    _connect(rig)
    _export(rig, [_invoice("n")])
    figures = invoice_figures(rig.state, rig.config, source_invoices=None)
    assert figures["totals_checked_against"] == (
        "qbsync's line sums only (the source gives no `total`)"
    )


def test_eligibility_and_txn_date_use_the_one_export_zone(rig: Rig, utc_machine: None) -> None:
    # A plugin source hands a naive time. Eligibility judged it in the machine's zone (UTC here)
    # while TxnDate used [export] timezone (Auckland): one invoice, two readings.
    _connect(rig)
    export = dataclasses.replace(rig.config.export, timezone="Pacific/Auckland")
    config = dataclasses.replace(rig.config, export=export)
    enabled = rig.state.enabled_at
    assert enabled is not None
    # Six hours after enabling as UTC wall time; in Auckland (+12/+13) it is before enabling.
    naive = (enabled + timedelta(hours=6)).astimezone(UTC).replace(tzinfo=None)
    invoice = _invoice("z", created_at=naive)
    plan = plan_export(
        [invoice], MEMBERS, [], client=rig.client, state=rig.state, config=config,
        today=date.today(), export_day=None,
    )  # fmt: skip
    assert plan.to_send == []
    assert [s.reason_code for s in plan.skipped] == ["before_enabled"]
    apply_export(plan, client=rig.client, state=rig.state, config=config, run_id=None)
    assert rig.invoices() == [] and rig.state.exports.states() == {}
    figures = invoice_figures(rig.state, config, source_invoices=[invoice])
    assert figures["waiting_for_next_export_day"] == 0
