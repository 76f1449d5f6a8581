"""state.py: file modes, migrations, corrupt/newer databases, realm binding, runs, transactions."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from qbsync.errors import StateError
from qbsync.state import db as state_module
from qbsync.state.db import State
from qbsync.state.migrations import MIGRATIONS, SCHEMA_VERSION, split_sql

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "state.sqlite3"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_database_is_private_wal_and_migrated(db: Path) -> None:
    with State.open(db) as state:
        state.set_meta("k", "v")  # a write creates the -wal file
        assert state.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert _mode(db) == 0o600
        assert _mode(db.parent) == 0o700
        for suffix in ("-wal", "-shm"):
            side = db.with_name(db.name + suffix)
            assert side.exists() and _mode(side) == 0o600
        conn = state._conn  # the test looks inside; nothing outside state/ may
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        assert not hasattr(state, "connection")
    raw = sqlite3.connect(db)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "runs"} <= tables
    assert raw.execute("SELECT value FROM meta WHERE key='k'").fetchone() == ("v",)
    raw.close()


def test_v0_database_is_migrated_and_reopening_is_a_no_op(db: Path) -> None:
    db.parent.mkdir(parents=True)
    raw = sqlite3.connect(db)  # an empty SQLite file at version 0 (e.g. created by hand)
    raw.execute("PRAGMA user_version = 0")
    raw.close()
    with State.open(db) as state:
        assert state.schema_version == SCHEMA_VERSION
        state.set_meta("x", "1")
    with State.open(db) as state:
        assert state.get_meta("x") == "1"
        assert state.schema_version == SCHEMA_VERSION


def test_later_migrations_are_applied_in_order(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    State.open(db).close()
    extra = "CREATE TABLE extra (member_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL);"
    monkeypatch.setattr(state_module, "MIGRATIONS", [*state_module.MIGRATIONS, extra])
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with State.open(db) as state:
        assert state.schema_version == SCHEMA_VERSION + 1
    raw = sqlite3.connect(db)
    raw.execute("INSERT INTO extra VALUES ('m1', 'c1')")
    raw.close()


def test_failed_migration_rolls_back(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    State.open(db).close()
    broken = "CREATE TABLE t2 (a TEXT); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(state_module, "MIGRATIONS", [*state_module.MIGRATIONS, broken])
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StateError):
        State.open(db)
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("SELECT count(*) FROM sqlite_master WHERE name='t2'").fetchone()[0] == 0
    raw.close()


def test_newer_database_is_refused(db: Path) -> None:
    State.open(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StateError) as info:
        State.open(db)
    assert str(db) in info.value.message
    assert "upgrade qbsync" in (info.value.hint or "")


@pytest.mark.parametrize("content", [b"this is not a database at all, just text" * 5, b"x"])
def test_non_sqlite_file_is_refused_and_left_alone(db: Path, content: bytes) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(content)
    with pytest.raises(StateError) as info:
        State.open(db)
    assert str(db) in info.value.message
    assert db.read_bytes() == content


def test_corrupt_sqlite_file_is_refused(db: Path) -> None:
    State.open(db).close()
    data = bytearray(db.read_bytes())
    data[16:100] = b"\xff" * 84  # keep the magic header, wreck the rest of page 1's header
    db.write_bytes(bytes(data))
    with pytest.raises(StateError) as info:
        State.open(db)
    assert str(db) in info.value.message


def test_loose_existing_database_is_tightened(db: Path) -> None:
    State.open(db).close()
    db.chmod(0o644)
    State.open(db).close()
    assert _mode(db) == 0o600


def test_split_sql_handles_triggers_and_strings() -> None:
    script = """
    CREATE TABLE a (x TEXT DEFAULT ';');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'y;z'; END;
    ;
    """
    parts = split_sql(script)
    assert len(parts) == 2
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")


# -- realm binding -----------------------------------------------------------------------------


def test_bind_realm_first_same_other(db: Path) -> None:
    with State.open(db) as state:
        assert state.realm_id is None and state.enabled_at is None
        enabled = state.bind_realm("9130", now=NOW, company_name="Sandbox Co")
        assert enabled == NOW
        later = NOW + timedelta(days=3)
        assert state.bind_realm("9130", now=later, company_name="Renamed Co") == NOW
        assert state.company_name == "Renamed Co"
        with pytest.raises(StateError) as info:
            state.bind_realm("4620", now=later, company_name="Other")
        message = info.value.message
        assert "9130" in message and "Renamed Co" in message and "wrong books" in message
        assert "qbsync auth --fresh-state" in (info.value.hint or "")
        assert state.realm_id == "9130"  # unchanged
    raw = sqlite3.connect(db)
    rows = dict(raw.execute("SELECT key, value FROM meta").fetchall())
    raw.close()
    assert rows == {
        "realm_id": "9130",
        "enabled_at": "2026-03-01T12:00:00+00:00",
        "company_name": "Renamed Co",
    }


def test_bind_realm_stores_utc_and_refuses_naive(db: Path) -> None:
    with State.open(db) as state:
        with pytest.raises(ValueError):
            state.bind_realm("1", now=datetime(2026, 1, 1), company_name=None)
        assert state.realm_id is None  # the failed attempt left nothing behind
        local = NOW.astimezone(timezone(timedelta(hours=-5)))
        state.bind_realm("1", now=local, company_name=None)
        assert state.get_meta("enabled_at") == "2026-03-01T12:00:00+00:00"
        assert state.company_name is None


def test_reset_for_new_realm_keeps_file_and_schema(db: Path) -> None:
    with State.open(db) as state:
        state.bind_realm("9130", now=NOW, company_name="A")
        state.runs.start("export", now=NOW)
        state.reset_for_new_realm()
        assert state.realm_id is None and state.runs.last() == []
        assert state.bind_realm("4620", now=NOW + timedelta(days=1), company_name="B") == (
            NOW + timedelta(days=1)
        )
    assert _mode(db) == 0o600
    with State.open(db) as state:
        assert state.realm_id == "4620" and state.schema_version == SCHEMA_VERSION


# -- runs and transactions ---------------------------------------------------------------------


def test_runs_record_and_list_newest_first(db: Path) -> None:
    with State.open(db) as state:
        first = state.runs.start("connect-members", now=NOW)
        state.runs.finish(first, "ok", {"created": 3}, now=NOW + timedelta(seconds=5))
        second = state.runs.start("export", now=NOW + timedelta(minutes=1))
        runs = state.runs.last(5)
        assert [r.id for r in runs] == [second, first]
        assert runs[0].outcome == "running" and runs[0].finished_at is None
        assert runs[1].summary == {"created": 3}
        assert runs[1].finished_at == NOW + timedelta(seconds=5)
        assert len(state.runs.last(1)) == 1
        with pytest.raises(StateError):
            state.runs.finish(999, "ok", {})


def test_transaction_rolls_back_and_nests(db: Path) -> None:
    with State.open(db) as state:
        with pytest.raises(RuntimeError), state.transaction():
            state.set_meta("a", "1")
            raise RuntimeError("boom")
        assert state.get_meta("a") is None
        with state.transaction():
            state.set_meta("b", "1")
            with pytest.raises(RuntimeError), state.transaction():
                state.set_meta("c", "1")
                raise RuntimeError("inner")
        assert state.get_meta("b") == "1" and state.get_meta("c") is None


def test_two_connections_see_each_others_commits(db: Path) -> None:
    one, two = State.open(db), State.open(db)
    try:
        with one.transaction():
            one.set_meta("k", "from-one")
        assert two.get_meta("k") == "from-one"
    finally:
        one.close()
        two.close()


WRITER = """
import sys
from pathlib import Path
from qbsync.state.db import State
with State.open(Path(sys.argv[1])) as state:
    for i in range(25):
        run = state.runs.start(sys.argv[2])
        state.runs.finish(run, "ok", {"i": i})
