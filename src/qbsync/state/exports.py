"""Invoice exports: each source invoice's way to QBO, and the export days served.

An invoice is recorded ``exporting`` (with its bId and the batch's requestid) BEFORE its batch
is sent, and settled as ``exported`` (QBO Id, DocNumber, TotalAmt) or ``failed`` as each answer
lands. A run that finds ``exporting`` rows settles them against QBO before sending anything:
that is what makes a crash, a lost response or a kill -9 unable to create an invoice twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from qbsync.state.rows import iso, money, parse_money, parse_time

STATES = ("exporting", "exported", "failed")
_COLUMNS = (
    "invoice_id, member_id, customer_id, state, number, doc_number, txn_date, marker, "
    "request_id, bid, source_total, fingerprint, qbo_id, qbo_total, error_code, error_message, "
    "attempted_at, exported_at, run_id, platform_total"
)


@dataclass(frozen=True)
class ExportRecord:
    invoice_id: str
    member_id: str
    customer_id: str
    state: str  # exporting | exported | failed
    number: str
    doc_number: str | None  # the DocNumber sent (None: QBO numbers it)
    txn_date: str  # YYYY-MM-DD as sent
    marker: str  # the PrivateNote marker as sent (invoice_map.marker; older rows: the old format)
    request_id: str | None
    bid: str | None
    source_total: Decimal
    fingerprint: str
    qbo_id: str | None = None
    qbo_total: Decimal | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempted_at: datetime | None = None
    exported_at: datetime | None = None
    run_id: int | None = None
    platform_total: Decimal | None = None  # the platform's own total, when the source gave it

    @property
    def expected_total(self) -> Decimal:
        """What QBO's TotalAmt is checked against: the platform's total when the source gives
        one (a rounding or tax difference then shows), else qbsync's sum of the lines and tax."""
        return self.source_total if self.platform_total is None else self.platform_total

    @property
    def difference(self) -> Decimal | None:
        """QBO's TotalAmt minus the expected total (tax computed by QBO, rounding), if any."""
        if self.qbo_total is None or self.qbo_total == self.expected_total:
            return None
        return self.qbo_total - self.expected_total


@dataclass(frozen=True)
class Hold:
    """An invoice the operator set aside (`qbsync hold`): never sent until released."""

    invoice_id: str
    reason: str
    held_at: datetime
    run_id: int | None = None


@dataclass(frozen=True)
class Refusal:
    """An invoice the last export would not send (invoice_map.Refused), with the fix."""

    invoice_id: str
    reason: str
    fix: str
    run_id: int | None
    refused_at: datetime


