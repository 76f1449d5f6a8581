"""A trickling answer (headers, then one byte a second) no longer holds a run forever.

requests' timeout bounds each socket read, and each byte resets it, so before the bound a
request to such a server never ended. A tiny server on 127.0.0.1 plays the trickle; each request
must end within its whole-request timeout plus slack, with the right error, and the connection
must be closed (the server sees its writes fail).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from qbsync.config.source import SourceConfig
from qbsync.errors import QboUnavailableError, QboUnclearOutcomeError, SourceError
from qbsync.qbo.session import QboSession, RetryPolicy
from qbsync.sources.http_source import HttpSource

TID = "trickle-1-abc"
BOUND = 1.5  # the whole-request timeout under test, seconds
SLACK = 1.5  # scheduling, connect, thread start on a loaded 2-core machine


class Trickle:
    """A loopback server answering every request with headers, then one byte a second."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.closed_by_client = threading.Event()
        self.bytes_sent = 0
        trickle = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.send_header("intuit_tid", TID)
                self.end_headers()
                self.wfile.flush()
                try:
                    for _ in range(60):  # at most a minute, whatever the client does
                        if trickle.stop.wait(1.0):
                            return
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        trickle.bytes_sent += 1
                except OSError:  # the client closed the connection: what the test wants
                    trickle.closed_by_client.set()

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trickle() -> Iterator[Trickle]:
    with Trickle() as server:
        yield server


def _timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    """Run ``call`` in a thread so a hang fails the test instead of stalling the suite."""
    outcome: list[BaseException | None] = []
    started = time.monotonic()

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND + SLACK + 5)
    assert outcome, f"still waiting after {time.monotonic() - started:.1f} s: the trickle hung it"
    return outcome[0], time.monotonic() - started


class _Tokens:
    realm_id = "1"

    def access_token(self) -> str:
        return "acc-1"

    def after_401(self, token_used: str) -> str:
        return "acc-2"


def _qbo_session() -> QboSession:
    once = RetryPolicy(max_attempts=1, base_delay=0.01, max_delay=0.01)
    return QboSession(_Tokens(), timeout=BOUND, retry=once, sleep=lambda s: None)  # type: ignore[arg-type]


def test_a_trickling_qbo_read_ends_within_the_bound_as_unavailable(trickle: Trickle) -> None:
    session = _qbo_session()
    error, took = _timed(lambda: session.get(f"{trickle.url}/v3/company/1/companyinfo/1"))
    assert isinstance(error, QboUnavailableError)
    assert not isinstance(error, QboUnclearOutcomeError)
    assert took < BOUND + SLACK, took
    assert "timeout_seconds" in error.message
    assert error.intuit_tid == TID  # the headers came, so Intuit's id is known
    assert trickle.closed_by_client.wait(3), "the connection was left open"


def test_a_trickling_qbo_write_ends_within_the_bound_as_unclear(trickle: Trickle) -> None:
    session = _qbo_session()
    url = f"{trickle.url}/v3/company/1/customer"
    error, took = _timed(lambda: session.post(url, params={"requestid": "r-1"}, data="{}"))
    assert isinstance(error, QboUnclearOutcomeError)
    assert took < BOUND + SLACK, took
    assert trickle.closed_by_client.wait(3), "the connection was left open"


def test_a_trickling_source_page_ends_within_the_bound(
    trickle: Trickle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMBERS_API_TOKEN", "plat-token-0123456789")
    config = SourceConfig(
        type="http", base_url=trickle.url, token_env="MEMBERS_API_TOKEN", timeout_seconds=BOUND
    )
    source = HttpSource(config, tz=UTC, max_tries=1, sleep=lambda s: None)
    error, took = _timed(source.members)
    assert isinstance(error, SourceError)
    assert took < BOUND + SLACK, took
    assert f"{trickle.url}/members" in error.message and "timeout_seconds" in error.message
    assert trickle.closed_by_client.wait(3), "the connection was left open"


def test_a_gzip_answer_is_still_decoded_when_read_against_the_deadline() -> None:
    import gzip

    import requests
    import responses

    from qbsync.bounded import read_body

    body = b'{"QueryResponse": {"Customer": [' + b'{"Id": "1"},' * 1000 + b'{"Id": "2"}]}}'
    with responses.RequestsMock() as rsps:
        rsps.get(
            "http://127.0.0.1:9/x", body=gzip.compress(body), headers={"Content-Encoding": "gzip"}
        )
        resp = requests.get("http://127.0.0.1:9/x", stream=True, timeout=5)
        assert read_body(resp, deadline=time.monotonic() + 5) == body
    assert len(resp.json()["QueryResponse"]["Customer"]) == 1001
