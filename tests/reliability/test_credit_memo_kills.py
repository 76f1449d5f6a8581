"""Exactly once under SIGKILL for credit notes (issue 15): each becomes one QBO CreditMemo and
is applied to its invoice by one zero-total Payment, whatever moment runs are killed at; then a
normal run: nothing done twice, nothing missing."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.sync_helpers import SyncWorld
from e2e.test_after_export_e2e import inv, qbo_invoice, qbo_payments, write_rows
from reliability.test_after_push_kills import four_members_world, kill_loop, slow_answers

pytestmark = pytest.mark.e2e

COUNT = 8
WRITES = ("/creditmemo", "/payment")


@pytest.fixture
def world(emulator_config: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncWorld]:
    slow_answers(monkeypatch, WRITES)
    yield from four_members_world(emulator_config)


@pytest.mark.slow
def test_sigkills_during_credit_memos_and_their_application_do_nothing_twice(
    world: SyncWorld,
) -> None:
    seed = int(os.environ.get("QBSYNC_KILL_SEED", random.randrange(1 << 30)))
    print(f"kill loop seed: {seed} (QBSYNC_KILL_SEED={seed} repeats it)")
    rng = random.Random(seed)
    rows = [inv(world, f"i{n:02d}", f"m{n % 4}") for n in range(COUNT)]
    write_rows(world, rows)
    first = world.run("export", "--yes")
    assert first.code == 0, first
    notes = [
        inv(world, f"c{n:02d}", f"m{n % 4}", type="credit_note", applies_to=f"i{n:02d}",
            unit_price="10.00")
        for n in range(COUNT)
    ]  # fmt: skip
    write_rows(world, [*rows, *notes])
    kill_loop(world, rng, ("export", "--yes"), 10, seed)
    final = world.run("export", "--yes", env=world.env(QBSYNC_SETTLE_GRACE_SECONDS="0"))
    assert final.code == 0, f"seed {seed}: {final}"
    memos = Counter(str(m.get("PrivateNote")) for m in world.emu.company.dump()["CreditMemo"])
    assert memos == Counter(f"qbsync-cm:c{n:02d} #N-c{n:02d};" for n in range(COUNT)), seed
    applied = Counter(str(p.get("PrivateNote")) for p in qbo_payments(world))
    assert applied == Counter(f"qbsync-cm-apply:c{n:02d};" for n in range(COUNT)), seed
    for row in rows:
        assert str(qbo_invoice(world, row["invoice_id"])["Balance"]) == "15.00", seed
    with world.state() as state:
        pushes = [p for p in state.pushes.all() if p.kind in ("credit_memo", "credit_apply")]
        own = state.pushes.own_payment_ids()
    assert len(pushes) == 2 * COUNT and {p.state for p in pushes} == {"pushed"}, seed
    assert own == {str(p["Id"]) for p in qbo_payments(world)}, seed
    assert set(world.marker_counts().values()) == {1}, f"seed {seed}: an invoice went twice"
    creates = len(world.emu.requests("/creditmemo", method="POST"))
    print(f"10 kills; {creates} credit memo creates sent for {COUNT} credit notes")
