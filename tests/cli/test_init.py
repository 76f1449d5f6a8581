"""`qbsync init` through CliRunner in the isolated environment: files, modes, exit codes, secrets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import keyring
import keyring.backends.fail
import pytest
from click.testing import CliRunner, Result

from qbsync.cli.main import cli
from qbsync.config import load_config

SECRET = "sEcReT-client-value-0042"


def _config(home: Path, profile: str = "default") -> Path:
    name = "config.toml" if profile == "default" else f"{profile}.toml"
    return home / ".config" / "qbsync" / name


def _data(home: Path, profile: str = "default") -> Path:
    return home / ".local" / "share" / "qbsync" / profile


def _run(args: list[str], *, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env, input=input)


def _assert_no_secret(result: Result, home: Path) -> None:
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    for path in home.rglob("*"):
        if path.is_file() and path.name != "tokens.json":
            assert SECRET not in path.read_text(errors="replace"), path


FLAGS = [
    "init",
    "--environment", "sandbox",
    "--client-id", "ABc123",
    "--redirect-uri", "http://localhost:8765/callback",
    "--token-store", "file",
    "--source", "csv",
    "--members", "members.csv",
    "--invoices", "invoices.csv",
    "--yes",
]  # fmt: skip


def test_flags_only_init(home: Path, tmp_path: Path) -> None:
    result = _run(FLAGS, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    config_path = _config(home)
    doc = tomllib.loads(config_path.read_text())
    assert doc["qbo"]["client_id"] == "ABc123"
    assert doc["tokens"]["store"] == "file"
    # relative paths given on the command line mean "relative to where I am"
    assert doc["source"]["members"] == str(tmp_path / "members.csv")
    assert doc["source"]["invoices"] == str(tmp_path / "invoices.csv")
    config = load_config(config_path, profile="default", data_dir=_data(home))
    assert config.qbo.scopes and config.export.days == (5, 10, 15, 20, 25, 30)

    token_file = _data(home) / "tokens.json"
    assert json.loads(token_file.read_text())["client_secret"] == SECRET
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert (_data(home) / "store-kind").read_text().strip() == "file"

    assert str(config_path) in result.stdout
    assert "file" in result.stdout and str(token_file) in result.stdout
    assert "qbsync auth" in result.stdout
    _assert_no_secret(result, home)


def test_prompted_init(home: Path) -> None:
    answers = [
        "",  # environment: default sandbox
        "my-client-id",
        "",  # redirect uri: default
        "file",
        "",  # source: default csv
        "m.csv",
        "",  # no invoices file
        SECRET,
        SECRET,  # confirmation
    ]
    result = _run(["init"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = tomllib.loads(_config(home).read_text())
    assert doc["qbo"] == {
        "environment": "sandbox",
        "client_id": "my-client-id",
        "redirect_uri": "http://localhost:8765/callback",
        "scopes": ["com.intuit.quickbooks.accounting", "com.intuit.quickbooks.payment"],
    }
    assert "invoices" not in doc["source"]
    assert json.loads((_data(home) / "tokens.json").read_text())["client_secret"] == SECRET
    _assert_no_secret(result, home)


def test_prompt_asks_again_after_a_bad_answer(home: Path) -> None:
    answers = ["staging", "sandbox", "id", "http://example.com/cb", "", "file", "", "m.csv", ""]
    result = _run(["init"], input="\n".join(answers) + "\n", env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.count("Error:") == 2
    assert tomllib.loads(_config(home).read_text())["qbo"]["environment"] == "sandbox"


def test_secret_confirmation_mismatch_asks_again(home: Path) -> None:
    args = [a for a in FLAGS if a != "--yes"]
    result = _run(args, input=f"{SECRET}\nother-value-1\n{SECRET}\n{SECRET}\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "do not match" in result.stdout + result.stderr
    assert json.loads((_data(home) / "tokens.json").read_text())["client_secret"] == SECRET
    _assert_no_secret(result, home)


@pytest.mark.parametrize(
    ("drop", "named"),
    [("--client-id", "--client-id"), ("--members", "--members")],
)
def test_yes_with_missing_flag_exits_2_naming_it(home: Path, drop: str, named: str) -> None:
    index = FLAGS.index(drop)
    args = FLAGS[:index] + FLAGS[index + 2 :]
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert named in result.stderr
    assert not _config(home).exists()


def test_yes_without_secret_exits_2(home: Path) -> None:
    result = _run(FLAGS)
    assert result.exit_code == 2
    assert "QBSYNC_CLIENT_SECRET" in result.stderr
    assert not _config(home).exists()
    assert not (_data(home) / "tokens.json").exists()


def test_refuses_to_overwrite_without_force(home: Path) -> None:
    config_path = _config(home)
    config_path.parent.mkdir(parents=True)
    config_path.write_text("# hand-written\n")
    result = _run(FLAGS, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert (
        "Next step: pass --force to change it (current values become the defaults)" in result.stderr
    )
    assert config_path.read_text() == "# hand-written\n"
    result = _run([*FLAGS, "--force"], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert "ABc123" in config_path.read_text()


def test_force_with_yes_keeps_stored_secret(home: Path) -> None:
    assert _run(FLAGS, env={"QBSYNC_CLIENT_SECRET": SECRET}).exit_code == 0
    args = [*FLAGS, "--force"]
    args[args.index("ABc123")] = "NewId"
    result = _run(args)  # no QBSYNC_CLIENT_SECRET this time
    assert result.exit_code == 0, result.stderr
    assert "kept the stored client secret" in result.stdout
    assert json.loads((_data(home) / "tokens.json").read_text())["client_secret"] == SECRET
    assert "NewId" in _config(home).read_text()


def test_invalid_flag_value_exits_2_and_writes_nothing(home: Path) -> None:
    args = list(FLAGS)
    args[args.index("http://localhost:8765/callback")] = "http://example.com/cb"
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert "--redirect-uri" in result.stderr and "localhost" in result.stderr
    assert not _config(home).exists()
    assert not (_data(home) / "tokens.json").exists()


def test_invalid_value_caught_by_load_config_names_real_file(home: Path) -> None:
    args = [
        "init", "--client-id", "x", "--source", "http", "--base-url", "http://platform.example",
        "--token-store", "file", "--yes",
    ]  # fmt: skip
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert "[source] base_url" in result.stderr
    assert str(_config(home)) in result.stderr and ".init-" not in result.stderr
    assert not _config(home).exists()
    assert [p.name for p in _config(home).parent.iterdir()] == []  # temp file cleaned up


def test_http_source(home: Path) -> None:
    args = [
        "init", "--client-id", "x", "--source", "http", "--base-url", "https://platform.example/api",
        "--token-env", "MEMBERS_API_TOKEN", "--token-store", "file", "--yes",
    ]  # fmt: skip
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    source = tomllib.loads(_config(home).read_text())["source"]
    assert source == {
        "type": "http",
        "base_url": "https://platform.example/api",
        "token_env": "MEMBERS_API_TOKEN",
    }


def test_csv_flag_with_http_source_is_usage_error(home: Path) -> None:
    args = ["init", "--client-id", "x", "--source", "http", "--members", "m.csv", "--yes"]
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert "--members" in result.stderr


def test_auto_store_uses_working_keyring(home: Path, fake_keyring: object) -> None:
    args = list(FLAGS)
    args[args.index("file")] = "auto"
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert fake_keyring.entries == {("qbsync:default", "client_secret"): SECRET}  # type: ignore[attr-defined]
    assert not (_data(home) / "tokens.json").exists()
    assert (_data(home) / "store-kind").read_text().strip() == "keyring"
    assert "keyring" in result.stdout and "cron" in result.stdout
    _assert_no_secret(result, home)


def test_explicit_keyring_without_backend_fails_before_writing(home: Path) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    args = list(FLAGS)
    args[args.index("file")] = "keyring"
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2  # a configuration problem, not a crash
    assert "no working keyring" in result.stderr
    assert "Next step: run this init again with --token-store file (or auto)" in result.stderr
    assert "config" not in result.stderr.split("Next step:")[1]  # no config was written to edit
    assert not _config(home).exists()
    assert not (_data(home) / "tokens.json").exists()


def test_profile_and_explicit_config(home: Path, tmp_path: Path) -> None:
    result = _run(["--profile", "acme", *FLAGS], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert _config(home, "acme").exists()
    assert (_data(home, "acme") / "tokens.json").exists()
    assert "qbsync --profile acme auth" in result.stdout

    custom = tmp_path / "elsewhere" / "qb.toml"
    result = _run(["--config", str(custom), *FLAGS], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert custom.exists()
    assert f"qbsync --config {custom} auth" in result.stdout


def test_init_is_listed_once(home: Path) -> None:
    assert cli.list_commands(click.Context(cli)).count("init") == 1
    help_text = _run(["--help"]).stdout
    assert help_text.count(" init ") == 1


def test_bad_choice_flag_exits_2(home: Path) -> None:
    args = list(FLAGS)
    args[args.index("file")] = "vault"
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert "--token-store" in result.stderr
    assert not _config(home).exists()


def test_real_process_init_then_overwrite_refused(home: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "QBSYNC_CLIENT_SECRET": SECRET,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",  # a headless server
    }
    args = [sys.executable, "-m", "qbsync", *[a if a != "file" else "auto" for a in FLAGS]]
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert SECRET not in first.stdout + first.stderr
    token_file = _data(home) / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600  # auto fell back to the file
    assert (_data(home) / "store-kind").read_text().strip() == "file"
    second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert "--force" in second.stderr


def test_switching_from_unreachable_keyring_to_file(home: Path, fake_keyring: object) -> None:
    from qbsync.auth.credentials import open_store
    from qbsync.errors import CredentialStoreError

    args = list(FLAGS)
    args[args.index("file")] = "auto"
    assert _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET}).exit_code == 0
    keyring.set_keyring(keyring.backends.fail.Keyring())  # now "cron": no keyring
    with pytest.raises(CredentialStoreError) as info:
        open_store("auto", profile="default", data_dir=_data(home))
    assert "init --force --token-store file" in (info.value.hint or "")
    # the operator follows the hint
    result = _run([*FLAGS, "--force"], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert (_data(home) / "store-kind").read_text().strip() == "file"
    store = open_store("auto", profile="default", data_dir=_data(home))
    assert store.kind == "file" and store.load_client_secret() == SECRET


def test_a_store_failing_to_take_the_secret_leaves_no_config(
    home: Path, fake_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = list(FLAGS)
    args[args.index("file")] = "keyring"
    real_set = fake_keyring.set_password

    def locked(service: str, username: str, password: str) -> None:
        if username == "client_secret":
            raise RuntimeError("keyring locked")
        real_set(service, username, password)  # the probe works

    monkeypatch.setattr(fake_keyring, "set_password", locked)
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 1, result.stderr
    assert "cannot write 'client_secret'" in result.stderr
    assert not _config(home).exists()  # `init` again just works
    _assert_no_secret(result, home)


# -- init --force starts from the existing config ----------------------------------------------

EMULATOR_CONFIG = """\
[qbo]
environment = "http://127.0.0.1:4116"
client_id = "emu-client-1"
redirect_uri = "http://127.0.0.1:9123/cb"
scopes = ["com.intuit.quickbooks.accounting"]
timeout_seconds = 12

