"""`qbsync link`, `unlink`, `links` and connect-members' refusals, in process (CliRunner)
against the emulator: the state database and the emulator's company are checked after each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from e2e.sync_helpers import SyncWorld, make_sync_world, member
from qbsync.cli.main import cli
from qbsync.emulator import Emulator

EMILY_ID, NORTHSIDE_ID, GARY_ID = "1", "2", "3"  # the seed's customers; Gary Holt is inactive
MEMBERS = [
    member("m1", "emily.platt@example.com", "Emily", "Platt"),
    member("m2", "nia.obi@example.com", "Nia", "Obi"),
    member("m3", "twins@example.com", "Tom", "Twin"),
]


@pytest.fixture
def world(home: Any, emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        w = make_sync_world(emulator_config, emu)
        for name in ("Twin A", "Twin B"):
            emu.company.create(
                "Customer",
                {"DisplayName": name, "PrimaryEmailAddr": {"Address": "twins@example.com"}},
            )
        w.write_members(MEMBERS)
        yield w


def qbsync(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def connect(*more: str) -> Result:
    """connect-members --yes: m3 shares its email with two QBO customers, so m3 needs review,
    a problem: listed, and the run exits 5 (issue 13: cron sees every problem)."""
    result = qbsync("connect-members", "--yes", *more)
    assert result.exit_code == 5, result.output
    assert "member m3 needs-review" in result.output
    return result


def _twins(world: SyncWorld) -> list[str]:
    return [c["Id"] for c in world.customers_with("twins@example.com")]


def _links(world: SyncWorld) -> dict[str, tuple[str, str]]:
    with world.state() as state:
        return {m: (link.customer_id, link.how) for m, link in state.members.links().items()}


def test_a_manual_link_sticks_across_connect_members(world: SyncWorld) -> None:
    connect()
    assert _links(world)["m1"] == (EMILY_ID, "auto")
    result = qbsync("link", "emily.platt@example.com", NORTHSIDE_ID)
    assert result.exit_code == 0, result.output
    assert "by hand" in result.output
    assert _links(world)["m1"] == (NORTHSIDE_ID, "manual")
    connect("--full")
    assert _links(world)["m1"] == (NORTHSIDE_ID, "manual")
    listed = json.loads(qbsync("links", "--status", "manual", "--json").output)["members"]
    assert [(r["member"], r["customer_id"]) for r in listed] == [("m1", NORTHSIDE_ID)]
    assert listed[0]["customer_name"] == "Northside Books"


def test_link_without_an_id_lists_candidates_as_json(world: SyncWorld) -> None:
    connect()
    result = qbsync("link", "m3", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["member"] == "m3"
    assert sorted(c["id"] for c in doc["candidates"]) == sorted(_twins(world))
    assert all(c["emails"] == ["twins@example.com"] and c["active"] for c in doc["candidates"])
    searched = json.loads(qbsync("link", "m3", "--search", "Northside", "--json").output)
    assert [c["id"] for c in searched["candidates"]] == [NORTHSIDE_ID]
    assert "m3" not in _links(world)  # listing picks nothing
    # Without a terminal to pick on, it says which command to run instead.
    table = qbsync("link", "m3")
    assert table.exit_code == 2
    assert "m3" not in _links(world)


@pytest.mark.parametrize("customer_id", [GARY_ID, "9999"])
def test_link_to_an_inactive_or_missing_customer_is_refused(
    world: SyncWorld, customer_id: str
) -> None:
    connect()
    before = _links(world)
    result = qbsync("link", "m1", customer_id)
    assert result.exit_code == 2, result.output
    assert ("inactive" if customer_id == GARY_ID else "no customer 9999") in result.output
    assert _links(world) == before
    assert world.emu.company.read("Customer", GARY_ID)["Active"] is False


def test_unlink_keeps_the_member_out_of_connect_members(world: SyncWorld) -> None:
    connect()
    result = qbsync("unlink", "m1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["was_linked_to"] == EMILY_ID
    assert "m1" not in _links(world)
    customers = len(world.customers())
    connect("--full")
    assert "m1" not in _links(world)
    assert len(world.customers()) == customers
    listed = json.loads(qbsync("links", "--status", "unlinked", "--json").output)["members"]
    assert [r["member"] for r in listed] == ["m1"]
    # Linking by hand again ends the unlink.
    assert qbsync("link", "m1", EMILY_ID).exit_code == 0
    assert _links(world)["m1"] == (EMILY_ID, "manual")
    assert json.loads(qbsync("links", "--status", "unlinked", "--json").output)["members"] == []


def test_links_filters_by_status(world: SyncWorld) -> None:
    world.write_members(
        [*MEMBERS, member("m4", ""), member("m5", "gone@example.com", status="left")]
    )
    connect()

    def status(name: str) -> list[str]:
        result = qbsync("links", "--status", name, "--json")
        assert result.exit_code == 0, result.output
        return [r["member"] for r in json.loads(result.output)["members"]]

    assert status("auto") == ["m1"]
    assert status("created") == ["m2"]
    assert status("needs-review") == ["m3"]
    assert status("no-email") == ["m4"]
    assert status("inactive") == ["m5"]
    table = qbsync("links")
    assert table.exit_code == 0
    for mid in ("m1", "m2", "m3", "m4", "m5"):
        assert mid in table.output


def test_a_new_member_without_email_is_listed_even_when_nothing_goes_to_qbo(
    world: SyncWorld,
) -> None:
    connect()
    world.write_members([*MEMBERS, member("m7", "")])
    connect()
    listed = json.loads(qbsync("links", "--status", "no-email", "--json").output)["members"]
    assert [r["member"] for r in listed] == ["m7"]
    with world.state() as state:  # the roster row itself, and a run recorded for it
        assert state.members.roster()["m7"].status == "no_email"
        assert [r.command for r in state.runs.last(2)] == ["connect-members"] * 2


def test_without_a_terminal_and_without_yes_nothing_changes(world: SyncWorld) -> None:
    customers = world.customers()
    result = qbsync("connect-members")
    assert result.exit_code == 2, result.output
    assert "--yes" in result.output
    assert world.customers() == customers
    assert world.emu.request_count("/v3/company/*/batch") == 0
    with world.state() as state:
        assert state.members.links() == {}
        # The run starts first (issue 13), so the refusal is in `runs`, as export's is.
        (run,) = state.runs.last(5)
        assert run.command == "connect-members" and run.outcome == "error"


def test_dry_run_changes_nothing(world: SyncWorld) -> None:
    customers = world.customers()
    result = qbsync("connect-members", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["dry_run"] is True and doc["plan"]["link"] == 1 and doc["plan"]["create"] == 1
    assert world.customers() == customers
    assert world.emu.request_count("/v3/company/*/batch") == 0
    with world.state() as state:
        assert state.members.links() == {}
        assert state.members.pending() == []
        assert state.runs.last(5) == []


def test_a_manual_link_to_a_customer_merged_away_is_reported_as_failed(world: SyncWorld) -> None:
    connect()
    assert qbsync("link", "m1", NORTHSIDE_ID).exit_code == 0
    world.emu.merge_customers(NORTHSIDE_ID, EMILY_ID)
    result = qbsync("connect-members", "--yes")
    assert result.exit_code == 5, result.output
    assert "member m1" in result.output and "no longer has" in result.output
    assert _links(world)["m1"] == (NORTHSIDE_ID, "manual")  # kept for the operator to decide
    listed = json.loads(qbsync("links", "--status", "manual", "--json").output)["members"]
    assert [r["member"] for r in listed] == ["m1"]
    with world.state() as state:
        run = state.runs.last(1)[0]
        assert run.command == "connect-members" and run.outcome == "partial"


def test_link_to_a_customer_linked_to_another_member_is_refused_unless_forced(
    world: SyncWorld,
) -> None:
    connect()
    before = _links(world)
    assert before["m1"] == (EMILY_ID, "auto") and before["m2"][0] != EMILY_ID
    refused = qbsync("link", "m2", EMILY_ID)
    assert refused.exit_code == 2, refused.output
    assert "linked to member m1" in refused.output and "--force" in refused.output
    assert _links(world) == before
    # The search shows who each candidate is linked to (JSON and table).
    doc = json.loads(qbsync("link", "m2", "--search", "Emily", "--json").output)
    assert [(c["id"], c["linked_to"]) for c in doc["candidates"]] == [(EMILY_ID, ["m1"])]
    table = qbsync("link", "m2", "--search", "Emily")
    assert "linked to" in table.output and "m1" in table.output
    forced = qbsync("link", "m2", EMILY_ID, "--force")
    assert forced.exit_code == 0, forced.output
    after = _links(world)
    assert after["m2"] == (EMILY_ID, "manual") and after["m1"] == (EMILY_ID, "auto")
