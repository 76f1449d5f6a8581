"""`qbsync pull`'s memory: what became of each exported invoice in QBO, the payments applied to
it, the events for the platform and their delivery, and the pull watermark (QBO's clock).

Payments are remembered per (payment, invoice): a voided payment answers ``"Line": []``
(docs/emulator-rules.md "Payment"), so which invoices it paid is known only from earlier reads.
A pull's changes (states, payments, new events, watermark) land in ONE transaction
(``apply``); delivery marks each event afterwards, so a kill between the two leaves events
undelivered, never lost nor doubled.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from qbsync.state.rows import iso, money, parse_time

WATERMARK = "pull_watermark"  # QBO's clock at the start of the last complete read
PULLED_AT = "pull_at"  # this machine's clock then (how old the watermark is)


@dataclass(frozen=True)
class QboInvoice:
    """An exported invoice as qbsync last saw it in QBO."""

    qbo_id: str
    invoice_id: str
    state: str  # open | partly-paid | paid | voided | deleted
    balance: Decimal
    total: Decimal
    customer_id: str | None
    sync_token: str | None
    fingerprint_export: str | None  # the first fingerprint seen (as exported)
    fingerprint: str | None
    last_payment_at: str | None = None


@dataclass(frozen=True)
class PaymentApplied:
    payment_id: str
    qbo_invoice_id: str
    kind: str  # payment | credit
    amount: Decimal
    txn_date: str | None
    method: str | None
    reference: str | None
    active: bool = True


@dataclass(frozen=True)
class PullEvent:
    event_id: str
    kind: str
    invoice_id: str
    qbo_invoice_id: str
    payload: dict[str, Any]
    problem: str | None = None
    delivered_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    run_id: int | None = None


@dataclass(frozen=True)
class QboState:
    """What `status`, `invoices` and `report` show of an exported invoice (issue 14 item 6)."""

    state: str
    balance: Decimal
    total: Decimal
    last_payment_at: str | None


_INV = (
    "qbo_id, invoice_id, state, balance, total, customer_id, sync_token, fingerprint_export, "
    "fingerprint, last_payment_at"
)
_PAY = "payment_id, qbo_invoice_id, kind, amount, txn_date, method, reference, active"
_EVT = (
    "event_id, kind, invoice_id, qbo_invoice_id, payload_json, problem, delivered_at, attempts, "
    "last_error, run_id"
)


class PullStore:
    """``state.pulls``."""

    def __init__(
        self, conn: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._conn = conn
        self._transaction = transaction

    # -- reads ---------------------------------------------------------------------------------

    def watermark(self) -> tuple[datetime | None, datetime | None]:
        """(QBO's clock at the last complete read, this machine's clock then)."""
        return self._meta(WATERMARK), self._meta(PULLED_AT)

    def _meta(self, key: str) -> datetime | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return parse_time(row[0]) if row and row[0] else None

    def invoices(self) -> dict[str, QboInvoice]:
        """Every exported invoice qbsync has seen in QBO, by QBO Id."""
        rows = self._conn.execute(f"SELECT {_INV} FROM qbo_invoices").fetchall()  # noqa: S608
        return {r[0]: _invoice(r) for r in rows}

    def qbo_state(self, invoice_id: str) -> QboState | None:
        """The QBO state, balance, total and last payment date of a platform invoice (None:
        never pulled). For `status`, `invoices`, `report` (issue 14 item 6)."""
        row = self._conn.execute(
            "SELECT state, balance, total, last_payment_at FROM qbo_invoices WHERE invoice_id = ?",
            (invoice_id,),
        ).fetchone()
        if row is None:
            return None
        return QboState(row[0], Decimal(row[1]), Decimal(row[2]), row[3])

    def qbo_states(self) -> dict[str, QboState]:
        """``qbo_state`` of every pulled invoice, by platform invoice id (one query)."""
        rows = self._conn.execute(
            "SELECT invoice_id, state, balance, total, last_payment_at FROM qbo_invoices"
        ).fetchall()
        return {r[0]: QboState(r[1], Decimal(r[2]), Decimal(r[3]), r[4]) for r in rows}

    def payments(self, *, active_only: bool = True) -> list[PaymentApplied]:
        sql = f"SELECT {_PAY} FROM qbo_payments"  # noqa: S608
        if active_only:
            sql += " WHERE active = 1"
        return [_payment(r) for r in self._conn.execute(sql + " ORDER BY rowid").fetchall()]

    def pending_events(self) -> list[PullEvent]:
        """Events not delivered yet, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_EVT} FROM pull_events WHERE delivered_at IS NULL ORDER BY seq"  # noqa: S608
        ).fetchall()
        return [_event(r) for r in rows]

    def events(self, *, run_id: int | None = None) -> list[PullEvent]:
        sql = f"SELECT {_EVT} FROM pull_events"  # noqa: S608
        params: tuple[Any, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        return [_event(r) for r in self._conn.execute(sql + " ORDER BY seq", params).fetchall()]

    def known_event_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT event_id FROM pull_events WHERE event_id IN ({marks})",  # noqa: S608
                chunk,
            ).fetchall()
            found.update(str(r[0]) for r in rows)
        return found

    # -- writes --------------------------------------------------------------------------------

    def apply(
        self,
        *,
        invoices: Sequence[QboInvoice],
        payments: Sequence[PaymentApplied],
        events: Sequence[PullEvent],
        watermark: datetime | None,
        run_id: int | None,
        sweep_next: bool = False,
        now: datetime | None = None,
    ) -> int:
        """One pull's findings in one transaction; events already known are skipped. Answers
        how many events were new. ``sweep_next``: the next pull reads the exported invoices by
        Id (this one could not see every deletion)."""
        at = iso(now or datetime.now(UTC))
        with self._transaction():
            self._conn.executemany(
                f"INSERT OR REPLACE INTO qbo_invoices ({_INV}, updated_at) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i.qbo_id,
                        i.invoice_id,
                        i.state,
                        money(i.balance),
                        money(i.total),
                        i.customer_id,
                        i.sync_token,
                        i.fingerprint_export,
                        i.fingerprint,
                        i.last_payment_at,
                        at,
                    )
                    for i in invoices
                ],
            )
            self._conn.executemany(
                f"INSERT OR REPLACE INTO qbo_payments ({_PAY}, seen_at) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.payment_id,
                        p.qbo_invoice_id,
                        p.kind,
                        money(p.amount),
                        p.txn_date,
                        p.method,
                        p.reference,
                        1 if p.active else 0,
                        at,
                    )
                    for p in payments
                ],
            )
            row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM pull_events").fetchone()
            seq = int(row[0])
            added = 0
            for event in events:
                seq += 1
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO pull_events (event_id, seq, run_id, kind, invoice_id, "
                    "qbo_invoice_id, payload_json, problem, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.event_id,
                        seq,
                        run_id,
                        event.kind,
                        event.invoice_id,
                        event.qbo_invoice_id,
                        json.dumps(event.payload, sort_keys=True),
                        event.problem,
                        at,
                    ),
                )
                added += cursor.rowcount
            if watermark is not None:
                for key, value in ((WATERMARK, iso(watermark)), (PULLED_AT, at)):
                    self._conn.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )
                if sweep_next:  # no "pulled at": the next pull reads by Id (pull_read.py)
                    self._conn.execute("DELETE FROM meta WHERE key = ?", (PULLED_AT,))
        return added

    def mark_delivered(self, event_ids: Iterable[str], *, now: datetime | None = None) -> None:
        at = iso(now or datetime.now(UTC))
        with self._transaction():
            self._conn.executemany(
                "UPDATE pull_events SET delivered_at = ?, attempts = attempts + 1, "
                "last_error = NULL WHERE event_id = ? AND delivered_at IS NULL",
                [(at, e) for e in event_ids],
            )

    def mark_failed(self, event_id: str, error: str) -> None:
        with self._transaction():
            self._conn.execute(
                "UPDATE pull_events SET attempts = attempts + 1, last_error = ? WHERE event_id = ?",
                (error[:2000], event_id),
            )


def _invoice(r: Sequence[Any]) -> QboInvoice:
    return QboInvoice(r[0], r[1], r[2], Decimal(r[3]), Decimal(r[4]), r[5], r[6], r[7], r[8], r[9])


def _payment(r: Sequence[Any]) -> PaymentApplied:
    return PaymentApplied(r[0], r[1], r[2], Decimal(r[3]), r[4], r[5], r[6], bool(r[7]))


def _event(r: Sequence[Any]) -> PullEvent:
    return PullEvent(
        event_id=r[0],
        kind=r[1],
        invoice_id=r[2],
        qbo_invoice_id=r[3],
        payload=json.loads(r[4]),
        problem=r[5],
        delivered_at=parse_time(r[6]),
        attempts=int(r[7]),
        last_error=r[8],
        run_id=r[9],
    )
