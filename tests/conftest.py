"""Fixtures shared by every test: an isolated environment, a fake keyring, the emulator."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors
import pytest


class DictKeyring(keyring.backend.KeyringBackend):
    """An in-memory keyring backend for tests (priority 1, so it is a 'real' backend)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError as exc:
            raise keyring.errors.PasswordDeleteError(username) from exc


class NetworkGuardError(OSError):
    """A test tried to reach a host other than this machine's loopback."""


def _loopback_only(address: object) -> None:
    host = address[0] if isinstance(address, tuple) else None
    if host is None or isinstance(address, (str, bytes)):  # AF_UNIX paths are local
        return
    try:
        if ipaddress.ip_address(str(host).split("%")[0]).is_loopback:
            return
    except ValueError:
        if host == "localhost":
            return
    raise NetworkGuardError(f"tests may only connect to loopback, not {host!r}")


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach Intuit or any other host: only loopback connections are allowed."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        _loopback_only(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _loopback_only(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost") and not _is_ip(host):
            raise NetworkGuardError(f"tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _is_ip(host: Any) -> bool:
    try:
        ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host))
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test reads or writes the user's real config, data, keyring or Intuit."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for var in (
        "QBSYNC_CONFIG",
        "QBSYNC_DATA_DIR",
        "QBSYNC_CLIENT_SECRET",
        "QBSYNC_PROFILE",
        "QBSYNC_DEBUG",
        "OAUTHLIB_INSECURE_TRANSPORT",
        "BROWSER",
    ):
        monkeypatch.delenv(var, raising=False)
    # A headless box: keyring has no working backend unless a test installs the fake one.
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        yield home
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def fake_keyring() -> DictKeyring:
    backend = DictKeyring()
    keyring.set_keyring(backend)  # isolated_env restores the previous backend afterwards
    return backend


@pytest.fixture
def emulator() -> Iterator[Any]:
    """A fresh emulator on a free loopback port, QBO's limits off (tests that need them start their own)."""
    from qbsync.emulator import Emulator

    with Emulator(limits=False) as emu:
        yield emu


TOKEN_TEMPLATE = "POST /oauth2/v1/tokens/bearer"


@dataclass
class EmulatorSetup:
    """A config file for an emulator (at the profile's default path), the client registered
    there, its secret in the token store: what `qbsync init` + an Intuit app amount to."""

    emu: Any
    config_path: Path
    data_dir: Path
    redirect_uri: str
    store_kind: str
    profile: str

    def store(self) -> Any:
        from qbsync.auth.credentials import open_store

        return open_store(self.store_kind, profile=self.profile, data_dir=self.data_dir)

    def token_posts(self) -> int:
        return sum(1 for e in self.emu.requests() if e["template"] == TOKEN_TEMPLATE)


@pytest.fixture
def emulator_config() -> Callable[..., EmulatorSetup]:
    """Write an emulator config (the one way tests do it): ``emulator_config(emu, client_id=...,
    client_secret=..., redirect_uri=None, store="file", profile="default", timeout_seconds=10)``."""
    from qbsync.hosts import free_loopback_port
    from qbsync.paths import config_path, profile_data_dir

    def write(
        emu: Any,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str | None = None,
        store: str = "file",
        profile: str = "default",
        timeout_seconds: float | None = 10,
    ) -> EmulatorSetup:
        redirect = redirect_uri or f"http://localhost:{free_loopback_port()}/callback"
        emu.add_client(client_id, client_secret, [redirect])
        path = config_path(None, profile)
        path.parent.mkdir(parents=True, exist_ok=True)
        timeout = f"timeout_seconds = {timeout_seconds}\n" if timeout_seconds else ""
        path.write_text(
            f'[qbo]\nenvironment = "{emu.base_url}"\nclient_id = "{client_id}"\n'
            f'redirect_uri = "{redirect}"\n{timeout}\n[tokens]\nstore = "{store}"\n\n'
            '[source]\ntype = "csv"\nmembers = "members.csv"\n'
        )
        setup = EmulatorSetup(emu, path, profile_data_dir(profile), redirect, store, profile)
        setup.store().save_client_secret(client_secret)
        return setup

    return write
