"""The login `qbsync auth --print-url` starts and `qbsync auth --redirect-url URL` finishes: its
``state`` and redirect URI, kept in the data folder (0600) for an hour."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qbsync.auth.token_endpoint import utcnow
from qbsync.errors import OAuthFlowError
from qbsync.files import atomic_write
from qbsync.paths import ensure_private_dir

PENDING_FILE = "auth-pending.json"
PENDING_MAX_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class PendingLogin:
    state: str
    redirect_uri: str


def pending_path(data_dir: Path) -> Path:
    return Path(data_dir) / PENDING_FILE


def write_pending(data_dir: Path, login: PendingLogin) -> None:
    ensure_private_dir(data_dir)
    data = {
        "state": login.state,
        "redirect_uri": login.redirect_uri,
        "created_at": utcnow().isoformat(),
    }
    atomic_write(pending_path(data_dir), json.dumps(data).encode(), mode=0o600)


def read_pending(data_dir: Path) -> PendingLogin:
    """The waiting login; OAuthFlowError (exit 3) when there is none, or it is over an hour old."""
    missing = OAuthFlowError(
        "no login is waiting for --redirect-url in this profile",
        hint="run `qbsync auth --print-url`, open that address, then pass the address the "
        "browser landed on with --redirect-url (within an hour)",
    )
    try:
        data = json.loads(pending_path(data_dir).read_text(encoding="utf-8"))
        created = datetime.fromisoformat(data["created_at"])
        login = PendingLogin(str(data["state"]), str(data["redirect_uri"]))
    except (OSError, ValueError, KeyError, TypeError):
        raise missing from None
    if utcnow() - created.astimezone(UTC) > PENDING_MAX_AGE:
        clear_pending(data_dir)
        raise missing
    return login


def clear_pending(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        pending_path(data_dir).unlink()
