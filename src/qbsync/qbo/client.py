"""The QBO gateway: the only module that sends requests to the QuickBooks Online API.

``QboClient`` calls the API for one company through one ``QboSession`` (session.py: token,
timeout, minorversion, pacing, refresh and backoff), directly rather than through
python-quickbooks's ``make_request``, which drops the HTTP status, turns XML throttle bodies into
code 10000, puts the raw response text into exception messages, and sends no requestid with
batches. Faults become ``qbsync.errors`` classes carrying QBO's code (faults.py).

Outcomes a caller must tell apart:
- ``QboInvalidRequestError`` (a ValueError): refused before sending; nothing happened.
- ``QboValidationError`` / ``QboStaleObjectError`` / ``QboError``: QBO refused; nothing happened.
- ``QboThrottledError``: throttled past the retries; QBO did not run it.
- ``QboUnavailableError`` on a read: no answer; nothing changed anyway.
- ``QboUnclearOutcomeError`` (a QboUnavailableError) on a write: the work may or may not have been
  done. Look in QBO before creating again.

python-quickbooks objects can still be used through ``client.qb`` (same session).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from quickbooks import QuickBooks

from qbsync import exactjson
from qbsync.errors import (
    QboError,
    QboInvalidRequestError,
    QboUnavailableError,
    QboUnclearOutcomeError,
)
from qbsync.qbo import batch as batching
from qbsync.qbo.batch import BatchAnswer, BatchItem
from qbsync.qbo.faults import intuit_tid, parse_response, with_tid
from qbsync.qbo.pacing import PaceLimits, RatePacer
from qbsync.qbo.query import (
    PAGE_SIZE,
    check_page_size,
    page_of,
    paged_statement,
    parse_qbo_time,
    quote,
)
from qbsync.qbo.session import UNCLEAR_BEFORE, QboSession, RetryPolicy, is_read
from qbsync.qbo.window_file import WindowFile, window_path

if TYPE_CHECKING:
    from qbsync.auth.tokens import TokenManager
    from qbsync.config import QboConfig

log = logging.getLogger(__name__)

REQUEST_ID_MAX = 50
CDC_MAX_DAYS = 30  # QBO's CDC reaches back at most 30 days (qbo-facts.md)
CDC_MAX_OBJECTS = 1000  # ... and answers at most 1000 objects
_ENTITY = re.compile(r"[A-Za-z]+")
_ID = re.compile(r"[A-Za-z0-9]+")

# What callers use, importable from here (defined in batch.py, query.py and session.py).
__all__ = ["BatchAnswer", "BatchItem", "QboClient", "QboSession", "RetryPolicy", "quote"]


class QboClient:
    """QBO API calls for one company, all through one QboSession.

    ``settings`` is the ``[qbo]`` part of the config (``QboConfig``): environment/endpoints,
    minor_version, timeout_seconds and batch_per_minute are read. ``session`` replaces the session
    built from them (``retry`` and ``pacer`` then belong to that session).

    Without a ``pacer`` one is built from ``settings``; with ``data_dir`` (the profile's data
    folder) its window is shared with the profile's other runs (pacing.py). ``time_scale``: an
    emulator's ``--time-scale``, dividing the pacer's windows and Intuit's 60 s throttle wait.
    """

    def __init__(
        self,
        settings: QboConfig,
        token_manager: TokenManager,
        *,
        session: QboSession | None = None,
        retry: RetryPolicy | None = None,
        pacer: RatePacer | None = None,
        data_dir: Path | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.realm_id: str = token_manager.realm_id
        if pacer is None and session is None:
            limits = PaceLimits(batches_per_minute=settings.batch_per_minute, time_scale=time_scale)
            shared = WindowFile(window_path(data_dir, self.realm_id)) if data_dir else None
            pacer = RatePacer(limits, shared=shared)
        if retry is None and time_scale != 1.0:
            retry = RetryPolicy(throttle_delay=RetryPolicy().throttle_delay / time_scale)
        self.session = session or QboSession(
            token_manager,
            timeout=settings.timeout_seconds,
            minor_version=settings.minor_version,
            retry=retry,
            pacer=pacer,
        )
        self._count_at_start = self.session.request_count
        # QBO's clock as of the last answer: watermarks for incremental reads are taken from it,
        # so this machine's clock (and its skew) never decides what is "changed since".
        self.server_time: datetime | None = None
        endpoints = settings.endpoints
        self.api_base = endpoints.api_base.rstrip("/")
        # python-quickbooks objects (Customer.filter(qb=client.qb)...) also go through our session.
        # The API base is set on the instance, never on the class (other instances keep theirs).
        self.qb = QuickBooks(company_id=self.realm_id, minorversion=settings.minor_version)
        self.qb.session = self.session
        self.qb.use_decimal = True
        if endpoints.name == "production":
            self.qb.sandbox = False
            self.qb.api_url_v3 = self.api_base
        else:
            self.qb.sandbox = True
            self.qb.sandbox_api_url_v3 = self.api_base

    @property
    def request_count(self) -> int:
        """Requests this client's session put on the wire since the client was made, retries
        included (also those of python-quickbooks objects using ``client.qb``)."""
        return self.session.request_count - self._count_at_start

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
        """One API request; the parsed JSON body, or a qbsync error.

        A write that failed without a clear answer (5xx after the retries, connection lost), or
        was refused by a retry after such an attempt (QBO may have done it then: a 6240 caused
        by our own first try, a 6000 on a replayed requestid), raises ``QboUnclearOutcomeError``
        with the code kept.
        """
        parsed = self._parse(method, self._send(method, subpath, params, body, content_type))
        self.server_time = parse_qbo_time(parsed.get("time")) or self.server_time
        return parsed

    def _send(
        self,
        method: str,
        subpath: str,
        params: Mapping[str, str] | None,
        body: object,
        content_type: str = "application/json",
        on_attempt: Callable[[], None] | None = None,
    ) -> requests.Response:
        data: str | None = None
        if body is not None:
            data = body if isinstance(body, str) else _dumps(body)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        extra: dict[str, Any] = {} if on_attempt is None else {"on_attempt": on_attempt}
        return self.session.request(
            method,
            self.url(subpath),
            params=dict(params or {}),
            data=data,
            headers=headers,
            **extra,
        )

    def _parse(self, method: str, resp: requests.Response) -> dict[str, Any]:
        """The body; on a write, a 5xx, or a fault after an earlier attempt may have done the
        work, is QboUnclearOutcomeError (code kept)."""
        try:
            return parse_response(resp)
        except QboError as exc:
            if is_read(method, resp.request.url or ""):
                raise
            if isinstance(exc, QboUnavailableError) or getattr(resp, UNCLEAR_BEFORE, False):
                raise batching.as_unclear(exc) from None
            raise

    # --- reads ----------------------------------------------------------------------------

    def company_info(self) -> dict[str, Any]:
        return _object(self.call("GET", f"companyinfo/{self.realm_id}"), "CompanyInfo")

    def preferences(self) -> dict[str, Any]:
        """The company's ``Preferences`` object (SalesFormsPrefs.CustomTxnNumbers...)."""
        return _object(self.call("GET", "preferences"), "Preferences")

    def get(self, entity: str, entity_id: str) -> dict[str, Any]:
        _check_entity(entity)
        if not isinstance(entity_id, str) or not _ID.fullmatch(entity_id):
            # Ids are digits, or letters for a few (TaxCode "TAX"): never a path.
            raise QboInvalidRequestError(f"not a QBO Id: {entity_id!r}")
        return _object(self.call("GET", f"{entity.lower()}/{entity_id}"), entity)

    def query(self, sql: str, *, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        """All rows of a select (ordered by Id unless it says ORDERBY), read page by page.

        Build values into ``sql`` with ``qbsync.qbo.query.quote``.
        """
        rows: list[dict[str, Any]] = []
        for page in self.query_pages(sql, page_size=page_size):
            rows.extend(page)
        return rows

    def count(self, sql: str) -> int:
        """``select count(*) from ...``: QBO's totalCount (one request, no rows)."""
        body = self.call("POST", "query", body=sql, content_type="application/text")
        total = (body.get("QueryResponse") or {}).get("totalCount", 0)
        return int(total)

    def query_pages(
        self, sql: str, *, page_size: int = PAGE_SIZE
    ) -> Iterator[list[dict[str, Any]]]:
        """The rows of a select one page at a time (STARTPOSITION/MAXRESULTS), until a short page.

        An empty result yields one empty page. The statement is checked before the first request.
        """
        check_page_size(page_size)
        statement = paged_statement(sql)
        return self._pages(statement, page_size)

    def _pages(self, statement: str, page_size: int) -> Iterator[list[dict[str, Any]]]:
        start = 1
        while True:
            body = self.call(
                "POST",
                "query",
                body=page_of(statement, start, page_size),
                content_type="application/text",
            )
            response = body.get("QueryResponse") or {}  # {"QueryResponse": {}} when empty
            page: list[dict[str, Any]] = []
            for value in response.values():
                if isinstance(value, list):
                    page.extend(value)
            yield page
            if len(page) < page_size:
                return
            start += page_size

    def cdc(
        self, entities: Sequence[str], changed_since: datetime
    ) -> dict[str, list[dict[str, Any]]]:
        """Objects of ``entities`` changed since ``changed_since`` (timezone-aware, at most 30 days
        back): entity -> objects, deleted ones as ``{"Id", "status": "Deleted", "MetaData"}``.

        QBO answers at most 1000 objects in all (``CDC_MAX_OBJECTS``): when the answer holds that
        many, more changes may exist; read them with a query on MetaData.LastUpdatedTime.
        """
        if isinstance(entities, str) or not entities:
            raise QboInvalidRequestError("cdc() needs a list of entity names")
        for entity in entities:
            _check_entity(entity)
        if changed_since.tzinfo is None:
            raise QboInvalidRequestError("cdc() needs a timezone-aware changed_since")
        if datetime.now(UTC) - changed_since > timedelta(days=CDC_MAX_DAYS):
            raise QboInvalidRequestError(
                f"QBO's change data capture reaches back at most {CDC_MAX_DAYS} days, not to "
                f"{changed_since.isoformat()}: read everything with a query instead"
            )
        params = {
            "entities": ",".join(entities),
            # Whole seconds, rounded down: a moment earlier only reads a little more.
            "changedSince": changed_since.replace(microsecond=0).isoformat(),
        }
        body = self.call("GET", "cdc", params=params)
        result: dict[str, list[dict[str, Any]]] = {entity: [] for entity in entities}
        by_lower = {entity.lower(): entity for entity in entities}
        for answer in _list(body.get("CDCResponse")):
            for response in _list(
                answer.get("QueryResponse") if isinstance(answer, dict) else None
            ):
                if not isinstance(response, dict):
                    continue
                for key, value in response.items():
                    if isinstance(value, list):
                        name = by_lower.get(str(key).lower()) or str(key)
                        result.setdefault(name, []).extend(value)
        total = sum(len(v) for v in result.values())
        if total >= CDC_MAX_OBJECTS:
            log.warning("QBO's CDC answered %d objects, its maximum: more may have changed", total)
        return result

    # --- writes ---------------------------------------------------------------------------

    def create(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        return _written(self._post_entity(entity, body, request_id), entity)

    def update(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """Full update, or sparse when the body has ``"sparse": True`` (only the fields sent
        change); the body carries Id and the current SyncToken (stale: QboStaleObjectError)."""
        if not body.get("Id") or body.get("SyncToken") is None:
            raise QboInvalidRequestError("update() needs Id and SyncToken in the body")
        if "sparse" in body and not isinstance(body["sparse"], bool):
            raise QboInvalidRequestError("update(): sparse is True or False")
        return _written(self._post_entity(entity, body, request_id), entity)

    def void(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """``POST <entity>?operation=void`` with ``{Id, SyncToken}`` (an invoice: amounts zeroed,
        "Voided" before the PrivateNote; qbo-facts.md "After export"). Never a delete."""
        _check_entity(entity)
        if not body.get("Id") or body.get("SyncToken") is None:
            raise QboInvalidRequestError("void() needs Id and SyncToken in the body")
        params = {"operation": "void", "requestid": request_id}
        return _written(self.call("POST", entity.lower(), params=params, body=body), entity)

    def _post_entity(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        _check_entity(entity)
        if not isinstance(request_id, str) or not 0 < len(request_id) <= REQUEST_ID_MAX:
            raise QboInvalidRequestError(f"requestid must be 1 to {REQUEST_ID_MAX} characters")
        return self.call("POST", entity.lower(), params={"requestid": request_id}, body=body)

    def batch(
        self,
        items: Sequence[BatchItem],
        request_id: str,
        *,
        on_attempt: Callable[[], None] | None = None,
    ) -> dict[str, BatchAnswer]:
        """Up to 30 creates/updates in one request; bId -> BatchAnswer for every item sent.

        See batch.py for the outcomes. Refused before sending (``QboInvalidRequestError``): no
        items, more than 30, a requestid over 36 characters, a bId over 10 or used twice.
        ``on_attempt`` is called right before each attempt (retries included) is sent.
        """
        payload = batching.request_body(items, request_id)
        resp = self._send(
            "POST", "batch", {"requestid": request_id}, payload, on_attempt=on_attempt
        )
        body = self._parse("POST", resp)
        answers = batching.read_answers(
            items, body, after_unclear=getattr(resp, UNCLEAR_BEFORE, False)
        )
        tid = intuit_tid(resp)  # one per batch: each item's error names it, for Intuit's support
        for answer in answers.values():
            if answer.error is not None:
                with_tid(answer.error, tid)
        return answers


def _dumps(body: object) -> str:
    # Amounts go out digit for digit (exactjson), never through float; dates and the like as text.
    return exactjson.dumps(body, default=str)


def _object(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise QboError(f"QBO answered without a {name} object")
    return value


def _written(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):  # answered 200, but not with what was written
        raise QboUnclearOutcomeError(
            f"QBO answered a {name} write without a {name} object: it may or may not be done"
        )
    return value


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _check_entity(entity: str) -> None:
    if not isinstance(entity, str) or not _ENTITY.fullmatch(entity):
        raise QboInvalidRequestError(f"an entity name is letters only, not {entity!r}")
