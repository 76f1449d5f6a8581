"""Member and invoice figures for `qbsync status`, each problem with the command that fixes it,
and the ledger as the state and the source hold it (`status`, `invoices`, `report`).

Read from the state and the source (``read_source``); no QBO request. The invoice counts are the
ledger's (sync/ledger.py): one vocabulary state per invoice, never classified twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from qbsync.config import Config
from qbsync.errors import QbsyncError
from qbsync.sources.records import SourceInvoice
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.sync.export_run import export_tz, local_tz
from qbsync.sync.ledger import Ledger, build_ledger
from qbsync.sync.ledger_qbo import QBO_FIX, load_qbo_sides, qbo_state_counts
from qbsync.sync.schedule import due_export_day, next_export_day, today_in

CUSTOM_NUMBERS_META = "custom_txn_numbers"  # what the last export read from QBO's preferences


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "fix": self.fix}


def member_figures(state: State) -> dict[str, Any]:
    counts = state.members.counts()
    problems: list[Problem] = []
    review = counts.get("needs_review", 0)
    if review:
        problems.append(
            Problem(
                f"{review} member(s) need review (an email on several QBO customers)",
                "qbsync links --status needs-review, then qbsync link MEMBER",
            )
        )
    unmatched = counts.get("unmatched", 0)
    if unmatched:
        problems.append(
            Problem(f"{unmatched} member(s) unmatched", "qbsync link MEMBER CUSTOMER_ID")
        )
    no_email = counts.get("no_email", 0)
    if no_email:
        problems.append(
            Problem(
                f"{no_email} member(s) without a usable email",
                "add the email at the platform, or qbsync link MEMBER CUSTOMER_ID",
            )
        )
    failed = counts.get("failed", 0)
    if failed:
        problems.append(
            Problem(
                f"{failed} member(s) failed in the last connect-members",
                "qbsync links --status failed (the reason), then qbsync connect-members",
            )
        )
    linked = sum(counts.get(k, 0) for k in ("auto", "created", "manual"))
    return {"linked": linked, "by_status": counts, "problems": [p.to_dict() for p in problems]}


def total_check(exported: Sequence[ExportRecord]) -> str:
    """What the exported invoices' QBO totals were checked against, in words for `status`.

    The platform's own total when the source gave one (`total`); else only qbsync's sum of the
    lines and tax, which follows QBO's rounding, so a rounding difference cannot show."""
    platform = sum(1 for r in exported if r.platform_total is not None)
    line_sums = len(exported) - platform
    only_sums = "qbsync's line sums only (the source gives no `total`)"
    if not exported:
        return "-"
    if not line_sums:
        return "the platform's totals"
    if not platform:
        return only_sums
    return f"the platform's totals ({platform}), {only_sums} ({line_sums})"


@dataclass
class SourceRead:
    """What ``read_source`` got: the invoices and member ids (None: not read), and why not."""

    invoices: list[SourceInvoice] | None = None
    member_ids: set[str] | None = None
    problem: str | None = None  # the source could not be read: what it said
    error: QbsyncError | None = None
    row_problems: list[str] = field(default_factory=list)  # rows skipped as unreadable


def read_source(config: Config, *, remote: bool) -> SourceRead:
    """The source's invoices and members, for the ledger. ``remote`` False reads a local (csv)
    source only (`status` stays offline); an error reading it is kept, not raised."""
    from qbsync.sources.base import open_source

    if config.source.type != "csv" and not remote:
        return SourceRead()
    if config.source.type == "csv" and config.source.invoices is None:
        return SourceRead()
    try:
        source = open_source(config.source, tz=local_tz(config.export))
        members = source.members()
        invoices = source.invoices(statuses=config.export.statuses, created_since=None)
    except QbsyncError as exc:
        return SourceRead(problem=exc.message, error=exc)
    return SourceRead(
        invoices=invoices.records,
        member_ids={m.id for m in members.records},
        row_problems=[str(p) for p in [*members.problems, *invoices.problems]],
    )


def load_ledger(
    state: State,
    config: Config,
    *,
    source_invoices: Sequence[SourceInvoice] | None,
    known_members: Collection[str] | None = None,
    source_problem: str | None = None,
) -> Ledger:
    """The ledger from this state (exports, links, roster, holds, refusals) and the source."""
    links = {m: link.customer_id for m, link in state.members.links().items()}
    member_states = {m: row.status for m, row in state.members.roster().items()}
    for m in state.members.unlinked():
        member_states[m] = "unlinked"
    return build_ledger(
        source_invoices,
        exports=state.exports.all(),
        links=links,
        member_states=member_states,
        holds=state.exports.holds(),
        refusals=state.exports.refusals(),
        enabled_at=state.enabled_at,
        statuses=config.export.statuses,
        tz=export_tz(config.export),  # the zone export judges them in
        known_members=known_members,
        source_problem=source_problem,
        qbo=load_qbo_sides(state),  # what `qbsync pull` recorded (no QBO request)
        pushes=state.pushes.all(),
    )


def last_pull(state: State) -> dict[str, Any] | None:
    """When `qbsync pull` last ran (dry runs are not recorded) and how it ended."""
    runs = state.runs.last(1, command="pull")
    if not runs:
        return None
    run = runs[0]
    return {
        "run_id": run.id,
        "at": (run.finished_at or run.started_at).isoformat(),
        "outcome": run.outcome,
    }


