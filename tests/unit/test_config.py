"""config.py: every validation names the file, the key and what is expected; secrets refused."""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from qbsync.cli.context import EMULATOR_TIME_SCALE_ENV, emulator_time_scale
from qbsync.config import (
    DEFAULT_EXPORT_DAYS,
    DEFAULT_SCOPES,
    KNOWN_KEYS,
    is_secret_key,
    load_config,
    set_hint_command,
    write_config,
)
from qbsync.errors import ConfigError, ExitCode, UsageError
from qbsync.qbo.client import QboClient
from qbsync.qbo.pacing import PaceLimits

GOOD = """\
[qbo]
environment = "sandbox"
client_id = "ABc123"
redirect_uri = "http://localhost:8765/callback"

[source]
type = "csv"
members = "members.csv"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _load(path: Path):  # type: ignore[no-untyped-def]
    return load_config(path, profile="default", data_dir=path.parent / "data")


def _error(tmp_path: Path, text: str) -> ConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        _load(path)
    assert str(path) in info.value.message  # every message names the file
    assert info.value.exit_code == ExitCode.USAGE
    return info.value


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    config = _load(path)
    assert config.qbo.client_id == "ABc123"
    assert config.qbo.scopes == DEFAULT_SCOPES
    assert config.qbo.minor_version == 75
    assert config.qbo.timeout_seconds == 120.0
    assert config.export.days == DEFAULT_EXPORT_DAYS
    assert config.token_store == "auto"
    assert config.qbo.endpoints.name == "sandbox"
    assert config.state_path == path.parent / "data" / "state.sqlite3"
    # relative csv paths resolve against the config file's folder, not the cwd
    assert config.source.members == path.parent.absolute() / "members.csv"
    assert config.source.invoices is None


def test_full_config_round_trips(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
[qbo]
environment = "http://127.0.0.1:4116"
client_id = "id"
redirect_uri = "http://127.0.0.1:9000/cb"
scopes = ["com.intuit.quickbooks.accounting", "openid", "openid"]
minor_version = 75
timeout_seconds = 12.5

[tokens]
store = "file"

[source]
type = "http"
base_url = "https://platform.example.com/api"
token_env = "MEMBERS_API_TOKEN"

[export]
days = [30, 1, 15, 1]
""",
    )
    config = _load(path)
    assert config.qbo.endpoints.loopback
    assert config.qbo.scopes == ("com.intuit.quickbooks.accounting", "openid")
    assert config.qbo.timeout_seconds == 12.5
    assert config.token_store == "file"
    assert config.source.base_url == "https://platform.example.com/api"
    assert config.source.token_env == "MEMBERS_API_TOKEN"
    assert config.export.days == (1, 15, 30)


