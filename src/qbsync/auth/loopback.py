"""The loopback catcher: a one-shot local web server the browser is redirected to after consent.

It binds only the redirect URI's loopback address and port (never all interfaces), answers the
callback path once, gives 404 to anything else (browsers ask for /favicon.ico), and holds the
browser's request open until the caller has exchanged the code, so the page can say which company
was connected, or what went wrong. It never logs request lines: they carry the authorization code.

Given the login's ``state``, a request to the callback path whose state is missing or different
(an old tab reloading, a forged link) is answered with an error page and reported to ``wait``'s
``on_stray``; the catcher keeps waiting for the request that carries this login's state, so one
stray hit cannot end the login nor leave the real redirect without an answer.

No other connection can hold qbsync up: ``wait(timeout)`` is a hard deadline, a connection has
``HEADER_SECONDS`` in all to send its request line and headers (a client trickling one byte at a
time is cut off, not kept alive by each byte), handler threads are daemon threads, and ``close()``
joins only the thread writing the result page, for at most ``CLOSE_GRACE_SECONDS``; every other
connection (idle, half-open, slow) is shut down, so the process can exit at once.
"""

from __future__ import annotations

import contextlib
import errno
import html
import io
import logging
import queue
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from qbsync.errors import OAuthFlowError
from qbsync.hosts import is_loopback_host
from qbsync.redact import redact

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)

# How long the browser's request is held while qbsync exchanges the code and reads CompanyInfo.
PAGE_WAIT_SECONDS = 120.0
# The whole request (request line and headers) must arrive within this of the connection's accept:
# a browser sends it at once; an idle spare connection or a slow client is dropped after it.
HEADER_SECONDS = 1.0
# Writing a page (a few hundred bytes) to a client that does not read gives up after this.
WRITE_SECONDS = 2.0
# close() waits at most this for the result page to be written; nothing else is waited for.
CLOSE_GRACE_SECONDS = 0.5
# The accept loop's poll interval, and the listening socket's timeout (see _Server.server_activate).
POLL_SECONDS = 0.05
STRAY_PAGE = (
    "This address does not belong to the login qbsync is waiting for (its state is missing or "
    "from another login: an old tab?). Nothing was done, and qbsync is still waiting: finish "
    "the login in the tab that `qbsync auth` opened, then close this one."
)


class _Server(ThreadingHTTPServer):
    # Daemon threads, and none joined on server_close(): a slow or idle connection must never keep
    # qbsync alive. LoopbackCatcher.close() waits (briefly) for the one thread that matters, the
    # one writing the result page, and shuts the other connections down.
    daemon_threads = True
    block_on_close = False
    catcher: LoopbackCatcher

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        self._open: set[socket.socket] = set()  # connections whose handler has not finished
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def server_activate(self) -> None:
        super().server_activate()
        # select() may report a connection that is reset before accept() takes it; a blocking
        # accept() would then hang the serve loop, and shutdown() with it. With a timeout it
        # fails (OSError), which socketserver ignores, and the loop checks for shutdown again.
        self.socket.settimeout(POLL_SECONDS)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self, keep: socket.socket | None = None) -> None:
        """Shut every open connection but ``keep``: their threads' reads and writes end at once."""
        with self._open_lock:
            doomed = [sock for sock in self._open if sock is not keep]
        for sock in doomed:
            with contextlib.suppress(OSError):  # already closed by its own thread
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        # socketserver prints a traceback to stderr for any handler error (a browser closing the
        # tab before the page is written: BrokenPipeError). The operator's terminal gets one
        # clear line from the auth command instead; nothing here changes the outcome.
        log.debug("loopback callback connection failed: %s", type(sys.exc_info()[1]).__name__)