class ExportLog:
    """``state.exports``."""

    def __init__(
        self, conn: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._conn = conn
        self._transaction = transaction

    def states(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT invoice_id, state FROM exports").fetchall())

    def get(self, invoice_id: str) -> ExportRecord | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM exports WHERE invoice_id = ?",  # noqa: S608
            (invoice_id,),
        ).fetchone()
        return None if row is None else _record(row)

    def in_state(self, state: str) -> list[ExportRecord]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM exports WHERE state = ? ORDER BY rowid",  # noqa: S608
            (state,),
        ).fetchall()
        return [_record(r) for r in rows]

    def all(self) -> list[ExportRecord]:
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM exports ORDER BY rowid").fetchall()  # noqa: S608
        return [_record(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT state, COUNT(*) FROM exports GROUP BY state").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def mark_exporting(
        self, records: Iterable[ExportRecord], *, now: datetime | None = None
    ) -> None:
        """Record a batch as on its way, in one transaction, before it is sent."""
        at = iso(now or datetime.now(UTC))
        records = list(records)
        with self._transaction():
            self.clear_refusal(r.invoice_id for r in records)  # on its way: no longer refused
            self._conn.executemany(
                f"INSERT INTO exports ({_COLUMNS}) VALUES "  # noqa: S608
                "(?, ?, ?, 'exporting', ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?, NULL, ?, ?) "
                "ON CONFLICT (invoice_id) DO UPDATE SET member_id = excluded.member_id, "
                "customer_id = excluded.customer_id, state = 'exporting', number = excluded.number, "
                "doc_number = excluded.doc_number, txn_date = excluded.txn_date, "
                "marker = excluded.marker, request_id = excluded.request_id, bid = excluded.bid, "
                "source_total = excluded.source_total, fingerprint = excluded.fingerprint, "
                "qbo_id = NULL, qbo_total = NULL, error_code = NULL, error_message = NULL, "
                "attempted_at = excluded.attempted_at, run_id = excluded.run_id, "
                "platform_total = excluded.platform_total "
                "WHERE exports.state != 'exported'",
                [
                    (
                        r.invoice_id,
                        r.member_id,
                        r.customer_id,
                        r.number,
                        r.doc_number,
                        r.txn_date,
                        r.marker,
                        r.request_id,
                        r.bid,
                        money(r.source_total),
                        r.fingerprint,
                        at,
                        r.run_id,
                        money(r.platform_total),
                    )
                    for r in records
                ],
            )

    # -- holds and refusals --------------------------------------------------------------------

    def hold(
        self,
        invoice_ids: Iterable[str],
        reason: str,
        *,
        run_id: int | None = None,
        now: datetime | None = None,
    ) -> None:
        """Set invoices aside (a second hold replaces the reason). Whether an id may be held
        (not exported already) is the caller's check: sync/holds.py."""
        at = iso(now or datetime.now(UTC))
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO holds (invoice_id, reason, held_at, run_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (invoice_id) DO UPDATE SET reason = excluded.reason, "
                "held_at = excluded.held_at, run_id = excluded.run_id",
                [(invoice_id, reason, at, run_id) for invoice_id in invoice_ids],
            )

    def release(self, invoice_ids: Iterable[str]) -> list[str]:
        """End the holds on these invoices; the ids that were held."""
        ids = list(dict.fromkeys(invoice_ids))
        held = self.holds()
        with self._transaction():
            self._conn.executemany("DELETE FROM holds WHERE invoice_id = ?", [(i,) for i in ids])
        return [i for i in ids if i in held]

    def holds(self) -> dict[str, Hold]:
        rows = self._conn.execute(
            "SELECT invoice_id, reason, held_at, run_id FROM holds ORDER BY rowid"
        ).fetchall()
        return {
            str(r[0]): Hold(str(r[0]), str(r[1]), datetime.fromisoformat(r[2]), r[3]) for r in rows
        }

    def record_refusals(
        self,
        run_id: int | None,
        refusals: Iterable[tuple[str, str, str]],
        *,
        now: datetime | None = None,
    ) -> None:
        """(invoice id, reason, fix) for every invoice this export refused. They replace the
        last export's: an invoice not refused this time is no longer ``refused``."""
        at = iso(now or datetime.now(UTC))
        with self._transaction():
            self._conn.execute("DELETE FROM refusals")
            self._conn.executemany(
                "INSERT INTO refusals (invoice_id, run_id, reason, fix, refused_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (invoice_id) DO UPDATE SET "
                "run_id = excluded.run_id, reason = excluded.reason, fix = excluded.fix, "
                "refused_at = excluded.refused_at",
                [(i, run_id, reason, fix, at) for i, reason, fix in refusals],
            )

    def clear_refusal(self, invoice_ids: Iterable[str]) -> None:
        """These invoices are on their way after all: no longer refused."""
        with self._transaction():
            self._conn.executemany(
                "DELETE FROM refusals WHERE invoice_id = ?", [(i,) for i in invoice_ids]
            )

    def refusals(self) -> dict[str, Refusal]:
        rows = self._conn.execute(
            "SELECT invoice_id, reason, fix, run_id, refused_at FROM refusals ORDER BY rowid"
        ).fetchall()
        return {
            str(r[0]): Refusal(str(r[0]), str(r[1]), str(r[2]), r[3], datetime.fromisoformat(r[4]))
            for r in rows
        }

    def stamp_attempt(self, invoice_ids: Iterable[str], *, now: datetime | None = None) -> None:
        """Record that an attempt of their batch is being sent now (committed before it goes):
        the settle grace counts from the last attempt, not the first (retries can take minutes)."""
        at = iso(now or datetime.now(UTC))
        with self._transaction():
            self._conn.executemany(
                "UPDATE exports SET attempted_at = ? WHERE invoice_id = ? AND state = 'exporting'",
                [(at, invoice_id) for invoice_id in invoice_ids],
            )

    def mark_exported(
        self,
        invoice_id: str,
        *,
        qbo_id: str,
        doc_number: str | None,
        qbo_total: Decimal | None,
        now: datetime | None = None,
    ) -> None:
        # One statement: atomic by itself, and part of the caller's transaction when in one.
        self._conn.execute(
            "UPDATE exports SET state = 'exported', qbo_id = ?, doc_number = ?, qbo_total = ?, "
            "error_code = NULL, error_message = NULL, exported_at = ? WHERE invoice_id = ?",
            (qbo_id, doc_number, money(qbo_total), iso(now or datetime.now(UTC)), invoice_id),
        )

    def restore(self, records: Iterable[ExportRecord]) -> int:
        """Record invoices found in QBO as ``exported`` (`qbsync state rebuild`); a row already
        ``exported`` is kept as it is. How many rows were written."""
        rows = [
            (
                r.invoice_id, r.member_id, r.customer_id, r.number, r.doc_number, r.txn_date,
                r.marker, money(r.source_total), r.fingerprint, r.qbo_id, money(r.qbo_total),
                iso(r.attempted_at or datetime.now(UTC)), iso(r.exported_at or datetime.now(UTC)),
                r.run_id, money(r.platform_total),
            )
            for r in records
        ]  # fmt: skip
        with self._transaction():
            before = self._conn.total_changes
            self._conn.executemany(
                f"INSERT INTO exports ({_COLUMNS}) VALUES "  # noqa: S608
                "(?, ?, ?, 'exported', ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?) "
                "ON CONFLICT (invoice_id) DO UPDATE SET member_id = excluded.member_id, "
                "customer_id = excluded.customer_id, state = 'exported', number = excluded.number, "
                "doc_number = excluded.doc_number, txn_date = excluded.txn_date, "
                "marker = excluded.marker, request_id = NULL, bid = NULL, "
                "source_total = excluded.source_total, fingerprint = excluded.fingerprint, "
                "qbo_id = excluded.qbo_id, qbo_total = excluded.qbo_total, error_code = NULL, "
                "error_message = NULL, exported_at = excluded.exported_at, run_id = excluded.run_id, "
                "platform_total = excluded.platform_total WHERE exports.state != 'exported'",
                rows,
            )
            return self._conn.total_changes - before

    def mark_failed(self, invoice_id: str, *, code: str | None, message: str) -> None:
        with self._transaction():
            self._conn.execute(
                "UPDATE exports SET state = 'failed', error_code = ?, error_message = ? "
                "WHERE invoice_id = ? AND state != 'exported'",
                (code, message, invoice_id),
            )

    def mark_updated(
        self,
        invoice_id: str,
        *,
        fingerprint: str,
        source_total: Decimal,
        platform_total: Decimal | None,
        qbo_total: Decimal | None,
    ) -> None:
        """An exported invoice's QBO copy now reads as the platform's edited one."""
        with self._transaction():
            self._conn.execute(
                "UPDATE exports SET fingerprint = ?, source_total = ?, platform_total = ?, "
                "qbo_total = ? WHERE invoice_id = ? AND state = 'exported'",
                (fingerprint, money(source_total), money(platform_total), money(qbo_total),
                 invoice_id),
            )  # fmt: skip

    def mark_undone(self, invoice_id: str, *, message: str) -> None:
        """`qbsync undo` voided its QBO invoice: no longer exported (its QBO id stays, for the
        audit trail); the caller holds it in the same transaction, so it is not sent again
        until released."""
        self._conn.execute(
            "UPDATE exports SET state = 'failed', error_code = NULL, error_message = ? "
            "WHERE invoice_id = ? AND state = 'exported'",
            (message, invoice_id),
        )

    # -- export days ---------------------------------------------------------------------------

    def last_served_day(self, on_or_before: date | None = None) -> date | None:
        limit = (on_or_before or date.max).isoformat()
        row = self._conn.execute(
            "SELECT MAX(day) FROM export_days WHERE day <= ?", (limit,)
        ).fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def served_after(self, day: date) -> list[date]:
        """Export days recorded as served that are later than ``day`` (`export --as-of`)."""
        rows = self._conn.execute(
            "SELECT day FROM export_days WHERE day > ? ORDER BY day", (day.isoformat(),)
        ).fetchall()
        return [date.fromisoformat(str(row[0])) for row in rows]

    def serve_day(self, day: date, *, run_id: int | None, now: datetime | None = None) -> None:
        with self._transaction():
            self._conn.execute(
                "INSERT INTO export_days (day, served_at, run_id) VALUES (?, ?, ?) "
                "ON CONFLICT (day) DO NOTHING",
                (day.isoformat(), iso(now or datetime.now(UTC)), run_id),
            )

    def served_days(self) -> dict[int, date]:
        """Run id -> the export day that run served (`qbsync report` groups by it)."""
        rows = self._conn.execute(
            "SELECT run_id, day FROM export_days WHERE run_id IS NOT NULL ORDER BY day"
        ).fetchall()
        return {int(row[0]): date.fromisoformat(str(row[1])) for row in rows}

    def last_activity_at(self) -> datetime | None:
        """The latest moment this state recorded an invoice exported or sent (None: never)."""
        row = self._conn.execute(
            "SELECT MAX(MAX(COALESCE(exported_at, '')), MAX(COALESCE(attempted_at, ''))) "
            "FROM exports"
        ).fetchone()
        return parse_time(row[0]) if row and row[0] else None

    def last_export_at(self) -> datetime | None:
        row = self._conn.execute("SELECT MAX(exported_at) FROM exports").fetchone()
        return parse_time(row[0]) if row else None


def _record(row: tuple[object, ...]) -> ExportRecord:
    def text(i: int) -> str | None:
        return None if row[i] is None else str(row[i])

    return ExportRecord(
        invoice_id=str(row[0]),
        member_id=str(row[1]),
        customer_id=str(row[2]),
        state=str(row[3]),
        number=str(row[4]),
        doc_number=text(5),
        txn_date=str(row[6]),
        marker=str(row[7]),
        request_id=text(8),
        bid=text(9),
        source_total=parse_money(text(10)) or Decimal(0),
        fingerprint=str(row[11]),
        qbo_id=text(12),
        qbo_total=parse_money(text(13)),
        error_code=text(14),
        error_message=text(15),
        attempted_at=parse_time(text(16)),
        exported_at=parse_time(text(17)),
        run_id=None if row[18] is None else int(str(row[18])),
        platform_total=parse_money(text(19)),
    )
