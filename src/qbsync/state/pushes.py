"""What qbsync sent to QBO about invoices after exporting them (`state.pushes`).

Kinds: ``void`` (a platform void), ``update`` (a platform edit), ``payment`` (a platform payment,
record id = the platform's payment id), ``credit_memo``, ``undo`` (`qbsync undo`). Each write is
recorded ``pushing`` (requestid, marker, when) BEFORE it is sent and settled ``pushed`` (QBO id)
or ``failed`` as its answer lands: a kill between the two leaves ``pushing``, which the next run
looks for in QBO before sending anything again (the pattern of state/exports.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from qbsync.state.rows import iso, parse_time

# credit_memo: record id = the credit note's id; credit_apply: the zero-total Payment applying
# that credit memo to its invoice (record id = the credit note's id).
PUSH_KINDS = ("void", "update", "payment", "credit_memo", "credit_apply", "undo", "report")
PUSH_STATES = ("pushing", "pushed", "failed")
_COLUMNS = (
    "kind, record_id, invoice_id, state, marker, fingerprint, request_id, qbo_id, detail, "
    "run_id, attempted_at, done_at"
)


@dataclass(frozen=True)
class Push:
    kind: str
    record_id: str
    invoice_id: str
    state: str
    marker: str | None
    fingerprint: str | None
    request_id: str | None
    qbo_id: str | None
    detail: str | None
    run_id: int | None
    attempted_at: datetime
    done_at: datetime | None


class PushLog:
    """``state.pushes``."""

    def __init__(
        self, conn: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._conn = conn
        self._transaction = transaction

    def get(self, kind: str, record_id: str) -> Push | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM pushes WHERE kind = ? AND record_id = ?",  # noqa: S608
            (kind, record_id),
        ).fetchone()
        return None if row is None else _push(row)

    def all(self, kind: str | None = None) -> list[Push]:
        sql = f"SELECT {_COLUMNS} FROM pushes"  # noqa: S608
        rows = (
            self._conn.execute(sql + " WHERE kind = ? ORDER BY rowid", (kind,))
            if kind
            else self._conn.execute(sql + " ORDER BY rowid")
        ).fetchall()
        return [_push(r) for r in rows]

    def begin(
        self,
        kind: str,
        record_id: str,
        invoice_id: str,
        *,
        request_id: str | None,
        marker: str | None = None,
        fingerprint: str | None = None,
        qbo_id: str | None = None,
        run_id: int | None,
        now: datetime | None = None,
    ) -> None:
        """Record a write as on its way (committed before it is sent). A row already ``pushed``
        with the same fingerprint is left as it is."""
        with self._transaction():
            self._conn.execute(
                f"INSERT INTO pushes ({_COLUMNS}) VALUES "  # noqa: S608
                "(?, ?, ?, 'pushing', ?, ?, ?, ?, NULL, ?, ?, NULL) "
                "ON CONFLICT (kind, record_id) DO UPDATE SET state = 'pushing', "
                "invoice_id = excluded.invoice_id, marker = excluded.marker, "
                "fingerprint = excluded.fingerprint, request_id = excluded.request_id, "
                "qbo_id = COALESCE(excluded.qbo_id, pushes.qbo_id), detail = NULL, "
                "run_id = excluded.run_id, attempted_at = excluded.attempted_at, done_at = NULL "
                "WHERE NOT (pushes.state = 'pushed' AND "
                "pushes.fingerprint IS excluded.fingerprint)",
                (
                    kind, record_id, invoice_id, marker, fingerprint, request_id, qbo_id,
                    run_id, iso(now or datetime.now(UTC)),
                ),
            )  # fmt: skip

    def done(
        self,
        kind: str,
        record_id: str,
        *,
        qbo_id: str | None,
        detail: str | None = None,
        now: datetime | None = None,
    ) -> None:
        with self._transaction():
            self._conn.execute(
                "UPDATE pushes SET state = 'pushed', qbo_id = COALESCE(?, qbo_id), detail = ?, "
                "done_at = ? WHERE kind = ? AND record_id = ?",
                (qbo_id, detail, iso(now or datetime.now(UTC)), kind, record_id),
            )

    def found(
        self,
        kind: str,
        record_id: str,
        invoice_id: str,
        *,
        qbo_id: str | None,
        detail: str,
        run_id: int | None,
    ) -> None:
        """QBO already shows it done (voided by hand, found by its marker): recorded ``pushed``
        whether or not a ``pushing`` row was there."""
        at = iso(datetime.now(UTC))
        with self._transaction():
            self._conn.execute(
                f"INSERT INTO pushes ({_COLUMNS}) VALUES "  # noqa: S608
                "(?, ?, ?, 'pushed', NULL, NULL, NULL, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, record_id) DO UPDATE SET state = 'pushed', "
                "qbo_id = COALESCE(excluded.qbo_id, pushes.qbo_id), detail = excluded.detail, "
                "done_at = excluded.done_at",
                (kind, record_id, invoice_id, qbo_id, detail, run_id, at, at),
            )

    def fail(self, kind: str, record_id: str, *, detail: str) -> None:
        with self._transaction():
            self._conn.execute(
                "UPDATE pushes SET state = 'failed', detail = ? WHERE kind = ? AND record_id = ? "
                "AND state != 'pushed'",
                (detail, kind, record_id),
            )

    def note(
        self, kind: str, record_id: str, invoice_id: str, *, fingerprint: str, detail: str
    ) -> None:
        """A finding that sends nothing (``report``: what changed), kept so that it is not read
        from QBO again while the invoice reads the same."""
        at = iso(datetime.now(UTC))
        with self._transaction():
            self._conn.execute(
                f"INSERT INTO pushes ({_COLUMNS}) VALUES "  # noqa: S608
                "(?, ?, ?, 'pushed', NULL, ?, NULL, NULL, ?, NULL, ?, ?) "
                "ON CONFLICT (kind, record_id) DO UPDATE SET fingerprint = excluded.fingerprint, "
                "detail = excluded.detail, done_at = excluded.done_at",
                (kind, record_id, invoice_id, fingerprint, detail, at, at),
            )

    def own_payment_ids(self) -> set[str]:
        """QBO Ids of the payments qbsync created (from platform payments, and the zero-total
        payments applying its credit memos): `pull` must never send them back to the platform
        as events (they came from it)."""
        rows = self._conn.execute(
            "SELECT qbo_id FROM pushes WHERE kind IN ('payment', 'credit_apply') "
            "AND qbo_id IS NOT NULL"
        ).fetchall()
        return {str(r[0]) for r in rows}


def _push(row: tuple[object, ...]) -> Push:
    def text(i: int) -> str | None:
        return None if row[i] is None else str(row[i])

    return Push(
        kind=str(row[0]),
        record_id=str(row[1]),
        invoice_id=str(row[2]),
        state=str(row[3]),
        marker=text(4),
        fingerprint=text(5),
        request_id=text(6),
        qbo_id=text(7),
        detail=text(8),
        run_id=None if row[9] is None else int(str(row[9])),
        attempted_at=parse_time(text(10)) or datetime.now(UTC),
        done_at=parse_time(text(11)),
    )
