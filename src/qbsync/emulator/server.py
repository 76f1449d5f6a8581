"""The emulator's HTTP server: Intuit's OAuth paths, the QBO API under ``/v3``, admin under
``/_emulator``, and the ``Emulator`` class that owns them all.

HTTP details (docs/library-notes.md, "http.server"): HTTP/1.1 keep-alive with
Nagle off (else every keep-alive answer waits ~40 ms for a delayed ACK), Content-Length on every
response, errors in QBO's JSON shapes. A client that disconnects mid-request costs a closed
connection, never the server.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import socketserver
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from qbsync.emulator import routes
from qbsync.emulator.accountant import Accountant
from qbsync.emulator.clock import Clock
from qbsync.emulator.faults import FaultPlan, make_rule
from qbsync.emulator.limits import BATCH_PER_MINUTE, RateLimiter
from qbsync.emulator.merge import merge_customers
from qbsync.emulator.oauth import OAuthClient, OAuthServer
from qbsync.emulator.persist import DataFile
from qbsync.emulator.prefs import UNCHANGED
from qbsync.emulator.seed import check_shape, clients_of, load_seed, realm_id_of
from qbsync.emulator.store import Company
from qbsync.emulator.wire import Request, Response
from qbsync.errors import ConfigError, QbsyncError
from qbsync.redact import redact

log = logging.getLogger("qbsync.emulator")

MAX_BODY = 10 * 1024 * 1024
_CONNECTION_ERRORS = (ConnectionError, TimeoutError, OSError)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent clients in limit tests must not be refused

    def __init__(self, address: tuple[str, int], emulator: Any) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can wait seconds on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so their threads end when the emulator stops."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients going away is normal (timeouts, killed processes): no traceback on stderr.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "qbsync-emulator"
    sys_version = ""
    timeout = 120  # QBO's request timeout; also how long an idle keep-alive connection stays open
    # Malformed requests answered by http.server itself (send_error): JSON too, not an HTML page.
    error_content_type = "application/json;charset=UTF-8"
    error_message_format = '{"error": "%(message)s", "status": %(code)d}'
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET
    do_PATCH = do_GET

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.log_requests:
            # The request line may carry an authorization code in a redirect's query: redact.
            super().log_message("%s", redact(format % args))

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(
                Response.json(411, {"error": "send a Content-Length, not chunked"}), close=True
            )
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(Response.json(413, {"error": "bad or too large Content-Length"}), close=True)
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
            if body is None:
                return
            split = urlsplit(self.path)
            pairs = parse_qsl(split.query, keep_blank_values=True)
            names = [name for name, _ in pairs]
            repeated = frozenset(name for name in names if names.count(name) > 1)
            request = Request(self.command, split.path, dict(pairs), self.headers, body, repeated)
            outcome = routes.handle(self.server.emulator, request)
            if outcome is None:  # a fault dropped the connection or lost the response
                self.close_connection = True
                return
            self._send(outcome)
        except _CONNECTION_ERRORS:
            self.close_connection = True
        except Exception:
            log.exception("emulator error on %s %s", self.command, redact(self.path))
            try:
                self._send(Response.json(500, {"error": "emulator internal error"}), close=True)
            except _CONNECTION_ERRORS:
                self.close_connection = True

    def _send(self, response: Response, *, close: bool = False) -> None:
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        self.send_response(response.status, phrase)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("intuit_tid", secrets.token_hex(16))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)


class Emulator(Accountant):
    """QBO and Intuit's OAuth server on loopback, for tests, the demo and users' CI.

    ``with Emulator() as emu:`` serves on a free port of 127.0.0.1 until the block ends.
    """

    def __init__(
        self,
        seed: dict[str, Any] | str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: bool = True,
        time_scale: float = 1.0,
        throttle_format: str = "xml",  # every captured 429 is XML (qbo-facts.md)
        access_token_ttl: float = 3600,
        refresh_grace: float = 86400,
        code_ttl: float = 300,
        log_requests: bool = False,
        batch_per_minute: int = BATCH_PER_MINUTE.max_requests,
        data: str | Path | None = None,
    ) -> None:
        if throttle_format not in ("json", "xml"):
            raise ValueError("throttle_format must be 'json' or 'xml'")
        merged, label = load_seed(seed)
        check_shape(merged, label)
        seed_realm = realm_id_of(merged, label)
        clients = clients_of(merged, label)
        self.clock = Clock()
        self.company = _make_company(merged, label, self.clock)
        self.realm_id: str = self.company.realm_id or seed_realm
        self.host = host
        self.port = port
        self.throttle_format = throttle_format
        self.log_requests = log_requests
        self.oauth = OAuthServer(
            self.clock,
            self.realm_id,
            access_token_ttl=access_token_ttl,
            refresh_grace=refresh_grace,
            code_ttl=code_ttl,
        )
        for client in clients:
            self.oauth.add_client(client)
        self.limiter = RateLimiter(
            self.clock.monotonic,
            enabled=limits,
            time_scale=time_scale,
            batch_per_minute=batch_per_minute,
        )
        self.faults = FaultPlan()
        self.request_log = routes.RequestLog()
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # --data: the saved state wins over the seed's company; the seed's clients are added on
        # top (so a changed demo secret takes effect). Without it everything lives in memory.
        self.data = DataFile(data) if data is not None else None
        self.restored = self.data.load_into(self) if self.data is not None else False
        if self.restored:
            for client in clients:
                self.oauth.add_client(client)
            self.realm_id = self.company.realm_id
            self.oauth.realm_id = self.realm_id

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        self.stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"qbo-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self.save()

    def save(self) -> None:
        """Write the state to the ``data`` file now (a no-op without one, or when unchanged)."""
        if self.data is not None:
            self.data.save(self)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()  # wakes hung requests
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        # serve_forever() notices shutdown only when its select() returns: a connection makes it
        # return now instead of after the poll interval (tests start and stop many emulators).
        with contextlib.suppress(OSError):
            socket.create_connection((self.host, self.port), timeout=0.5).close()
        closer.join()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.save()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() or use `with`")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def client(self) -> OAuthClient:
        """The first registered client (the seed's demo client by default)."""
        clients = self.oauth.clients()
        if not clients:
            raise ValueError("no OAuth client is registered with the emulator")
        return clients[0]

    # -- OAuth helpers -----------------------------------------------------------------------

    def add_client(
        self, client_id: str, client_secret: str, redirect_uris: list[str], *, deny: bool = False
    ) -> None:
        self.oauth.add_client(OAuthClient(client_id, client_secret, tuple(redirect_uris), deny))

    def deny_next_authorization(self) -> None:
        self.oauth.deny_next_authorization()

    def issue_tokens(
        self, client_id: str | None = None, *, realm_id: str | None = None
    ) -> dict[str, Any]:
        """A new grant without the browser: the token endpoint's answer, plus ``realmId``."""
        return self.oauth.issue_tokens(client_id, realm_id=realm_id)

    def issue_access_token(
        self, client_id: str | None = None, *, realm_id: str | None = None
    ) -> str:
        return str(self.issue_tokens(client_id, realm_id=realm_id)["access_token"])

    def token_state(self, token: str) -> str:
        """ "active", "grace", "expired", "revoked" or "unknown"."""
        return self.oauth.token_state(token)

    def grant_state(self, token: str) -> dict[str, Any] | None:
        return self.oauth.grant_state(token)

    # -- faults and observation --------------------------------------------------------------

    def inject_fault(self, path: str, kind: str, **options: Any) -> None:
        """Add a fault rule; ``options`` are ``make_rule``'s (count, status, method, hang_seconds)."""
        self.faults.add(make_rule(path, kind, **options))

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests(
        self, path: str | None = None, *, method: str | None = None
    ) -> list[dict[str, Any]]:
        """Recorded requests, oldest first; ``path`` is a substring or an fnmatch pattern
        (``"/v3/company/*"``: QBO API calls only), ``method`` e.g. ``"POST"``."""
        return self.request_log.entries(path, method)

    def request_counts(
        self, path: str | None = None, *, method: str | None = None
    ) -> dict[str, int]:
        """Requests per template (``"POST /v3/company/{realmId}/customer"``), filtered alike."""
        return self.request_log.counts(path, method)

    def request_count(self, path: str | None = None, *, method: str | None = None) -> int:
        """How many recorded requests match: ``emu.request_count("/v3/company/*") <= 2``."""
        return len(self.request_log.entries(path, method))

    def clear_requests(self) -> None:
        """Empty the request log (nothing else changes): count one run's requests from zero."""
        self.request_log.clear()

    def set_preferences(
        self,
        *,
        custom_txn_numbers: bool | None = None,
        home_currency: str | None = None,
        multi_currency: bool | None = None,
        sales_tax_rate: Any = UNCHANGED,
        book_close_date: Any = UNCHANGED,
    ) -> dict[str, Any]:
        """Change the company's Preferences (ValueError on a bad value); answers the new ones.
        ``sales_tax_rate`` is a percent (8.25) that switches sales tax on, None switches it off;
        ``book_close_date`` ("2024-12-31") closes the books through that day, None opens them."""
        prefs = self.company.set_preferences(
            custom_txn_numbers=custom_txn_numbers,
            home_currency=home_currency,
            multi_currency=multi_currency,
            sales_tax_rate=sales_tax_rate,
            book_close_date=book_close_date,
        )
        self.save()
        return prefs

    def merge_customers(self, source_id: str, into_id: str) -> dict[str, Any]:
        """Merge customer ``source_id`` into ``into_id`` as a QBO user would in the product
        (merge.py); answers the customer kept. ValueError for unknown or inactive ones."""
        kept = merge_customers(self.company, str(source_id), str(into_id))
        self.save()
        return kept

    def reset(self) -> None:
        """Company back to its seed; request log, faults and limit windows cleared.

        Clients, grants and tokens are kept (a connected app stays connected, as when a QBO
        company's data is restored), and so is the clock offset.
        """
        self.company.reset()
        self.request_log.clear()
        self.faults.clear()
        self.limiter.reset()
        self.save()


def _make_company(seed: dict[str, Any], label: str, clock: Clock) -> Company:
    try:
        return Company(seed, clock=clock.now)
    except QbsyncError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{label}: the company data is not valid: {exc}") from exc
