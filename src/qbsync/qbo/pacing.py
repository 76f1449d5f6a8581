"""Client-side pacing: stay under QBO's request limits instead of running into them.

QBO allows 500 requests per minute and 10 per second per realm and app, and 120 batch requests
per minute per realm (Intuit's limits page since 2025, 40 before; qbo-facts.md "Batch"). Past them it answers 429 ThrottleExceeded, and Intuit says to
wait 60 s before trying again: one burst over 10/s could cost a whole minute. So the gateway paces
itself a little below each limit with sliding windows (the strictest reading of a limit whose window
kind Intuit does not document), and the backoff in ``qbo.QboSession`` is only for throttles caused
by someone else using the same app and company at the same time.

The pacer is per process. qbsync runs one command at a time per profile (the run lock), so one
process is the only client of a realm in normal use.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PaceLimits:
    """Requests allowed per window; a margin below QBO's published limits."""

    per_second: int = 8  # QBO: 10
    per_minute: int = 450  # QBO: 500
    batches_per_minute: int = 115  # QBO: 120 since 2025 (40 before); a batch also counts above
    # Divides every window, like the emulator's --time-scale, so benchmarks run in seconds.
    time_scale: float = 1.0


class RatePacer:
    """Blocks just long enough before each request to keep every window under its limit."""

    def __init__(
        self,
        limits: PaceLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits or PaceLimits()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # send times of the last minute, oldest first
        self._batches: deque[float] = deque()
        self.waited = 0.0  # seconds spent waiting, for run summaries and benchmarks

    def wait(self, *, batch: bool = False) -> float:
        """Wait until a request (a batch request when ``batch``) may go; return the seconds waited."""
        scale = self.limits.time_scale
        second, minute = 1.0 / scale, 60.0 / scale
        waited = 0.0
        with self._lock:  # one thread at a time takes a place, in order
            while True:
                now = self._clock()
                while self._sent and now - self._sent[0] >= minute:
                    self._sent.popleft()
                while self._batches and now - self._batches[0] >= minute:
                    self._batches.popleft()
                delay = max(
                    _delay(self._sent, self.limits.per_minute, minute, now),
                    _delay(self._sent, self.limits.per_second, second, now),
                    _delay(self._batches, self.limits.batches_per_minute, minute, now)
                    if batch
                    else 0.0,
                )
                if delay <= 0:
                    break
                self._sleep(delay)
                waited += delay
            self._sent.append(now)
            if batch:
                self._batches.append(now)
            self.waited += waited
        return waited


def _delay(times: deque[float], limit: int, window: float, now: float) -> float:
    """How long until fewer than ``limit`` of ``times`` fall inside the window ending now."""
    if limit <= 0 or len(times) < limit:
        return 0.0
    # The request that must leave the window is the limit-th most recent one.
    oldest_that_counts = times[len(times) - limit]
    return max(0.0, oldest_that_counts + window - now)
