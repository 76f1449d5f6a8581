"""Invoice export's plan and apply against the emulator: what QBO holds, what the state says."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.sync.connect import apply_connect, prepare_connect
from qbsync.sync.export_apply import GRACE_ENV
from qbsync.sync.export_run import ExportPlan, apply_export, plan_export

from .conftest import Rig

MEMBERS = [
    Member("m1", "emily.platt@example.com", first_name="Emily", last_name="Platt"),
    Member("m2", "new@example.com", first_name="Nia", last_name="Obi"),
]


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GRACE_ENV, "0")


def _invoice(iid: str, member: str = "m1", *, days_ago: float = 0.5, **kw: object) -> SourceInvoice:
    base: dict[str, object] = dict(
        id=iid,
        member_id=member,
        number=f"N-{iid}",
        created_at=datetime.now(UTC) - timedelta(days=days_ago),
        due_date=None,
        status="pending",
        currency=None,
        lines=(InvoiceLine("Mailbox", Decimal("1"), Decimal("25.00"), "Mailbox Rental"),),
    )
    base.update(kw)
    return SourceInvoice(**base)  # type: ignore[arg-type]


def _connect(rig: Rig) -> None:
    prepared = prepare_connect(
        MEMBERS, [], client=rig.client, state=rig.state, config=rig.config, full=False
    )
    apply_connect(prepared, client=rig.client, state=rig.state, config=rig.config, run_id=None)


def _export(rig: Rig, invoices: list[SourceInvoice]) -> tuple[ExportPlan, object]:
    plan = plan_export(
        invoices,
        MEMBERS,
        [],
        client=rig.client,
        state=rig.state,
        config=rig.config,
        today=date.today(),
        export_day=None,
    )
    outcome = apply_export(plan, client=rig.client, state=rig.state, config=rig.config, run_id=None)
    return plan, outcome


def _qbo_notes(rig: Rig) -> list[str]:
    return [str(i.get("PrivateNote", "")) for i in rig.invoices()]


def test_exports_once_skips_old_paid_and_unconnected_and_totals_match(rig: Rig) -> None:
    _connect(rig)
    cents = _invoice(
        "multi",
        lines=(
            InvoiceLine("A", Decimal("3"), Decimal("0.333"), "Mailbox Rental"),
            InvoiceLine("B", Decimal("14.50"), Decimal("128.35"), "Mail Forwarding"),
        ),
    )
    invoices = [
        _invoice("i1"),
        cents,
        _invoice("old", days_ago=3),  # before the integration was enabled (a day ago)
        _invoice("paid", status="paid"),
        _invoice("stranger", member="m9"),
    ]
    plan, _ = _export(rig, invoices)
    assert sorted(t.mapped.invoice_id for t in plan.to_send) == ["i1", "multi"]
    assert {s.invoice_id: s.reason_code for s in plan.skipped} == {
        "old": "before_enabled",
        "paid": "status",
        "stranger": "member_unknown",
    }
    states = rig.state.exports.states()
    assert states == {"i1": "exported", "multi": "exported"}
    multi = rig.state.exports.get("multi")
    assert multi is not None and multi.qbo_total == Decimal("1862.08") == multi.source_total
    assert sorted(n.split(" ")[0] for n in _qbo_notes(rig)) == ["qbsync:i1", "qbsync:multi"]
    again, _ = _export(rig, invoices)
    assert again.to_send == [] and len(rig.invoices()) == 2


def test_a_lost_batch_response_is_settled_not_sent_twice(rig: Rig) -> None:
    _connect(rig)
    invoices = [_invoice(f"L{i}") for i in range(7)]
    rig.emu.inject_fault("/batch", "lose_response", count=1)
    _export(rig, invoices)
    _export(rig, invoices)
    notes = _qbo_notes(rig)
    assert len(notes) == 7 and len(set(notes)) == 7
    assert set(rig.state.exports.states().values()) == {"exported"}


def test_an_in_flight_row_from_a_killed_run_is_settled_by_its_marker(rig: Rig) -> None:
    _connect(rig)
    invoice = _invoice("k1")
    plan = plan_export(
        [invoice],
        MEMBERS,
        [],
        client=rig.client,
        state=rig.state,
        config=rig.config,
        today=date.today(),
        export_day=None,
    )
    (item,) = plan.to_send
    # The killed run recorded it, sent it, and QBO made it; the answer was never recorded.
    from qbsync.state.exports import ExportRecord

    rig.state.exports.mark_exporting(
        [
            ExportRecord(
                "k1",
                "m1",
                item.customer_id,
                "exporting",
                invoice.number,
                item.mapped.doc_number,
                item.mapped.body["TxnDate"],
                item.mapped.marker,
                "inv-x",
                "b1",
                item.mapped.total,
                invoice.fingerprint(),
            )
        ]
    )
    made = rig.emu.company.create("Invoice", dict(item.mapped.body))
    dry = plan_export(
        [invoice], MEMBERS, [], client=rig.client, state=rig.state, config=rig.config,
        today=date.today(), export_day=None, settle=False,
    )  # fmt: skip
    assert dry.to_send == [] and [s.reason_code for s in dry.skipped] == ["in_flight"]
    assert rig.state.exports.get("k1").state == "exporting"  # type: ignore[union-attr]
    plan2, _ = _export(rig, [invoice])
    assert plan2.settled.settled == ["k1"] and plan2.to_send == []
    record = rig.state.exports.get("k1")
    assert record is not None and record.state == "exported" and record.qbo_id == made["Id"]
    assert len(rig.invoices()) == 1


def test_unknown_item_code_fails_only_that_invoice_naming_the_config_line(rig: Rig) -> None:
    _connect(rig)
    bad = _invoice("bad", lines=(InvoiceLine("Gold", Decimal(1), Decimal(5), "gold-plan"),))
    plan, _ = _export(rig, [bad, _invoice("good")])
    (refused,) = plan.refused
    assert refused.invoice_id == "bad" and "gold-plan" in refused.reason
    assert "[export.items]" in refused.reason
    assert rig.state.exports.states() == {"good": "exported"}


def test_custom_numbers_on_keep_the_platform_number(rig: Rig) -> None:
    _connect(rig)
    rig.emu.set_preferences(custom_txn_numbers=True)
    _export(rig, [_invoice("c1", number="PLAT-0001")])
    (qbo,) = rig.invoices()
    assert qbo["DocNumber"] == "PLAT-0001"
    assert rig.state.exports.get("c1").doc_number == "PLAT-0001"  # type: ignore[union-attr]


def test_custom_numbers_off_qbo_numbers_it(rig: Rig) -> None:
    _connect(rig)
    _export(rig, [_invoice("q1", number="PLAT-0002")])
    (qbo,) = rig.invoices()
    assert qbo["DocNumber"] != "PLAT-0002"
    assert rig.state.exports.get("q1").doc_number == qbo["DocNumber"]  # type: ignore[union-attr]


def test_a_failed_invoice_is_sent_again_with_a_new_requestid_and_exported(rig: Rig) -> None:
    _connect(rig)
    customer_id = rig.state.members.links()["m1"].customer_id
    current = rig.emu.company.read("Customer", customer_id)
    rig.emu.company.update(  # made inactive in QBO; qbsync's cache does not know yet
        "Customer",
        {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, "Active": False},
    )
    _export(rig, [_invoice("r1")])
    failed = rig.state.exports.get("r1")
    assert failed is not None and failed.state == "failed" and failed.error_code == "610"
    current = rig.emu.company.read("Customer", customer_id)
    rig.emu.company.update(
        "Customer",
        {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, "Active": True},
    )
    _export(rig, [_invoice("r1")])  # a replayed requestid would answer the old 610 again
    assert rig.state.exports.get("r1").state == "exported"  # type: ignore[union-attr]
    assert len(rig.invoices()) == 1
