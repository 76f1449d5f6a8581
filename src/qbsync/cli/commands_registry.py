"""The list of command modules; each exposes ``register(group)``. Add one line per module."""

from __future__ import annotations

from collections.abc import Callable

import click

from qbsync.cli import auth_cmd, demo_cmd, disconnect_cmd, emulator_cmd, init_cmd, status_cmd

ALL: list[Callable[[click.Group], None]] = [
    init_cmd.register,
    auth_cmd.register,
    disconnect_cmd.register,
    status_cmd.register,
    emulator_cmd.register,
    demo_cmd.register,
]
