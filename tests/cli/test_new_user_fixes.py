"""What a new user found (fixes 3, 5, 6, 7, 8, 9, 10), each pinned by a test that fails without
the fix. Exit-code agreement (7) is in test_exit_codes.py, the OAuth messages (8) in
tests/unit/test_oauth.py."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from qbsync.auth.credentials import open_store
from qbsync.cli.main import _setup_logging, cli
from qbsync.paths import profile_data_dir, user_config_dir

CLIENT_ID = "fixes-client"
CLIENT_SECRET = "fixes-secret-value-5e6f7a"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def _out(result: Result) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def setup(emulator: Any, emulator_config: Any) -> Any:
    return emulator_config(emulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """A browser that logs in: follows the authorize redirect to the loopback catcher."""

    def open_browser(url: str, *args: object, **kwargs: object) -> bool:
        landed = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
        requests.get(landed, timeout=10)
        return True

    monkeypatch.setattr("webbrowser.open", open_browser)


# -- 3: auth ------------------------------------------------------------------------------------


def test_fix3_no_browser_and_no_terminal_fails_at_once_with_the_two_step_login(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: False)  # nothing can be opened
    started = time.monotonic()
    result = run("auth", "--timeout", "60")  # CliRunner: no terminal
    assert time.monotonic() - started < 10  # not the 60 s timeout
    assert result.exit_code == 2, _out(result)
    assert "no browser could be opened and there is no terminal" in result.stderr
    assert (
        "Next step: run `qbsync auth --print-url`, then `qbsync auth --redirect-url '<address>'`"
        in result.stderr
    )
    assert setup.token_posts() == 0


def test_fix3_already_connected_says_to_which_company_and_what_reconnecting_does(
    setup: Any, emulator: Any, browser: None
) -> None:
    first = run("auth", "--timeout", "20")
    assert first.exit_code == 0, _out(first)
    assert "Already connected" not in _out(first)
    again = run("auth", "--timeout", "20")
    assert again.exit_code == 0, _out(again)
    assert (
        f"Already connected to Sunrise Mailbox Co (emulated), company {emulator.realm_id}. "
        "Logging in again replaces the stored tokens: the same company keeps its links and "
        "export history; another company is refused unless --fresh-state"
    ) in " ".join(again.stderr.split())


# -- 5: init --force --token-store file keeps every other setting, without a question ----------

OLD_CONFIG = """\
[qbo]
environment = "http://127.0.0.1:4116"
client_id = "emu-client-1"
redirect_uri = "http://127.0.0.1:9123/cb"
scopes = ["com.intuit.quickbooks.accounting"]
timeout_seconds = 12

[tokens]
store = "{store}"

[source]
type = "csv"
members = "/srv/members.csv"

