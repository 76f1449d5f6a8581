"""``TokenSet``: one OAuth grant's tokens and expiry times (re-exported by ``qbsync.auth.credentials``).

Times are aware UTC datetimes; ``to_dict``/``from_dict`` use ISO strings for storage. The repr
never shows a token (reprs end up in logs and tracebacks), and every token is registered with
``qbsync.redact`` the moment a TokenSet exists, so it is masked wherever it might be printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qbsync.redact import register_secret


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"TokenSet.{name} must be timezone-aware (UTC)")
    return value.astimezone(UTC)


@dataclass(frozen=True, repr=False)
class TokenSet:
    realm_id: str
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    refresh_hard_expires_at: datetime | None
    obtained_at: datetime

    def __post_init__(self) -> None:
        for name in ("access_expires_at", "refresh_expires_at", "obtained_at"):
            object.__setattr__(self, name, _utc(getattr(self, name), name))
        if self.refresh_hard_expires_at is not None:
            hard = _utc(self.refresh_hard_expires_at, "refresh_hard_expires_at")
            object.__setattr__(self, "refresh_hard_expires_at", hard)
        register_secret(self.access_token)
        register_secret(self.refresh_token)

    def __repr__(self) -> str:  # never the tokens: reprs end up in logs and tracebacks
        hard = self.refresh_hard_expires_at.isoformat() if self.refresh_hard_expires_at else None
        return (
            f"TokenSet(realm_id={self.realm_id!r}, "
            f"access_expires_at={self.access_expires_at.isoformat()!r}, "
            f"refresh_expires_at={self.refresh_expires_at.isoformat()!r}, "
            f"refresh_hard_expires_at={hard!r}, obtained_at={self.obtained_at.isoformat()!r})"
        )

    __str__ = __repr__

    def to_dict(self) -> dict[str, Any]:
        hard = self.refresh_hard_expires_at
        return {
            "realm_id": self.realm_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "access_expires_at": self.access_expires_at.isoformat(),
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
            "refresh_hard_expires_at": hard.isoformat() if hard else None,
            "obtained_at": self.obtained_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> TokenSet:
        """Rebuild from ``to_dict`` output; ``ValueError`` (without any value) when malformed."""
        if not isinstance(data, dict):
            raise ValueError("token data is not an object")
        text = {}
        for key in ("realm_id", "access_token", "refresh_token"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"token data: {key} missing or not a string")
            text[key] = data[key]
        hard = data.get("refresh_hard_expires_at")
        return cls(
            realm_id=text["realm_id"],
            access_token=text["access_token"],
            refresh_token=text["refresh_token"],
            access_expires_at=_parse_time(data, "access_expires_at"),
            refresh_expires_at=_parse_time(data, "refresh_expires_at"),
            refresh_hard_expires_at=None
            if hard is None
            else _parse_time(data, "refresh_hard_expires_at"),
            obtained_at=_parse_time(data, "obtained_at"),
        )


def _parse_time(data: dict[str, Any], key: str) -> datetime:
    value = data.get(key)
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"token data: {key} is not an ISO date-time with a UTC offset")
    return parsed
