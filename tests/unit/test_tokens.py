"""TokenManager: refresh ahead of expiry, once after 401, re-read under the lock, save first."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses

from qbsync.auth.credentials import FileStore, TokenSet, token_lock
from qbsync.auth.tokens import TokenManager
from qbsync.config.endpoints import endpoints_for
from qbsync.errors import AuthError, CredentialStoreError, LockedError, QbsyncError

SANDBOX = endpoints_for("sandbox")
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _tokens(access: str = "acc-1", refresh: str = "ref-1", **kw: object) -> TokenSet:
    values: dict[str, object] = {
        "realm_id": "9130",
        "access_token": access,
        "refresh_token": refresh,
        "access_expires_at": T0 + timedelta(hours=1),
        "refresh_expires_at": T0 + timedelta(days=100),
        "refresh_hard_expires_at": T0 + timedelta(days=1800),
        "obtained_at": T0,
    }
    values.update(kw)
    return TokenSet(**values)  # type: ignore[arg-type]


def _refresh_ok(access: str = "acc-2", refresh: str = "ref-2") -> None:
    responses.post(
        SANDBOX.token_url,
        json={"access_token": access, "refresh_token": refresh, "expires_in": 3600,
              "x_refresh_token_expires_in": 8726400},
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "data")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _manager(store: FileStore, clock: Clock, tmp_path: Path) -> TokenManager:
    return TokenManager(
        store, SANDBOX, "cid", "client-secret-1", tmp_path / "data", clock=clock, lock_timeout=2
    )


@responses.activate
def test_fresh_token_is_used_without_calling_intuit(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    store.save_tokens(_tokens())
    assert _manager(store, clock, tmp_path).access_token() == "acc-1"
    assert len(responses.calls) == 0


@responses.activate
def test_refreshes_within_five_minutes_of_expiry_and_saves_rotation(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    store.save_tokens(_tokens())
    manager = _manager(store, clock, tmp_path)
    clock.now = T0 + timedelta(minutes=56)  # 4 minutes left
    _refresh_ok()
    assert manager.access_token() == "acc-2"
    saved = store.load_tokens()
    assert saved is not None
    assert (saved.access_token, saved.refresh_token) == ("acc-2", "ref-2")
    assert saved.access_expires_at == clock.now + timedelta(hours=1)
    assert saved.refresh_hard_expires_at == T0 + timedelta(days=1800)  # kept
    assert parse_qs(str(responses.calls[0].request.body))["refresh_token"] == ["ref-1"]
    assert responses.calls[0].request.req_kwargs["timeout"]  # type: ignore[attr-defined]
    assert manager.access_token() == "acc-2"
    assert len(responses.calls) == 1


@responses.activate
def test_uses_tokens_another_process_already_rotated(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    store.save_tokens(_tokens())
    manager = _manager(store, clock, tmp_path)
    assert manager.access_token() == "acc-1"
    # Another process refreshed meanwhile; our cached set is stale.
    clock.now = T0 + timedelta(minutes=58)
    store.save_tokens(
        _tokens("acc-other", "ref-other", access_expires_at=clock.now + timedelta(hours=1))
    )
    assert manager.access_token() == "acc-other"
    assert manager.after_401("acc-1") == "acc-other"
    assert len(responses.calls) == 0


@responses.activate
def test_after_401_refreshes_even_a_token_that_looks_valid(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    store.save_tokens(_tokens())
    manager = _manager(store, clock, tmp_path)
    _refresh_ok()
    assert manager.after_401("acc-1") == "acc-2"
    assert store.load_tokens().refresh_token == "ref-2"  # type: ignore[union-attr]


@responses.activate
def test_invalid_grant_is_auth_error_and_keeps_stored_tokens(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    store.save_tokens(_tokens())
    responses.post(SANDBOX.token_url, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthError) as info:
        _manager(store, clock, tmp_path).after_401("acc-1")
    assert int(info.value.exit_code) == 3
    assert "qbsync auth" not in info.value.message  # once, in the next step only
    assert info.value.hint == "run `qbsync auth`"
    assert store.load_tokens().refresh_token == "ref-1"  # type: ignore[union-attr]


def test_no_tokens_is_auth_error(store: FileStore, clock: Clock, tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="not connected"):
        _manager(store, clock, tmp_path).access_token()


@responses.activate
@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"refresh_expires_at": T0 + timedelta(minutes=1)}, "expired"),
        ({"refresh_hard_expires_at": T0 + timedelta(minutes=1)}, "hard"),
    ],
)
def test_expired_refresh_token_is_refused_before_calling_intuit(
    store: FileStore, clock: Clock, tmp_path: Path, changes: dict[str, object], needle: str
) -> None:
    store.save_tokens(_tokens(access_expires_at=T0 + timedelta(minutes=1), **changes))
    clock.now = T0 + timedelta(minutes=2)
    with pytest.raises(AuthError, match=needle) as info:
        _manager(store, clock, tmp_path).access_token()
    assert len(responses.calls) == 0
    assert "qbsync auth" not in info.value.message  # once, in the next step only
    assert info.value.hint == "run `qbsync auth` to connect again"


@responses.activate
def test_new_token_is_not_returned_when_it_cannot_be_saved(
    store: FileStore, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_tokens(_tokens())
    _refresh_ok()

    def broken(tokens: TokenSet) -> None:
        raise CredentialStoreError(f"cannot write {store.path}: No space left on device")

    monkeypatch.setattr(store, "save_tokens", broken)
    manager = _manager(store, clock, tmp_path)
    with pytest.raises(CredentialStoreError, match="could not be saved") as info:
        manager.after_401("acc-1")
    # One line that says nothing is lost yet and what to do; never the new token.
    assert "No space left on device" in info.value.message
    assert "24 hours" in info.value.message and "within a day" in str(info.value.hint)
    assert "acc-2" not in info.value.message and "ref-2" not in info.value.message
    assert int(info.value.exit_code) == 1
    monkeypatch.undo()
    assert store.load_tokens().refresh_token == "ref-1"  # type: ignore[union-attr]
    assert manager._cached is None or manager._cached.access_token != "acc-2"


def test_refresh_waits_for_the_token_lock(store: FileStore, clock: Clock, tmp_path: Path) -> None:
    store.save_tokens(_tokens())
    manager = TokenManager(
        store, SANDBOX, "cid", "sec-123456", tmp_path / "data", clock=clock, lock_timeout=0.1
    )
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with token_lock(tmp_path / "data"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(LockedError):
            manager.after_401("acc-1")
    finally:
        release.set()
        thread.join(5)


def test_timeout_is_passed_to_every_token_call(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    seen: list[object] = []

    class Recorder(requests.Session):
        def post(self, url: str | bytes, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]
            seen.append(kwargs.get("timeout"))
            resp = requests.Response()
            resp.status_code = 200
            resp._content = (
                b'{"access_token": "acc-9", "refresh_token": "ref-9", "expires_in": 3600}'
            )
            return resp

    store.save_tokens(_tokens())
    manager = TokenManager(
        store,
        SANDBOX,
        "cid",
        "sec-123456",
        tmp_path / "data",
        clock=clock,
        http=Recorder(),
        timeout=7,
    )
    assert manager.after_401("acc-1") == "acc-9"
    assert seen == [7]


@responses.activate
def test_short_lived_tokens_are_not_refreshed_on_every_call(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    store.save_tokens(_tokens(access_expires_at=T0 + timedelta(seconds=60)))
    manager = _manager(store, clock, tmp_path)
    clock.now = T0 + timedelta(seconds=30)  # 30 s left of 60: margin is 15 s
    assert manager.access_token() == "acc-1"
    clock.now = T0 + timedelta(seconds=50)
    _refresh_ok()
    assert manager.access_token() == "acc-2"
    assert len(responses.calls) == 1


@responses.activate
def test_tokens_replaced_by_another_company_mid_run_stop_the_run(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    store.save_tokens(_tokens())
    manager = _manager(store, clock, tmp_path)
    assert manager.access_token() == "acc-1"
    store.save_tokens(_tokens(access="acc-other", refresh="ref-other", realm_id="777"))
    with pytest.raises(QbsyncError, match="wrong books") as info:
        manager.after_401("acc-1")
    assert int(info.value.exit_code) == 1
    assert len(responses.calls) == 0  # nothing refreshed, nothing used


@responses.activate
def test_clock_jumps_back_then_forward(store: FileStore, clock: Clock, tmp_path: Path) -> None:
    """Back: a dead token looks fresh; QBO's 401 makes one refresh. Forward: an early refresh.
    Either way the rotation is saved, and a refresh is sent only when needed."""
    store.save_tokens(_tokens())
    manager = _manager(store, clock, tmp_path)
    clock.now = T0 - timedelta(hours=3)  # e.g. a VM restored from a snapshot
    assert manager.access_token() == "acc-1"  # looks fresh by this clock
    _refresh_ok()
    assert manager.after_401("acc-1") == "acc-2"
    assert store.load_tokens().refresh_token == "ref-2"  # type: ignore[union-attr]
    assert manager.access_token() == "acc-2"  # new expiry is relative to this clock: fresh
    clock.now += timedelta(hours=5)  # NTP corrects the clock forward past the expiry
    _refresh_ok("acc-3", "ref-3")
    assert manager.access_token() == "acc-3"
    assert store.load_tokens().refresh_token == "ref-3"  # type: ignore[union-attr]
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize(
    ("issued_by", "expected"),
    [
        ("http://127.0.0.1:4116", "issued by the emulator at http://127.0.0.1:4116 but the "
         "config says sandbox"),
        ("production", "issued by production but the config says sandbox"),
    ],
)  # fmt: skip
def test_tokens_issued_by_another_environment_are_never_sent(
    store: FileStore, clock: Clock, tmp_path: Path, issued_by: str, expected: str
) -> None:
    from qbsync.auth.tokens import record_issuer
    from qbsync.state.db import State

    store.save_tokens(_tokens(access_expires_at=T0 - timedelta(seconds=1)))  # needs a refresh
    with State.open(tmp_path / "data" / "state.sqlite3") as state:
        record_issuer(state, endpoints_for(issued_by))
    _refresh_ok()
    manager = _manager(store, clock, tmp_path)
    for call in (manager.access_token, lambda: manager.after_401("acc-1")):
        with pytest.raises(AuthError) as info:
            call()
        assert int(info.value.exit_code) == 3
        assert expected in info.value.message
        assert "qbsync auth" in (info.value.hint or "")
        assert "set `environment` back" in (info.value.hint or "")
    assert len(responses.calls) == 0  # the refresh token went nowhere
    assert store.load_tokens() == _tokens(access_expires_at=T0 - timedelta(seconds=1))


@responses.activate
def test_tokens_issued_by_this_environment_or_unrecorded_are_used(
    store: FileStore, clock: Clock, tmp_path: Path
) -> None:
    from qbsync.auth.tokens import record_issuer
    from qbsync.state.db import State

    store.save_tokens(_tokens())
    assert _manager(store, clock, tmp_path).access_token() == "acc-1"  # older data: no record
    with State.open(tmp_path / "data" / "state.sqlite3") as state:
        record_issuer(state, SANDBOX)
    assert _manager(store, clock, tmp_path).access_token() == "acc-1"
