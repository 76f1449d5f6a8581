"""loopback.py: no other connection (slow, idle, half-open) can keep `qbsync auth` alive.

The catcher must give up at ``wait``'s deadline and let the process exit within a second of the
callback or of that deadline, whatever a local client does: trickle a byte every few hundred ms
(slow-loris), open a connection and send nothing (a browser's spare connection), or send half a
request and stop.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from qbsync.auth.loopback import LoopbackCatcher
from qbsync.errors import OAuthFlowError
from qbsync.hosts import free_loopback_port


def _connect_when_listening(port: int) -> socket.socket:
    for _ in range(100):
        try:
            return socket.create_connection(("127.0.0.1", port))
        except ConnectionRefusedError:
            time.sleep(0.02)
    raise AssertionError("the catcher never listened")


@contextmanager
def _slow_loris_later(
    port: int, *, every: float = 0.2, for_at_most: float = 8.0
) -> Iterator[list[str]]:
    """A client that connects once the catcher listens, then sends one byte every ``every`` s.

    Yields a list that says how it ended: "server closed" when the server dropped it.
    """
    ended: list[str] = []
    stop = threading.Event()

    def trickle() -> None:
        request = b"GET /cb?code=slow&state=s HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 500
        deadline = time.monotonic() + for_at_most
        with _connect_when_listening(port) as sock:
            for byte in request:
                if stop.is_set() or time.monotonic() > deadline:
                    ended.append("client gave up")
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    ended.append("server closed")
                    return
                time.sleep(every)
            ended.append("sent everything")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield ended
    finally:
        stop.set()
        thread.join(10)


def test_a_slow_loris_does_not_extend_the_wait_nor_the_exit() -> None:
    port = free_loopback_port()
    with _slow_loris_later(port) as ended:
        started = time.monotonic()
        with (
            LoopbackCatcher(f"http://127.0.0.1:{port}/cb", expected_state="s") as catcher,
            pytest.raises(OAuthFlowError, match=r"within 2 s"),
        ):
            catcher.wait(2)
        closed = time.monotonic() - started
        assert closed < 3.0, f"wait(2) and close took {closed:.1f} s"
        # The server dropped the trickling connection itself (its request took too long).
        for _ in range(40):
            if ended:
                break
            time.sleep(0.05)
        assert ended == ["server closed"]


def test_the_callback_still_works_while_a_slow_client_is_connected() -> None:
    port = free_loopback_port()
    pages: list[requests.Response] = []
    with _slow_loris_later(port, every=0.1):
        catcher = LoopbackCatcher(f"http://127.0.0.1:{port}/cb", expected_state="s")
        with catcher:

            def browser() -> None:
                url = f"http://127.0.0.1:{port}/cb?code=a&state=s"
                pages.append(requests.get(url, timeout=5))

            time.sleep(0.5)  # the slow client is connected first
            thread = threading.Thread(target=browser)
            thread.start()
            assert catcher.wait(5) == "code=a&state=s"
            catcher.respond(True, "Connected to Acme.")
            thread.join(5)
    assert pages[0].status_code == 200
    assert "Connected to Acme." in pages[0].text


@pytest.mark.parametrize("client", ["idle", "half a request", "half-closed"])
def test_an_open_connection_does_not_delay_the_exit_after_the_callback(client: str) -> None:
    port = free_loopback_port()
    pages: list[requests.Response] = []
    with LoopbackCatcher(f"http://127.0.0.1:{port}/cb") as catcher:
        other = socket.create_connection(("127.0.0.1", port))
        if client == "half a request":
            other.sendall(b"GET /cb?code=half HTTP/1.1\r\nHo")
        elif client == "half-closed":
            other.sendall(b"GET /favicon.ico HTTP/1.1\r\n")
            other.shutdown(socket.SHUT_WR)  # the server reads EOF, and could still write
        time.sleep(0.2)  # the server has accepted it

        def browser() -> None:
            pages.append(requests.get(f"http://127.0.0.1:{port}/cb?code=real", timeout=5))

        thread = threading.Thread(target=browser)
        thread.start()
        assert catcher.wait(5) == "code=real"
        catcher.respond(True, "Connected.")
        thread.join(5)
        responded = time.monotonic()
    took = time.monotonic() - responded
    other.close()
    assert took < 1.0, f"leaving the catcher took {took:.2f} s"
    assert pages[0].status_code == 200


def test_an_idle_connection_does_not_delay_the_exit_after_the_deadline() -> None:
    port = free_loopback_port()
    with socket.socket() as idle:
        with LoopbackCatcher(f"http://127.0.0.1:{port}/cb") as catcher:
            idle.connect(("127.0.0.1", port))
            with pytest.raises(OAuthFlowError):
                catcher.wait(0.2)
            timed_out = time.monotonic()
        assert time.monotonic() - timed_out < 1.0
        idle.settimeout(2)
        assert idle.recv(1) == b""  # dropped by the server, not left open


def test_close_is_idempotent_and_answers_a_waiting_browser() -> None:
    port = free_loopback_port()
    pages: list[requests.Response] = []
    catcher = LoopbackCatcher(f"http://127.0.0.1:{port}/cb")
    with catcher:
        thread = threading.Thread(
            target=lambda: pages.append(requests.get(f"http://127.0.0.1:{port}/cb", timeout=5))
        )
        thread.start()
        catcher.wait(5)
        catcher.close()  # without respond(): the browser gets the "stopped" page
        thread.join(5)
    catcher.close()
    assert pages[0].status_code == 400
    assert "qbsync stopped" in pages[0].text


# Runs a catcher in its own process with an idle connection open to it, completes the callback,
# prints "responded", and leaves: the parent measures how long the process takes to exit after.
EXITS = """
import socket, sys, threading, requests
from qbsync.auth.loopback import LoopbackCatcher
port = int(sys.argv[1])
with LoopbackCatcher(f"http://127.0.0.1:{port}/cb") as catcher:
    idle = socket.create_connection(("127.0.0.1", port))  # never sends, never closes
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /cb HTTP/1.1\\r\\n")  # and never finishes its headers
    browser = threading.Thread(
        target=lambda: requests.get(f"http://127.0.0.1:{port}/cb?code=c", timeout=10), daemon=True
    )
    browser.start()
    assert catcher.wait(10) == "code=c"
    catcher.respond(True, "done")
    print("responded", flush=True)
"""


def test_the_process_exits_within_a_second_of_the_callback_despite_open_connections() -> None:
    port = free_loopback_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", EXITS, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        responded = time.monotonic()
        assert line.strip() == "responded", proc.stderr.read() if proc.stderr else ""
        proc.wait(timeout=15)
        took = time.monotonic() - responded
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert took < 1.0, f"the process took {took:.2f} s to exit after the callback"
