"""credentials.py: TokenSet, the 0600 file store, the keyring store, auto + store-kind, locks."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest

from qbsync.auth.credentials import (
    FileStore,
    KeyringStore,
    TokenSet,
    open_store,
    resolve_client_secret,
    token_lock,
)
from qbsync.errors import ConfigError, CredentialStoreError, LockedError
from qbsync.redact import redact

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _tokens(access: str = "access-AAAA1111", refresh: str = "refresh-RRRR2222") -> TokenSet:
    return TokenSet(
        realm_id="9130",
        access_token=access,
        refresh_token=refresh,
        access_expires_at=NOW + timedelta(hours=1),
        refresh_expires_at=NOW + timedelta(days=100),
        refresh_hard_expires_at=NOW + timedelta(days=5 * 365),
        obtained_at=NOW,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- TokenSet ----------------------------------------------------------------------------------


def test_tokenset_round_trip_and_repr_hides_tokens() -> None:
    tokens = _tokens()
    again = TokenSet.from_dict(json.loads(json.dumps(tokens.to_dict())))
    assert again == tokens
    assert again.access_expires_at.tzinfo is not None
    for text in (repr(tokens), str(tokens), f"{tokens}"):
        assert "access-AAAA1111" not in text and "refresh-RRRR2222" not in text
        assert "9130" in text


def test_tokenset_normalises_to_utc_and_refuses_naive() -> None:
    plus2 = timezone(timedelta(hours=2))
    tokens = TokenSet("1", "a" * 8, "r" * 8, NOW.astimezone(plus2), NOW, None, NOW)
    assert tokens.access_expires_at.utcoffset() == timedelta(0)
    assert tokens.access_expires_at == NOW
    with pytest.raises(ValueError):
        TokenSet("1", "a" * 8, "r" * 8, NOW.replace(tzinfo=None), NOW, None, NOW)


def test_tokenset_registers_secrets_for_redaction() -> None:
    _tokens(access="access-zz-unique-1", refresh="refresh-zz-unique-2")
    assert redact("x access-zz-unique-1 y refresh-zz-unique-2") == "x *** y ***"


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"realm_id": "1", "access_token": "a", "refresh_token": "r"},
        {**_tokens().to_dict(), "obtained_at": "2026-01-01T00:00:00"},  # naive
        {**_tokens().to_dict(), "access_expires_at": "soon"},
        [],
    ],
)
def test_tokenset_from_dict_rejects_malformed(broken: object) -> None:
    with pytest.raises(ValueError) as info:
        TokenSet.from_dict(broken)
    assert "access-AAAA1111" not in str(info.value)


# -- file store --------------------------------------------------------------------------------


def test_file_store_writes_0600_in_0700_dir(tmp_path: Path) -> None:
    data = tmp_path / "data" / "default"
    store = FileStore(data)
    assert store.load_tokens() is None and store.load_client_secret() is None
    store.save_client_secret("client-secret-XYZ")
    store.save_tokens(_tokens())
    path = data / "tokens.json"
    assert _mode(path) == 0o600
    assert _mode(data) == 0o700
    on_disk = json.loads(path.read_text())
    assert on_disk["client_secret"] == "client-secret-XYZ"
    assert on_disk["tokens"]["refresh_token"] == "refresh-RRRR2222"
    # a fresh store object reads both back; saving tokens kept the secret and vice versa
    again = FileStore(data)
    assert again.load_tokens() == _tokens()
    assert again.load_client_secret() == "client-secret-XYZ"
    assert (data / "store-kind").read_text().strip() == "file"
    assert _mode(data / "store-kind") == 0o600
    assert sorted(p.name for p in data.iterdir()) == ["store-kind", "tokens.json"]  # no temp


def test_file_store_mode_is_0600_from_creation_even_with_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        FileStore(tmp_path).save_tokens(_tokens())
    finally:
        os.umask(old)
    assert _mode(tmp_path / "tokens.json") == 0o600


def test_file_store_rotation_replaces_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    store.save_tokens(_tokens(refresh="refresh-old-0001"))

    def crash(src: object, dst: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(CredentialStoreError):
        store.save_tokens(_tokens(refresh="refresh-new-0002"))
    monkeypatch.undo()
    loaded = store.load_tokens()
    assert loaded is not None and loaded.refresh_token == "refresh-old-0001"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    store.save_tokens(_tokens(refresh="refresh-new-0002"))
    loaded = FileStore(tmp_path).load_tokens()
    assert loaded is not None and loaded.refresh_token == "refresh-new-0002"


def test_file_store_fixes_loose_mode_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStore(tmp_path)
    store.save_client_secret("client-secret-XYZ")
    (tmp_path / "tokens.json").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="qbsync"):
        assert store.load_client_secret() == "client-secret-XYZ"
    assert _mode(tmp_path / "tokens.json") == 0o600
    assert "0600" in caplog.text
    assert "client-secret-XYZ" not in caplog.text


def test_file_store_delete(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save_client_secret("client-secret-XYZ")
    store.save_tokens(_tokens())
    store.delete_tokens()
    assert store.load_tokens() is None
    assert store.load_client_secret() == "client-secret-XYZ"
    store.delete_client_secret()
    assert store.load_client_secret() is None
    assert "refresh-RRRR2222" not in (tmp_path / "tokens.json").read_text()


def test_file_store_corrupt_file_is_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text("{not json")
    with pytest.raises(CredentialStoreError) as info:
        FileStore(tmp_path).load_tokens()
    assert str(tmp_path / "tokens.json") in info.value.message


def test_file_store_bad_token_data_does_not_echo(tmp_path: Path) -> None:
    bad = {"tokens": {"realm_id": "1", "access_token": "access-leak-9999"}}
    (tmp_path / "tokens.json").write_text(json.dumps(bad))
    with pytest.raises(CredentialStoreError) as info:
        FileStore(tmp_path).load_tokens()
    assert "access-leak-9999" not in info.value.message


def test_concurrent_writers_keep_both_secret_and_tokens(tmp_path: Path) -> None:
    # init (secret) and a cron refresh (tokens) in two processes must not drop each other's write
    script = (
        "import sys; from pathlib import Path; from datetime import UTC, datetime, timedelta\n"
        "from qbsync.auth.credentials import FileStore, TokenSet\n"
        "s = FileStore(Path(sys.argv[1])); n = datetime.now(UTC)\n"
        "for i in range(40):\n"
        "    if sys.argv[2] == 'secret': s.save_client_secret(f'secret-{i:04d}')\n"
        "    else: s.save_tokens(TokenSet('1', f'acc-{i:04d}', f'ref-{i:04d}', n, n, None, n))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), kind])
        for kind in ("secret", "tokens")
    ]
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    store = FileStore(tmp_path)
    assert store.load_client_secret() == "secret-0039"
    loaded = store.load_tokens()
    assert loaded is not None and loaded.refresh_token == "ref-0039"


# -- keyring store and probing -----------------------------------------------------------------


def test_file_setting_never_touches_keyring(tmp_path: Path, fake_keyring: object) -> None:
    store = open_store("file", profile="default", data_dir=tmp_path)
    assert store.kind == "file"
    store.save_client_secret("client-secret-XYZ")
    assert fake_keyring.entries == {}  # type: ignore[attr-defined]


def test_auto_without_keyring_falls_back_to_file(tmp_path: Path) -> None:
    # isolated_env installs keyring's fail backend: the headless-server case
    store = open_store("auto", profile="default", data_dir=tmp_path)
    assert store.kind == "file"
    assert store.location == str(tmp_path / "tokens.json")


def test_auto_with_null_backend_falls_back_to_file(tmp_path: Path) -> None:
    keyring.set_keyring(keyring.backends.null.Keyring())  # accepts writes, reads back None
    assert open_store("auto", profile="default", data_dir=tmp_path).kind == "file"


def test_auto_with_working_keyring_uses_it(tmp_path: Path, fake_keyring: object) -> None:
    store = open_store("auto", profile="p1", data_dir=tmp_path)
    assert store.kind == "keyring"
    assert "qbsync:p1" in store.location
    store.save_client_secret("client-secret-XYZ")
    store.save_tokens(_tokens())
    entries = fake_keyring.entries  # type: ignore[attr-defined]
    assert entries[("qbsync:p1", "client_secret")] == "client-secret-XYZ"
    assert json.loads(entries[("qbsync:p1", "tokens")])["refresh_token"] == "refresh-RRRR2222"
    assert set(entries) == {("qbsync:p1", "client_secret"), ("qbsync:p1", "tokens")}  # probe gone
    assert not (tmp_path / "tokens.json").exists()
    assert (tmp_path / "store-kind").read_text().strip() == "keyring"
    again = open_store("auto", profile="p1", data_dir=tmp_path)
    assert again.load_tokens() == _tokens()
    assert again.load_client_secret() == "client-secret-XYZ"
    again.delete_tokens()
    again.delete_tokens()  # deleting what is not there is fine
    assert again.load_tokens() is None


def test_explicit_keyring_unusable_is_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialStoreError) as info:
        open_store("keyring", profile="default", data_dir=tmp_path)
    assert "keyring" in info.value.message
    assert "qbsync init --force --token-store file" in (info.value.hint or "")


def test_store_kind_pins_keyring_then_unreachable_under_cron(
    tmp_path: Path, fake_keyring: object
) -> None:
    store = open_store("auto", profile="default", data_dir=tmp_path)
    store.save_tokens(_tokens())
    assert (tmp_path / "store-kind").read_text().strip() == "keyring"
    # cron: no session keyring any more
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(CredentialStoreError) as info:
        open_store("auto", profile="default", data_dir=tmp_path)
    message = info.value.message
    assert "keyring" in message and "unreachable" in message
    assert "qbsync init --force --token-store file" in (info.value.hint or "")
    assert "qbsync auth" in (info.value.hint or "")
    assert not (tmp_path / "tokens.json").exists()  # did not silently switch to an empty file


def test_store_kind_file_is_reused_even_when_keyring_appears(
    tmp_path: Path, fake_keyring: keyring.backend.KeyringBackend
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    open_store("auto", profile="default", data_dir=tmp_path).save_tokens(_tokens())
    assert (tmp_path / "store-kind").read_text().strip() == "file"
    keyring.set_keyring(fake_keyring)  # e.g. the operator logs into a desktop session later
    store = open_store("auto", profile="default", data_dir=tmp_path)
    assert store.kind == "file"
    assert store.load_tokens() == _tokens()


def test_auto_without_pin_prefers_an_existing_token_file(
    tmp_path: Path, fake_keyring: keyring.backend.KeyringBackend
) -> None:
    FileStore(tmp_path).save_tokens(_tokens())
    (tmp_path / "store-kind").unlink()
    store = open_store("auto", profile="default", data_dir=tmp_path)
    assert store.kind == "file" and store.load_tokens() == _tokens()


def test_garbled_store_kind_is_error(tmp_path: Path) -> None:
    (tmp_path / "store-kind").write_text("vault\n")
    with pytest.raises(CredentialStoreError) as info:
        open_store("auto", profile="default", data_dir=tmp_path)
    assert "store-kind" in info.value.message


def test_keyring_errors_become_store_errors(tmp_path: Path, fake_keyring: object) -> None:
    store = KeyringStore("qbsync:x", tmp_path)

    def broken(*args: object) -> None:
        raise keyring.errors.KeyringLocked("locked with secret-in-message-777")

    fake_keyring.get_password = broken  # type: ignore[attr-defined]
    with pytest.raises(CredentialStoreError) as info:
        store.load_tokens()
    assert "KeyringLocked" in info.value.message
    assert "secret-in-message-777" not in info.value.message


@pytest.mark.parametrize(
    "garbage", ['{"access_token": "AT-half-written-5', '["AT-not-an-object-5"]', '{"realm_id": 1}']
)
def test_unreadable_keyring_tokens_are_a_clear_error_without_echo(
    tmp_path: Path, fake_keyring: Any, garbage: str
) -> None:
    fake_keyring.entries[("qbsync:x", "tokens")] = garbage
    with pytest.raises(CredentialStoreError, match="stored tokens are unreadable") as info:
        KeyringStore("qbsync:x", tmp_path).load_tokens()
    assert info.value.hint == "run `qbsync auth`"
    assert "AT-" not in info.value.message


def test_unknown_setting_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_store("vault", profile="default", data_dir=tmp_path)


# -- client secret -----------------------------------------------------------------------------


def test_client_secret_env_wins_over_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path)
    store.save_client_secret("stored-secret-1")
    assert resolve_client_secret(store) == "stored-secret-1"
    monkeypatch.setenv("QBSYNC_CLIENT_SECRET", "env-secret-22")
    assert resolve_client_secret(store) == "env-secret-22"
    assert redact("env-secret-22") == "***"


def test_missing_client_secret_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_client_secret(FileStore(tmp_path))
    assert "qbsync init" in (info.value.hint or "")
    assert "QBSYNC_CLIENT_SECRET" in (info.value.hint or "")


# -- token_lock --------------------------------------------------------------------------------

# Takes the token lock, says so, and holds it until told to let go (or 10 s pass).
LOCK_HOLDER = """
import sys, time
from pathlib import Path
from typing import Any
from qbsync.auth.credentials import token_lock
data, ready, release = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
with token_lock(data, timeout=5):
    ready.write_text("held")
    deadline = time.monotonic() + 10
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""

