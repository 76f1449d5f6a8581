"""The pacer keeps every sliding window under its limit, waiting no longer than needed."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from qbsync.qbo import window_file
from qbsync.qbo.pacing import PaceLimits, RatePacer
from qbsync.qbo.window_file import WindowFile, parse, window_path


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


# --- the window shared by the processes of one profile (pacer-<realm>.log) ---------------------


def _shared(path: Path, t: FakeTime, limits: PaceLimits | None = None) -> RatePacer:
    """A pacer as a fresh process builds it: nothing in memory, the profile's window file."""
    return RatePacer(limits, clock=t.clock, sleep=t.sleep, shared=WindowFile(path))


def test_defaults_are_intuit_s_limits_for_one_app() -> None:
    # Intuit's limits page (qbo-facts.md "Batch"): 40 batch requests/min per realm and app (the
    # 120 is the realm's total over all apps), 500 requests/min, 10/s.
    limits = PaceLimits()
    assert limits.batches_per_minute in (39, 40) and limits.batches_per_minute <= 40
    assert 450 <= limits.per_minute <= 500 and 8 <= limits.per_second <= 10


def test_a_second_process_waits_for_the_first_one_s_batch_window(tmp_path: Path) -> None:
    path = window_path(tmp_path, "9130355")
    t = FakeTime()
    first = _shared(path, t)
    start = t.now
    first_times = _sent_times(first, t, 39, batch=True)  # a whole minute's batches, at 8/s
    assert first_times[-1] - start < 5.0
    second = _shared(path, t)  # the next cron line / demo command: a new process
    second.wait(batch=True)
    # It waited for the first process's first batch to leave the minute, not a moment less.
    assert t.now == pytest.approx(start + 60.0)
    assert second.waited == pytest.approx(start + 60.0 - first_times[-1])
    stamps = parse(path.read_bytes())
    assert [b for _, b in stamps] == [True] * 40
    assert _max_in_window([s for s, _ in stamps], 60.0) == 39


def test_a_second_process_waits_for_the_first_one_s_second(tmp_path: Path) -> None:
    path = window_path(tmp_path, "1")
    t = FakeTime()
    _sent_times(_shared(path, t), t, 8)  # 8 plain requests at once: this second is full
    second = _shared(path, t)
    times = _sent_times(second, t, 8)
    assert times[0] == pytest.approx(1001.0)  # not at 1000.0: QBO would count 16 in a second
    all_times = [s for s, _ in parse(path.read_bytes())]
    assert _max_in_window(all_times, 1.0) == 8


def test_two_live_pacers_see_each_other_s_requests(tmp_path: Path) -> None:
    path = window_path(tmp_path, "1")
    t = FakeTime()
    limits = PaceLimits(per_second=1000, per_minute=10, batches_per_minute=1000)
    a, b = _shared(path, t, limits), _shared(path, t, limits)
    for n in range(30):  # interleaved, like a status run beside an export
        (a if n % 2 else b).wait()
    times = [s for s, _ in parse(path.read_bytes())]
    assert len(times) == 30 and _max_in_window(times, 60.0) == 10


def test_old_sends_and_corrupt_lines_do_not_count(tmp_path: Path) -> None:
    path = window_path(tmp_path, "1")
    t = FakeTime()
    old = "\n".join(f"{t.now - 61 + i / 100:.6f} b" for i in range(50))
    path.write_text(old + "\ngarbage\n1e999 b\n\x00\x01 r\n12 x\n" + f"{t.now - 1:.6f} b\n12.5")
    pacer = _shared(path, t, PaceLimits(batches_per_minute=2))
    assert pacer.wait(batch=True) == 0.0  # one batch in the minute (the line at now - 1)
    assert pacer.wait(batch=True) == pytest.approx(59.0)  # the second of two: wait it out


def test_a_missing_file_is_created_private(tmp_path: Path) -> None:
    path = window_path(tmp_path / "data", "4620816365")
    t = FakeTime()
    _shared(path, t).wait()
    assert path.name == "pacer-4620816365.log"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert window_path(tmp_path, "../x y") == tmp_path / "pacer-___x_y.log"


def test_the_file_is_compacted_to_the_last_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(window_file, "COMPACT_BYTES", 2000)
    path = window_path(tmp_path, "1")
    t = FakeTime()
    pacer = _shared(path, t, PaceLimits(per_second=2, per_minute=1000, batches_per_minute=1000))
    other = _shared(path, t, PaceLimits(per_second=2, per_minute=1000, batches_per_minute=1000))
    for n in range(600):  # 2/s: 300 s of requests, a line of ~20 bytes each
        (pacer if n % 3 else other).wait(batch=n % 2 == 0)
    assert path.stat().st_size <= 2000 + 30
    kept = parse(path.read_bytes())
    assert kept[0][0] > t.now - 61.0  # only the last minute's requests are left ...
    assert len(kept) >= 119  # ... all of them, batch or not
    assert {b for _, b in kept} == {True, False}
    # The pacer that did not compact still sees the whole window after the other one did.
    assert _max_in_window([s for s, _ in kept], 1.0) == 2
    fresh = _shared(path, t, PaceLimits(per_second=2, per_minute=120, batches_per_minute=1000))
    assert fresh.wait() > 0  # 120 in the last minute: full


def test_a_clock_stepped_back_forgets_the_window(tmp_path: Path) -> None:
    path = window_path(tmp_path, "1")
    t = FakeTime()
    _sent_times(_shared(path, t, PaceLimits(batches_per_minute=1)), t, 1, batch=True)
    t.now -= 3600  # NTP stepped the clock back an hour
    pacer = _shared(path, t, PaceLimits(batches_per_minute=1))
    assert pacer.wait(batch=True) == 0.0  # not an hour's wait


def test_an_unusable_folder_paces_in_memory_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    t = FakeTime()
    pacer = _shared(window_path(blocker, "1"), t, PaceLimits(per_second=2))
    with caplog.at_level(logging.WARNING, logger="qbsync"):
        times = _sent_times(pacer, t, 5)
    assert _max_in_window(times, 1.0) == 2
    assert len([r for r in caplog.records if "share the request pace" in r.message]) == 1