"""


def test_concurrent_processes_create_migrate_and_write(db: Path) -> None:
    # Several cron jobs / terminals opening a brand-new state at the same moment: one creates and
    # migrates it, the others wait on the lock; nobody fails and no write is lost.
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"cmd{n}"], stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    with State.open(db) as state:
        runs = state.runs.last(1000)
        assert len(runs) == 100
        assert all(r.outcome == "ok" for r in runs)
        assert state.schema_version == SCHEMA_VERSION
    assert _mode(db) == 0o600


# -- files the state must refuse, or set right, before SQLite touches them ----------------------


def _sides(db: Path) -> list[Path]:
    return [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]


def _scramble_pages_after_the_first(db: Path) -> None:
    data = bytearray(db.read_bytes())
    noise = random.Random(7)
    for index in range(4096, len(data)):
        data[index] = noise.randrange(256)
    db.write_bytes(bytes(data))


def test_an_empty_state_file_is_refused_not_taken_for_a_new_state(db: Path) -> None:
    # The issue: a 0-byte state.sqlite3 was migrated into a fresh, empty state: the export
    # history gone, old invoices eligible again.
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    with pytest.raises(StateError) as info:
        State.open(db)
    assert str(db) in info.value.message and "empty" in info.value.message
    assert info.value.exit_code == 2
    assert "aside" not in (info.value.hint or "") and "backup" in (info.value.hint or "")
    assert db.read_bytes() == b""  # left as it was: no schema written into it
    assert not any(side.exists() for side in _sides(db))


def test_a_new_state_is_built_aside_and_linked_in_whole(db: Path) -> None:
    with State.open(db) as state:
        assert state.schema_version == SCHEMA_VERSION
    assert sorted(p.name for p in db.parent.iterdir()) == ["state.sqlite3"]  # no temp left
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    assert _mode(db) == 0o600


def test_scrambled_pages_are_a_state_error_at_open(db: Path) -> None:
    with State.open(db) as state:
        state.bind_realm("9130", now=NOW, company_name="Acme")
        for n in range(200):
            state.runs.finish(state.runs.start(f"cmd{n}", now=NOW), "ok", {"n": n})
    _scramble_pages_after_the_first(db)
    with pytest.raises(StateError) as info:
        State.open(db)
    assert str(db) in info.value.message and "damaged" in info.value.message
    assert "state rebuild" in (info.value.hint or "") and "aside" not in (info.value.hint or "")


def test_damage_met_by_a_query_inside_the_block_is_a_state_error(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with State.open(db) as state:
        for n in range(200):
            state.runs.finish(state.runs.start(f"cmd{n}", now=NOW), "ok", {"n": n})
    _scramble_pages_after_the_first(db)
    monkeypatch.setattr(State, "_check_pages", lambda self: None, raising=False)  # found later
    with pytest.raises(StateError) as info, State.open(db) as state:
        state.runs.last(1000)
    assert "damaged" in info.value.message and info.value.exit_code == 2


def test_a_read_only_state_is_refused_and_leaves_no_side_files(db: Path) -> None:
    # The issue: a 0400 state.sqlite3 made SQLite create 0400 -wal/-shm files (it copies the
    # database's mode) that broke every later run with "attempt to write a readonly database".
    State.open(db).close()
    db.chmod(0o400)
    with pytest.raises(StateError) as info:
        State.open(db)
    assert str(db) in info.value.message and "400" in info.value.message
    assert f"chmod u+rw {db}" in (info.value.hint or "")
    assert not any(side.exists() for side in _sides(db))
    db.chmod(0o600)
    with State.open(db) as state:
        state.set_meta("after", "1")


def test_side_files_left_read_only_are_set_back_to_0600(db: Path) -> None:
    with State.open(db) as state:
        state.set_meta("x", "1")
    db.chmod(0o400)
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # what a read-only run left behind
    assert reader.execute("SELECT value FROM meta WHERE key = 'x'").fetchone() == ("1",)
    reader.close()
    assert [_mode(side) for side in _sides(db)] == [0o400, 0o400]
    db.chmod(0o600)
    with State.open(db) as state:
        assert [_mode(side) for side in _sides(db)] == [0o600, 0o600]
        state.set_meta("x", "2")
    with State.open(db) as state:
        assert state.get_meta("x") == "2"


AS_NOBODY = """
import sys
from pathlib import Path
from qbsync.errors import StateError
from qbsync.state.db import State
try:
    State.open(Path(sys.argv[1])).close()
except StateError as exc:
    print(exc.message)
    print(exc.hint)
    sys.exit(2)
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root (and util-linux setpriv) to act as two users",
)
def test_a_side_file_of_another_user_is_named(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="qbsync-state-"))  # reachable by another user
    try:
        db = folder / "state.sqlite3"
        with State.open(db) as state:
            state.set_meta("x", "1")
            shm = db.with_name(db.name + "-shm")
            kept = shm.read_bytes()
        shm.write_bytes(kept)  # left by a run as root (say, sudo): root's, 0600
        shm.chmod(0o600)
        for item in (folder, db):
            os.chown(item, 65534, 65534)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        result = subprocess.run(
            [*as_nobody, sys.executable, "-c", AS_NOBODY, str(db)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"side file {shm}" in result.stdout and "owned by uid 0" in result.stdout
    finally:
        shutil.rmtree(folder)
