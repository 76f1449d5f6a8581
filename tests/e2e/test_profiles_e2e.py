"""Two profiles, two QBO companies: each keeps its own config, state and tokens.

Real `qbsync` processes connect two profiles to two emulated companies (different realms) with the
headless browser, then the realm guard refuses to point one profile's state at the other company.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qbsync.emulator import Emulator
from qbsync.hosts import free_loopback_port
from qbsync.state.db import State

pytestmark = pytest.mark.e2e

SECRET = "profiles-secret-9a8b7c"


def _qbsync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qbsync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _connect(env: dict[str, str], emu: Emulator, profile: str) -> None:
    redirect = f"http://127.0.0.1:{free_loopback_port()}/callback"
    emu.add_client(f"client-{profile}", SECRET, [redirect])
    init = _qbsync(
        env,
        "--profile", profile, "init",
        "--environment", emu.base_url,
        "--client-id", f"client-{profile}",
        "--redirect-uri", redirect,
        "--token-store", "file",
        "--source", "csv", "--members", "members.csv",
        "--yes",
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    auth = _qbsync(env, "--profile", profile, "auth", "--timeout", "20")
    assert auth.returncode == 0, auth.stderr


def test_two_profiles_two_companies(isolated_env: Path) -> None:
    env = dict(os.environ)
    env["QBSYNC_CLIENT_SECRET"] = SECRET
    env["BROWSER"] = f"{sys.executable} -m qbsync.emulator.browser %s"
    other_seed = {"realm_id": "4620816365178123450", "company": {"CompanyName": "Acme Parcels"}}
    with Emulator(limits=False) as sunrise, Emulator(other_seed, limits=False) as acme:
        _connect(env, sunrise, "sunrise")
        _connect(env, acme, "acme")

        for profile, emu, company in (
            ("sunrise", sunrise, "Sunrise Mailbox Co (emulated)"),
            ("acme", acme, "Acme Parcels"),
        ):
            status = _qbsync(env, "--profile", profile, "status", "--check", "--json")
            assert status.returncode == 0, status.stderr
            report = json.loads(status.stdout)
            assert (report["realm_id"], report["company_name"]) == (emu.realm_id, company)
            data_dir = isolated_env / ".local" / "share" / "qbsync" / profile
            with State.open(data_dir / "state.sqlite3") as state:
                assert state.realm_id == emu.realm_id
            tokens = json.loads((data_dir / "tokens.json").read_text())["tokens"]
            assert tokens["realm_id"] == emu.realm_id

        # Point the acme profile at the sunrise company: its state belongs to acme's realm.
        config = isolated_env / ".config" / "qbsync" / "acme.toml"
        redirect = f"http://127.0.0.1:{free_loopback_port()}/callback"
        sunrise.add_client("client-acme", SECRET, [redirect])
        text = config.read_text().replace(acme.base_url, sunrise.base_url)
        lines = [
            f'redirect_uri = "{redirect}"' if line.startswith("redirect_uri") else line
            for line in text.splitlines()
        ]
        config.write_text("\n".join(lines) + "\n")
        refused = _qbsync(env, "--profile", "acme", "auth", "--timeout", "20")
        assert refused.returncode == 2
        assert "--fresh-state" in refused.stderr
        acme_dir = isolated_env / ".local" / "share" / "qbsync" / "acme"
        with State.open(acme_dir / "state.sqlite3") as state:
            assert state.realm_id == acme.realm_id  # untouched
        # ...and the working connection to acme was not replaced by sunrise's tokens.
        tokens = json.loads((acme_dir / "tokens.json").read_text())["tokens"]
        assert tokens["realm_id"] == acme.realm_id
