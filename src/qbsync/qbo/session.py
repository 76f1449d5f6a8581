"""The HTTP session every QBO request goes through (also python-quickbooks's, as ``qb.session``).

``QboSession`` adds what python-quickbooks 0.9.12 leaves out (qbo-facts.md): a timeout on every
request, the bearer token from the TokenManager (refreshed ahead of expiry, and once after a 401),
``minorversion``, client-side pacing (pacing.py) and backoff on throttling, 5xx and network errors.
It only repeats a request that is safe to repeat: GETs, ``/query`` POSTs (read-only, despite the
verb), and POSTs carrying a ``requestid`` (QBO answers a repeated requestid with the original
response instead of running the operation again). A 401 or 429 means QBO did not run the request,
so those are repeated for any method. It never follows a redirect.

When the connection fails on a write (anything but a read or a query), whether QBO did the work is
unknown: that is ``QboUnclearOutcomeError``, a ``QboUnavailableError``; on a read it is plain
``QboUnavailableError``.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import requests

from qbsync.bounded import BodyError, BodyTimeout, read_body
from qbsync.errors import TID_LABEL, QboUnavailableError, QboUnclearOutcomeError
from qbsync.qbo.faults import intuit_tid
from qbsync.qbo.pacing import RatePacer

if TYPE_CHECKING:
    from qbsync.auth.tokens import TokenManager

log = logging.getLogger(__name__)

# Set on every response: True when an earlier attempt of the same write was lost or answered 5xx,
# so QBO may have done the work then; a fault answered now does not prove it was not done.
UNCLEAR_BEFORE = "qbsync_unclear_before"


def whole_seconds(delay: float) -> int:
    """A retry delay as people read it: whole seconds, rounded up (``retrying in 2 s``, never
    ``retrying in 1.73205 s``); the wait itself stays exact."""
    return math.ceil(delay)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. Intuit says wait 60 s after a 3001 throttle; tests shorten it."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    throttle_delay: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Exponential with jitter (half to full), so parallel runs do not retry in step."""
        delay = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return delay * (0.5 + random.random() / 2)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _has_param(url: str, params: object, name: str) -> bool:
    if isinstance(params, Mapping) and params.get(name) not in (None, ""):
        return True
    return name in parse_qs(urlsplit(url).query)


def _is_throttle(resp: requests.Response) -> bool:
    if resp.status_code == 429:
        return True
    # In 2016 QBO sent throttles as 403 with statusCode=403 in the body (qbo-facts.md).
    if resp.status_code != 403:
        return False
    text = resp.text
    return "ThrottleExceeded" in text or re.search(r'code"?\s*[=:]\s*"3001"', text) is not None


