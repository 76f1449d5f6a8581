"""The pacer keeps every sliding window under its limit, waiting no longer than needed."""

from __future__ import annotations

from qbsync.qbo.pacing import PaceLimits, RatePacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _sent_times(pacer: RatePacer, t: FakeTime, n: int, *, batch: bool = False) -> list[float]:
    times = []
    for _ in range(n):
        pacer.wait(batch=batch)
        times.append(t.now)
    return times


def _max_in_window(times: list[float], window: float) -> int:
    return max(sum(1 for u in times if s <= u < s + window) for s in times)


def test_per_second_limit_is_never_exceeded() -> None:
    t = FakeTime()
    pacer = RatePacer(PaceLimits(per_second=8, per_minute=10_000), clock=t.clock, sleep=t.sleep)
    times = _sent_times(pacer, t, 50)
    assert _max_in_window(times, 1.0) == 8
    # 50 requests at 8/s: the first 8 at once, then one window per 8: just over 6 s.
    assert 6.0 <= times[-1] - times[0] < 6.3
    assert abs(pacer.waited - (times[-1] - times[0])) < 1e-9


def test_per_minute_limit_is_never_exceeded() -> None:
    t = FakeTime()
    pacer = RatePacer(PaceLimits(per_second=1000, per_minute=450), clock=t.clock, sleep=t.sleep)
    times = _sent_times(pacer, t, 900)
    assert _max_in_window(times, 60.0) == 450
    assert 60.0 <= times[-1] - times[0] < 61.0


def test_batches_have_their_own_limit_and_count_as_requests() -> None:
    t = FakeTime()
    limits = PaceLimits(per_second=1000, per_minute=1000, batches_per_minute=36)
    pacer = RatePacer(limits, clock=t.clock, sleep=t.sleep)
    batch_times = _sent_times(pacer, t, 40, batch=True)
    assert _max_in_window(batch_times, 60.0) == 36
    before = t.now
    pacer.wait()  # a plain request is not held back by the batch limit
    assert t.now == before


def test_no_wait_under_the_limits() -> None:
    t = FakeTime()
    pacer = RatePacer(clock=t.clock, sleep=t.sleep)
    for _ in range(8):
        assert pacer.wait() == 0.0
    assert t.slept == []


def test_time_scale_shrinks_the_windows() -> None:
    t = FakeTime()
    pacer = RatePacer(PaceLimits(per_second=8, time_scale=60), clock=t.clock, sleep=t.sleep)
    times = _sent_times(pacer, t, 17)
    assert times[-1] - times[0] < 2 / 60 + 1e-9
