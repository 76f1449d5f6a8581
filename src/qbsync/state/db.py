"""The local SQLite state: which QBO company this is, when the integration was enabled, and,
through its parts, runs (``state.runs``), member links (``state.members``), the QBO customer
cache (``state.customers``) and invoice exports (``state.exports``).

The schema lives in ``state/migrations.py`` (append-only). ``PRAGMA user_version`` is the number
of migrations applied; a database from a newer qbsync is refused rather than half-understood.
The connection never leaves the ``state`` package: callers use methods named for their purpose.

The file is created 0600 before SQLite opens it. SQLite creates the ``-wal`` and ``-shm`` files
with the same permissions as the database file (os_unix.c ``findCreateFileMode``: journal and WAL
files copy the database file's mode), so they are 0600 too; tests check it.
Transactions are explicit (``with state.transaction():``, ``BEGIN IMMEDIATE``), so a writer takes
the lock up front and waits ``busy_timeout`` for another process instead of failing mid-way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from qbsync.errors import LockedError, StateError
from qbsync.paths import ensure_private_dir
from qbsync.state.customers import CustomerCache
from qbsync.state.exports import ExportLog
from qbsync.state.members import MemberStore
from qbsync.state.migrations import MIGRATIONS, SCHEMA_VERSION, split_sql
from qbsync.state.pulls import PullStore
from qbsync.state.rows import iso, parse_time
from qbsync.state.runs import RunLog

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000
_SQLITE_HEADER = b"SQLite format 3\x00"


class State:
    """One open state database. Use ``State.open(path)``; close it (or use ``with``)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self.runs = RunLog(conn, self.transaction)
        self.members = MemberStore(conn, self.transaction)
        self.customers = CustomerCache(conn, self.transaction)
        self.exports = ExportLog(conn, self.transaction)
        self.pulls = PullStore(conn, self.transaction)

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> State:
        path = Path(path)
        ensure_private_dir(path.parent)
        _prepare_file(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state database {path}: {exc}") from None
        state = cls(path, conn)
        # Switching a new file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at
        # once (without calling the busy handler) when another process is doing the same or
        # recovering the WAL; several cron jobs starting together hit this. Both steps are
        # idempotent, so retry them until the busy timeout runs out.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        try:
            while True:
                try:
                    state._configure()
                    state._migrate()
                    break
                except LockedError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.02)
        except BaseException:
            conn.close()
            raise
        return state

    def _configure(self) -> None:
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":  # WAL is persistent: set once, by the first opener
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise self._db_error(exc) from None
        if str(mode).lower() != "wal":  # pragma: no cover - e.g. a filesystem without shm
            log.warning("state database %s is not in WAL mode (%s)", self.path, mode)

    def _migrate(self) -> None:
        try:
            if self.schema_version == SCHEMA_VERSION:
                return
            with self.transaction():
                current = self.schema_version  # re-read under the write lock: another process
                if current > SCHEMA_VERSION:  # may have migrated while we waited
                    raise StateError(
                        f"state database {self.path} has schema version {current}, newer than "
                        f"this qbsync understands ({SCHEMA_VERSION}); upgrade qbsync to use it",
                        hint="upgrade qbsync (the database was written by a newer version)",
                    )
                for number in range(current, SCHEMA_VERSION):
                    for statement in split_sql(MIGRATIONS[number]):
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {number + 1}")
                    log.info("state database %s migrated to version %d", self.path, number + 1)
        except sqlite3.DatabaseError as exc:
            raise self._db_error(exc) from None

    def _db_error(self, exc: sqlite3.DatabaseError) -> Exception:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return LockedError(f"state database {self.path} is locked by another process")
        return StateError(
            f"state database {self.path} is unreadable or not a qbsync database ({text})",
            hint=f"move {self.path} aside; a new one is created on the next run",
        )

    @staticmethod
    def delete_files(path: Path) -> bool:
        """Delete a (closed) state database and its SQLite side files; whether there was one."""
        deleted = False
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()
                deleted = True
        return deleted

    @property
    def schema_version(self) -> int:
        version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); nested blocks are savepoints.

        Groups several of this state's methods into one atomic change."""
        conn = self._conn
        if conn.in_transaction:
            conn.execute("SAVEPOINT nested")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK TO nested")
                conn.execute("RELEASE nested")
                raise
            conn.execute("RELEASE nested")
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._db_error(exc) from None
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def realm_id(self) -> str | None:
        return self.get_meta("realm_id")

    @property
    def enabled_at(self) -> datetime | None:
        return parse_time(self.get_meta("enabled_at"))

    @property
    def company_name(self) -> str | None:
        return self.get_meta("company_name")

    def bind_realm(
        self,
        realm_id: str,
        *,
        now: datetime,
        company_name: str | None,
        enabled_at: datetime | None = None,
    ) -> datetime:
        """Tie this state to one QBO company; return when the integration was enabled.

        A state bound here for the first time records ``enabled_at`` (the config's, when it has
        one: a new state never moves it), else ``now``.
        Links and exported-invoice records point at Ids inside one company's books; reusing them
        against another company would attach members to the wrong customers, so that is refused.
        """
        with self.transaction():
            bound = self.realm_id
            if bound is None:
                first = enabled_at or now
                self.set_meta("realm_id", realm_id)
                self.set_meta("enabled_at", iso(first))
                if company_name:
                    self.set_meta("company_name", company_name)
                return first.astimezone(UTC)
            if bound != realm_id:
                name = self.company_name
                label = f"{bound} ({name})" if name else bound
                raise StateError(
                    f"the state in {self.path} belongs to QBO company {label}, not {realm_id}; "
                    "its links would point into the wrong books",
                    hint="run `qbsync auth --fresh-state` to start this profile over for the new "
                    "company, or use another --profile",
                )
            if company_name:
                self.set_meta("company_name", company_name)
            enabled = self.enabled_at
            if enabled is None:  # pragma: no cover - only a hand-edited database
                self.set_meta("enabled_at", iso(now))
                enabled = now.astimezone(UTC)
            return enabled

    def set_enabled_at(self, when: datetime) -> None:
        """Move enabled_at: only on the operator's word (`qbsync state rebuild`)."""
        with self.transaction():
            self.set_meta("enabled_at", iso(when))

    def reset_for_new_realm(self) -> None:
        """Delete every row of every table (the file, its mode and schema stay)."""
        conn = self._conn
        with self.transaction():
            conn.execute("PRAGMA defer_foreign_keys = ON")  # delete in any table order
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')  # noqa: S608 - names from sqlite_master


def _prepare_file(path: Path) -> None:
    """Create the database file 0600, or check that an existing one is SQLite and private."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateError(f"cannot create state database {path}: {exc.strerror or exc}") from None
    else:
        os.close(fd)
        return
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
            mode = os.fstat(handle.fileno()).st_mode
    except IsADirectoryError:
        raise StateError(f"state database path {path} is a folder") from None
    except OSError as exc:
        raise StateError(f"cannot read state database {path}: {exc.strerror or exc}") from None
    if header and header != _SQLITE_HEADER:
        raise StateError(
            f"{path} is not a SQLite database (not a qbsync state file, or corrupted)",
            hint=f"move {path} aside; a new one is created on the next run",
        )
    if mode & 0o077:
        os.chmod(path, 0o600)
        log.warning("state database %s was readable by others; changed it to 0600", path)
    for suffix in ("-wal", "-shm"):  # left over from when the database itself was loose
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if side.stat().st_mode & 0o077:
                side.chmod(0o600)
