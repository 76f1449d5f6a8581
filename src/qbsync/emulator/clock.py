"""A clock with an offset, so tests can make tokens expire and limit windows pass without sleeping."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Real time plus an offset that only grows (``advance``).

    ``now()`` drives token and code expiry; ``monotonic()`` drives rate-limit windows. Both move
    together when the clock is advanced, so one ``advance(61)`` both ages tokens and empties the
    one-minute limit windows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    # A century: far beyond any token or grant lifetime (five years), and far inside what
    # datetime can hold, so now() never overflows (an offset of 1e308 s broke every request).
    MAX_OFFSET = 100 * 366 * 86_400.0

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            # Going back would let expired tokens come alive again, which never happens for real.
            raise ValueError("the emulator clock only moves forward, by a finite number of seconds")
        with self._lock:
            if self._offset + seconds > self.MAX_OFFSET:
                raise ValueError("the emulator clock can move at most 100 years ahead in all")
            self._offset += seconds

    def now(self) -> datetime:
        """Aware UTC datetime."""
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def timestamp(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


def qbo_time(now: datetime) -> str:
    """The ``time`` field of QBO JSON bodies: ISO 8601 with milliseconds and a UTC offset.

    QBO writes Pacific time (e.g. ``2020-07-14T06:48:49.366-07:00``); we keep UTC, which every
    ISO parser reads the same way.
    """
    return now.astimezone(UTC).isoformat(timespec="milliseconds")


def epoch_millis(now: datetime) -> int:
    """The ``time`` field of Intuit's lowercase auth fault bodies is epoch milliseconds."""
    return int(now.timestamp() * 1000)
