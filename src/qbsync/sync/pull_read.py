"""Reading what changed in QBO for `qbsync pull`, at the fewest requests.

- Usually ONE CDC call over ``Invoice,Payment,CreditMemo`` since the watermark (QBO's clock,
  less a margin for commits in flight): an idle pull costs one request.
- CDC answers at most 1,000 objects, shared by the entities (qbo-facts.md "After export"; the
  emulator's cdc.py). QBO's advice for a full answer is to narrow the window (LanternOps/breeze
  #4531), but CDC has only a lower bound: a later ``changedSince`` would drop the older half. So
  a full answer is completed by ``MetaData.LastUpdatedTime`` queries (which do bound both ends;
  1,000 a page) for Invoice and Payment over the same window: ceil(changed / 1000) + 1 requests.
  Deletions come only from CDC (a LastUpdatedTime query never shows one: qbo-facts.md
  "Deleted objects"): the tombstones of the full answer are kept, and the NEXT pull reads the
  exported invoices by Id (below), which finds a deletion the cap cut off.
- A last pull older than CDC's 30 days (or none; or QBO refusing the window: "... older than
  fixed days is not supported", Wish-Org/QuickBooksSharp #19) reads the exported invoices by Id
  (``select * from Invoice where Id in (...)``, 1,000 per query; an Id not found was deleted) and
  payments changed since the watermark (or dated since the first export).
- Then the plan's gaps are fetched by Id: exported invoices a changed payment names, and
  payments an invoice names that were neither read nor seen before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from qbsync.errors import QboError
from qbsync.qbo.query import quote
from qbsync.state.pulls import PaymentApplied
from qbsync.sync.pull_plan import Changes, Exported, missing

log = logging.getLogger(__name__)

ENTITIES = ("Invoice", "Payment", "CreditMemo")
CDC_MAX = 1000  # objects per CDC answer (qbo-facts.md "After export")
CDC_DAYS = timedelta(days=29)  # QBO: 30; a day in hand for clocks and a slow run
MARGIN = timedelta(minutes=5)  # commits in flight at the last read (events are de-duplicated)
ID_CHUNK = 1000  # ids per `Id in (...)` query: one page


class PullReader(Protocol):
    server_time: datetime | None

    def query(self, sql: str, *, page_size: int = 1000) -> list[dict[str, Any]]: ...
    def query_pages(self, sql: str, *, page_size: int = 1000) -> Iterator[list[dict[str, Any]]]: ...
    def cdc(self, entities: Any, changed_since: datetime) -> dict[str, list[dict[str, Any]]]: ...


@dataclass
class ReadResult:
    changes: Changes
    mode: str  # "cdc" | "cdc+query" | "by-id"
    read_at: datetime | None  # QBO's clock at the first answer: the next watermark


def read_changes(
    client: PullReader,
    *,
    since: datetime | None,
    pulled_at: datetime | None,
    exported: Mapping[str, Exported],
    recorded: Sequence[PaymentApplied],
    first_txn_date: str | None,
    now: datetime | None = None,
) -> ReadResult:
    local_now = now or datetime.now(UTC)
    too_old = since is None or pulled_at is None or local_now - pulled_at > CDC_DAYS
    result: ReadResult | None = None
    if not too_old:
        assert since is not None
        try:
            result = _by_cdc(client, since - MARGIN)
        except QboError as exc:
            if "older than" not in str(exc) and "not supported" not in str(exc):
                raise
            log.info("QBO refused the CDC window (%s): reading exported invoices by Id", exc)
    if result is None:
        result = _by_id(client, since, exported, first_txn_date)
    _fill_gaps(client, result.changes, exported, recorded)
    return result


def _by_cdc(client: PullReader, since: datetime) -> ReadResult:
    answer = client.cdc(list(ENTITIES), since)
    read_at = client.server_time
    changes = Changes()
    count = 0
    for entity, objects in answer.items():
        for obj in objects:
            count += 1
            _take(changes, entity, obj)
    if count < CDC_MAX:
        return ReadResult(changes, "cdc", read_at)
    log.info("QBO's CDC answer is full (%d objects): reading the window by queries", count)
    stamp = since.astimezone(UTC).replace(microsecond=0).isoformat()
    for entity in ("Invoice", "Payment"):
        sql = f"select * from {entity} where MetaData.LastUpdatedTime >= {quote(stamp)}"  # noqa: S608
        for obj in client.query(sql):
            _take(changes, entity, obj)
    return ReadResult(changes, "cdc+query", read_at)


def _take(changes: Changes, entity: str, obj: Mapping[str, Any]) -> None:
    ident = str(obj.get("Id"))
    deleted = str(obj.get("status", "")).lower() == "deleted"
    if entity == "Invoice":
        if deleted:
            meta = obj.get("MetaData") or {}
            changes.deleted_invoices[ident] = meta.get("LastUpdatedTime")
            changes.invoices.pop(ident, None)
        elif ident not in changes.deleted_invoices:
            changes.invoices[ident] = dict(obj)
    elif entity == "Payment":
        if deleted:
            changes.deleted_payments.add(ident)
            changes.payments.pop(ident, None)
        elif ident not in changes.deleted_payments:
            changes.payments[ident] = dict(obj)


def _ids_query(entity: str, ids: Iterable[str]) -> Iterable[str]:
    ordered = sorted(set(ids), key=lambda i: (len(i), i))
    for start in range(0, len(ordered), ID_CHUNK):
        chunk = ",".join(quote(i) for i in ordered[start : start + ID_CHUNK])
        yield f"select * from {entity} where Id in ({chunk})"  # noqa: S608 - quote()


def _by_id(
    client: PullReader,
    since: datetime | None,
    exported: Mapping[str, Exported],
    first_txn_date: str | None,
) -> ReadResult:
    changes = Changes()
    read_at: datetime | None = None
    for sql in _ids_query("Invoice", exported):
        rows = _one_page(client, sql)
        read_at = read_at or client.server_time
        for obj in rows:
            _take(changes, "Invoice", obj)
    for ident in exported:
        if ident not in changes.invoices:
            changes.deleted_invoices[ident] = None
    if since is not None:
        stamp = (since - MARGIN).astimezone(UTC).replace(microsecond=0).isoformat()
        where = f"MetaData.LastUpdatedTime >= {quote(stamp)}"
    elif first_txn_date:
        where = f"TxnDate >= {quote(first_txn_date)}"
    else:
        where = ""
    if where:
        for obj in client.query(f"select * from Payment where {where}"):  # noqa: S608
            _take(changes, "Payment", obj)
        read_at = read_at or client.server_time
    return ReadResult(changes, "by-id", read_at)


def _fill_gaps(
    client: PullReader,
    changes: Changes,
    exported: Mapping[str, Exported],
    recorded: Sequence[PaymentApplied],
) -> None:
    invoices, payments = missing(changes, exported, recorded)
    if invoices:
        found: set[str] = set()
        for sql in _ids_query("Invoice", invoices):
            for obj in _one_page(client, sql):
                found.add(str(obj.get("Id")))
                _take(changes, "Invoice", obj)
        for ident in invoices - found:  # named by a payment, gone from QBO
            changes.deleted_invoices[ident] = None
    _, payments = missing(changes, exported, recorded)
    if payments:
        for sql in _ids_query("Payment", payments):
            for obj in _one_page(client, sql):
                _take(changes, "Payment", obj)


def _one_page(client: PullReader, sql: str) -> list[dict[str, Any]]:
    """An ``Id in (...)`` query of at most 1,000 ids fits one page: reading on (as ``query``
    does after a full page) would cost a request that can only answer nothing."""
    return next(iter(client.query_pages(sql, page_size=ID_CHUNK)), [])
