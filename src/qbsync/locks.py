"""Inter-process file locks: one qbsync process at a time touches the tokens (and, later, a run).

``fcntl.flock`` locks belong to the open file description, so they work across processes and are
released by the kernel when the holder dies (a crashed cron run never leaves a stale lock behind,
unlike a pid file). The lock file itself stays on disk; its existence means nothing.

flock blocks or fails at once (``LOCK_NB``); there is no timed wait, so we poll with a short,
growing sleep until the deadline.

A lock file deleted (``rm run.lock``) while its lock is held must not let a second holder in. Two
things guard against it: after each flock the file we locked must still be the file at that path
(same device and inode), else we locked a deleted file and start over on the new one; and the run
lock is two files, the hidden ``.run.lock`` first, so a run started after an ``rm run.lock``
still finds the lock held (and the holder's note with it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from qbsync.errors import LockedError, UsageError
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
    deadline = time.monotonic() + max(timeout, 0.0)
    fd = _acquire(path, deadline, what=what, hint=hint, timeout=timeout)
    try:
        _write_holder(fd)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    """An fd to lock: the lock file, created 0600, never through a symlink."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except IsADirectoryError:
        raise _folder_in_the_way(path) from None
    except OSError as exc:
        raise UsageError(
            f"cannot open lock file {path}: {exc.strerror or exc}",
            hint=f"check the permissions of {path.parent} and that {path} is a plain file "
            "owned by you",
        ) from None


def _folder_in_the_way(path: Path) -> UsageError:
    return UsageError(
        f"lock file {path} is a folder, not a file",
        hint=f"remove the folder {path} if it holds nothing of yours (qbsync creates the lock "
        "file itself)",
    )


def _is_at(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not deleted or replaced since)."""
    try:
        now = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def _acquire(
    path: Path,
    deadline: float,
    *,
    what: str,
    hint: str | None,
    timeout: float,
) -> int:
    """Open ``path`` and flock it (waiting until ``deadline``); return the locked fd."""
    wait = _FIRST_WAIT
    fd = _open(path)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                if _is_at(fd, path):
                    return fd
                # We locked a file deleted (or replaced) since we opened it: whoever opened the
                # new one may hold it. Let go and try again on what the path is now.
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                fd = -1
                fd = _open(path)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = read_holder(path)
                who = "another qbsync process" if holder is None else f"qbsync process {holder}"
                waited = f"; gave up after {timeout:g} s" if timeout > 0 else ""
                raise LockedError(f"{who} holds {what} ({path}){waited}", hint=hint)
            time.sleep(min(wait, remaining))
            wait = min(wait * 2, _MAX_WAIT)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


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


_RUN_LOCK_HINT = (
    "wait for that run to finish (one run at a time per profile); a lock left by a killed "
    "process is released by the system, so no file needs deleting"
)


@contextlib.contextmanager
def run_lock(data_dir: Path, *, timeout: float = 0.0) -> Iterator[None]:
    """The lock a syncing command holds for its whole run: ``data_dir/.run.lock``, then
    ``data_dir/run.lock``.

    The hidden one is what survives an ``rm run.lock`` during a run (the issue: a second run got
    in and both exported); the visible one is what qbsync versions before it took, so a run of
    either kind excludes the other. (The data folder itself cannot be the lock: the file token
    store flocks it around each write, under the run lock.)
    Default timeout 0: a cron run that finds another one still going exits 4 at once rather than
    queueing behind it.
    """
    ensure_private_dir(data_dir)
    deadline = time.monotonic() + max(timeout, 0.0)
    for path in (data_dir / "run.lock", data_dir / ".run.lock"):
        if path.is_dir():  # refused before anything is taken
            raise _folder_in_the_way(path)
    with file_lock(
        data_dir / ".run.lock", timeout=timeout, what="the run lock", hint=_RUN_LOCK_HINT
    ):
        remaining = max(deadline - time.monotonic(), 0.0)
        with file_lock(
            data_dir / "run.lock", timeout=remaining, what="the run lock", hint=_RUN_LOCK_HINT
        ):
            yield
