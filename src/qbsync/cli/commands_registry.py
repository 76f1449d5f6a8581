"""The list of command modules; each exposes ``register(group)``. Add one line per module."""

from __future__ import annotations

from collections.abc import Callable

import click

ALL: list[Callable[[click.Group], None]] = []

from qbsync.cli import init_cmd  # noqa: E402

ALL.append(init_cmd.register)

from qbsync.cli import auth_cmd, status_cmd  # noqa: E402

ALL += [auth_cmd.register, status_cmd.register]

from qbsync.cli import emulator_cmd  # noqa: E402

ALL.append(emulator_cmd.register)
