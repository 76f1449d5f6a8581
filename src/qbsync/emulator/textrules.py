"""Text rules shared by the entity rules: names, lengths, email addresses (qbo-facts.md "Entities").

Kept apart from ``rules.py`` so each module reads in one sitting. Every "too long" answer is
QBO's 2050 (qbo-facts.md "Errors", consolibyte quickbooks-php #79): Message "String length is
either shorter or longer than supported by specification", Detail ending
``Min:0 Max:N supported. Supplied length:M``.
"""

from __future__ import annotations

from typing import Any

from qbsync.emulator.entities import clean, invalid_property, is_blank, too_long

# Intuit Customer reference (qbo-facts.md): maximum lengths of the name and contact fields.
NAME_FIELDS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
MAX_LENGTHS = {
    "DisplayName": 500,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "CompanyName": 100,
    "Title": 16,
    "Suffix": 16,
    "PrintOnCheckName": 110,
    "Notes": 2000,
}
EMAIL_MAX = 100
ITEM_NAME_MAX = 100
# Invoice (qbo-facts.md "Entities").
DOC_NUMBER_MAX = 21
PRIVATE_NOTE_MAX = 4000
CUSTOMER_MEMO_MAX = 1000
LINE_DESCRIPTION_MAX = 4000
FORBIDDEN_NAME_CHARS = (":", "\t", "\n", "\r")


def check_length(value: Any, element: str, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise too_long(element, limit, len(value))


def check_text(record: dict[str, Any], name: str, limit: int) -> None:
    check_length(record.get(name), name, limit)


def check_name_chars(record: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        value = record.get(name)
        # Colon, tab, newline: qbo-facts.md "Entities". Other control characters (NUL...) are
        # refused too (Choice: unverified, stricter).
        if value and any(ch in FORBIDDEN_NAME_CHARS or ch < " " for ch in value):
            raise invalid_property(name, "names must not contain a colon, tab or newline")


def trim_names(record: dict[str, Any], names: tuple[str, ...]) -> None:
    """Choice (unverified at Intuit): names are stored without surrounding spaces, so
    " Emily Platt " collides with "Emily Platt" (6240) and "   " is no name (6080)."""
    for name in names:
        value = record.get(name)
        if isinstance(value, str):
            if value.strip():
                record[name] = value.strip()
            else:
                del record[name]


def check_email(record: dict[str, Any], key: str = "PrimaryEmailAddr") -> None:
    """One address, or several separated by commas (qbo-facts.md "Entities": bill.com and
    Breadwinner put several in one customer), 100 characters in all; each must contain '@' and
    '.' (Intuit's reference). The string is stored as sent."""
    holder = record.get(key)
    if holder is None:
        return
    address = holder.get("Address")
    element = f"{key}.Address"
    if is_blank(address):
        record[key] = clean(holder)
        if not record[key]:
            del record[key]
        return
    if not isinstance(address, str):
        raise invalid_property(element, "a string is expected")
    check_length(address, element, EMAIL_MAX)
    for part in address.split(","):
        part = part.strip()
        # Choice: an empty member ("a@b.com,,c@d.com", a trailing comma) is refused too.
        if "@" not in part or "." not in part:
            raise invalid_property(element, "each email address needs '@' and '.'")
