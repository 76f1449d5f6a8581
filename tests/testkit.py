"""A connected ``QboClient`` for an emulator, without the browser flow: for tests and benchmarks.

``qbsync auth`` is tested end to end elsewhere; code that only needs a working connection (fault
and limit tests, benchmarks, users' own CI) gets one here: a config file for the emulator, the
client secret and freshly issued tokens in a 0600 file store, and a QboClient on top.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qbsync.auth.credentials import open_store
from qbsync.auth.token_endpoint import token_set_from_response
from qbsync.auth.tokens import token_manager_for
from qbsync.config import load_config, write_config
from qbsync.emulator.server import Emulator
from qbsync.qbo.client import QboClient

REDIRECT_URI = "http://localhost:8765/callback"


def connect_client(
    emu: Emulator,
    workdir: Path,
    *,
    client_id: str = "testkit-client",
    client_secret: str = "testkit-secret-not-real",
    timeout_seconds: float = 10,
    **client_kwargs: Any,
) -> QboClient:
    """Register a client on ``emu``, store its secret and tokens under ``workdir``; a QboClient."""
    emu.add_client(client_id, client_secret, [REDIRECT_URI])
    config_path = workdir / "config.toml"
    data_dir = workdir / "data"
    write_config(
        config_path,
        {
            "qbo": {
                "environment": emu.base_url,
                "client_id": client_id,
                "redirect_uri": REDIRECT_URI,
                "timeout_seconds": timeout_seconds,
            },
            "tokens": {"store": "file"},
            "source": {"type": "csv", "members": "members.csv"},
        },
        force=True,
    )
    config = load_config(config_path, profile="default", data_dir=data_dir)
    store = open_store("file", profile="default", data_dir=data_dir)
    store.save_client_secret(client_secret)
    body = emu.issue_tokens(client_id)
    store.save_tokens(
        token_set_from_response(body, realm_id=body["realmId"], now=datetime.now(UTC))
    )
    return QboClient(config.qbo, token_manager_for(config, store=store), **client_kwargs)
