"""Cron sees every problem (issue 13): a real `qbsync` process with no terminal (stdin
/dev/null), `-q` and `--log-file`, as the README tells cron to run it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from e2e.sync_helpers import SyncWorld, make_sync_world, member
from qbsync.emulator import Emulator

pytestmark = pytest.mark.e2e

COLUMNS = ("invoice_id", "member_id", "number", "created_at", "status", "quantity", "unit_price",
           "item_code", "description", "total")  # fmt: skip


@pytest.fixture
def world(emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        w = make_sync_world(emulator_config, emu)
        for name in ("Twin A", "Twin B"):  # two customers share m3's email: m3 needs review
            emu.company.create(
                "Customer",
                {"DisplayName": name, "PrimaryEmailAddr": {"Address": "twins@example.com"}},
            )
        w.write_members(
            [
                member("m1", "emily.platt@example.com", "Emily", "Platt"),
                member("m3", "twins@example.com", "Tom", "Twin"),
            ]
        )
        yield w


def _write_invoices(world: SyncWorld, rows: list[dict[str, str]]) -> None:
    at = (world.enabled_at + timedelta(hours=1)).isoformat()
    with (world.folder / "invoices.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    "created_at": at,
                    "status": "pending",
                    "quantity": "1",
                    "unit_price": "25.00",
                    "item_code": "Mailbox Rental",
                    "description": "Mailbox",
                    "total": "",
                    **row,
                }
            )


def test_the_issue_s_cron_run_mails_every_problem_and_exits_5(world: SyncWorld) -> None:
    _write_invoices(
        world,
        [
            {"invoice_id": "ok", "member_id": "m1", "number": "1001"},
            # QBO will hold 25.00; the platform says 29.20: a total 4.20 lower than the platform's
            {"invoice_id": "short", "member_id": "m1", "number": "1002", "total": "29.20"},
            {"invoice_id": "bad", "member_id": "m1", "number": "1003", "quantity": "lots"},
            {"invoice_id": "twin", "member_id": "m3", "number": "1004"},
        ],
    )
    log_file = world.folder / "cron.log"
    # --yes: export connects the new members first (as under cron with --if-due).
    result = world.run("--log-file", str(log_file), "-q", "export", "--yes")
    assert result.code == 5, result
    assert result.out == "", result
    err = result.err
    assert "bad row" in err and "bad" in err and "quantity" in err  # the bad row, refused
    assert "invoice twin blocked (member m3)" in err  # the needs-review member's invoice
    assert "qbsync link m3" in err  # ... with its fix
    assert "invoice short #1002: QBO's total 25.00 differs from the platform's 29.20" in err
    # What was done is in the state and in QBO: ok and short exported, nothing else.
    with world.state() as state:
        states = state.exports.states()
        assert states == {"ok": "exported", "short": "exported"}
        (run,) = state.runs.last(1)
        assert run.outcome == "partial" and run.summary is not None
        assert run.summary["version"] == 2
        problems = {(p["state"], p["record"]) for p in run.summary["problems"]}
        assert {("blocked", "twin"), ("exported", "short")} <= problems
        assert any(p["kind"] == "source" for p in run.summary["problems"])
        short = state.exports.get("short")
        assert short is not None and short.qbo_id is not None
    assert len(world.invoices()) == 2
    # The log file: start and end with run id, command and outcome; a line per record.
    text = log_file.read_text()
    assert f"run {run.id} export: started" in text
    assert f"run {run.id} export: finished partial (exit 5" in text
    assert (
        f"run {run.id} export: invoice short #1002: exported, QBO Id {short.qbo_id}, "
        "amount 29.20, QBO total 25.00" in text
    )
    assert f"run {run.id} export: invoice twin: blocked" in text
    # `runs` says it was not ok, and `runs RUN_ID` lists every problem with its fix.
    listed = json.loads(world.run("runs", "--json").out)["runs"]
    assert listed[0]["outcome"] == "partial" and len(listed[0]["problems"]) >= 3
    one = world.run("runs", str(run.id))
    assert one.code == 0, one
    assert "qbsync link m3" in one.out and "invoice short" in one.out


def test_no_problem_means_no_output_at_all(world: SyncWorld) -> None:
    world.write_members([member("m1", "emily.platt@example.com", "Emily", "Platt")])
    _write_invoices(world, [{"invoice_id": "ok", "member_id": "m1", "number": "1001"}])
    result = world.run("-q", "export", "--yes")
    assert (result.code, result.out, result.err) == (0, "", ""), result
    with world.state() as state:
        assert state.exports.states() == {"ok": "exported"}


def test_a_source_that_cannot_be_read_is_mailed_on_a_day_that_is_not_due(
    world: SyncWorld,
) -> None:
    _write_invoices(world, [{"invoice_id": "ok", "member_id": "m1", "number": "1001"}])
    day = "2099-01-05"
    served = world.run("-q", "export", "--if-due", "--as-of", day)
    assert (served.code, served.out, served.err) == (0, "", ""), served
    (world.folder / "members.csv").unlink()
    result = world.run("-q", "export", "--if-due", "--as-of", "2099-01-06")
    assert result.code == 5, result
    assert "the source cannot be read" in result.err
    assert result.out == ""
