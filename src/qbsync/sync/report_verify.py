"""`qbsync report --verify`: read the exported invoices back from QBO and flag what changed there.

One ``select * from Invoice where Id in (...)`` per 1,000 Ids (qbo-facts.md "API": IN is one of
the query operators, MAXRESULTS is at most 1,000, so 1,000 Ids fit one page), plus one read of the
company's Preferences for its home currency. An invoice deleted in QBO is a hard delete: a query
no longer returns it (qbo-facts.md "API", "Deleted objects"), which is how a missing one shows. A
voided invoice is still returned, its amounts zeroed (qbo-facts.md "After export"): its total
changed. Comparison is pure (``compare``); ``verify_exported`` does the reading.

It agrees with `qbsync pull` (issue 14 item 6): an invoice whose QBO state or balance (judged as
pull judges it, pull_fields.qbo_state) differs from what pull last recorded is listed as
``unpulled`` ("pull has not seen that change yet: run qbsync pull"). Not a discrepancy: a payment
is not a problem, and the next pull records it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from qbsync.qbo.query import PAGE_SIZE, quote
from qbsync.state.exports import ExportRecord
from qbsync.sync.pull_fields import QBO_STATES, dec, qbo_state
from qbsync.sync.vocabulary import Problem

ID_CHUNK = PAGE_SIZE  # Ids per query: one full page at most

AUDIT_FIX = (
    "look the invoice up in QBO's audit log (Settings > Audit log); correct it there if the "
    "change was not intended"
)


class InvoiceReader(Protocol):
    """What --verify needs of QboClient."""

    @property
    def request_count(self) -> int: ...

    def query_pages(self, sql: str, *, page_size: int = ...) -> Iterator[list[dict[str, Any]]]: ...

    def preferences(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Discrepancy:
    invoice_id: str
    number: str
    qbo_id: str
    kind: str  # "missing" | "total" | "customer" | "doc_number"
    expected: str | None  # as recorded at export
    found: str | None  # as QBO holds it now

    def text(self) -> str:
        who = f"invoice {self.invoice_id} #{self.number} (QBO Id {self.qbo_id})"
        if self.kind == "missing":
            return f"{who}: QBO no longer has it (deleted in QBO)"
        what = {"total": "total", "customer": "customer", "doc_number": "DocNumber"}[self.kind]
        return f"{who}: {what} changed in QBO: {self.expected} at export, now {self.found}"

    def problem(self) -> Problem:
        if self.kind == "missing":
            fix = (
                "restore or re-enter it in QBO (qbsync records it as exported and will not send "
                "it again); QBO's audit log shows who deleted it"
            )
        else:
            fix = AUDIT_FIX
        return Problem(
            what=self.text(), fix=fix, kind="qbo", record=self.invoice_id, state="exported"
        )

    def to_dict(self) -> dict[str, str | None]:
        return {
            "invoice_id": self.invoice_id,
            "number": self.number,
            "qbo_id": self.qbo_id,
            "kind": self.kind,
            "expected": self.expected,
            "found": self.found,
            "what": self.text(),
        }


@dataclass(frozen=True)
class Unpulled:
    """An invoice QBO holds in another state or balance than `qbsync pull` last recorded."""

    invoice_id: str
    number: str
    qbo_id: str
    pulled: str  # "open, balance 25.00" (an invoice no pull saw counts as open, unpaid)
    now: str  # "paid, balance 0.00" or "deleted"

    def text(self) -> str:
        return (
            f"invoice {self.invoice_id} #{self.number} (QBO Id {self.qbo_id}): QBO now says "
            f"{self.now}; pull recorded {self.pulled}: pull has not seen that change yet "
            "(run qbsync pull)"
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "invoice_id": self.invoice_id,
            "number": self.number,
            "qbo_id": self.qbo_id,
            "pulled": self.pulled,
            "qbo_now": self.now,
            "what": self.text(),
        }


@dataclass(frozen=True)
class Verification:
    checked: int  # exported invoices read back
    requests: int  # requests it took (queries and the preferences read)
    discrepancies: tuple[Discrepancy, ...]
    qbo_totals: dict[str, Decimal]  # invoice id -> TotalAmt now (0 for one QBO no longer has)
    home_currency: str | None
    unpulled: tuple[Unpulled, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "requests": self.requests,
            "discrepancies": [d.to_dict() for d in self.discrepancies],
            "home_currency": self.home_currency,
            "unpulled": [u.to_dict() for u in self.unpulled],
        }


def id_chunks(ids: Sequence[str], size: int = ID_CHUNK) -> list[list[str]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def in_statement(ids: Sequence[str]) -> str:
    # Every value goes through quote(): a QBO query, not SQL.
    return "select * from Invoice where Id in (" + ", ".join(quote(i) for i in ids) + ")"  # noqa: S608


def compare(
    records: Iterable[ExportRecord], found: Mapping[str, Mapping[str, Any]]
) -> list[Discrepancy]:
    """What changed in QBO since each invoice was exported (``found``: QBO Id -> Invoice)."""
    out: list[Discrepancy] = []
    for r in records:
        if r.qbo_id is None:
            continue
        held = found.get(r.qbo_id)
        if held is None:
            out.append(Discrepancy(r.invoice_id, r.number, r.qbo_id, "missing", None, None))
            continue
        total = _decimal(held.get("TotalAmt"))
        was = r.qbo_total if r.qbo_total is not None else r.expected_total
        if total != was:
            out.append(
                Discrepancy(r.invoice_id, r.number, r.qbo_id, "total", str(was), _text(total))
            )
        customer = (held.get("CustomerRef") or {}).get("value")
        if str(customer) != r.customer_id:
            out.append(
                Discrepancy(
                    r.invoice_id, r.number, r.qbo_id, "customer", r.customer_id, _text(customer)
                )
            )
        doc = held.get("DocNumber")
        if r.doc_number is not None and doc != r.doc_number:
            out.append(
                Discrepancy(
                    r.invoice_id, r.number, r.qbo_id, "doc_number", r.doc_number, _text(doc)
                )
            )
    return out


def unpulled(
    records: Iterable[ExportRecord],
    found: Mapping[str, Mapping[str, Any]],
    pulled: Mapping[str, tuple[str | None, Decimal | None]],
) -> list[Unpulled]:
    """Invoices whose QBO state or balance now differs from pull's record (``pulled``: invoice
    id -> (QBO state, balance) as recorded; none recorded: no pull saw it, so open, unpaid)."""
    out: list[Unpulled] = []
    for r in records:
        if r.qbo_id is None:
            continue
        state, balance = pulled.get(r.invoice_id, (None, None))
        if state not in QBO_STATES:
            state = "open"
            balance = r.qbo_total if r.qbo_total is not None else r.expected_total
        held = found.get(r.qbo_id)
        now_state = "deleted" if held is None else qbo_state(held)
        now_balance = None if held is None else dec(held.get("Balance"))
        if state == "deleted" and now_state == "deleted":
            continue
        if (now_state, now_balance) != (state, balance):
            said = Unpulled(
                r.invoice_id,
                r.number,
                r.qbo_id,
                _said(state, balance),
                _said(now_state, now_balance),
            )
            out.append(said)
    return out


def _said(state: str | None, balance: Decimal | None) -> str:
    if state == "deleted" or balance is None:
        return str(state)
    return f"{state}, balance {balance}"


def verify_exported(
    client: InvoiceReader,
    records: Sequence[ExportRecord],
    *,
    pulled: Mapping[str, tuple[str | None, Decimal | None]] | None = None,
) -> Verification:
    """Read every exported invoice back (``records``: exported rows with a QBO Id); ``pulled``:
    what `qbsync pull` recorded (None: not compared)."""
    start = client.request_count
    wanted = [r for r in records if r.state == "exported" and r.qbo_id is not None]
    found: dict[str, dict[str, Any]] = {}
    for chunk in id_chunks(list(dict.fromkeys(str(r.qbo_id) for r in wanted))):
        got = 0
        for page in client.query_pages(in_statement(chunk)):
            for invoice in page:
                found[str(invoice.get("Id"))] = invoice
            got += len(page)
            if got >= len(chunk):  # every Id answered: no need to ask for an empty next page
                break
    prefs = client.preferences()
    home = ((prefs.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}).get("value")
    totals: dict[str, Decimal] = {}
    for r in wanted:
        held = found.get(str(r.qbo_id))
        totals[r.invoice_id] = (
            Decimal(0) if held is None else (_decimal(held.get("TotalAmt")) or Decimal(0))
        )
    return Verification(
        checked=len(wanted),
        requests=client.request_count - start,
        discrepancies=tuple(compare(wanted, found)),
        qbo_totals=totals,
        home_currency=str(home) if home else None,
        unpulled=tuple(unpulled(wanted, found, pulled)) if pulled is not None else (),
    )


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _text(value: object) -> str | None:
    return None if value is None else str(value)
