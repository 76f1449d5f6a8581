"""Reading an HTTP answer's body against a deadline and a size cap (the QBO gateway, the http source).

requests' ``timeout`` bounds each socket read, not the whole request: an answer that trickles a
byte every few seconds never trips it, and held a run (and its lock) forever. So the request is
sent with ``stream=True`` and its body read here in pieces of at most one socket read each
(urllib3's ``read1``): the deadline is checked between pieces and the socket's own timeout is
cut to the time left, so no single read outlasts the deadline either. A body over ``max_bytes``
(decoded, so a compressed bomb counts at its real size) stops the read as soon as it is passed.
On any failure the response is closed, so a half-read connection never goes back to the pool.

No requests import here (the layering rule keeps it to qbo/, auth/, sources/): the response is
duck-typed, and failures are this module's own exceptions for the caller to translate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PIECE = 64 * 1024  # at most this much per read; one read is one recv at most


class BodyError(Exception):
    """The body could not be read whole; ``received`` bytes had come."""

    def __init__(self, message: str, received: int) -> None:
        super().__init__(message)
        self.received = received


class BodyTimeout(BodyError):
    """The deadline passed before the body was whole."""


class BodyTooLarge(BodyError):
    """The body passed ``max_bytes``."""


class BodyBroken(BodyError):
    """The connection failed while reading (reset, a read timeout, bad chunking)."""


def read_body(
    response: Any,
    *,
    deadline: float,
    max_bytes: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Read a streamed requests.Response's body by ``deadline`` (a ``clock`` value) and keep it
    as the response's content (``.content``, ``.text``, ``.json()`` work as usual)."""
    raw = response.raw
    pieces: list[bytes] = []
    received = 0
    try:
        declared = response.headers.get("Content-Length", "")
        if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
            raise BodyTooLarge(f"{int(declared)} bytes announced", 0)
        while True:
            left = deadline - clock()
            if left <= 0:
                raise BodyTimeout(f"{received} bytes received", received)
            _cut_socket_timeout(raw, left)
            try:
                piece = raw.read1(PIECE, decode_content=True)
            except Exception as exc:  # urllib3's errors; its timeouts once the deadline is near
                if deadline - clock() <= 0:
                    raise BodyTimeout(f"{received} bytes received", received) from None
                raise BodyBroken(type(exc).__name__, received) from None
            if not piece:
                break
            received += len(piece)
            if max_bytes is not None and received > max_bytes:
                raise BodyTooLarge(f"over {max_bytes} bytes", received)
            pieces.append(piece)
    except BaseException:
        response.close()
        raise
    body = b"".join(pieces)
    # requests keeps a read body here; .content then never touches the (finished) stream.
    response._content = body
    response._content_consumed = True
    return body


def _cut_socket_timeout(raw: Any, left: float) -> None:
    """Let no single socket read wait past the deadline (urllib3 sets the timeout again when it
    reuses the connection, so this does not leak into the next request)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        return
    current = sock.gettimeout()
    if current is None or current > left:
        sock.settimeout(max(left, 0.001))
