"""The pacer's window on disk: the send times every qbsync process of one profile shares.

QBO counts a realm's requests, not a process's. Consecutive runs of one profile (cron lines a
minute apart, the demo's commands, a user typing) each started with an empty window, so the second
run burst into the first one's minute and met a 429 (then Intuit's 60 s wait). Now each request's
send time is appended to ``<data dir>/pacer-<realm>.log`` and every pacer reads what the others
appended before it decides to send.

- One line per request, ``<time.time()> r`` or ``<time.time()> b`` (b: a batch request). Wall-clock
  times: monotonic clocks of different processes cannot be compared.
- Every read and append happens under an flock on ``<file>.lock`` (held for microseconds, never
  while sleeping or sending). A file replaced by a compaction is noticed by its inode.
- Appends are cheap (one ``write`` with O_APPEND; only the new lines are read). Past
  ``COMPACT_BYTES`` the file is rewritten with the last minute's lines (``files.atomic_write``).
- Missing, unreadable or corrupt lines count as no requests: pacing must never fail a run, and the
  worst outcome is a 429 the session's backoff already handles. The file holds no secret; it is
  0600 anyway, like everything in the data folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from qbsync.files import atomic_write
from qbsync.paths import ensure_private_dir

log = logging.getLogger(__name__)

COMPACT_BYTES = 64 * 1024  # ~3,000 lines: a compaction every few minutes at QBO's 500/min
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")

Entry = tuple[float, bool]  # (send time, batch request)


def window_path(data_dir: Path, realm_id: str) -> Path:
    """The shared window of one realm in a profile's data folder (QBO's limits are per realm)."""
    return Path(data_dir) / f"pacer-{_SAFE_NAME.sub('_', realm_id) or 'realm'}.log"


class WindowFile:
    """Send times appended by every process of a profile; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._inode: int | None = None  # the file we have read, and how far
        self._offset = 0
        self._broken = False  # an OSError: pace in memory only from then on (warned once)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the flock for a read-decide-append step (no-op once the file proved unusable)."""
        if self._broken:
            yield
            return
        try:
            ensure_private_dir(self.path.parent)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self._give_up(exc)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def read_new(self) -> tuple[list[Entry], bool]:
        """Lines appended since the last call, and True when they are the whole file (first
        read, or another process compacted it): the caller's window is then replaced."""
        if self._broken:
            return [], False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._inode, self._offset = None, 0
            return [], False
        except OSError as exc:
            self._give_up(exc)
            return [], False
        whole = st.st_ino != self._inode or st.st_size < self._offset
        start = 0 if whole else self._offset
        if not whole and st.st_size == start:
            return [], False
        try:
            with open(self.path, "rb") as handle:
                handle.seek(start)
                data = handle.read()
                self._inode = os.fstat(handle.fileno()).st_ino
        except OSError as exc:
            self._give_up(exc)
            return [], False
        # Only whole lines: a writer killed mid-line leaves a fragment that the next read skips.
        end = data.rfind(b"\n") + 1
        self._offset = start + end
        return parse(data[:end]), whole

    def append(self, when: float, *, batch: bool) -> None:
        if self._broken:
            return
        line = f"{when:.6f} {'b' if batch else 'r'}\n".encode("ascii")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                st = os.fstat(fd)
                if st.st_ino != self._inode:  # created just now (under the flock: by us)
                    self._inode, self._offset = st.st_ino, st.st_size
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            self._give_up(exc)
            return
        self._offset += len(line)

    def needs_compacting(self) -> bool:
        return not self._broken and self._offset > COMPACT_BYTES

    def compact(self, entries: Iterable[Entry]) -> None:
        """Replace the file with ``entries`` (the last minute's requests, oldest first)."""
        data = b"".join(f"{t:.6f} {'b' if b else 'r'}\n".encode("ascii") for t, b in entries)
        try:
            atomic_write(self.path, data, mode=0o600)
            self._inode, self._offset = os.stat(self.path).st_ino, len(data)
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        self._broken = True
        log.warning(
            "cannot use %s to share the request pace with other qbsync runs (%s); pacing this "
            "run on its own",
            self.path,
            exc.strerror or exc,
        )


def parse(data: bytes) -> list[Entry]:
    """``(time, batch)`` of each well-formed line; anything else is skipped."""
    out: list[Entry] = []
    for raw in data.split(b"\n"):
        parts = raw.split()
        if len(parts) != 2 or parts[1] not in (b"r", b"b"):
            continue
        try:
            when = float(parts[0])
        except ValueError:
            continue
        if math.isfinite(when):
            out.append((when, parts[1] == b"b"))
    return out
