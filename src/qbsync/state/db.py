"""The local SQLite state: which QBO company this is, when the integration was enabled, and,
through its parts, runs (``state.runs``), member links (``state.members``), the QBO customer
cache (``state.customers``) and invoice exports (``state.exports``).

The schema lives in ``state/migrations.py`` (append-only). ``PRAGMA user_version`` is the number
of migrations applied; a database from a newer qbsync is refused rather than half-understood.
The connection never leaves the ``state`` package: callers use methods named for their purpose.

A new database is built under a temp name (0600, WAL, migrated) and linked into place, so a
file at the state path is always one qbsync finished: an empty (0-byte) or unreadable file there
is refused (exit 2), never taken for a new state, since the state holds the export history.
SQLite creates the ``-wal`` and ``-shm`` files with the same permissions as the database file
(os_unix.c ``findCreateFileMode``: journal and WAL files copy the database file's mode), so they
are 0600 too; tests check it. Hence a read-only (0400) database would leave 0400 side files that
break every later run: a database, side file or folder qbsync cannot write is refused, naming it,
before SQLite opens anything. Corruption found later (``PRAGMA quick_check`` at open, or a query
that meets a damaged page) is a ``StateError`` too, never an "unexpected" exit 1.
Transactions are explicit (``with state.transaction():``, ``BEGIN IMMEDIATE``), so a writer takes
the lock up front and waits ``busy_timeout`` for another process instead of failing mid-way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
import stat
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
from qbsync.state.pushes import PushLog
from qbsync.state.rows import iso, parse_time
from qbsync.state.runs import RunLog

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000
_SQLITE_HEADER = b"SQLite format 3\x00"
_SIDE_SUFFIXES = ("-wal", "-shm")
# SQLite result codes that mean the file is damaged or not a database (sqlite.org/rescode.html):
# the operator's problem to fix (exit 2), not a bug in qbsync.
_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_FILE_CODES = {*_CORRUPT_CODES, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN}
REBUILD_HINT = (
    "restore {path} from a backup, or rebuild it from QBO with `qbsync state rebuild` (it holds "
    "the export history: do not delete it)"
)


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
        self.pushes = PushLog(conn, self.transaction)

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> State:
        path = Path(path)
        ensure_private_dir(path.parent)
        if not _prepare_file(path):
            cls._create(path)
        return cls._connect(path, check=True)

    @classmethod
    def _create(cls, path: Path) -> None:
        """Build a new database under a temp name, then link it in: a crash leaves no half-made
        (empty) file at ``path``. Another process creating it at the same time wins the link;
        ours is dropped and theirs used."""
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(
                f"cannot create state database {path}: {exc.strerror or exc}",
                hint=f"check that you may write to {path.parent}",
            ) from None
        os.close(fd)
        try:
            cls._connect(tmp, check=False).close()  # WAL, migrated; closing folds the WAL in
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            cls.delete_files(tmp)

    @classmethod
    def _connect(cls, path: Path, *, check: bool) -> State:
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
            if check:
                state._check_pages()
        except BaseException:
            conn.close()
            raise
        return state

    def _check_pages(self) -> None:
        """``PRAGMA quick_check``: a damaged page is found before the run does any work, not
        half-way through it (it reads every page: about 0.1 s for a 50 MB database)."""
        try:
            problems = [row[0] for row in self._conn.execute("PRAGMA quick_check(1)")]
        except sqlite3.DatabaseError as exc:
            raise self._db_error(exc) from None
        if problems != ["ok"]:
            raise _corrupt(self.path, "; ".join(str(p) for p in problems))

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
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
        if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
            problem = _unwritable(self.path)
            if problem is not None:
                return problem
        if code in _CORRUPT_CODES:
            return _corrupt(self.path, text)
        return StateError(
            f"state database {self.path} is unreadable or not a qbsync database ({text})",
            hint=REBUILD_HINT.format(path=self.path),
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

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        # A damaged page or an unwritable side file met by a query inside the block: the
        # operator's to fix (exit 2, naming the file), like the same problem found at open.
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if isinstance(exc, sqlite3.DatabaseError) and code in _FILE_CODES:
            raise self._db_error(exc) from None

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

    @property
    def home_currency(self) -> str | None:
        """The company's home currency (QBO Preferences CurrencyPrefs.HomeCurrency) as last
        read, e.g. "USD"; None until a command that reads the preferences has recorded it."""
        return self.get_meta("home_currency")

    def set_home_currency(self, code: str) -> None:
        with self.transaction():
            self.set_meta("home_currency", code)

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


def _prepare_file(path: Path) -> bool:
    """Check an existing database file: SQLite, not empty, private, and it, its side files and
    its folder writable by us. Return False when there is none (it is to be created)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
            info = os.fstat(handle.fileno())
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        raise StateError(f"state database path {path} is a folder") from None
    except OSError as exc:
        raise StateError(f"cannot read state database {path}: {exc.strerror or exc}") from None
    if not header:
        # qbsync never leaves an empty file there (see _create): the file was emptied. Taking it
        # for a new state would start the export history over and send old invoices again.
        raise StateError(
            f"state database {path} is empty (0 bytes): it was truncated or replaced; qbsync "
            "will not start a new state over it (the export history would be lost)",
            hint=REBUILD_HINT.format(path=path),
        )
    if header != _SQLITE_HEADER:
        raise StateError(
            f"{path} is not a SQLite database (not a qbsync state file, or corrupted)",
            hint=REBUILD_HINT.format(path=path),
        )
    for suffix in _SIDE_SUFFIXES:
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            side_info = side.lstat()
            mode = stat.S_IMODE(side_info.st_mode)
            if (
                stat.S_ISREG(side_info.st_mode)
                and mode != 0o600
                and side_info.st_uid == os.geteuid()
            ):
                # Left loose, or read-only (0400) by an older qbsync run on a read-only database:
                # SQLite's own files, which it must open for writing. Ours: set them right.
                side.chmod(0o600)
                log.warning("%s had mode %o; changed it to 0600", side, mode)
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)
        log.warning("state database %s was readable by others; changed it to owner only", path)
    problem = _unwritable(path)
    if problem is not None:
        raise problem
    return True


