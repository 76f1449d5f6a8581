"""Member and invoice figures for `qbsync status`, each problem with the command that fixes it.

Read from the state (and, for invoices waiting for the next export day, from the source when it
is a local file); no QBO request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qbsync.config import Config
from qbsync.sources.records import SourceInvoice
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.sync.eligibility import classify
from qbsync.sync.export_run import changed_since_export, export_tz
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


def invoice_figures(
    state: State,
    config: Config,
    *,
    source_invoices: Sequence[SourceInvoice] | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    moment = now or datetime.now(UTC)
    records = state.exports.all()
    counts = state.exports.counts()
    exported = [r for r in records if r.state == "exported"]
    differences = [r.invoice_id for r in exported if r.difference is not None]
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
    waiting: int | None = None
    changed: list[str] = []
    if source_invoices is not None and enabled is not None:
        by_id = {r.invoice_id: r for r in records}
        links = {m: link.customer_id for m, link in state.members.links().items()}
        eligible, _ = classify(
            source_invoices,
            enabled_at=enabled,
            statuses=config.export.statuses,
            settled={i: r.state for i, r in by_id.items()},
            links=links,
            member_states={},
            known_members={i.member_id for i in source_invoices},
            tz=export_tz(config.export),  # the zone export judges them in
        )
        waiting = len(eligible)
        changed = changed_since_export(source_invoices, by_id)
    problems: list[Problem] = []
    refused = int(summary.get("refused", 0) or 0)
    if refused:
        problems.append(
            Problem(
                f"{refused} invoice(s) refused by the last export (unmapped item, currency...)",
                "qbsync runs (the reasons and the config line to add), then qbsync export",
            )
        )
    if counts.get("failed"):
        problems.append(
            Problem(
                f"{counts['failed']} invoice(s) failed",
                "qbsync runs (the reasons); they are sent again by the next export",
            )
        )
    if counts.get("exporting"):
        problems.append(
            Problem(
                f"{counts['exporting']} invoice(s) sent without a clear answer yet",
                "qbsync export (it settles them against QBO before sending anything)",
            )
        )
    if differences:
        problems.append(
            Problem(
                f"{len(differences)} invoice(s) have another total in QBO than at the platform",
                "compare them in QBO (tax computed by QBO?): qbsync runs --json lists them",
            )
        )
    if changed:
        problems.append(
            Problem(
                f"{len(changed)} exported invoice(s) changed at the platform since export",
                "edit them in QBO by hand: qbsync never sends an invoice twice",
            )
        )
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
        "exported": counts.get("exported", 0),
        "failed": counts.get("failed", 0),
        "refused_last_run": refused,
        "in_flight": counts.get("exporting", 0),
        "total_differences": len(differences),
        "totals_checked_against": total_check(exported),
        "changed_since_export": len(changed) if source_invoices is not None else None,
        "waiting_for_next_export_day": waiting,
        "skipped_last_run": summary.get("skipped", {}),
        "last_export_at": state.exports.last_export_at(),
        "last_export_day": last_served.isoformat() if last_served else None,
        "next_export_day": nxt.isoformat(),
        "served_ahead": ahead,
        "due_now": due is not None,
        "problems": [p.to_dict() for p in problems],
    }
