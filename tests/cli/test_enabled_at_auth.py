"""`qbsync auth` records enabled_at in the config at the first connection and never moves it:
not when logging in again, not for a new state (the reproduction of the lost-state issue); only
`--fresh-state` for another company, which the operator confirms."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from typing import Any

import requests
from click.testing import CliRunner, Result

from qbsync.cli.main import cli
from qbsync.state.db import State

CLIENT_ID = "enabled-at-client"
CLIENT_SECRET = "enabled-at-secret-1a2b3c4d"
PASTE_REDIRECT = "https://example.com/qbsync/callback"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def login() -> Result:
    url = run("auth", "--print-url").stdout.strip()
    landed = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    return run("auth", "--redirect-url", landed)


def config_enabled_at(setup: Any) -> datetime | None:
    doc = tomllib.loads(setup.config_path.read_text())
    value = doc.get("export", {}).get("enabled_at")
    return datetime.fromisoformat(value) if value else None


def state_of(setup: Any) -> tuple[str | None, datetime | None]:
    with State.open(setup.data_dir / "state.sqlite3") as state:
        return state.realm_id, state.enabled_at


def test_first_auth_writes_enabled_at_and_a_new_state_does_not_move_it(
    home: Any, emulator: Any, emulator_config: Any
) -> None:
    setup = emulator_config(
        emulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=PASTE_REDIRECT
    )
    before = setup.config_path.read_text()
    first = login()
    assert first.exit_code == 0, first.output
    realm, enabled = state_of(setup)
    assert realm == emulator.realm_id and enabled is not None
    assert config_enabled_at(setup) == enabled
    assert setup.config_path.read_text().startswith(before)  # the rest of the file kept

    forced = run("init", "--force", "--yes")  # rewrites the config: the key is kept
    assert forced.exit_code == 0, forced.output
    assert config_enabled_at(setup) == enabled

    again = login()  # the same company, the state kept: nothing moves
    assert again.exit_code == 0, again.output
    assert state_of(setup) == (realm, enabled) and config_enabled_at(setup) == enabled

    State.delete_files(setup.data_dir / "state.sqlite3")
    lost = login()  # a new state: enabled_at stays the config's, the state waits for rebuild
    assert lost.exit_code == 0, lost.output
    assert "state rebuild" in lost.output
    assert state_of(setup) == (None, None)
    assert config_enabled_at(setup) == enabled
    rebuilt = run("state", "rebuild", "--yes")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert state_of(setup) == (realm, enabled)


def test_fresh_state_for_another_company_moves_enabled_at(
    home: Any, emulator: Any, emulator_config: Any
) -> None:
    setup = emulator_config(
        emulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=PASTE_REDIRECT
    )
    old = datetime(2025, 1, 1, tzinfo=UTC)
    setup.data_dir.mkdir(parents=True, exist_ok=True)
    with State.open(setup.data_dir / "state.sqlite3") as state:
        state.bind_realm("111", now=old, company_name="Old Books")
    assert run("status").exit_code == 3  # not connected; but the config learns enabled_at
    assert config_enabled_at(setup) == old
    url = run("auth", "--print-url").stdout.strip()
    landed = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    result = run("auth", "--redirect-url", landed, "--fresh-state", "--yes")
    assert result.exit_code == 0, result.output
    realm, enabled = state_of(setup)
    assert realm == emulator.realm_id and enabled is not None and enabled > old
    assert config_enabled_at(setup) == enabled