[tokens]
store = "auto"

[source]
type = "csv"
members = "/srv/members.csv"
invoices = "/srv/invoices.csv"

[export]
days = [1, 15]
"""


def _existing(home: Path, text: str = EMULATOR_CONFIG) -> Path:
    path = _config(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_force_yes_keeps_every_value_not_given(home: Path) -> None:
    path = _existing(home)
    result = _run(
        ["init", "--force", "--token-store", "file", "--yes"],
        env={"QBSYNC_CLIENT_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.stderr
    doc = tomllib.loads(path.read_text())
    assert doc == {
        "qbo": {
            "environment": "http://127.0.0.1:4116",
            "client_id": "emu-client-1",
            "redirect_uri": "http://127.0.0.1:9123/cb",
            "scopes": ["com.intuit.quickbooks.accounting"],
            "timeout_seconds": 12,
        },
        "tokens": {"store": "file"},  # the one value given
        "source": {"type": "csv", "members": "/srv/members.csv", "invoices": "/srv/invoices.csv"},
        "export": {"days": [1, 15]},
    }
    assert (_data(home) / "store-kind").read_text().strip() == "file"
    _assert_no_secret(result, home)


def test_force_flags_override_the_existing_values(home: Path) -> None:
    path = _existing(home)
    args = ["init", "--force", "--client-id", "NewId", "--token-store", "file", "--yes"]
    args += ["--source", "http", "--base-url", "https://platform.example/api"]
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    doc = tomllib.loads(path.read_text())
    assert doc["qbo"]["client_id"] == "NewId"
    assert doc["qbo"]["environment"] == "http://127.0.0.1:4116"
    # the csv keys did not follow the source over to http
    assert doc["source"] == {"type": "http", "base_url": "https://platform.example/api"}


def test_force_prompts_default_to_the_existing_values(home: Path) -> None:
    path = _existing(home)
    # Enter at every question (environment, client id, redirect, store, source, members,
    # invoices), then the secret twice: nothing silently goes back to sandbox.
    answers = ["", "", "", "file", "", "", "", SECRET, SECRET]
    result = _run(["init", "--force"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = tomllib.loads(path.read_text())
    assert doc["qbo"]["environment"] == "http://127.0.0.1:4116"
    assert doc["qbo"]["client_id"] == "emu-client-1"
    assert doc["qbo"]["redirect_uri"] == "http://127.0.0.1:9123/cb"
    assert doc["tokens"]["store"] == "file"
    assert doc["source"] == {
        "type": "csv",
        "members": "/srv/members.csv",
        "invoices": "/srv/invoices.csv",
    }
    assert "Enter to keep" in result.stdout
    _assert_no_secret(result, home)


def test_force_prompt_enter_everywhere_keeps_store_and_secret(home: Path) -> None:
    assert _run(FLAGS, env={"QBSYNC_CLIENT_SECRET": SECRET}).exit_code == 0
    before = _config(home).read_text()
    # Enter at all 7 questions and once at the secret: keeping it needs no confirmation
    result = _run(["init", "--force"], input="\n" * 8)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Repeat for confirmation" not in result.stdout
    assert _config(home).read_text() == before
    assert "kept the stored client secret" in result.stdout
    assert json.loads((_data(home) / "tokens.json").read_text())["client_secret"] == SECRET


def test_force_prompt_new_secret_is_still_confirmed(home: Path) -> None:
    assert _run(FLAGS, env={"QBSYNC_CLIENT_SECRET": SECRET}).exit_code == 0
    new = "new-secret-value-77"
    # 7 Enters, then a new secret, a mismatching repeat, then the new secret twice
    answers = [""] * 7 + [new, "typo", new, new]
    result = _run(["init", "--force"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "do not match" in result.stderr
    assert result.stdout.count("Repeat for confirmation") == 2
    assert json.loads((_data(home) / "tokens.json").read_text())["client_secret"] == new
    assert new not in result.stdout + result.stderr


def test_force_prompt_dash_clears_an_optional_value(home: Path) -> None:
    path = _existing(home)
    answers = ["", "", "", "file", "", "", "-", SECRET, SECRET]
    result = _run(["init", "--force"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "invoices" not in tomllib.loads(path.read_text())["source"]


def test_force_over_a_broken_config_uses_what_parses(home: Path) -> None:
    path = _existing(home, EMULATOR_CONFIG.replace('client_id = "emu-client-1"', "client_id = 5"))
    result = _run(["init", "--force", "--yes"], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2  # the broken value is not kept, and --yes cannot ask for it
    assert "missing --client-id" in result.stderr
    assert "client_id = 5" in path.read_text()  # untouched
    result = _run(
        ["init", "--force", "--client-id", "fixed", "--token-store", "file", "--yes"],
        env={"QBSYNC_CLIENT_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.stderr
    doc = tomllib.loads(path.read_text())
    assert doc["qbo"]["client_id"] == "fixed"
    assert doc["qbo"]["environment"] == "http://127.0.0.1:4116"


def test_force_with_production_does_not_keep_a_loopback_redirect(home: Path) -> None:
    _existing(home)
    result = _run(
        ["init", "--force", "--environment", "production", "--yes"],
        env={"QBSYNC_CLIENT_SECRET": SECRET},
    )
    assert result.exit_code == 2
    assert (
        "Error: the current redirect_uri http://127.0.0.1:9123/cb is not allowed with production "
        "(https with a host name); pass --redirect-uri https://..."
    ) in result.stderr
    assert "missing --redirect-uri" not in result.stderr
    assert _config(home).read_text() == EMULATOR_CONFIG  # untouched
    args = ["init", "--force", "--environment", "production", "--yes", "--token-store", "file"]
    result = _run(
        [*args, "--redirect-uri", "https://example.com/cb"], env={"QBSYNC_CLIENT_SECRET": SECRET}
    )
    assert result.exit_code == 0, result.stderr
    assert (
        tomllib.loads(_config(home).read_text())["qbo"]["redirect_uri"] == "https://example.com/cb"
    )
    assert "not allowed" not in result.stdout  # replaced by a flag: nothing to note


def test_force_prompt_for_production_says_why_the_old_redirect_is_no_default(home: Path) -> None:
    _existing(home)
    answers = ["production", "", "https://example.com/cb", "file", "", "", "", SECRET, SECRET]
    result = _run(["init", "--force"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (
        "Note: the current redirect_uri http://127.0.0.1:9123/cb is not allowed with production"
        in result.stdout
    )
    assert (
        tomllib.loads(_config(home).read_text())["qbo"]["redirect_uri"] == "https://example.com/cb"
    )


def test_force_to_sandbox_notes_the_replaced_redirect(home: Path) -> None:
    _existing(home, EMULATOR_CONFIG.replace("http://127.0.0.1:9123/cb", "http://example.com/cb"))
    result = _run(
        ["init", "--force", "--environment", "sandbox", "--token-store", "file", "--yes"],
        env={"QBSYNC_CLIENT_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.stderr
    assert tomllib.loads(_config(home).read_text())["qbo"]["redirect_uri"] == (
        "http://localhost:8765/callback"
    )
    assert (
        "[qbo] redirect_uri http://example.com/cb is not allowed with sandbox; using "
        "http://localhost:8765/callback"
    ) in result.stdout


def test_force_yes_says_which_old_values_it_dropped(home: Path) -> None:
    bad = EMULATOR_CONFIG.replace('"http://127.0.0.1:4116"', '"staging"')
    bad = 'client_secret = "oops-not-shown"\n' + bad.replace("[tokens]", 'clientid = "x"\n[tokens]')
    path = _existing(home, bad)
    result = _run(
        ["init", "--force", "--token-store", "file", "--yes"],
        env={"QBSYNC_CLIENT_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.stderr
    doc = tomllib.loads(path.read_text())
    assert doc["qbo"]["environment"] == "sandbox" and "client_secret" not in doc
    notes = [line for line in result.stdout.splitlines() if line.startswith("Note:")]
    assert [" ".join(line.split()) for line in notes] == [
        "Note: removed client_secret from the config; rotate that secret if the file was "
        "ever shared",
        "Note: [qbo] environment 'staging' was not valid; using sandbox",
        "Note: removed [qbo] clientid: not a key qbsync reads",
        "Note: /srv/members.csv does not exist yet.",
    ]
    assert "oops-not-shown" not in result.stdout + result.stderr
    _assert_no_secret(result, home)


def test_force_over_a_clean_config_has_no_dropped_notes(home: Path) -> None:
    _existing(home)
    result = _run(
        ["init", "--force", "--token-store", "file", "--yes"],
        env={"QBSYNC_CLIENT_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.stderr
    assert "was not valid" not in result.stdout and "removed" not in result.stdout


def test_emulator_environment_with_a_path_exits_2_and_writes_nothing(home: Path) -> None:
    args = list(FLAGS)
    args[args.index("sandbox")] = "http://127.0.0.1:4291/v3"
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert (
        "Error: --environment: got 'http://127.0.0.1:4291/v3'; expected the emulator's base URL "
        "without a path, e.g. http://127.0.0.1:4291"
    ) in result.stderr
    assert not _config(home).exists()
    assert not (_data(home) / "tokens.json").exists()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--members", "-"], "--members"),
        (["--source", "http", "--base-url", "http://platform.example"], "--base-url"),
    ],
)
def test_a_value_load_config_refuses_names_its_flag(home: Path, args: list[str], flag: str) -> None:
    assert _run(FLAGS, env={"QBSYNC_CLIENT_SECRET": SECRET}).exit_code == 0
    before = _config(home).read_text()
    result = _run(["init", "--force", "--yes", *args], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert f"Next step: run this init again with a different value for {flag}" in result.stderr
    assert _config(home).read_text() == before


def test_report_lines_are_aligned_notes_too(home: Path) -> None:
    result = _run(FLAGS, env={"QBSYNC_CLIENT_SECRET": SECRET})  # members.csv does not exist
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "Config written", "Environment", "Token store", "Note", "Next step",
    ]  # fmt: skip
    columns = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines}
    assert columns == {len("Config written: ")}


def test_next_step_quotes_a_config_path_with_a_space(home: Path, tmp_path: Path) -> None:
    custom = tmp_path / "my configs" / "qb.toml"
    result = _run(["--config", str(custom), *FLAGS], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert custom.exists()
    assert f"Next step:      qbsync --config '{custom}' auth" in result.stdout


FULL_CONFIG = """\
[qbo]
environment = "http://127.0.0.1:4116"
client_id = "emu-client-1"
redirect_uri = "http://127.0.0.1:9123/cb"
batch_size = 20

