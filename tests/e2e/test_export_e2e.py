"""export end to end: real `qbsync` processes, real HTTP, the emulator as QBO.

What QBO holds is checked by the PrivateNote marker each exported invoice carries
(`qbsync:<invoice id> #<number>;`): every eligible invoice exactly once, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from e2e.sync_helpers import SyncWorld, make_sync_world, member
from qbsync.emulator import Emulator
from qbsync.sync.schedule import next_export_day

pytestmark = pytest.mark.e2e

EMILY_ID = "1"
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


def _after(world: SyncWorld, hours: float) -> datetime:
    return world.enabled_at + timedelta(hours=hours)


def _inv(world: SyncWorld, iid: str, mid: str = "m1", **more: Any) -> dict[str, Any]:
    return {
        "invoice_id": iid,
        "member_id": mid,
        "number": f"N-{iid}",
        "created_at": _after(world, 1),
        **more,
    }


def _marker(iid: str, number: str | None = None) -> str:
    return f"qbsync:{iid} #{number or f'N-{iid}'};"


def _qbo_invoice(world: SyncWorld, iid: str, number: str | None = None) -> dict[str, Any]:
    (found,) = [i for i in world.invoices() if i.get("PrivateNote") == _marker(iid, number)]
    return found


def _export(world: SyncWorld, *args: str) -> tuple[int, dict[str, Any], str]:
    result = world.run("export", "--json", *args)
    assert result.out.strip(), result
    return result.code, json.loads(result.out), result.err


def test_first_export_rerun_and_what_is_never_sent(world: SyncWorld) -> None:
    twins = [
        world.emu.company.create(
            "Customer", {"DisplayName": name, "PrimaryEmailAddr": {"Address": "twins@example.com"}}
        )["Id"]
        for name in ("Twin A", "Twin B")
    ]
    world.write_members([*MEMBERS, member("m3", "twins@example.com", "Tom", "Twin")])
    # m3 needs review: a problem (issue 13), listed, exit 5.
    assert world.run("connect-members", "--yes").code == 5
    world.write_invoices(
        [
            _inv(world, "i1"),
            _inv(world, "i2", "m2", quantity="3", unit_price="0.333", description="A"),
            _inv(
                world,
                "i2",
                "m2",
                quantity="14.50",
                unit_price="128.35",
                item_code="Mail Forwarding",
                description="B",
            ),
            _inv(world, "old", created_at=world.enabled_at - timedelta(minutes=1)),
            _inv(world, "paid", status="paid"),
            _inv(world, "r1", "m3"),
        ]
    )
    code, doc, err = _export(world, "--yes")
    assert code == 5, err  # r1 is blocked (its member needs review): a problem, exit 5
    assert [p["record"] for p in doc["run"]["problems"]] == ["r1"]
    summary = doc["summary"]
    assert summary["exported"] == 2 and summary["failed"] == 0
    # "old" (created before enablement) is read, never sent, and counted: not-eligible.
    assert summary["skipped"] == {"member_needs_review": 1, "before_enabled": 1}
    assert summary["not_sent"]["not-eligible"] == {"created before enablement": 1}
    assert "created before enablement" in err or "created before enablement" in str(doc)
    markers = world.marker_counts()
    assert markers == {_marker("i1"): 1, _marker("i2"): 1}
    i1, i2 = _qbo_invoice(world, "i1"), _qbo_invoice(world, "i2")
    assert i1["CustomerRef"]["value"] == EMILY_ID
    assert i2["CustomerRef"]["value"] == world.links()["m2"]
    assert Decimal(str(i2["TotalAmt"])) == Decimal("1.00") + Decimal("1861.08")
    with world.state() as state:
        records = {r.invoice_id: r for r in state.exports.all()}
        assert set(records) == {"i1", "i2"}
        assert {r.state for r in records.values()} == {"exported"}
        assert (records["i1"].qbo_id, records["i2"].qbo_id) == (i1["Id"], i2["Id"])

    # A rerun sends nothing.
    world.emu.clear_requests()
    code, doc, err = _export(world, "--yes")
    assert code == 5, err  # r1 still blocked
    assert doc["summary"]["exported"] == 0
    assert world.emu.request_count("/v3/company/*/batch") == 0
    assert world.marker_counts() == markers

    # The member needing review is linked by hand; its invoice goes next time, on that customer.
    linked = world.run("link", "m3", twins[1])
    assert linked.code == 0, linked
    code, doc, err = _export(world, "--yes")
    assert code == 0, err
    assert doc["summary"]["exported"] == 1
    assert _qbo_invoice(world, "r1")["CustomerRef"]["value"] == twins[1]
    assert world.marker_counts() == {**markers, _marker("r1"): 1}
    assert not any("old" in m or "paid" in m for m in world.marker_counts())

    runs = world.run("runs", "--json")
    assert runs.code == 0, runs
    listed = json.loads(runs.out)["runs"]
    assert [r["command"] for r in listed] == ["export", "export", "export", "connect-members"]
    assert [r["counts"].get("exported") for r in listed[:3]] == [1, 0, 2]
    assert [r["outcome"] for r in listed] == ["ok", "partial", "partial", "partial"]


def test_if_due_serves_an_export_day_once_and_is_silent_otherwise(world: SyncWorld) -> None:
    day = next_export_day(
        datetime.now(UTC).date() - timedelta(days=1), (5, 10, 15, 20, 25, 30), True
    )
    assert world.run("connect-members", "--yes").code == 0
    world.write_invoices([_inv(world, "i1"), _inv(world, "i2", "m2")])
    first = world.run("export", "--if-due", "--as-of", day.isoformat())
    assert first.code == 0, first
    assert world.marker_counts() == {_marker("i1"): 1, _marker("i2"): 1}
    with world.state() as state:
        assert state.exports.last_served_day() == day
    # A new invoice; the day after: no export day is due, so nothing at all happens.
    world.write_invoices([_inv(world, "i1"), _inv(world, "i2", "m2"), _inv(world, "i3")])
    for as_of in (day, day + timedelta(days=1)):
        world.emu.clear_requests()
        quiet = world.run("export", "--if-due", "--as-of", as_of.isoformat())
        assert (quiet.code, quiet.out, quiet.err) == (0, "", ""), quiet
        assert world.emu.request_count("/v3/company/*") == 0
    assert _marker("i3") not in world.marker_counts()
    # The next export day serves it.
    later = next_export_day(day, (5, 10, 15, 20, 25, 30), True)
    served = world.run("-q", "export", "--if-due", "--as-of", later.isoformat())
    assert (served.code, served.out, served.err) == (0, "", ""), served
    assert world.marker_counts()[_marker("i3")] == 1
    with world.state() as state:
        assert state.exports.last_served_day() == later


def test_unknown_item_and_inactive_customer_fail_their_invoice_only(world: SyncWorld) -> None:
    assert world.run("connect-members", "--yes").code == 0
    nia = world.links()["m2"]
    current = world.emu.company.read("Customer", nia)
    world.emu.company.update(
        "Customer", {"Id": nia, "SyncToken": current["SyncToken"], "sparse": True, "Active": False}
    )
    world.write_invoices(
        [
            _inv(world, "ok"),
            _inv(world, "widget", item_code="WIDGET-9"),
            _inv(world, "gone", "m2"),
        ]
    )
    result = world.run("export", "--yes")
    assert result.code == 5, result
    assert "WIDGET-9" in result.err and "[export.items]" in result.err
    assert "invoice gone" in result.err and "[QBO 610]" in result.err
    assert world.marker_counts() == {_marker("ok"): 1}
    with world.state() as state:
        states = state.exports.states()
        assert states["ok"] == "exported"
        assert states.get("widget") != "exported" and states.get("gone") != "exported"
        (run,) = state.runs.last(1)
        assert run.outcome == "partial" and run.summary is not None
        assert run.summary["failed"] == 2
    # Mapped now: the next export sends it. The customer cache now knows Nia's customer is
    # inactive (connect-members read it), so that invoice is refused before it is sent.
    world.write_config(export='[export.items]\n"WIDGET-9" = "Membership Fee"\n')
    assert world.run("connect-members", "--yes").code == 0
    world.emu.clear_requests()
    again = world.run("export", "--yes")
    assert again.code == 5, again
    assert "WIDGET-9" not in again.err
    assert f"QBO customer {nia} (linked to member m2) is inactive" in again.err
    assert world.emu.request_count("/v3/company/*/batch") == 1  # widget's, alone
    assert world.marker_counts() == {_marker("ok"): 1, _marker("widget"): 1}
    line = _qbo_invoice(world, "widget")["Line"][0]
    item = world.emu.company.read("Item", line["SalesItemLineDetail"]["ItemRef"]["value"])
    assert item["Name"] == "Membership Fee"


@pytest.mark.parametrize("custom", [True, False])
def test_custom_transaction_numbers_on_keep_the_number_off_let_qbo_number(
    world: SyncWorld, custom: bool
) -> None:
    world.emu.set_preferences(custom_txn_numbers=custom)
    assert world.run("connect-members", "--yes").code == 0
    world.write_invoices([_inv(world, "i1", number="PLAT-7731")])
    code, doc, err = _export(world, "--yes")
    assert code == 0, err
    assert doc["summary"]["exported"] == 1
    found = _qbo_invoice(world, "i1", "PLAT-7731")
    with world.state() as state:
        record = state.exports.get("i1")
        assert record is not None and record.state == "exported"
    if custom:
        assert found["DocNumber"] == "PLAT-7731"
        assert record.doc_number == "PLAT-7731"
    else:
        assert found.get("DocNumber") and found["DocNumber"] != "PLAT-7731"
        assert record.doc_number == found["DocNumber"]


def test_a_lost_batch_response_then_a_rerun_exports_each_invoice_once(world: SyncWorld) -> None:
    assert world.run("connect-members", "--yes").code == 0
    world.write_invoices([_inv(world, f"i{n}", "m1" if n % 2 else "m2") for n in range(12)])
    world.write_config(batch_size=5)
    world.emu.inject_fault("/batch", "lose_response", count=2)
    env = world.env(QBSYNC_SETTLE_GRACE_SECONDS="0")
    first = world.run("export", "--yes", env=env)
    assert first.code in (0, 5), first
    second = world.run("export", "--yes", env=env)
    assert second.code == 0, second
    assert world.marker_counts() == {_marker(f"i{n}"): 1 for n in range(12)}
    with world.state() as state:
        assert set(state.exports.states().values()) == {"exported"}
        assert len(state.exports.states()) == 12
