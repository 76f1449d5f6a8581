"""The gateway paces itself under QBO's limits: a burst gets through with no 429 at all.

The emulator enforces QBO's limits with ``time_scale`` shrinking every window, and the pacer is
given the same scale, so a "minute" of traffic takes a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
    # QBO: 40 batch requests a minute per realm and app (qbo-facts.md "Batch"); the emulator
    # enforces that by default, and the pacer's default stays under it.
    enforced = BATCH_PER_MINUTE.max_requests
    assert enforced == 40 and PaceLimits().batches_per_minute <= enforced
    pacer = RatePacer(PaceLimits(time_scale=SCALE))
    with Emulator(limits=True, time_scale=SCALE) as emu:
        client = connect_client(emu, pacer=pacer)
        for n in range(enforced + 5):  # more than the emulator's batch requests per minute
            item = BatchItem("b1", "create", "Customer", {"DisplayName": f"Paced Batch {n}"})
            answers = client.batch([item], request_id=f"pace-{n}")
            assert answers["b1"].error is None
        assert set(_statuses(emu)) == {200}


def test_clients_built_one_after_another_share_the_profile_s_window(
    connect_client: Callable[..., QboClient], tmp_path: Path
) -> None:
    # Two runs of one profile, back to back (what two cron lines or the demo's commands are):
    # each client is built as `open_session` builds it, with the profile's data folder, and
    # together they send more batches than QBO takes in a minute.
    with Emulator(limits=True, time_scale=SCALE) as emu:
        for run in range(2):
            client = connect_client(emu, data_dir=tmp_path / "data", time_scale=SCALE)
            for n in range(30):
                item = BatchItem("b1", "create", "Customer", {"DisplayName": f"Run {run} {n}"})
                assert client.batch([item], request_id=f"run-{run}-{n}")["b1"].error is None
            client.session.close()
        statuses = _statuses(emu)
        assert len(statuses) == 60 and set(statuses) == {200}
        assert len(emu.company.dump()["Customer"]) >= 60
    assert (tmp_path / "data" / f"pacer-{emu.realm_id}.log").stat().st_size > 0


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
