"""QBO's side in every view (issue 14 item 6): the accountant pays, voids, deletes and edits in
the emulator; `qbsync pull` records it; `status`, `invoices` and `report` show each exported
invoice's QBO state and balance, "paid in QBO" per export day, and the problems it makes; `report
--verify` says when QBO holds what pull has not seen yet."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from e2e.pull_helpers import export_invoices
from e2e.sync_helpers import SyncWorld, make_sync_world
from qbsync.cli.main import cli
from qbsync.emulator import Emulator


@pytest.fixture
def world(home: Any, emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        yield make_sync_world(emulator_config, emu)


def qbsync(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def as_json(*args: str) -> tuple[int, Any]:
    result = qbsync(*args, "--json")
    return result.exit_code, json.loads(result.stdout)


def accountant_works(world: SyncWorld) -> dict[str, str]:
    """i1 paid in full, i2 partly (10.00 of 25.00), i3 voided, i4 deleted, i5 edited (25 -> 30),
    i6 untouched; every invoice still pending at the platform."""
    ids = export_invoices(world, 6)
    emu = world.emu
    emu.record_payment({ids["i1"]: "25.00"}, reference="CHK-1")
    emu.record_payment({ids["i2"]: "10.00"})
    emu.void_invoice(ids["i3"])
    emu.delete_invoice(ids["i4"])
    line = emu.company.get_row("Invoice", ids["i5"])["Line"][0]["Id"]
    emu.edit_invoice(ids["i5"], line_amounts={line: "30.00"})
    return ids


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["invoice_id"]: r for r in rows}


def test_status_and_invoices_show_qbo_state_and_balance_as_pull_recorded(
    world: SyncWorld,
) -> None:
    accountant_works(world)
    # Before any pull: every exported invoice is "not pulled yet"; no QBO problem is made up.
    code, status = as_json("status")
    assert status["invoices"]["qbo_states"]["not pulled yet"] == 6
    assert status["invoices"]["last_pull"] is None
    code, rows = as_json("invoices")
    assert {r["qbo_state"] for r in rows} == {"not pulled yet"}
    assert not any(r["problem"] for r in rows)

    assert qbsync("pull", "-q").exit_code == 5

    with world.state() as state:  # what the views show is what pull recorded
        assert state.pulls.qbo_state("i2").balance == Decimal("15.00")  # type: ignore[union-attr]
    code, status = as_json("status")
    figures = status["invoices"]
    assert figures["qbo_states"] == {
        "open": 2, "partly-paid": 1, "paid": 1, "voided": 1, "deleted": 1, "not pulled yet": 0,
    }  # fmt: skip
    assert figures["last_pull"]["outcome"] == "partial"
    whats = " | ".join(p["what"] for p in figures["problems"])
    assert "1 exported invoice(s) deleted in QBO" in whats
    assert "1 exported invoice(s) edited in QBO" in whats
    assert "1 exported invoice(s) voided in QBO" in whats
    text = qbsync("status").output
    assert "in QBO (pull)" in text and "partly-paid 1" in text and "last pull" in text

    code, rows = as_json("invoices")
    got = by_id(rows)
    assert {"qbo_state", "qbo_balance"} <= set(rows[0])
    assert {i: (r["qbo_state"], r["qbo_balance"]) for i, r in got.items()} == {
        "i1": ("paid", "0.00"), "i2": ("partly-paid", "15.00"), "i3": ("voided", "0"),
        "i4": ("deleted", "0"), "i5": ("open", "30.00"), "i6": ("open", "25.00"),
    }  # fmt: skip
    assert {i for i, r in got.items() if r["problem"]} == {"i3", "i4", "i5"}
    assert {r["state"] for r in rows} == {"exported"}  # the platform's vocabulary is unchanged
    assert "void/delete it at the platform too, or re-create it in QBO" in got["i4"]["fix"]
    assert "total 25.00 -> 30.00" in got["i5"]["reason"]
    assert "voided in QBO while the platform still has it pending" in got["i3"]["reason"]
    code, problems = as_json("invoices", "--problems")
    assert code == 5 and {r["invoice_id"] for r in problems} == {"i3", "i4", "i5"}


def test_a_void_the_platform_already_settled_is_not_a_problem(world: SyncWorld) -> None:
    ids = export_invoices(world, 2)
    world.emu.void_invoice(ids["i1"])
    assert qbsync("pull", "-q").exit_code == 5  # pending at the platform: a problem
    rows = [
        {"invoice_id": f"i{n}", "member_id": "m1", "number": f"N-{n}", "status": "void",
         "created_at": (world.enabled_at).isoformat()}
        for n in (1, 2)
    ]  # fmt: skip
    world.write_invoices(rows)  # the platform voided it too
    code, invoices = as_json("invoices")
    assert code == 0
    got = by_id(invoices)
    assert got["i1"]["qbo_state"] == "voided" and not got["i1"]["problem"]


def test_invoices_on_a_terminal_shows_qbo_state_within_80_columns(
    world: SyncWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from qbsync.cli import render

    accountant_works(world)
    assert qbsync("pull", "-q").exit_code == 5
    lines: list[str] = []

    def terminal() -> Console:
        console = Console(force_terminal=True, width=80, highlight=False, no_color=True)
        console.print = lambda text, **_: lines.extend(str(text).splitlines())  # type: ignore[method-assign]
        return console

    piped_console = render.stdout_console
    monkeypatch.setattr(render, "stdout_console", terminal)
    assert qbsync("invoices").exit_code == 0
    assert any("(partly-paid, balance 15.00)" in ln for ln in lines), "\n".join(lines)
    assert any("(deleted)" in ln for ln in lines)
    assert max(len(ln) for ln in lines) <= 80, "\n".join(lines)
    monkeypatch.setattr(render, "stdout_console", piped_console)
    piped = qbsync("invoices").output.splitlines()  # not a terminal: every field, tab-separated
    assert piped[0].split("\t")[-2:] == ["qbo_state", "qbo_balance"]


def test_report_paid_in_qbo_per_day_csv_columns_and_verify_agrees_with_pull(
    world: SyncWorld, tmp_path: Path
) -> None:
    ids = accountant_works(world)
    assert qbsync("pull", "-q").exit_code == 5
    code, report = as_json("report", "--csv", str(tmp_path / "r.csv"))
    assert code == 0
    (day,) = report["days"]
    assert day["paid_in_qbo"] == "35.00"  # 25.00 on i1, 10.00 on i2, from pull's records
    assert report["totals"]["paid_in_qbo"] == "35.00"
    kinds = {p["state"] for p in report["problems"] if p["kind"] == "invoice"}
    assert {"deleted", "edited", "voided"} <= kinds
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[-2:] == ["qbo_state", "qbo_balance"]
    assert {r["invoice_id"]: r["qbo_state"] for r in rows}["i2"] == "partly-paid"
    text = qbsync("report").output
    assert "paid in QBO" in text and "35.00" in text

    # Verify right after the pull agrees with it; a payment pull has not seen yet is said.
    code, report = as_json("report", "--verify")
    assert report["verify"]["unpulled"] == []
    world.emu.record_payment({ids["i6"]: "5.00"})
    code, report = as_json("report", "--verify")
    (unseen,) = report["verify"]["unpulled"]
    assert unseen["invoice_id"] == "i6" and unseen["qbo_now"] == "partly-paid, balance 20.00"
    assert "pull has not seen that change yet (run qbsync pull)" in unseen["what"]
    text = qbsync("report", "--verify").output
    assert "pull has not seen that change yet" in text
    assert report["totals"]["paid_in_qbo"] == "35.00"  # the report says what pull recorded
    assert qbsync("pull", "-q").exit_code == 0  # only a payment: no new problem
    code, report = as_json("report", "--verify")
    assert report["verify"]["unpulled"] == []
    assert report["totals"]["paid_in_qbo"] == "40.00"


# -- pull on the one run record (task item 2) ------------------------------------------------------


def test_pull_json_is_the_run_record_and_the_runs_row_holds_it(world: SyncWorld) -> None:
    accountant_works(world)
    code, doc = as_json("pull")
    assert code == 5
    run = doc["run"]
    assert (run["version"], run["command"], run["status"], run["exit_code"]) == (
        2, "pull", "partial", 5,
    )  # fmt: skip
    assert run["id"] == doc["run_id"]
    actions = {(o["id"], o["action"]): o["result"] for o in run["outcomes"]}
    assert actions[("i1", "payment")] == "paid" and actions[("i1", "paid")] == "paid"
    assert actions[("i2", "payment")] == "partly-paid"
    assert actions[("i4", "deleted")] == "deleted" and actions[("i5", "edited")] == "edited"
    assert run["counts"] == {"deleted": 1, "edited": 1, "paid": 1, "partly-paid": 1, "voided": 1}
    fixes = {p["record"]: p["fix"] for p in run["problems"]}
    assert set(fixes) == {"i3", "i4", "i5"}
    assert fixes["i4"] == "void/delete it at the platform too, or re-create it in QBO"
    assert doc["summary"]["problems"] == run["problems"]  # one record, two views of it
    with world.state() as state:  # the runs row holds that record, as export's and connect's do
        stored = state.runs.get(doc["run_id"])
        assert stored is not None and stored.outcome == "partial"
        assert stored.summary is not None and stored.summary["outcomes"] == run["outcomes"]
        assert stored.summary["problems"] == run["problems"]
    code, shown = as_json("runs", str(doc["run_id"]))
    assert code == 0 and shown["run"]["record"]["problems"] == run["problems"]
    text = qbsync("runs", str(doc["run_id"])).output
    assert "deleted in QBO" in text and "payment 25.00 applied in QBO" in text


def test_pull_quiet_prints_only_problems_on_stderr_and_exits_5(world: SyncWorld) -> None:
    ids = export_invoices(world, 3)
    world.emu.record_payment({ids["i1"]: "25.00"})
    result = qbsync("pull", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")  # payments only
    world.emu.delete_invoice(ids["i2"])
    world.emu.void_invoice(ids["i3"])
    result = qbsync("pull", "-q")
    assert result.exit_code == 5 and result.stdout == ""
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("invoice ")]
    assert len(lines) == 2, result.stderr
    assert any("i2" in ln and "deleted in QBO" in ln and "re-create it" in ln for ln in lines)
    with world.state() as state:
        assert state.pulls.qbo_state("i2").state == "deleted"  # type: ignore[union-attr]


def test_pull_log_file_lines_carry_the_run_id(world: SyncWorld, tmp_path: Path) -> None:
    ids = export_invoices(world, 2)
    world.emu.record_payment({ids["i1"]: "10.00"}, reference="R-7")
    world.emu.delete_invoice(ids["i2"])
    log_file = tmp_path / "qbsync.log"
    result = CliRunner().invoke(cli, ["--log-file", str(log_file), "pull", "-q"])
    assert result.exit_code == 5
    with world.state() as state:
        (run,) = state.runs.last(1, command="pull")
    lines = log_file.read_text().splitlines()
    mine = [ln for ln in lines if f"run {run.id} pull:" in ln]
    assert any("started" in ln for ln in mine)
    assert any("invoice i1 #N-1: partly-paid" in ln and "amount 10.00" in ln for ln in mine)
    assert any("invoice i2 #N-2: deleted" in ln for ln in mine)
    assert any("finished partial (exit 5" in ln for ln in mine), "\n".join(lines)
