"""`qbsync state rebuild`: a lost state's export history and links, restored from QBO.

qbsync writes a marker in the PrivateNote of every invoice it creates (``qbsync:<invoice id>
#<number>;``, escaped; older exports carry it without the ``;``: sync/invoice_map.py), so QBO
itself holds the export history: the invoices created
since the integration was enabled that carry a marker are the invoices qbsync exported. Each one
becomes an ``exported`` row again (never sent a second time), and each member whose invoices went
to a customer is linked to that customer again (the newest invoice wins). What rebuild leaves to
the next `qbsync connect-members`: members without a restored invoice (matched by email as
usual), the customer cache, the roster and the contact fields last pushed.

Plan (pure: ``plan_rebuild``), then apply (``apply_rebuild``: one transaction).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from qbsync.qbo.query import quote
from qbsync.sources.records import SourceInvoice
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.sync.invoice_map import MARKER_END, marker, source_total

PREFIX = "qbsync:"
# QBO stamps CreateTime with its own clock: read a day earlier than enabled_at so that an invoice
# exported in the first minutes is not missed when this machine's clock ran ahead of QBO's.
CLOCK_MARGIN = timedelta(days=1)


class InvoiceReader(Protocol):
    def query(self, sql: str) -> list[dict[str, Any]]: ...


def read_qbo_invoices(client: InvoiceReader, enabled_at: datetime) -> list[dict[str, Any]]:
    """Every QBO invoice created since enabled_at (less the margin), 1000 a page (QboClient.query
    pages with STARTPOSITION/MAXRESULTS; qbo-facts.md "API": MAXRESULTS max 1000;
    MetaData.CreateTime is filterable like MetaData.LastUpdatedTime, ibid. "Change data capture")."""
    since = (enabled_at - CLOCK_MARGIN).astimezone(UTC).isoformat(timespec="seconds")
    sql = f"select * from Invoice where MetaData.CreateTime >= {quote(since)}"  # noqa: S608 - quote()
    return client.query(sql)


@dataclass(frozen=True)
class MarkerRef:
    invoice_id: str
    number: str
    confirmed: bool  # the source has this invoice with this number


def parse_marker(
    note: str,
    known: Mapping[str, SourceInvoice],
    by_marker: Mapping[str, SourceInvoice] | None = None,
) -> MarkerRef | None:
    """The source invoice a PrivateNote names, or None when it carries no qbsync marker.

    The marker may end with a terminator and be followed by what a person added. Its first line
    is split at a `` #``: the split that names a source invoice with that number wins; else the
    id is taken up to the LAST `` #`` (an id may itself hold `` #``) and the number is what
    follows, up to a space, without trailing punctuation (a terminator)."""
    first = note.strip().splitlines()[0].strip() if note.strip() else ""
    if not first.startswith(PREFIX):
        return None
    if MARKER_END in first:  # this version's marker: exact up to its first ';' (escaped inside)
        exact = first[: first.index(MARKER_END) + 1]
        source = (by_marker or {}).get(exact)
        if source is not None:
            return MarkerRef(source.id, source.number, True)
        body = exact[len(PREFIX) : -1]
        if " #" in body:
            invoice_id, number = body.rsplit(" #", 1)  # '#' inside is escaped: one split
            invoice_id, number = _unescape(invoice_id), _unescape(number)
            if invoice_id and number:
                source = known.get(invoice_id)
                return MarkerRef(invoice_id, number, source is not None and source.number == number)
    rest = first[len(PREFIX) :]
    splits = [i for i in range(len(rest) - 1) if rest.startswith(" #", i)]
    if not splits:
        return None
    for i in splits:
        source = known.get(rest[:i])
        if source is not None and _names_number(rest[i + 2 :], source.number):
            return MarkerRef(source.id, source.number, True)
    last = splits[-1]
    invoice_id = rest[:last]
    number = _strip_terminator(rest[last + 2 :].split(" ", 1)[0])
    if not invoice_id or not number:
        return None
    return MarkerRef(invoice_id, number, False)


def _unescape(text: str) -> str:
    """Undo invoice_map.marker's ``%XX`` escapes."""
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _names_number(text: str, number: str) -> bool:
    """``text`` starts with ``number`` and then ends, or goes on with a non-alphanumeric
    terminator or a space (``#12`` does not name number ``1``)."""
    if not text.startswith(number):
        return False
    after = text[len(number) :]
    return not after or not after[0].isalnum()


def _strip_terminator(text: str) -> str:
    end = len(text)
    while end and not text[end - 1].isalnum():
        end -= 1
    return text[:end]