# Failures of the connection itself (not of QBO's answer): the request may or may not have run.
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class QboSession(requests.Session):
    """A requests.Session for QBO: bearer token, timeout, minorversion, refresh and backoff."""

    def __init__(
        self,
        token_manager: TokenManager,
        *,
        timeout: float = 60.0,
        minor_version: int = 75,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pacer: RatePacer | None = None,
    ) -> None:
        super().__init__()
        self.token_manager = token_manager
        self.timeout = timeout
        self.minor_version = minor_version
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        # Stay under QBO's limits rather than meet them (see pacing.py).
        self.pacer = pacer if pacer is not None else RatePacer()
        self._count_lock = threading.Lock()
        self.request_count = 0  # attempts put on the wire, retries included
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """requests reads the proxy and CA-bundle environment variables on every request (3 ms
        each, 10% of a large export's CPU); they do not change during a run: read them once per
        host."""
        parts = urlsplit(url.decode() if isinstance(url, bytes) else (url or ""))
        key = (parts.scheme, parts.netloc, repr(proxies), stream, repr(verify), repr(cert))
        found = self._environment.get(key)
        if found is None:
            found = dict(super().merge_environment_settings(url, proxies, stream, verify, cert))
            self._environment[key] = found
        return dict(found)

    @property
    def access_token(self) -> str:
        # python-quickbooks reads this to build its own Authorization header; request() sets
        # the header again anyway, so a refresh between the two cannot send a stale token.
        return self.token_manager.access_token()

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if args:  # keep one code path: requests' positional order is params, data, headers...
            names = ("params", "data", "headers", "cookies", "files", "auth", "timeout")
            kwargs.update(zip(names, args, strict=False))
        method = method.upper()
        # Called right before each attempt goes on the wire (retries included): a caller that
        # records "sent at" (export's settle grace) learns each attempt's moment as it happens.
        on_attempt: Callable[[], None] | None = kwargs.pop("on_attempt", None)
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        kwargs.pop("stream", None)  # always streamed, then read whole (below)
        params = kwargs.get("params")
        params = dict(params) if isinstance(params, Mapping) else {}
        if not _has_param(url, params, "minorversion"):
            params["minorversion"] = str(self.minor_version)
        kwargs["params"] = params
        read = is_read(method, url)
        repeatable = read or _has_param(url, params, "requestid")
        is_batch = urlsplit(url).path.rstrip("/").endswith("/batch")
        refreshed = False
        unclear = False  # an earlier attempt of this write may have done the work
        attempt = 0
        token = self.token_manager.access_token()
        while True:
            attempt += 1
            self.pacer.wait(batch=is_batch)
            headers = dict(kwargs.get("headers") or {})
            headers["Authorization"] = f"Bearer {token}"
            headers.setdefault("Accept", "application/json")
            kwargs["headers"] = headers
            started = time.monotonic()
            # Never follow a redirect: QBO's API does not send them, and a 307 would re-send an
            # entity body (a create) to whatever address it names.
            kwargs["allow_redirects"] = False
            if on_attempt is not None:
                on_attempt()
            with self._count_lock:
                self.request_count += 1
            failure = ""
            tid: str | None = None
            try:
                # Streamed, then read against the deadline: requests' timeout bounds each socket
                # read only, and an answer trickling a byte at a time never trips it.
                resp = super().request(method, url, stream=True, **kwargs)
                tid = intuit_tid(resp)
                read_body(resp, deadline=started + self.timeout)
            except _TRANSPORT_ERRORS as exc:
                failure = type(exc).__name__
            except BodyTimeout:
                failure = f"no whole answer within {self.timeout:g} s ([qbo] timeout_seconds)"
            except BodyError as exc:
                failure = f"the answer broke off: {exc}"
            if failure:
                where = f"{method} {_path(url)}" + (f", {TID_LABEL} {tid}" if tid else "")
                if repeatable and attempt < self.retry.max_attempts:
                    unclear = unclear or not read
                    delay = self.retry.backoff(attempt)
                    log.warning(
                        "QBO %s: %s; retrying in %d s", where, failure, whole_seconds(delay)
                    )
                    self._sleep(delay)
                    continue
                text = (
                    f"QBO could not be reached ({failure} on {where}"
                    + ("" if repeatable else "; not retried, as it could create a record twice")
                    + ")"
                )
                error = (
                    QboUnavailableError(text, intuit_tid=tid)
                    if read
                    else QboUnclearOutcomeError(
                        text + "; QBO may or may not have done it", intuit_tid=tid
                    )
                )
                log.info("%s", error.message)
                raise error from None
            log.debug(
                "QBO %s %s -> %s in %.0f ms",
                method,
                _path(url),
                resp.status_code,
                (time.monotonic() - started) * 1000,
            )
            if resp.status_code == 401 and not refreshed:
                # Rejected before it ran, so safe to repeat whatever the method.
                refreshed = True
                token = self.token_manager.after_401(token)
                continue
            throttled = _is_throttle(resp)
            if throttled or resp.status_code >= 500:
                may_retry = throttled or repeatable
                if may_retry and attempt < self.retry.max_attempts:
                    unclear = unclear or (not read and not throttled)
                    wait = retry_after_seconds(resp.headers.get("Retry-After"))
                    if wait is None:
                        wait = (
                            self.retry.throttle_delay if throttled else self.retry.backoff(attempt)
                        )
                    wait = min(wait, max(self.retry.max_delay, self.retry.throttle_delay))
                    log.warning(
                        "QBO %s %s answered %s%s; retrying in %d s",
                        method,
                        _path(url),
                        resp.status_code,
                        _tid_note(resp),
                        whole_seconds(wait),
                    )
                    self._sleep(wait)
                    continue
            setattr(resp, UNCLEAR_BEFORE, unclear)  # an attribute requests does not have
            return resp


def is_read(method: str, url: str) -> bool:
    """A request that changes nothing in QBO: a GET, or a query (a POST to ``/query``)."""
    return method.upper() in ("GET", "HEAD") or urlsplit(url).path.rstrip("/").endswith("/query")


def _path(url: str) -> str:
    return urlsplit(url).path


def _tid_note(resp: requests.Response) -> str:
    tid = intuit_tid(resp)
    return f" ({TID_LABEL} {tid})" if tid else ""
