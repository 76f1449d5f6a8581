"""A QboClient connected to an emulator without the browser flow, for fault and limit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qbsync.config import load_config, write_config
from qbsync.credentials import open_store
from qbsync.emulator import Emulator
from qbsync.oauth import token_set_from_response
from qbsync.qbo import QboClient
from qbsync.tokens import token_manager_for

CLIENT_ID = "reliability-client"
CLIENT_SECRET = "reliability-secret-5f6e7d"


def connect(emu: Emulator, tmp_path: Path, **client_kwargs: Any) -> QboClient:
    """Config, stored client secret and tokens for ``emu``; a QboClient on them."""
    redirect = "http://localhost:8765/callback"
    emu.add_client(CLIENT_ID, CLIENT_SECRET, [redirect])
    config_path = tmp_path / "config.toml"
    data_dir = tmp_path / "data"
    write_config(
        config_path,
        {
            "qbo": {
                "environment": emu.base_url,
                "client_id": CLIENT_ID,
                "redirect_uri": redirect,
                "timeout_seconds": 5,
            },
            "tokens": {"store": "file"},
            "source": {"type": "csv", "members": "members.csv"},
        },
        force=True,
    )
    config = load_config(config_path, profile="default", data_dir=data_dir)
    store = open_store("file", profile="default", data_dir=data_dir)
    store.save_client_secret(CLIENT_SECRET)
    body = emu.issue_tokens(CLIENT_ID)
    store.save_tokens(
        token_set_from_response(body, realm_id=body["realmId"], now=datetime.now(UTC))
    )
    return QboClient(config, token_manager_for(config, store=store), **client_kwargs)


@pytest.fixture
def connect_client(tmp_path: Path) -> Callable[..., QboClient]:
    def make(emu: Emulator, **client_kwargs: Any) -> QboClient:
        return connect(emu, tmp_path, **client_kwargs)

    return make
