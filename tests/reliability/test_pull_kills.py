"""`qbsync pull` exactly once under SIGKILL: real processes killed at random moments while the
accountant keeps paying invoices in the emulator; then a normal run. Every event reaches the
platform (csv file, or the HTTP stub keyed by Idempotency-Key), none twice in the file, none
missing, and the state holds none undelivered."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.pull_helpers import events_csv_rows, export_invoices, platform_stub
from e2e.sync_helpers import SyncWorld, make_sync_world
from qbsync.emulator import Emulator
from qbsync.state.pulls import PullEvent
from qbsync.sync.pull_run import run_pull
from qbsync.sync.sinks import CsvSink
from testkit import connect_client

pytestmark = pytest.mark.e2e

INVOICES = 40


@pytest.fixture
def world(emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        yield make_sync_world(emulator_config, emu)


def _kill_loop(world: SyncWorld, ids: dict[str, str], seed: int) -> None:
    rng = random.Random(seed)
    kills = attempts = 0
    paid = 0
    latest = 0.9  # the latest moment to kill at; shrinks when runs finish first (a fast machine)
    while kills < 20:
        attempts += 1
        assert attempts <= 200, f"seed {seed}: only {kills} kills in {attempts - 1} runs"
        for _ in range(4):  # new changes in QBO for every run
            paid += 1
            invoice = ids[f"i{(paid - 1) % INVOICES + 1}"]
            balance = world.emu.company.get_row("Invoice", invoice)["Balance"]
            if balance > 0:
                world.emu.record_payment({invoice: "5.00"}, reference=f"R{paid}")
        proc = world.start("pull")
        delay = rng.uniform(0.02, latest)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        else:  # it finished before the kill: aim earlier next time
            latest = max(0.05, delay * 0.8)
        result = world.finish(proc)
        assert result.code in (-signal.SIGKILL, 0), f"seed {seed}, {delay:.2f} s: {result}"
    final = world.run("pull")
    assert final.code == 0, f"seed {seed}: {final}"


def _all_events(world: SyncWorld) -> list[PullEvent]:
    with world.state() as state:
        assert not state.pulls.pending_events()
        return state.pulls.events()


@pytest.mark.slow
@pytest.mark.parametrize("sink", ["csv", "http"])
def test_sigkill_at_random_moments_delivers_every_event_once(world: SyncWorld, sink: str) -> None:
    seed = int(os.environ.get("QBSYNC_KILL_SEED", random.randrange(1 << 30)))
    print(f"pull kill loop seed: {seed} (QBSYNC_KILL_SEED={seed} repeats it)")
    ids = export_invoices(world, INVOICES)
    with platform_stub() as platform:
        platform.delay = 0.01  # a platform taking its time: kills land mid-delivery too
        if sink == "http":
            world.write_config(
                export=f'\n[pull]\nsink = "http"\nbase_url = "{platform.base_url}"\n'
            )
        _kill_loop(world, ids, seed)
        events = _all_events(world)
        payments = sum(1 for e in events if e.kind == "payment")
        assert payments == sum(len(p["Line"]) for p in world.emu.company.dump()["Payment"])
        if sink == "csv":
            in_file = [r["event_id"] for r in events_csv_rows(world)]
            assert len(in_file) == len(set(in_file)), f"seed {seed}: an event twice in the file"
            assert set(in_file) == {e.event_id for e in events}, f"seed {seed}"
        else:
            assert set(platform.events) == {e.event_id for e in events}, f"seed {seed}"


def test_a_crash_between_the_csv_write_and_the_state_writes_nothing_twice(
    world: SyncWorld, tmp_path: Path
) -> None:
    """The window a kill rarely hits, made to happen: the rows are in the file (fsynced), the
    state still has the events undelivered (the process died before recording it)."""
    ids = export_invoices(world, 2)
    world.emu.record_payment({ids["i1"]: "25.00"})
    assert world.run("pull", "--dry-run").code == 0
    # Record the events without delivering them: a run that died right after its transaction.
    client = connect_client(world.emu, tmp_path)
    with world.state() as state:
        run_pull(client, state, sink=None, pending_at_platform=set, dry_run=False, run_id=None)
    with world.state() as state:
        pending = state.pulls.pending_events()
    assert {e.kind for e in pending} == {"payment", "paid"}
    CsvSink(world.folder / "qbo-events.csv").deliver([e.payload for e in pending])
    with (world.folder / "qbo-events.csv").open("ab") as handle:
        handle.write(b"deadbeef,2026-")  # and a row cut short by the kill
    assert world.run("pull").code == 0
    rows = events_csv_rows(world)
    assert sorted(r["event"] for r in rows) == ["paid", "payment"]
    assert all(e.delivered_at for e in _all_events(world))
