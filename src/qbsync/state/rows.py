"""How values are stored: aware times as ISO 8601 UTC text, money as Decimal text, lists as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal


def iso(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("state times must be timezone-aware")
    return moment.astimezone(UTC).isoformat()


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def parse_money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def id_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


def parse_id_list(value: str | None) -> tuple[str, ...]:
    return tuple(json.loads(value)) if value else ()
