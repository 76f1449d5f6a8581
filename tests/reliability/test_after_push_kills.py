"""Exactly once under SIGKILL for what qbsync pushes after export (issue 15): platform voids,
edits (on_change = "update"), platform payments and `qbsync undo`, each killed at random moments
by real SIGKILLs, then a normal run: nothing done twice, nothing missing."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.sync_helpers import SyncWorld, make_sync_world, member
from e2e.test_after_export_e2e import inv, off_day, pay, qbo_invoice, qbo_payments, write_rows
from qbsync.emulator import Emulator, routes

pytestmark = pytest.mark.e2e

COUNT = 12
WRITES = ("/invoice", "/payment")
ANSWER_DELAY = 0.3  # seconds between QBO doing a write and its answer: where kills hurt


def slow_answers(monkeypatch: pytest.MonkeyPatch, writes: tuple[str, ...]) -> None:
    """The emulator does each POST to ``writes`` at once and answers it ANSWER_DELAY late: a
    kill in between is a run that sent a write QBO did, without recording it (the moment
    exactly-once is about)."""
    original = routes.handle

    def slow_answer(emu: Any, request: Any) -> Any:
        response = original(emu, request)
        if request.method == "POST" and request.path.endswith(writes):
            time.sleep(ANSWER_DELAY)
        return response

    monkeypatch.setattr(routes, "handle", slow_answer)


def four_members_world(emulator_config: Any) -> Iterator[SyncWorld]:
    """An emulator without limits and a profile with members m0..m3."""
    with Emulator(limits=False) as emu:
        w = make_sync_world(emulator_config, emu)
        w.write_members([member(f"m{i}", f"m{i}@example.com", "M", str(i)) for i in range(4)])
        yield w


@pytest.fixture
def world(emulator_config: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncWorld]:
    slow_answers(monkeypatch, WRITES)
    for w in four_members_world(emulator_config):
        w.write_config(export='on_change = "update"')
        with w.config_path.open("a") as handle:
            handle.write('\n[payments]\nrecorded_in = "platform"\n')
        yield w


def kill_loop(
    world: SyncWorld, rng: random.Random, args: tuple[str, ...], kills: int, seed: int
) -> int:
    """Runs `qbsync ARGS` killed after a random delay until ``kills`` of them died; how many
    finished before their kill."""
    env = world.env(QBSYNC_SETTLE_GRACE_SECONDS="0")
    done = killed = 0
    latest = 1.6  # the latest moment to kill at; shrinks when runs finish first (a fast machine)
    while killed < kills:
        assert done <= 6 * kills, f"seed {seed}: runs keep finishing before their kill"
        proc = world.start(*args, env=env)
        delay = rng.uniform(min(0.3, latest / 2), latest)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        else:
            latest = max(0.1, delay * 0.8)
        result = world.finish(proc)
        assert result.code in (-signal.SIGKILL, 0, 5), f"seed {seed}: {result}"
        if result.code != -signal.SIGKILL:
            done += 1
    return done


@pytest.mark.slow
def test_sigkills_during_voids_updates_payments_and_undo_do_nothing_twice(
    world: SyncWorld,
) -> None:
    seed = int(os.environ.get("QBSYNC_KILL_SEED", random.randrange(1 << 30)))
    print(f"kill loop seed: {seed} (QBSYNC_KILL_SEED={seed} repeats it)")
    rng = random.Random(seed)
    rows = [inv(world, f"i{n:02d}", f"m{n % 4}") for n in range(COUNT)]
    write_rows(world, rows)
    first = world.run("export", "--yes")
    assert first.code == 0, first
    env = world.env(QBSYNC_SETTLE_GRACE_SECONDS="0")
    day = ("export", "--if-due", "--as-of", off_day(), "--yes")
    # 1. voids, edits and payments at the platform, pushed by runs killed at random moments.
    for n, row in enumerate(rows):
        if n % 3 == 0:
            row["status"] = "void"
        elif n % 3 == 1:
            row["unit_price"] = f"{30 + n}.00"
        else:
            pay(row, f"p-{n}", "10.00", payment_ref=f"R{n}")
    write_rows(world, rows)
    kills = 0
    kill_loop(world, rng, day, 8, seed)
    kills += 8
    final = world.run(*day, env=env)
    assert final.code == 0, f"seed {seed}: {final}"
    voids = [
        e for e in world.emu.requests("/invoice", method="POST")
        if e["params"].get("operation") == "void"
    ]  # fmt: skip
    assert all(e["status"] == 200 for e in voids), f"seed {seed}: a void was refused"
    assert len(voids) == COUNT // 3, f"seed {seed}: {len(voids)} voids"
    notes = Counter(str(p.get("PrivateNote")) for p in qbo_payments(world))
    assert notes == Counter(f"qbsync-pay:p-{n};" for n in range(2, COUNT, 3)), f"seed {seed}"
    for n, row in enumerate(rows):
        got = qbo_invoice(world, row["invoice_id"])
        if n % 3 == 0:
            assert str(got["PrivateNote"]).startswith("Voided"), f"seed {seed}: {n}"
        elif n % 3 == 1:
            assert str(got["TotalAmt"]) == f"{30 + n}.00", f"seed {seed}: {n}"
        else:
            assert str(got["Balance"]) == "15.00", f"seed {seed}: {n}"
    with world.state() as state:
        pushes = state.pushes.all()
    assert {p.state for p in pushes if p.kind != "report"} == {"pushed"}, f"seed {seed}"
    # 2. undo of the first run, killed at random moments.
    run_id = 1  # the first export: the only one that exported invoices
    before = len(world.emu.requests("/invoice", method="POST"))
    kill_loop(world, rng, ("undo", str(run_id), "--yes"), 12, seed)
    kills += 12
    final = world.run("undo", str(run_id), "--yes", env=env)
    assert final.code == 5, f"seed {seed}: {final}"  # the paid ones are blockers
    undo_voids = [
        e for e in world.emu.requests("/invoice", method="POST")[before:]
        if e["params"].get("operation") == "void"
    ]  # fmt: skip
    assert all(e["status"] == 200 for e in undo_voids), f"seed {seed}: a void was refused"
    assert len(undo_voids) == COUNT // 3, f"seed {seed}: {len(undo_voids)} undo voids"
    for n, row in enumerate(rows):
        voided = str(qbo_invoice(world, row["invoice_id"])["PrivateNote"]).startswith("Voided")
        assert voided == (n % 3 != 2), f"seed {seed}: {n}"
    # The next export sends nothing again; no invoice is in QBO twice.
    last = world.run("export", "--yes", "--json", env=env)
    assert '"exported": 0' in last.out, f"seed {seed}: {last}"
    assert set(world.marker_counts().values()) == {1}, f"seed {seed}"
    updates = [
        e for e in world.emu.requests("/invoice", method="POST")
        if not e["params"].get("operation")
    ]  # fmt: skip
    # Updates say the same however often they are sent: a kill between send and record sends
    # one again (the printed figure shows how often the kills landed there).
    print(f"{kills} kills; {len(updates)} updates for {COUNT // 3} edited invoices")
