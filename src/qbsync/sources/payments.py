"""Payments the platform took, as sources give them: one per invoice row in CSV, a list in JSON.

A payment is all or nothing: an id, a time and an amount together (method and reference
optional). A payment missing one of them is not a payment with a gap: the whole invoice is
reported and skipped, like any other bad field, so no payment is ever pushed half-read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from decimal import Decimal
from typing import Any, NamedTuple

from qbsync.sources.fields import (
    PAYMENT_COLUMNS,
    Collector,
    FieldError,
    Issue,
    decimal,
    required,
    text,
    when,
)
from qbsync.sources.records import PlatformPayment, Problem, SourceInvoice

CENT = Decimal("0.01")


class PaymentKeys(NamedTuple):
    """Where a payment's fields are, under the names the source uses (they name the problems)."""

    id: str
    paid_at: str
    amount: str
    method: str
    reference: str


CSV_KEYS = PaymentKeys(*PAYMENT_COLUMNS)
JSON_KEYS = PaymentKeys("id", "paid_at", "amount", "method", "reference")


def amount(values: Mapping[str, Any], field: str) -> Decimal | None:
    """A payment amount: more than 0, at most 2 decimals, kept with exactly 2 (``10`` -> 10.00)."""
    value = decimal(values, field, max_places=2)
    if value is None:
        return None
    if value <= 0:
        raise FieldError(field, f"a payment amount must be more than 0, got {value}")
    return value.quantize(CENT)


def payment_from(
    values: Mapping[str, Any], tz: tzinfo, keys: PaymentKeys, *, prefix: str = ""
) -> tuple[PlatformPayment | None, list[Issue]]:
    """The payment in ``values``; (None, []) when it holds none of the payment's fields.

    ``prefix`` goes before each field named in an issue (``payments[2].``).
    """
    if all(_blank(values.get(key)) for key in keys):
        return None, []
    take = Collector()
    payment_id = take(required, text, values, keys.id)
    paid_at = take(required, when, values, keys.paid_at, tz)
    paid = take(required, amount, values, keys.amount)
    method = take(text, values, keys.method) or None
    reference = take(text, values, keys.reference) or None
    given = [k for k in keys if not _blank(values.get(k))]
    issues = [Issue(f"{prefix}{i.field}", _why(i, keys, given)) for i in take.issues]
    if issues:
        return None, issues
    assert payment_id and paid_at and paid is not None
    return PlatformPayment(payment_id, paid_at, paid, method, reference), []


def payments_from(raw: object, tz: tzinfo) -> tuple[tuple[PlatformPayment, ...], list[Issue]]:
    """The JSON ``payments`` list: absent or null is none; each item an object with an id."""
    if raw is None:
        return (), []
    if not isinstance(raw, list):
        return (), [Issue("payments", "expected a list of payment objects")]
    found: list[PlatformPayment] = []
    issues: list[Issue] = []
    first: dict[str, int] = {}
    for number, item in enumerate(raw, start=1):
        prefix = f"payments[{number}]"
        if not isinstance(item, Mapping):
            issues.append(Issue(prefix, "expected a JSON object"))
            continue
        payment, more = payment_from(item, tz, JSON_KEYS, prefix=f"{prefix}.")
        if payment is None and not more:
            more = [Issue(f"{prefix}.id", "no id (an empty payment object)")]
        issues.extend(more)
        if payment is None:
            continue
        if payment.id in first:
            issues.append(
                Issue(
                    f"{prefix}.id",
                    f"duplicate payment id {payment.id!r} (also payment {first[payment.id]})",
                )
            )
            continue
        first[payment.id] = number
        found.append(payment)
    return tuple(found), issues


class PaymentIds:
    """Payment ids seen in one read: the engine pushes each payment id once, so an id on two
    invoices would silently lose one of the two payments. The later invoice is reported."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def clash(self, where: str, invoice: SourceInvoice) -> list[Problem]:
        problems = [
            Problem(
                where,
                invoice.id,
                "payment_id",
                f"payment id {p.id!r} is also on invoice {self.seen[p.id]} (a platform payment "
                "id names one payment)",
                "invoice",
            )
            for p in invoice.payments
            if self.seen.get(p.id, invoice.id) != invoice.id
        ]
        if not problems:
            for payment in invoice.payments:
                self.seen[payment.id] = invoice.id
        return problems


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _why(issue: Issue, keys: PaymentKeys, given: list[str]) -> str:
    """A missing field of a payment says which others made it a payment: "no paid_amount" alone
    would not tell why an amount is wanted on this row."""
    if issue.reason != f"no {issue.field}":
        return issue.reason
    return (
        f"{issue.reason} (a payment needs {keys.id}, {keys.paid_at} and {keys.amount}; "
        f"this one has {', '.join(given)})"
    )
