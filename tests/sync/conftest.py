"""The sync engine against an in-process emulator over real HTTP, with a real state file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qbsync.config import Config, load_config
from qbsync.emulator import Emulator
from qbsync.qbo.client import QboClient
from qbsync.state.db import State
from testkit import connect_client


@dataclass
class Rig:
    emu: Emulator
    client: QboClient
    state: State
    config: Config

    def customers(self) -> list[dict[str, Any]]:
        return list(self.emu.company.dump().get("Customer", []))

    def invoices(self) -> list[dict[str, Any]]:
        return list(self.emu.company.dump().get("Invoice", []))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with Emulator(limits=False) as emu:
        client = connect_client(emu, tmp_path, timeout_seconds=5)
        config = load_config(
            tmp_path / "config.toml", profile="default", data_dir=tmp_path / "data"
        )
        state = State.open(config.state_path)
        state.bind_realm(
            client.realm_id, now=datetime.now(UTC) - timedelta(days=1), company_name="emu"
        )
        try:
            yield Rig(emu, client, state, config)
        finally:
            state.close()
