"""What every command gets: `CliContext` (click's ``ctx.obj``, from the global options) and
`open_session`, the one place that wires config -> credential store -> token manager -> QBO client
-> state for a command and closes them again."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qbsync.errors import QbsyncError, UsageError

if TYPE_CHECKING:
    from qbsync.auth.credentials import CredentialStore
    from qbsync.auth.tokens import TokenManager
    from qbsync.config import Config
    from qbsync.qbo.client import QboClient
    from qbsync.state.db import State

log = logging.getLogger(__name__)


@dataclass
class CliContext:
    """What every command gets from the global options (as ``ctx.obj``)."""

    config_path: Path
    profile: str
    data_dir: Path
    verbose: int
    # An unusable --profile / QBSYNC_PROFILE, raised by get(): inside the command, so that the
    # error is reported like any other (one JSON object with --json).
    problem: QbsyncError | None = None
    # Set by the --json option (cli/options.py): errors are then one JSON object on stdout.
    as_json: bool = False
    # The command printed its own JSON document (a report with "ok": false): main adds none.
    json_printed: bool = False
    # -q: print nothing on success (cron mails only output).
    quiet: bool = False

    @classmethod
    def get(cls, ctx: click.Context | None = None) -> CliContext:
        ctx = ctx or click.get_current_context()
        obj = ctx.find_object(CliContext)
        if obj is None:  # pragma: no cover - only when a command is invoked outside the group
            raise click.UsageError("qbsync commands must be run through the `qbsync` group")
        if obj.problem is not None:
            raise obj.problem
        return obj

    def command_line(self, *args: str) -> str:
        """``qbsync [--config PATH] [--profile NAME] <args>`` for this invocation."""
        from qbsync.config import hints

        return hints.command_line(self.profile, self.config_path, *args)

    def localize(self, text: str | None) -> str | None:
        """Every plain ``qbsync <command>`` in ``text`` names this invocation's profile/config."""
        from qbsync.config import hints

        return hints.localize(text, self.profile, self.config_path)

    def load(self) -> tuple[Config, CredentialStore]:
        """This invocation's config and the credential store it names."""
        from qbsync.auth.credentials import open_store
        from qbsync.config import load_config

        config = load_config(self.config_path, profile=self.profile, data_dir=self.data_dir)
        store = open_store(config.token_store, profile=config.profile, data_dir=config.data_dir)
        return config, store


@dataclass
class Session:
    """What a command works with; ``open_session`` builds it and closes it."""

    obj: CliContext
    config: Config
    store: CredentialStore
    state: State | None
    tokens: TokenManager | None
    client: QboClient | None


EMULATOR_TIME_SCALE_ENV = "QBSYNC_EMULATOR_TIME_SCALE"


def emulator_time_scale(config: Config) -> float:
    """``$QBSYNC_EMULATOR_TIME_SCALE``: the ``--time-scale`` of the emulator the profile talks to,
    so that tests pace a real `qbsync` process on the emulator's short minutes. Ignored (1.0) for
    sandbox and production: Intuit's minutes are never shortened."""
    raw = os.environ.get(EMULATOR_TIME_SCALE_ENV, "").strip()
    if not raw or config.qbo.endpoints.name != "emulator":
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not math.isfinite(scale) or scale <= 0:
        raise UsageError(
            f"{EMULATOR_TIME_SCALE_ENV}={raw!r} is not a positive number",
            hint=f"unset {EMULATOR_TIME_SCALE_ENV} or set it to the emulator's --time-scale",
        )
    return scale


@contextlib.contextmanager
def open_session(
    obj: CliContext,
    *,
    qbo: bool = True,
    state: bool = True,
    run_lock: bool = False,
    need_history: bool | None = None,
) -> Iterator[Session]:
    """Config and credential store always; then, in this order:

    - ``run_lock``: the run lock (``LockedError``, exit 4, at once when another run holds it);
    - ``qbo``: a TokenManager and the QboClient (``AuthError``, exit 3, when not connected);
    - ``state``: the state database (created when missing). A bound state gives the config its
      ``[export] enabled_at`` when the config has none yet. With ``need_history`` (default:
      ``run_lock``, i.e. every syncing command) a state without history next to a connected
      config is refused (``StateError``, exit 2) until `qbsync state rebuild`.

    Everything opened is closed on the way out, also when the command fails.
    """
    if need_history is None:
        need_history = run_lock
    config, store = obj.load()
    with contextlib.ExitStack() as stack:
        if run_lock:
            from qbsync.locks import run_lock as take_run_lock

            stack.enter_context(take_run_lock(config.data_dir))
        manager: TokenManager | None = None
        client: QboClient | None = None
        if qbo:
            from qbsync.auth.tokens import token_manager_for
            from qbsync.qbo.client import QboClient

            manager = token_manager_for(config, store=store)
            # The pacer's window is shared by the profile's runs (qbo/pacing.py).
            client = QboClient(
                config.qbo,
                manager,
                data_dir=config.data_dir,
                time_scale=emulator_time_scale(config),
            )
            stack.callback(client.session.close)
        opened: State | None = None
        if state:
            from qbsync.state.db import State

            opened = stack.enter_context(State.open(config.state_path))
            config = keep_history(obj, config, store, opened, need_history=need_history)
        yield Session(obj, config, store, opened, manager, client)


def keep_history(
    obj: CliContext, config: Config, store: CredentialStore, state: State, *, need_history: bool
) -> Config:
    """The config with the state's enabled_at filled in (written to the file once, for configs
    from before the key existed); or, for a syncing command, the refusal of a state that lost
    its history while the profile is connected."""
    import dataclasses

    from qbsync.errors import ConfigError, StateError

    enabled = state.enabled_at
    if state.realm_id is not None:
        if enabled is None or config.export.enabled_at == enabled:
            return config
        if config.export.enabled_at is not None:  # hand-edited: the state's history rules
            log.warning(
                "%s: [export] enabled_at %s differs from the state's %s; using the state's",
                config.path,
                config.export.enabled_at.isoformat(),
                enabled.isoformat(),
            )
            return config
        from qbsync.config.enabled import write_enabled_at

        try:
            write_enabled_at(config.path, enabled)
        except ConfigError as exc:
            log.warning("%s", exc.message)
        return dataclasses.replace(
            config, export=dataclasses.replace(config.export, enabled_at=enabled)
        )
    from qbsync.auth.connect import connected_before

    if need_history and connected_before(config, store):
        since = config.export.enabled_at
        raise StateError(
            f"the state {config.state_path} holds no export history (it is new or empty), but "
            "this profile has been connected to QBO"
            + (f" since {since.isoformat()}" if since else "")
            + ": syncing now could export again invoices QBO already has, or skip pending ones",
            hint=f"run `{obj.command_line('state', 'rebuild')}` to restore the links and the "
            "exported invoices from QBO, or, to start over and export only invoices created "
            f"from now on, `{obj.command_line('state', 'rebuild', '--fresh')}`",
        )
    return config
