"""The headless browser used by the demo and users' CI: loopback delivery and the paste flow."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from qbsync.emulator import Emulator
from qbsync.emulator.browser import follow
from qbsync.hosts import free_loopback_port

pytestmark = pytest.mark.e2e

PASTE_REDIRECT = "https://developer.intuit.com/v2/OAuth2Playground/RedirectUrl"


def _authorize_url(emu: Emulator, redirect: str, client_id: str = "qbsync-demo-client") -> str:
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "state": "s-123",
        }
    )
    return f"{emu.base_url}/connect/oauth2?{query}"


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the headless browser as the demo and users' CI do: its own process."""
    return subprocess.run(
        [sys.executable, "-m", "qbsync.emulator.browser", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_paste_flow_prints_the_landing_address(emulator: Emulator) -> None:
    done = _browser("--wait", _authorize_url(emulator, PASTE_REDIRECT))
    assert done.returncode == 0, done.stderr
    landed = done.stdout.strip().removeprefix("landed on: ")
    assert landed.startswith(PASTE_REDIRECT + "?")
    query = parse_qs(urlsplit(landed).query)
    assert query["state"] == ["s-123"]
    assert query["realmId"] == [emulator.realm_id]
    assert query["code"]
    assert "--redirect-url" in done.stderr
    # Only the emulator was visited: no request ever left for the HTTPS host.
    assert [e["path"] for e in emulator.requests()] == ["/connect/oauth2"]


def test_an_emulator_that_is_not_running_is_one_clear_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_loopback_port()
    assert follow(f"http://127.0.0.1:{port}/connect/oauth2?state=x") == 1
    err = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:" in err
    assert "emulator serve" in err
    assert "Traceback" not in err


def test_non_loopback_addresses_are_never_opened(capsys: pytest.CaptureFixture[str]) -> None:
    assert follow("https://appcenter.intuit.com/connect/oauth2?state=x") == 1
    assert "non-loopback" in capsys.readouterr().err


def test_a_loopback_redirect_nobody_listens_on_is_printed_for_redirect_url(
    emulator: Emulator,
) -> None:
    redirect = f"http://127.0.0.1:{free_loopback_port()}/callback"
    emulator.add_client("paste-loopback", "paste-loopback-secret", [redirect])
    done = _browser("--wait", _authorize_url(emulator, redirect, "paste-loopback"))
    assert done.returncode == 0, done.stderr
    landed = done.stdout.strip().removeprefix("landed on: ")
    assert landed.startswith(redirect + "?")
    assert "--redirect-url" in done.stderr


def test_help_prints_usage() -> None:
    done = _browser("--help")
    assert done.returncode == 0
    assert "usage:" in done.stderr