def test_missing_file_suggests_init(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        _load(missing)
    assert str(missing) in info.value.message
    assert f"qbsync --config {missing} init" in (info.value.hint or "")
    assert "profiles found" not in info.value.message  # not the default config folder


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    err = _error(tmp_path, '[qbo]\nclient_id = "x"\nenvironment = sandbox\n')
    assert "line 3" in err.message


@pytest.mark.parametrize(
    ("snippet", "key", "expectation"),
    [
        ("client_id = 5\n", "[qbo] client_id", "expected a string"),
        ('client_id = "a b"\n', "[qbo] client_id", "without spaces"),
        ('client_id = "x"\nminor_version = "75"\n', "[qbo] minor_version", "integer"),
        ('client_id = "x"\nminor_version = 70\n', "[qbo] minor_version", ">= 75"),
        ('client_id = "x"\nminor_version = true\n', "[qbo] minor_version", "integer"),
        ('client_id = "x"\ntimeout_seconds = 0\n', "[qbo] timeout_seconds", "(0, 600]"),
        ('client_id = "x"\ntimeout_seconds = "60"\n', "[qbo] timeout_seconds", "number"),
        ('client_id = "x"\nscopes = []\n', "[qbo] scopes", "at least one scope"),
        ('client_id = "x"\nscopes = "openid"\n', "[qbo] scopes", "list of strings"),
        ('client_id = "x"\nscopes = ["accounting"]\n', "[qbo] scopes", "known scopes"),
        ('client_id = "x"\nclientid = "y"\n', "[qbo] clientid", "known keys: environment"),
        ('client_id = "x"\nredirect_uri = "ftp://x/cb"\n', "[qbo] redirect_uri", "http(s) URL"),
        (
            'client_id = "x"\nredirect_uri = "http://localhost:99999/cb"\n',
            "[qbo] redirect_uri",
            "port",
        ),
        (
            'client_id = "x"\nredirect_uri = "http://example.com/cb"\n',
            "[qbo] redirect_uri",
            "only for localhost",
        ),
        (
            'client_id = "x"\nenvironment = "production"\nredirect_uri = "http://localhost:8765/cb"\n',
            "[qbo] redirect_uri",
            "https redirect URI",
        ),
        (
            'client_id = "x"\nenvironment = "production"\nredirect_uri = "https://10.0.0.1/cb"\n',
            "[qbo] redirect_uri",
            "no IP",
        ),
        ('client_id = "x"\nenvironment = "staging"\n', "[qbo] environment", "sandbox"),
        (
            'client_id = "x"\nenvironment = "http://example.com"\n',
            "[qbo] environment",
            "loopback",
        ),
    ],
)
def test_qbo_validation_messages(tmp_path: Path, snippet: str, key: str, expectation: str) -> None:
    err = _error(tmp_path, "[qbo]\n" + snippet + '[source]\ntype = "csv"\nmembers = "m.csv"\n')
    assert key in err.message
    assert expectation in err.message


def test_missing_client_id(tmp_path: Path) -> None:
    err = _error(tmp_path, '[qbo]\n[source]\ntype = "csv"\nmembers = "m.csv"\n')
    assert "[qbo] client_id" in err.message and "required" in err.message


@pytest.mark.parametrize(
    ("body", "key", "expectation"),
    [
        ('[tokens]\nstore = "vault"\n', "[tokens] store", "auto, keyring, file"),
        ("[export]\ndays = [0, 5]\n", "[export] days", "1 to 31"),
        ("[export]\ndays = [32]\n", "[export] days", "1 to 31"),
        ("[export]\ndays = []\n", "[export] days", "non-empty"),
        ('[export]\ndays = ["5"]\n', "[export] days", "days of the month"),
        ("[export]\nday = [5]\n", "[export] day", "known keys: days"),
        ("[exports]\ndays = [5]\n", "'exports'", "known tables: [qbo], [tokens]"),
    ],
)
def test_other_tables(tmp_path: Path, body: str, key: str, expectation: str) -> None:
    err = _error(tmp_path, GOOD + body)
    assert key in err.message
    assert expectation in err.message


@pytest.mark.parametrize(
    ("source", "key", "expectation"),
    [
        ('type = "ftp"\n', "[source] type", "csv, http"),
        ('type = "csv"\n', "[source] members", "required"),
        ('type = "csv"\nmembers = "m.csv"\nbase_url = "https://x"\n', "[source] base_url", "not used"),
        ('type = "http"\n', "[source] base_url", "required"),
        ('type = "http"\nbase_url = "http://platform.example.com"\n', "[source] base_url", "https"),
        ('type = "http"\nbase_url = "https://x.example"\nmembers = "m.csv"\n', "[source] members", "not used"),
        ('type = "http"\nbase_url = "https://x.example"\ntoken_env = "1BAD-NAME"\n', "[source] token_env", "NAME of an environment variable"),
    ],
)  # fmt: skip
def test_source_validation(tmp_path: Path, source: str, key: str, expectation: str) -> None:
    err = _error(tmp_path, '[qbo]\nclient_id = "x"\n[source]\n' + source)
    assert key in err.message
    assert expectation in err.message


def test_http_source_on_loopback_allows_plain_http(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[qbo]\nclient_id = "x"\n[source]\ntype = "http"\nbase_url = "http://127.0.0.1:8000"\n',
    )
    assert _load(path).source.token_env is None


def test_token_env_value_not_echoed(tmp_path: Path) -> None:
    token = "abc.def-ghi-looks-like-a-token"
    err = _error(
        tmp_path,
        f'[qbo]\nclient_id = "x"\n[source]\ntype = "http"\nbase_url = "https://x.example"\n'
        f'token_env = "{token}"\n',
    )
    assert token not in err.message


def test_missing_source_table(tmp_path: Path) -> None:
    err = _error(tmp_path, '[qbo]\nclient_id = "x"\n')
    assert "[source]" in err.message


@pytest.mark.parametrize(
    ("where", "line", "advice"),
    [
        ("qbo", 'client_secret = "hunter2-very-secret"', "QBSYNC_CLIENT_SECRET"),
        ("qbo", 'refresh_token = "hunter2-very-secret"', "qbsync auth"),
        ("qbo", 'access_token = "hunter2-very-secret"', "qbsync auth"),
        ("source", 'token = "hunter2-very-secret"', "[source] token_env"),
        ("source", 'password = "hunter2-very-secret"', "[source] token_env"),
        ("tokens", 'secret = "hunter2-very-secret"', "QBSYNC_CLIENT_SECRET"),
        ("tokens", 'password = "hunter2-very-secret"', "needs no password"),
        ("source", 'api_token = "hunter2-very-secret"', "[source] token_env"),
        ("qbo", 'api_key = "hunter2-very-secret"', "[source] token_env"),
    ],
)
def test_secrets_are_refused_without_echo(
    tmp_path: Path, where: str, line: str, advice: str
) -> None:
    if f"[{where}]" in GOOD:
        text = GOOD.replace(f"[{where}]\n", f"[{where}]\n{line}\n")
    else:
        text = GOOD + f"\n[{where}]\n{line}\n"
    err = _error(tmp_path, text)
    key = line.split(" = ")[0]
    assert f"[{where}] {key}: the config file must not hold secrets; " in err.message
    assert advice in err.message  # the advice fits the key: an API key is not the client secret
    if advice != "QBSYNC_CLIENT_SECRET":
        assert (
            "client secret belongs" not in err.message and "QBSYNC_CLIENT_SECRET" not in err.message
        )
    assert "hunter2-very-secret" not in err.message
    assert "hunter2-very-secret" not in (err.hint or "")


def test_secret_in_nested_or_unknown_table_is_refused_first(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD + '\n[extra.inner]\nclient_secret = "zzzzzzzz"\n')
    assert "[extra.inner] client_secret" in err.message
    assert "zzzzzzzz" not in err.message


def test_secret_key_names() -> None:
    assert not is_secret_key("token_env")
    assert not is_secret_key("store")
    assert not is_secret_key("client_id")
    assert is_secret_key("Client-Secret")
    assert is_secret_key("token")


def test_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, GOOD)
    monkeypatch.setenv("QBSYNC_ENVIRONMENT", "http://127.0.0.1:4116")
    config = _load(path)
    assert config.qbo.environment == "http://127.0.0.1:4116"
    assert config.qbo.endpoints.token_url == "http://127.0.0.1:4116/oauth2/v1/tokens/bearer"
    monkeypatch.setenv("QBSYNC_ENVIRONMENT", "bogus")
    with pytest.raises(ConfigError) as info:
        _load(path)
    assert "QBSYNC_ENVIRONMENT" in info.value.message


