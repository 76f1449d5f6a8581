"""The gateway paces itself under QBO's limits: a burst gets through with no 429 at all.

The emulator enforces QBO's limits with ``time_scale`` shrinking every window, and the pacer is
given the same scale, so a "minute" of traffic takes a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable

from qbsync.emulator import Emulator
from qbsync.emulator.limits import BATCH_PER_MINUTE
from qbsync.qbo.client import BatchItem, QboClient, RetryPolicy
from qbsync.qbo.pacing import PaceLimits, RatePacer

SCALE = 60.0  # a minute lasts 1 s, a second 16.7 ms


def _statuses(emu: Emulator) -> list[int | None]:
    return [e["status"] for e in emu.requests() if "/v3/company/" in e["path"]]


def test_a_paced_burst_over_the_minute_limit_is_never_throttled(
    connect_client: Callable[..., QboClient],
) -> None:
    with Emulator(limits=True, time_scale=SCALE) as emu:
        client = connect_client(emu, pacer=RatePacer(PaceLimits(time_scale=SCALE)))
        for _ in range(520):  # more than QBO's 500 per minute
            assert client.company_info()["CompanyName"] == emu.company.company_name
        statuses = _statuses(emu)
        assert len(statuses) == 520
        assert set(statuses) == {200}


def test_paced_batches_stay_under_the_batch_limit(
    connect_client: Callable[..., QboClient],
) -> None:
    # QBO's batch limit is 120/min since 2025 (40 before); the emulator may still enforce 40.
    # Pace with the default margin (115 for 120) scaled to whatever the emulator enforces.
    enforced = BATCH_PER_MINUTE.max_requests
    per_minute = min(PaceLimits().batches_per_minute, enforced * 11 // 12)
    pacer = RatePacer(PaceLimits(batches_per_minute=per_minute, time_scale=SCALE))
    with Emulator(limits=True, time_scale=SCALE) as emu:
        client = connect_client(emu, pacer=pacer)
        for n in range(enforced + 5):  # more than the emulator's batch requests per minute
            item = BatchItem("b1", "create", "Customer", {"DisplayName": f"Paced Batch {n}"})
            answers = client.batch([item], request_id=f"pace-{n}")
            assert answers["b1"].error is None
        assert set(_statuses(emu)) == {200}


def test_without_pacing_a_burst_is_throttled_and_retried(
    connect_client: Callable[..., QboClient],
) -> None:
    # The control: proves the emulator really enforces the limit the pacer avoids, and that
    # the gateway's backoff still gets every request through when something else throttles it.
    # At time scale 10 a "second" lasts 0.1 s: 10 requests per 0.1 s is far below what this
    # client sends unpaced (about 1000/s here), so the burst is throttled even on a slow machine.
    unpaced = RatePacer(PaceLimits(per_second=10**6, per_minute=10**6, batches_per_minute=10**6))
    retry = RetryPolicy(max_attempts=50, base_delay=0.01, throttle_delay=0.02)
    with Emulator(limits=True, time_scale=10) as emu:
        client = connect_client(emu, pacer=unpaced, retry=retry)
        for _ in range(60):
            client.company_info()
        statuses = _statuses(emu)
        assert statuses.count(200) == 60
        assert statuses.count(429) > 0


def test_a_paced_burst_at_the_same_scale_is_not_throttled(
    connect_client: Callable[..., QboClient],
) -> None:
    with Emulator(limits=True, time_scale=10) as emu:
        client = connect_client(emu, pacer=RatePacer(PaceLimits(time_scale=10)))
        for _ in range(60):
            client.company_info()
        assert set(_statuses(emu)) == {200}