def invoice_figures(
    state: State,
    config: Config,
    *,
    source_invoices: Sequence[SourceInvoice] | None,
    now: datetime | None = None,
    known_members: Collection[str] | None = None,
    source_problem: str | None = None,
) -> dict[str, Any]:
    moment = now or datetime.now(UTC)
    records = state.exports.all()
    stored = state.exports.counts()
    exported = [r for r in records if r.state == "exported"]
    ledger = load_ledger(
        state,
        config,
        source_invoices=source_invoices,
        known_members=known_members,
        source_problem=source_problem,
    )
    by_state = ledger.counts
    differences = [e.invoice_id for e in ledger.entries if e.difference is not None]
    today = today_in(export_tz(config.export), moment)
    enabled = state.enabled_at
    enabled_on = today_in(export_tz(config.export), enabled) if enabled else None
    # As `export` reads it: a day served ahead by `export --as-of` blocks only that day.
    last_served = state.exports.last_served_day(today)
    ahead = [d.isoformat() for d in state.exports.served_after(today)]
    due = due_export_day(
        today, last_served, config.export.days, config.export.month_end, enabled_on
    )
    nxt = due or next_export_day(today, config.export.days, config.export.month_end)
    last_export = state.runs.last(1, command="export")
    summary = (last_export[0].summary or {}) if last_export else {}
    read = source_invoices is not None
    problems = _invoice_problems(ledger, by_state, len(differences))
    if ahead:
        problems.append(
            Problem(
                f"export day(s) {', '.join(ahead)} served ahead of time (`export --as-of`): "
                "the --if-due run on that day will not export",
                "on that day, run qbsync export --yes to export what is waiting",
            )
        )
    if state.get_meta(CUSTOM_NUMBERS_META) == "false" and config.export.doc_number == "auto":
        problems.append(
            Problem(
                "QBO numbers the exported invoices itself (custom transaction numbers are off)",
                "to keep the platform's numbers, turn on Custom transaction numbers in QBO "
                "(Account and settings > Sales)",
            )
        )
    return {
        "exported": stored.get("exported", 0),  # in QBO (changed ones included)
        "failed": by_state["failed"],
        "refused_last_run": by_state["refused"],
        "in_flight": by_state["in-flight"],
        "total_differences": len(differences),
        "totals_checked_against": total_check(exported),
        "changed_since_export": by_state["changed"] if read else None,
        "waiting_for_next_export_day": by_state["waiting"] if read else None,
        "by_state": by_state,  # the vocabulary (sync/vocabulary.py); "waiting" needs the source
        "source_read": read,
        "skipped_last_run": summary.get("skipped", {}),
        "last_export_at": state.exports.last_export_at(),
        "last_export_day": last_served.isoformat() if last_served else None,
        "next_export_day": nxt.isoformat(),
        "served_ahead": ahead,
        "due_now": due is not None,
        # Exported invoices by QBO state, as `qbsync pull` last recorded it (issue 14 item 6).
        "qbo_states": qbo_state_counts(ledger.entries),
        "last_pull": last_pull(state),
        "problems": [p.to_dict() for p in problems],
    }


def _invoice_problems(ledger: Ledger, by_state: dict[str, int], differences: int) -> list[Problem]:
    """One line per kind of problem (`invoices --problems` lists each invoice)."""
    problems = [Problem(p.what, p.fix) for p in ledger.problems if p.kind == "source"]
    lines = {
        "refused": (
            "invoice(s) refused by the last export (unmapped item, currency...)",
            "qbsync invoices --status refused (the reasons and the fix), then qbsync export",
        ),
        "failed": (
            "invoice(s) failed",
            "qbsync invoices --status failed (the reasons); they are sent again by the next export",
        ),
        "blocked": (
            "invoice(s) blocked: their member is not connected to a QBO customer",
            "qbsync invoices --status blocked (each names its member and the fix)",
        ),
        "in-flight": (
            "invoice(s) sent without a clear answer yet",
            "qbsync export (it settles them against QBO before sending anything)",
        ),
        "changed": (
            "exported invoice(s) changed at the platform since export",
            "edit them in QBO by hand: qbsync never sends an invoice twice",
        ),
    }
    for state, (what, fix) in lines.items():
        if by_state.get(state):
            problems.append(Problem(f"{by_state[state]} {what}", fix))
    qbo = Counter(p.state for p in ledger.problems if p.kind == "invoice" and p.state in QBO_FIX)
    qbo_lines = {
        "deleted": "exported invoice(s) deleted in QBO",
        "edited": "exported invoice(s) edited in QBO",
        "voided": "exported invoice(s) voided in QBO while the platform has them pending",
    }
    for kind, what in qbo_lines.items():
        if qbo[kind]:
            problems.append(
                Problem(f"{qbo[kind]} {what}", f"qbsync invoices --problems; {QBO_FIX[kind]}")
            )
    if differences:
        problems.append(
            Problem(
                f"{differences} invoice(s) have another total in QBO than at the platform",
                "compare them in QBO (tax computed by QBO?): qbsync invoices --problems",
            )
        )
    return problems
