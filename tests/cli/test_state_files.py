"""Broken files under the data folder end a command with a clear error and exit 2 (never
"unexpected ...", exit 1), and no hint says to move the state aside: it holds the export history."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qbsync.cli.main import cli
from qbsync.state.db import State

CLIENT_ID = "state-files-client"
CLIENT_SECRET = "state-files-secret-9a8b7c"


@pytest.fixture
def setup(emulator: Any, emulator_config: Any) -> Any:
    return emulator_config(emulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


def _links(setup: Any) -> Result:
    # `links` opens the state under the run lock and needs no QBO connection.
    return CliRunner().invoke(cli, ["links"])


def _assert_clear_exit_2(result: Result, *names: str) -> None:
    assert result.exit_code == 2, result.output
    assert "unexpected" not in result.stderr and "Traceback" not in result.output
    for name in names:
        assert name in result.stderr
    assert "aside" not in result.stderr


def _state(setup: Any) -> Path:
    return Path(setup.data_dir) / "state.sqlite3"


def test_scrambled_pages_exit_2_naming_the_file(setup: Any) -> None:
    state = _state(setup)
    with State.open(state) as opened:
        for n in range(200):
            opened.runs.finish(opened.runs.start(f"cmd{n}"), "ok", {"n": n})
    data = bytearray(state.read_bytes())
    noise = random.Random(3)
    data[4096:] = bytes(noise.randrange(256) for _ in range(len(data) - 4096))
    state.write_bytes(bytes(data))
    result = _links(setup)
    _assert_clear_exit_2(result, str(state), "damaged", "state rebuild")


def test_an_empty_state_file_exits_2_and_stays_empty(setup: Any) -> None:
    state = _state(setup)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"")
    result = _links(setup)
    _assert_clear_exit_2(result, str(state), "empty")
    assert state.read_bytes() == b""


def test_a_read_only_state_exits_2_naming_it(setup: Any) -> None:
    state = _state(setup)
    State.open(state).close()
    state.chmod(0o400)
    result = _links(setup)
    _assert_clear_exit_2(result, str(state), "cannot be written", f"chmod u+rw {state}")


def test_run_lock_as_a_folder_exits_2_naming_it(setup: Any) -> None:
    lock = Path(setup.data_dir) / "run.lock"
    lock.mkdir(parents=True)
    result = CliRunner().invoke(cli, ["unlink", "m-1"])  # takes the run lock first
    _assert_clear_exit_2(result, str(lock), "is a folder")
