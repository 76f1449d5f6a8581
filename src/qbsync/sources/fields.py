"""Field rules shared by every built-in source: raw values (CSV text, JSON values) -> clean records.

Each parser raises ``FieldError`` naming the field and the reason; ``member_from`` and friends
collect those into ``Issue``s, so one row can report every field at fault at once. The reason
texts here are what operators read in a run's problem list (docs/sources.md lists them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from qbsync.sources.records import (
    INVOICE_KINDS,
    Address,
    InvoiceLine,
    Member,
    PlatformPayment,
    Problem,
    ProblemKind,
    SourceInvoice,
)

MEMBER_COLUMNS = (
    "id", "email", "first_name", "last_name", "company", "phone", "address_line1",
    "address_line2", "city", "region", "postal_code", "country", "status", "created_at",
)  # fmt: skip
MEMBER_REQUIRED = ("id", "email")
ADDRESS_KEYS = ("line1", "line2", "city", "region", "postal_code", "country")
# Member column -> Address field ("address_line1" -> "line1"; city, region... keep their names).
ADDRESS_COLUMNS = {
    "address_line1": "line1", "address_line2": "line2", "city": "city", "region": "region",
    "postal_code": "postal_code", "country": "country",
}  # fmt: skip

INVOICE_FIELDS = (
    "invoice_id",
    "member_id",
    "number",
    "created_at",
    "due_date",
    "status",
    "currency",
)
LINE_FIELDS = ("description", "quantity", "unit_price", "item_code", "tax_code")
# One platform payment per invoice in CSV (payments.py reads them; all-or-nothing per row).
PAYMENT_COLUMNS = ("payment_id", "paid_at", "paid_amount", "payment_method", "payment_ref")
# total: the platform's own invoice total (optional): QBO's TotalAmt is checked against it.
# type / applies_to: an invoice (default) or a credit note, and the invoice a credit note credits.
INVOICE_COLUMNS = (
    *INVOICE_FIELDS, *LINE_FIELDS, "tax_amount", "total", "type", "applies_to", *PAYMENT_COLUMNS,
)  # fmt: skip
INVOICE_REQUIRED = (
    "invoice_id",
    "member_id",
    "number",
    "created_at",
    "status",
    "quantity",
    "unit_price",
)

MAX_DECIMALS = 7  # QBO keeps at most 7 decimals in a quantity or unit price
# local@domain.tld: no spaces, one @, a dot inside the domain with something on both sides.
_EMAIL = re.compile(r"[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]+")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_CURRENCY = re.compile(r"[A-Z]{3}")
DATE_EXAMPLE = "ISO 8601 such as 2024-05-31 or 2024-05-31T14:00:00Z"


class Issue(NamedTuple):
    field: str | None
    reason: str


class FieldError(ValueError):
    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.issue = Issue(field, reason)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


R = TypeVar("R")


def text(values: Mapping[str, Any], field: str) -> str:
    """The trimmed text of ``field``; "" when absent or null. A whole number reads as its digits."""
    value = values.get(field)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise FieldError(field, f"expected text, got {_json_kind(value)}")


def required(
    parse: Callable[..., R | None], values: Mapping[str, Any], field: str, *args: Any, **kwargs: Any
) -> R:
    """``parse(values, field, ...)``, refusing an empty value with "no <field>"."""
    value = parse(values, field, *args, **kwargs)
    if value is None or value == "":
        raise FieldError(field, f"no {field}")
    return value


def email(values: Mapping[str, Any], field: str = "email") -> str:
    value = text(values, field)
    if value and not _EMAIL.fullmatch(value):
        raise FieldError(field, f"invalid email {value!r}")
    return value


def when(values: Mapping[str, Any], field: str, tz: tzinfo) -> datetime | None:
    """An ISO 8601 date or datetime, aware: a naive value (or a bare date, at midnight) is in ``tz``."""
    value = text(values, field)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(field, f"invalid date {value!r} (expected {DATE_EXAMPLE})") from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def day(values: Mapping[str, Any], field: str, tz: tzinfo) -> date | None:
    """A date; a datetime given instead counts as its day in ``tz``."""
    value = text(values, field)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    moment = when(values, field, tz)
    return moment.astimezone(tz).date() if moment else None


def decimal(
    values: Mapping[str, Any], field: str, *, max_places: int | None = None
) -> Decimal | None:
    """A finite decimal from text or a JSON number (already a Decimal: never through float)."""
    value = values.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise FieldError(field, f"expected a number, got {_json_kind(value)}")
    if isinstance(value, str):
        shown = value.strip()
        if not _DECIMAL.fullmatch(shown):
            raise FieldError(field, f"not a decimal number: {shown!r}")
        number = Decimal(shown)
    else:
        number = Decimal(value)
        shown = str(value)
    if not number.is_finite():
        raise FieldError(field, f"not a finite number: {shown!r}")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if max_places is not None and -exponent > max_places:
        raise FieldError(field, f"more than {max_places} decimals: {shown!r}")
    return number


def status(values: Mapping[str, Any], field: str = "status", default: str = "") -> str:
    return text(values, field).lower() or default


# Spellings of one status: "voided" is the platform's "void" (the engine knows only "void").
STATUS_ALIASES = {"voided": "void"}


def invoice_status(values: Mapping[str, Any], field: str = "status") -> str:
    """The lower-cased status, its aliases normalised ("voided" -> "void")."""
    value = status(values, field)
    return STATUS_ALIASES.get(value, value)


def kind(values: Mapping[str, Any], field: str = "type") -> str:
    """``invoice`` (also when empty) or ``credit_note``, case-insensitive."""
    value = text(values, field).lower() or "invoice"
    if value not in INVOICE_KINDS:
        raise FieldError(field, f"unknown type {value!r} (expected invoice or credit_note)")
    return value


def currency(values: Mapping[str, Any], field: str = "currency") -> str | None:
    value = text(values, field).upper()
    if not value:
        return None
    if not _CURRENCY.fullmatch(value):
        raise FieldError(
            field, f"invalid currency {value!r} (expected a 3-letter ISO code such as USD)"
        )
    return value


class Collector:
    """Runs field parsers, keeping every FieldError as an Issue instead of stopping at the first."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def __call__(self, parse: Callable[..., R], *args: Any, **kwargs: Any) -> R | None:
        try:
            return parse(*args, **kwargs)
        except FieldError as exc:
            self.issues.append(exc.issue)
            return None


