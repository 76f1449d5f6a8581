"""Where the client secret and the OAuth tokens live: the OS keyring or a 0600 file.

Losing a rotated refresh token means the operator has to reconnect by hand, so:
- the file store writes atomically with mode 0600 from creation (``qbsync.files.atomic_write``);
- ``auto`` pins what it resolved to in ``data_dir/store-kind`` at the first save, so a cron job
  (where the desktop keyring is usually unreachable) reads the same store ``qbsync auth`` wrote,
  or fails with a message saying so, instead of silently finding no tokens in a file;
- ``token_lock`` serialises refreshes across processes (``tokens.py`` holds it while refreshing).
Every secret read or written is registered with ``qbsync.redact`` so it is masked wherever printed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets as pysecrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from qbsync.auth.tokenset import TokenSet
from qbsync.errors import ConfigError, CorruptTokenFileError, CredentialStoreError
from qbsync.files import atomic_write
from qbsync.locks import file_lock
from qbsync.paths import ensure_private_dir
from qbsync.redact import register_secret

log = logging.getLogger(__name__)

__all__ = [
    "CredentialStore",
    "FileStore",
    "KeyringStore",
    "TokenSet",
    "open_store",
    "resolve_client_secret",
    "token_lock",
]

CLIENT_SECRET_ENV = "QBSYNC_CLIENT_SECRET"
TOKEN_FILE = "tokens.json"
STORE_KIND_FILE = "store-kind"
TOKEN_LOCK_FILE = "tokens.lock"
STORE_SETTINGS = ("auto", "keyring", "file")
_FILE_FORMAT = 1
# The client secret moves too, so `init --force` (which asks for it, and keeps every other
# setting of the config) is the simplest way over.
_SWITCH_TO_FILE = (
    "run `qbsync init --force --token-store file` (it keeps your other settings and stores the "
    "client secret in the file: it asks for it, or takes QBSYNC_CLIENT_SECRET), then run "
    "`qbsync auth` again"
)


class CredentialStore(Protocol):
    kind: str  # "keyring" | "file"
    location: str  # human-readable, never a secret

    def load_tokens(self) -> TokenSet | None: ...
    def save_tokens(self, tokens: TokenSet) -> None: ...
    def delete_tokens(self) -> None: ...
    def load_client_secret(self) -> str | None: ...
    def save_client_secret(self, secret: str) -> None: ...
    def delete_client_secret(self) -> None: ...


def open_store(setting: str, *, profile: str, data_dir: Path) -> CredentialStore:
    """The store for the `[tokens] store` setting (auto | keyring | file)."""
    if setting not in STORE_SETTINGS:
        raise ConfigError(
            f"[tokens] store: expected one of {', '.join(STORE_SETTINGS)}; got {setting!r}"
        )
    data_dir = Path(data_dir)
    if setting == "file":
        return FileStore(data_dir)
    service = keyring_service(profile)
    if setting == "keyring":
        if not keyring_usable(service):
            raise CredentialStoreError(
                f"[tokens] store is 'keyring', but no working keyring is reachable from this "
                f"session ({_backend_name()})",
                hint=_SWITCH_TO_FILE,
            )
        return KeyringStore(service, data_dir)
    pinned = read_store_kind(data_dir)
    if pinned == "file":
        return FileStore(data_dir)
    if pinned == "keyring":
        if not keyring_usable(service):
            raise CredentialStoreError(
                f"the client secret and tokens for profile {profile!r} are in the system keyring "
                f"(recorded in {data_dir / STORE_KIND_FILE}), which is unreachable from this "
                f"session ({_backend_name()}); cron and SSH sessions usually cannot open a "
                "desktop keyring",
                hint=_SWITCH_TO_FILE,
            )
        return KeyringStore(service, data_dir)
    if (data_dir / TOKEN_FILE).exists():  # no pin (deleted, or older layout) but a token file
        return FileStore(data_dir)
    return KeyringStore(service, data_dir) if keyring_usable(service) else FileStore(data_dir)


def resolve_client_secret(store: CredentialStore) -> str:
    """``$QBSYNC_CLIENT_SECRET`` > the credential store > ``ConfigError``."""
    from_env = os.environ.get(CLIENT_SECRET_ENV, "").strip()
    if from_env:
        register_secret(from_env)
        return from_env
    stored = store.load_client_secret()
    if stored:
        return stored
    raise ConfigError(
        f"no client secret: {CLIENT_SECRET_ENV} is not set and the {store.kind} store "
        f"({store.location}) holds none",
        hint=f"run `qbsync init --force` (it asks for the secret again) or set {CLIENT_SECRET_ENV}",
    )


@contextlib.contextmanager
def token_lock(data_dir: Path, timeout: float = 60.0) -> Iterator[None]:
    """Exclusive cross-process lock on ``data_dir/tokens.lock`` (``LockedError`` after timeout)."""
    with file_lock(
        Path(data_dir) / TOKEN_LOCK_FILE,
        timeout=timeout,
        what="the token lock",
        hint="another qbsync process is refreshing the QBO tokens; try again in a minute",
    ):
        yield


# -- store-kind pin ----------------------------------------------------------------------------


def read_store_kind(data_dir: Path) -> str | None:
    path = Path(data_dir) / STORE_KIND_FILE
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if value not in ("keyring", "file"):
        raise CredentialStoreError(
            f"{path} should say 'keyring' or 'file'",
            hint=f"delete {path} and run `qbsync auth` again",
        )
    return value


def _pin_store_kind(data_dir: Path, kind: str) -> None:
    # Written on every save, so it always says where the latest secret/tokens went.
    if _quiet_read_kind(data_dir) == kind:
        return
    ensure_private_dir(data_dir)
    atomic_write(data_dir / STORE_KIND_FILE, f"{kind}\n".encode(), mode=0o600)


def _quiet_read_kind(data_dir: Path) -> str | None:
    try:
        return read_store_kind(data_dir)
    except CredentialStoreError:
        return None


# -- file store --------------------------------------------------------------------------------


class FileStore:
    """``data_dir/tokens.json`` (0600, folder 0700): ``{"format", "client_secret", "tokens"}``."""

    kind = "file"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / TOKEN_FILE
        self.location = str(self.path)

    def load_tokens(self) -> TokenSet | None:
        raw = self._read().get("tokens")
        return None if raw is None else _parse_tokens(raw, self.location)

    def save_tokens(self, tokens: TokenSet) -> None:
        self._update("tokens", tokens.to_dict())

    def delete_tokens(self) -> None:
        self._update("tokens", None)

    def load_client_secret(self) -> str | None:
        value = self._read().get("client_secret")
        if value is not None and not isinstance(value, str):
            raise CorruptTokenFileError(
                f"{self.path}: client_secret is not a string", hint="run `qbsync init --force`"
            )
        register_secret(value)
        return value or None

    def save_client_secret(self, secret: str) -> None:
        register_secret(secret)
        self._update("client_secret", secret)

    def delete_client_secret(self) -> None:
        self._update("client_secret", None)

    def _read(self) -> dict[str, Any]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise _os_error("read", self.path, exc) from None
        try:
            with os.fdopen(fd, "rb") as handle:
                self._tighten_mode(handle.fileno())
                raw = handle.read()
        except OSError as exc:  # e.g. a folder where the file should be (open() allows that)
            raise _os_error("read", self.path, exc) from None
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CorruptTokenFileError(
                f"{self.path} is not a qbsync token file (invalid JSON)",
                hint=f"move {self.path} aside, then run `qbsync init --force` and `qbsync auth`",
            )
        if isinstance(data.get("client_secret"), str):
            register_secret(data["client_secret"])
        return data

    def _tighten_mode(self, fd: int) -> None:
        # A token file readable by others (restored from a backup, copied with cp) is fixed
        # rather than refused: refusing would stop cron, and the secret is already exposed;
        # the warning tells the operator to consider rotating it.
        mode = os.fstat(fd).st_mode
        if mode & 0o077:
            try:
                os.fchmod(fd, 0o600)
            except OSError as exc:
                raise _os_error("make private (0600)", self.path, exc) from None
            log.warning(
                "%s was readable by other users (mode %o); changed it to 0600. Consider "
                "rotating the client secret and reconnecting (`qbsync auth`).",
                self.path,
                mode & 0o777,
            )

    def _update(self, key: str, value: Any) -> None:
        ensure_private_dir(self.data_dir)
        # tokens.json holds two things written by different commands (init: secret, auth/cron:
        # tokens). A short flock on the data folder makes each read-modify-write whole, without
        # touching tokens.lock, which the caller may already hold around a refresh.
        with _dir_lock(self.data_dir):
            data = self._read()
            data["format"] = _FILE_FORMAT
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
            body = json.dumps(data, indent=2, sort_keys=True).encode("utf-8")
            try:
                atomic_write(self.path, body, mode=0o600)
            except OSError as exc:
                raise _os_error("write", self.path, exc) from None
        if value is not None:
            _pin_store_kind(self.data_dir, self.kind)


def _parse_tokens(raw: Any, where: str) -> TokenSet:
    try:
        return TokenSet.from_dict(raw)
    except ValueError as exc:  # its messages name the field, never a value
        raise CorruptTokenFileError(
            f"{where}: stored tokens are unreadable ({exc})", hint="run `qbsync auth`"
        ) from None


def _os_error(verb: str, path: Path, exc: OSError) -> CredentialStoreError:
    hint = None
    if isinstance(exc, PermissionError):
        # Typically left behind by `sudo qbsync ...`: the files then belong to root.
        hint = f"check who owns {path} and its folder (was qbsync run with sudo?)"
    return CredentialStoreError(f"cannot {verb} {path}: {exc.strerror or exc}", hint=hint)


@contextlib.contextmanager
def _dir_lock(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


# -- keyring store -----------------------------------------------------------------------------


def keyring_service(profile: str) -> str:
    return f"qbsync:{profile}"


def _backend_name() -> str:
    try:
        import keyring

        backend = keyring.get_keyring()
        return f"keyring backend {type(backend).__module__}.{type(backend).__name__}"
    except Exception:  # pragma: no cover - keyring import itself broken
        return "keyring unavailable"


def keyring_usable(service: str) -> bool:
    """Write, read back and delete a probe entry; any failure means "not usable".

    keyring's fail backend (headless Linux, cron) raises NoKeyringError on every call; the null
    backend accepts writes but reads back None; D-Bus/Secret Service backends can raise their own
    errors when no session bus is reachable. So the probe catches everything and compares values.
    """
    try:
        import keyring

        probe_user = "qbsync-probe"
        value = pysecrets.token_hex(8)
        keyring.set_password(service, probe_user, value)
        try:
            ok = keyring.get_password(service, probe_user) == value
        finally:
            with contextlib.suppress(Exception):
                keyring.delete_password(service, probe_user)
        return ok
    except Exception as exc:
        log.debug("keyring probe failed: %s", type(exc).__name__)
        return False


class KeyringStore:
    """Service ``qbsync:<profile>``; usernames ``client_secret`` and ``tokens`` (JSON)."""

    kind = "keyring"

    def __init__(self, service: str, data_dir: Path) -> None:
        self.service = service
        self.data_dir = Path(data_dir)
        self.location = f"system keyring, service {service!r}"

    def load_tokens(self) -> TokenSet | None:
        raw = self._get("tokens")
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            data = None  # from_dict names the problem without quoting the text
        return _parse_tokens(data, self.location)

    def save_tokens(self, tokens: TokenSet) -> None:
        self._set("tokens", json.dumps(tokens.to_dict(), sort_keys=True))

    def delete_tokens(self) -> None:
        self._delete("tokens")

    def load_client_secret(self) -> str | None:
        value = self._get("client_secret")
        register_secret(value)
        return value or None

    def save_client_secret(self, secret: str) -> None:
        register_secret(secret)
        self._set("client_secret", secret)

    def delete_client_secret(self) -> None:
        self._delete("client_secret")

    def _get(self, username: str) -> str | None:
        import keyring

        try:
            return keyring.get_password(self.service, username)
        except Exception as exc:
            raise self._error("read", username, exc) from None

    def _set(self, username: str, value: str) -> None:
        import keyring

        try:
            keyring.set_password(self.service, username, value)
        except Exception as exc:
            raise self._error("write", username, exc) from None
        _pin_store_kind(self.data_dir, self.kind)

    def _delete(self, username: str) -> None:
        import keyring
        import keyring.errors

        try:
            keyring.delete_password(self.service, username)
        except keyring.errors.PasswordDeleteError:
            pass  # nothing stored: already deleted
        except Exception as exc:
            raise self._error("delete", username, exc) from None

    def _error(self, verb: str, username: str, exc: Exception) -> CredentialStoreError:
        # Only the exception type: backend messages are not ours to vouch for.
        return CredentialStoreError(
            f"cannot {verb} {username!r} in the {self.location} ({type(exc).__name__})",
            hint=_SWITCH_TO_FILE,
        )