LOCK_WAITER = """
import sys
from pathlib import Path
from typing import Any
from qbsync.auth.credentials import token_lock
from qbsync.errors import LockedError
try:
    with token_lock(Path(sys.argv[1]), timeout=float(sys.argv[2])):
        print("acquired")
except LockedError:
    print("locked")
"""


def _hold_token_lock(data_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    ready, release = data_dir / "ready", data_dir / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(data_dir), str(ready), str(release)]
    )
    deadline = time.monotonic() + 10
    while not ready.exists():
        assert holder.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    return holder, release


def _waiter(data_dir: Path, timeout: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LOCK_WAITER, str(data_dir), timeout],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_token_lock_across_processes(tmp_path: Path) -> None:
    holder, release = _hold_token_lock(tmp_path)
    try:
        assert (tmp_path / "tokens.lock").exists()
        impatient = _waiter(tmp_path, "0.05")
        assert impatient.communicate(timeout=30)[0].strip() == "locked"
        patient = _waiter(tmp_path, "20")
        time.sleep(0.3)
        assert patient.poll() is None  # still waiting while the holder holds the lock
        release.write_text("go")
        assert patient.communicate(timeout=30)[0].strip() == "acquired"
        assert holder.wait(timeout=5) == 0
    finally:
        holder.kill()
        holder.wait()


def test_token_lock_in_process_times_out(tmp_path: Path) -> None:
    holder, release = _hold_token_lock(tmp_path)
    try:
        with pytest.raises(LockedError) as info, token_lock(tmp_path, timeout=0.05):
            pass
        assert "token lock" in info.value.message
        release.write_text("go")
        assert holder.wait(timeout=5) == 0
        with token_lock(tmp_path, timeout=1):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_unreadable_token_file_names_owner_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    store.save_tokens(_tokens())
    real_open = os.open

    def deny(path: object, *args: object, **kwargs: object) -> int:
        if str(path).endswith("tokens.json"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(CredentialStoreError) as info:
        store.load_tokens()
    assert "Permission denied" in info.value.message
    assert "sudo" in (info.value.hint or "")


def test_a_folder_in_place_of_the_token_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").mkdir()
    with pytest.raises(CredentialStoreError, match=r"cannot read .*tokens\.json"):
        FileStore(tmp_path).load_tokens()
