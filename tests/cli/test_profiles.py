"""Profile names and the hints that point at profiles: where a bad name came from, and which
command line reaches the config that exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qbsync.cli.main import _register, cli

SECRET = "sEcReT-client-value-0042"


@pytest.fixture
def home(isolated_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    _register()
    monkeypatch.chdir(tmp_path)
    return isolated_env


def _run(args: list[str], *, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env)


def _no_files_made(home: Path) -> None:
    made = [p for p in home.rglob("*") if p.is_file()]
    assert made == []
    assert not (home / ".local" / "share" / "x").exists()


# -- finding 3: an invalid profile name says where it came from ----------------------------------


def test_invalid_profile_from_env_is_named_as_env(home: Path) -> None:
    result = _run(["status"], env={"QBSYNC_PROFILE": "../x"})
    assert result.exit_code == 2
    assert "QBSYNC_PROFILE" in result.stderr
    assert "--profile" not in result.stderr.replace("(from QBSYNC_PROFILE)", "")
    assert "Invalid value" not in result.stderr
    _no_files_made(home)


def test_invalid_profile_from_env_with_json_prints_one_json_object(home: Path) -> None:
    result = _run(["status", "--json"], env={"QBSYNC_PROFILE": "../x"})
    assert result.exit_code == 2
    doc = json.loads(result.stdout)  # exactly one object: json.loads refuses extra text
    assert doc["ok"] is False and doc["exit_code"] == 2
    assert "QBSYNC_PROFILE" in doc["error"] and "'../x'" in doc["error"]
    assert "QBSYNC_PROFILE" in doc["hint"]
    assert set(doc) == {"ok", "error", "exit_code", "hint"}


def test_invalid_profile_option_is_named_as_option(home: Path) -> None:
    result = _run(["--profile", "a/b", "status", "--json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert "--profile" in doc["error"] and "QBSYNC_PROFILE" not in doc["error"]
    assert "--profile" in result.stderr


def test_invalid_profile_init_writes_nothing(home: Path) -> None:
    args = ["--profile", "../x", "init", "--client-id", "a", "--members", "m.csv", "--yes"]
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert "invalid profile name '../x' (from --profile)" in result.stderr
    _no_files_made(home)


def test_valid_profile_names_still_work(home: Path) -> None:
    result = _run(["--profile", "acme-2_b", "status", "--json"])
    assert result.exit_code == 2  # no config yet, but the name was accepted
    assert "no config file" in json.loads(result.stdout)["error"]