def test_config_dataclasses_are_frozen(tmp_path: Path) -> None:
    config = _load(_write(tmp_path, GOOD))
    with pytest.raises(AttributeError):
        config.qbo.client_id = "other"  # type: ignore[misc]


# -- write_config ------------------------------------------------------------------------------

VALUES = {
    "qbo": {"environment": "sandbox", "client_id": "id1"},
    "source": {"type": "csv", "members": "m.csv"},
}


def test_write_config_creates_parents_and_is_loadable(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "config.toml"
    write_config(path, VALUES, force=False)
    assert tomllib.loads(path.read_text())["qbo"]["client_id"] == "id1"
    assert _load(path).qbo.client_id == "id1"
    assert not stat.S_IMODE(path.stat().st_mode) & 0o022  # nobody else can change it
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left


def test_write_config_refuses_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("original")
    with pytest.raises(UsageError) as info:
        write_config(path, VALUES, force=False)
    assert "--force" in (info.value.hint or "")
    assert path.read_text() == "original"
    write_config(path, VALUES, force=True)
    assert "id1" in path.read_text()


def test_write_config_refuses_secrets(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    values = {"qbo": {"client_id": "x", "client_secret": "s3cr3t-value"}}
    with pytest.raises(ConfigError) as info:
        write_config(path, values, force=False)
    assert "s3cr3t-value" not in info.value.message
    assert not path.exists()


def test_write_config_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "conf" / "config.toml"
    write_config(path, VALUES, force=False)
    before = path.read_text()

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ConfigError) as info:
        write_config(path, {**VALUES, "export": {"days": [1]}}, force=True)
    assert "No space left" in info.value.message
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


# -- config.example.toml -----------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_example_config_loads_and_documents_every_key(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, profile="default", data_dir=tmp_path)
    assert config.source.members == EXAMPLE.parent / "members.csv"
    text = EXAMPLE.read_text()
    for table, keys in KNOWN_KEYS.items():
        assert f"[{table}]" in text
        for key in keys:
            documented = f"{key} = " in text or f"[{table}.{key}]" in text
            assert documented, f"[{table}] {key} is not documented in {EXAMPLE.name}"
    assert config.export.items == {"mailbox-monthly": "Mailbox rental"}
    assert config.export.tax_codes == {"standard": "TAX"}
    assert config.members.display_name == "{first_name} {last_name}"


def test_write_config_leaves_out_none_values(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.toml"
    values = {
        "qbo": {"client_id": "id1", "redirect_uri": None},
        "source": {"type": "csv", "members": "m.csv", "invoices": None},
    }
    write_config(path, values, force=False)
    doc = tomllib.loads(path.read_text())
    assert "invoices" not in doc["source"] and "redirect_uri" not in doc["qbo"]
    with pytest.raises(ConfigError):
        write_config(path, {"qbo": {"when": object()}}, force=True)
    assert tomllib.loads(path.read_text()) == doc  # the failed write left the file alone


# -- message format: `FILE: [table] key: what is wrong; expected ...` + a next step ------------


@pytest.mark.parametrize(
    ("env", "got"),
    [
        ("staging", "expected sandbox, production or an emulator base URL"),
        ("http://example.com", "expected https for any other host"),
    ],
)
def test_environment_error_follows_the_format(tmp_path: Path, env: str, got: str) -> None:
    err = _error(tmp_path, GOOD.replace('"sandbox"', f'"{env}"'))
    path = tmp_path / "conf" / "config.toml"
    assert err.message.startswith(f"{path}: [qbo] environment: got '{env}'")
    assert got in err.message
    assert err.hint is not None and f"edit {path}" in err.hint and "init --force" in err.hint


def test_environment_override_error_names_file_key_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, GOOD)
    monkeypatch.setenv("QBSYNC_ENVIRONMENT", "bogus")
    with pytest.raises(ConfigError) as info:
        _load(path)
    assert info.value.message.startswith(
        f"{path}: [qbo] environment (overridden by QBSYNC_ENVIRONMENT): got 'bogus'; expected"
    )
    assert info.value.hint == "fix or unset QBSYNC_ENVIRONMENT"


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ('[qbo]\nclient_id = "x"\n', "[source]: missing table"),
        (GOOD + "[exports]\n", "'exports': unknown table or key"),
        (GOOD.replace('client_id = "ABc123"', "client_id = 5"), "[qbo] client_id: expected"),
        ("[qbo\n", "invalid TOML"),
    ],
)
def test_every_config_error_names_file_first_and_has_a_next_step(
    tmp_path: Path, text: str, start: str
) -> None:
    err = _error(tmp_path, text)
    assert err.message.startswith(f"{tmp_path / 'conf' / 'config.toml'}: {start}")
    assert err.hint is not None and "edit " in err.hint


