"""The pacer's window outlives the process: two `qbsync export` runs started back to back stay
under QBO's 40 batch requests a minute together (qbo-facts.md "Batch"), with no 429.

Before, each process paced itself from an empty window, so the second burst into the first one's
minute, was answered 429, and waited Intuit's 60 s (`make demo` stalled like this in about half of
its runs). The emulator runs at time scale 6 (a "minute" of 10 s) and the CLI is told so through
``QBSYNC_EMULATOR_TIME_SCALE``; the two runs send 60 batches (batch_size = 1), more than a minute
takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from e2e.sync_helpers import SyncWorld, make_sync_world, member
from qbsync.emulator import Emulator

pytestmark = pytest.mark.e2e

SCALE = 6  # a QBO minute lasts 10 s: longer than a process start, short enough for a test
PER_RUN = 30  # batches per run; two runs: over the emulator's 40 a minute


@pytest.fixture
def world(emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=True, time_scale=SCALE, batch_per_minute=40) as emu:
        w = make_sync_world(emulator_config, emu)
        emu.company.create(
            "Customer", {"DisplayName": "Pacer Member", "PrimaryEmailAddr": {"Address": "pm@x.org"}}
        )
        w.write_config(batch_size=1)
        w.write_members([member("m1", "pm@x.org", "Pacer", "Member")])
        yield w


def _invoices(world: SyncWorld, start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "invoice_id": f"i{n:03d}",
            "member_id": "m1",
            "number": f"N-{n:03d}",
            "created_at": world.enabled_at + timedelta(hours=1, seconds=n),
        }
        for n in range(start, start + count)
    ]


def test_two_exports_back_to_back_share_the_batch_minute_without_a_429(world: SyncWorld) -> None:
    env = world.env(QBSYNC_EMULATOR_TIME_SCALE=str(SCALE))
    world.write_invoices(_invoices(world, 0, PER_RUN))
    first = world.run("export", "--yes", "--json", env=env)
    assert first.code == 0, first
    world.write_invoices(_invoices(world, 0, 2 * PER_RUN))
    second = world.run("export", "--yes", "--json", env=env)
    assert second.code == 0, second
    assert json.loads(first.out)["summary"]["exported"] == PER_RUN
    assert json.loads(second.out)["summary"]["exported"] == PER_RUN

    logged = [e for e in world.emu.requests() if "/v3/company/" in e["path"]]
    batches = [e for e in logged if e["path"].endswith("/batch")]
    assert len(batches) == 2 * PER_RUN
    assert [e for e in logged if e["status"] == 429] == []  # not one throttle, reads included
    # What QBO and the state hold: every invoice once, each recorded as exported.
    assert set(world.marker_counts().values()) == {1} and len(world.marker_counts()) == 2 * PER_RUN
    with world.state() as state:
        states = state.exports.states()
    assert len(states) == 2 * PER_RUN and set(states.values()) == {"exported"}
    pacer_files = list(world.data_dir.glob("pacer-*.log"))
    assert [p.name for p in pacer_files] == [f"pacer-{world.emu.realm_id}.log"]
