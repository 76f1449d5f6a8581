"""What every command gets from the global options: `CliContext`, as click's ``ctx.obj``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qbsync.errors import QbsyncError

if TYPE_CHECKING:
    from qbsync.auth.credentials import CredentialStore
    from qbsync.config import Config


@dataclass
class CliContext:
    """What every command gets from the global options (as ``ctx.obj``)."""

    config_path: Path
    profile: str
    data_dir: Path
    verbose: int
    # An unusable --profile / QBSYNC_PROFILE, raised by get(): inside the command, so its own
    # error path reports it (`status --json` as its one JSON object).
    problem: QbsyncError | None = None

    @classmethod
    def get(cls, ctx: click.Context | None = None) -> CliContext:
        ctx = ctx or click.get_current_context()
        obj = ctx.find_object(CliContext)
        if obj is None:  # pragma: no cover - only when a command is invoked outside the group
            raise click.UsageError("qbsync commands must be run through the `qbsync` group")
        if obj.problem is not None:
            if ctx.params.get("as_json"):  # the command promised one JSON object on stdout
                emit_json_error(obj.problem)
            raise obj.problem
        return obj

    def load(self) -> tuple[Config, CredentialStore]:
        """This invocation's config and the credential store it names."""
        from qbsync.auth.credentials import open_store
        from qbsync.config import load_config

        config = load_config(self.config_path, profile=self.profile, data_dir=self.data_dir)
        store = open_store(config.token_store, profile=config.profile, data_dir=config.data_dir)
        return config, store


def emit_json_error(exc: QbsyncError) -> None:
    """The error as the one JSON object a ``--json`` command prints (the keys `status` uses)."""
    from qbsync.cli import render  # rich is imported only when a command renders

    render.emit_json(
        {"ok": False, "error": exc.message, "exit_code": int(exc.exit_code), "hint": exc.hint}
    )
