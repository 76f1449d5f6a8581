"""The cache of QBO customers (inactive ones included) that connect-members plans against.

Reading every customer of a large company costs one QBO read per 1000; after the first read only
what changed is read again, so the cache remembers when it was last brought up to date.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from qbsync.state.rows import iso, money, parse_money, parse_time

SYNCED_AT = "customers_synced_at"  # meta key: QBO's clock at the last complete read
CDC_AT = "customers_cdc_at"  # meta key: when deletions were last asked for (CDC)
# meta key: an exact "changed after this" for the next read, set when a run proved that the only
# customers changed since the last read were its own writes (then no margin is needed).
READ_AFTER = "customers_read_after"


@dataclass(frozen=True)
class CachedCustomer:
    id: str
    display_name: str
    emails: tuple[str, ...]  # every address of PrimaryEmailAddr, trimmed and lower-cased
    active: bool
    sync_token: str
    last_updated: str  # QBO's MetaData.LastUpdatedTime, as QBO wrote it
    currency: str | None = None
    balance: Decimal | None = None


class CustomerCache:
    """``state.customers``."""

    def __init__(
        self, conn: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._conn = conn
        self._transaction = transaction

    def all(self) -> dict[str, CachedCustomer]:
        rows = self._conn.execute(
            "SELECT id, display_name, emails, active, sync_token, last_updated, currency, balance "
            "FROM customers"
        ).fetchall()
        return {r[0]: _customer(r) for r in rows}

    def get(self, customer_id: str) -> CachedCustomer | None:
        row = self._conn.execute(
            "SELECT id, display_name, emails, active, sync_token, last_updated, currency, balance "
            "FROM customers WHERE id = ?",
            (customer_id,),
        ).fetchone()
        return None if row is None else _customer(row)

    def stamps(self) -> list[tuple[str, str]]:
        """(Id, LastUpdatedTime) of every cached customer: cheaper than ``all()``."""
        return [
            (str(r[0]), str(r[1]))
            for r in self._conn.execute("SELECT id, last_updated FROM customers")
        ]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0])

    def upsert(self, customers: Iterable[CachedCustomer]) -> None:
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO customers (id, display_name, emails, active, sync_token, "
                "last_updated, currency, balance) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, "
                "emails = excluded.emails, active = excluded.active, "
                "sync_token = excluded.sync_token, last_updated = excluded.last_updated, "
                "currency = excluded.currency, balance = excluded.balance",
                [
                    (
                        c.id,
                        c.display_name,
                        ",".join(c.emails),
                        int(c.active),
                        c.sync_token,
                        c.last_updated,
                        c.currency,
                        money(c.balance),
                    )
                    for c in customers
                ],
            )

    def delete(self, customer_ids: Iterable[str]) -> None:
        with self._transaction():
            self._conn.executemany(
                "DELETE FROM customers WHERE id = ?", [(i,) for i in customer_ids]
            )

    def replace_all(self, customers: Iterable[CachedCustomer], *, synced_at: datetime) -> None:
        """A full read: the cache becomes exactly what QBO answered."""
        with self._transaction():
            self._conn.execute("DELETE FROM customers")
            self.upsert(customers)
            self._set(SYNCED_AT, iso(synced_at))
            self._set(CDC_AT, iso(synced_at))
            self._conn.execute("DELETE FROM meta WHERE key = ?", (READ_AFTER,))

    def mark_synced(self, synced_at: datetime, *, cdc: bool) -> None:
        with self._transaction():
            self._set(SYNCED_AT, iso(synced_at))
            self._conn.execute("DELETE FROM meta WHERE key = ?", (READ_AFTER,))
            if cdc:
                self._set(CDC_AT, iso(synced_at))

    @property
    def read_after(self) -> datetime | None:
        return parse_time(self._get(READ_AFTER))

    def set_read_after(self, moment: datetime) -> None:
        with self._transaction():
            self._set(READ_AFTER, iso(moment))

    @property
    def synced_at(self) -> datetime | None:
        return parse_time(self._get(SYNCED_AT))

    @property
    def cdc_at(self) -> datetime | None:
        return parse_time(self._get(CDC_AT))

    def _get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _customer(row: tuple[object, ...]) -> CachedCustomer:
    emails = str(row[2])
    return CachedCustomer(
        id=str(row[0]),
        display_name=str(row[1]),
        emails=tuple(e for e in emails.split(",") if e),
        active=bool(row[3]),
        sync_token=str(row[4]),
        last_updated=str(row[5]),
        currency=None if row[6] is None else str(row[6]),
        balance=parse_money(None if row[7] is None else str(row[7])),
    )