[export]
days = [1, 15]
"""


def _old_config(store: str) -> Path:
    path = user_config_dir() / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OLD_CONFIG.format(store=store))
    return path


def test_fix5_force_token_store_file_keeps_the_rest_with_no_terminal(
    isolated_env: Path, fake_keyring: Any
) -> None:
    path = _old_config("keyring")
    open_store(
        "keyring", profile="default", data_dir=profile_data_dir("default")
    ).save_client_secret(CLIENT_SECRET)
    result = run("init", "--force", "--token-store", "file", input="")  # no terminal, no env
    assert result.exit_code == 0, _out(result)
    expected = tomllib.loads(OLD_CONFIG.format(store="file"))
    assert tomllib.loads(path.read_text()) == expected
    tokens_file = profile_data_dir("default") / "tokens.json"
    assert json.loads(tokens_file.read_text())["client_secret"] == CLIENT_SECRET  # moved over
    assert "moved the client secret to the file store" in result.stdout
    assert CLIENT_SECRET not in _out(result)


def test_fix5_force_with_an_unreadable_old_store_says_what_is_missing(isolated_env: Path) -> None:
    path = _old_config("keyring")  # and no keyring here: the secret cannot come over
    result = run("init", "--force", "--token-store", "file", input="")
    assert result.exit_code == 2, _out(result)
    assert "missing client secret" in result.stderr and "QBSYNC_CLIENT_SECRET" in result.stderr
    assert "cancelled" not in result.stderr  # no question was asked
    assert 'store = "keyring"' in path.read_text()  # untouched


# -- 6: disconnect asks first -------------------------------------------------------------------


def _connected(setup: Any, browser: None) -> Any:
    assert run("auth", "--timeout", "20").exit_code == 0
    tokens = setup.store().load_tokens()
    assert tokens is not None
    return tokens


def test_fix6_disconnect_without_a_terminal_or_yes_refuses_and_says_why(
    setup: Any, emulator: Any, browser: None
) -> None:
    tokens = _connected(setup, browser)
    result = run("disconnect")
    assert result.exit_code == 2, _out(result)
    assert "there is no terminal to confirm it on; nothing was changed" in result.stderr
    assert "Next step: run `qbsync disconnect --yes`" in result.stderr
    assert setup.store().load_tokens() == tokens
    assert emulator.token_state(tokens.refresh_token) == "active"


@pytest.mark.parametrize(("answer", "revoked"), [("n\n", False), ("y\n", True)])
def test_fix6_disconnect_on_a_terminal_asks_first(
    setup: Any,
    emulator: Any,
    browser: None,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    revoked: bool,
) -> None:
    tokens = _connected(setup, browser)
    monkeypatch.setattr("qbsync.cli.disconnect_cmd.stdin_is_terminal", lambda: True)
    result = run("disconnect", input=answer)
    assert "Revoke qbsync's access at the QBO emulator at" in result.stderr  # the question
    assert result.exit_code == (0 if revoked else 2), _out(result)
    state = "revoked" if revoked else "active"
    assert emulator.token_state(tokens.refresh_token) == state
    assert (setup.store().load_tokens() is None) == revoked


def test_fix6_disconnect_promises_only_what_is_kept(setup: Any, browser: None) -> None:
    _connected(setup, browser)
    state_path = setup.data_dir / "state.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_path}{suffix}").unlink(missing_ok=True)  # no local state any more
    result = run("disconnect", "--yes")
    assert result.exit_code == 0, _out(result)
    assert "Kept: the config, the client secret;" in result.stdout
    assert "links" not in result.stdout and "resumes" not in result.stdout


# -- 7: the same code for the same kind of problem ----------------------------------------------


def test_fix7_a_corrupt_token_file_and_a_corrupt_state_file_exit_alike(setup: Any) -> None:
    (setup.data_dir / "tokens.json").write_text("{not json")
    tokens = run("status")
    assert "is not a qbsync token file" in tokens.stderr
    # the secret went with the file: write a clean one, then break the state instead
    (setup.data_dir / "tokens.json").unlink()
    setup.store().save_client_secret(CLIENT_SECRET)
    (setup.data_dir / "state.sqlite3").write_bytes(b"this is not sqlite at all, not at all")
    state = run("status")
    assert "is not a SQLite database" in state.stderr
    assert tokens.exit_code == state.exit_code == 2


def test_fix7_json_errors_come_from_main_as_one_object(setup: Any) -> None:
    (setup.data_dir / "tokens.json").write_text("{not json")
    result = run("status", "--json")
    doc = json.loads(result.stdout)
    assert doc == {
        "ok": False,
        "error": doc["error"],
        "exit_code": 2,
        "hint": doc["hint"],
    }
    assert "is not a qbsync token file" in doc["error"]


# -- 8: a running emulator that fails is not asked whether it runs ------------------------------


def test_fix8_a_500_from_a_running_emulator_does_not_ask_whether_it_runs(
    setup: Any, emulator: Any, browser: None
) -> None:
    _connected(setup, browser)
    emulator.inject_fault("companyinfo", "error", status=500, count=10)
    result = run("status", "--check")
    assert result.exit_code == 1, _out(result)
    [hint] = [line for line in result.stderr.splitlines() if line.startswith("Next step:")]
    assert "is running but failed this request" in hint
    assert "emulator serve" not in hint and "is `qbsync" not in hint


# -- 9: warnings are one plain line -------------------------------------------------------------


def test_fix9_default_verbosity_warnings_are_one_plain_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        _setup_logging(0)
        logging.getLogger("qbsync.qbo.client").warning("QBO answered %s; retrying in 2 s", 503)
        assert capsys.readouterr().err == "warning: QBO answered 503; retrying in 2 s\n"
        _setup_logging(1)
        logging.getLogger("qbsync.qbo.client").warning("detail")
        assert capsys.readouterr().err == "WARNING qbsync.qbo.client: detail\n"
    finally:
        _setup_logging(0)


# -- 10: `qbsync --help` imports none of the heavy libraries ------------------------------------

HEAVY = ("requests_oauthlib", "quickbooks", "rich", "keyring", "requests")


def test_fix10_help_imports_no_heavy_library() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "qbsync", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    top = {name.split(".")[0] for name in imported}
    assert not top & set(HEAVY), sorted(top & set(HEAVY))
    assert "Commands:" in proc.stdout and "status" in proc.stdout
    assert not {
        name for name in imported if name.startswith("qbsync.cli.") and name.endswith("_cmd")
    }
