"""locks.py: flock-based locks that hold across processes and time out with LockedError."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qbsync.errors import ExitCode, LockedError, UsageError
from qbsync.locks import file_lock, run_lock

# Holds the lock, says so through a file, keeps it until `ready.release` exists or HOLD seconds pass.
HOLDER = """
import sys, time
from pathlib import Path
from qbsync.locks import file_lock
lock, ready, hold = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
with file_lock(lock, timeout=5):
    ready.write_text("held")
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline and not ready.with_suffix(".release").exists():
        time.sleep(0.01)
"""


def _start_holder(lock: Path, ready: Path, hold: float) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(ready), str(hold)])
    deadline = time.monotonic() + 10
    while not ready.exists():
        assert proc.poll() is None, "holder exited early"
        assert time.monotonic() < deadline, "holder never took the lock"
        time.sleep(0.01)
    return proc


def test_lock_file_is_private(tmp_path: Path) -> None:
    lock = tmp_path / "data" / "x.lock"
    with file_lock(lock, timeout=0):
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700


def test_other_process_holding_lock_times_out(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = _start_holder(lock, tmp_path / "ready", hold=10)
    try:
        started = time.monotonic()
        with pytest.raises(LockedError) as info, file_lock(lock, timeout=0.2, what="the test lock"):
            pass
        waited = time.monotonic() - started
        assert 0.15 <= waited < 0.9
        assert "the test lock" in info.value.message and str(lock) in info.value.message
        assert info.value.exit_code == ExitCode.LOCKED
    finally:
        (tmp_path / "ready.release").write_text("go")
        holder.kill()
        holder.wait()


def test_waits_until_other_process_releases(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = _start_holder(lock, tmp_path / "ready", hold=0.2)
    try:
        with file_lock(lock, timeout=10):
            # we only get here after the holder released the lock, i.e. after it exited its block
            assert holder.wait(timeout=5) == 0
    finally:
        holder.kill()


def test_lock_released_when_holder_dies(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = _start_holder(lock, tmp_path / "ready", hold=30)
    holder.kill()  # a crashed cron run must not leave a stale lock behind
    holder.wait()
    with file_lock(lock, timeout=1):
        pass


def test_lock_is_reusable_and_released_on_error(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with pytest.raises(RuntimeError), file_lock(lock, timeout=0):
        raise RuntimeError("boom")
    with file_lock(lock, timeout=0):
        pass


def test_run_lock_fails_fast_by_default(tmp_path: Path) -> None:
    holder = _start_holder(tmp_path / "run.lock", tmp_path / "ready", hold=10)
    try:
        started = time.monotonic()
        with pytest.raises(LockedError), run_lock(tmp_path):
            pass
        assert time.monotonic() - started < 0.5
    finally:
        (tmp_path / "ready.release").write_text("go")
        holder.kill()
        holder.wait()


def test_a_held_run_lock_names_the_holders_pid_and_start(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    holder = _start_holder(tmp_path / "run.lock", ready, hold=30)
    try:
        with pytest.raises(LockedError) as info, run_lock(tmp_path):
            pass
        assert f"pid {holder.pid}" in info.value.message
        assert "running since 20" in info.value.message
        assert info.value.exit_code == ExitCode.LOCKED
    finally:
        ready.with_suffix(".release").write_text("")
        holder.wait(10)
    with run_lock(tmp_path):  # released by the holder: taken at once, and the note is ours now
        assert (tmp_path / "run.lock").read_text().split()[0] == str(os.getpid())


# Holds the RUN lock (folder and file) like a syncing command, until released.
RUN_HOLDER = """
import sys, time
from pathlib import Path
from qbsync.locks import run_lock
data, ready = Path(sys.argv[1]), Path(sys.argv[2])
with run_lock(data):
    ready.write_text("held")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ready.with_suffix(".release").exists():
        time.sleep(0.01)
"""


def test_run_lock_deleted_while_held_does_not_let_a_second_run_in(tmp_path: Path) -> None:
    # The issue: `rm run.lock` during a run, then a second run took a new run.lock and both
    # exported. The second run must still find the lock held.
    data, ready = tmp_path / "data", tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", RUN_HOLDER, str(data), str(ready)])
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        (data / "run.lock").unlink()
        granted = False
        with pytest.raises(LockedError) as info, run_lock(data):
            granted = True
        assert not granted
        assert info.value.exit_code == ExitCode.LOCKED
        assert f"pid {holder.pid}" in info.value.message  # the hidden lock file keeps the note
    finally:
        ready.with_suffix(".release").write_text("")
        holder.wait(10)
    with run_lock(data):  # released: the next run gets it, and the note is back
        assert (data / "run.lock").read_text().split()[0] == str(os.getpid())


def test_a_lock_taken_on_a_deleted_file_is_let_go_and_taken_on_the_new_one(tmp_path: Path) -> None:
    # The race the inode check closes: we open run.lock and wait; meanwhile it is deleted and
    # another process takes a new run.lock. When the first holder lets go, the file we wait on
    # is no longer the lock anyone else sees: our lock must wait for the new holder instead.
    lock = tmp_path / "x.lock"
    first = _start_holder(lock, tmp_path / "ready1", hold=30)
    got: list[float] = []

    def take() -> None:
        with contextlib.suppress(LockedError), file_lock(lock, timeout=3):
            got.append(time.monotonic())

    waiter = threading.Thread(target=take)
    try:
        waiter.start()
        time.sleep(0.3)  # the waiter has opened the first file and polls it
        lock.unlink()
        second = _start_holder(lock, tmp_path / "ready2", hold=30)  # a new file, locked
        try:
            (tmp_path / "ready1.release").write_text("")
            first.wait(10)
            time.sleep(1.0)  # the waiter now gets the flock on the deleted file
            assert got == [], "granted while another process holds the lock file at the path"
            released = time.monotonic()
            (tmp_path / "ready2.release").write_text("")
            second.wait(10)
            waiter.join(10)
            assert len(got) == 1 and got[0] >= released  # taken once the new holder let go
        finally:
            (tmp_path / "ready2.release").write_text("")
            second.kill()
            second.wait()
    finally:
        (tmp_path / "ready1.release").write_text("")
        first.kill()
        first.wait()
        waiter.join(10)


def test_a_folder_where_run_lock_should_be_is_a_clear_usage_error(tmp_path: Path) -> None:
    (tmp_path / "run.lock").mkdir()
    with pytest.raises(UsageError) as info, run_lock(tmp_path):
        pass
    assert "is a folder" in info.value.message and str(tmp_path / "run.lock") in info.value.message
    assert info.value.exit_code == ExitCode.USAGE
