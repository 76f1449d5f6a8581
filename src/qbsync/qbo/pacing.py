"""Client-side pacing: stay under QBO's request limits instead of running into them.

Intuit's limits page (developer.intuit.com .../learn/limits-and-throttles; qbo-facts.md "Batch"
and "Limits"): 500 requests per minute per realm (batch requests included), 10 per second per realm
and app, and 40 batch requests per minute per realm *and app*. The 120 batch requests a minute on
the same page are the realm's total across all apps; qbsync is one app, so 40 is its share.
Past a limit QBO answers 429 ThrottleExceeded, and Intuit says to wait 60 s before trying again:
one burst over 10/s could cost a whole minute. So the gateway paces itself at or a little below
each limit with sliding windows (the strictest reading of a limit whose window kind Intuit does
not document), and the backoff in ``qbo.QboSession`` is only for throttles caused by another app
using the same company at the same time.

The window outlives the process (``window_file.WindowFile``): QBO counts the realm's requests, so
consecutive runs of one profile share it, and the second does not burst into the first one's
minute. Times are wall-clock (``time.time``) for that reason; a clock stepped backwards forgets
the window rather than waiting for it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from qbsync.qbo.window_file import Entry, WindowFile

QBO_BATCHES_PER_MINUTE = 40  # per realm and app (Intuit's limits page; qbo-facts.md "Batch")


@dataclass(frozen=True)
class PaceLimits:
    """Requests allowed per window; at or a little below QBO's published limits."""

    per_second: int = 8  # QBO: 10
    per_minute: int = 480  # QBO: 500, batch requests included
    # QBO: 40 per app. One below: a request is stamped before it leaves and QBO stamps it on
    # arrival, so an earlier request that arrived late can still be in QBO's minute when ours
    # lands. A 10,000-invoice export (334 batches) takes 9 windows at 39 as at 40.
    batches_per_minute: int = QBO_BATCHES_PER_MINUTE - 1
    # Divides every window, like the emulator's --time-scale, so tests and benchmarks run fast.
    time_scale: float = 1.0


class RatePacer:
    """Blocks just long enough before each request to keep every window under its limit.

    ``shared``: the profile's window file, read before and appended after each decision, so that
    every process of the profile paces against the same window. None: this process alone.
    """

    def __init__(
        self,
        limits: PaceLimits | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        shared: WindowFile | None = None,
    ) -> None:
        self.limits = limits or PaceLimits()
        self.shared = shared
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # send times of the last minute, oldest first
        self._batches: deque[float] = deque()
        self.waited = 0.0  # seconds spent waiting, for run summaries and benchmarks

    def wait(self, *, batch: bool = False) -> float:
        """Wait until a request (a batch request when ``batch``) may go; return the seconds waited."""
        waited = 0.0
        with self._lock:  # one thread at a time takes a place, in order
            while True:
                with self._exclusive():  # ... and one process at a time (microseconds)
                    now = self._clock()
                    self._merge_shared(now)
                    delay = self._delay(now, batch)
                    if delay <= 0:
                        self._record(now, batch)
                        break
                self._sleep(delay)  # without the file lock: other processes go on deciding
                waited += delay
            self.waited += waited
        return waited

    def _exclusive(self) -> contextlib.AbstractContextManager[None]:
        return self.shared.locked() if self.shared is not None else contextlib.nullcontext()

    def _delay(self, now: float, batch: bool) -> float:
        scale = self.limits.time_scale
        second, minute = 1.0 / scale, 60.0 / scale
        if self._sent and self._sent[-1] > now + second:
            # The wall clock was stepped back: the window's times are in the future. Waiting
            # for them could take hours; forgetting them risks one 429 at most.
            self._sent.clear()
            self._batches.clear()
        _expire(self._sent, now - minute)
        _expire(self._batches, now - minute)
        return max(
            _delay(self._sent, self.limits.per_minute, minute, now),
            _delay(self._sent, self.limits.per_second, second, now),
            _delay(self._batches, self.limits.batches_per_minute, minute, now) if batch else 0.0,
        )

    def _record(self, now: float, batch: bool) -> None:
        self._sent.append(now)
        if batch:
            self._batches.append(now)
        if self.shared is not None:
            self.shared.append(now, batch=batch)
            if self.shared.needs_compacting():
                self.shared.compact(self._entries())

    def _merge_shared(self, now: float) -> None:
        """Take in what other processes sent since we last looked (all of it on a first read)."""
        if self.shared is None:
            return
        entries, whole = self.shared.read_new()
        if not entries and not whole:
            return
        if whole:  # the file holds our own earlier sends too
            self._sent.clear()
            self._batches.clear()
        horizon = now - 60.0 / self.limits.time_scale
        merged = sorted([*self._entries(), *(e for e in entries if e[0] > horizon)])
        self._sent = deque(t for t, _ in merged)
        self._batches = deque(t for t, b in merged if b)

    def _entries(self) -> Iterator[Entry]:
        """The window as (time, batch) pairs, oldest first (batch times are a subsequence)."""
        batches = iter(self._batches)
        next_batch = next(batches, None)
        for when in self._sent:
            is_batch = next_batch is not None and next_batch == when
            if is_batch:
                next_batch = next(batches, None)
            yield when, is_batch


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()


def _delay(times: deque[float], limit: int, window: float, now: float) -> float:
    """How long until fewer than ``limit`` of ``times`` fall inside the window ending now."""
    if limit <= 0 or len(times) < limit:
        return 0.0
    # The request that must leave the window is the limit-th most recent one.
    oldest_that_counts = times[len(times) - limit]
    return max(0.0, oldest_that_counts + window - now)
