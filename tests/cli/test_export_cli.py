"""`qbsync export` and `runs` in process (CliRunner) against the emulator: refusals, --dry-run,
--if-due's silence, and what the state records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
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
        two_members_two_invoices(w)
        yield w


def qbsync(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_without_a_terminal_and_without_yes_nothing_is_sent(world: SyncWorld) -> None:
    assert qbsync("connect-members", "--yes").exit_code == 0
    result = qbsync("export")
    assert result.exit_code == 2, result.output
    assert "--yes" in result.output or "--if-due" in result.output
    assert world.invoices() == []
    with world.state() as state:
        assert state.exports.all() == []
        run = state.runs.last(1)[0]
        assert run.command == "export" and run.outcome == "error"


def test_without_a_terminal_and_without_yes_no_member_is_connected_either(
    world: SyncWorld,
) -> None:
    customers = world.customers()
    result = qbsync("export")
    assert result.exit_code == 2, result.output
    assert "nothing was changed" in result.output
    assert world.customers() == customers
    assert world.emu.request_count("/v3/company/*/batch") == 0
    with world.state() as state:
        assert state.members.links() == {} and state.exports.all() == []


def test_dry_run_sends_nothing_and_connects_no_one(world: SyncWorld) -> None:
    customers = world.customers()
    result = qbsync("export", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["dry_run"] is True and doc["summary"]["exported"] == 0
    assert world.invoices() == [] and world.customers() == customers
    assert world.emu.request_count("/v3/company/*/batch") == 0
    with world.state() as state:
        assert state.exports.all() == [] and state.members.links() == {}
        assert state.runs.last(5) == []


def test_export_connects_new_members_first_and_the_alias_works(world: SyncWorld) -> None:
    result = qbsync("export-invoices", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["exported"] == 2
    links = world.links()
    assert set(links) == {"m1", "m2"}
    by_note = {i["PrivateNote"]: i for i in world.invoices()}
    assert by_note["qbsync:i1 #1001;"]["CustomerRef"]["value"] == links["m1"]
    assert by_note["qbsync:i2 #1002;"]["CustomerRef"]["value"] == links["m2"]
    with world.state() as state:
        assert state.exports.states() == {"i1": "exported", "i2": "exported"}


def test_if_due_when_not_due_says_so_in_json_and_sends_nothing(world: SyncWorld) -> None:
    assert qbsync("export", "--yes").exit_code == 0  # no export day served by this one
    day = "2099-01-05"
    assert qbsync("export", "--if-due", "--as-of", day).exit_code == 0
    world.emu.clear_requests()
    result = qbsync("export", "--if-due", "--as-of", "2099-01-06", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["due"] is False and doc["next_export_day"] == "2099-01-10"
    assert world.emu.request_count("/v3/company/*") == 0


def test_runs_lists_what_happened(world: SyncWorld) -> None:
    empty = qbsync("runs")
    assert empty.exit_code == 0 and "No runs recorded yet" in empty.output
    assert qbsync("connect-members", "--yes").exit_code == 0
    assert qbsync("export", "--yes").exit_code == 0
    result = qbsync("runs", "--json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["runs"]
    assert [(r["command"], r["outcome"]) for r in runs] == [
        ("export", "ok"),
        ("connect-members", "ok"),
    ]
    assert runs[0]["counts"]["exported"] == 2 and runs[1]["counts"]["created"] == 1
    table = qbsync("runs")
    assert "export" in table.output and "connect-members" in table.output


def test_as_of_after_today_serves_that_day_and_says_so(world: SyncWorld, tmp_path: Any) -> None:
    log_file = tmp_path / "qbsync.log"
    result = qbsync("--log-file", str(log_file), "export", "--if-due", "--as-of", "2099-01-07")
    assert result.exit_code == 0, result.output
    said = (
        "2099-01-05 is after today: it is now served; the run on 2099-01-05 will not export again"
    )
    assert said in result.output  # on the terminal (stderr) ...
    assert said in log_file.read_text()  # ... and in the log
    assert len(world.invoices()) == 2
    with world.state() as state:
        assert state.exports.served_after(date.today()) == [date(2099, 1, 5)]
    # status lists the day served ahead, as a problem with the way out.
    status = json.loads(qbsync("status", "--json").output)
    assert status["invoices"]["served_ahead"] == ["2099-01-05"]
    assert status["invoices"]["last_export_day"] != "2099-01-05"  # as export reads it
    assert any("2099-01-05" in p["what"] for p in status["invoices"]["problems"])
    text = qbsync("status").output
    assert "served ahead" in text and "2099-01-05" in text
    # A day not after today is served without a word.
    quiet = qbsync("export", "--if-due", "--as-of", date.today().isoformat())
    assert "is after today" not in quiet.output


def test_qbo_answering_503_to_every_batch_exits_1_says_so_and_runs_is_not_ok(
    world: SyncWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qbsync.qbo.session import RetryPolicy

    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.0)  # 5 tries, no waits
    assert qbsync("connect-members", "--yes").exit_code == 0
    world.emu.inject_fault("/batch", "error", status=503, count=1000)
    result = qbsync("export", "--yes", "-q")
    assert result.exit_code == 1, result.output
    assert "no clear answer" in result.output
    assert world.invoices() == []
    with world.state() as state:
        assert state.exports.states() == {"i1": "exporting", "i2": "exporting"}
        run = state.runs.last(1)[0]
        assert run.command == "export" and run.outcome == "unavailable"


def test_some_exported_and_some_without_an_answer_exits_5(
    world: SyncWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qbsync.qbo.session import RetryPolicy

    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.0)
    world.write_config(batch_size=1)
    assert qbsync("connect-members", "--yes").exit_code == 0
    world.emu.inject_fault("/batch", "drop", count=5)  # the first batch: every attempt lost
    result = qbsync("export", "--yes", "-q")
    assert result.exit_code == 5, result.output
    assert "1 got no clear answer" in result.output
    assert len(world.invoices()) == 1
    with world.state() as state:
        assert sorted(state.exports.states().values()) == ["exported", "exporting"]
        assert state.runs.last(1)[0].outcome == "partial"
