"""`qbsync report` in process (CliRunner) against the emulator: the per-day reconciliation equals
what QBO holds, --verify flags invoices deleted or edited in QBO, and the CSV / HTML files."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner, Result

from e2e.sync_helpers import SyncWorld, make_sync_world, two_members_two_invoices
from qbsync.cli.main import cli
from qbsync.emulator import Emulator


@pytest.fixture
def world(home: Any, emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        w = make_sync_world(emulator_config, emu)
        two_members_two_invoices(
            w,
            {"invoice_id": "i3", "member_id": "m2", "number": "1003", "item_code": "No Such Item"},
            quantity="3",
            unit_price="7.333",
        )
        yield w


def qbsync(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def exported(world: SyncWorld) -> date:
    """Connect and export on the export day due tomorrow (`--as-of`): i1 and i2 go, i3 fails;
    the export day served."""
    assert qbsync("connect-members", "--yes").exit_code == 0
    day = date.today() + timedelta(days=1)
    result = qbsync("export", "--if-due", "--as-of", day.isoformat())
    assert result.exit_code == 5, result.output
    with world.state() as state:
        served = list(state.exports.served_days().values())
    assert len(served) == 1 and served[0] <= day  # the export day due on `day` (catch-up)
    return served[0]


def qbo_total(world: SyncWorld) -> Decimal:
    return sum((Decimal(str(i["TotalAmt"])) for i in world.invoices()), Decimal(0))


def test_report_reconciles_to_what_the_emulator_holds(world: SyncWorld) -> None:
    day = exported(world)
    result = qbsync("report", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [d["day"] for d in doc["days"]] == [day.isoformat()]
    assert doc["days"][0]["export_day"] is True and doc["days"][0]["invoices"] == 2
    # To the cent: the report's QBO total is the sum of the emulator's invoices, and so is the
    # platform total (25.00 + 3 x 7.333 = 21.999 -> 22.00).
    assert Decimal(doc["totals"]["qbo_total"]) == qbo_total(world) == Decimal("47.00")
    assert Decimal(doc["totals"]["platform_total"]) == Decimal("47.00")
    assert Decimal(doc["totals"]["difference"]) == 0 and doc["balanced"] is True
    assert len(world.invoices()) == 2
    # The refused invoice is a problem with its fix, and counted by state.
    assert [p["record"] for p in doc["problems"]] == ["i3"]
    assert doc["problems"][0]["fix"]
    states = {s["state"]: s["invoices"] for s in doc["states"]}
    assert states == {"exported": 2, "refused": 1}  # its item is not in QBO
    assert doc["currency"] == "home currency"  # offline: no command has read the preferences


def test_report_on_the_terminal_names_days_problems_and_states(world: SyncWorld) -> None:
    day = exported(world)
    result = qbsync("report")
    assert result.exit_code == 0, result.output
    out = result.output
    assert day.isoformat() in out and "47.00" in out
    assert "Problems (1)" in out and "i3" in out and "fix:" in out
    assert "exported" in out and "refused" in out


def test_from_and_to_select_export_days(world: SyncWorld) -> None:
    day = exported(world)
    after = (day + timedelta(days=1)).isoformat()
    doc = json.loads(qbsync("report", "--json", "--from", after).stdout)
    assert doc["days"] == [] and doc["totals"]["invoices"] == 0
    doc = json.loads(qbsync("report", "--json", "--to", day.isoformat()).stdout)
    assert doc["totals"]["invoices"] == 2
    bad = qbsync("report", "--from", after, "--to", day.isoformat())
    assert bad.exit_code == 2 and "after" in bad.output


def test_verify_reads_back_in_one_query_and_finds_nothing_changed(world: SyncWorld) -> None:
    exported(world)
    world.emu.clear_requests()
    result = qbsync("report", "--verify", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["verify"]["checked"] == 2 and doc["verify"]["discrepancies"] == []
    # One IN query for both invoices, one preferences read; counted in the output.
    assert world.emu.request_count("/v3/company/*/query") == 1
    assert doc["verify"]["requests"] == 2
    assert doc["currency"] == "USD"
    with world.state() as state:
        assert state.home_currency == "USD"  # later offline reports name it too
    assert json.loads(qbsync("report", "--json").stdout)["currency"] == "USD"


def test_verify_flags_an_invoice_deleted_and_one_edited_in_qbo(world: SyncWorld) -> None:
    exported(world)
    with world.state() as state:
        rows = {r.invoice_id: r for r in state.exports.in_state("exported")}
    company = world.emu.company
    gone = company.read("Invoice", str(rows["i1"].qbo_id))
    company.delete("Invoice", {"Id": gone["Id"], "SyncToken": gone["SyncToken"]})
    edited = company.read("Invoice", str(rows["i2"].qbo_id))
    company.update(
        "Invoice",
        {
            "Id": edited["Id"],
            "SyncToken": edited["SyncToken"],
            "sparse": True,
            "DocNumber": "X-99",
            "CustomerRef": {"value": str(rows["i1"].customer_id)},
        },
    )
    result = qbsync("report", "--verify", "--json")
    assert result.exit_code == 5, result.output
    doc = json.loads(result.stdout)
    found = {(d["invoice_id"], d["kind"]) for d in doc["verify"]["discrepancies"]}
    assert found == {("i1", "missing"), ("i2", "doc_number"), ("i2", "customer")}
    # Listed first among the problems, and the QBO total now leaves out the deleted one.
    assert [p["record"] for p in doc["problems"][:3]] == ["i1", "i2", "i2"]
    assert Decimal(doc["totals"]["qbo_total"]) == qbo_total(world) == Decimal("22.00")
    assert Decimal(doc["totals"]["difference"]) == Decimal("-25.00")
    assert doc["balanced"] is False
    # The state is not changed by a report: the invoice is still recorded as exported.
    with world.state() as state:
        assert state.exports.get("i1").state == "exported"  # type: ignore[union-attr]
    text = qbsync("report", "--verify")
    assert text.exit_code == 5
    assert "QBO no longer has it" in text.output and "DocNumber changed" in text.output


def test_verify_flags_a_total_changed_in_qbo(world: SyncWorld) -> None:
    exported(world)
    with world.state() as state:
        row = state.exports.get("i1")
    assert row is not None
    company = world.emu.company
    held = company.read("Invoice", str(row.qbo_id))
    line = dict(held["Line"][0])
    detail = dict(line["SalesItemLineDetail"], Qty=2)
    company.update(
        "Invoice",
        {
            "Id": held["Id"],
            "SyncToken": held["SyncToken"],
            "sparse": True,
            "Line": [{**line, "Amount": 50, "SalesItemLineDetail": detail}],
        },
    )
    doc = json.loads(qbsync("report", "--verify", "--json").stdout)
    totals = [d for d in doc["verify"]["discrepancies"] if d["kind"] == "total"]
    assert [(d["invoice_id"], d["expected"], d["found"]) for d in totals] == [
        ("i1", "25.00", "50.00")
    ]


def test_csv_and_html_files(world: SyncWorld, tmp_path: Any) -> None:
    exported(world)
    result = qbsync("report", "--csv", str(tmp_path / "r.csv"), "--html", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    assert "r.csv" in result.output and "r.html" in result.output
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["invoice_id"] for r in rows] == ["i1", "i2", "i3"]
    assert list(rows[0]) == [
        "invoice_id", "number", "member_id", "state", "customer_id", "qbo_id", "doc_number",
        "txn_date", "platform_total", "qbo_total", "difference", "reason", "fix",
        "qbo_state", "qbo_balance",
    ]  # fmt: skip
    exported_rows = [r for r in rows if r["state"] == "exported"]
    # The CSV reconciles to the cent with what QBO holds.
    assert sum(Decimal(r["qbo_total"]) for r in exported_rows) == qbo_total(world)
    assert {r["qbo_id"] for r in exported_rows} == {str(i["Id"]) for i in world.invoices()}
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html
    assert "<svg" in html and "47.00" in html
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o600


def test_invoices_exported_outside_an_export_day_group_by_date(world: SyncWorld) -> None:
    served = exported(world)
    at = world.enabled_at + timedelta(hours=3)
    world.write_invoices(
        [
            {"invoice_id": "i1", "member_id": "m1", "number": "1001", "created_at": at},
            {"invoice_id": "i4", "member_id": "m1", "number": "1004", "created_at": at},
        ]
    )
    # No export day is due (served); i1's created_at moved at the platform: a `changed` problem.
    second = qbsync("export", "--yes")
    assert second.exit_code == 5 and "i1 changed at the platform" in second.output, second.output
    doc = json.loads(qbsync("report", "--json").stdout)
    today = datetime.now(UTC).date()  # the world's export time zone is UTC
    assert [(d["day"], d["export_day"], d["invoices"]) for d in doc["days"]] == [
        (served.isoformat(), True, 2),
        (today.isoformat(), False, 1),
    ]