def test_missing_default_config_lists_other_profiles(isolated_env: Path) -> None:
    set_hint_command(None)  # no CLI invocation: the engine's own wording
    folder = isolated_env / ".config" / "qbsync"
    folder.mkdir(parents=True)
    (folder / "acme.toml").write_text(GOOD)
    (folder / "zeta.toml").write_text(GOOD)
    with pytest.raises(ConfigError) as info:
        load_config(folder / "config.toml", profile="default", data_dir=isolated_env / "d")
    assert info.value.message.endswith("; profiles found: acme, zeta")
    # the next step is the same command with each profile found (engine use: "...")
    assert info.value.hint == (
        "run `qbsync --profile acme ...` or `qbsync --profile zeta ...` "
        "(or `qbsync init` to create this profile's config)"
    )
    # and from a named profile, the default one is listed by its name
    (folder / "config.toml").write_text(GOOD)
    with pytest.raises(ConfigError) as info:
        load_config(folder / "other.toml", profile="other", data_dir=isolated_env / "d")
    assert "profiles found: acme, default, zeta" in info.value.message
    assert "`qbsync --profile other init`" in (info.value.hint or "")


def test_missing_config_without_other_profiles_says_nothing_more(isolated_env: Path) -> None:
    path = isolated_env / ".config" / "qbsync" / "config.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, profile="default", data_dir=isolated_env / "d")
    assert info.value.message == f"no config file at {path}"
    assert info.value.hint == "run `qbsync init` to create one (or pass --config PATH)"


