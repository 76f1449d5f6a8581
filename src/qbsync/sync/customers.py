"""Keeping the local cache of QBO customers current, at the fewest QBO reads.

The first read (and ``--full``) pages through every customer, inactive ones included, 1000 at
a time. Afterwards one query asks for what changed since the last read (``MetaData.
LastUpdatedTime``, less a safety margin for clock skew and commits in flight), and one CDC call
for customers deleted or merged away, which a LastUpdatedTime query never shows
(qbo-facts.md "Read metering", "Deleted objects"). A run with nothing new costs two requests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from qbsync.state.customers import CachedCustomer
from qbsync.state.db import State
from qbsync.sync.contacts import split_emails
from qbsync.sync.members_plan import check_not_empty

log = logging.getLogger(__name__)

SAFETY_MARGIN = timedelta(minutes=10)
CDC_WINDOW = timedelta(days=29)  # QBO's CDC looks back at most 30 days
ALL_CUSTOMERS = "select * from Customer where Active IN (true,false) orderby Id"
_CUSTOMERS_WHERE = "select * from Customer where Active IN (true,false) and {where}"
CHANGED_SINCE = (
    "select * from Customer where Active IN (true,false) and "
    "MetaData.LastUpdatedTime > '{since}' orderby Id"
)


class CustomerReader(Protocol):
    def query_pages(self, sql: str, *, page_size: int = 1000) -> Any: ...
    def cdc(self, entities: Any, changed_since: datetime) -> dict[str, list[dict[str, Any]]]: ...


@dataclass
class RefreshResult:
    mode: str  # "full" | "incremental"
    read: int = 0
    deleted: list[str] = field(default_factory=list)
    links_dropped: list[str] = field(default_factory=list)


def customers_where(where: str) -> str:
    """A query for customers, inactive ones included; ``where``'s values went through quote()."""
    return _CUSTOMERS_WHERE.format(where=where)


def qbo_time(moment: datetime) -> str:
    """A time as QBO's query language takes it: ``2026-12-01T10:00:00+00:00``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def cached_customer(obj: Mapping[str, Any]) -> CachedCustomer:
    email = (obj.get("PrimaryEmailAddr") or {}).get("Address")
    balance: Decimal | None
    try:
        balance = Decimal(str(obj["Balance"])) if obj.get("Balance") is not None else None
    except InvalidOperation:
        balance = None
    return CachedCustomer(
        id=str(obj["Id"]),
        display_name=str(obj.get("DisplayName") or ""),
        emails=split_emails(email),
        active=obj.get("Active", True) not in (False, "false"),
        sync_token=str(obj.get("SyncToken", "0")),
        last_updated=str((obj.get("MetaData") or {}).get("LastUpdatedTime", "")),
        currency=(obj.get("CurrencyRef") or {}).get("value"),
        balance=balance,
    )


def refresh_customers(
    client: CustomerReader, state: State, *, full: bool, now: datetime | None = None
) -> RefreshResult:
    """Bring ``state.customers`` up to date with QBO; drop automatic links to deleted ones."""
    started = now or datetime.now(UTC)
    synced, cdc_at = state.customers.synced_at, state.customers.cdc_at
    if full or synced is None or cdc_at is None or started - cdc_at > CDC_WINDOW:
        customers: list[CachedCustomer] = []
        for page in client.query_pages(ALL_CUSTOMERS):
            customers.extend(cached_customer(obj) for obj in page)
        if not customers:
            check_not_empty({}, state.members.links())  # refuse before the cache is emptied
        state.customers.replace_all(customers, synced_at=started)
        gone = [
            m
            for m, link in state.members.links().items()
            if link.customer_id not in {c.id for c in customers}
        ]
        return RefreshResult("full", read=len(customers), links_dropped=gone)
    since = qbo_time(synced - SAFETY_MARGIN)
    changed: list[CachedCustomer] = []
    sql = CHANGED_SINCE.format(since=since)
    for page in client.query_pages(sql):
        changed.extend(cached_customer(obj) for obj in page)
    cdc = client.cdc(["Customer"], cdc_at - SAFETY_MARGIN)
    deleted = [
        str(obj["Id"])
        for obj in cdc.get("Customer", [])
        if str(obj.get("status", "")).lower() == "deleted"
    ]
    with state.transaction():
        state.customers.upsert(c for c in changed if c.id not in deleted)
        state.customers.delete(deleted)
        dropped = state.members.drop_links_to(deleted)
        state.customers.mark_synced(started, cdc=True)
    if deleted:
        log.info("QBO deleted or merged away customers %s", ", ".join(deleted))
    return RefreshResult("incremental", read=len(changed), deleted=deleted, links_dropped=dropped)
