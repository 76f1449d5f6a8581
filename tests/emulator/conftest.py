"""Fixtures for the conformance tests: python-quickbooks 0.9.12 clients of an emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from quickbooks import QuickBooks
from requests_oauthlib import OAuth2Session

from emulator.fake_clock import FakeClock
from qbsync.emulator import Emulator
from qbsync.emulator.seed import default_seed
from qbsync.emulator.store import Company


@pytest.fixture
def qb_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Emulator], QuickBooks]]:
    """Connects a python-quickbooks client to an emulator; its sessions are closed afterwards."""
    # oauthlib refuses plain http unless told otherwise; allowed only for these loopback tests.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    sessions: list[OAuth2Session] = []

    def connect(emu: Emulator) -> QuickBooks:
        token = emu.issue_access_token()
        session = OAuth2Session(
            "conformance", token={"access_token": token, "token_type": "Bearer"}
        )
        sessions.append(session)
        client = QuickBooks(company_id=emu.realm_id, minorversion=75)
        client.sandbox = True
        client.sandbox_api_url_v3 = emu.base_url + "/v3"
        client.session = session
        return client

    try:
        yield connect
    finally:
        for session in sessions:
            session.close()


@pytest.fixture
def qb(emulator: Emulator, qb_for: Callable[[Emulator], QuickBooks]) -> QuickBooks:
    return qb_for(emulator)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def company(clock: FakeClock) -> Company:
    return Company(default_seed(), clock=clock)