def test_missing_explicit_config_does_not_suggest_passing_config(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        _load(missing)
    assert info.value.hint == f"run `qbsync --config {missing} init` to create it (or fix the path)"
    assert "pass --config" not in info.value.hint


def test_missing_config_hint_repeats_the_command_with_the_profile(isolated_env: Path) -> None:
    folder = isolated_env / ".config" / "qbsync"
    folder.mkdir(parents=True)
    (folder / "acme.toml").write_text(GOOD)
    set_hint_command("status")
    try:
        with pytest.raises(ConfigError) as info:
            load_config(folder / "config.toml", profile="default", data_dir=isolated_env / "d")
    finally:
        set_hint_command(None)
    assert (info.value.hint or "").startswith("run `qbsync --profile acme status` (or ")


# -- existing_values (`qbsync init --force` starts from them) ----------------------------------


def test_existing_values_keeps_what_is_valid(tmp_path: Path) -> None:
    from qbsync.config.write import existing_values

    path = _write(
        tmp_path,
        """\
[qbo]
environment = "http://127.0.0.1:4116"
client_id = "ABc123"
redirect_uri = "http://127.0.0.1:9000/cb"
scopes = ["openid", "bogus"]
minor_version = 80
client_secret = "never-copied-1"

[tokens]
store = "vault"

[source]
type = "csv"
members = "m.csv"

[export]
days = [1, 15]
""",
    )
    values = existing_values(path)
    assert values["qbo"] == {
        "environment": "http://127.0.0.1:4116",
        "client_id": "ABc123",
        "redirect_uri": "http://127.0.0.1:9000/cb",
        "minor_version": 80,
    }  # bad scopes and the secret left out
    assert "tokens" not in values  # "vault" is not a store
    assert values["source"] == {"type": "csv", "members": str(path.parent.absolute() / "m.csv")}
    assert values["export"] == {"days": [1, 15]}


@pytest.mark.parametrize("text", ["[qbo\n", "\xff", ""])
def test_existing_values_of_a_broken_file_is_empty(tmp_path: Path, text: str) -> None:
    from qbsync.config.write import existing_values

    assert existing_values(_write(tmp_path, text)) == {}
    assert existing_values(tmp_path / "missing.toml") == {}


def test_dropped_values_names_each_lost_key_without_secret_values(tmp_path: Path) -> None:
    from qbsync.config.write import dropped_values

    path = tmp_path / "config.toml"
    path.write_text(
        'api_key = "k-123"\n'
        '[qbo]\nenvironment = "staging"\nclient_id = "ok"\nminor_version = 3\n'
        '[qbo.extra]\nrefresh_token = "r-456"\n'
        '[source]\ntype = "csv"\nmembers = "m.csv"\ntoken_env = "not a name"\n'
        "[mystery]\nx = 1\n"
    )
    dropped = dropped_values(path)
    assert [(d.where, d.reason, d.shown) for d in dropped] == [
        ("api_key", "secret", None),
        ("[qbo] environment", "invalid", "'staging'"),
        ("[qbo] minor_version", "invalid", "3"),
        ("[qbo] extra", "secret", None),
        ("[source] token_env", "invalid", None),  # may be a pasted token: never quoted
        ("[mystery] x", "unknown", None),
    ]
    assert dropped_values(tmp_path / "missing.toml") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4291/v3",
        "http://127.0.0.1:4291/v3/",
        "http://localhost:4291?x=1",
        "http://127.0.0.1:4291#top",
    ],
)
def test_emulator_url_with_a_path_is_refused(tmp_path: Path, url: str) -> None:
    from qbsync.config import environment_problem
    from qbsync.config.endpoints import endpoints_for

    expected = (
        f"got {url!r}; expected the emulator's base URL without a path, e.g. "
        + url.split("/v3")[0].split("?")[0].split("#")[0]
    )
    assert environment_problem(url) == expected
    err = _error(tmp_path, GOOD.replace('environment = "sandbox"', f'environment = "{url}"'))
    assert err.message.endswith(f"[qbo] environment: {expected}")
    with pytest.raises(ConfigError, match="without a path"):
        endpoints_for(url)  # the shared resolver never builds .../v3/v3


