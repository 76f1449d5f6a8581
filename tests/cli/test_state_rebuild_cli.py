"""A lost state: `auth` keeps enabled_at (the config's), syncing commands refuse, and
`qbsync state rebuild` restores the exported invoices and links from QBO's markers, so the next
export sends only the invoices never exported (counted in the emulator). `--fresh` starts over."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from e2e.sync_helpers import CLIENT_ID, CLIENT_SECRET, SyncWorld, make_sync_world, member
from qbsync.cli.main import cli
from qbsync.emulator import Emulator
from qbsync.state.db import State

PASTE_REDIRECT = "https://example.com/qbsync/callback"


@pytest.fixture
def world(home: Any, emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        w = make_sync_world(emulator_config, emu)
        emu.add_client(CLIENT_ID, CLIENT_SECRET, [PASTE_REDIRECT])
        w.write_members(
            [
                member("m1", "emily.platt@example.com", "Emily", "Platt"),
                member("m2", "nia.obi@example.com", "Nia", "Obi"),
            ]
        )
        w.write_invoices(_invoices(w, "i1", "i2"))
        yield w


def _invoices(w: SyncWorld, *ids: str) -> list[dict[str, Any]]:
    rows = {
        "i1": {"invoice_id": "i1", "member_id": "m1", "number": "1001"},
        "i2": {"invoice_id": "i2", "member_id": "m2", "number": "1002"},
        "i3": {"invoice_id": "i3", "member_id": "m1", "number": "1003"},
    }
    at = w.enabled_at + timedelta(hours=2)
    return [{**rows[i], "created_at": at} for i in ids]


def qbsync(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def config_enabled_at(w: SyncWorld) -> Any:
    return tomllib.loads(w.config_path.read_text()).get("export", {}).get("enabled_at")


def login_again(w: SyncWorld) -> Result:
    """`qbsync auth` through the paste flow (the emulator consents at once)."""
    text = w.config_path.read_text()
    w.config_path.write_text(text.replace("http://localhost:8765/callback", PASTE_REDIRECT))
    url = qbsync("auth", "--print-url").stdout.strip()
    landed = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    return qbsync("auth", "--redirect-url", landed)


def export_two(w: SyncWorld) -> None:
    assert qbsync("connect-members", "--yes").exit_code == 0
    done = qbsync("export", "--yes", "--json")
    assert json.loads(done.stdout)["summary"]["exported"] == 2, done.output
    assert len(w.invoices()) == 2


def test_a_lost_state_is_refused_then_rebuilt_and_only_the_new_invoice_goes(
    world: SyncWorld,
) -> None:
    export_two(world)
    # A config from before the key existed got the state's enabled_at on the first command.
    assert datetime.fromisoformat(config_enabled_at(world)) == world.enabled_at
    links = world.links()
    world.write_invoices(_invoices(world, "i1", "i2", "i3"))  # i3: pending, never exported
    State.delete_files(world.state_path)

    # auth on the new state keeps the config's enabled_at and leaves the state unbound.
    auth = login_again(world)
    assert auth.exit_code == 0, auth.output
    assert "state rebuild" in auth.output
    with world.state() as state:
        assert state.realm_id is None and state.exports.all() == []

    refused = qbsync("export", "--yes")
    assert refused.exit_code == 2, refused.output
    assert "qbsync state rebuild" in refused.output and "--fresh" in refused.output
    assert qbsync("connect-members", "--yes").exit_code == 2
    assert len(world.invoices()) == 2
    with world.state() as state:
        assert state.exports.all() == [] and state.members.links() == {}

    rebuilt = qbsync("state", "rebuild", "--yes", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    summary = json.loads(rebuilt.stdout)["summary"]
    assert summary["restored"] == 2 and summary["links_restored"] == 2
    with world.state() as state:
        assert state.realm_id == world.emu.realm_id
        assert state.enabled_at == world.enabled_at
        assert state.exports.states() == {"i1": "exported", "i2": "exported"}
        by_id = {r.invoice_id: r for r in state.exports.all()}
        assert by_id["i1"].member_id == "m1" and by_id["i1"].customer_id == links["m1"]
    assert world.links() == links

    done = qbsync("export", "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["summary"]["exported"] == 1
    invoices = world.invoices()
    assert len(invoices) == 3  # i1 and i2 were not sent again
    assert all(n == 1 for n in world.marker_counts().values())
    assert {i["CustomerRef"]["value"] for i in invoices} == set(links.values())


def test_rebuild_dry_run_changes_nothing(world: SyncWorld) -> None:
    export_two(world)
    State.delete_files(world.state_path)
    result = qbsync("state", "rebuild", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["restored"] == 2
    with world.state() as state:
        assert state.realm_id is None and state.exports.all() == []
        assert state.members.links() == {} and state.runs.last(5) == []


def test_rebuild_without_a_terminal_and_without_yes_changes_nothing(world: SyncWorld) -> None:
    export_two(world)
    State.delete_files(world.state_path)
    result = qbsync("state", "rebuild")
    assert result.exit_code == 2, result.output
    with world.state() as state:
        assert state.realm_id is None and state.exports.all() == []


def test_rebuild_a_second_time_restores_nothing_more(world: SyncWorld) -> None:
    export_two(world)
    State.delete_files(world.state_path)
    assert qbsync("state", "rebuild", "--yes").exit_code == 0
    again = qbsync("state", "rebuild", "--yes", "--json")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)["summary"]
    assert summary["restored"] == 0 and summary["already_exported"] == 2
    assert summary["links_restored"] == 0


def test_fresh_start_asks_then_exports_only_what_is_created_from_now(world: SyncWorld) -> None:
    export_two(world)
    State.delete_files(world.state_path)
    world.write_invoices(_invoices(world, "i1", "i2", "i3"))
    declined = qbsync("state", "rebuild", "--fresh", input="n\n")
    assert declined.exit_code == 2
    with world.state() as state:
        assert state.realm_id is None
    before = datetime.now(UTC)
    assert qbsync("state", "rebuild", "--fresh", "--yes").exit_code == 0
    with world.state() as state:
        assert state.realm_id == world.emu.realm_id
        assert state.enabled_at is not None and state.enabled_at >= before
        assert datetime.fromisoformat(config_enabled_at(world)) == state.enabled_at
    done = qbsync("export", "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["summary"]["exported"] == 0
    assert len(world.invoices()) == 2
    # --fresh only starts over a state without history.
    assert qbsync("state", "rebuild", "--fresh", "--yes").exit_code == 2


def test_a_config_that_never_recorded_enabled_at_needs_it_given(world: SyncWorld) -> None:
    export_two(world)
    world.write_config()  # the key dropped (a config from before it existed)
    State.delete_files(world.state_path)
    refused = qbsync("export", "--yes")  # tokens are stored: connected before
    assert refused.exit_code == 2 and "state rebuild" in refused.output
    missing = qbsync("state", "rebuild", "--yes")
    assert missing.exit_code == 2 and "--enabled-at" in missing.output
    given = world.enabled_at.isoformat()
    result = qbsync("state", "rebuild", "--yes", "--enabled-at", given, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["restored"] == 2
    assert datetime.fromisoformat(config_enabled_at(world)) == world.enabled_at
    with world.state() as state:
        assert state.enabled_at == world.enabled_at


def test_status_shows_the_config_enabled_at_and_the_missing_history(world: SyncWorld) -> None:
    export_two(world)
    State.delete_files(world.state_path)
    result = qbsync("status", "--json")
    doc = json.loads(result.stdout)
    assert datetime.fromisoformat(doc["enabled_at"]) == world.enabled_at
    assert any("state rebuild" in w for w in doc["warnings"])
