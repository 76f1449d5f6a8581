"""The QBO gateway: the only module that sends requests to the QuickBooks Online API.

``QboSession`` is a ``requests.Session`` that every QBO call goes through, including calls made by
python-quickbooks objects (it is installed as ``qb.session``). It adds what python-quickbooks 0.9.12
leaves out (qbo-facts.md): a timeout on every request, the bearer token from the TokenManager
(refreshed ahead of expiry, and once after a 401), ``minorversion``, and backoff on throttling,
5xx and network errors. It only repeats a request that is safe to repeat: GETs, ``/query`` POSTs
(read-only, despite the verb), and POSTs carrying a ``requestid`` (QBO answers a repeated requestid
with the original response instead of running the operation again). A 401 or 429 means QBO did not
run the request, so those are repeated for any method.

``QboClient`` calls the API through that session directly rather than through python-quickbooks's
``make_request``, which drops the HTTP status, turns XML throttle bodies into code 10000, puts the
raw response text into exception messages, and sends no requestid with batches. Faults become
``qbsync.errors`` classes carrying QBO's code.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import requests
from quickbooks import QuickBooks

from qbsync import exactjson
from qbsync.errors import QboError, QboUnavailableError
from qbsync.qbo.faults import parse_response
from qbsync.qbo.pacing import RatePacer

if TYPE_CHECKING:
    from qbsync.auth.tokens import TokenManager
    from qbsync.config import Config

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # QBO's MAXRESULTS maximum
BATCH_MAX_ITEMS = 30
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36
BID_MAX = 10
_QUOTED = re.compile(r"'(?:\\.|[^'\\])*'")  # a quoted value, with \' escapes inside


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
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        params = kwargs.get("params")
        params = dict(params) if isinstance(params, Mapping) else {}
        if not _has_param(url, params, "minorversion"):
            params["minorversion"] = str(self.minor_version)
        kwargs["params"] = params
        repeatable = (
            method in ("GET", "HEAD")
            or urlsplit(url).path.rstrip("/").endswith("/query")
            or _has_param(url, params, "requestid")
        )
        is_batch = urlsplit(url).path.rstrip("/").endswith("/batch")
        refreshed = False
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
            try:
                resp = super().request(method, url, **kwargs)
            except _TRANSPORT_ERRORS as exc:
                what = type(exc).__name__
                if repeatable and attempt < self.retry.max_attempts:
                    delay = self.retry.backoff(attempt)
                    log.warning(
                        "QBO %s %s: %s; retrying in %.1f s", method, _path(url), what, delay
                    )
                    self._sleep(delay)
                    continue
                raise QboUnavailableError(
                    f"QBO could not be reached ({what} on {method} {_path(url)}"
                    + ("" if repeatable else "; not retried, as it could create a record twice")
                    + ")"
                ) from None
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
                    wait = retry_after_seconds(resp.headers.get("Retry-After"))
                    if wait is None:
                        wait = (
                            self.retry.throttle_delay if throttled else self.retry.backoff(attempt)
                        )
                    wait = min(wait, max(self.retry.max_delay, self.retry.throttle_delay))
                    log.warning(
                        "QBO %s %s answered %s; retrying in %.1f s",
                        method,
                        _path(url),
                        resp.status_code,
                        wait,
                    )
                    self._sleep(wait)
                    continue
            return resp


def _path(url: str) -> str:
    return urlsplit(url).path


def _dumps(body: object) -> str:
    # Amounts go out digit for digit (exactjson), never through float; dates and the like as text.
    return exactjson.dumps(body, default=str)


# --- client ---------------------------------------------------------------------------------


class QboClient:
    """QBO API calls for one company, all through one QboSession."""

    def __init__(
        self,
        config: Config,
        token_manager: TokenManager,
        *,
        session: QboSession | None = None,
        retry: RetryPolicy | None = None,
        pacer: RatePacer | None = None,
    ) -> None:
        self.realm_id = token_manager.realm_id
        self.session = session or QboSession(
            token_manager,
            timeout=config.qbo.timeout_seconds,
            minor_version=config.qbo.minor_version,
            retry=retry,
            pacer=pacer,
        )
        endpoints = config.qbo.endpoints
        self.api_base = endpoints.api_base.rstrip("/")
        # python-quickbooks objects (Customer.filter(qb=client.qb)...) also go through our session.
        # The API base is set on the instance, never on the class (other instances keep theirs).
        self.qb = QuickBooks(company_id=self.realm_id, minorversion=config.qbo.minor_version)
        self.qb.session = self.session
        self.qb.use_decimal = True
        if endpoints.name == "production":
            self.qb.sandbox = False
            self.qb.api_url_v3 = self.api_base
        else:
            self.qb.sandbox = True
            self.qb.sandbox_api_url_v3 = self.api_base

    def url(self, subpath: str) -> str:
        return f"{self.api_base}/company/{self.realm_id}/{subpath.lstrip('/')}"

    def call(
        self,
        method: str,
        subpath: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One API request; the parsed JSON body, or a qbsync error."""
        data: str | None = None
        if body is not None:
            data = body if isinstance(body, str) else _dumps(body)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        resp = self.session.request(
            method, self.url(subpath), params=dict(params or {}), data=data, headers=headers
        )
        return parse_response(resp)

    def company_info(self) -> dict[str, Any]:
        body = self.call("GET", f"companyinfo/{self.realm_id}")
        info = body.get("CompanyInfo")
        if not isinstance(info, dict):
            raise QboError("QBO answered CompanyInfo without a CompanyInfo object")
        return info

    def query(self, sql: str, *, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        """All rows of a select, page by page (STARTPOSITION is 1-based)."""
        # Look at the statement outside its quoted values ('Maxresults Ltd' is a fine name).
        bare = _QUOTED.sub("''", sql)
        if re.search(r"(?i)\b(startposition|maxresults)\b", bare):
            raise ValueError("query() pages by itself: leave STARTPOSITION/MAXRESULTS out")
        statement = sql.strip()
        if not re.search(r"(?i)\borderby\b", bare) and not re.search(r"(?i)\bcount\s*\(", bare):
            # QBO promises no order without ORDERBY, and pages of an unordered result can skip
            # or repeat rows; Id is sortable on every entity qbsync reads.
            statement += " ORDERBY Id"
        rows: list[dict[str, Any]] = []
        start = 1
        while True:
            page_sql = f"{statement} STARTPOSITION {start} MAXRESULTS {page_size}"
            body = self.call("POST", "query", body=page_sql, content_type="application/text")
            response = body.get("QueryResponse") or {}  # {"QueryResponse": {}} when empty
            page: list[dict[str, Any]] = []
            for value in response.values():
                if isinstance(value, list):
                    page.extend(value)
            rows.extend(page)
            if len(page) < page_size:
                return rows
            start += page_size

    def get(self, entity: str, entity_id: str) -> dict[str, Any]:
        body = self.call("GET", f"{entity.lower()}/{entity_id}")
        return _entity(body, entity)

    def create(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        return _entity(self._post_entity(entity, body, request_id), entity)

    def update(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """Full or sparse update: the body carries Id and the current SyncToken."""
        if not body.get("Id") or body.get("SyncToken") is None:
            raise ValueError("update() needs Id and SyncToken in the body")
        return _entity(self._post_entity(entity, body, request_id), entity)

    def _post_entity(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        _check_request_id(request_id, REQUEST_ID_MAX)
        return self.call("POST", entity.lower(), params={"requestid": request_id}, body=body)

    def batch(self, items: list[Mapping[str, Any]], request_id: str) -> list[dict[str, Any]]:
        """Up to 30 operations (``{"bId", "operation", "<Entity>": {...}}``) in one request.

        Returns each item's answer (entity or ``Fault``) in the order QBO gives them; use
        ``qbo_faults.batch_item_error`` to turn an item's Fault into an error.
        """
        if not 0 < len(items) <= BATCH_MAX_ITEMS:
            raise ValueError(f"a batch holds 1 to {BATCH_MAX_ITEMS} items, not {len(items)}")
        long_ids = [str(i.get("bId")) for i in items if len(str(i.get("bId") or "")) > BID_MAX]
        if long_ids:  # QBO: with a requestid, each bId is at most 10 characters (qbo-facts.md)
            raise ValueError(f"batch item ids longer than {BID_MAX} characters: {long_ids[:3]}")
        _check_request_id(request_id, BATCH_REQUEST_ID_MAX)
        body = self.call(
            "POST",
            "batch",
            params={"requestid": request_id},
            body={"BatchItemRequest": list(items)},
        )
        answers = body.get("BatchItemResponse")
        if not isinstance(answers, list):
            raise QboError("QBO answered a batch without BatchItemResponse")
        return answers


def _entity(body: Mapping[str, Any], entity: str) -> dict[str, Any]:
    value = body.get(entity)
    if not isinstance(value, dict):
        raise QboError(f"QBO answered without a {entity} object")
    return value


def _check_request_id(request_id: str, limit: int) -> None:
    if not request_id or len(request_id) > limit:
        raise ValueError(f"requestid must be 1 to {limit} characters")
