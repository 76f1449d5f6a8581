"""`qbsync auth` and `qbsync disconnect` through CliRunner, against an in-process emulator."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner, Result

from qbsync.auth.credentials import open_store
from qbsync.auth.pending import PENDING_FILE
from qbsync.cli import auth_cmd
from qbsync.cli.main import cli
from qbsync.locks import run_lock
from qbsync.paths import profile_data_dir, user_config_dir
from qbsync.state.db import State

CLIENT_ID = "cli-test-client"
CLIENT_SECRET = "cli-test-secret-value-9f8e7d"
TOKEN_PATH = "POST /oauth2/v1/tokens/bearer"
PASTE_REDIRECT = "https://example.com/qbsync/callback"


@pytest.fixture
def make_setup(emulator_config: Any) -> Callable[..., Any]:
    """Config at the default path, the client registered with the emulator, secret stored."""

    def make(emu: Any, *, redirect_uri: str | None = None, store: str = "file") -> Any:
        return emulator_config(
            emu,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=redirect_uri,
            store=store,
        )

    return make


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def follow(url: str) -> str:
    """What a browser does at the authorize URL: the emulator consents and redirects."""
    resp = requests.get(url, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    return str(resp.headers["Location"])


class Browser:
    """webbrowser.open stand-in that follows the flow to the loopback catcher."""

    def __init__(self) -> None:
        self.pages: list[str] = []
        self.done = threading.Event()
        self.opened = 0

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        self.opened += 1
        try:
            self.pages.append(requests.get(follow(url), timeout=10).text)
        finally:
            self.done.set()
        return True

    def page(self) -> str:
        # auth opens the browser in a thread: its page may arrive just after auth returns.
        assert self.done.wait(5)
        return self.pages[-1]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Browser:
    b = Browser()
    monkeypatch.setattr("webbrowser.open", b.open)
    return b


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def _all_output(result: Result) -> str:
    return result.stdout + result.stderr


def test_loopback_flow_stores_tokens_binds_state_and_answers_the_browser(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    result = run("-vv", "auth", "--timeout", "10")
    assert result.exit_code == 0, _all_output(result)
    tokens = s.store().load_tokens()
    assert tokens is not None and tokens.realm_id == emulator.realm_id
    assert emulator.token_state(tokens.refresh_token) == "active"
    assert tokens.refresh_hard_expires_at is not None  # header sent, field stored
    token_file = s.data_dir / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    with State.open(s.data_dir / "state.sqlite3") as state:
        assert state.realm_id == emulator.realm_id
        assert state.company_name == "Sunrise Mailbox Co (emulated)"
        assert state.enabled_at is not None
    assert "Sunrise Mailbox Co (emulated)" in result.stdout
    assert emulator.realm_id in result.stdout
    assert "Connected to Sunrise Mailbox Co (emulated)" in browser.page()
    assert s.token_posts() == 1  # the code was exchanged exactly once
    assert_no_secrets(_all_output(result), CLIENT_SECRET, tokens.access_token, tokens.refresh_token)
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ  # relaxed for one call only


def test_reauth_same_company_keeps_enabled_at(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    assert run("auth").exit_code == 0
    with State.open(s.data_dir / "state.sqlite3") as state:
        first = state.enabled_at
    old = s.store().load_tokens()
    assert run("auth").exit_code == 0
    with State.open(s.data_dir / "state.sqlite3") as state:
        assert state.enabled_at == first
    assert s.store().load_tokens().refresh_token != old.refresh_token


def test_access_denied(make_setup: Any, emulator: Any, browser: Browser) -> None:
    s = make_setup(emulator)
    emulator.deny_next_authorization()
    result = run("auth")
    assert result.exit_code == 3
    assert "declined" in result.stderr
    assert "declined" in browser.page()
    assert s.store().load_tokens() is None
    assert s.token_posts() == 0


def test_loopback_timeout(make_setup: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_setup(emulator)
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: True)  # operator never logs in
    result = run("auth", "--timeout", "0.2")
    assert result.exit_code == 3
    assert "within 0.2 s" in result.stderr


def test_invalid_client_secret_says_what_to_fix(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    s.store().save_client_secret("wrong-secret-123456")
    result = run("auth")
    assert result.exit_code == 2
    assert "client secret" in result.stderr
    assert "qbsync init --force" in result.stderr
    assert "wrong-secret-123456" not in _all_output(result)
    assert s.store().load_tokens() is None


def test_print_url_then_redirect_url_and_a_reused_code_is_never_sent(
    make_setup: Any, emulator: Any
) -> None:
    s = make_setup(emulator, redirect_uri=PASTE_REDIRECT)
    printed = run("auth", "--print-url")
    assert printed.exit_code == 0
    url = printed.stdout.strip()
    assert url.startswith(emulator.base_url + "/connect/oauth2?")
    pending = s.data_dir / PENDING_FILE
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    landed = follow(url)
    code = parse_qs(urlsplit(landed).query)["code"][0]
    done = run("-vv", "auth", "--redirect-url", landed)
    assert done.exit_code == 0, _all_output(done)
    assert not pending.exists()
    tokens = s.store().load_tokens()
    assert tokens is not None
    assert_no_secrets(
        _all_output(done), code, CLIENT_SECRET, tokens.access_token, tokens.refresh_token
    )
    assert s.token_posts() == 1
    again = run("auth", "--redirect-url", landed)
    assert again.exit_code == 3
    assert "no login is waiting" in again.stderr
    assert s.token_posts() == 1  # the code was not sent a second time
    assert emulator.token_state(tokens.refresh_token) == "active"  # type: ignore[union-attr]


def test_redirect_url_with_tampered_state(make_setup: Any, emulator: Any) -> None:
    s = make_setup(emulator, redirect_uri=PASTE_REDIRECT)
    landed = follow(run("auth", "--print-url").stdout.strip())
    result = run("auth", "--redirect-url", landed.replace("state=", "state=evil"))
    assert result.exit_code == 3
    assert "possible cross-site request forgery" in result.stderr
    assert s.token_posts() == 0


def test_another_company_is_refused_and_working_tokens_stay(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    with State.open(s.data_dir / "state.sqlite3") as state:
        state.bind_realm("111", now=datetime(2025, 1, 1, tzinfo=UTC), company_name="Old Books")
    result = run("auth")
    assert result.exit_code == 2
    assert "--fresh-state" in result.stderr
    assert s.token_posts() == 0
    assert s.store().load_tokens() is None
    with State.open(s.data_dir / "state.sqlite3") as state:
        assert state.realm_id == "111"

    fresh = run("auth", "--fresh-state", "--yes")
    assert fresh.exit_code == 0, _all_output(fresh)
    with State.open(s.data_dir / "state.sqlite3") as state:
        assert state.realm_id == emulator.realm_id
        assert state.company_name == "Sunrise Mailbox Co (emulated)"


def test_keyring_store(make_setup: Any, emulator: Any, browser: Browser, fake_keyring: Any) -> None:
    s = make_setup(emulator, store="keyring")
    result = run("auth")
    assert result.exit_code == 0, _all_output(result)
    assert not (s.data_dir / "tokens.json").exists()
    stored = [v for v in fake_keyring.entries.values() if "refresh_token" in v]
    assert len(stored) == 1
    assert s.store().load_tokens().realm_id == emulator.realm_id  # type: ignore[union-attr]
    assert "keyring" in result.stdout
    assert "cron" in result.stderr


def test_disconnect_revokes_deletes_tokens_keeps_state(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    assert run("auth").exit_code == 0
    tokens = s.store().load_tokens()
    result = run("disconnect", "--yes")
    assert result.exit_code == 0, _all_output(result)
    assert emulator.token_state(tokens.refresh_token) == "revoked"  # type: ignore[union-attr]
    assert s.store().load_tokens() is None
    with State.open(s.data_dir / "state.sqlite3") as state:
        assert state.realm_id == emulator.realm_id
    state_path = s.data_dir / "state.sqlite3"
    assert (
        f"Kept: the config, the client secret, the local state {state_path} (links, export "
        "history)" in result.stdout
    )


def test_disconnect_when_revoke_fails_still_deletes_tokens(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    assert run("auth").exit_code == 0
    emulator.stop()  # Intuit unreachable
    result = run("disconnect", "--yes")
    assert result.exit_code == 0
    assert "could not revoke" in result.stderr
    assert s.store().load_tokens() is None


def test_disconnect_forget_deletes_state_after_confirmation(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    assert run("auth").exit_code == 0
    declined = run("disconnect", "--forget", input="n\n")
    assert declined.exit_code == 2  # cancelled
    assert s.store().load_tokens() is not None  # nothing done
    assert (s.data_dir / "state.sqlite3").exists()
    result = run("disconnect", "--forget", "--yes")
    assert result.exit_code == 0
    assert not (s.data_dir / "state.sqlite3").exists()
    assert s.store().load_tokens() is None


def test_a_refused_code_is_not_sent_again(make_setup: Any, emulator: Any) -> None:
    s = make_setup(emulator, redirect_uri=PASTE_REDIRECT)
    landed = follow(run("auth", "--print-url").stdout.strip())
    s.store().save_client_secret("wrong-secret-654321")  # the exchange fails
    assert run("auth", "--redirect-url", landed).exit_code == 2
    s.store().save_client_secret(CLIENT_SECRET)
    again = run("auth", "--redirect-url", landed)
    assert again.exit_code == 3
    assert "no login is waiting" in again.stderr
    assert s.token_posts() == 1


def _bound(s: Any) -> tuple[str | None, Any, str | None]:
    with State.open(s.data_dir / "state.sqlite3") as state:
        return state.realm_id, state.enabled_at, state.company_name


@pytest.mark.parametrize(
    ("status", "exit_code", "said", "page"),
    [
        (400, 0, "CompanyInfo could not be read", "Connected"),  # a QBO fault: a warning
        (403, 3, "not authorized for the company", "could not connect"),  # refused: exit 3
    ],
)
def test_companyinfo_failing_after_the_exchange_keeps_tokens_and_binds_state(
    make_setup: Any,
    emulator: Any,
    browser: Browser,
    status: int,
    exit_code: int,
    said: str,
    page: str,
) -> None:
    s = make_setup(emulator)
    emulator.inject_fault("companyinfo", "error", status=status, count=5)
    result = run("auth")
    assert result.exit_code == exit_code, _all_output(result)
    assert said in result.stderr and "Traceback" not in result.stderr
    tokens = s.store().load_tokens()
    assert tokens is not None and emulator.token_state(tokens.refresh_token) == "active"
    realm, enabled_at, name = _bound(s)
    assert realm == emulator.realm_id and enabled_at is not None and name is None
    assert s.token_posts() == 1
    assert page in browser.page()


def test_fresh_state_and_forget_wait_for_no_running_sync(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    with State.open(s.data_dir / "state.sqlite3") as state:
        state.bind_realm("111", now=datetime(2025, 1, 1, tzinfo=UTC), company_name="Old Books")
    with run_lock(s.data_dir):  # a sync run is going on
        fresh = run("auth", "--fresh-state", "--yes")
        assert fresh.exit_code == 4, _all_output(fresh)
        assert "run lock" in fresh.stderr
        assert s.token_posts() == 0  # refused before the code was exchanged
        with State.open(s.data_dir / "state.sqlite3") as state:
            assert state.realm_id == "111"
    assert run("auth", "--fresh-state", "--yes").exit_code == 0
    with run_lock(s.data_dir):
        forget = run("disconnect", "--forget", "--yes")
        assert forget.exit_code == 4, _all_output(forget)
    assert (s.data_dir / "state.sqlite3").exists()
    assert s.store().load_tokens() is not None  # nothing revoked or deleted


def test_a_locked_state_stops_the_login_before_the_code_is_spent(
    make_setup: Any, emulator: Any, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qbsync.state.db.BUSY_TIMEOUT_MS", 200)
    s = make_setup(emulator)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    State.open(s.data_dir / "state.sqlite3").close()
    other = sqlite3.connect(s.data_dir / "state.sqlite3", isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process writing for a long time
        result = run("auth")
    finally:
        other.close()
    assert result.exit_code == 4, _all_output(result)
    assert "locked by another process" in result.stderr
    assert "Traceback" not in result.stderr
    assert s.token_posts() == 0  # the code was not spent: `qbsync auth` again just works
    assert s.store().load_tokens() is None
    assert run("auth").exit_code == 0


def test_an_unusable_state_is_reported_before_the_login_starts(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    (s.data_dir / "state.sqlite3").mkdir(parents=True)
    result = run("auth")
    assert result.exit_code == 2, _all_output(result)
    assert "is a folder" in result.stderr
    assert "connect/oauth2" not in result.stderr  # no login was started for nothing
    assert browser.opened == 0 and s.token_posts() == 0


# -- an emulator that is not running -----------------------------------------------------------


@pytest.mark.parametrize("args", [(), ("--print-url",), ("--no-browser",)])
def test_an_emulator_that_is_not_running_fails_fast_without_a_login(
    make_setup: Any, emulator: Any, browser: Browser, args: tuple[str, ...]
) -> None:
    s = make_setup(emulator)
    base = emulator.base_url
    port = int(base.rsplit(":", 1)[1])
    emulator.stop()
    started = time.monotonic()
    result = run("auth", "--timeout", "60", *args)
    assert time.monotonic() - started < 15  # not the whole --timeout
    assert result.exit_code == 1, _all_output(result)
    assert f"Error: the QBO emulator at {base} is not answering" in result.stderr
    assert f"Next step: start it with `qbsync emulator serve --port {port}`" in result.stderr
    assert "no browser came back" not in result.stderr
    assert browser.opened == 0 and result.stdout == ""
    assert not (s.data_dir / PENDING_FILE).exists()


# -- a stray request on the callback does not end the login -----------------------------------


def test_a_stray_callback_is_answered_and_the_login_goes_on(
    make_setup: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_setup(emulator)
    pages: list[requests.Response] = []
    done = threading.Event()

    def open_browser(url: str, *args: object, **kwargs: object) -> bool:
        try:
            # An old tab reloads first (another login's state), then a bookmark without one.
            for query in ("code=old-code&state=old-state&realmId=1", "code=old-code"):
                pages.append(requests.get(f"{s.redirect_uri}?{query}", timeout=10))
            pages.append(requests.get(follow(url), timeout=10))
        finally:
            done.set()
        return True

    monkeypatch.setattr("webbrowser.open", open_browser)
    result = run("auth", "--timeout", "20")
    assert done.wait(5)
    assert result.exit_code == 0, _all_output(result)
    assert [p.status_code for p in pages] == [400, 400, 200]
    assert "still waiting" in pages[0].text
    assert "Connected to Sunrise Mailbox Co (emulated)" in pages[2].text
    warnings = [line for line in result.stderr.splitlines() if "does not belong" in line]
    assert len(warnings) == 2 and all(s.redirect_uri in line for line in warnings)
    assert s.token_posts() == 1  # only the right code was exchanged
    tokens = s.store().load_tokens()
    assert tokens is not None and tokens.realm_id == emulator.realm_id


def test_a_declined_login_with_the_right_state_still_ends_it(
    make_setup: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_setup(emulator)
    emulator.deny_next_authorization()
    pages: list[requests.Response] = []
    landed: list[str] = []
    done = threading.Event()

    def open_browser(url: str, *args: object, **kwargs: object) -> bool:
        try:
            stray = f"{s.redirect_uri}?error=access_denied&state=other"
            pages.append(requests.get(stray, timeout=10))
            landed.append(follow(url))
            pages.append(requests.get(landed[-1], timeout=10))
        finally:
            done.set()
        return True

    monkeypatch.setattr("webbrowser.open", open_browser)
    started = time.monotonic()
    result = run("auth", "--timeout", "20")
    assert result.exit_code == 3 and "declined" in result.stderr
    assert time.monotonic() - started < 15
    assert done.wait(5)
    assert "error=access_denied" in landed[0] and "state=" in landed[0]
    assert [p.status_code for p in pages] == [400, 400]
    assert "declined" in pages[1].text
    assert s.token_posts() == 0


# -- pasting something that is not an address -------------------------------------------------


@pytest.mark.parametrize("pasted", ["not a url", "the-code-only-AB11"])
def test_redirect_url_that_is_not_an_address_keeps_the_login_waiting(
    make_setup: Any, emulator: Any, pasted: str
) -> None:
    s = make_setup(emulator, redirect_uri=PASTE_REDIRECT)
    landed = follow(run("auth", "--print-url").stdout.strip())
    result = run("auth", "--redirect-url", pasted)
    assert result.exit_code == 2, _all_output(result)
    assert (
        "Error: that is not the whole address: paste the full address from the browser's "
        "address bar (it contains code=, state= and realmId=); the login started with "
        "--print-url is still waiting"
    ) in result.stderr
    assert "state does not match" not in result.stderr
    assert (s.data_dir / PENDING_FILE).exists()
    assert s.token_posts() == 0
    done = run("auth", "--redirect-url", landed)  # the pending login is still good
    assert done.exit_code == 0, _all_output(done)
    assert s.store().load_tokens() is not None


def test_print_url_with_redirect_url_is_a_usage_error(make_setup: Any, emulator: Any) -> None:
    s = make_setup(emulator, redirect_uri=PASTE_REDIRECT)
    result = run("auth", "--print-url", "--redirect-url", "https://example.com/?code=a&state=b")
    assert result.exit_code == 2
    assert "--print-url" in result.stderr and "--redirect-url" in result.stderr
    assert not (s.data_dir / PENDING_FILE).exists() and s.token_posts() == 0


def test_paste_prompt_asks_again_after_text_that_is_not_an_address(
    make_setup: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_setup(emulator, redirect_uri=PASTE_REDIRECT)
    shown: list[str] = []
    answers = iter(["oops", "  "])
    monkeypatch.setattr(auth_cmd, "_show_url", lambda url, no_browser, **_: shown.append(url))

    def prompt(*args: object, **kwargs: object) -> str:
        return next(answers, None) or follow(shown[-1])

    monkeypatch.setattr(auth_cmd.click, "prompt", prompt)
    result = run("auth", "--no-browser")
    assert result.exit_code == 0, _all_output(result)
    assert result.stderr.count("not the whole address") == 2
    assert s.token_posts() == 1


# -- disconnect, wording -----------------------------------------------------------------------


def test_disconnect_when_not_connected_does_nothing(make_setup: Any, emulator: Any) -> None:
    s = make_setup(emulator)
    result = run("disconnect", "--yes")
    assert result.exit_code == 0, _all_output(result)
    assert result.stdout.strip() == "Not connected (no stored tokens); nothing to do."
    assert "Disconnected" not in _all_output(result)
    assert emulator.requests() == []
    assert s.store().load_client_secret() == CLIENT_SECRET  # the app's secret stays


def test_auth_report_shows_enabled_at_like_status(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    make_setup(emulator)
    result = run("auth")
    assert result.exit_code == 0, _all_output(result)
    [line] = [x for x in result.stdout.splitlines() if x.startswith("Enabled at")]
    assert line.endswith("UTC (just now)") or " UTC (" in line
    assert all(x == x.rstrip() for x in result.stdout.splitlines())


def test_invalid_client_names_the_secret_from_the_environment(
    make_setup: Any, emulator: Any, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_setup(emulator)
    monkeypatch.setenv("QBSYNC_CLIENT_SECRET", "env-wrong-secret-77")
    result = run("auth")
    assert result.exit_code == 2
    assert (
        "or the client secret is wrong (the secret came from QBSYNC_CLIENT_SECRET, which "
        "overrides the stored one)" in result.stderr
    )
    assert "env-wrong-secret-77" not in _all_output(result)
    assert s.store().load_tokens() is None


def test_auth_records_the_issuer_and_disconnect_never_sends_tokens_elsewhere(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    assert run("auth").exit_code == 0
    with State.open(s.data_dir / "state.sqlite3") as state:
        assert state.get_meta("tokens_api_base") == emulator.base_url + "/v3"
    tokens = s.store().load_tokens()
    from qbsync.emulator import Emulator

    with Emulator(limits=False) as other:
        config = user_config_dir() / "config.toml"
        config.write_text(config.read_text().replace(emulator.base_url, other.base_url))
        result = run("disconnect", "--yes")
        assert result.exit_code == 0, _all_output(result)
        assert "issued by the emulator at" in result.stderr
        assert other.requests() == []  # the refresh token was not sent to the other server
    assert s.store().load_tokens() is None
    assert emulator.token_state(tokens.refresh_token) == "active"  # type: ignore[union-attr]


def test_next_steps_name_the_profile(
    make_setup: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_setup(emulator)
    (user_config_dir() / "config.toml").rename(user_config_dir() / "acme.toml")
    open_store("file", profile="acme", data_dir=profile_data_dir("acme")).save_client_secret(
        CLIENT_SECRET
    )
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: True)  # operator never logs in
    result = run("--profile", "acme", "auth", "--timeout", "0.2")
    assert result.exit_code == 3
    assert "run `qbsync --profile acme auth` again" in result.stderr
    assert "`qbsync auth" not in result.stderr
    result = run("--profile", "acme", "auth", "--redirect-url", "https://x/?code=a&state=b")
    assert result.exit_code == 3
    assert "`qbsync --profile acme auth --print-url`" in result.stderr
    assert s.token_posts() == 0


@pytest.mark.parametrize("from_env", [True, False])
def test_disconnect_with_a_wrong_secret_keeps_the_tokens_and_the_grant(
    make_setup: Any,
    emulator: Any,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
    from_env: bool,
) -> None:
    s = make_setup(emulator)
    assert run("auth").exit_code == 0
    tokens = s.store().load_tokens()
    assert tokens is not None
    if from_env:
        monkeypatch.setenv("QBSYNC_CLIENT_SECRET", "env-wrong-secret-77")
    else:
        s.store().save_client_secret("stored-wrong-secret-88")
    result = run("disconnect", "--forget", "--yes")
    assert result.exit_code == 2, _all_output(result)
    assert s.store().load_tokens() == tokens  # nothing deleted: it can still be revoked
    assert emulator.token_state(tokens.refresh_token) == "active"
    assert (s.data_dir / "state.sqlite3").exists()
    assert "Disconnected" not in _all_output(result)
    assert "not revoked and are still stored" in result.stderr
    fix = "unset QBSYNC_CLIENT_SECRET (to use the stored secret) or " if from_env else ""
    assert f"Next step: {fix}run `qbsync init --force`, then `qbsync disconnect` again" in (
        result.stderr
    )
    assert_no_secrets(_all_output(result), "env-wrong-secret-77", "stored-wrong-secret-88")


def test_an_unregistered_redirect_uri_fails_at_once_instead_of_timing_out(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    config = user_config_dir() / "config.toml"
    config.write_text(config.read_text().replace(s.redirect_uri, "http://localhost:8799/callback"))
    started = time.monotonic()
    result = run("auth", "--timeout", "30")
    assert time.monotonic() - started < 10
    assert result.exit_code == 2, _all_output(result)
    assert (
        "refuses this login: redirect_uri http://localhost:8799/callback is not registered for "
        f"client '{CLIENT_ID}'" in result.stderr
    )
    assert "Next step: set client_id and redirect_uri" in result.stderr
    assert browser.opened == 0
    assert s.store().load_tokens() is None
    assert s.token_posts() == 0


def test_loopback_timeout_hint_names_the_two_step_flow_and_error_pages(
    make_setup: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_setup(emulator)
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: True)
    result = run("auth", "--timeout", "0.2")
    assert result.exit_code == 3
    assert "`qbsync auth --print-url`, then `qbsync auth --redirect-url '<address>'`" in (
        result.stderr
    )
    assert "if the browser showed an error page, check client_id and redirect_uri" in (
        result.stderr
    )
    assert "paste flow with --redirect-url" not in result.stderr


def test_disconnect_forget_without_tokens_says_what_it_did(make_setup: Any, emulator: Any) -> None:
    s = make_setup(emulator)
    with State.open(s.data_dir / "state.sqlite3") as state:
        state.set_meta("company_name", "x")
    result = run("disconnect", "--forget", "--yes")
    assert result.exit_code == 0, _all_output(result)
    state_path = s.data_dir / "state.sqlite3"
    assert result.stdout.strip() == (
        f"Not connected (no stored tokens). Deleted the local state {state_path}."
    )
    assert "nothing to revoke" not in _all_output(result)
    assert not state_path.exists()
    assert emulator.requests() == []  # nothing to revoke, nothing sent
    again = run("disconnect", "--forget", "--yes")
    assert again.exit_code == 0
    assert "There was no local state to delete" in again.stdout
    assert "Deleted" not in again.stdout


def test_disconnect_forget_with_tokens_says_both(
    make_setup: Any, emulator: Any, browser: Browser
) -> None:
    s = make_setup(emulator)
    assert run("auth").exit_code == 0
    tokens = s.store().load_tokens()
    result = run("disconnect", "--forget", "--yes")
    assert result.exit_code == 0, _all_output(result)
    assert "Disconnected; deleted the tokens. Deleted the local state" in result.stdout
    assert emulator.token_state(tokens.refresh_token) == "revoked"  # type: ignore[union-attr]
    assert s.store().load_tokens() is None
    assert not (s.data_dir / "state.sqlite3").exists()


def test_no_browser_notice_comes_before_the_paste_prompt(
    make_setup: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_setup(emulator, redirect_uri=PASTE_REDIRECT)
    monkeypatch.setenv("BROWSER", "false %s")  # a browser command that fails at once
    result = run("auth", input="")
    assert result.exit_code == 2
    notice = result.stderr.index("No browser could be opened")
    prompt = result.stderr.index("Paste the full address")
    assert notice < prompt
