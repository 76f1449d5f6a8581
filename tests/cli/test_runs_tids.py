"""`qbsync runs` shows Intuit's transaction ids (Intuit's support asks for them), read from the
run_records rows a QBO error's outcome was recorded in."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from e2e.sync_helpers import SyncWorld, make_sync_world
from qbsync.cli.main import cli
from qbsync.emulator import Emulator
from qbsync.errors import QbsyncError
from qbsync.qbo.faults import parse_response

TID = "1-5f0c2a9e-7a1b4c"


@pytest.fixture
def world(home: Any, emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        yield make_sync_world(emulator_config, emu)


def qbsync(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _qbo_refusal() -> QbsyncError:
    """The error the gateway raises for a recorded 6240 answer carrying an intuit_tid header."""
    resp = requests.Response()
    resp.status_code = 400
    resp.headers["intuit_tid"] = TID
    resp._content = json.dumps(
        {
            "Fault": {
                "Error": [
                    {
                        "Message": "Duplicate Name Exists Error",
                        "Detail": "The name supplied already exists. : null",
                        "code": "6240",
                    }
                ],
                "type": "ValidationFault",
            }
        }
    ).encode()
    with pytest.raises(QbsyncError) as info:
        parse_response(resp)
    return info.value


def test_a_failed_record_keeps_the_tid_and_runs_shows_it(world: SyncWorld) -> None:
    error = _qbo_refusal()
    assert error.intuit_tid == TID
    with world.state() as state:
        run = state.runs.start("connect-members")
        # what members_apply / export_apply record: the error's message as the detail
        state.runs.record(run, "member", [("m1", "failed", error.message), ("m2", "created", None)])
        state.runs.finish(run, "partial", {"failed": 1, "failures": [error.message]})
        assert [o.intuit_tid for o in state.runs.outcomes(run)] == [TID, None]
    raw = sqlite3.connect(world.data_dir / "state.sqlite3")
    try:
        rows = raw.execute(
            "SELECT record_id, intuit_tid FROM run_records ORDER BY rowid"
        ).fetchall()
    finally:
        raw.close()
    assert rows == [("m1", TID), ("m2", None)]

    doc = json.loads(qbsync("runs", "--json").output)
    assert doc["runs"][0]["intuit_tids"] == [TID]
    table = qbsync("runs")
    assert table.exit_code == 0, table.output
    assert "Intuit transaction ids" in table.output and TID in table.output


def test_a_run_s_own_qbo_error_names_its_tid(world: SyncWorld) -> None:
    with world.state() as state:
        run = state.runs.start("export")
        state.runs.finish(
            run, "error", {"error": f"QBO error 3100: x (Intuit transaction id {TID})"}
        )
        clean = state.runs.start("export")
        state.runs.finish(clean, "ok", {})
    runs = json.loads(qbsync("runs", "--json").output)["runs"]
    assert [r["intuit_tids"] for r in runs] == [[], [TID]]


def test_runs_without_qbo_errors_show_no_tid_column(world: SyncWorld) -> None:
    with world.state() as state:
        state.runs.finish(state.runs.start("export"), "ok", {})
    table = qbsync("runs")
    assert table.exit_code == 0 and "Intuit transaction ids" not in table.output
