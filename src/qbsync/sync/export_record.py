"""The run record of an export (pure): every invoice the run touched or held back, in the
vocabulary, and each problem with its fix. Built once from the plan and the outcome; every view
renders it (sync/runrecord.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qbsync.errors import tid_in
from qbsync.state.exports import ExportRecord
from qbsync.sync.connect import ConnectResult
from qbsync.sync.export_apply import ExportOutcome
from qbsync.sync.export_run import ExportPlan, export_summary
from qbsync.sync.runrecord import Outcome, RunRecord
from qbsync.sync.vocabulary import SKIP_STATE, Problem

# eligibility.REASON_CODES in a few words, for the summary's "not sent, and why" lines.
SKIP_WORDS = {
    "before_enabled": "created before enablement",
    "status": "status not exported",
    "member_unlinked": "member unlinked by hand",
    "in_flight": "in flight from an earlier run",
    "member_unknown": "member not in the source",
    "member_not_connected": "member not connected",
    "member_needs_review": "member needs review",
}


def _fix_for_skip(code: str, member: str) -> tuple[str, tuple[str, ...]]:
    if code == "member_needs_review":
        return f"pick its customer: qbsync link {member}", ("qbsync", "link", member)
    if code == "member_unknown":
        return "add the member at the platform (or fix the invoice's member id)", ()
    return "connect it: qbsync connect-members", ("qbsync", "connect-members")


def _exported(record: ExportRecord, action: str = "export") -> Outcome:
    return Outcome(
        kind="invoice",
        id=record.invoice_id,
        action=action,
        result="exported",
        number=record.number,
        qbo_id=record.qbo_id,
        amount=str(record.expected_total),
        qbo_total=None if record.qbo_total is None else str(record.qbo_total),
    )


def export_record(
    plan: ExportPlan,
    outcome: ExportOutcome | None,
    *,
    connect: ConnectResult | None = None,
    declined: Sequence[str] = (),
    dry_run: bool = False,
    run_id: int | None = None,
) -> RunRecord:
    """``connect``: export's connect step for new members; ``declined``: new members the operator
    chose not to connect now (their invoices are blocked this run)."""
    outcomes: list[Outcome] = []
    problems: list[Problem] = []
    record = RunRecord(command="export", id=run_id, dry_run=dry_run)
    if connect is not None:
        for failure in connect.outcome.failed:
            outcomes.append(
                Outcome(
                    "member", failure.member_id, "connect", "failed", str(failure), failure.code
                )
            )
            problems.append(
                Problem(
                    what=f"failed: {failure}",
                    fix="fix what it says, then run qbsync connect-members",
                    kind="member",
                    record=failure.member_id,
                    state="failed",
                )
            )
        for kind in ("linked", "created", "reactivated"):
            for member in getattr(connect.outcome, kind):
                outcomes.append(
                    Outcome(
                        "member", member, "connect", kind if kind != "reactivated" else "linked"
                    )
                )
    for member in declined:
        outcomes.append(
            Outcome("member", member, "connect", "unmatched", "not connected: you answered no")
        )
    for invoice in plan.settled.settled:
        outcomes.append(Outcome("invoice", invoice, "settle", "exported", "found in QBO"))
    for invoice in plan.settled.adopted:
        outcomes.append(Outcome("invoice", invoice, "adopt", "exported", "QBO already had it"))
    for problem in plan.problems:  # rows the source could not read: refused, never sent
        outcomes.append(
            Outcome(
                "invoice" if problem.kind != "member" else "member",
                problem.record_id or problem.where,
                "read",
                "refused",
                str(problem),
            )
        )
        problems.append(
            Problem(
                what=f"bad row: {problem}",
                fix="fix the row at the platform; the next export reads it again",
                kind="source",
                record=problem.record_id,
                state="refused",
            )
        )
    for refused in plan.refused:
        detail = f"{refused.field}: {refused.reason}"
        outcomes.append(Outcome("invoice", refused.invoice_id, "refuse", "refused", detail))
        problems.append(
            Problem(
                what=f"invoice {refused.invoice_id} refused: {detail}",
                fix="fix what it says; the next export sends it",
                kind="invoice",
                record=refused.invoice_id,
                state="refused",
            )
        )
    in_flight_earlier = set(plan.settled.in_flight)
    for skip in plan.skipped:
        state = SKIP_STATE.get(skip.reason_code, "not-eligible")
        if state == "in-flight" and skip.invoice_id in in_flight_earlier:
            continue  # listed once, below
        fix, argv = _fix_for_skip(skip.reason_code, skip.member_id)
        outcomes.append(
            Outcome(
                "invoice",
                skip.invoice_id,
                "skip",
                state,
                skip.reason,
                next_step=argv if state == "blocked" else (),
            )
        )
        if state == "blocked":
            problems.append(
                Problem(
                    what=f"invoice {skip.invoice_id} blocked (member {skip.member_id}): "
                    f"{skip.reason}",
                    fix=fix,
                    kind="invoice",
                    record=skip.invoice_id,
                    state="blocked",
                )
            )
    if outcome is not None:
        for done in outcome.exported:
            outcomes.append(_exported(done))
            if done.difference is not None:
                problems.append(
                    Problem(
                        what=f"invoice {done.invoice_id} #{done.number}: QBO's total "
                        f"{done.qbo_total} differs from the platform's {done.expected_total} "
                        f"(by {done.difference})",
                        fix=f"compare QBO invoice {done.qbo_id} with the platform's (tax or "
                        "rounding settings); qbsync does not send it again",
                        kind="invoice",
                        record=done.invoice_id,
                        state="exported",
                    )
                )
        for failed in outcome.failed:
            outcomes.append(
                Outcome(
                    "invoice",
                    failed.invoice_id,
                    "export",
                    "failed",
                    failed.error_message,
                    failed.error_code,
                    tid_in(failed.error_message),
                    number=failed.number,
                    amount=str(failed.expected_total),
                )
            )
            problems.append(
                Problem(
                    what=f"invoice {failed.invoice_id} #{failed.number} failed: "
                    f"{failed.error_message} [QBO {failed.error_code}]",
                    fix="fix what QBO says; the next export sends it again",
                    kind="invoice",
                    record=failed.invoice_id,
                    state="failed",
                )
            )
    in_flight = [*(outcome.in_flight if outcome else []), *plan.settled.in_flight]
    if not dry_run:
        for invoice in in_flight:
            outcomes.append(
                Outcome("invoice", invoice, "settle", "in-flight", "no clear answer from QBO yet")
            )
            problems.append(
                Problem(
                    what=f"invoice {invoice} got no clear answer from QBO",
                    fix="the next export looks for it in QBO before sending it again",
                    kind="invoice",
                    record=invoice,
                    state="in-flight",
                )
            )
    for invoice in plan.changed_since_export:
        outcomes.append(
            Outcome(
                "invoice",
                invoice,
                "check",
                "changed",
                "changed at the platform after it was exported",
            )
        )
        problems.append(
            Problem(
                what=f"invoice {invoice} changed at the platform after it was exported",
                fix="change it in QBO by hand: qbsync never sends an invoice twice",
                kind="invoice",
                record=invoice,
                state="changed",
            )
        )
    record.outcomes, record.problems = outcomes, problems
    record.in_flight = [] if dry_run else in_flight
    details: dict[str, Any] = export_summary(plan, outcome)
    details["not_sent"] = not_sent(plan)
    details["connect_failed"] = len(connect.outcome.failed) if connect else 0
    details["declined_members"] = list(declined)
    if dry_run:
        details["in_flight"] = []
    record.details = details
    return record


def not_sent(plan: ExportPlan) -> dict[str, dict[str, int]]:
    """What this export did not send, by state, then by reason in a few words."""
    by_state: dict[str, dict[str, int]] = {}

    def add(state: str, why: str) -> None:
        reasons = by_state.setdefault(state, {})
        reasons[why] = reasons.get(why, 0) + 1

    for skip in plan.skipped:
        add(
            SKIP_STATE.get(skip.reason_code, "not-eligible"),
            SKIP_WORDS.get(skip.reason_code, skip.reason_code),
        )
    for refused in plan.refused:
        add("refused", refused.field.replace("_", " "))
    for _ in plan.problems:
        add("refused", "bad row")
    for _ in plan.changed_since_export:
        add("changed", "changed at the platform after export")
    return by_state


def finish_status(record: RunRecord) -> None:
    """The run's status and exit code from its outcomes: nothing done and everything sent
    unanswered is QBO unreachable (exit 1); any problem is exit 5 (finished, some records need
    you); a dry run exits 0 (it only shows)."""
    if record.dry_run:
        record.status, record.exit_code = "ok", 0
        return
    counts = record.counts
    done = record.details.get("exported", 0) + len(
        record.details.get("settled_from_earlier_runs", [])
    )
    unreachable = (
        bool(record.in_flight)
        and not counts.get("failed")
        and not done
        and not record.details.get("adopted_from_qbo")
    )
    if unreachable:
        record.status, record.exit_code = "unavailable", 1
    elif record.problems:
        record.status, record.exit_code = "partial", 5
    else:
        record.status, record.exit_code = "ok", 0
