"""`qbsync invoices`, `hold` / `release` and status's counts by the vocabulary, in process
(CliRunner) against the emulator; asserting on what QBO and the state database hold."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
            {
                "invoice_id": "i3",
                "member_id": "m2",
                "number": "1003",
                "item_code": "Unmapped Thing",
            },
        )
        yield w


def qbsync(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _notes(world: SyncWorld) -> set[str]:
    return {str(i.get("PrivateNote")) for i in world.invoices()}


def test_a_held_invoice_is_not_exported_on_an_export_day_and_goes_once_released(
    world: SyncWorld,
) -> None:
    held = qbsync("hold", "i1", "i3", "--reason", "disputed by the member")
    assert held.exit_code == 0, held.output
    with world.state() as state:
        assert {k: h.reason for k, h in state.exports.holds().items()} == {
            "i1": "disputed by the member",
            "i3": "disputed by the member",
        }
    first = qbsync("export", "--if-due", "--as-of", "2099-01-05", "--json")
    assert first.exit_code == 0, first.output
    # i3 (an unmapped item) is held too: a stuck invoice no longer fails the run (exit 0).
    assert json.loads(first.stdout)["summary"]["skipped"].get("held") == 2
    assert "qbsync:i1 #1001;" not in _notes(world) and "qbsync:i2 #1002;" in _notes(world)
    with world.state() as state:
        assert state.exports.get("i1") is None
    listed = json.loads(qbsync("invoices", "--status", "held", "--json").stdout)
    assert [(e["invoice_id"], e["held_reason"]) for e in listed] == [
        ("i1", "disputed by the member"),
        ("i3", "disputed by the member"),
    ]

    released = qbsync("release", "i1")
    assert released.exit_code == 0 and "Released 1" in released.output
    second = qbsync("export", "--if-due", "--as-of", "2099-01-10", "--json")
    assert second.exit_code == 0, second.output
    assert "qbsync:i1 #1001;" in _notes(world)
    with world.state() as state:
        assert set(state.exports.holds()) == {"i3"}
        record = state.exports.get("i1")
        assert record is not None and record.state == "exported"


def test_holding_an_exported_invoice_is_refused_and_an_unknown_one_is_held_and_said(
    world: SyncWorld,
) -> None:
    assert qbsync("export", "--yes").exit_code == 5  # i3 refused: unmapped item
    refused = qbsync("hold", "i1", "--reason", "late")
    assert refused.exit_code == 2 and "already exported" in refused.output
    unknown = qbsync("hold", "i-future", "--reason", "not billed yet")
    assert unknown.exit_code == 0 and "not in the source" in unknown.output
    with world.state() as state:
        assert set(state.exports.holds()) == {"i-future"}
    assert "was not held" in qbsync("release", "i2").output


def test_invoices_lists_each_state_with_qbo_fields_and_the_fix(world: SyncWorld) -> None:
    assert qbsync("export", "--yes").exit_code == 5
    result = qbsync("invoices", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert isinstance(doc, list)  # a list of invoice objects (the contract)
    by_id = {e["invoice_id"]: e for e in doc}
    assert {i: e["state"] for i, e in by_id.items()} == {
        "i1": "exported",
        "i2": "exported",
        "i3": "refused",
    }
    with world.state() as state:
        i1 = state.exports.get("i1")
        assert i1 is not None
        assert list(state.exports.refusals()) == ["i3"]
    assert (by_id["i1"]["qbo_id"], by_id["i1"]["doc_number"]) == (i1.qbo_id, "1001")
    assert by_id["i1"]["platform_total"] == "25.00" and by_id["i1"]["qbo_total"] == "25.00"
    assert "Unmapped Thing" in by_id["i3"]["reason"] and "qbsync hold i3" in by_id["i3"]["fix"]
    counts = json.loads(qbsync("status", "--json").stdout)["invoices"]["by_state"]
    assert counts["refused"] == 1 and counts["waiting"] == 0

    problems = qbsync("invoices", "--problems")
    assert problems.exit_code == 5
    assert "i3" in problems.stdout and "i1\t" not in problems.stdout
    line = [ln for ln in problems.stdout.splitlines() if ln.startswith("i3\t")]
    assert len(line) == 1 and line[0].split("\t")[3] == "refused"  # piped: one record a line
    assert qbsync("invoices", "--member", "m1", "--json").output.count('"invoice_id"') == 1

    one = qbsync("invoices", "i1", "--json")
    history = json.loads(one.stdout)
    assert history["invoice"]["state"] == "exported"
    assert [h["outcome"] for h in history["history"]] == ["exported"]
    assert history["last_attempt"]["request_id"] == i1.request_id


def test_status_counts_by_the_vocabulary_and_check_fails_on_an_unreadable_source(
    world: SyncWorld,
) -> None:
    assert qbsync("export", "--yes").exit_code == 5
    doc = json.loads(qbsync("status", "--json").stdout)
    by_state = doc["invoices"]["by_state"]
    assert (by_state["exported"], by_state["refused"], by_state["waiting"]) == (2, 1, 0)

    (world.folder / "invoices.csv").unlink()
    text = qbsync("status")
    assert text.exit_code == 0
    assert "could not be read" in text.stdout
    check = qbsync("status", "--check")
    assert check.exit_code == 2, check.output
    assert "invoices.csv" in check.stderr
    as_json = qbsync("status", "--check", "--json")
    assert as_json.exit_code == 2
    checked = json.loads(as_json.stdout)
    assert (checked["ok"], checked["exit_code"]) == (False, 2)
    assert "invoices.csv" in checked["invoices"]["source_problem"]
    listing = qbsync("invoices")
    assert listing.exit_code == 0 and "could not be read" in listing.stderr
    assert "i1" in listing.stdout and "i3" in listing.stdout  # the state's rows
    assert qbsync("invoices", "--problems").exit_code == 5


def test_on_a_terminal_every_line_fits_80_columns(
    world: SyncWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from qbsync.cli import render

    assert qbsync("export", "--yes").exit_code == 5
    lines: list[str] = []

    def terminal() -> Console:
        console = Console(force_terminal=True, width=80, highlight=False, no_color=True)
        console.print = lambda text, **_: lines.extend(str(text).splitlines())  # type: ignore[method-assign]
        return console

    monkeypatch.setattr(render, "stdout_console", terminal)
    assert qbsync("invoices").exit_code == 0
    assert qbsync("invoices", "i3").exit_code == 0
    assert any("Unmapped Thing" in ln for ln in lines) and any("…" in ln for ln in lines)
    assert any(ln.startswith("  fix: fix the item_code") for ln in lines)
    assert max(len(ln) for ln in lines) <= 80, "\n".join(lines)
