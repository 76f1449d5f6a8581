"""Paging through the emulator: every row exactly once, in Id order, across page boundaries."""

from __future__ import annotations

from collections.abc import Callable

from qbsync.emulator import Emulator
from qbsync.qbo.client import QboClient


def test_paging_returns_each_customer_once_in_id_order(
    connect_client: Callable[..., QboClient],
) -> None:
    with Emulator(limits=False) as emu:
        for i in range(1205):
            emu.company.create("Customer", {"DisplayName": f"Paging Member {i:05d}"})
        client = connect_client(emu)
        rows = client.query("select * from Customer", page_size=500)
        ids = [int(r["Id"]) for r in rows]
        assert len(ids) == len(set(ids)) == emu.company.count("Customer") - 1  # one is inactive
        assert ids == sorted(ids)  # numeric order, also past Id 9 -> 10 and 99 -> 100
        pages = [e for e in emu.requests() if e["path"].endswith("/query")]
        assert len(pages) == 3