@pytest.mark.parametrize("url", ["http://127.0.0.1:4291", "http://127.0.0.1:4291/"])
def test_emulator_base_url_is_accepted(url: str) -> None:
    from qbsync.config import environment_problem
    from qbsync.config.endpoints import endpoints_for

    assert environment_problem(url) is None
    assert endpoints_for(url).api_base == "http://127.0.0.1:4291/v3"


def test_missing_config_hint_quotes_a_path_with_a_space(tmp_path: Path) -> None:
    missing = tmp_path / "my configs" / "qb.toml"
    with pytest.raises(ConfigError) as info:
        _load(missing)
    assert f"`qbsync --config '{missing}' init`" in (info.value.hint or "")


# -- [members], [export] and source plugins --------------------------------------------------


def test_members_and_export_defaults(tmp_path: Path) -> None:
    config = _load(_write(tmp_path, GOOD))
    assert config.members.create_missing and config.members.reactivate_inactive
    assert not config.members.update_display_name
    assert config.export.statuses == ("pending",) and config.export.doc_number == "auto"
    assert config.export.unmapped_items == "fail" and config.export.month_end
    assert config.export.timezone is None and config.qbo.batch_size == 30


@pytest.mark.parametrize(
    ("extra", "where", "expected"),
    [
        ('[members]\ndisplay_name = "{nickname}"\n', "[members] display_name", "unknown field"),
        ("[members]\ncreate_missing = 1\n", "[members] create_missing", "true or false"),
        ('[export]\ntimezone = "Mars/Olympus"\n', "[export] timezone", "unknown time zone"),
        ('[export]\ndoc_number = "guess"\n', "[export] doc_number", "auto, source, qbo"),
        ('[export]\nonline_payment = ["cash"]\n', "[export] online_payment", "card, ach"),
        ("[export.items]\nx = 3\n", "[export.items] x", "QBO name"),
        ('[export]\nunmapped_items = "skip"\n', "[export] unmapped_items", "fail, default"),
    ],
)
def test_members_and_export_values_are_checked(
    tmp_path: Path, extra: str, where: str, expected: str
) -> None:
    error = _error(tmp_path, GOOD + extra)
    assert where in error.message and expected in error.message


def test_batch_size_is_capped_at_qbo_limit(tmp_path: Path) -> None:
    text = GOOD.replace('client_id = "ABc123"', 'client_id = "ABc123"\nbatch_size = 31')
    assert "at most 30" in _error(tmp_path, text).message
    ok = _load(
        _write(tmp_path, GOOD.replace('client_id = "ABc123"', 'client_id = "A"\nbatch_size = 10'))
    )
    assert ok.qbo.batch_size == 10


