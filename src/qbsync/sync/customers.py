"""Keeping the local cache of QBO customers current, at the fewest QBO reads.

The first read (and ``--full``) pages through every customer, inactive ones included, 1000 at
a time. Afterwards one query asks for what changed since the last read (``MetaData.
LastUpdatedTime``, less a safety margin for clock skew and commits in flight), and one CDC call
for customers deleted or merged away, which a LastUpdatedTime query never shows
(qbo-facts.md "Read metering", "Deleted objects"). A run with nothing new costs two requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from qbsync.qbo.query import parse_qbo_time
from qbsync.state.customers import CachedCustomer
from qbsync.state.db import State
from qbsync.sync.contacts import split_emails
from qbsync.sync.members_plan import check_not_empty

log = logging.getLogger(__name__)

SAFETY_MARGIN = timedelta(minutes=10)
CDC_WINDOW = timedelta(days=29)  # QBO's CDC looks back at most 30 days
CDC_MAX = 1000  # and answers at most 1000 objects (qbo-facts.md "Change data capture")
ALL_CUSTOMERS = "select * from Customer where Active IN (true,false) orderby Id"
_CUSTOMERS_WHERE = "select * from Customer where Active IN (true,false) and {where}"
COUNT_WHERE = "select count(*) from Customer where Active IN (true,false) and {where}"
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


def _qbo_clock(client: CustomerReader, fallback: datetime) -> datetime:
    server = getattr(client, "server_time", None)
    return server if isinstance(server, datetime) else fallback


def refresh_customers(
    client: CustomerReader, state: State, *, full: bool, now: datetime | None = None
) -> RefreshResult:
    """Bring ``state.customers`` up to date with QBO; drop automatic links to deleted ones.

    Watermarks are QBO's clock (the ``time`` of its first answer), not this machine's."""
    started = now or datetime.now(UTC)
    synced, cdc_at = state.customers.synced_at, state.customers.cdc_at
    if full or synced is None or cdc_at is None or started - cdc_at > CDC_WINDOW:
        customers: list[CachedCustomer] = []
        read_at: datetime | None = None
        for page in client.query_pages(ALL_CUSTOMERS):
            read_at = read_at or _qbo_clock(client, started)
            customers.extend(cached_customer(obj) for obj in page)
        if not customers:
            check_not_empty({}, state.members.links())  # refuse before the cache is emptied
        # Links to customers QBO no longer has show up in the plan (plan.stale_links).
        state.customers.replace_all(customers, synced_at=read_at or started)
        return RefreshResult("full", read=len(customers))
    after = state.customers.read_after or (synced - SAFETY_MARGIN)
    changed: list[CachedCustomer] = []
    read_at = None
    for page in client.query_pages(CHANGED_SINCE.format(since=qbo_time(after))):
        read_at = read_at or _qbo_clock(client, started)
        changed.extend(cached_customer(obj) for obj in page)
    confirmed = state.customers.read_after
    # After a confirmed run, from the second after its last write (CDC's changedSince may count
    # that second in, which can be over a thousand of the run's own writes).
    since = confirmed + timedelta(seconds=1) if confirmed else cdc_at - SAFETY_MARGIN
    cdc = client.cdc(["Customer"], since)
    if len(cdc.get("Customer", [])) >= CDC_MAX:
        # QBO's CDC answers at most 1000 objects: a deletion may be among those it left out.
        # A full read is the only complete answer (links to customers gone show up in the plan).
        log.warning("more than %d customers changed since the last read: reading all", CDC_MAX)
        return refresh_customers(client, state, full=True, now=now)
    deleted = [
        str(obj["Id"])
        for obj in cdc.get("Customer", [])
        if str(obj.get("status", "")).lower() == "deleted"
    ]
    with state.transaction():
        state.customers.upsert(c for c in changed if c.id not in deleted)
        state.customers.delete(deleted)
        state.members.drop_links_to(deleted)
        state.customers.mark_synced(read_at or started, cdc=True)
    if deleted:
        log.info("QBO deleted or merged away customers %s", ", ".join(deleted))
    return RefreshResult("incremental", read=len(changed))


def confirm_own_writes(client: Any, state: State, written: Mapping[str, str]) -> bool:
    """After a run that wrote customers (``written``: Id -> the LastUpdatedTime QBO answered),
    prove that nobody else changed a customer since the run's read, so the next run need not
    read this run's own writes back (the day after 5,000 creates: 1 request instead of 6).

    Two counts: customers changed after the read must be exactly the run's own writes, and
    customers changed in the read's safety window must be exactly those the read saw there (a
    late commit would add one). Both hold: the next read starts after the last own write.
    Otherwise nothing changes. Whether it could prove it."""
    synced = state.customers.synced_at
    if not written or synced is None:
        return False
    window = _second(state.customers.read_after or (synced - SAFETY_MARGIN))
    # LastUpdatedTime has whole seconds: "since the read" is "from the read's second on".
    read = _second(synced) - timedelta(seconds=1)
    ours = [parse_qbo_time(stamp) for stamp in written.values()]
    if any(moment is None or moment <= read for moment in ours):
        return False  # an answer without a usable LastUpdatedTime, or clocks disagree
    before = after = 0  # customers the read saw changed in its window: before / from its second
    for customer_id, stamp in state.customers.stamps():
        moment = parse_qbo_time(stamp)
        if customer_id in written or moment is None or moment <= window:
            continue
        if moment <= read:
            before += 1
        else:
            after += 1
    last = max(m for m in ours if m is not None)
    _wait_past(client, last)  # a change in the last write's second would share its stamp
    since_read = f"MetaData.LastUpdatedTime > '{qbo_time(read)}'"
    recent = client.count(COUNT_WHERE.format(where=since_read))
    if recent != len(written) + after:
        return False
    since_window = f"MetaData.LastUpdatedTime > '{qbo_time(window)}'"
    if client.count(COUNT_WHERE.format(where=since_window)) != recent + before:
        return False
    counted = getattr(client, "server_time", None)
    # Counted in a later second than the last write: nothing else changed up to then, so the
    # next read starts after that write. Else from its second on (a change may share it).
    exact = isinstance(counted, datetime) and _second(counted) > last
    state.customers.set_read_after(last if exact else last - timedelta(seconds=1))
    return True


def _wait_past(client: Any, last: datetime) -> None:
    """Sleep into the second after ``last`` by QBO's clock (at most a second, once a run)."""
    server = getattr(client, "server_time", None)
    if isinstance(server, datetime) and _second(server) <= last:
        time.sleep(1.0 - server.microsecond / 1_000_000 + 0.05)


def _second(moment: datetime) -> datetime:
    """To the second, as ``qbo_time`` writes it into a query."""
    return datetime.fromisoformat(qbo_time(moment))