def member_from(values: Mapping[str, Any], tz: tzinfo) -> tuple[Member | None, list[Issue]]:
    """A Member from flat values keyed by the members.csv column names."""
    take = Collector()
    member_id = take(required, text, values, "id")
    address = {ADDRESS_COLUMNS[col]: take(text, values, col) or "" for col in ADDRESS_COLUMNS}
    member = Member(
        id=member_id or "",
        email=take(email, values, "email") or "",
        first_name=take(text, values, "first_name") or "",
        last_name=take(text, values, "last_name") or "",
        company=take(text, values, "company") or "",
        phone=take(text, values, "phone") or "",
        address=Address(**address),
        status=take(status, values, "status", "active") or "active",
        created_at=take(when, values, "created_at", tz),
    )
    return (None if take.issues else member), take.issues


@dataclass(frozen=True)
class InvoiceHead:
    """The invoice-level fields of a SourceInvoice (everything but its lines)."""

    id: str
    member_id: str
    number: str
    created_at: datetime
    due_date: date | None
    status: str
    currency: str | None
    tax_amount: Decimal | None
    total: Decimal | None = None
    kind: str = "invoice"
    applies_to: str | None = None

    def with_lines(
        self, lines: Sequence[InvoiceLine], payments: Sequence[PlatformPayment] = ()
    ) -> SourceInvoice:
        return SourceInvoice(
            id=self.id,
            member_id=self.member_id,
            number=self.number,
            created_at=self.created_at,
            due_date=self.due_date,
            status=self.status,
            currency=self.currency,
            lines=tuple(lines),
            tax_amount=self.tax_amount,
            total=self.total,
            kind=self.kind,
            applies_to=self.applies_to,
            payments=tuple(payments),
        )


