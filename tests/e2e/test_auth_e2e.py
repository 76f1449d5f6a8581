"""End to end: real `qbsync` processes, real HTTP, the emulator as Intuit and QBO.

Each test writes a config for a fresh emulator and its own OAuth client, then runs qbsync as a
subprocess (the environment from tests/conftest.py's isolation is inherited), and asserts on what
the token store, the state database and the emulator hold afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from qbsync.auth.credentials import TokenSet, open_store, token_lock
from qbsync.auth.token_endpoint import token_set_from_response
from qbsync.auth.tokens import token_manager_for
from qbsync.config import load_config
from qbsync.emulator import Emulator
from qbsync.errors import CredentialStoreError, QboUnavailableError
from qbsync.qbo.client import QboClient, QboSession, RetryPolicy
from qbsync.state.db import State

pytestmark = pytest.mark.e2e

CLIENT_ID = "e2e-client"
CLIENT_SECRET = "e2e-secret-value-0a1b2c3d"
BROWSER = Path(__file__).with_name("browser.py")
TOKEN_TEMPLATE = "POST /oauth2/v1/tokens/bearer"
COMPANY = "Sunrise Mailbox Co (emulated)"


@dataclass
class World:
    emu: Emulator
    redirect_uri: str
    config_path: Path
    data_dir: Path
    browser_log: Path
    outputs: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=lambda: {CLIENT_SECRET})

    def store(self) -> Any:
        return open_store("file", profile="default", data_dir=self.data_dir)

    def tokens(self) -> TokenSet:
        tokens = self.store().load_tokens()
        assert tokens is not None
        self.secrets.update((tokens.access_token, tokens.refresh_token))
        return tokens

    def token_posts(self) -> int:
        return sum(1 for e in self.emu.requests() if e["template"] == TOKEN_TEMPLATE)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["BROWSER"] = f"{sys.executable} {BROWSER} %s"
        env["QBSYNC_TEST_BROWSER_LOG"] = str(self.browser_log)
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        return env

    def start(self, *args: str, stdin: bool = False) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "qbsync", *args],
            env=self.env(),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
        out, err = proc.communicate(timeout=timeout)
        self.outputs.append(out + err)
        return proc.returncode, out, err

    def run(self, *args: str) -> tuple[int, str, str]:
        return self.finish(self.start(*args))

    def browser_records(self) -> list[dict[str, Any]]:
        if not self.browser_log.exists():
            return []
        return [json.loads(line) for line in self.browser_log.read_text().splitlines()]

    def connect_without_browser(self) -> TokenSet:
        """Tokens straight from the emulator, stored and bound as `qbsync auth` leaves them."""
        body = self.emu.issue_tokens(CLIENT_ID)
        tokens = token_set_from_response(body, realm_id=body["realmId"], now=datetime.now(UTC))
        self.store().save_tokens(tokens)
        self.secrets.update((tokens.access_token, tokens.refresh_token))
        with State.open(self.data_dir / "state.sqlite3") as state:
            state.bind_realm(tokens.realm_id, now=datetime.now(UTC), company_name=COMPANY)
        return tokens

    def expire_access_locally(self) -> None:
        past = datetime.now(UTC) - timedelta(seconds=1)
        self.store().save_tokens(replace(self.tokens(), access_expires_at=past))


@pytest.fixture
def make_world(emulator_config: Any) -> Callable[..., World]:
    def make(emu: Emulator, tmp_path: Path, redirect_uri: str | None = None) -> World:
        setup = emulator_config(
            emu, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=redirect_uri
        )
        return World(
            emu, setup.redirect_uri, setup.config_path, setup.data_dir, tmp_path / "browser.log"
        )

    return make


@pytest.fixture
def world(make_world: Callable[..., World], tmp_path: Path) -> Iterator[World]:
    with Emulator(limits=False) as emu:
        w = make_world(emu, tmp_path)
        yield w
        assert_no_secret_leaked(w)


def assert_no_secret_leaked(w: World) -> None:
    """No token seen during the test, nor the client secret, in any run's stdout/stderr."""
    with contextlib.suppress(AssertionError):
        w.tokens()
    for text in w.outputs:
        for secret in w.secrets:
            assert secret not in text


