"""Stand-in for the source records (the real module comes from the sources branch at merge)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class Member:
    id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    address: Address = Address()
    status: str = "active"
    created_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    item_code: str = ""
    tax_code: str = ""


@dataclass(frozen=True)
class SourceInvoice:
    id: str
    member_id: str
    number: str
    created_at: datetime
    due_date: date | None
    status: str
    currency: str | None
    lines: tuple[InvoiceLine, ...]
    tax_amount: Decimal | None = None
