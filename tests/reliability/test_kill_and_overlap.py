"""Exactly once under SIGKILL and overlapping runs: real `qbsync export` processes against the
emulator. Whatever moment a run dies at, the next run settles what it left in flight against
QBO (by the PrivateNote marker) before sending anything: no invoice twice, none lost."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from e2e.sync_helpers import SyncWorld, make_sync_world, member, wait_for
from qbsync.emulator import Emulator

pytestmark = pytest.mark.e2e

MEMBERS = 15
INVOICES = 300


@pytest.fixture
def world(emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        w = make_sync_world(emulator_config, emu)
        w.write_members(
            [
                member(f"m{i}", f"member{i}@example.com", f"First{i}", f"Last{i}")
                for i in range(MEMBERS)
            ]
        )
        yield w


def _invoices(world: SyncWorld, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in range(count):
        rows.append(
            {
                "invoice_id": f"inv-{n:04d}",
                "member_id": f"m{n % MEMBERS}",
                "number": f"{5000 + n}",
                # Several per customer and day: the settle lookup (customer + date) must tell
                # them apart by the marker.
                "created_at": world.enabled_at + timedelta(hours=1 + (n % 3)),
                "unit_price": f"{10 + n % 7}.{n % 100:02d}",
            }
        )
    return rows


def _markers(count: int) -> set[str]:
    return {f"qbsync:inv-{n:04d} #{5000 + n};" for n in range(count)}


@pytest.mark.slow
def test_sigkill_at_random_moments_never_duplicates_or_loses_an_invoice(
    world: SyncWorld,
) -> None:
    seed = int(os.environ.get("QBSYNC_KILL_SEED", random.randrange(1 << 30)))
    print(f"kill loop seed: {seed} (QBSYNC_KILL_SEED={seed} repeats it)")
    rng = random.Random(seed)
    world.write_config(batch_size=10)
    assert world.run("connect-members", "--yes").code == 0
    world.write_invoices(_invoices(world, INVOICES))
    env = world.env(QBSYNC_SETTLE_GRACE_SECONDS="0")
    total, kills, finished_early, attempts = INVOICES, 0, 0, 0
    while kills < 20:
        attempts += 1
        assert attempts <= 60, f"seed {seed}: only {kills} kills in {attempts - 1} runs"
        delay = rng.uniform(0.05, 1.5)
        proc = world.start("export", "--yes", env=env)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        result = world.finish(proc)
        if result.code not in (-signal.SIGKILL, 0):
            raise AssertionError(f"seed {seed}: a run failed after {delay:.2f} s: {result}")
        if result.code == 0:  # it got through: new invoices keep the next runs busy
            finished_early += 1
            total += 30
            world.write_invoices(_invoices(world, total))
        duplicates = {m: n for m, n in world.marker_counts().items() if n > 1}
        assert not duplicates, f"seed {seed}: duplicates after a kill at {delay:.2f} s"
    final = world.run("export", "--yes", env=env)
    assert final.code == 0, f"seed {seed}: {final}"
    counts = world.marker_counts()
    assert set(counts) == _markers(total), f"seed {seed}"
    assert set(counts.values()) == {1}, f"seed {seed}"
    with world.state() as state:
        states = state.exports.states()
        assert len(states) == total and set(states.values()) == {"exported"}, f"seed {seed}"
        by_id = {r.invoice_id: r.qbo_id for r in state.exports.all()}
    in_qbo = {
        str(i["PrivateNote"]).split()[0].removeprefix("qbsync:"): i["Id"] for i in world.invoices()
    }
    assert by_id == in_qbo, f"seed {seed}: the state's QBO ids differ from what QBO holds"
    print(f"{kills} kills, {finished_early} runs finished before their kill")


def test_a_second_run_exits_4_at_once_while_the_first_holds_the_lock(world: SyncWorld) -> None:
    assert world.run("connect-members", "--yes").code == 0
    world.write_invoices(_invoices(world, 20))
    hang = 6.0
    world.emu.inject_fault("/batch", "hang", count=1, hang_seconds=hang)
    first = world.start("export", "--yes")
    try:
        wait_for(
            lambda: any(e.get("fault") == "hang" for e in world.emu.requests("/batch")),
            what="the first run's batch to hang",
        )
        started = time.monotonic()
        second = world.run("export", "--yes")
        elapsed = time.monotonic() - started
        assert first.poll() is None, "the first run should still be waiting on QBO"
    finally:
        result = world.finish(first)
    assert second.code == 4, second
    assert elapsed < hang / 2, f"the second run took {elapsed:.1f} s"
    assert "run lock" in second.err and "run.lock" in second.err
    assert result.code == 0, result
    assert set(world.marker_counts()) == _markers(20)
    assert set(world.marker_counts().values()) == {1}
    with world.state() as state:
        assert set(state.exports.states().values()) == {"exported"}
        runs = state.runs.last(5)
        assert [r.command for r in runs] == ["export", "connect-members"]  # no run for the 2nd
        assert runs[0].outcome == "ok"


@pytest.mark.slow
def test_sigkill_during_connect_members_never_creates_a_customer_twice(
    world: SyncWorld,
) -> None:
    seed = int(os.environ.get("QBSYNC_KILL_SEED", random.randrange(1 << 30)))
    print(f"kill loop seed: {seed} (QBSYNC_KILL_SEED={seed} repeats it)")
    rng = random.Random(seed)
    count = 120
    world.write_config(batch_size=10)
    world.write_members(
        [member(f"n{i}", f"new{i}@example.com", f"New{i}", f"Member{i}") for i in range(count)]
    )
    kills = 0
    for _ in range(10):
        delay = rng.uniform(0.05, 1.0)
        proc = world.start("connect-members", "--yes")
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        result = world.finish(proc)
        assert result.code in (-signal.SIGKILL, 0), f"seed {seed}: {result}"
        counts = world.email_counts()
        assert max(counts.values(), default=1) == 1, f"seed {seed}: a customer made twice"
    final = world.run("connect-members", "--yes")
    assert final.code == 0, f"seed {seed}: {final}"
    counts = world.email_counts()
    links = world.links()
    for i in range(count):
        assert counts[f"new{i}@example.com"] == 1, f"seed {seed}"
        (found,) = world.customers_with(f"new{i}@example.com")
        assert links[f"n{i}"] == found["Id"], f"seed {seed}"
    with world.state() as state:
        assert state.members.pending() == []
    print(f"{kills} kills")
