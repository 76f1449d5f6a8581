"""The run record's views (issue 13): Ctrl-C, `runs RUN_ID`, previews that never cut silently,
the export summary's "not sent, and why", answering "no" to connecting, QBO unreachable, old
summaries read by `runs`. In process (CliRunner) against the emulator."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
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
        two_members_two_invoices(w, {"invoice_id": "lost", "member_id": "m9", "number": "9"})
        yield w


def qbsync(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)


def test_ctrl_c_records_the_invoices_in_flight_and_runs_shows_them(
    world: SyncWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert qbsync("connect-members", "--yes").exit_code == 0

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # while the batch is out: the rows are marked exporting

    monkeypatch.setattr("qbsync.qbo.client.QboClient.batch", interrupted)
    result = qbsync("export", "--yes")
    assert result.exit_code == 130, result.output
    with world.state() as state:
        assert state.exports.states() == {"i1": "exporting", "i2": "exporting"}
        (run,) = state.runs.last(1)
        assert run.outcome == "interrupted" and run.summary is not None
        assert sorted(run.summary["in_flight"]) == ["i1", "i2"]
    one = qbsync("runs", str(run.id))
    assert one.exit_code == 0, one.output
    assert "i1" in one.output and "the next run settles them" in one.output


def test_answering_no_to_connecting_blocks_those_invoices_and_goes_on(
    world: SyncWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qbsync.cli.export_cmd.stdin_is_terminal", lambda: True)
    customers = world.customers()
    # "n": do not connect the two new members; "y": send what can go (nothing: both blocked).
    result = qbsync("export", input="n\ny\n")
    assert result.exit_code == 5, result.output
    assert "invoice i1 blocked (member m1)" in result.output
    assert world.customers() == customers and world.invoices() == []
    with world.state() as state:
        assert state.members.links() == {} and state.exports.all() == []
        (run,) = state.runs.last(1)
        assert run.outcome == "partial" and run.summary is not None
        assert run.summary["declined_members"] == ["m1", "m2"]
        assert {p["record"]: p["state"] for p in run.summary["problems"]} == {
            "i1": "blocked",
            "i2": "blocked",
            "lost": "blocked",
        }


def test_summary_says_what_was_not_sent_and_why_by_state(world: SyncWorld) -> None:
    result = qbsync("export", "--yes")
    assert result.exit_code == 5, result.output  # "lost" names a member the source lacks
    assert "blocked                1 member not in the source" in result.output
    doc = json.loads(qbsync("runs", "--json").output)["runs"][0]
    assert doc["counts"]["exported"] == 2 and doc["counts"]["blocked"] == 1


def test_a_dry_run_plans_the_connect_step_and_lists_newcomers_invoices_as_they_would_go(
    world: SyncWorld,
) -> None:
    customers = world.customers()
    result = qbsync("export", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["summary"]["to_export"] == 2  # before: both skipped as "not connected"
    assert doc["summary"]["not_sent"] == {"blocked": {"member not in the source": 1}}
    assert world.customers() == customers and world.invoices() == []
    with world.state() as state:
        assert state.members.links() == {} and state.runs.last(5) == []


def test_previews_never_cut_silently_and_dry_run_q_prints_nothing_without_problems(
    world: SyncWorld,
) -> None:
    at = world.enabled_at + timedelta(hours=2)
    world.write_invoices(
        [
            {"invoice_id": f"i{n}", "member_id": "m1", "number": str(n), "created_at": at}
            for n in range(14)
        ]
        + [
            {
                "invoice_id": "bad",
                "member_id": "m2",
                "number": "7",
                "created_at": at,
                "currency": "EUR",
            }
        ]
    )
    result = qbsync("export", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "and 4 more (--json for all)" in result.output
    refused = [ln for ln in result.output.splitlines() if ln.startswith("bad ")]
    assert refused and refused[0].split()[1] == "m2"  # the member column is filled
    quiet = qbsync("export", "--dry-run", "-q")
    assert quiet.exit_code == 0
    assert quiet.stdout == ""
    assert "invoice bad refused" in quiet.stderr and "i3" not in quiet.stderr


def test_runs_fits_80_columns_has_limit_help_and_reads_old_summaries(world: SyncWorld) -> None:
    with world.state() as state:  # rows as older versions stored them
        old = state.runs.start("export")
        state.runs.finish(
            old, "partial", {"exported": 3, "failed": 1, "failures": ["invoice x: no"]}
        )
        state.runs.start("connect-members")  # left running: closed as interrupted below
    assert qbsync("connect-members", "--yes").exit_code == 0
    table = qbsync("runs")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert max(len(line) for line in lines[:4]) <= 80, lines  # the header and three runs
    runs = json.loads(qbsync("runs", "--json").output)["runs"]
    assert [r["outcome"] for r in runs] == ["ok", "interrupted", "partial"]
    assert runs[2]["counts"] == {"exported": 3, "failed": 1}
    assert runs[2]["problems"] == ["invoice x: no"]
    one = qbsync("runs", str(old))
    assert "invoice x: no" in one.output
    assert "How many runs to list" in qbsync("runs", "--help").output
    assert qbsync("runs", "999").exit_code == 2


def test_qbo_unreachable_gives_status_check_s_hint(world: SyncWorld) -> None:
    text = world.config_path.read_text().replace(world.emu.base_url, "http://127.0.0.1:9")
    world.config_path.write_text(text)  # nothing listens there
    check = qbsync("status", "--check")
    export = qbsync("export", "--yes")
    members = qbsync("connect-members", "--yes")
    assert export.exit_code == 1 and members.exit_code == 1
    (hint,) = [ln for ln in check.output.splitlines() if "start it" in ln.lower()]
    said = hint.split(":", 1)[1].strip()  # "... is the emulator running? Start it ..."
    assert said in export.output and said in members.output, (check.output, export.output)


def test_retry_delays_print_as_whole_seconds(caplog: pytest.LogCaptureFixture) -> None:
    from qbsync.qbo.session import whole_seconds

    assert whole_seconds(1.7320508) == 2 and whole_seconds(2.0) == 2
    with caplog.at_level(logging.WARNING):
        logging.getLogger("x").warning("retrying in %d s", whole_seconds(0.25))
    assert "retrying in 1 s" in caplog.text
