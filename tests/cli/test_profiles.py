"""Profile names and the hints that point at profiles: where a bad name came from, and which
command line reaches the config that exists."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from qbsync.cli.main import cli

SECRET = "sEcReT-client-value-0042"


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


# -- finding 4: hints point at the profiles that exist -------------------------------------------

INIT = ["init", "--client-id", "id-1", "--members", "m.csv", "--token-store", "file", "--yes"]


def _make_profile(name: str) -> None:
    result = _run(["--profile", name, *INIT], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr


def test_missing_default_config_next_step_is_this_command_with_the_profile(home: Path) -> None:
    _make_profile("acme")
    result = _run(["status"])
    assert result.exit_code == 2
    assert "profiles found: acme" in result.stderr
    assert "Next step: run `qbsync --profile acme status` (or `qbsync init`" in result.stderr
    assert "pass --config" not in result.stderr
    doc = json.loads(_run(["status", "--json"]).stdout)
    assert doc["hint"].startswith("run `qbsync --profile acme status`")


def test_missing_default_config_lists_every_profile_found(home: Path) -> None:
    _make_profile("acme")
    _make_profile("zeta")
    result = _run(["auth"])
    assert result.exit_code == 2
    assert "run `qbsync --profile acme auth` or `qbsync --profile zeta auth`" in result.stderr


def test_config_of_another_profile_without_profile_points_at_that_profile(home: Path) -> None:
    _make_profile("acme")
    acme = home / ".config" / "qbsync" / "acme.toml"
    result = _run(["--config", str(acme), "status"])
    assert result.exit_code == 2  # not 3 "no tokens stored" read from the default profile
    assert "profile 'acme'" in result.stderr
    assert "Next step: run `qbsync --profile acme status`" in result.stderr
    assert "pass --config" not in result.stderr
    doc = json.loads(_run(["--config", str(acme), "status", "--json"]).stdout)
    assert doc["exit_code"] == 2 and doc["hint"] == "run `qbsync --profile acme status`"
    # the pair the hint names works: acme's config with acme's data (no tokens yet: exit 3)
    assert _run(["--profile", "acme", "status"]).exit_code == 3
    # and --config with an explicit --profile is the operator's choice
    assert _run(["--config", str(acme), "--profile", "acme", "status"]).exit_code == 3


def test_config_of_another_profile_is_refused_before_init_writes(home: Path) -> None:
    other = home / ".config" / "qbsync" / "beta.toml"
    result = _run(["--config", str(other), *INIT], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert "Next step: run `qbsync --profile beta init`" in result.stderr
    assert not other.exists()
    assert not (home / ".local" / "share" / "qbsync" / "default").exists()


def test_missing_explicit_config_hint_does_not_say_pass_config(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere.toml"
    result = _run(["--config", str(missing), "status"])
    assert result.exit_code == 2
    assert f"run `qbsync --config {missing} init` to create it" in result.stderr
    assert "pass --config" not in result.stderr