def _unwritable(path: Path) -> StateError | None:
    """The database, a side file or the folder that this process cannot write, named (SQLite
    needs all of them writable, also to read a WAL database); None if all can be written."""
    candidates = [path, *(path.with_name(path.name + s) for s in _SIDE_SUFFIXES), path.parent]
    for item in candidates:
        try:
            info = item.lstat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return StateError(f"cannot read {item}: {exc.strerror or exc}")
        mode = stat.S_IMODE(info.st_mode)
        owner_rw = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if info.st_uid == os.geteuid() and (mode & owner_rw) == owner_rw:
            continue
        if info.st_uid != os.geteuid() and os.access(item, os.R_OK | os.W_OK):
            continue  # another owner, yet writable by us (group, root): SQLite can use it
        ours = info.st_uid == os.geteuid()
        if item == path.parent:
            what, fix = "the folder of the state database", f"make {item} writable by you"
        else:
            what = "the state database" if item == path else "the state database's side file"
            fix = f"chmod u+rw {item}" if ours else f"give {item} back to your user (chown)"
            fix += "; do not delete it (the state holds the export history)"
        whose = "yours" if ours else f"owned by uid {info.st_uid}"
        return StateError(
            f"{what} {item} cannot be written ({whose}, mode {mode:o}); qbsync must write it, "
            "also to read the state",
            hint=fix,
        )
    return None


def _corrupt(path: Path, detail: str) -> StateError:
    return StateError(
        f"state database {path} is damaged ({detail})",
        hint=REBUILD_HINT.format(path=path),
    )
