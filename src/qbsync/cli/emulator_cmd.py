"""`qbsync emulator serve`: run the local QBO + Intuit OAuth emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import math
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from qbsync.errors import ConfigError
from qbsync.hosts import is_loopback_host

if TYPE_CHECKING:
    from qbsync.emulator import Emulator

DEFAULT_PORT = 4116


@click.group("emulator")
def emulator_group() -> None:
    """A local stand-in for QuickBooks Online and Intuit's OAuth server (tests, demo, CI)."""


@emulator_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--seed",
    "seed_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON seed file (same shape as default_seed.json); its keys replace the defaults'.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Divide QBO's rate-limit windows by this (60: a 'minute' lasts one second).",
)
@click.option("--no-limits", is_flag=True, help="Switch QBO's rate limits off.")
@click.option(
    "--batch-per-minute",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="Batch requests per realm and app per minute (Intuit: 40; 120 for all apps together).",
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the company, tokens and requestid replies in this file across restarts "
    "(written 0600: it holds tokens). Without it everything is forgotten on exit.",
)
@click.option(
    "--throttle-format",
    type=click.Choice(["json", "xml"]),
    default="xml",
    show_default=True,
    help="Body of 429 ThrottleExceeded answers (every captured one is XML; json also exists).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host. The admin API has no authentication: never expose it.",
)
@click.option("--log", "log_requests", is_flag=True, help="Log each request line to stderr.")
def serve_command(
    host: str,
    port: int,
    seed_file: Path | None,
    time_scale: float,
    no_limits: bool,
    batch_per_minute: int,
    data_file: Path | None,
    throttle_format: str,
    allow_remote: bool,
    log_requests: bool,
) -> None:
    """Serve the emulator on HOST:PORT until interrupted."""
    from qbsync.emulator import Emulator

    if not is_loopback_host(host):
        if not allow_remote:
            raise ConfigError(
                f"--host {host} is not a loopback address; the emulator's admin API can mint tokens "
                "and rewrite data without authentication",
                hint="use --host 127.0.0.1, or add --allow-remote on a private, trusted network",
            )
        click.echo(
            f"Warning: serving on {host}: anyone who can reach it can use the admin API "
            "(/_emulator/) without authentication.",
            err=True,
        )
    if not math.isfinite(time_scale):  # click's FloatRange lets "nan" and "inf" through
        raise ConfigError(
            f"--time-scale {time_scale} is not a finite number", hint="use e.g. --time-scale 60"
        )
    emu = Emulator(
        seed_file,
        host=host,
        port=port,
        limits=not no_limits,
        time_scale=time_scale,
        throttle_format=throttle_format,
        log_requests=log_requests,
        batch_per_minute=batch_per_minute,
        data=data_file,
    )
    try:
        emu.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port (0 picks a free one) or stop what is using it",
        ) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python then never
    # raises KeyboardInterrupt; Ctrl-C (or `kill -INT`) must stop the emulator anyway.
    previous = signal.signal(signal.SIGTERM, on_signal)
    previous_int = signal.signal(signal.SIGINT, on_signal)
    try:
        _announce(emu, time_scale=time_scale, limits=not no_limits)
        while not stop.wait(0.5):  # a timed wait keeps Ctrl-C (KeyboardInterrupt) responsive
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        emu.stop()
    click.echo("Emulator stopped.", err=True)


def _announce(emu: Emulator, *, time_scale: float, limits: bool) -> None:
    limit_text = "off" if not limits else f"on (time scale {time_scale:g})"
    if emu.data is None:
        state_text = "in memory only: forgotten on exit (--data FILE keeps it)"
    else:
        how = "restored from" if emu.restored else "new, kept in"
        state_text = f"{how} {emu.data.path}"
    click.echo(f"QBO emulator listening on {emu.base_url}")
    click.echo(f"  realm id:      {emu.realm_id} ({emu.company.company_name})")
    click.echo(f"  rate limits:   {limit_text}")
    click.echo(f"  state:         {state_text}")
    for client in emu.oauth.clients():
        # These are the emulator's own demo credentials, not secrets of any real Intuit app.
        click.echo(f"  client id:     {client.client_id}")
        click.echo(f"  client secret: {client.client_secret}")
        for uri in client.redirect_uris:
            click.echo(f"  redirect URI:  {uri}")
    click.echo("Put this in the [qbo] section of config.toml:")
    click.echo(f'  environment = "{emu.base_url}"')
    clients = emu.oauth.clients()
    loopback = [u for c in clients[:1] for u in c.redirect_uris if u.startswith("http://")]
    if loopback:
        first = clients[0]
        click.echo("Or start from scratch (in another terminal):")
        click.echo(
            f"  QBSYNC_CLIENT_SECRET={first.client_secret} qbsync init --yes"
            f" --environment {emu.base_url} --client-id {first.client_id}"
            f" --redirect-uri {loopback[0]} --token-store file --source csv --members members.csv"
        )
        click.echo(
            f'  BROWSER="{shlex.quote(sys.executable)} -m qbsync.emulator.browser %s" qbsync auth'
            "   # no browser needed: the emulator consents at once"
        )
    click.echo("An https:// redirect URI means the paste flow (qbsync auth asks for the address).")
    click.echo(f"Admin API (loopback only): {emu.base_url}/_emulator/health. Ctrl-C stops.")


def register(group: click.Group) -> None:
    group.add_command(emulator_group)
