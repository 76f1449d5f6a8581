"""`qbsync status`: offline report, --json, --check (refreshing through the emulator), exit 3."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qbsync.auth.credentials import TokenSet, open_store
from qbsync.auth.token_endpoint import token_set_from_response
from qbsync.auth.tokens import ISSUER_META_KEY, record_issuer
from qbsync.cli.main import cli
from qbsync.config import Config, ExportConfig, QboConfig, SourceConfig
from qbsync.config.endpoints import endpoints_for
from qbsync.emulator import Emulator
from qbsync.paths import user_config_dir
from qbsync.state.db import State
from qbsync.status import build_status

CLIENT_ID = "status-test-client"
CLIENT_SECRET = "status-test-secret-4d3c2b1a"
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def write_config(emulator_config: Any) -> Callable[..., Path]:
    """The emulator config and secret for these tests; the profile's data folder."""

    def write(emu: Any, store: str = "file") -> Path:
        setup = emulator_config(
            emu,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri="http://localhost:45219/callback",
            store=store,
            timeout_seconds=None,
        )
        return Path(setup.data_dir)

    return write


def connect(emu: Any, data_dir: Path, store: str = "file", **changes: Any) -> TokenSet:
    """Tokens from the emulator (no browser), stored, and the state bound, as `auth` leaves them."""
    body = emu.issue_tokens(CLIENT_ID)
    tokens = token_set_from_response(body, realm_id=body["realmId"], now=datetime.now(UTC))
    tokens = replace(tokens, **changes)
    open_store(store, profile="default", data_dir=data_dir).save_tokens(tokens)
    with State.open(data_dir / "state.sqlite3") as state:
        state.bind_realm(tokens.realm_id, now=NOW, company_name="Sunrise Mailbox Co (emulated)")
        record_issuer(state, endpoints_for(emu.base_url))  # as `auth` does
    return tokens


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def stored(data_dir: Path) -> TokenSet:
    tokens = open_store("file", profile="default", data_dir=data_dir).load_tokens()
    assert tokens is not None
    return tokens


def test_not_connected_exits_3(write_config: Callable[..., Path], emulator: Any) -> None:
    data_dir = write_config(emulator)
    result = run("status")
    assert result.exit_code == 3
    assert "no tokens stored" in result.stderr
    as_json = run("status", "--json")
    assert as_json.exit_code == 3
    doc = json.loads(as_json.stdout)
    assert doc["connected"] is False
    assert doc["realm_id"] is None
    assert not (data_dir / "state.sqlite3").exists()  # status only looks