def test_loopback_flow_with_a_browser_process(world: World) -> None:
    code, out, err = world.run("-vv", "auth", "--timeout", "20")
    assert code == 0, err
    tokens = world.tokens()
    assert tokens.realm_id == world.emu.realm_id
    assert world.emu.token_state(tokens.access_token) == "active"
    assert stat.S_IMODE((world.data_dir / "tokens.json").stat().st_mode) == 0o600
    with State.open(world.data_dir / "state.sqlite3") as state:
        assert (state.realm_id, state.company_name) == (world.emu.realm_id, COMPANY)
    [record] = world.browser_records()
    assert record["callback_status"] == 200
    assert f"Connected to {COMPANY}" in record["page"]
    assert COMPANY in out
    assert world.token_posts() == 1
    for secret in (tokens.access_token, tokens.refresh_token, CLIENT_SECRET):
        assert secret not in out + err


def _read_url(proc: subprocess.Popen[str], timeout: float = 15) -> str:
    """The authorization URL qbsync prints on stderr before it prompts for the paste."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()  # raw reads: a buffered readline would hide data from select
    seen = b""
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"no authorization URL printed; stderr so far: {seen!r}"
        chunk = os.read(fd, 65536)
        assert chunk, f"qbsync ended early; stderr: {seen!r}"
        seen += chunk
        for line in seen.decode().split("\n")[:-1]:  # complete lines only
            if line.startswith("http"):
                return line.strip()


def _paste(world: World, tamper: Any = None) -> tuple[int, str, str]:
    proc = world.start("auth", "--no-browser", stdin=True)
    url = _read_url(proc)
    landed = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    world.secrets.update(parse_qs(urlsplit(landed).query)["code"])  # never printed back
    if tamper:
        landed = tamper(landed)
    assert proc.stdin is not None
    proc.stdin.write(landed + "\n")
    proc.stdin.flush()
    return world.finish(proc)


def test_paste_flow(make_world: Callable[..., World], tmp_path: Path) -> None:
    with Emulator(limits=False) as emu:
        world = make_world(emu, tmp_path, "https://example.com/oauth/landing")
        code, out, err = _paste(world)
        assert code == 0, err
        assert world.tokens().realm_id == emu.realm_id
        assert COMPANY in out
        assert world.browser_records() == []  # --no-browser: $BROWSER was not started
        assert_no_secret_leaked(world)


def test_paste_flow_state_mismatch_exchanges_nothing(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    with Emulator(limits=False) as emu:
        world = make_world(emu, tmp_path, "https://example.com/oauth/landing")
        code, _, err = _paste(world, lambda url: url.replace("state=", "state=forged"))
        assert code == 3
        assert "state does not match" in err
        assert world.token_posts() == 0
        assert world.store().load_tokens() is None


def test_port_in_use(world: World) -> None:
    port = int(world.redirect_uri.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        code, _, err = world.run("auth", "--timeout", "5")
    assert code == 2  # fix 7: a configuration problem, not "run qbsync auth" (3)
    assert f"port {port}" in err and "in use" in err
    assert "Next step: stop the program using port" in err
    assert world.browser_records() == []


def test_a_code_is_never_sent_twice(world: World) -> None:
    code, url, _ = world.run("auth", "--print-url")
    assert code == 0
    landed = requests.get(url.strip(), allow_redirects=False, timeout=5).headers["Location"]
    assert world.run("auth", "--redirect-url", landed)[0] == 0
    tokens = world.tokens()
    code, _, err = world.run("auth", "--redirect-url", landed)
    assert code == 3 and "no login is waiting" in err
    assert world.token_posts() == 1
    # The emulator revokes a code's tokens when the code comes back; they are still active.
    assert world.emu.token_state(tokens.refresh_token) == "active"


def test_rotation_is_persisted_across_processes(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    with Emulator(limits=False, refresh_grace=30) as emu:
        world = make_world(emu, tmp_path)
        first = world.connect_without_browser()
        world.expire_access_locally()
        assert world.run("status", "--check")[0] == 0
        assert_no_secret_leaked(world)
        second = world.tokens()
        assert second.refresh_token != first.refresh_token
        world.expire_access_locally()
        assert world.run("-vv", "status", "--check")[0] == 0
        third = world.tokens()
        assert third.refresh_token != second.refresh_token
        emu.clock.advance(31)  # past the grace period: the superseded refresh tokens die
        assert emu.token_state(first.refresh_token) != "active"
        assert emu.token_state(second.refresh_token) != "active"
        world.expire_access_locally()
        code, out, _ = world.run("status", "--check", "--json")
        assert code == 0
        assert json.loads(out)["check"]["ok"] is True
        assert world.tokens().refresh_token != third.refresh_token
        assert_no_secret_leaked(world)


def test_two_processes_refreshing_at_once_both_keep_access(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    # No grace: a process that spent a superseded refresh token would get invalid_grant.
    with Emulator(limits=False, refresh_grace=0) as emu:
        world = make_world(emu, tmp_path)
        world.connect_without_browser()
        world.expire_access_locally()
        # Hold the token lock until both processes wait for it, so both have read the same
        # expired tokens: the race is certain, not left to process start-up timing.
        with token_lock(world.data_dir):
            procs = [world.start("status", "--check") for _ in range(2)]
            for proc in procs:
                _wait_for_open_file(proc, world.data_dir / "tokens.lock")
        results = [world.finish(p) for p in procs]
        assert [r[0] for r in results] == [0, 0], [r[2] for r in results]
        assert world.token_posts() == 1  # the second process used the first one's tokens
        world.expire_access_locally()
        assert world.run("status", "--check")[0] == 0
        assert_no_secret_leaked(world)


def _wait_for_open_file(proc: subprocess.Popen[str], path: Path, timeout: float = 15) -> None:
    """Until ``proc`` has ``path`` open (Linux /proc): it is then polling for the lock."""
    deadline = time.monotonic() + timeout
    fd_dir = Path(f"/proc/{proc.pid}/fd")
    while time.monotonic() < deadline:
        assert proc.poll() is None, "qbsync ended before it asked for the token lock"
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                return
        time.sleep(0.02)
    raise AssertionError(f"process {proc.pid} never opened {path}")


def test_access_token_expiring_mid_run_is_refreshed_once(world: World) -> None:
    world.connect_without_browser()
    config = load_config(world.config_path, profile="default", data_dir=world.data_dir)
    client = QboClient(config.qbo, token_manager_for(config))
    assert client.company_info()["CompanyName"] == COMPANY
    before = world.tokens()
    world.emu.clock.advance(3601)  # QBO now refuses the access token qbsync still trusts
    assert client.company_info()["CompanyName"] == COMPANY
    after = world.tokens()
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
    assert world.token_posts() == 1


def test_revoked_grant_exits_3_with_run_auth(world: World) -> None:
    tokens = world.connect_without_browser()
    requests.post(
        world.emu.base_url + "/v2/oauth2/tokens/revoke",
        json={"token": tokens.refresh_token},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    ).raise_for_status()
    code, out, err = world.run("-vv", "status", "--check")
    assert code == 3
    assert "run `qbsync auth`" in out + err


def test_disconnect_then_status_says_not_connected(world: World) -> None:
    tokens = world.connect_without_browser()
    assert world.run("disconnect", "--yes")[0] == 0
    assert world.emu.token_state(tokens.refresh_token) == "revoked"
    assert world.store().load_tokens() is None
    code, out, _ = world.run("status", "--json")
    assert code == 3
    doc = json.loads(out)
    assert doc["connected"] is False
    assert doc["realm_id"] == world.emu.realm_id  # the state (links, history) was kept


def test_disconnect_with_a_wrong_secret_from_the_environment_keeps_the_grant(
    world: World,
) -> None:
    tokens = world.connect_without_browser()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbsync", "disconnect", "--yes"],
        env={**world.env(), "QBSYNC_CLIENT_SECRET": "wrong-env-secret-5150"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    world.secrets.add("wrong-env-secret-5150")
    code, out, err = world.finish(proc)
    assert code == 2, err
    assert world.store().load_tokens() == tokens  # still there to revoke once fixed
    assert world.emu.token_state(tokens.refresh_token) == "active"
    assert "Disconnected" not in out + err
    assert (
        "Next step: unset QBSYNC_CLIENT_SECRET (to use the stored secret) or run "
        "`qbsync init --force`, then `qbsync disconnect` again"
    ) in err
    # With the secret fixed (the variable unset), disconnect revokes the grant.
    assert world.run("disconnect", "--yes")[0] == 0
    assert world.emu.token_state(tokens.refresh_token) == "revoked"
    assert world.store().load_tokens() is None


def test_auth_with_an_unregistered_redirect_uri_fails_at_once(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    with Emulator(limits=False) as emu:
        world = make_world(emu, tmp_path)
        world.config_path.write_text(
            world.config_path.read_text().replace(
                world.redirect_uri, "http://localhost:8799/callback"
            )
        )
        started = time.monotonic()
        code, _, err = world.run("--profile", "default", "auth", "--timeout", "60")
        assert time.monotonic() - started < 20
        assert code == 2, err
        assert (
            "refuses this login: redirect_uri http://localhost:8799/callback is not registered "
            f"for client '{CLIENT_ID}'"
        ) in err
        assert world.browser_records() == []  # no browser sent to an error page
        assert world.token_posts() == 0


# -- the gateway against the emulator's injected faults (real HTTP, in process) -------------


def _client(world: World, *, timeout: float = 10.0) -> QboClient:
    world.connect_without_browser()
    config = load_config(world.config_path, profile="default", data_dir=world.data_dir)
    manager = token_manager_for(config)
    session = QboSession(
        manager,
        timeout=timeout,
        retry=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, throttle_delay=0.01),
    )
    return QboClient(config.qbo, manager, session=session)


def _hits(world: World, needle: str) -> int:
    return sum(1 for e in world.emu.requests() if needle in e["path"])


def test_gateway_waits_out_throttling(world: World) -> None:
    client = _client(world)
    world.emu.inject_fault("companyinfo", "throttle", count=2)
    assert client.company_info()["CompanyName"] == COMPANY
    assert _hits(world, "companyinfo") == 3


def test_gateway_lost_response_on_create_is_retried_with_the_same_requestid(world: World) -> None:
    client = _client(world)
    world.emu.inject_fault("/customer", "lose_response", method="POST")
    created = client.create("Customer", {"DisplayName": "Lost Answer Ltd"}, "e2e-req-lost-1")
    found = client.query("select * from Customer where DisplayName = 'Lost Answer Ltd'")
    assert [c["Id"] for c in found] == [created["Id"]]  # created once, answered twice
    posts = [e for e in world.emu.requests() if e["path"].endswith("/customer")]
    assert [e["params"].get("requestid") for e in posts] == ["e2e-req-lost-1"] * 2


def test_gateway_never_repeats_a_post_without_requestid(world: World) -> None:
    client = _client(world)
    world.emu.inject_fault("/customer", "drop", method="POST")
    with pytest.raises(QboUnavailableError, match="not retried"):
        client.call("POST", "customer", body={"DisplayName": "Dropped Co"})
    assert _hits(world, "/customer") == 1


def test_gateway_times_out_a_hung_request_and_retries_the_read(world: World) -> None:
    client = _client(world, timeout=0.3)
    world.emu.inject_fault("companyinfo", "hang", hang_seconds=1.0)
    assert client.company_info()["CompanyName"] == COMPANY
    assert _hits(world, "companyinfo") == 2


def test_a_refresh_whose_save_failed_is_recovered_by_the_next_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash between Intuit's answer and the save: the stored (superseded) refresh token still
    works during Intuit's grace period, so the next run reconnects by itself."""
    before = world.connect_without_browser()
    world.expire_access_locally()
    config = load_config(world.config_path, profile="default", data_dir=world.data_dir)
    manager = token_manager_for(config)

    def disk_full(tokens: TokenSet) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(manager.store, "save_tokens", disk_full)
    with pytest.raises(CredentialStoreError, match="could not be saved"):
        manager.access_token()
    assert world.tokens().refresh_token == before.refresh_token  # nothing new was used
    code, out, _ = world.run("status", "--check", "--json")
    assert code == 0
    assert json.loads(out)["check"]["ok"] is True
    assert world.tokens().refresh_token != before.refresh_token
    assert world.token_posts() == 2


