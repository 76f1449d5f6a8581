"""Inter-process file locks: one qbsync process at a time touches the tokens (and, later, a run).

``fcntl.flock`` locks belong to the open file description, so they work across processes and are
released by the kernel when the holder dies (a crashed cron run never leaves a stale lock behind,
unlike a pid file). The lock file itself stays on disk; its existence means nothing.

flock blocks or fails at once (``LOCK_NB``); there is no timed wait, so we poll with a short,
growing sleep until the deadline.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from qbsync.errors import LockedError
from qbsync.paths import ensure_private_dir

_FIRST_WAIT = 0.01
_MAX_WAIT = 0.2


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    timeout: float,
    what: str = "this lock",
    hint: str | None = None,
) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` for the ``with`` block.

    Waits up to ``timeout`` seconds (0 = try once), then raises ``LockedError`` naming ``what``
    and the lock file. The file is created 0600 in a 0700 folder.
    """
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        _acquire(fd, path, timeout=timeout, what=what, hint=hint)
        _write_holder(fd)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, *, timeout: float, what: str, hint: str | None) -> None:
    deadline = time.monotonic() + max(timeout, 0.0)
    wait = _FIRST_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            holder = read_holder(path)
            who = "another qbsync process" if holder is None else f"qbsync process {holder}"
            waited = f"; gave up after {timeout:g} s" if timeout > 0 else ""
            raise LockedError(f"{who} holds {what} ({path}){waited}", hint=hint)
        time.sleep(min(wait, remaining))
        wait = min(wait * 2, _MAX_WAIT)


def _write_holder(fd: int) -> None:
    """Record who holds the lock (pid and start time) in the lock file, for the next one's
    message. Only a note: the flock is the lock, and the kernel drops it when the holder dies."""
    note = f"{os.getpid()} {datetime.now(UTC).replace(microsecond=0).isoformat()}\n"
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode("ascii"), 0)


def read_holder(path: Path) -> str | None:
    """``pid 123 (since 2026-12-01T10:00:00+00:00)`` from a held lock's note, if it has one."""
    try:
        text = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(text) != 2 or not text[0].isdigit():
        return None
    return f"pid {text[0]} (running since {text[1]})"


def run_lock(data_dir: Path, *, timeout: float = 0.0) -> contextlib.AbstractContextManager[None]:
    """The lock a syncing command holds for its whole run (``data_dir/run.lock``).

    Default timeout 0: a cron run that finds another one still going exits 4 at once rather than
    queueing behind it.
    """
    return file_lock(
        data_dir / "run.lock",
        timeout=timeout,
        what="the run lock",
        hint="wait for that run to finish (one run at a time per profile); a lock left by a "
        "killed process is released by the system, so no file needs deleting",
    )
