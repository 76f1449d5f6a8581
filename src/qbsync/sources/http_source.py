"""The ``http`` source: the platform's paged JSON API, as docs/sources.md describes it.

``GET {base_url}/members?page=N`` and ``GET {base_url}/invoices?status=S&created_since=T&page=N``
answer ``{"data": [...], "next_page": N | null}``. Every request carries the bearer token from
the variable ``[source] token_env`` names; ``[source] timeout_seconds`` bounds each whole request
(headers and body: an answer trickling a byte at a time is cut, bounded.py), and is retried on
429, 5xx and connection failures with exponential backoff (Retry-After honoured). A page is at
most ``MAX_PAGE_BYTES`` (a 400 MB page once took 860 MB of memory) and a listing (every page of
``/members``, or of one invoice status) at most ``MAX_LISTING_SECONDS``. A redirect is followed
only within the base URL's scheme, host and port: the token never leaves for another host.
Numbers are read as ``Decimal`` (JSON floats included), never as float.

Messages name the method, the URL without its user-info, and the HTTP status: never the token,
and never the response body (which may echo the request).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from qbsync.bounded import BodyBroken, BodyTimeout, BodyTooLarge, read_body
from qbsync.config.source import SourceConfig
from qbsync.errors import ConfigError, SourceError
from qbsync.sources.fields import (
    ADDRESS_KEYS,
    Issue,
    aware,
    invoice_head_from,
    line_from,
    member_from,
    out_of_filter,
    problems_from,
)
from qbsync.sources.http_transport import (
    MAX_RETRY_AFTER,
    TRANSPORT_ERRORS,
    BearerAuth,
    bearer_token,
    retry_after,
)
from qbsync.sources.payments import PaymentIds, payments_from
from qbsync.sources.records import (
    InvoiceLine,
    Member,
    Problem,
    Read,
    SourceInvoice,
)

MAX_TRIES = 5
MAX_PAGES = 100_000
MAX_PAGE_BYTES = 64 * 1024 * 1024  # ~60,000 members of 1 KB: pages are far smaller in practice
MAX_LISTING_SECONDS = 30 * 60.0  # the page guard alone allowed 80 minutes
MAX_REDIRECTS = 5


class HttpSource:
    """Members and invoices from the platform's JSON API."""

    name = "http"

    def __init__(
        self,
        config: SourceConfig,
        *,
        tz: tzinfo,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_tries: int = MAX_TRIES,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        max_pages: int = MAX_PAGES,
        max_page_bytes: int = MAX_PAGE_BYTES,
        max_listing_seconds: float = MAX_LISTING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if config.options:
            raise ConfigError(
                "[source.http]: the http source takes no options; got "
                + ", ".join(map(repr, config.options)),
                hint="remove the [source.http] table from the config",
            )
        if not config.base_url:
            raise ConfigError(
                "[source] base_url is not set", hint="set it to the platform's API URL"
            )
        self.base_url = config.base_url.rstrip("/")
        self.token_env = config.token_env
        self.timeout = config.timeout_seconds
        self.tz = tz
        self.session = session or requests.Session()
        self.sleep = sleep
        self.max_tries = max_tries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_pages = max_pages
        self.max_page_bytes = max_page_bytes
        self.max_listing_seconds = max_listing_seconds
        self.clock = clock
        self._auth = BearerAuth(bearer_token(config.token_env)) if config.token_env else None
        parts = urlsplit(self.base_url)
        self._origin = (parts.scheme, parts.hostname, parts.port)
        # For messages: the base URL without user-info (user:password@ is never shown).
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        self._shown_base = f"{parts.scheme}://{netloc}{parts.path}"

    def __repr__(self) -> str:
        return f"HttpSource(base_url={self._shown_base!r}, token_env={self.token_env!r})"

    # -- members ---------------------------------------------------------------------------

    def members(self) -> Read[Member]:
        result: Read[Member] = Read([], [])
        first_seen: dict[str, str] = {}
        for where, item in self._items("/members", {}, "/members"):
            if not isinstance(item, Mapping):
                result.problems.append(Problem(where, None, None, "expected a JSON object"))
                continue
            values, issues = _flat_member(item)
            member_id = _id_text(values, "id")
            if member_id and member_id in first_seen:
                result.problems.append(
                    Problem(
                        where,
                        member_id,
                        "id",
                        f"duplicate id (first at {first_seen[member_id]})",
                        "member",
                    )
                )
                continue
            if member_id:
                first_seen[member_id] = where
            member, more = member_from(values, self.tz)
            result.problems.extend(problems_from(where, member_id, [*issues, *more], "member"))
            if member is not None and not issues:
                result.records.append(member)
        return result

    # -- invoices --------------------------------------------------------------------------

    def invoices(
        self, *, statuses: Sequence[str], created_since: datetime | None
    ) -> Read[SourceInvoice]:
        reading = _Reading()
        since = aware(created_since, self.tz)
        for wanted_status in dict.fromkeys(s.strip().lower() for s in statuses if s.strip()):
            params = {"status": wanted_status}
            if since is not None:
                params["created_since"] = since.isoformat()
            label = f"/invoices?status={wanted_status}"
            self._collect(reading, params, label, statuses, since)
        return reading.result

    def invoices_since(
        self, updated_since: datetime | None, *, created_since: datetime | None
    ) -> Read[SourceInvoice]:
        """``GET /invoices?updated_since=T``: the invoices changed at or after T, any status
        (every invoice when None), created at or after ``created_since`` (docs/sources.md)."""
        reading = _Reading()
        since = aware(created_since, self.tz)
        changed = aware(updated_since, self.tz)
        params: dict[str, str] = {}
        if changed is not None:
            params["updated_since"] = changed.isoformat()
        if since is not None:
            params["created_since"] = since.isoformat()
        label = f"/invoices?updated_since={changed.isoformat()}" if changed else "/invoices"
        self._collect(reading, params, label, None, since)
        return reading.result

    def _collect(
        self,
        reading: _Reading,
        params: dict[str, str],
        label: str,
        statuses: Sequence[str] | None,
        since: datetime | None,
    ) -> None:
        result = reading.result
        for where, item in self._items("/invoices", params, label):
            if not isinstance(item, Mapping):
                result.problems.append(Problem(where, None, None, "expected a JSON object"))
                continue
            if out_of_filter(
                [item.get("status")],
                [item.get("created_at")],
                statuses=statuses,
                since=since,
                tz=self.tz,
            ):
                continue  # the server sent more than was asked for
            invoice, problems = self._invoice(where, item)
            invoice_id = invoice.id if invoice else None
            if invoice_id is not None and invoice_id in reading.first_seen:
                problems = [
                    Problem(
                        where,
                        invoice_id,
                        "id",
                        f"duplicate id (first at {reading.first_seen[invoice_id]})",
                        "invoice",
                    )
                ]
                invoice = None
            elif invoice is not None:
                reading.first_seen[invoice.id] = where
                problems = reading.payment_ids.clash(where, invoice)
                invoice = None if problems else invoice
            result.problems.extend(problems)
            if invoice is not None:
                result.records.append(invoice)

    def _invoice(
        self, where: str, item: Mapping[str, Any]
    ) -> tuple[SourceInvoice | None, list[Problem]]:
        values = dict(item)
        issues: list[Issue] = []
        own_id, other_id = _id_text(item, "id"), _id_text(item, "invoice_id")
        if own_id and other_id and own_id != other_id:
            issues.append(Issue("invoice_id", f"{other_id!r} differs from id {own_id!r}"))
        values["invoice_id"] = item.get("id") if own_id else item.get("invoice_id")
        invoice_id = own_id or other_id
        head, more = invoice_head_from(values, self.tz)
        issues.extend(more)
        payments, more = payments_from(item.get("payments"), self.tz)
        issues.extend(more)
        problems = problems_from(where, invoice_id, issues, "invoice")
        lines: list[InvoiceLine] = []
        raw_lines = item.get("lines")
        if not isinstance(raw_lines, list):
            reason = "no lines" if raw_lines is None else "expected a list of line objects"
            problems.append(Problem(where, invoice_id or None, "lines", reason, "invoice"))
        elif not raw_lines:
            problems.append(Problem(where, invoice_id or None, "lines", "no lines", "invoice"))
        else:
            for number, raw in enumerate(raw_lines, start=1):
                line_where = f"{where} line {number}"
                if not isinstance(raw, Mapping):
                    problems.append(
                        Problem(
                            line_where,
                            invoice_id or None,
                            None,
                            "expected a JSON object",
                            "invoice",
                        )
                    )
                    continue
                line, line_issues = line_from(raw)
                problems.extend(problems_from(line_where, invoice_id, line_issues, "invoice"))
                if line is not None:
                    lines.append(line)
        if problems or head is None:
            return None, problems
        return head.with_lines(lines, payments), []

    # -- paging and requests ---------------------------------------------------------------

    def _items(self, path: str, params: dict[str, str], label: str) -> Iterator[tuple[str, Any]]:
        """(where, item) for every item of every page, following ``next_page``."""
        page = 1
        ends = self.clock() + self.max_listing_seconds
        for _ in range(self.max_pages):
            if page > 1 and self.clock() > ends:
                raise SourceError(
                    f"GET {self._shown(path, params)}: the listing took more than "
                    f"{self.max_listing_seconds:g} s ({page - 1} pages read); stopped",
                    hint="the platform answers too slowly; try again later",
                )
            body = self._get_json(path, {**params, "page": str(page)})
            data = body.get("data") if isinstance(body, dict) else None
            shown = self._shown(path, {**params, "page": str(page)})
            if not isinstance(data, list):
                raise SourceError(
                    f"GET {shown}: expected a JSON object with a 'data' list",
                    hint="check [source] base_url: it should be the platform's API root",
                )
            for number, item in enumerate(data, start=1):
                yield f"GET {label} page {page} item {number}", item
            next_page = body.get("next_page")
            if next_page is None:
                return
            if isinstance(next_page, bool) or not isinstance(next_page, int) or next_page <= page:
                raise SourceError(
                    f"GET {shown}: next_page {next_page!r} does not come after page {page}; "
                    "stopped so as not to read pages in a loop"
                )
            page = next_page
        raise SourceError(
            f"GET {self._shown(path, params)}: more than {self.max_pages} pages; stopped"
        )

    def _get_json(self, path: str, params: dict[str, str]) -> Any:
        shown = self._shown(path, params)
        failure = ""
        for attempt in range(1, self.max_tries + 1):
            wait = self._backoff(attempt)
            try:
                response = self._get(f"{self.base_url}{path}", params, shown)
            except (requests.Timeout, BodyTimeout):
                failure = f"no whole answer within {self.timeout:g} s ([source] timeout_seconds)"
            except TRANSPORT_ERRORS as exc:
                failure = f"could not connect ({type(exc).__name__})"
            except BodyTooLarge:
                raise SourceError(
                    f"GET {shown}: the page is over {self.max_page_bytes} bytes; stopped",
                    hint="ask the platform for smaller pages",
                ) from None
            except BodyBroken as exc:
                failure = f"the answer broke off ({exc})"
            else:
                status = response.status_code
                if status == 429 or 500 <= status <= 599:
                    failure = f"HTTP {status}"
                    after = retry_after(response.headers.get("Retry-After"))
                    if after is not None:
                        wait = min(after, MAX_RETRY_AFTER)
                else:
                    return self._json(response, shown)
            if attempt < self.max_tries:
                self.sleep(wait)
        raise SourceError(
            f"GET {shown}: {failure} after {self.max_tries} tries",
            hint="the membership platform is not answering; try again later",
        )

    def _get(self, url: str, params: dict[str, str], shown: str) -> requests.Response:
        deadline = self.clock() + self.timeout  # the whole request, redirects included
        response = self._send(url, params, deadline)
        for _ in range(MAX_REDIRECTS):
            if not response.is_redirect:
                return response
            target = urljoin(response.url or url, response.headers["Location"])
            parts = urlsplit(target)
            if (parts.scheme, parts.hostname, parts.port) != self._origin:
                raise SourceError(
                    f"GET {shown}: HTTP {response.status_code} redirect to another host "
                    f"({parts.scheme}://{parts.hostname}); not followed, so the API token "
                    "stays with the platform",
                    hint="set [source] base_url to the URL the platform answers on",
                )
            response = self._send(target, None, deadline)
        if response.is_redirect:
            raise SourceError(f"GET {shown}: more than {MAX_REDIRECTS} redirects; stopped")
        return response

    def _send(self, url: str, params: dict[str, str] | None, deadline: float) -> requests.Response:
        """One GET, its body read whole by ``deadline`` and within the page cap (bounded.py)."""
        response = self.session.get(
            url,
            params=params,
            auth=self._auth,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        )
        read_body(response, deadline=deadline, max_bytes=self.max_page_bytes, clock=self.clock)
        return response

    def _json(self, response: requests.Response, shown: str) -> Any:
        status = response.status_code
        if status in (401, 403):
            where = f"${self.token_env}" if self.token_env else "no token ([source] token_env)"
            raise SourceError(
                f"GET {shown}: HTTP {status}: the platform refused the API token ({where})",
                hint=f"check the token in ${self.token_env}"
                if self.token_env
                else "set [source] token_env to the variable holding the platform's API token",
            )
        if not 200 <= status <= 299:
            raise SourceError(
                f"GET {shown}: HTTP {status}",
                hint="check [source] base_url" if status == 404 else None,
            )
        try:
            return json.loads(response.content, parse_float=Decimal, parse_constant=Decimal)
        except (ValueError, RecursionError):
            kind = response.headers.get("Content-Type", "none")[:60]
            raise SourceError(
                f"GET {shown}: HTTP {status} but the answer is not JSON (Content-Type: {kind})",
                hint="check [source] base_url: it should be the platform's API root",
            ) from None

    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def _shown(self, path: str, params: Mapping[str, str]) -> str:
        query = f"?{urlencode(params)}" if params else ""
        return f"{self._shown_base}{path}{query}"


class _Reading:
    """One invoice read under way: what it found, the ids seen (duplicates are reported)."""

    def __init__(self) -> None:
        self.result: Read[SourceInvoice] = Read([], [])
        self.first_seen: dict[str, str] = {}
        self.payment_ids = PaymentIds()


def _id_text(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _flat_member(item: Mapping[str, Any]) -> tuple[dict[str, Any], list[Issue]]:
    """The item with a nested ``address`` object spread into the flat csv column names."""
    values = {key: value for key, value in item.items() if key != "address"}
    address = item.get("address")
    if address is None:
        return values, []
    if not isinstance(address, Mapping):
        return values, [Issue("address", "expected an object (line1, line2, city, ...)")]
    for key in ADDRESS_KEYS:
        column = f"address_{key}" if key in ("line1", "line2") else key
        if address.get(key) is not None:
            values[column] = address[key]
    return values, []