def _with_batch_pace(value: int) -> str:
    return GOOD.replace('client_id = "ABc123"', f'client_id = "ABc123"\nbatch_per_minute = {value}')


def test_batch_per_minute_defaults_to_the_pacer_s_share_of_intuit_s_40(tmp_path: Path) -> None:
    # Intuit: 40 batch requests a minute per realm and app (qbo-facts.md "Batch").
    assert _load(_write(tmp_path, GOOD)).qbo.batch_per_minute == PaceLimits().batches_per_minute
    assert _load(_write(tmp_path, _with_batch_pace(12))).qbo.batch_per_minute == 12
    assert _load(_write(tmp_path, _with_batch_pace(40))).qbo.batch_per_minute == 40


def test_batch_per_minute_above_40_warns_and_above_120_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="qbsync"):
        assert _load(_write(tmp_path, _with_batch_pace(40))).qbo.batch_per_minute == 40
        assert not caplog.records
        assert _load(_write(tmp_path, _with_batch_pace(60))).qbo.batch_per_minute == 60
    [warning] = caplog.records
    assert "[qbo] batch_per_minute = 60" in warning.getMessage()
    assert "40 batch requests a minute per app" in warning.getMessage()
    assert "at most 120" in _error(tmp_path, _with_batch_pace(121)).message
    assert "[qbo] batch_per_minute" in _error(tmp_path, _with_batch_pace(0)).message


def test_the_client_paces_batches_as_configured(tmp_path: Path) -> None:
    config = _load(_write(tmp_path, _with_batch_pace(20)))
    tokens = SimpleNamespace(realm_id="9130355")  # the client reads only the realm when built
    client = QboClient(config.qbo, tokens, data_dir=tmp_path / "data")  # type: ignore[arg-type]
    pacer = client.session.pacer
    assert pacer.limits.batches_per_minute == 20 and pacer.limits.time_scale == 1.0
    assert pacer.shared is not None
    assert pacer.shared.path == tmp_path / "data" / "pacer-9130355.log"
    alone = QboClient(config.qbo, tokens)  # type: ignore[arg-type]
    assert alone.session.pacer.shared is None


def test_the_emulator_time_scale_never_shortens_intuit_s_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EMULATOR_TIME_SCALE_ENV, "10")
    sandbox = _load(_write(tmp_path, GOOD))
    assert emulator_time_scale(sandbox) == 1.0
    emulator = _load(_write(tmp_path, GOOD.replace('"sandbox"', '"http://127.0.0.1:4116"')))
    assert emulator_time_scale(emulator) == 10.0
    monkeypatch.setenv(EMULATOR_TIME_SCALE_ENV, "nan")
    with pytest.raises(UsageError, match=EMULATOR_TIME_SCALE_ENV):
        emulator_time_scale(emulator)


def test_export_mappings_and_timezone_load(tmp_path: Path) -> None:
    text = GOOD + (
        '[export]\ntimezone = "Europe/Paris"\nstatuses = ["Pending", "open"]\n'
        '[export.items]\n"mailbox-1" = "Mailbox rental"\n[export.tax_codes]\nstd = "TAX"\n'
    )
    export = _load(_write(tmp_path, text)).export
    assert export.timezone == "Europe/Paris" and export.statuses == ("pending", "open")
    assert export.items == {"mailbox-1": "Mailbox rental"} and export.tax_codes == {"std": "TAX"}


def test_source_options_table_and_unknown_plugin(tmp_path: Path) -> None:
    text = GOOD + '[source.csv]\ndelimiter = ";"\n'
    assert dict(_load(_write(tmp_path, text)).source.options) == {"delimiter": ";"}
    stray = GOOD + "[source.http]\npage_size = 5\n"
    assert "[source.http]" in _error(tmp_path, stray).message
    plugin = GOOD.replace('type = "csv"\nmembers = "members.csv"', 'type = "myplatform"')
    error = _error(tmp_path, plugin)
    assert "no source plugin named 'myplatform'" in error.message
    assert "qbsync.sources" in error.message
