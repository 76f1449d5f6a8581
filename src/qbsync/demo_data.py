"""The demo's sample data: extra QBO customers, members.csv and invoices.csv.

The members cover each case connect-members decides (docs/members.md); the invoices each case
export decides (docs/export.md). Invoice times are relative to the moment ``qbsync auth`` enabled
the integration, so invoices.csv is written after that step. Everything is deterministic; money is
Decimal, written as text.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from qbsync.sync.invoice_map import line_amount

# Customers a real company accumulates, added to the emulator's default seed (Emily Platt,
# Northside Books, "Gary Holt (deleted)"): one holding a comma-separated list of emails, and two
# active ones sharing an email.
EXTRA_CUSTOMERS: list[dict[str, Any]] = [
    {
        "DisplayName": "Acme Mail Co",
        "CompanyName": "Acme Mail Co",
        "PrimaryEmailAddr": {"Address": "billing@acme.example, ops@acme.example"},
        "Active": True,
    },
    {
        "DisplayName": "Pat Rivera",
        "GivenName": "Pat",
        "FamilyName": "Rivera",
        "PrimaryEmailAddr": {"Address": "pat@riveradesign.example"},
        "Active": True,
    },
    {
        "DisplayName": "Rivera Design Studio",
        "CompanyName": "Rivera Design Studio",
        "PrimaryEmailAddr": {"Address": "pat@riveradesign.example"},
        "Active": True,
    },
]

MEMBER_COLUMNS = (
    "id", "email", "first_name", "last_name", "company", "phone",
    "address_line1", "city", "region", "postal_code", "country", "status",
)  # fmt: skip

# (id, email, first, last, company, status, what the demo expects)
SPECIAL_MEMBERS: list[tuple[str, str, str, str, str, str, str]] = [
    ("m-001", "EMILY.PLATT@example.com", "Emily", "Platt", "", "active",
     "linked to Emily Platt (emails compared ignoring case)"),
    ("m-002", "orders@harbor-courier.example", "", "", "Harbor Courier Supplies", "active",
     "created as 'Harbor Courier Supplies (orders@...)': a vendor holds the name"),
    ("m-003", "pat@riveradesign.example", "Pat", "Rivera", "Rivera Design Studio", "active",
     "needs review: two active QBO customers have this email"),
    ("m-004", "gary.holt@oldmail.example", "Gary", "Holt", "", "active",
     "reactivated, 'Gary Holt (deleted)' renamed back to 'Gary Holt'"),
    ("m-005", "", "Nora", "Quill", "", "active", "no email: listed, not guessed"),
    ("m-006", "sean.oneil@example.org", "Sean", "O'Neil \"Jr\"", "", "active",
     "created with the quotes in its name"),
    ("m-007", "ops@acme.example", "", "", "Acme Mail Co", "active",
     "linked to Acme Mail Co, whose email field lists two addresses"),
    ("m-008", "lapsed.member@example.net", "Lee", "Lapsed", "", "cancelled",
     "inactive at the platform: not connected"),
]  # fmt: skip

ORDINARY_NAMES = [
    ("Ava", "Chen"), ("Marcus", "Bell"), ("Lena", "Ortiz"), ("Tom", "Okafor"), ("Priya", "Nair"),
    ("Hugo", "Lambert"), ("Sofia", "Rossi"), ("Ben", "Carter"), ("Mia", "Novak"), ("Omar", "Haddad"),
]  # fmt: skip

LINKED = ["m-001", "m-002", "m-004", "m-006", "m-007"] + [f"m-{n:03}" for n in range(10, 20)]
UNKNOWN_MEMBER = "m-999"  # has invoices but is not in members.csv
UNKNOWN_ITEM = "LOCKER-XL"  # no QBO item has this name and [export.items] does not map it

# (description, item code, quantity, unit price, tax code): the ordinary invoice lines.
CATALOG: list[tuple[str, str, str, str, str]] = [
    ("Mailbox rental, one month", "Mailbox Rental", "1", "25.00", "NON"),
    ("Mail forwarding", "Mail Forwarding", "3", "7.50", "TAX"),
    ("Annual membership", "Membership Fee", "1", "120.00", "NON"),
    ("Package handling", "", "2", "4.25", ""),  # no item code: [export] default_item (Services)
    ("Mail forwarding, express", "Mail Forwarding", "1", "12.99", "TAX"),
]  # fmt: skip

INVOICE_COLUMNS = (
    "invoice_id", "member_id", "number", "created_at", "due_date", "status", "currency",
    "description", "item_code", "quantity", "unit_price", "tax_code",
)  # fmt: skip


@dataclass
class SampleInvoices:
    """What invoices.csv holds, by what export should do with each invoice."""

    exportable: dict[str, Decimal] = field(default_factory=dict)  # invoice id -> total
    before_enabled: list[str] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)
    member_held: dict[str, str] = field(default_factory=dict)  # invoice id -> member id
    unknown_item: str = ""
    multi_line: str = ""
    multi_line_total: Decimal = Decimal("0")

    @property
    def count(self) -> int:
        held = len(self.before_enabled) + len(self.paid) + len(self.member_held)
        return len(self.exportable) + held + 1

    @property
    def exportable_total(self) -> Decimal:
        return sum(self.exportable.values(), Decimal("0"))


def write_members(path: Path) -> None:
    rows: list[dict[str, str]] = []
    for member_id, email, first, last, company, status, _why in SPECIAL_MEMBERS:
        rows.append(_member(member_id, email, first, last, company, status))
    for n, (first, last) in enumerate(ORDINARY_NAMES, start=10):
        email = f"{first.lower()}.{last.lower()}@example.net"
        rows.append(_member(f"m-{n:03}", email, first, last, "", "active", n=n))
    _write(path, MEMBER_COLUMNS, rows)


def _member(
    member_id: str, email: str, first: str, last: str, company: str, status: str, n: int = 0
) -> dict[str, str]:
    number = n or int(member_id[2:])
    return {
        "id": member_id,
        "email": email,
        "first_name": first,
        "last_name": last,
        "company": company,
        "phone": f"(503) 555-{200 + number:04}",
        "address_line1": f"{100 + number} Harbor Way, Box {number}",
        "city": "Portland",
        "region": "OR",
        "postal_code": "97201",
        "country": "US",
        "status": status,
    }


def write_invoices(path: Path, *, enabled_at: datetime, now: datetime) -> SampleInvoices:
    """About 120 invoices: most exportable (created between ``enabled_at`` and ``now``), the rest
    each held back for a reason export gives."""
    sample = SampleInvoices()
    rows: list[dict[str, str]] = []
    window = max(now - enabled_at, timedelta(milliseconds=1))
    counter = iter(range(1001, 10_000))

    def add(member: str, lines: list[tuple[str, str, str, str, str]], *, when: datetime,
            status: str = "pending") -> str:  # fmt: skip
        number = str(next(counter))
        invoice_id = f"inv-{number}"
        for description, item, quantity, price, tax in lines:
            rows.append(
                {
                    "invoice_id": invoice_id,
                    "member_id": member,
                    "number": number,
                    "created_at": when.isoformat(),
                    "due_date": (when + timedelta(days=30)).date().isoformat(),
                    "status": status,
                    "currency": "USD",
                    "description": description,
                    "item_code": item,
                    "quantity": quantity,
                    "unit_price": price,
                    "tax_code": tax,
                }
            )
        return invoice_id

    def after(k: int) -> datetime:  # spread over [enabled_at, now], strictly after enabled_at
        return enabled_at + window * (k + 1) / 130

    for k in range(10):  # from before qbsync was connected: never exported
        member = LINKED[k % len(LINKED)]
        sample.before_enabled.append(add(member, [CATALOG[k % 5]], when=enabled_at - timedelta(days=1 + k)))  # fmt: skip
    for k in range(15):  # paid at the platform already
        member = LINKED[(k + 3) % len(LINKED)]
        sample.paid.append(add(member, [CATALOG[(k + 1) % 5]], when=after(k), status="paid"))
    for k, member in enumerate(["m-003", "m-003", "m-005", "m-005", "m-008", UNKNOWN_MEMBER]):
        sample.member_held[add(member, [CATALOG[k % 5]], when=after(15 + k))] = member
    sample.unknown_item = add(
        "m-012",
        [CATALOG[0], ("Extra-large locker, one month", UNKNOWN_ITEM, "1", "40.00", "NON")],
        when=after(21),
    )
    multi = [
        ("Mail forwarding, per shipment", "Mail Forwarding", "3", "7.333", "TAX"),
        ("Mailbox rental, per unit", "Mailbox Rental", "14.50", "128.35", "NON"),
    ]
    sample.multi_line = add("m-001", multi, when=after(22))
    sample.multi_line_total = _total(multi)
    for k in range(87):  # ordinary pending invoices of connected members
        member = LINKED[k % len(LINKED)]
        lines = [CATALOG[k % 5]] + ([CATALOG[(k + 2) % 5]] if k % 3 == 0 else [])
        sample.exportable[add(member, lines, when=after(23 + k))] = _total(lines)
    sample.exportable[sample.multi_line] = sample.multi_line_total
    _write(path, INVOICE_COLUMNS, rows)
    return sample


def _total(lines: list[tuple[str, str, str, str, str]]) -> Decimal:
    return sum((line_amount(Decimal(q), Decimal(p)) for _d, _i, q, p, _t in lines), Decimal("0"))


def _write(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
