"""Run history: one row per syncing command, and what happened to each record in it."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qbsync.errors import StateError, tid_in
from qbsync.state.rows import iso, parse_time

INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RunRecord:
    id: int
    command: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    summary: dict[str, Any] | None
    pid: int | None = None


@dataclass(frozen=True)
class RecordOutcome:
    run_id: int
    kind: str  # "member" | "invoice"
    record_id: str
    outcome: (
        str  # linked, created, reactivated, updated, needs_review, unmatched, failed, exported...
    )
    detail: str | None
    at: datetime
    intuit_tid: str | None = None  # of the QBO answer behind it, for Intuit's support


# (record id, outcome, detail), or with Intuit's transaction id as a fourth value
OutcomeRow = tuple[str, str, str | None] | tuple[str, str, str | None, str | None]


class RunLog:
    """``state.runs``. ``start`` is called under the run lock (``locks.run_lock``): any run still
    marked ``running`` then belongs to a process that died, and is closed as ``interrupted``."""

    def __init__(
        self, conn: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._conn = conn
        self._transaction = transaction

    def start(self, command: str, *, now: datetime | None = None) -> int:
        moment = now or datetime.now(UTC)
        with self._transaction():
            self._conn.execute(
                "UPDATE runs SET outcome = ?, finished_at = ? WHERE outcome = 'running'",
                (INTERRUPTED, iso(moment)),
            )
            cursor = self._conn.execute(
                "INSERT INTO runs (command, started_at, outcome, pid) VALUES (?, ?, 'running', ?)",
                (command, iso(moment), os.getpid()),
            )
        return int(cursor.lastrowid or 0)

    def finish(
        self, run_id: int, outcome: str, summary: dict[str, Any], *, now: datetime | None = None
    ) -> None:
        finished = iso(now or datetime.now(UTC))
        body = json.dumps(summary, sort_keys=True, default=str)
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, summary_json = ? WHERE id = ?",
                (finished, outcome, body, run_id),
            )
            if cursor.rowcount != 1:
                raise StateError(f"no run {run_id} in the state database")

    def record(
        self,
        run_id: int,
        kind: str,
        outcomes: Iterable[OutcomeRow],
        *,
        now: datetime | None = None,
    ) -> None:
        """(record id, outcome, detail[, intuit tid]) rows for this run; call it as each batch
        lands. Without a tid, the one the detail names is kept (a QBO error's message names
        it: qbo/faults.py)."""
        at = iso(now or datetime.now(UTC))
        rows = []
        for row in outcomes:
            detail = row[2]
            tid = (row[3] if len(row) > 3 else None) or tid_in(detail)
            rows.append((run_id, kind, row[0], row[1], detail, at, tid))
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO run_records (run_id, kind, record_id, outcome, detail, at, intuit_tid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def outcomes(self, run_id: int, *, only: Iterable[str] | None = None) -> list[RecordOutcome]:
        rows = self._conn.execute(
            "SELECT run_id, kind, record_id, outcome, detail, at, intuit_tid FROM run_records "
            "WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        ).fetchall()
        wanted = set(only) if only is not None else None
        return [
            RecordOutcome(r[0], r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]), r[6])
            for r in rows
            if wanted is None or r[3] in wanted
        ]

    def history(self, kind: str, record_id: str) -> list[RecordOutcome]:
        """Every outcome recorded for one record (an invoice, a member), oldest first."""
        rows = self._conn.execute(
            "SELECT run_id, kind, record_id, outcome, detail, at, intuit_tid FROM run_records "
            "WHERE kind = ? AND record_id = ? ORDER BY rowid",
            (kind, record_id),
        ).fetchall()
        return [
            RecordOutcome(r[0], r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]), r[6])
            for r in rows
        ]

    def intuit_tids(self, run_id: int) -> list[str]:
        """Intuit's transaction ids recorded with this run's outcomes, first seen first."""
        rows = self._conn.execute(
            "SELECT intuit_tid FROM run_records WHERE run_id = ? AND intuit_tid IS NOT NULL "
            "ORDER BY rowid",
            (run_id,),
        ).fetchall()
        return list(dict.fromkeys(str(r[0]) for r in rows))

    def last(self, n: int = 10, *, command: str | None = None) -> list[RunRecord]:
        """The ``n`` most recent runs (of ``command`` when given), newest first."""
        sql = "SELECT id, command, started_at, finished_at, outcome, summary_json, pid FROM runs"
        params: tuple[Any, ...] = (n,)
        if command is not None:
            sql += " WHERE command = ?"
            params = (command, n)
        rows = self._conn.execute(sql + " ORDER BY id DESC LIMIT ?", params).fetchall()
        return [
            RunRecord(
                id=row[0],
                command=row[1],
                started_at=datetime.fromisoformat(row[2]),
                finished_at=parse_time(row[3]),
                outcome=row[4],
                summary=json.loads(row[5]) if row[5] else None,
                pid=row[6],
            )
            for row in rows
        ]