class _RequestReader(io.RawIOBase):
    """A connection's read side with one deadline for the whole request, not one per read.

    A socket timeout restarts with every byte received, so a client sending a byte every few
    seconds would hold its connection (and, before, qbsync's exit) forever. Here each read may
    only wait for what is left of ``HEADER_SECONDS``; past it, ``TimeoutError``, which
    BaseHTTPRequestHandler answers by closing the connection.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see library-notes.md: avoids a 40 ms stall per response
    timeout = HEADER_SECONDS  # drop idle connections (browsers open spare ones)

    def setup(self) -> None:
        super().setup()
        # The plain makefile() reader gives way to one with a deadline for the whole request.
        self.rfile.close()
        reader = _RequestReader(self.connection, time.monotonic() + HEADER_SECONDS)
        self.rfile = io.BufferedReader(reader)

    def do_GET(self) -> None:
        catcher = self.server.catcher
        parts = urlsplit(self.path)
        if parts.path.rstrip("/") != catcher.path.rstrip("/"):
            self._send(404, "Not found", "Nothing here.")
            return
        if not catcher._ours(parts.query):
            catcher._arrived.put(None)  # wait() reports it and keeps waiting
            self._send(400, "Not this login", STRAY_PAGE)
            return
        if not catcher._claim():
            self._send(409, "Already handled", "This login was already handled; close this tab.")
            return
        catcher._page_writer = (threading.current_thread(), self.connection)
        catcher._arrived.put(parts.query)
        catcher._page_ready.wait(PAGE_WAIT_SECONDS)
        status, title, message = catcher._page or (500, "qbsync", "qbsync stopped waiting.")
        self._send(status, title, message)

    def _send(self, status: int, title: str, message: str) -> None:
        message = redact(message)  # the page shows error messages: mask any secret in them
        body = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
        ).encode()
        self.connection.settimeout(WRITE_SECONDS)  # the reads' deadline may be nearly spent
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        # The request line holds ?code=...: never write it anywhere.
        return


class LoopbackCatcher:
    """``with LoopbackCatcher(uri, expected_state=s) as c: q = c.wait(300); ...; c.respond(...)``.

    Without ``expected_state`` the first request to the callback path is handed over, whatever
    it carries; with it, only the one carrying that state (the others get an error page).
    """

    def __init__(self, redirect_uri: str, expected_state: str | None = None) -> None:
        self.redirect_uri = redirect_uri
        self.expected_state = expected_state
        parts = urlsplit(redirect_uri)
        host = parts.hostname or ""
        if parts.scheme != "http" or not is_loopback_host(host):
            # The authorization code arrives in this server's request line: listening on any
            # other address would offer it to the network.
            raise OAuthFlowError(
                f"the loopback catcher listens only on a loopback address (localhost, 127.0.0.1, "
                f"[::1]); {redirect_uri!r} is not one",
                hint="use the paste flow for an https redirect URI",
            )
        # localhost: bind IPv4 loopback; browsers fall back to it when ::1 refuses.
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self._arrived: queue.Queue[str | None] = queue.Queue()  # None: a stray request
        self._page_ready = threading.Event()
        self._page: tuple[int, str, str] | None = None
        self._claimed = False
        self._claim_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # The handler holding the browser's callback request, and its connection (close() lets
        # it write the result page).
        self._page_writer: tuple[threading.Thread, socket.socket] | None = None

    def _ours(self, query: str) -> bool:
        """Whether a callback request carries this login's state (always, without one set)."""
        if self.expected_state is None:
            return True
        values = parse_qs(query, keep_blank_values=True).get("state") or [""]
        return secrets.compare_digest(values[0].encode(), self.expected_state.encode())

    def _claim(self) -> bool:
        with self._claim_lock:
            if self._claimed:
                return False
            self._claimed = True
            return True

    def __enter__(self) -> LoopbackCatcher:
        cls = _Server6 if ":" in self.host else _Server
        try:
            server = cls((self.host, self.port), _Handler)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                reason = "is in use" if exc.errno == errno.EADDRINUSE else "needs privileges"
                raise OAuthFlowError(
                    f"cannot listen for the login callback on {self.redirect_uri}: port "
                    f"{self.port} {reason}",
                    hint=f"stop the program using port {self.port} (e.g. `lsof -i :{self.port}`), "
                    "or register another http://localhost:PORT redirect URI for the app and set "
                    "redirect_uri in the config to it",
                ) from None
            raise OAuthFlowError(
                f"cannot listen for the login callback on {self.redirect_uri}: {exc.strerror}",
                hint="check redirect_uri in the config",
            ) from None
        server.catcher = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
        )
        self._thread.start()
        return self

    def wait(self, timeout: float, on_stray: Callable[[str], None] | None = None) -> str:
        """Block until the browser brings this login's redirect; return its raw query string.

        A request with a missing or other state is answered with an error page and reported to
        ``on_stray`` (default: a warning in the log); the wait goes on until ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                query = self._arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise OAuthFlowError(
                    f"no browser came back to {self.redirect_uri} within {timeout:g} s",
                    hint="run `qbsync auth` again (--timeout to wait longer), or "
                    "`qbsync auth --print-url`, then `qbsync auth --redirect-url '<address>'`; "
                    "if the browser showed an error page, check client_id and redirect_uri in "
                    "the config",
                ) from None
            if query is not None:
                return query
            message = (
                f"ignored a request to {self.redirect_uri} that does not belong to this login "
                "(missing or other state: an old tab?); still waiting for the browser"
            )
            (on_stray or log.warning)(message)

    def respond(self, ok: bool, message: str) -> None:
        """The page the waiting browser gets: success or the error, then stop."""
        title = "Connected" if ok else "qbsync could not connect"
        self._page = (200 if ok else 400, title, message)
        self._page_ready.set()

    def close(self) -> None:
        """Stop listening and let go of every connection; returns within about half a second.

        The browser's callback request gets its page (the error page unless ``respond`` was
        called) if it can be written within ``CLOSE_GRACE_SECONDS``; no other connection is
        waited for: they are shut down, and their daemon threads end with them.
        """
        if self._page is None:
            self.respond(False, "qbsync stopped; see the terminal for details.")
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()  # the accept loop polls every POLL_SECONDS; accept() cannot block
        server.server_close()  # closes the listening socket; joins no handler thread
        if self._thread is not None:
            self._thread.join(timeout=1)
        writer = self._page_writer
        if writer is not None and writer[0] is not threading.current_thread():
            server.drop_connections(keep=writer[1])
            writer[0].join(timeout=CLOSE_GRACE_SECONDS)
        server.drop_connections()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
