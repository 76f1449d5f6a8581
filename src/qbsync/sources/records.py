"""What a source hands the sync engine: members, invoices, and the problems met reading them.

Records are frozen and already clean: ids trimmed and non-empty, statuses lower-cased, money as
``Decimal`` taken from the text (never through float), datetimes aware. A row or item that cannot
be made into a clean record is not a record: it becomes a ``Problem`` and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from typing import Generic, Literal, TypeVar

T = TypeVar("T")


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
    id: str  # trimmed, non-empty
    email: str  # trimmed, case kept; "" when the source has none (the engine reports it)
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    address: Address = Address()
    status: str = "active"  # lower-cased; an empty status reads as "active"
    created_at: datetime | None = None  # aware

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
class PlatformPayment:
    """A payment the platform itself took for an invoice (a member paying by card there)."""

    id: str  # the platform's payment id (unique per platform)
    paid_at: datetime  # aware
    amount: Decimal  # > 0, exactly 2 decimals
    method: str | None = None  # e.g. "card", mapped by [payments.methods]
    reference: str | None = None


INVOICE_KINDS = ("invoice", "credit_note")


@dataclass(frozen=True)
class SourceInvoice:
    id: str
    member_id: str
    number: str
    created_at: datetime  # aware
    due_date: date | None
    status: str  # lower-cased
    currency: str | None  # upper-cased ISO 4217 code; None when the source gives none
    lines: tuple[InvoiceLine, ...]  # at least one
    tax_amount: Decimal | None = None
    # The platform's own total for the invoice, when the source gives one: what QBO's TotalAmt is
    # checked against. Not in the fingerprint: it is derived from the lines and tax, which are.
    total: Decimal | None = None
    kind: str = "invoice"  # "invoice" | "credit_note"
    applies_to: str | None = None  # a credit note: the id of the invoice it credits
    # Payments the platform took. Not in the fingerprint: a payment is not an edit of the
    # invoice (the engine pushes payments by their own ids, exactly once each).
    payments: tuple[PlatformPayment, ...] = ()

    def fingerprint(self) -> str:
        """A stable sha256 (hex) of every field: equal exactly when the invoice reads the same.

        Numbers are compared by value (``10.5`` and ``10.50`` are the same amount) and times by
        instant (an offset written differently is not a change at the source).
        """
        body: dict[str, object] = {
            "v": 1,
            "id": self.id,
            "member_id": self.member_id,
            "number": self.number,
            "created_at": _instant(self.created_at),
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "status": self.status,
            "currency": self.currency,
            "tax_amount": _amount(self.tax_amount),
            "lines": [
                [
                    line.description,
                    _amount(line.quantity),
                    _amount(line.unit_price),
                    line.item_code,
                    line.tax_code,
                ]
                for line in self.lines
            ],
        }
        # Only when not the default, so every invoice read before these fields existed keeps
        # the fingerprint recorded at its export (a change would read as an edit).
        if self.kind != "invoice":
            body["kind"] = self.kind
        if self.applies_to is not None:
            body["applies_to"] = self.applies_to
        text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Wide enough that normalizing never rounds nor overflows (the default context rounds past 28
# digits and raises Overflow on 1e999999999, which a JSON source may send).
_EXACT = Context(prec=200, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _amount(value: Decimal | None) -> str | None:
    if value is None:
        return None
    if not value.is_finite() or abs(value.adjusted()) > 100:
        return str(value)  # absurd (never exported): short, and still distinct per value
    text = format(value.normalize(_EXACT), "f")
    return "0" if text in ("-0", "0") else text


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


ProblemKind = Literal["member", "invoice"]


@dataclass(frozen=True)
class Problem:
    """A row or item that was skipped, and why, in words an operator can act on."""

    where: str  # "members.csv line 7", "GET /members page 3 item 12"
    record_id: str | None  # the member or invoice id, when known
    field: str | None  # the column or key at fault, when one is
    reason: str  # "invalid email 'ada@'"
    # Which kind of record record_id names, for __str__ ("member m-7"); None prints the id alone.
    kind: ProblemKind | None = None

    def __str__(self) -> str:
        parts = [self.where]
        if self.record_id is not None:
            parts.append(f"{self.kind} {self.record_id}" if self.kind else self.record_id)
        if self.field:
            parts.append(self.field)
        parts.append(self.reason)
        return ": ".join(parts)


@dataclass
class Read(Generic[T]):
    """What one read of a source gave: the clean records and the problems with the rest."""

    records: list[T] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
