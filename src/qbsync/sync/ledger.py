"""The invoice ledger (pure): every platform invoice qbsync knows, in exactly one vocabulary
state (sync/vocabulary.py), with the reason and the fix.

What it knows: the source's invoices (None when the source could not be read: then only what
the state holds), the ``exports`` rows, the holds, and the last export's refusals. The state an
invoice is in, first that applies:

1. an ``exports`` row ``exported`` -> ``exported``, or ``changed`` when the source now reads it
   differently (export_run.changed_since_export); ``exporting`` -> ``in-flight``;
2. held (`qbsync hold`) -> ``held``;
3. skipped by eligibility.classify -> vocabulary.SKIP_STATE (``not-eligible``, ``blocked``);
4. refused by the last export -> ``refused`` (a refusal is newer than a failure: the last export
   did not send it);
5. an ``exports`` row ``failed`` -> ``failed``;
6. otherwise ``waiting`` (the next export day sends it).

Rows the state holds for invoices the source no longer lists keep their stored state, except a
``failed`` or ``refused`` one: the source does not offer it any more, so no export will send it
(``not-eligible``). With the source unreadable, every stored row keeps its stored state.

``problems``: one ``Problem`` per invoice in a problem state, one per exported invoice whose QBO
total differs from the platform's, one per member needing review, and one for a source that
could not be read.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from qbsync.sources.records import SourceInvoice
from qbsync.state.exports import ExportRecord, Hold, Refusal
from qbsync.state.pushes import Push
from qbsync.sync.eligibility import classify
from qbsync.sync.export_run import changed_since_export
from qbsync.sync.invoice_map import source_total
from qbsync.sync.ledger_qbo import QboSide, with_qbo
from qbsync.sync.money import MoneyError
from qbsync.sync.vocabulary import (
    EXPORT_ROW_STATE,
    INVOICE_STATES,
    PROBLEM_STATES,
    SKIP_STATE,
    Problem,
)

# The fix for each state that needs the operator; {i}: invoice id, {m}: member id, {q}: QBO Id.
FIX = {
    "in-flight": "qbsync export (it looks for it in QBO before sending anything)",
    "failed": "fix what the error says; the next export sends it again "
    "(or qbsync hold {i} --reason TEXT)",
    "held": "qbsync release {i}",
    "changed": "edit QBO invoice {q} by hand: qbsync never sends an invoice twice",
    "member_needs_review": "qbsync links --status needs-review, then qbsync link {m} CUSTOMER_ID",
    "member_not_connected": "qbsync connect-members, or qbsync link {m} CUSTOMER_ID",
    "member_unknown": "add member {m} to the source, or qbsync hold {i} --reason TEXT",
    "difference": "compare QBO invoice {q} with the platform's (tax computed by QBO?)",
}


@dataclass(frozen=True)
class LedgerEntry:
    invoice_id: str
    number: str
    member_id: str
    state: str  # a vocabulary.INVOICE_STATES word
    reason: str
    fix: str  # "" when nothing needs doing
    customer_id: str | None = None
    qbo_id: str | None = None
    doc_number: str | None = None
    txn_date: str | None = None
    platform_total: Decimal | None = None  # the source's `total`, else the line sums and tax
    qbo_total: Decimal | None = None
    difference: Decimal | None = None  # QBO's total minus the platform's (exported only)
    exported_at: datetime | None = None
    run_id: int | None = None
    held_reason: str | None = None
    created_at: datetime | None = None  # at the platform (None: the source did not list it)
    # QBO's side as `qbsync pull` last recorded it (sync/ledger_qbo.py); None: not in QBO.
    qbo_state: str | None = None  # open | partly-paid | paid | voided | deleted | not pulled yet
    qbo_balance: Decimal | None = None
    qbo_paid: Decimal | None = None  # applied by payments and credits in QBO
    qbo_problem: str | None = None  # deleted, edited, or voided while pending at the platform

    @property
    def is_problem(self) -> bool:
        return (
            self.state in PROBLEM_STATES
            or self.difference is not None
            or self.qbo_problem is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """The `invoices --json` object: snake_case, amounts as strings, times ISO 8601."""

        def amount(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "invoice_id": self.invoice_id,
            "number": self.number,
            "member_id": self.member_id,
            "state": self.state,
            "reason": self.reason,
            "fix": self.fix,
            "customer_id": self.customer_id,
            "qbo_id": self.qbo_id,
            "doc_number": self.doc_number,
            "txn_date": self.txn_date,
            "platform_total": amount(self.platform_total),
            "qbo_total": amount(self.qbo_total),
            "difference": amount(self.difference),
            "exported_at": self.exported_at.isoformat() if self.exported_at else None,
            "run_id": self.run_id,
            "held_reason": self.held_reason,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "problem": self.is_problem,
            # Last, so the fields before keep their order (issue 14 item 6).
            "qbo_state": self.qbo_state,
            "qbo_balance": amount(self.qbo_balance),
        }


@dataclass
class Ledger:
    entries: list[LedgerEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    source_read: bool = True  # False: only what the state holds is listed

    @property
    def counts(self) -> dict[str, int]:
        """Invoices per state, every state named (0 when none)."""
        out: dict[str, int] = dict.fromkeys(INVOICE_STATES, 0)
        for entry in self.entries:
            out[entry.state] = out.get(entry.state, 0) + 1
        return out

    def get(self, invoice_id: str) -> LedgerEntry | None:
        return next((e for e in self.entries if e.invoice_id == invoice_id), None)


def build_ledger(
    source_invoices: Sequence[SourceInvoice] | None,
    *,
    exports: Sequence[ExportRecord],
    links: Mapping[str, str],
    member_states: Mapping[str, str],
    holds: Mapping[str, Hold],
    refusals: Mapping[str, Refusal],
    enabled_at: datetime | None,
    statuses: Sequence[str],
    tz: tzinfo | None = None,
    known_members: Collection[str] | None = None,
    source_problem: str | None = None,
    qbo: Mapping[str, QboSide] | None = None,
    pushes: Sequence[Push] = (),
) -> Ledger:
    """The ledger (see the module docstring). ``links``: member id -> QBO customer id;
    ``member_states``: member id -> stored status (the roster; "unlinked" for `qbsync unlink`);
    ``known_members``: the source's member ids (None: every invoice's member counts as known);
    ``source_problem``: why the source could not be read (then ``source_invoices`` is None);
    ``qbo``: what `qbsync pull` recorded, by invoice id (ledger_qbo.load_qbo_sides; None: not
    asked, so no QBO state is shown).
    ``pushes``: state.pushes, for credit notes (a ``credit_memo`` row: in QBO as a credit memo)."""
    memos = {p.record_id: p for p in pushes if p.kind == "credit_memo"}
    applied = {p.record_id: p for p in pushes if p.kind == "credit_apply" and p.state == "pushed"}
    records = {r.invoice_id: r for r in exports}
    ledger = Ledger(source_read=source_invoices is not None)
    seen: set[str] = set()
    if source_invoices is not None:
        known = {i.member_id for i in source_invoices} if known_members is None else known_members
        changed = set(changed_since_export(source_invoices, records))
        verdicts: dict[str, tuple[str, str]] = {}
        if enabled_at is not None:
            _, skipped = classify(
                source_invoices,
                enabled_at=enabled_at,
                statuses=statuses,
                settled={i: r.state for i, r in records.items()},
                links=links,
                member_states={m: s for m, s in member_states.items() if m not in links},
                known_members=known,
                tz=tz,
                held=holds.keys(),
            )
            verdicts = {s.invoice_id: (s.reason_code, s.reason) for s in skipped}
        for invoice in source_invoices:
            seen.add(invoice.id)
            memo = memos.get(invoice.id)
            if memo is not None:
                ledger.entries.append(_credit(invoice, memo, applied.get(invoice.id)))
                continue
            entry = _from_source(
                invoice,
                records.get(invoice.id),
                verdicts.get(invoice.id),
                hold=holds.get(invoice.id),
                refusal=refusals.get(invoice.id),
                changed=invoice.id in changed,
                customer_id=links.get(invoice.member_id),
                enabled=enabled_at is not None,
            )
            ledger.entries.append(entry)
    for record in exports:
        if record.invoice_id not in seen:
            seen.add(record.invoice_id)
            ledger.entries.append(
                _from_state(record, refusals.get(record.invoice_id), gone=ledger.source_read)
            )
    for invoice_id, refusal in refusals.items():
        if invoice_id not in seen and source_invoices is None and invoice_id not in holds:
            seen.add(invoice_id)
            ledger.entries.append(
                _entry(
                    invoice_id,
                    "",
                    "",
                    "refused",
                    refusal.reason,
                    refusal.fix,
                    run_id=refusal.run_id,
                )
            )
    for invoice_id, hold in holds.items():
        if invoice_id not in seen:  # held before the source lists it (allowed, and said)
            reason = f"held: {hold.reason} (the source does not list it)"
            ledger.entries.append(
                _entry(
                    invoice_id,
                    "",
                    "",
                    "held",
                    reason,
                    FIX["held"].format(i=invoice_id),
                    held_reason=hold.reason,
                )
            )
    pending = None
    if source_invoices is not None:  # the source lists what the platform still has pending
        wanted = {s.strip().lower() for s in statuses}
        pending = {i.id for i in source_invoices if not wanted or i.status in wanted}
    ledger.entries, qbo_problems = with_qbo(ledger.entries, qbo, pending)
    ledger.problems = _problems(ledger.entries, member_states, links, source_problem, qbo_problems)
    return ledger


def _credit(invoice: SourceInvoice, memo: Push, applied: Push | None) -> LedgerEntry:
    """A credit note qbsync sent as a QBO credit memo (credit_memos.py)."""
    i, m = invoice.id, invoice.member_id
    more: dict[str, Any] = {"platform_total": platform_total(invoice), "qbo_id": memo.qbo_id,
                            "created_at": invoice.created_at, "run_id": memo.run_id}  # fmt: skip
    if memo.state == "pushed":
        reason = f"in QBO as credit memo {memo.qbo_id}"
        if applied is not None:
            reason += f", applied to invoice {invoice.applies_to}"
        elif invoice.applies_to:
            reason += f", not applied to invoice {invoice.applies_to} yet"
        return _entry(i, invoice.number, m, "exported", reason, "", exported_at=memo.done_at,
                      **more)  # fmt: skip
    if memo.state == "pushing":
        reason = "credit memo sent, no answer recorded yet"
        return _entry(i, invoice.number, m, "in-flight", reason, FIX["in-flight"], **more)
    reason = f"QBO refused the credit memo: {memo.detail}"
    return _entry(i, invoice.number, m, "failed", reason, FIX["failed"].format(i=i), **more)


def _entry(
    invoice_id: str, number: str, member: str, state: str, reason: str, fix: str, **more: Any
) -> LedgerEntry:
    return LedgerEntry(invoice_id, number, member, state, reason, fix, **more)


def platform_total(invoice: SourceInvoice) -> Decimal | None:
    """The platform's total: its own `total`, else the line sums and tax (None: not a number
    QBO could hold, which the export refuses)."""
    if invoice.total is not None:
        return invoice.total
    try:
        return source_total(invoice)
    except (MoneyError, ArithmeticError):
        return None


def _from_source(
    invoice: SourceInvoice,
    record: ExportRecord | None,
    verdict: tuple[str, str] | None,
    *,
    hold: Hold | None,
    refusal: Refusal | None,
    changed: bool,
    customer_id: str | None,
    enabled: bool,
) -> LedgerEntry:
    i, m = invoice.id, invoice.member_id
    base: dict[str, Any] = {
        "customer_id": customer_id,
        "platform_total": platform_total(invoice),
        "held_reason": hold.reason if hold else None,
        "created_at": invoice.created_at,
    }
    if record is not None and record.state in ("exported", "exporting"):
        out = _replace(_from_state(record, None, gone=False), created_at=invoice.created_at)
        if changed:
            reason = "exported, then changed at the platform; QBO still has the exported one"
            fix = FIX["changed"].format(q=record.qbo_id or "-")
            return _replace(out, state="changed", reason=reason, fix=fix)
        return out
    if hold is not None:
        reason = f"held: {hold.reason}"
        return _entry(i, invoice.number, m, "held", reason, FIX["held"].format(i=i), **base)
    if not enabled:
        reason = "this profile was never connected to QBO (`qbsync auth`): nothing is eligible"
        return _entry(i, invoice.number, m, "not-eligible", reason, "", **base)
    if verdict is not None:
        code, reason = verdict
        state = SKIP_STATE[code]
        fix = FIX.get(code, "").format(i=i, m=m)
        return _entry(i, invoice.number, m, state, reason, fix, **base)
    if refusal is not None:
        return _entry(
            i,
            invoice.number,
            m,
            "refused",
            refusal.reason,
            refusal.fix,
            run_id=refusal.run_id,
            **base,
        )
    if record is not None and record.state == "failed":
        failed = _from_state(record, None, gone=False)
        return _replace(
            failed, platform_total=base["platform_total"], created_at=invoice.created_at
        )
    reason = "goes to QBO on the next export day"
    if invoice.kind == "credit_note":
        reason = "goes to QBO as a credit memo on the next export day"
    return _entry(i, invoice.number, m, "waiting", reason, "", **base)


def _from_state(record: ExportRecord, refusal: Refusal | None, *, gone: bool) -> LedgerEntry:
    """An entry from its ``exports`` row alone (what the state knows); ``gone``: the source
    was read and no longer lists the invoice."""
    i = record.invoice_id
    state: str = EXPORT_ROW_STATE.get(record.state, record.state)
    reason, fix = {
        "exported": (f"in QBO as invoice {record.qbo_id}", ""),
        "in-flight": ("sent; no clear answer from QBO yet", FIX["in-flight"]),
        "failed": (
            f"QBO refused it: {record.error_message or '-'}"
            + (f" [QBO {record.error_code}]" if record.error_code else ""),
            FIX["failed"].format(i=i),
        ),
    }.get(state, (record.state, ""))
    if state == "failed" and gone:
        state = "not-eligible"
        reason = "the source no longer lists it as one to export; it is not sent again"
        fix = ""
    elif state == "failed" and refusal is not None:  # refused by the last export, after failing
        state, reason, fix = "refused", refusal.reason, refusal.fix
    return LedgerEntry(
        i,
        record.number,
        record.member_id,
        state,
        reason,
        fix,
        customer_id=record.customer_id,
        qbo_id=record.qbo_id,
        doc_number=record.doc_number,
        txn_date=record.txn_date,
        platform_total=record.expected_total,
        qbo_total=record.qbo_total,
        difference=record.difference if state == "exported" else None,
        exported_at=record.exported_at,
        run_id=record.run_id,
    )


def _replace(entry: LedgerEntry, **changes: Any) -> LedgerEntry:
    from dataclasses import replace

    return replace(entry, **changes)


def _problems(
    entries: Sequence[LedgerEntry],
    member_states: Mapping[str, str],
    links: Mapping[str, str],
    source_problem: str | None,
    qbo_problems: Sequence[Problem] = (),
) -> list[Problem]:
    problems: list[Problem] = []
    if source_problem:
        problems.append(
            Problem(
                f"the source could not be read: {source_problem}",
                "check [source] in the config and that the platform answers",
                "source",
            )
        )
    for e in entries:
        if e.state in PROBLEM_STATES:
            what = f"invoice {e.invoice_id} ({e.number or '-'}) {e.state}: {e.reason}"
            problems.append(Problem(what, e.fix, "invoice", e.invoice_id, e.state))
        elif e.difference is not None:
            what = (
                f"invoice {e.invoice_id} ({e.number or '-'}): QBO's total {e.qbo_total} differs "
                f"from the platform's {e.platform_total} by {e.difference}"
            )
            fix = FIX["difference"].format(q=e.qbo_id or "-")
            problems.append(Problem(what, fix, "invoice", e.invoice_id, e.state))
    problems.extend(qbo_problems)  # QBO's side (ledger_qbo.py), after the platform's
    for member, status in member_states.items():
        if status in ("needs_review", "needs-review") and member not in links:
            problems.append(
                Problem(
                    f"member {member} needs review (its email is on several QBO customers)",
                    FIX["member_needs_review"].format(m=member),
                    "member",
                    member,
                    "needs-review",
                )
            )
    return problems