@dataclass
class RebuildPlan:
    enabled_at: datetime
    read: int = 0  # QBO invoices read
    restore: list[ExportRecord] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (member id, customer id)
    already_exported: list[str] = field(default_factory=list)  # recorded already: kept
    duplicates: list[str] = field(default_factory=list)  # QBO ids of a marker's 2nd+ invoice
    member_unknown: list[str] = field(default_factory=list)  # restored, not in the source now
    link_conflicts: list[str] = field(default_factory=list)  # members: several customers
    kept_links: list[str] = field(default_factory=list)  # linked (or unlinked) already

    def summary(self) -> dict[str, Any]:
        return {
            "enabled_at": self.enabled_at.isoformat(),
            "qbo_invoices_read": self.read,
            "restored": len(self.restore),
            "links_restored": len(self.links),
            "already_exported": len(self.already_exported),
            "duplicates_in_qbo": self.duplicates,
            "member_unknown": self.member_unknown,
            "link_conflicts": self.link_conflicts,
            "links_kept": len(self.kept_links),
        }


def plan_rebuild(
    qbo_invoices: Iterable[Mapping[str, Any]],
    source_invoices: Sequence[SourceInvoice],
    *,
    enabled_at: datetime,
    exported: Mapping[str, str],
    links: Collection[str],
    unlinked: Collection[str],
    now: datetime,
) -> RebuildPlan:
    """What to restore (pure). ``exported``: invoice id -> state of the rows the state has;
    ``links`` / ``unlinked``: members linked or unlinked already (left as they are)."""
    plan = RebuildPlan(enabled_at)
    known = {inv.id: inv for inv in source_invoices}
    by_marker = {marker(inv): inv for inv in source_invoices}
    seen: set[str] = set()
    newest: dict[str, tuple[datetime, str]] = {}  # member -> (CreateTime, customer)
    customers_of: dict[str, set[str]] = {}
    ordered = sorted(qbo_invoices, key=lambda i: (_created(i) or now, _id_key(i)))
    for obj in ordered:
        plan.read += 1
        ref = parse_marker(str(obj.get("PrivateNote") or ""), known, by_marker)
        customer = str((obj.get("CustomerRef") or {}).get("value") or "")
        if ref is None or not customer:
            continue
        if ref.invoice_id in seen:
            plan.duplicates.append(str(obj.get("Id")))
            continue
        seen.add(ref.invoice_id)
        if exported.get(ref.invoice_id) == "exported":
            plan.already_exported.append(ref.invoice_id)
            continue
        created = _created(obj) or now
        source = known.get(ref.invoice_id) if ref.confirmed else None
        plan.restore.append(_record(obj, ref, source, customer, created))
        if source is None:
            plan.member_unknown.append(ref.invoice_id)
            continue
        customers_of.setdefault(source.member_id, set()).add(customer)
        if source.member_id not in newest or newest[source.member_id][0] <= created:
            newest[source.member_id] = (created, customer)
    for member_id, (_, customer) in sorted(newest.items()):
        if member_id in links or member_id in unlinked:
            plan.kept_links.append(member_id)
            continue
        plan.links.append((member_id, customer))
        if len(customers_of[member_id]) > 1:
            plan.link_conflicts.append(member_id)
    return plan


def _record(
    obj: Mapping[str, Any],
    ref: MarkerRef,
    source: SourceInvoice | None,
    customer: str,
    created: datetime,
) -> ExportRecord:
    qbo_total = _decimal(obj.get("TotalAmt"))
    return ExportRecord(
        invoice_id=ref.invoice_id,
        member_id=source.member_id if source else "",
        customer_id=customer,
        state="exported",
        number=source.number if source else ref.number,
        doc_number=str(obj["DocNumber"]) if obj.get("DocNumber") else None,
        txn_date=str(obj.get("TxnDate") or created.date().isoformat()),
        marker=marker(source) if source else f"{PREFIX}{ref.invoice_id} #{ref.number}",
        request_id=None,
        bid=None,
        # Not in the source any more: QBO's total stands in (no difference is reported).
        source_total=source_total(source) if source else (qbo_total or Decimal(0)),
        fingerprint=source.fingerprint() if source else "",
        qbo_id=str(obj.get("Id")),
        qbo_total=qbo_total,
        attempted_at=created,
        exported_at=created,
        platform_total=source.total if source else None,
    )


def apply_rebuild(
    plan: RebuildPlan, state: State, *, realm_id: str, run_id: int | None, now: datetime
) -> None:
    """Bind the state to the company with the plan's enabled_at, restore the rows and links:
    one transaction, so an interrupted rebuild leaves the state as it was."""
    with state.transaction():
        state.bind_realm(realm_id, now=now, company_name=None, enabled_at=plan.enabled_at)
        if state.enabled_at != plan.enabled_at:  # the operator gave --enabled-at
            state.set_enabled_at(plan.enabled_at)
        records = [_with_run(r, run_id) for r in plan.restore]
        state.exports.restore(records)
        if plan.links:
            state.members.link_many([(m, c, "auto") for m, c in plan.links], now=now)


def _with_run(record: ExportRecord, run_id: int | None) -> ExportRecord:
    from dataclasses import replace

    return replace(record, run_id=run_id)


def _created(obj: Mapping[str, Any]) -> datetime | None:
    text = str((obj.get("MetaData") or {}).get("CreateTime") or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _id_key(obj: Mapping[str, Any]) -> tuple[int, str]:
    ident = str(obj.get("Id") or "")
    return (int(ident), "") if ident.isdigit() else (0, ident)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
