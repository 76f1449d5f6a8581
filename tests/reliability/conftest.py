"""A QboClient connected to an emulator without the browser flow, for fault and limit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qbsync.emulator import Emulator
from qbsync.qbo.client import QboClient
from testkit import connect_client as _connect


@pytest.fixture
def connect_client(tmp_path: Path) -> Callable[..., QboClient]:
    def make(emu: Emulator, **client_kwargs: Any) -> QboClient:
        return _connect(emu, tmp_path, timeout_seconds=5, **client_kwargs)

    return make
