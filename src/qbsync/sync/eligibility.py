"""Which source invoices an export sends, and why each other one stays behind.

Checked in this order, the first that applies wins:

1. settled ``exported`` -> ``already_exported`` (not a problem: reports leave it out);
   ``exporting`` -> ``in_flight`` (an earlier run stopped between create and settle: the caller
   settles those against QBO first); ``failed`` -> checked again below (retried).
   Held by the operator (`qbsync hold`) -> ``held``: never sent until `qbsync release`.
2. ``created_at`` before ``enabled_at`` -> ``before_enabled``: never exported, even later.
3. status not in ``[export] statuses`` (case-insensitive) -> ``status``.
4. member id unknown to the source -> ``member_unknown``.
5. no link: ``member_needs_review`` / ``member_unlinked`` per ``member_states``, else
   ``member_not_connected`` (unmatched, no email, not looked at yet...).
6. otherwise ``Eligible`` with the linked customer id.

Source order is kept in both lists. Naive datetimes are wall time in ``tz``, the export zone
(``export_run.export_tz``: the same one ``invoice_map`` dates TxnDate in; None: the machine's
zone, with its DST rules).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from qbsync.sources.records import SourceInvoice
from qbsync.zones import machine_zone

REASON_CODES = (
    "before_enabled",
    "status",
    "already_exported",
    "in_flight",
    "member_unknown",
    "member_not_connected",
    "member_needs_review",
    "member_unlinked",
    "held",
)
SETTLED_STATES = ("exported", "exporting", "failed")
_SENT = ("already_exported", "in_flight")  # a hold cannot take back what QBO may hold already


@dataclass(frozen=True)
class Eligible:
    invoice: SourceInvoice
    customer_id: str


@dataclass(frozen=True)
class Skipped:
    invoice_id: str
    member_id: str
    reason_code: str  # one of REASON_CODES
    reason: str  # for the operator: what holds it back and the next step


def classify(
    invoices: Sequence[SourceInvoice],
    *,
    enabled_at: datetime,
    statuses: Sequence[str],
    settled: Mapping[str, str],
    links: Mapping[str, str],
    member_states: Mapping[str, str],
    known_members: Collection[str],
    tz: tzinfo | None = None,
    held: Collection[str] = (),
) -> tuple[list[Eligible], list[Skipped]]:
    """Split ``invoices`` into those to export now and those skipped (see the module docstring).

    ``settled``: invoice id -> "exported" | "exporting" | "failed"; ``links``: member id -> QBO
    customer id; ``member_states``: member id -> state, for members without a link;
    ``known_members``: the member ids the source knows; ``held``: invoice ids on hold. Raises ValueError on an invoice id listed
    twice or an unknown settled state (both mean a bug upstream; exporting on would risk a
    duplicate in QBO).
    """
    wanted = {status.strip().lower() for status in statuses}
    floor = aware(enabled_at, tz)
    known = known_members if isinstance(known_members, set | frozenset) else set(known_members)
    on_hold = held if isinstance(held, set | frozenset) else set(held)
    eligible: list[Eligible] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for invoice in invoices:
        if invoice.id in seen:
            raise ValueError(f"the source lists invoice {invoice.id!r} more than once")
        seen.add(invoice.id)
        skip = _skip_reason(invoice, floor, wanted, settled, links, member_states, known, tz)
        if invoice.id in on_hold and (skip is None or skip[0] not in _SENT):
            skip = ("held", "held by the operator (`qbsync hold`); never sent until released")
        if skip is None:
            eligible.append(Eligible(invoice, links[invoice.member_id]))
        else:
            skipped.append(Skipped(invoice.id, invoice.member_id, *skip))
    return eligible, skipped


def _skip_reason(
    invoice: SourceInvoice,
    floor: datetime,
    wanted: set[str],
    settled: Mapping[str, str],
    links: Mapping[str, str],
    member_states: Mapping[str, str],
    known: Collection[str],
    tz: tzinfo | None,
) -> tuple[str, str] | None:
    """(reason code, reason) when ``invoice`` stays behind; None when it goes."""
    member = invoice.member_id
    state = settled.get(invoice.id)
    if state is not None and state not in SETTLED_STATES:
        raise ValueError(f"invoice {invoice.id!r} has an unknown settled state {state!r}")
    if state == "exported":
        return "already_exported", "already exported to QBO"
    if state == "exporting":
        return (
            "in_flight",
            "an earlier export of it did not finish; it is settled against QBO before exporting again",
        )
    if aware(invoice.created_at, tz) < floor:
        return (
            "before_enabled",
            f"created {invoice.created_at.isoformat()}, before exports were enabled "
            f"({floor.isoformat()}); invoices from before enabling are never exported",
        )
    if invoice.status.strip().lower() not in wanted:
        return (
            "status",
            f"status {invoice.status!r} is not one of [export] statuses "
            f"({', '.join(sorted(wanted)) or 'none'})",
        )
    if member not in known:
        return "member_unknown", f"member {member} is not among the source's members"
    if member in links:
        return None
    member_state = member_states.get(member, "")
    link = f"`qbsync link {member} <customer id>`"
    if member_state == "needs_review":
        return (
            "member_needs_review",
            f"member {member} matches more than one QBO customer; pick one with {link}",
        )
    if member_state == "unlinked":
        return "member_unlinked", f"member {member} was unlinked; link it again with {link}"
    if member_state == "no_email":
        why = "has no email to match a QBO customer by; link it by hand with " + link
    else:
        why = "is not connected to a QBO customer yet"
        why += f" ({member_state})" if member_state else ""
        why += f"; run `qbsync connect-members` or {link}"
    return "member_not_connected", f"member {member} {why}"


def aware(moment: datetime, tz: tzinfo | None) -> datetime:
    """``moment``, a naive one read in ``tz`` (None: this machine's zone), as the sources do."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment
    return moment.replace(tzinfo=tz if tz is not None else machine_zone())
