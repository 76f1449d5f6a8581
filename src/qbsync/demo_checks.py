"""What the demo checks in the emulator after its steps: the QBO side of each promise.

Reads the emulated company directly (``Company.dump()``), never through qbsync, so a bug in
qbsync cannot hide itself. Each check answers the problems it found (empty: all good).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from qbsync.demo_data import SampleInvoices

MARKER = re.compile(r"^qbsync:(\S+) #")


@dataclass(frozen=True)
class Holdings:
    """The emulated company's customers and invoices, as the demo reports them."""

    customers: list[dict[str, Any]]
    invoices: list[dict[str, Any]]

    @classmethod
    def of(cls, dump: dict[str, list[dict[str, Any]]]) -> Holdings:
        return cls(list(dump.get("Customer", [])), list(dump.get("Invoice", [])))

    def customer(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.customers if c.get("DisplayName") == name), None)

    def markers(self) -> Counter[str]:
        """How many QBO invoices carry each ``qbsync:<invoice id>`` PrivateNote marker."""
        found: Counter[str] = Counter()
        for invoice in self.invoices:
            match = MARKER.match(str(invoice.get("PrivateNote", "")))
            if match:
                found[match.group(1)] += 1
        return found

    def invoice_of(self, invoice_id: str) -> dict[str, Any] | None:
        return next(
            (
                i
                for i in self.invoices
                if str(i.get("PrivateNote", "")).startswith(f"qbsync:{invoice_id} #")
            ),
            None,
        )

    @property
    def exported_total(self) -> Decimal:
        return sum(
            (Decimal(str(i["TotalAmt"])) for i in self.invoices if MARKER.match(_note(i))),
            Decimal("0"),
        )

    def summary(self) -> dict[str, Any]:
        active = sum(1 for c in self.customers if c.get("Active", True))
        return {
            "customers": len(self.customers),
            "active_customers": active,
            "invoices": len(self.invoices),
            "exported_invoices": sum(self.markers().values()),
            "exported_total": str(self.exported_total),
        }


def _note(invoice: dict[str, Any]) -> str:
    return str(invoice.get("PrivateNote", ""))


# The customers connect-members must leave, by DisplayName: (active, email).
EXPECTED_CUSTOMERS = {
    "Emily Platt": (True, "emily.platt@example.com"),
    "Gary Holt": (True, "gary.holt@oldmail.example"),
    "Harbor Courier Supplies (orders@harbor-courier.example)": (
        True,
        "orders@harbor-courier.example",
    ),
    'Sean O\'Neil "Jr"': (True, "sean.oneil@example.org"),
    "Acme Mail Co": (True, "billing@acme.example, ops@acme.example"),
    "Ava Chen": (True, "ava.chen@example.net"),
    "Omar Haddad": (True, "omar.haddad@example.net"),
}
SEEDED_CUSTOMERS = 6  # the default seed's 3 and demo_data.EXTRA_CUSTOMERS
CREATED_CUSTOMERS = 12  # Harbor Courier Supplies (...), Sean O'Neil "Jr" and ten new members
NOT_CREATED = ("Nora Quill", "Lee Lapsed", "Gary Holt (deleted)")


def check_members(holdings: Holdings) -> list[str]:
    problems: list[str] = []
    expected = SEEDED_CUSTOMERS + CREATED_CUSTOMERS
    if len(holdings.customers) != expected:
        problems.append(f"QBO holds {len(holdings.customers)} customers, expected {expected}")
    for name, (active, email) in EXPECTED_CUSTOMERS.items():
        customer = holdings.customer(name)
        if customer is None:
            problems.append(f"no QBO customer named {name!r}")
            continue
        if bool(customer.get("Active", True)) != active:
            problems.append(f"customer {name!r} is not {'active' if active else 'inactive'}")
        held = (customer.get("PrimaryEmailAddr") or {}).get("Address")
        if held != email:
            problems.append(f"customer {name!r} has email {held!r}, expected {email!r}")
    for name in NOT_CREATED:
        if holdings.customer(name) is not None:
            problems.append(f"QBO has a customer {name!r}; it should not")
    return problems


def check_invoices(holdings: Holdings, sample: SampleInvoices) -> list[str]:
    """Every exportable invoice in QBO exactly once, with its total; nothing else."""
    problems: list[str] = []
    markers = holdings.markers()
    twice = sorted(i for i, n in markers.items() if n > 1)
    if twice:
        problems.append(f"invoices in QBO more than once: {', '.join(twice)}")
    missing = sorted(set(sample.exportable) - set(markers))
    if missing:
        problems.append(f"invoices missing from QBO: {', '.join(missing)}")
    extra = sorted(set(markers) - set(sample.exportable))
    if extra:
        problems.append(f"invoices in QBO that must not be there: {', '.join(extra)}")
    if len(holdings.invoices) != len(sample.exportable):
        problems.append(
            f"QBO holds {len(holdings.invoices)} invoices, expected {len(sample.exportable)}"
        )
    for invoice_id, total in sample.exportable.items():
        found = holdings.invoice_of(invoice_id)
        if found is not None and Decimal(str(found["TotalAmt"])) != total:
            problems.append(f"invoice {invoice_id}: QBO's total {found['TotalAmt']}, not {total}")
    if holdings.exported_total != sample.exportable_total:
        problems.append(
            f"QBO's invoices add up to {holdings.exported_total}, "
            f"expected {sample.exportable_total}"
        )
    return problems


def check_report(holdings: Holdings, report_csv: str) -> list[str]:
    """The report's CSV reconciles with QBO to the cent: its exported rows are QBO's invoices
    (by Id), and their QBO and platform totals add up to what QBO holds. ``report_csv``: the
    text `qbsync report --csv` wrote."""
    import csv
    import io

    rows = [r for r in csv.DictReader(io.StringIO(report_csv.lstrip("\ufeff")))]
    exported = [r for r in rows if r.get("state") == "exported"]
    problems: list[str] = []
    held = {str(i.get("Id")) for i in holdings.invoices}
    ids = {r.get("qbo_id") for r in exported}
    if ids != held:
        problems.append(f"the report lists {len(ids)} exported invoices, QBO holds {len(held)}")
    for column in ("qbo_total", "platform_total"):
        total = sum((Decimal(r[column]) for r in exported if r.get(column)), Decimal("0"))
        if total != holdings.exported_total:
            problems.append(
                f"the report's {column} adds up to {total}, QBO's invoices to "
                f"{holdings.exported_total}"
            )
    return problems