def invoice_head_from(
    values: Mapping[str, Any], tz: tzinfo
) -> tuple[InvoiceHead | None, list[Issue]]:
    """The invoice-level fields from values keyed by the invoices.csv column names."""
    take = Collector()
    invoice_id = take(required, text, values, "invoice_id")
    member_id = take(required, text, values, "member_id")
    number = take(required, text, values, "number")
    created_at = take(required, when, values, "created_at", tz)
    due_date = take(day, values, "due_date", tz)
    head_status = take(required, invoice_status, values, "status")
    invoice_currency = take(currency, values, "currency")
    tax_amount = take(decimal, values, "tax_amount")
    total = take(decimal, values, "total")
    invoice_kind = take(kind, values, "type")
    applies_to = take(text, values, "applies_to") or None
    if applies_to is not None and invoice_kind == "invoice":
        take.issues.append(Issue("applies_to", "only a credit_note applies to an invoice"))
    elif applies_to is not None and applies_to == invoice_id:
        take.issues.append(Issue("applies_to", "a credit note cannot apply to itself"))
    if take.issues:
        return None, take.issues
    assert invoice_id and member_id and number and created_at and head_status
    head = InvoiceHead(
        invoice_id,
        member_id,
        number,
        created_at,
        due_date,
        head_status,
        invoice_currency,
        tax_amount,
        total,
        invoice_kind or "invoice",
        applies_to,
    )
    return head, []


def line_from(values: Mapping[str, Any]) -> tuple[InvoiceLine | None, list[Issue]]:
    take = Collector()
    quantity = take(required, decimal, values, "quantity", max_places=MAX_DECIMALS)
    unit_price = take(required, decimal, values, "unit_price", max_places=MAX_DECIMALS)
    line = InvoiceLine(
        description=take(text, values, "description") or "",
        quantity=quantity or Decimal(0),
        unit_price=unit_price or Decimal(0),
        item_code=take(text, values, "item_code") or "",
        tax_code=take(text, values, "tax_code") or "",
    )
    return (None if take.issues else line), take.issues


def out_of_filter(
    statuses_seen: Iterable[object],
    created_seen: Iterable[object],
    *,
    statuses: Sequence[str] | None,
    since: datetime | None,
    tz: tzinfo,
) -> bool:
    """True when the invoice's own values show it is not wanted (no problem is reported then).

    ``statuses_seen`` / ``created_seen``: the raw status and created_at of every row of the
    invoice. Not wanted: no row's status is among ``statuses`` (nor empty; ``None``: any status
    is wanted), or every row's created_at reads and is before ``since``. Anything unreadable is
    left to the full check, which reports it. Aliases match ("voided" is wanted as "void").
    """
    if statuses is not None:
        wanted = {_lower(s) for s in statuses}
        seen = [_lower(s) for s in statuses_seen]
        # An empty status cannot be told apart from a wanted one: the full check reports it.
        if not wanted or not any(s in wanted or s == "" for s in seen):
            return True
    if since is None:
        return False
    moments = []
    for raw in created_seen:
        try:
            moment = when({"created_at": raw}, "created_at", tz)
        except FieldError:
            return False
        if moment is None:
            return False
        moments.append(moment)
    return bool(moments) and all(m < since for m in moments)


def _lower(value: object) -> str:
    lowered = value.strip().lower() if isinstance(value, str) else ""
    return STATUS_ALIASES.get(lowered, lowered)


def aware(moment: datetime | None, tz: tzinfo) -> datetime | None:
    """``moment`` made aware: a naive one is in ``tz``."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=tz)


def problems_from(
    where: str, record_id: str | None, issues: Iterable[Issue], kind: ProblemKind
) -> list[Problem]:
    """One Problem per issue of the record ``record_id`` (a member or an invoice) at ``where``."""
    return [Problem(where, record_id or None, i.field, i.reason, kind) for i in issues]
