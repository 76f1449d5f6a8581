"""The total-difference path end to end: the emulator taxes a TAX line (a company sales tax rate),
so QBO's TotalAmt differs from the platform's total and the export records both."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.sync.connect import apply_connect, prepare_connect
from qbsync.sync.export_apply import GRACE_ENV
from qbsync.sync.export_run import apply_export, plan_export

from .conftest import Rig

MEMBER = Member("m1", "emily.platt@example.com", first_name="Emily", last_name="Platt")


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GRACE_ENV, "0")


def test_qbo_sales_tax_shows_as_a_total_difference(rig: Rig) -> None:
    rig.emu.set_preferences(sales_tax_rate=Decimal("8.25"))
    prepared = prepare_connect(
        [MEMBER], [], client=rig.client, state=rig.state, config=rig.config, full=False
    )
    apply_connect(prepared, client=rig.client, state=rig.state, config=rig.config, run_id=None)
    invoice = SourceInvoice(
        id="t1",
        member_id="m1",
        number="N-t1",
        created_at=datetime.now(UTC) - timedelta(hours=12),
        due_date=None,
        status="pending",
        currency=None,
        lines=(
            InvoiceLine("Mailbox", Decimal("1"), Decimal("10.00"), "Mailbox Rental", "TAX"),
            InvoiceLine("Forwarding", Decimal("1"), Decimal("5.00"), "Mail Forwarding", "NON"),
        ),
    )
    plan = plan_export(
        [invoice],
        [MEMBER],
        [],
        client=rig.client,
        state=rig.state,
        config=rig.config,
        today=date.today(),
        export_day=None,
    )
    apply_export(plan, client=rig.client, state=rig.state, config=rig.config, run_id=None)
    [held] = rig.invoices()
    # 10.00 x 8.25 % = 0.825, rounded half-up to 0.83 (half-even would say 0.82).
    assert held["TxnTaxDetail"]["TotalTax"] == Decimal("0.83")
    assert held["TotalAmt"] == held["Balance"] == Decimal("15.83")
    record = rig.state.exports.get("t1")
    assert record is not None and record.source_total == Decimal("15.00")
    assert record.qbo_total == Decimal("15.83")