def test_a_refresh_whose_answer_was_lost_is_recovered_by_the_next_run(world: World) -> None:
    """Intuit rotated the token but the answer never arrived: exit 1 (not "run qbsync auth"),
    the stored refresh token untouched, and the next run refreshes with it (grace period)."""
    before = world.connect_without_browser()
    world.expire_access_locally()
    world.emu.inject_fault("/oauth2/v1/tokens/bearer", "lose_response", method="POST")
    code, _, err = world.run("status", "--check")
    assert code == 1, err
    assert "could not reach the token endpoint of the QBO emulator" in err
    assert "Next step: is `qbsync emulator serve` running at" in err
    assert "Traceback" not in err
    assert world.tokens().refresh_token == before.refresh_token
    assert world.token_posts() == 1  # sent once, never retried within the run
    code, out, err = world.run("status", "--check", "--json")
    assert code == 0, err
    assert json.loads(out)["check"]["ok"] is True
    assert world.tokens().refresh_token != before.refresh_token
    assert world.emu.token_state(world.tokens().refresh_token) == "active"


def test_auth_against_a_stopped_emulator_fails_fast_and_keeps_a_pending_login(
    make_world: Callable[..., World],
    tmp_path: Path,
) -> None:
    with Emulator(limits=False) as emu:
        world = make_world(emu, tmp_path, "https://example.com/oauth/landing")
        code, url, _ = world.run("auth", "--print-url")
        assert code == 0
        landed = requests.get(url.strip(), allow_redirects=False, timeout=5).headers["Location"]
        world.secrets.update(parse_qs(urlsplit(landed).query)["code"])
        base = emu.base_url
    # The emulator is gone now.
    started = time.monotonic()
    code, _, err = world.run("auth", "--redirect-url", landed)
    assert code == 1, err
    assert time.monotonic() - started < 20
    assert f"Error: the QBO emulator at {base} is not answering" in err
    assert "Next step: start it with `qbsync emulator serve --port" in err
    assert (world.data_dir / "auth-pending.json").exists()  # the code was not spent
    assert world.store().load_tokens() is None
    assert_no_secret_leaked(world)


def test_paste_flow_with_stdin_closed_says_how_to_log_in(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    with Emulator(limits=False) as emu:
        world = make_world(emu, tmp_path, "https://example.com/oauth/landing")
        code, _, err = world.run("auth", "--no-browser")  # stdin is /dev/null, as under cron
        assert code == 2, err
        assert "no terminal to paste into: use qbsync auth --print-url" in err
        assert "Traceback" not in err and world.token_posts() == 0
