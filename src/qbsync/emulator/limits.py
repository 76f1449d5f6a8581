"""QBO's per-realm request limits (qbo-facts.md "Limits"), with windows scaled by ``time_scale``.

Limits: 500 requests per minute per realm, 10 per second per realm and app, 10 concurrent
requests, 40 batch requests per minute per realm and app (Intuit's limits page; qbo-facts.md
"Batch"). The page's 120 batch requests a minute are the realm's total over all apps; the emulator
serves one app's traffic, so it enforces the app's 40 (``batch_per_minute`` changes it). Intuit documents the numbers, not the window kind; the
emulator uses *sliding* windows (a log of the accepted requests' times): it never lets the burst at
a fixed-window boundary through (20 requests in 0.1 s across a second boundary), so a client that
passes the emulator also passes a fixed-window server. Refused requests are not counted.

``time_scale=X`` divides every window by X: with X=60 a "minute" lasts one second, so tests and
benchmarks meet the per-minute limits quickly. Times come from the emulator ``Clock`` so that
``clock.advance()`` also empties the windows.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    name: str
    max_requests: int
    window: float  # seconds, before time scaling


PER_MINUTE = Limit("per_minute", 500, 60.0)
PER_SECOND = Limit("per_second", 10, 1.0)
BATCH_PER_MINUTE = Limit("batch_per_minute", 40, 60.0)  # per realm and app
MAX_CONCURRENT = 10


@dataclass
class _RealmState:
    requests: deque[float] = field(default_factory=deque)  # accepted request times, oldest first
    batches: deque[float] = field(default_factory=deque)
    in_flight: int = 0


class Slot:
    """A granted request; ``release()`` (or leaving the ``with`` block) frees its concurrency slot."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release()

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RateLimiter:
    def __init__(
        self,
        monotonic: Callable[[], float],
        *,
        enabled: bool = True,
        time_scale: float = 1.0,
        batch_per_minute: int = BATCH_PER_MINUTE.max_requests,
    ) -> None:
        # NaN would make every window comparison false (throttled for good); infinity would
        # shrink every window to nothing (no limits at all, while claiming to have them).
        if not math.isfinite(time_scale) or time_scale <= 0:
            raise ValueError("time_scale must be a positive, finite number")
        if isinstance(batch_per_minute, bool) or not isinstance(batch_per_minute, int):
            raise ValueError("batch_per_minute must be a whole number")
        if batch_per_minute < 1:
            raise ValueError("batch_per_minute must be at least 1")
        self.enabled = enabled
        self.batch_limit = Limit(BATCH_PER_MINUTE.name, batch_per_minute, BATCH_PER_MINUTE.window)
        self.time_scale = time_scale
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._realms: dict[str, _RealmState] = {}

    def _window(self, limit: Limit) -> float:
        return limit.window / self.time_scale

    def acquire(self, realm_id: str, *, batch: bool = False) -> Slot | str:
        """A ``Slot`` when the request may go on, else the name of the limit it hit."""
        if not self.enabled:
            return Slot(lambda: None)
        with self._lock:
            state = self._realms.setdefault(realm_id, _RealmState())
            now = self._monotonic()
            _expire(state.requests, now - self._window(PER_MINUTE))
            _expire(state.batches, now - self._window(self.batch_limit))
            if state.in_flight >= MAX_CONCURRENT:
                return "concurrent"
            if (
                _count_since(state.requests, now - self._window(PER_SECOND))
                >= PER_SECOND.max_requests
            ):
                return PER_SECOND.name
            if len(state.requests) >= PER_MINUTE.max_requests:
                return PER_MINUTE.name
            if batch and len(state.batches) >= self.batch_limit.max_requests:
                return self.batch_limit.name
            state.requests.append(now)
            if batch:
                state.batches.append(now)
            state.in_flight += 1
        return Slot(lambda: self._release(realm_id))

    def _release(self, realm_id: str) -> None:
        with self._lock:
            state = self._realms.get(realm_id)
            if state is not None and state.in_flight > 0:
                state.in_flight -= 1

    def reset(self) -> None:
        """Forget the windows (requests in flight keep their slots until they finish)."""
        with self._lock:
            for state in self._realms.values():
                state.requests.clear()
                state.batches.clear()


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()


def _count_since(times: deque[float], since: float) -> int:
    # Walk from the newest end: at most 11 steps, since the per-second limit is 10.
    count = 0
    for stamp in reversed(times):
        if stamp <= since:
            break
        count += 1
    return count
