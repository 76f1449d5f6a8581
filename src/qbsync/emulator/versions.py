"""Which version of a record an update or void is made against: Id and SyncToken checks, and
whether an update changes anything at all.

QBO refuses an update whose SyncToken is not the record's current one with 5010 Stale Object
Error (qbo-facts.md "API"); an update that changes nothing keeps the record's SyncToken and
MetaData.LastUpdatedTime (real QBO does; docs/emulator-rules.md).
"""

from __future__ import annotations

from typing import Any

from qbsync.emulator.entities import (
    Fault,
    invalid_property,
    is_blank,
    not_found,
    required_missing,
)

_META_KEYS = ("Id", "SyncToken", "MetaData")


def current(rows: dict[str, dict[str, Any]], entity: str, data: dict[str, Any]) -> dict[str, Any]:
    """The stored record ``data`` names by ``Id``, when ``data`` carries its current SyncToken."""
    ident = data.get("Id")
    if is_blank(ident):
        raise required_missing("Id")
    # A string, or a number Jackson would read as one; a list or object is no Id.
    if isinstance(ident, bool) or not isinstance(ident, str | int):
        raise invalid_property("Id", "a string is expected")
    previous = rows.get(str(ident))
    if previous is None:
        raise not_found(entity, str(ident))
    token = data.get("SyncToken")
    if is_blank(token) or isinstance(token, bool):
        raise required_missing("SyncToken")
    if not isinstance(token, str | int):
        raise invalid_property("SyncToken", "a string is expected")
    if str(token) != previous["SyncToken"]:
        raise Fault(
            "5010",
            "Stale Object Error",
            "Stale Object Error : You and another user were working on this at the same "
            "time. They finished before you did, so your work was not saved.",
            "SyncToken",
        )
    return previous


def unchanged(candidate: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Whether storing ``candidate`` over ``stored`` would change nothing: every field equal
    (numbers by value, so 25.0 is 25.00), Id, SyncToken and MetaData aside."""
    return {k: v for k, v in candidate.items() if k not in _META_KEYS} == {
        k: v for k, v in stored.items() if k not in _META_KEYS
    }
