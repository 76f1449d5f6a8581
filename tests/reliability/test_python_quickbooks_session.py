"""python-quickbooks objects used through qbsync's session get what the library lacks.

python-quickbooks 0.9.12 sends no timeout and never refreshes (docs/qbo-facts.md): through
``QboClient.qb`` its objects still get a refresh on 401 (with the rotated tokens saved) and a
timeout on a hung request, because every call goes through ``QboSession``.
"""

from __future__ import annotations

import time
from pathlib import Path

from quickbooks.objects.customer import Customer
from quickbooks.objects.item import Item

from qbsync.emulator import Emulator
from qbsync.qbo.client import RetryPolicy
from testkit import connect_client

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, throttle_delay=0.02)


def test_an_access_token_expired_at_qbo_is_refreshed_and_saved(tmp_path: Path) -> None:
    with Emulator(limits=False) as emu:
        client = connect_client(emu, tmp_path, retry=FAST_RETRY)
        before = client.session.token_manager.tokens()
        emu.clock.advance(2 * 3600)  # past the access token's hour; qbsync's clock has not moved
        customers = Customer.filter(Active=True, qb=client.qb)
        assert {c.DisplayName for c in customers} == {"Emily Platt", "Northside Books"}
        after = client.session.token_manager.store.load_tokens()
        assert after is not None
        assert after.access_token != before.access_token
        assert after.refresh_token != before.refresh_token  # rotated, and saved
        statuses = [e["status"] for e in emu.requests() if "/query" in e["path"]]
        assert statuses == [401, 200]


def test_a_hung_read_times_out_and_is_retried(tmp_path: Path) -> None:
    with Emulator(limits=False) as emu:
        client = connect_client(emu, tmp_path, timeout_seconds=0.5, retry=FAST_RETRY)
        emu.inject_fault("*/query", "hang", hang_seconds=3)
        started = time.monotonic()
        items = Item.all(qb=client.qb)
        assert items
        assert time.monotonic() - started < 2.5  # not the 3 s hang: timed out and retried
        queries = [e for e in emu.requests() if "/query" in e["path"]]
        assert len(queries) == 2  # the hung one, then the retry
