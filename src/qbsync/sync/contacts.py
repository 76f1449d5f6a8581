"""A member's details as QBO customer fields (pure).

Names lose the characters QBO refuses in them (colon, tab, newline) and are cut to QBO's
lengths (qbo-facts.md "Entities": DisplayName 500, GivenName/FamilyName/CompanyName 100,
PrimaryEmailAddr 100, phone 30, address lines 500, city 255, region 255, postal code 30,
country 255). Emails are compared trimmed, lower-cased and in Unicode NFC (a composed and a
decomposed "é" are one address), and a QBO customer's PrimaryEmailAddr may hold several
comma-separated addresses: each counts. An email over 100 characters is never cut (that would
make another, invalid, address): it is not used to match nor pushed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from qbsync.sources.records import Member

DISPLAY_NAME_MAX = 500
NAME_MAX = 100
EMAIL_MAX = 100
PHONE_MAX = 30
DELETED_SUFFIX = " (deleted)"
_REFUSED_IN_NAMES = re.compile(r"[:\t\r\n]+")
_SPACES = re.compile(r"\s+")
# What a usable address looks like: something@something.tld, no spaces or commas.
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")

# The contact fields qbsync keeps in step, by the key they have in the pushed snapshot.
CONTACT_KEYS = (
    "first_name", "last_name", "company", "email", "phone",
    "line1", "line2", "city", "region", "postal_code", "country",
)  # fmt: skip
_ADDRESS_KEYS = ("line1", "line2", "city", "region", "postal_code", "country")


def normalize_email(text: str) -> str:
    # Platforms and QBO may store either form of an accented letter; NFC last, so the result
    # is always composed whatever lower() did.
    return unicodedata.normalize("NFC", text.strip().lower())


def split_emails(primary: str | None) -> tuple[str, ...]:
    """Every address in a PrimaryEmailAddr value (comma- or semicolon-separated), normalized."""
    if not primary:
        return ()
    parts = (normalize_email(p) for p in re.split(r"[,;]", primary))
    return tuple(dict.fromkeys(p for p in parts if p))


def usable_email(member: Member) -> str | None:
    """The member's email, normalized, when it is one address QBO would take; else None."""
    email = normalize_email(member.email)
    if not email or len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        return None
    return email


def clean_name(text: str, limit: int) -> str:
    """``text`` without colons, tabs or newlines, spaces collapsed, cut to ``limit``."""
    cleaned = _SPACES.sub(" ", _REFUSED_IN_NAMES.sub(" ", text)).strip()
    return cleaned[:limit].rstrip()


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def display_name(member: Member, template: str) -> str:
    """The DisplayName for a new customer: the template, else the company, else the email,
    else the member id; never empty, never with characters QBO refuses."""
    fields = _Fields(
        id=member.id,
        email=member.email.strip(),
        first_name=member.first_name,
        last_name=member.last_name,
        company=member.company,
    )
    for candidate in (template.format_map(fields), member.company, member.email, member.id):
        name = clean_name(candidate, DISPLAY_NAME_MAX)
        if name:
            return name
    return clean_name(f"Member {member.id}", DISPLAY_NAME_MAX)


def name_variant(name: str, member: Member) -> str:
    """The one retry after a Duplicate Name (6240): ``Ada Lovelace (ada@example.com)``, or with
    the member id when the email is already in the name or missing."""
    email = member.email.strip()
    tag = email if email and email.lower() not in name.lower() else f"member {member.id}"
    suffix = f" ({clean_name(tag, DISPLAY_NAME_MAX)})"
    return clean_name(name, DISPLAY_NAME_MAX - len(suffix)) + suffix


def restored_name(display: str) -> str | None:
    """The name QBO had before it made the customer inactive (it appends " (deleted)")."""
    if display.endswith(DELETED_SUFFIX):
        return display[: -len(DELETED_SUFFIX)].rstrip() or None
    return None


def contact_snapshot(member: Member) -> dict[str, str]:
    """The member's contact fields as qbsync pushes them (the pushed-state snapshot)."""
    a = member.address
    raw = {
        "first_name": clean_name(member.first_name, NAME_MAX),
        "last_name": clean_name(member.last_name, NAME_MAX),
        "company": clean_name(member.company, NAME_MAX),
        "email": member.email.strip(),  # never cut: see members_plan._plan_linked
        "phone": member.phone.strip()[:PHONE_MAX],
        "line1": a.line1.strip()[:500],
        "line2": a.line2.strip()[:500],
        "city": a.city.strip()[:255],
        "region": a.region.strip()[:255],
        "postal_code": a.postal_code.strip()[:30],
        "country": a.country.strip()[:255],
    }
    return raw


def changed_keys(current: Mapping[str, str], pushed: Mapping[str, str]) -> list[str]:
    return [k for k in CONTACT_KEYS if current.get(k, "") != pushed.get(k, "")]


def customer_fields(snapshot: Mapping[str, str], keys: list[str] | None = None) -> dict[str, Any]:
    """QBO Customer fields for ``keys`` of a snapshot (all when None). An emptied field is sent
    empty so QBO clears it; the address goes whole when any part of it changed."""
    wanted = set(CONTACT_KEYS if keys is None else keys)
    body: dict[str, Any] = {}
    if "first_name" in wanted:
        body["GivenName"] = snapshot["first_name"]
    if "last_name" in wanted:
        body["FamilyName"] = snapshot["last_name"]
    if "company" in wanted:
        body["CompanyName"] = snapshot["company"]
    if "email" in wanted and snapshot["email"]:
        body["PrimaryEmailAddr"] = {"Address": snapshot["email"]}
    if "phone" in wanted:
        body["PrimaryPhone"] = {"FreeFormNumber": snapshot["phone"]}
    if wanted & set(_ADDRESS_KEYS):
        body["BillAddr"] = {
            "Line1": snapshot["line1"],
            "Line2": snapshot["line2"],
            "City": snapshot["city"],
            "CountrySubDivisionCode": snapshot["region"],
            "PostalCode": snapshot["postal_code"],
            "Country": snapshot["country"],
        }
    if keys is None:  # a new customer: leave out what is empty rather than send blanks
        body = {k: v for k, v in body.items() if _has_value(v)}
    return body


def _has_value(value: Any) -> bool:
    if isinstance(value, dict):
        return any(bool(v) for v in value.values())
    return bool(value)


def new_customer_body(
    member: Member, name: str, snapshot: Mapping[str, str] | None = None
) -> dict[str, Any]:
    body = customer_fields(snapshot or contact_snapshot(member))
    body["DisplayName"] = name
    return body
