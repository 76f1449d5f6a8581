"""`qbsync emulator serve`: a real subprocess that answers, stops on SIGTERM/Ctrl-C, refuses bad input."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from qbsync.cli.main import cli

TIMEOUT = 10


class Served:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, marker: str) -> str:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.proc.poll() is None, f"serve exited early: {self.proc.stderr.read()}"  # type: ignore[union-attr]
                continue
            self.seen.append(line)
            if marker in line:
                return line
        raise AssertionError(f"no {marker!r} in {self.seen}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> Served:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qbsync", "emulator", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        started.append(proc)
        return Served(proc)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)


def base_url_of(served: Served) -> str:
    line = served.wait_for("listening on")
    return line.strip().rsplit(" ", 1)[1]


def test_serve_answers_and_stops_cleanly_on_sigterm(serve: Callable[..., Served]) -> None:
    served = serve()
    base = base_url_of(served)
    assert base.startswith("http://127.0.0.1:")
    served.wait_for("Ctrl-C")
    output = "".join(served.seen)
    assert f'environment = "{base}"' in output
    assert "qbsync-demo-client" in output and "qbsync-demo-secret" in output
    for uri in (
        "http://localhost:8765/callback",
        "http://127.0.0.1:8765/callback",
        "https://developer.intuit.com/v2/OAuth2Playground/RedirectUrl",
    ):
        assert uri in output

    health = requests.get(base + "/_emulator/health", timeout=TIMEOUT).json()
    assert health["status"] == "ok"
    assert f"realm id:      {health['realm_id']}" in output
    tokens = requests.post(base + "/_emulator/tokens", json={}, timeout=TIMEOUT).json()
    info = requests.get(
        f"{base}/v3/company/{tokens['realmId']}/companyinfo/{tokens['realmId']}",
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"},
        params={"minorversion": "75"},
        timeout=TIMEOUT,
    )
    assert info.status_code == 200
    assert info.json()["CompanyInfo"]["CompanyName"] == health["company_name"]

    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(TIMEOUT) == 0
    assert "Emulator stopped." in served.proc.stderr.read()  # type: ignore[union-attr]
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/_emulator/health", timeout=1)


def test_serve_stops_on_ctrl_c_and_takes_a_seed_file(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "realm_id": "4620816365041234",
                "clients": [
                    {
                        "client_id": "ci-client",
                        "client_secret": "ci-fake-secret",
                        "redirect_uris": ["http://127.0.0.1:9999/cb"],
                    }
                ],
            }
        )
    )
    served = serve("--seed", str(seed), "--no-limits", "--throttle-format", "xml")
    base = base_url_of(served)
    served.wait_for("Ctrl-C")
    output = "".join(served.seen)
    assert "4620816365041234" in output and "ci-client" in output
    assert "qbsync-demo-client" not in output  # the seed's clients replace the default's
    assert "rate limits:   off" in output
    health = requests.get(base + "/_emulator/health", timeout=TIMEOUT).json()
    assert health["realm_id"] == "4620816365041234"
    assert health["limits"] == {
        "enabled": False,
        "time_scale": 1.0,
        "throttle_format": "xml",
        "batch_per_minute": 40,
    }
    # The XML throttle body reaches the wire (here through an injected throttle fault).
    fault = {"path": "*/companyinfo/*", "kind": "throttle"}
    assert requests.post(base + "/_emulator/faults", json=fault, timeout=TIMEOUT).status_code == 201
    tokens = requests.post(base + "/_emulator/tokens", json={}, timeout=TIMEOUT).json()
    realm = tokens["realmId"]
    throttled = requests.get(
        f"{base}/v3/company/{realm}/companyinfo/{realm}",
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"},
        timeout=TIMEOUT,
    )
    assert throttled.status_code == 429
    assert throttled.text.startswith("<?xml") and 'Error code="3001"' in throttled.text
    served.proc.send_signal(signal.SIGINT)
    assert served.proc.wait(TIMEOUT) == 0


def test_serve_time_scale_reaches_the_limits(serve: Callable[..., Served]) -> None:
    served = serve("--time-scale", "60")
    base = base_url_of(served)
    served.wait_for("Ctrl-C")
    assert "rate limits:   on (time scale 60)" in "".join(served.seen)
    health = requests.get(base + "/_emulator/health", timeout=TIMEOUT).json()
    assert health["limits"] == {
        "enabled": True,
        "time_scale": 60.0,
        "throttle_format": "xml",  # the default: every captured 429 is XML
        "batch_per_minute": 40,
    }
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(TIMEOUT) == 0


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("scale", ["nan", "inf"])
def test_serve_refuses_a_time_scale_that_is_not_finite(runner: CliRunner, scale: str) -> None:
    # NaN throttled every request for good; infinity switched the limits off silently.
    result = runner.invoke(cli, ["emulator", "serve", "--port", "0", "--time-scale", scale])
    assert result.exit_code == 2
    assert "--time-scale" in result.stderr


def test_serve_refuses_a_non_loopback_host(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["emulator", "serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.stderr
    assert "--allow-remote" in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # was a RecursionError traceback
        ("[1, 2]", "must be a JSON object"),
        (
            '{"clients": [{"client_id": "a", "client_secret": "b", "redirect_uris": []}]}',
            "clients[0].redirect_uris",
        ),
        ('{"clients": {"client_id": "a"}}', "'clients'"),
        ('{"realm_id": 42}', "'realm_id'"),
        ('{"company": "Acme"}', "'company'"),
        ('{"Customer": 5}', "'Customer'"),
    ],
)
def test_serve_names_the_bad_seed_file_and_key(
    runner: CliRunner, tmp_path: Path, content: str, expected: str
) -> None:
    seed = tmp_path / "bad-seed.json"
    seed.write_text(content)
    result = runner.invoke(cli, ["emulator", "serve", "--port", "0", "--seed", str(seed)])
    assert result.exit_code == 2, result.output
    assert str(seed) in result.stderr
    assert expected in result.stderr


def test_serve_reports_a_missing_seed_file(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = runner.invoke(cli, ["emulator", "serve", "--port", "0", "--seed", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.stderr


def test_serve_reports_a_port_in_use(runner: CliRunner) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["emulator", "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_serve_data_keeps_company_and_refresh_token_across_restarts(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    data = tmp_path / "state" / "emulator.json"
    data.parent.mkdir()
    served = serve("--no-limits", "--data", str(data))
    base = base_url_of(served)
    served.wait_for("Ctrl-C")
    assert f"state:         new, kept in {data}" in "".join(served.seen)
    tokens = requests.post(base + "/_emulator/tokens", json={}, timeout=TIMEOUT).json()
    realm = tokens["realmId"]
    headers = {
        "Authorization": f"Bearer {tokens['access_token']}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    made = requests.post(
        f"{base}/v3/company/{realm}/customer",
        headers=headers,
        data=json.dumps({"DisplayName": "Survives Restarts"}),
        timeout=TIMEOUT,
    ).json()["Customer"]
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(TIMEOUT) == 0

    again = serve("--no-limits", "--data", str(data))
    base = base_url_of(again)
    again.wait_for("Ctrl-C")
    assert f"state:         restored from {data}" in "".join(again.seen)
    refreshed = requests.post(
        base + "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("qbsync-demo-client", "qbsync-demo-secret"),
        timeout=TIMEOUT,
    )
    assert refreshed.status_code == 200, refreshed.text
    headers["Authorization"] = f"Bearer {refreshed.json()['access_token']}"
    read = requests.get(
        f"{base}/v3/company/{realm}/customer/{made['Id']}", headers=headers, timeout=TIMEOUT
    )
    assert read.status_code == 200 and read.json()["Customer"]["DisplayName"] == "Survives Restarts"
    again.proc.send_signal(signal.SIGINT)
    assert again.proc.wait(TIMEOUT) == 0


def test_serve_without_data_says_it_forgets(serve: Callable[..., Served]) -> None:
    served = serve("--batch-per-minute", "120")
    base = base_url_of(served)
    served.wait_for("Ctrl-C")
    assert "state:         in memory only: forgotten on exit" in "".join(served.seen)
    health = requests.get(base + "/_emulator/health", timeout=TIMEOUT).json()
    assert health["limits"]["batch_per_minute"] == 120 and health["data_file"] is None
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(TIMEOUT) == 0


def test_serve_refuses_a_data_file_it_cannot_load(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "broken.json"
    data.write_text("{not json")
    result = runner.invoke(cli, ["emulator", "serve", "--port", "0", "--data", str(data)])
    assert result.exit_code == 2
    assert str(data) in result.output