[tokens]
store = "auto"

[source]
type = "csv"
members = "/srv/members.csv"
timeout_seconds = 45

[source.csv]
delimiter = ";"

[members]
create_missing = false
reactivate_inactive = false
update_display_name = true
display_name = "{last_name}, {first_name}"

[export]
days = [1, 15]
month_end = false
timezone = "America/Chicago"
statuses = ["pending", "open"]
doc_number = "source"
default_item = "Dues"
unmapped_items = "default"
default_tax_code = "TAX"
online_payment = ["card"]

[export.items]
DUES = "Membership Dues"

[export.tax_codes]
GST = "GST on Income"
"""


@pytest.mark.parametrize("yes", [False, True], ids=["no-terminal", "yes"])
def test_force_token_store_file_keeps_every_key_the_schema_knows(home: Path, yes: bool) -> None:
    # The issue: `init --force --token-store file` dropped every [members] and [export] key and
    # [qbo] batch_size as "not valid; left out": create_missing silently back on, the time zone
    # and the item mapping lost.
    path = _existing(home, FULL_CONFIG)
    before = tomllib.loads(FULL_CONFIG)
    args = ["init", "--force", "--token-store", "file", *(["--yes"] if yes else [])]
    result = _run(args, env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stdout + result.stderr
    after = tomllib.loads(path.read_text())
    assert after["tokens"] == {"store": "file"}  # the one change asked for
    before["tokens"] = after["tokens"]
    before["qbo"]["scopes"] = after["qbo"]["scopes"]  # init writes the default scopes out
    assert after == before
    assert "not valid" not in result.stdout and "left out" not in result.stdout
    config = load_config(path, profile="default", data_dir=_data(home))
    assert config.members.create_missing is False and config.qbo.batch_size == 20
    assert config.export.timezone == "America/Chicago"
    assert dict(config.export.items) == {"DUES": "Membership Dues"}


def test_force_drops_only_the_invalid_ones_of_the_other_keys(home: Path) -> None:
    text = FULL_CONFIG.replace("create_missing = false", 'create_missing = "no"')
    text = text.replace('timezone = "America/Chicago"', 'timezone = "Mars/Olympus"')
    path = _existing(home, text)
    result = _run(
        ["init", "--force", "--token-store", "file", "--yes"], env={"QBSYNC_CLIENT_SECRET": SECRET}
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    after = tomllib.loads(path.read_text())
    assert "create_missing" not in after["members"] and "timezone" not in after["export"]
    assert after["members"]["display_name"] == "{last_name}, {first_name}"
    assert after["export"]["items"] == {"DUES": "Membership Dues"}
    assert "[members] create_missing was not valid" in result.stdout
    assert "[export] timezone was not valid" in result.stdout


def test_force_to_another_source_type_drops_the_old_types_options(home: Path) -> None:
    path = _existing(home, FULL_CONFIG)
    args = ["init", "--force", "--source", "http", "--base-url", "https://platform.example/api"]
    result = _run([*args, "--yes"], env={"QBSYNC_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.stdout + result.stderr
    after = tomllib.loads(path.read_text())
    assert after["source"] == {
        "type": "http",
        "base_url": "https://platform.example/api",
        "timeout_seconds": 45,
    }
    assert after["members"]["create_missing"] is False
