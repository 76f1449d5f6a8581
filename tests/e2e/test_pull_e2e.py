"""`qbsync pull` end to end: real `qbsync` processes, the emulator as QBO with the accountant
acting in it, events delivered once to a csv file and to a local HTTP platform stub."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from e2e.pull_helpers import events_csv_rows, export_invoices, platform_stub
from e2e.sync_helpers import SyncWorld, make_sync_world
from qbsync.emulator import Emulator
from qbsync.emulator import cdc as emulator_cdc
from qbsync.sync import pull_read
from qbsync.sync.pull_run import run_pull
from testkit import connect_client

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        yield make_sync_world(emulator_config, emu)


def _pull(world: SyncWorld, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.run("pull", "--json", *args)
    assert result.out.strip(), result
    return result.code, json.loads(result.out)


def _kinds(rows: list[dict[str, str]]) -> Counter[tuple[str, str]]:
    return Counter((r["invoice_id"], r["event"]) for r in rows)


def test_payments_voids_deletes_and_edits_come_back_once_to_the_csv(world: SyncWorld) -> None:
    ids = export_invoices(world, 9)
    emu = world.emu
    emu.record_payment({ids["i1"]: "25.00"}, method="2", reference="CHK-1")
    emu.record_payment({ids["i2"]: "10.00"})
    emu.record_payment({ids["i3"]: "25.00", ids["i4"]: "25.00", ids["i5"]: "25.00"})
    six = emu.record_payment({ids["i6"]: "25.00"})
    emu.void_invoice(ids["i7"])
    emu.delete_invoice(ids["i8"])
    line = emu.company.get_row("Invoice", ids["i9"])["Line"][0]["Id"]
    emu.edit_invoice(ids["i9"], line_amounts={line: "30.00"})

    code, doc = _pull(world)
    assert code == 5, doc  # deleted, edited, voided while pending at the platform
    rows = events_csv_rows(world)
    assert _kinds(rows) == Counter(
        {
            ("i1", "payment"): 1, ("i1", "paid"): 1,
            ("i2", "payment"): 1, ("i2", "partly-paid"): 1,
            ("i3", "payment"): 1, ("i3", "paid"): 1,
            ("i4", "payment"): 1, ("i4", "paid"): 1,
            ("i5", "payment"): 1, ("i5", "paid"): 1,
            ("i6", "payment"): 1, ("i6", "paid"): 1,
            ("i7", "voided"): 1, ("i8", "deleted"): 1, ("i9", "edited"): 1,
        }
    )  # fmt: skip
    (first,) = [r for r in rows if r["invoice_id"] == "i1" and r["event"] == "payment"]
    assert (first["amount"], first["reference"], first["payment_method"]) == ("25.00", "CHK-1", "2")
    assert {p["record"] for p in doc["summary"]["problems"]} == {"i7", "i8", "i9"}
    with world.state() as state:
        assert state.pulls.qbo_state("i2").state == "partly-paid"  # type: ignore[union-attr]
        assert state.pulls.qbo_state("i2").balance == Decimal("15.00")  # type: ignore[union-attr]
        assert state.pulls.qbo_state("i8").state == "deleted"  # type: ignore[union-attr]
        assert not state.pulls.pending_events()

    # Round two: the second partial, and the payment of i6 deleted. Then an idle pull.
    emu.record_payment({ids["i2"]: "15.00"})
    emu.delete_payment(six["Id"])
    emu.clear_requests()
    code, doc = _pull(world)
    assert code == 0, doc
    assert emu.request_count("/v3/company/*") == 1  # one CDC call
    new = _kinds(events_csv_rows(world)) - _kinds(rows)
    assert new == Counter(
        {("i2", "payment"): 1, ("i2", "paid"): 1, ("i6", "payment-removed"): 1,
         ("i6", "reopened"): 1}
    )  # fmt: skip
    with world.state() as state:
        assert state.pulls.qbo_state("i6").state == "open"  # type: ignore[union-attr]
        assert state.pulls.qbo_state("i2").state == "paid"  # type: ignore[union-attr]
    emu.clear_requests()
    before = events_csv_rows(world)
    code, doc = _pull(world)
    assert code == 0 and doc["summary"]["new_events"] == 0, doc
    assert emu.request_count("/v3/company/*") == 1  # an idle pull: one request
    assert events_csv_rows(world) == before
    ids_in_file = [r["event_id"] for r in before]
    assert len(ids_in_file) == len(set(ids_in_file))


def test_a_voided_payment_reopens_and_a_pull_after_31_days_reads_by_id(world: SyncWorld) -> None:
    ids = export_invoices(world, 2)
    paid = world.emu.record_payment({ids["i1"]: "25.00"})
    assert _pull(world)[0] == 0
    world.emu.void_payment(paid["Id"])
    world.emu.record_payment({ids["i2"]: "5.00"})
    world.emu.clock.advance(31 * 86400)
    code, doc = _pull(world)
    assert code == 0, doc
    assert doc["summary"]["mode"] == "by-id"
    assert _kinds(events_csv_rows(world)) == Counter(
        {("i1", "payment"): 1, ("i1", "paid"): 1, ("i1", "payment-removed"): 1,
         ("i1", "reopened"): 1, ("i2", "payment"): 1, ("i2", "partly-paid"): 1}
    )  # fmt: skip


def test_http_platform_gets_each_event_once_500_then_200_and_422(world: SyncWorld) -> None:
    ids = export_invoices(world, 2)
    with platform_stub() as platform:
        world.write_config(
            export='\n[pull]\nsink = "http"\n'
            f'base_url = "{platform.base_url}"\nbackoff_seconds = 0.01\nretries = 2\n'
        )
        world.emu.record_payment({ids["i1"]: "25.00"})
        platform.answers = [500, 200, 422]  # payment: 500 then 200; paid: refused
        code, doc = _pull(world)
        assert code == 5, doc
        assert [p["state"] for p in doc["summary"]["problems"]] == ["refused"]
        assert "422" in doc["summary"]["problems"][0]["what"]
        assert [e["event"] for e in platform.events.values()] == ["payment"]
        assert all(path == "/invoices/i1/qbo-events" for path, _, _ in platform.posts)
        # Next run: the refused event is offered again and now taken; nothing twice.
        code, doc = _pull(world)
        assert code == 0, doc
        assert sorted(e["event"] for e in platform.events.values()) == ["paid", "payment"]
        keys = [key for _, key, status in platform.posts if status == 200]
        assert len(keys) == len(set(keys)) == 2
        with world.state() as state:
            assert not state.pulls.pending_events()


def test_a_full_cdc_answer_is_completed_by_queries(
    world: SyncWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QBO's CDC cap (1,000) lowered to 8 in the emulator and the engine alike: 12 payments
    bump 12 invoices (24 objects), the CDC answer is full, and the window is read by queries."""
    ids = export_invoices(world, 12)
    client = connect_client(world.emu, tmp_path)
    with world.state() as state:
        run_pull(client, state, sink=None, pending_at_platform=set, dry_run=False, run_id=None)
    for n in range(1, 13):
        world.emu.record_payment({ids[f"i{n}"]: "25.00"})
    monkeypatch.setattr(emulator_cdc, "CDC_MAX_OBJECTS", 8)
    monkeypatch.setattr(pull_read, "CDC_MAX", 8)
    world.emu.clear_requests()
    with world.state() as state:
        outcome = run_pull(
            client, state, sink=None, pending_at_platform=set, dry_run=False, run_id=None
        )
        assert outcome.mode == "cdc+query"
        assert Counter(e.kind for e in outcome.events) == {"payment": 12, "paid": 12}
        assert {s.state for s in state.pulls.qbo_states().values()} == {"paid"}
    counts = world.emu.request_counts("/v3/company/*")
    assert counts == {"GET /v3/company/{realmId}/cdc": 1, "POST /v3/company/{realmId}/query": 2}
