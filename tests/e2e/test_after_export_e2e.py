"""After export, the platform's changes reach QBO (issue 15): voids, edits, payments, undo.

Real `qbsync` processes against the emulator; what QBO holds is read from the emulator and what
qbsync recorded from the state database.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import pytest

from e2e.sync_helpers import INVOICE_COLUMNS, SyncWorld, make_sync_world, member
from qbsync.emulator import Emulator

pytestmark = pytest.mark.e2e

MEMBERS = [
    member("m1", "emily.platt@example.com", "Emily", "Platt"),
    member("m2", "nia.obi@example.com", "Nia", "Obi"),
]


@pytest.fixture
def world(emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        w = make_sync_world(emulator_config, emu)
        w.write_members(MEMBERS)
        yield w


def inv(world: SyncWorld, iid: str, mid: str = "m1", **more: Any) -> dict[str, Any]:
    return {
        "invoice_id": iid,
        "member_id": mid,
        "number": f"N-{iid}",
        "created_at": world.enabled_at + timedelta(hours=1),
        **more,
    }


def qbo_invoice(world: SyncWorld, iid: str) -> dict[str, Any]:
    with world.state() as state:
        record = state.exports.get(iid)
    assert record is not None and record.qbo_id
    return world.emu.company.get_row("Invoice", record.qbo_id) or {}


def off_day() -> str:
    """A date that is no export day (days 5, 10, ... 30): the run pushes changes only."""
    day = date.today().replace(day=1) + timedelta(days=32)
    return day.replace(day=2).isoformat()


def voids_sent(world: SyncWorld) -> int:
    return sum(
        1
        for e in world.emu.requests("/invoice", method="POST")
        if e["params"].get("operation") == "void" and e["status"] == 200
    )


def export(world: SyncWorld, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.run("export", "--json", "--yes", *args)
    assert result.out.strip(), result
    return result.code, json.loads(result.out)


PAY_COLUMNS = ("payment_id", "paid_at", "paid_amount", "payment_method", "payment_ref")
MORE_COLUMNS = (*PAY_COLUMNS, "type", "applies_to")


def write_rows(world: SyncWorld, rows: Sequence[dict[str, Any]]) -> None:
    """invoices.csv with the payment and type columns too (one line per invoice)."""
    with (world.folder / "invoices.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, (*INVOICE_COLUMNS, *MORE_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            full = {
                "status": "pending", "quantity": "1", "unit_price": "25.00",
                "item_code": "Mailbox Rental", "description": "Mailbox", **row,
            }  # fmt: skip
            writer.writerow({k: str(v.isoformat() if hasattr(v, "isoformat") else v)
                             for k, v in full.items()})  # fmt: skip


def exported(world: SyncWorld, rows: list[dict[str, Any]]) -> None:
    write_rows(world, rows)
    code, doc = export(world)
    assert code == 0, doc
    assert doc["summary"]["exported"] == len(rows)


def test_voided_at_the_platform_voids_in_qbo_once_or_names_the_payment(world: SyncWorld) -> None:
    rows = [inv(world, "i1"), inv(world, "i2", "m2"), inv(world, "i3"), inv(world, "i4")]
    exported(world, rows)
    paid = world.emu.record_payment({qbo_invoice(world, "i2")["Id"]: "10.00"})
    world.emu.void_invoice(qbo_invoice(world, "i3")["Id"])  # the accountant was first
    for row in rows[:3]:
        row["status"] = "void"
    rows[0]["status"] = "voided"
    world.write_invoices(rows)
    # The dry run shows it first and sends nothing.
    code, doc = export(world, "--if-due", "--as-of", off_day(), "--dry-run")
    assert code == 0
    planned = {(o["id"], o["action"]) for o in doc["run"]["outcomes"]}
    assert {("i1", "void"), ("i2", "void"), ("i3", "void")} <= planned
    assert voids_sent(world) == 0  # (the accountant's void is not over HTTP)
    # Not an export day: the voids go anyway; i2 has a payment: a problem naming it.
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert code == 5, doc
    assert voids_sent(world) == 1  # i1 only: i3 was voided already, i2 has a payment
    one = qbo_invoice(world, "i1")
    assert str(one["PrivateNote"]).startswith("Voided") and str(one["TotalAmt"]) == "0"
    assert not str(qbo_invoice(world, "i2")["PrivateNote"]).startswith("Voided")
    assert str(qbo_invoice(world, "i4")["TotalAmt"]) == "25.00"
    (problem,) = doc["run"]["problems"]
    assert problem["record"] == "i2" and f"payment {paid['Id']}" in problem["what"]
    with world.state() as state:
        pushes = {p.record_id: p for p in state.pushes.all("void")}
    assert pushes["i1"].state == "pushed" and pushes["i3"].state == "pushed"
    assert "i2" not in pushes or pushes["i2"].state != "pushed"
    # Once the payment is gone, the next run voids i2; nothing is voided twice.
    world.emu.delete_payment(paid["Id"])
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert code == 0, doc
    assert voids_sent(world) == 2
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert voids_sent(world) == 2


def test_a_day_with_nothing_to_push_stays_silent_under_q(world: SyncWorld) -> None:
    exported(world, [inv(world, "i1")])
    result = world.run("export", "--if-due", "-q", "--as-of", off_day())
    assert (result.code, result.out, result.err) == (0, "", "")


def run_id_of(doc: dict[str, Any]) -> int:
    return int(doc["run"]["id"])


def test_undo_voids_what_a_run_exported_blockers_first_and_nothing_is_resent(
    world: SyncWorld,
) -> None:
    rows = [inv(world, "i1"), inv(world, "i2", "m2"), inv(world, "i3")]
    world.write_invoices(rows)
    code, first = export(world)
    assert code == 0, first
    world.write_members([*MEMBERS, member("m3", "new.member@example.com", "New", "Member")])
    rows.append(inv(world, "i4", "m3"))
    world.write_invoices(rows)
    code, second = export(world)
    assert code == 0 and second["summary"]["exported"] == 1, second
    created = world.links()["m3"]
    paid = world.emu.record_payment({qbo_invoice(world, "i2")["Id"]: "5.00"})
    # The dry run lists the blocker and voids nothing.
    result = world.run("undo", str(run_id_of(first)), "--dry-run")
    assert result.code == 0, result
    assert "blocked" in result.out and f"payment {paid['Id']}" in result.out
    assert voids_sent(world) == 0
    result = world.run("undo", str(run_id_of(first)), "--yes")
    assert result.code == 5, result  # i2 was not undone: listed
    assert voids_sent(world) == 2
    for iid in ("i1", "i3"):
        assert str(qbo_invoice(world, iid)["PrivateNote"]).startswith("Voided")
    assert not str(qbo_invoice(world, "i2")["PrivateNote"]).startswith("Voided")
    # Again: nothing is voided twice.
    assert world.run("undo", str(run_id_of(first)), "--yes").code == 5
    assert voids_sent(world) == 2
    # --customers: the customer run 2 created goes inactive with its invoice voided.
    result = world.run("undo", str(run_id_of(second)), "--yes", "--customers")
    assert result.code == 0, result
    customer = world.emu.company.get_row("Customer", created) or {}
    assert customer.get("Active") is False
    assert str(qbo_invoice(world, "i4")["PrivateNote"]).startswith("Voided")
    # The next export sends none of them again.
    code, doc = export(world)
    assert doc["summary"]["exported"] == 0, doc
    markers = world.marker_counts()
    for iid in ("i1", "i2", "i3", "i4"):
        assert sum(n for note, n in markers.items() if f"qbsync:{iid} #" in note) == 1
    with world.state() as state:
        undone = {p.record_id for p in state.pushes.all("undo") if p.state == "pushed"}
    assert undone == {"i1", "i3", "i4"}


def updates_sent(world: SyncWorld) -> int:
    return sum(
        1
        for e in world.emu.requests("/invoice", method="POST")
        if not e["params"].get("operation") and e["status"] == 200
    )


def test_edits_are_reported_with_what_changed_by_default(world: SyncWorld) -> None:
    rows = [inv(world, "i1"), inv(world, "i2")]
    exported(world, rows)
    rows[0]["unit_price"] = "30.00"
    rows[1]["status"] = "paid"  # a status change alone is not an edit
    world.write_invoices(rows)
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert code == 5, doc
    (problem,) = doc["run"]["problems"]
    assert problem["record"] == "i1" and problem["state"] == "changed"
    assert "total 25.00 in QBO, 30.00 at the platform" in problem["what"]
    assert updates_sent(world) == 0
    assert str(qbo_invoice(world, "i1")["TotalAmt"]) == "25.00"


def test_on_change_update_rewrites_unpaid_invoices_once_and_never_paid_ones(
    world: SyncWorld,
) -> None:
    world.write_config(export='on_change = "update"')
    rows = [inv(world, "i1"), inv(world, "i2"), inv(world, "i3")]
    exported(world, rows)
    paid = world.emu.record_payment({qbo_invoice(world, "i2")["Id"]: "5.00"})
    rows[0].update(unit_price="30.00", quantity="2", due_date="2031-01-31")
    rows[1]["unit_price"] = "40.00"
    rows[2]["status"] = "paid"
    world.write_invoices(rows)
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert code == 5, doc
    one = qbo_invoice(world, "i1")
    assert str(one["TotalAmt"]) == "60.00" and one["DueDate"] == "2031-01-31"
    assert one["PrivateNote"] == "qbsync:i1 #N-i1;"  # the marker stays
    assert str(qbo_invoice(world, "i2")["TotalAmt"]) == "25.00"
    (problem,) = doc["run"]["problems"]
    assert problem["record"] == "i2" and f"payment {paid['Id']}" in problem["what"]
    assert updates_sent(world) == 1
    with world.state() as state:
        record = state.exports.get("i1")
    assert record is not None and str(record.qbo_total) == "60.00"
    # Nothing is updated twice; a plain export day sends nothing again either.
    export(world, "--if-due", "--as-of", off_day())
    code, doc = export(world)
    assert updates_sent(world) == 1 and doc["summary"]["exported"] == 0


def pay(row: dict[str, Any], pid: str, amount: str, **more: str) -> None:
    row.update(payment_id=pid, paid_at="2030-01-15T10:00:00+00:00", paid_amount=amount, **more)


def qbo_payments(world: SyncWorld) -> list[dict[str, Any]]:
    return list(world.emu.company.dump().get("Payment", []))


def test_platform_payments_become_qbo_payments_once_each(world: SyncWorld) -> None:
    world.write_config(export="", members="")
    with (world.config_path).open("a") as handle:
        handle.write('\n[payments]\nrecorded_in = "platform"\n')
    rows = [inv(world, "i1"), inv(world, "i2", "m2"), inv(world, "i3")]
    exported(world, rows)
    pay(rows[0], "p-1", "25.00", payment_ref="CARD-881")
    rows[0]["status"] = "paid"
    pay(rows[1], "p-2", "10.00")
    write_rows(world, rows)
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert code == 0, doc
    payments = {p["PrivateNote"]: p for p in qbo_payments(world)}
    assert set(payments) == {"qbsync-pay:p-1;", "qbsync-pay:p-2;"}
    one = payments["qbsync-pay:p-1;"]
    assert str(one["TotalAmt"]) == "25.00" and one["PaymentRefNum"] == "CARD-881"
    assert one["Line"][0]["LinkedTxn"] == [
        {"TxnId": qbo_invoice(world, "i1")["Id"], "TxnType": "Invoice"}
    ]
    assert str(qbo_invoice(world, "i1")["Balance"]) in ("0", "0.00")
    assert str(qbo_invoice(world, "i2")["Balance"]) == "15.00"
    with world.state() as state:
        own = state.pushes.own_payment_ids()
    assert own == {p["Id"] for p in payments.values()}
    # Again: nothing is sent twice.
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert code == 0 and len(qbo_payments(world)) == 2
    # recorded_in = "qbo" (the default): nothing is pushed.
    world.write_config()
    pay(rows[2], "p-3", "25.00")
    write_rows(world, rows)
    export(world, "--if-due", "--as-of", off_day())
    assert len(qbo_payments(world)) == 2


def test_closed_books_and_emailed_invoices_are_problems_never_sent_blindly(
    world: SyncWorld,
) -> None:
    world.write_config(export='on_change = "update"')
    rows = [inv(world, "i1"), inv(world, "i2"), inv(world, "i3")]
    exported(world, rows)
    world.emu.send_invoice(qbo_invoice(world, "i3")["Id"])  # EmailStatus EmailSent
    world.emu.set_preferences(book_close_date=date.today().isoformat())
    rows[0]["status"] = "void"
    rows[1]["unit_price"] = "30.00"
    rows[2]["unit_price"] = "31.00"
    write_rows(world, rows)
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert code == 5, doc
    problems = {p["record"]: p["what"] for p in doc["run"]["problems"]}
    assert "closed period" in problems["i1"] and "closed period" in problems["i2"]
    assert "emailed" in problems["i3"]
    assert voids_sent(world) == 0 and updates_sent(world) == 0
    # The books reopened: the void goes; QBO's own 6210 would be shown with its reason.
    world.emu.set_preferences(book_close_date=None)
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert voids_sent(world) == 1 and updates_sent(world) == 1
    assert {p["record"] for p in doc["run"]["problems"]} == {"i3"}


def credit_memos(world: SyncWorld) -> list[dict[str, Any]]:
    return list(world.emu.company.dump().get("CreditMemo", []))


def pushes_of(world: SyncWorld, kind: str) -> dict[str, Any]:
    with world.state() as state:
        return {p.record_id: p for p in state.pushes.all(kind)}


def test_a_credit_note_becomes_one_credit_memo_applied_to_its_invoice(world: SyncWorld) -> None:
    """A credit note (positive amounts at the platform) becomes one QBO CreditMemo mapped like
    an invoice, never an invoice, and is applied to the invoice it credits through a zero-total
    Payment: the invoice's Balance and the memo's RemainingCredit drop in QBO, once."""
    note = inv(world, "c1", type="credit_note", applies_to="i1", unit_price="10.00")
    write_rows(world, [inv(world, "i1"), note])
    code, doc = export(world)
    assert code == 0, doc
    assert doc["summary"]["exported"] == 1
    assert [i for i in world.invoices() if "c1" in str(i.get("PrivateNote"))] == []
    (memo,) = credit_memos(world)
    assert memo["PrivateNote"] == "qbsync-cm:c1 #N-c1;" and str(memo["TotalAmt"]) == "10.00"
    assert memo["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"]  # mapped like an invoice
    assert memo["CustomerRef"] == qbo_invoice(world, "i1")["CustomerRef"]
    assert str(qbo_invoice(world, "i1")["Balance"]) == "15.00"
    assert str(world.emu.company.get_row("CreditMemo", memo["Id"])["RemainingCredit"]) in (
        "0", "0.00",
    )  # fmt: skip
    (applied,) = qbo_payments(world)
    assert str(applied["TotalAmt"]) in ("0", "0.00")
    assert applied["PrivateNote"] == "qbsync-cm-apply:c1;"
    with world.state() as state:
        assert state.pushes.own_payment_ids() == {applied["Id"]}  # pull never echoes it
        assert state.pushes.get("credit_memo", "c1").qbo_id == memo["Id"]
    # Again, and on a day that is no export day: nothing is sent twice.
    export(world)
    export(world, "--if-due", "--as-of", off_day())
    assert len(credit_memos(world)) == 1 and len(qbo_payments(world)) == 1
    # The ledger: the credit note is exported (in QBO as a credit memo), not waiting.
    shown = world.run("invoices", "c1", "--json")
    assert "credit memo" in shown.out and '"exported"' in shown.out, shown


def test_a_credit_note_for_an_invoice_not_in_qbo_yet_is_applied_later(world: SyncWorld) -> None:
    """applies_to an invoice that is not in QBO: the memo is left unapplied and shown; a later
    run applies it once the invoice is there. Amounts written negative are taken as a credit."""
    note = inv(world, "c1", type="credit_note", applies_to="i9", unit_price="-5.00")
    write_rows(world, [note])
    code, doc = export(world)
    assert code == 0, doc
    (memo,) = credit_memos(world)
    assert str(memo["TotalAmt"]) == "5.00" and qbo_payments(world) == []
    waiting = [o for o in doc["run"]["outcomes"] if o["id"] == "c1" and o["result"] == "waiting"]
    assert waiting and "not in QBO yet" in waiting[0]["detail"], doc["run"]["outcomes"]
    assert pushes_of(world, "credit_apply") == {}
    write_rows(world, [note, inv(world, "i9")])
    code, doc = export(world)
    assert code == 0, doc
    (applied,) = qbo_payments(world)
    assert str(qbo_invoice(world, "i9")["Balance"]) == "20.00"
    assert str(world.emu.company.get_row("CreditMemo", memo["Id"])["RemainingCredit"]) in (
        "0", "0.00",
    )  # fmt: skip
    assert pushes_of(world, "credit_apply")["c1"].qbo_id == applied["Id"]
    assert len(credit_memos(world)) == 1


def test_a_negative_invoice_is_refused_or_becomes_a_credit_memo(world: SyncWorld) -> None:
    rows = [inv(world, "i1", unit_price="-12.00")]
    write_rows(world, rows)
    code, doc = export(world)  # negative = "refuse" (the default)
    assert code == 5, doc
    assert credit_memos(world) == [] and world.invoices() == []
    assert any(p["record"] == "i1" and "negative" in p["fix"] + p["what"]
               for p in doc["run"]["problems"]), doc["run"]["problems"]  # fmt: skip
    world.write_config(export='negative = "credit_memo"')
    code, doc = export(world)
    assert code == 0, doc
    (memo,) = credit_memos(world)
    assert str(memo["TotalAmt"]) == "12.00" and memo["PrivateNote"] == "qbsync-cm:i1 #N-i1;"
    assert world.invoices() == []
    export(world)
    assert len(credit_memos(world)) == 1


def test_pull_never_sends_qbsyncs_own_voids_updates_and_payments_back(world: SyncWorld) -> None:
    """Echo prevention: what qbsync pushed to QBO came from the platform; `pull` records it but
    never delivers it back as events. A later change by the accountant still comes back."""
    from e2e.pull_helpers import events_csv_rows

    world.write_config(export='on_change = "update"')
    with world.config_path.open("a", encoding="utf-8") as handle:
        handle.write('\n[payments]\nrecorded_in = "platform"\n')
    rows = [inv(world, "i1"), inv(world, "i2"), inv(world, "i3")]
    exported(world, rows)
    assert world.run("pull", "--json").code == 0  # the baseline: nothing happened yet
    rows[0]["status"] = "void"  # voided at the platform
    rows[1]["unit_price"] = "40.00"  # corrected at the platform
    pay(rows[2], "P-1", "25.00")  # paid on the platform
    write_rows(world, rows)
    code, doc = export(world, "--if-due", "--as-of", off_day())
    assert code == 0, doc
    assert str(qbo_invoice(world, "i1")["TotalAmt"]) == "0"
    assert str(qbo_invoice(world, "i2")["TotalAmt"]) == "40.00"
    assert len(qbo_payments(world)) == 1
    pulled = world.run("pull", "--json")
    assert pulled.code == 0, pulled
    echoed = [(r["invoice_id"], r["event"]) for r in events_csv_rows(world)]
    # No voided (i1), edited (i2) or payment (i3) event: each came from the platform. i3's
    # balance reaching 0 is QBO's own state change ("paid"), which the platform may use.
    assert echoed in ([], [("i3", "paid")]), echoed
    with world.state() as state:
        assert state.pulls.qbo_state("i1").state == "voided"  # type: ignore[union-attr]
        assert state.pulls.qbo_state("i3").state == "paid"  # type: ignore[union-attr]
    # The accountant edits i2 in QBO later: that comes back.
    later = qbo_invoice(world, "i2")
    world.emu.clock.advance(600)
    world.emu.edit_invoice(later["Id"], line_amounts={later["Line"][0]["Id"]: "45.00"})
    code = world.run("pull", "--json").code
    assert code == 5  # edited in QBO: the books no longer match the platform
    assert ("i2", "edited") in [(r["invoice_id"], r["event"]) for r in events_csv_rows(world)]