def test_connected_offline_report_makes_no_request(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    data_dir = write_config(emulator)
    tokens = connect(emulator, data_dir)
    before = len(emulator.requests())
    result = run("status")
    assert result.exit_code == 0, result.stderr
    for text in (
        "Sunrise Mailbox Co (emulated)",
        emulator.realm_id,
        "file",
        str(data_dir),
        emulator.base_url + "/v3",
        "2026-01-10 12:00 UTC",
    ):
        assert text in result.stdout
    assert len(emulator.requests()) == before
    assert tokens.access_token not in result.stdout + result.stderr


def test_json_has_stable_keys_and_iso_times(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    data_dir = write_config(emulator)
    tokens = connect(emulator, data_dir)
    result = run("status", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert set(doc) == {
        "ok", "exit_code", "error", "hint",
        "profile", "config_path", "environment", "tokens_stored", "tokens_issued_by",
        "connected", "reason", "realm_id",
        "company_name", "enabled_at", "token_store", "access_token_expires_at",
        "refresh_token_expires_at", "refresh_token_hard_expires_at", "warnings", "check",
        "members", "invoices",
    }  # fmt: skip
    assert doc["members"] == {"linked": 0, "by_status": {}, "problems": []}
    assert doc["invoices"]["exported"] == 0 and doc["invoices"]["next_export_day"]
    assert doc["environment"] == {
        "name": "emulator", "api_base": emulator.base_url + "/v3", "source": "config",
    }  # fmt: skip
    # Offline, only the stored tokens are known: not "connected: true".
    assert (doc["ok"], doc["exit_code"], doc["tokens_stored"]) == (True, 0, True)
    assert doc["connected"] is None and doc["check"] is None
    assert doc["tokens_issued_by"] == emulator.base_url + "/v3"
    assert doc["token_store"]["kind"] == "file"
    assert doc["enabled_at"] == "2026-01-10T12:00:00+00:00"
    assert doc["realm_id"] == emulator.realm_id
    assert datetime.fromisoformat(
        doc["access_token_expires_at"]
    ) == tokens.access_expires_at.replace(microsecond=0)
    assert datetime.fromisoformat(doc["refresh_token_hard_expires_at"]).tzinfo is not None
    assert doc["warnings"] == []
    assert "[/" not in result.stdout and "[bold" not in result.stdout  # no rich markup


def test_refresh_expiry_soon_warns(write_config: Callable[..., Path], emulator: Any) -> None:
    data_dir = write_config(emulator)
    connect(emulator, data_dir, refresh_expires_at=datetime.now(UTC) + timedelta(days=5))
    result = run("status")
    assert result.exit_code == 0
    assert "refresh token expires in" in result.stderr
    doc = json.loads(run("status", "--json").stdout)
    assert len(doc["warnings"]) == 1


def test_expired_refresh_token_is_not_connected(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    data_dir = write_config(emulator)
    connect(emulator, data_dir, refresh_expires_at=datetime.now(UTC) - timedelta(days=1))
    result = run("status", "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert "expired" in doc["reason"] and doc["hint"] == "run `qbsync auth`"
    assert (doc["connected"], doc["tokens_stored"], doc["exit_code"]) == (False, True, 3)


def test_check_refreshes_expired_access_token_and_persists_rotation(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    data_dir = write_config(emulator)
    old = connect(emulator, data_dir, access_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    result = run("-vv", "status", "--check", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["check"]["ok"] is True
    assert doc["check"]["company_name"] == "Sunrise Mailbox Co (emulated)"
    new = stored(data_dir)
    assert new.refresh_token != old.refresh_token
    assert new.access_token != old.access_token
    assert emulator.token_state(new.access_token) == "active"
    everything = result.stdout + result.stderr
    for secret in (
        CLIENT_SECRET,
        old.access_token,
        old.refresh_token,
        new.access_token,
        new.refresh_token,
    ):
        assert secret not in everything


def test_check_with_revoked_grant_exits_3_saying_run_auth(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    import requests

    data_dir = write_config(emulator)
    tokens = connect(emulator, data_dir)
    revoked = requests.post(
        emulator.base_url + "/v2/oauth2/tokens/revoke",
        json={"token": tokens.refresh_token},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    assert revoked.status_code == 200
    result = run("status", "--check")
    assert result.exit_code == 3
    assert "run `qbsync auth`" in result.stdout + result.stderr
    doc = json.loads(run("status", "--check", "--json").stdout)
    assert doc["connected"] is False and doc["check"]["ok"] is False


def test_keyring_store_is_reported(
    write_config: Callable[..., Path], emulator: Any, fake_keyring: Any
) -> None:
    data_dir = write_config(emulator, store="keyring")
    connect(emulator, data_dir, store="keyring")
    doc = json.loads(run("status", "--json").stdout)
    assert doc["token_store"]["kind"] == "keyring"
    assert doc["tokens_stored"] is True and doc["ok"] is True


def _config() -> Config:
    return Config(
        path=Path("/c.toml"),
        profile="default",
        data_dir=Path("/d"),
        qbo=QboConfig("sandbox", "cid", "http://localhost:1/cb", ("a",), 75, 60.0),
        token_store="file",
        source=SourceConfig("csv", None, None, None, None),
        export=ExportConfig((5,)),
    )


@pytest.mark.parametrize(
    ("hard_days", "rolling_days", "warnings"),
    [(1000, 90, 0), (10, 12, 2), (1000, 13, 1), (10, 90, 1)],
)
def test_build_status_warnings(hard_days: int, rolling_days: int, warnings: int) -> None:
    tokens = TokenSet(
        realm_id="1",
        access_token="acc-pure-1",
        refresh_token="ref-pure-1",
        access_expires_at=NOW + timedelta(hours=1),
        refresh_expires_at=NOW + timedelta(days=rolling_days),
        refresh_hard_expires_at=NOW + timedelta(days=hard_days),
        obtained_at=NOW,
    )
    status = build_status(
        _config(), store_kind="file", store_location="/d/tokens.json", tokens=tokens,
        meta={"realm_id": "1"}, now=NOW,
    ).to_dict()  # fmt: skip
    assert status["tokens_stored"] is True and status["connected"] is None
    assert status["exit_code"] == 0
    assert len(status["warnings"]) == warnings
    assert status["environment"]["api_base"] == "https://sandbox-quickbooks.api.intuit.com/v3"
    assert "acc-pure-1" not in json.dumps(status)


def test_build_status_realm_mismatch_warns() -> None:
    status = build_status(
        _config(), store_kind="file", store_location="x", tokens=None,
        meta={"realm_id": "2"}, now=NOW,
    ).to_dict()  # fmt: skip
    assert status["connected"] is False
    assert status["realm_id"] == "2"


@pytest.mark.parametrize(
    ("edit", "key", "unwanted"),
    [
        (lambda t: t + '\n[export]\ndays = [0, 40]\n', "[export] days", None),
        (lambda t: t.replace("[tokens]", 'client_secret = "cs-in-config-9z"\n\n[tokens]'),
         "[qbo] client_secret", "cs-in-config-9z"),
        (lambda t: t.replace('store = "file"', 'store = "vault"'), "[tokens] store", None),
        (lambda t: t + "[qbo\n", "invalid TOML", None),
    ],
)  # fmt: skip
def test_config_errors_exit_2_naming_file_and_key(
    write_config: Callable[..., Path], emulator: Any, edit: Any, key: str, unwanted: str | None
) -> None:
    write_config(emulator)
    path = user_config_dir() / "config.toml"
    path.write_text(edit(path.read_text()))
    for args in (["status"], ["status", "--json"], ["auth", "--no-browser"], ["disconnect"]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert str(path) in result.stderr and key in result.stderr
        assert "Traceback" not in result.stderr
        if "--json" in args:  # exactly one JSON object, also on errors
            doc = json.loads(result.stdout)
            assert doc["ok"] is False and doc["exit_code"] == 2 and key in doc["error"]
            assert set(doc) == {"ok", "error", "exit_code", "hint"}
            if unwanted:
                assert unwanted not in result.stdout
        else:
            assert result.stdout == ""
        if unwanted:
            assert unwanted not in result.stderr


CHECK_KEYS = {"ok", "company_name", "country", "error", "exit_code", "hint"}


def test_offline_status_says_tokens_are_stored_not_that_they_work(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    data_dir = write_config(emulator)
    tokens = connect(emulator, data_dir)
    result = run("status")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("Tokens stored") and line.endswith("yes (not checked; --check tests them)")
        for line in lines
    ), result.stdout
    assert not any(line.startswith("Connected") for line in lines)
    assert all(line == line.rstrip() for line in lines)  # no table padding into a pipe
    assert tokens.access_token not in result.stdout


def test_check_with_qbo_unreachable_exits_1_and_keeps_the_tokens_stored(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    data_dir = write_config(emulator)
    tokens = connect(emulator, data_dir)
    base_url = emulator.base_url
    emulator.stop()  # QBO (the emulator) is down; the tokens are fine
    result = run("status", "--check")
    assert result.exit_code == 1, result.stderr
    rows = result.stdout.splitlines()
    assert any(r.startswith("Tokens stored") and r.endswith("yes") for r in rows), result.stdout
    assert any(r.startswith("Check failed") and "QBO could not be reached" in r for r in rows)
    assert not any(r.startswith("Connected") for r in rows)
    next_step = [line for line in result.stderr.splitlines() if line.startswith("Next step:")]
    assert next_step and f"qbsync emulator serve` running at {base_url}" in next_step[0]
    doc = json.loads(run("status", "--check", "--json").stdout)
    assert (doc["exit_code"], doc["ok"], doc["tokens_stored"]) == (1, False, True)
    assert doc["connected"] is None  # not known to be bad
    assert set(doc["check"]) == CHECK_KEYS and doc["check"]["ok"] is False
    assert doc["check"]["exit_code"] == 1
    assert stored(data_dir) == tokens  # nothing changed in the store


def test_check_keys_are_the_same_on_success(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    data_dir = write_config(emulator)
    connect(emulator, data_dir)
    result = run("status", "--check", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc["check"]) == CHECK_KEYS
    assert doc["check"]["error"] is None and doc["check"]["exit_code"] == 0
    assert doc["connected"] is True
    text = run("status", "--check")
    assert any(
        line.startswith("Connected") and "yes (checked" in line for line in text.stdout.splitlines()
    )


@pytest.mark.parametrize("check", [False, True])
def test_missing_client_secret_is_named_with_the_real_next_step(
    write_config: Callable[..., Path], emulator: Any, check: bool
) -> None:
    data_dir = write_config(emulator)
    connect(emulator, data_dir)
    open_store("file", profile="default", data_dir=data_dir).delete_client_secret()
    before = len(emulator.requests())
    result = run("status", *(["--check"] if check else []))
    assert result.exit_code == 2, result.stderr
    assert "no client secret" in result.stdout
    next_step = [line for line in result.stderr.splitlines() if line.startswith("Next step:")]
    assert "QBSYNC_CLIENT_SECRET" in next_step[0] and "qbsync init --force" in next_step[0]
    assert "qbsync auth" not in next_step[0]
    assert len(emulator.requests()) == before  # nothing sent without a secret
    doc = json.loads(run("status", "--json").stdout)
    assert doc["exit_code"] == 2 and "no client secret" in doc["error"]


def test_tokens_from_another_environment_are_reported_and_never_sent(
    write_config: Callable[..., Path], emulator: Any
) -> None:
    data_dir = write_config(emulator)
    connect(emulator, data_dir)  # issued by this emulator
    with Emulator(limits=False) as other:
        other.add_client(CLIENT_ID, CLIENT_SECRET, ["http://localhost:45219/callback"])
        path = user_config_dir() / "config.toml"
        path.write_text(path.read_text().replace(emulator.base_url, other.base_url))
        result = run("status", "--check")
        assert result.exit_code == 3, result.stderr
        expected = (
            f"no: the stored tokens were issued by the emulator at {emulator.base_url} but the "
            f"config says the emulator at {other.base_url}; run `qbsync auth`"
        )
        assert expected in result.stdout
        for label in ("Access token expires", "Refresh token expires", "Refresh hard expiry"):
            [line] = [x for x in result.stdout.splitlines() if x.startswith(label)]
            assert line.endswith("- (issued by another server)"), line
        assert " (in " not in result.stdout  # no "in 59 min" for tokens unusable here
        doc = json.loads(run("status", "--check", "--json").stdout)
        assert (doc["connected"], doc["exit_code"], doc["check"]) == (False, 3, None)
        assert doc["reason"].startswith("the stored tokens were issued by")
        assert doc["access_token_expires_at"] and doc["refresh_token_expires_at"]  # kept
        assert other.requests() == []  # no token went to the server that did not issue it


def test_environment_override_is_shown_and_named_in_the_mismatch(
    write_config: Callable[..., Path], emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = write_config(emulator)
    connect(emulator, data_dir)
    monkeypatch.setenv("QBSYNC_ENVIRONMENT", "sandbox")
    result = run("status")
    assert result.exit_code == 3
    assert "(from QBSYNC_ENVIRONMENT)" in result.stdout
    assert (
        f"issued by the emulator at {emulator.base_url} but QBSYNC_ENVIRONMENT says sandbox"
        in result.stdout
    )
    doc = json.loads(run("status", "--json").stdout)
    assert doc["environment"]["source"] == "QBSYNC_ENVIRONMENT"
    with State.open(data_dir / "state.sqlite3") as state:
        assert state.get_meta(ISSUER_META_KEY) == emulator.base_url + "/v3"


def test_next_steps_name_the_profile(emulator: Any, emulator_config: Any) -> None:
    emulator_config(
        emulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, profile="acme",
        redirect_uri="http://localhost:45219/callback",
    )  # fmt: skip
    result = run("--profile", "acme", "status")
    assert result.exit_code == 3
    assert "Next step: run `qbsync --profile acme auth`" in result.stderr
    assert "qbsync auth" not in result.stdout + result.stderr
    report = json.loads(run("--profile", "acme", "status", "--json").stdout)
    assert report["hint"] == "run `qbsync --profile acme auth`"
    assert report["connected"] is False
