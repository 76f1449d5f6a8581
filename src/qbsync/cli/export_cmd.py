"""`qbsync export` (alias `export-invoices`): parse, check the schedule, show the plan, confirm,
apply, summarize. The engine is qbsync.sync.export_run."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import (
    command,
    dry_run_option,
    json_option,
    quiet_option,
    stdin_is_terminal,
    yes_option,
)

if TYPE_CHECKING:
    from qbsync.cli.context import Session
    from qbsync.sync.export_run import ExportPlan
    from qbsync.sync.runrecord import RunRecord

log = logging.getLogger("qbsync.export")


def _export_command(name: str, hidden: bool = False) -> click.Command:
    @command(name, hidden=hidden)
    @quiet_option
    @click.option("--if-due", is_flag=True, help="Only on an export day not yet served (for cron).")
    @click.option(
        "--as-of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="Evaluate the schedule as if today were this date (YYYY-MM-DD).",
    )
    @dry_run_option
    @yes_option
    @json_option
    def export(if_due: bool, as_of: Any, dry_run: bool, yes: bool, as_json: bool) -> None:
        """Export the pending invoices of connected members to QBO.

        Every invoice with status pending ([export] statuses), created at or after the moment the
        integration was enabled (`qbsync auth`), and not exported before, goes to QBO once, on the
        member's customer. A member not connected yet gets one connect attempt first; still
        unconnected, its invoices wait for the next run.

        --if-due exports only on an export day ([export] days, default the 5th, 10th, 15th,
        20th, 25th and 30th; a missed day is caught up) and otherwise exits 0 printing nothing:
        run it daily from cron. It never asks. Without --if-due, export asks before sending
        (--yes skips the question).
        """
        run_export(
            if_due=if_due,
            as_of=as_of.date() if as_of else None,
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
        )

    return export


def run_export(
    *, if_due: bool, as_of: date | None, dry_run: bool, yes: bool, as_json: bool
) -> None:
    from qbsync.cli import render
    from qbsync.cli.runview import quiet_problems, with_unavailable_hint
    from qbsync.errors import QboUnavailableError
    from qbsync.sync.export_workflow import run_export_workflow

    obj = CliContext.get()
    with open_session(obj, run_lock=True) as session:
        assert session.state is not None and session.client is not None
        hooks = _Hooks(obj, yes=yes or if_due, as_json=as_json)
        try:
            run = run_export_workflow(
                config=session.config,
                state=session.state,
                client=session.client,
                hooks=hooks,
                if_due=if_due,
                as_of=as_of,
                dry_run=dry_run,
            )
        except QboUnavailableError as exc:
            raise with_unavailable_hint(session.config, exc) from None
        record = run.record
        if record.status == "not-due":
            log.info(
                "no export day is due on %s; the next is %s",
                record.details["today"],
                record.details["next_export_day"],
            )
            if as_json:
                render.emit_json(
                    {
                        "ok": record.ok,
                        **record.details,
                        "problems": [p.to_dict() for p in record.problems],
                    }
                )
                obj.json_printed = True
            else:
                quiet_problems(record)  # a source that cannot be read, also under -q
            _raise_for(obj, record)
            return
        if record.details.get("export_day") and not dry_run:
            _warn_served_ahead(session, date.fromisoformat(record.details["export_day"]))
    summary = record.details
    if as_json:
        render.emit_json(
            {"ok": record.ok, "dry_run": dry_run, "summary": summary, "run": record.to_json()}
        )
        obj.json_printed = True
    elif obj.quiet:
        quiet_problems(record)
    else:
        _show_summary(record, dry_run=dry_run)
    _raise_for(obj, record)


def _raise_for(obj: CliContext, record: RunRecord) -> None:
    """The record's exit code, as the error cli/main.py turns into it."""
    from qbsync.errors import QboUnavailableError, RecordsFailedError

    waiting = len(record.in_flight)
    if record.status == "unavailable":
        raise QboUnavailableError(
            f"QBO gave no clear answer for {waiting} invoice(s) and nothing was exported; they "
            "stay in flight, and the next export looks for them in QBO before sending them again"
        )
    if record.exit_code != 5:
        return
    if record.status == "not-due":
        raise RecordsFailedError(
            "no export day is due, but the source cannot be read (listed above)",
            hint="fix it before the next export day",
        )
    failed = record.counts.get("failed", 0)
    # Name only what happened: a run whose problems are blocked or refused invoices does not
    # say "0 failed and 0 got no clear answer".
    parts = [f"{failed} invoice(s) failed"] if failed else []
    parts += [f"{waiting} got no clear answer from QBO"] if waiting else []
    said = f": {' and '.join(parts)}" if parts else ""
    retry = (
        "; failed invoices are sent again by the next export, and those without an answer are "
        "looked for in QBO first"
        if parts
        else "; each line says what fixes it"
    )
    raise RecordsFailedError(
        f"{len(record.problems)} problem(s) need you (listed above){said}; the others were done",
        hint=f"`{obj.command_line('runs', str(record.id))}` lists them again{retry}",
    )


class _Hooks:
    """The terminal's part of the export workflow: questions, the plan, progress."""

    def __init__(self, obj: CliContext, *, yes: bool, as_json: bool) -> None:
        self.obj, self.yes, self.as_json = obj, yes, as_json

    def confirm_connect(self, count: int) -> bool:
        return _confirm_connect(self.obj, count, yes=self.yes)

    def show_plan(self, plan: ExportPlan) -> None:
        if not self.as_json and not self.obj.quiet:
            _show_plan(plan)

    def confirm(self, plan: ExportPlan) -> None:
        _confirm(self.obj, plan, yes=self.yes)

    def progress(self, total: int) -> Any:
        from qbsync.cli.runview import progress

        return progress(self.obj, total, "export", as_json=self.as_json)


def _warn_served_ahead(session: Session, day: date) -> None:
    """`--as-of` after today served a future export day: said on stderr and in the log file."""
    from datetime import UTC, datetime

    from qbsync.sync.export_run import export_tz
    from qbsync.sync.schedule import served_ahead_note, today_in

    assert session.state is not None
    today = today_in(export_tz(session.config.export), datetime.now(UTC))
    note = served_ahead_note(day, today)
    if note and session.state.exports.last_served_day(day) == day:
        log.warning("%s", note)


def _confirm_connect(obj: CliContext, count: int, *, yes: bool) -> bool:
    """Connecting new members may create QBO customers: asked before, like the export itself.
    "No" skips those members' invoices (blocked this run) and goes on with the others."""
    if yes:
        return True
    from qbsync.errors import UsageError

    if not stdin_is_terminal():
        raise UsageError(
            f"export first connects {count} new member(s) to QBO customers (creating them when "
            "needed) and asks before changing QBO, but there is no terminal to answer; nothing "
            "was changed",
            hint=f"run `{obj.command_line('export', '--if-due')}` from cron, or add --yes",
        )
    return click.confirm(
        f"{count} member(s) with invoices to export are not connected yet; connect them to QBO "
        "customers first (creating customers when needed)? (no: their invoices wait)",
        err=True,
    )


def _confirm(obj: CliContext, plan: ExportPlan, *, yes: bool) -> None:
    if yes:
        return
    from qbsync.errors import UsageError

    if not stdin_is_terminal():
        raise UsageError(
            "export sends invoices to QBO and asks first, but there is no terminal to answer; "
            "nothing was sent",
            hint=f"run `{obj.command_line('export', '--if-due')}` from cron, or add --yes",
        )
    pushes = [a for a in plan.after if a.kind != "report"]
    also = (
        f" and push {len(pushes)} platform change(s) (voids, edits, payments, credit notes)"
        if pushes
        else ""
    )
    click.confirm(
        f"Send {len(plan.to_send)} invoice(s), {plan.total} in all,{also} to QBO?",
        abort=True,
        err=True,
    )


def _show_plan(plan: ExportPlan) -> None:
    from qbsync.cli import render
    from qbsync.cli.runview import shown

    for problem in plan.problems:
        render.warn(f"skipped: {problem}")
    day = f" for the export day {plan.export_day}" if plan.export_day else ""
    render.key_values(
        f"Export plan{day}",
        [
            ("to export", f"{len(plan.to_send)} invoice(s), {plan.total}"),
            ("refused", str(len(plan.refused))),
            ("skipped", str(len(plan.skipped))),
            ("settled from an earlier run", str(len(plan.settled.settled))),
            ("platform changes to push", str(sum(a.kind != "report" for a in plan.after))),
        ],
    )
    rows = shown(
        [
            (
                t.mapped.invoice_id,
                t.member_id,
                "export",
                f"{t.mapped.total} to customer {t.customer_id}",
            )
            for t in plan.to_send
        ]
    )
    rows += shown(
        [
            (r.invoice_id, plan.members.get(r.invoice_id, "-"), "refused", f"{r.field}: {r.reason}")
            for r in plan.refused
        ]
    )
    rows += shown([(s.invoice_id, s.member_id, "skipped", s.reason) for s in plan.skipped])
    rows += shown(_after_rows(plan))
    if rows:
        render.table(None, ("invoice", "member", "what", "why"), rows)


def _after_rows(plan: ExportPlan) -> list[tuple[str, str, str, str]]:
    """The platform's changes to exported invoices: what this run pushes (or reports)."""
    from qbsync.sync.after_export import WORDS
    from qbsync.sync.credit_plan import CreditAction

    rows: list[tuple[str, str, str, str]] = []
    for a in plan.after:
        if isinstance(a, CreditAction):
            target = f" {a.note.applies_to}" if a.step == "apply" else ""
            rows.append((a.note.id, a.note.member_id, a.kind, WORDS[a.step] + target))
            continue
        rows.append(
            (
                a.invoice.id,
                a.invoice.member_id,
                a.kind,
                f"{WORDS[a.kind]}: QBO invoice {a.record.qbo_id}"
                + (f", payment {a.payment.id} of {a.payment.amount}" if a.payment else ""),
            )
        )
    return rows


def _show_summary(record: RunRecord, *, dry_run: bool) -> None:
    from qbsync.cli import render
    from qbsync.sync.runrecord import problem_line

    summary = record.details
    if dry_run:
        render.result("Dry run: nothing was sent.")
        return
    rows = [
        ("exported", f"{summary['exported']} invoice(s), {summary['exported_total']}"),
        ("failed", str(record.counts.get("failed", 0))),
    ]
    # What was not sent, and why, by state (not-eligible ones too: counted, never a problem).
    for state, reasons in summary.get("not_sent", {}).items():
        rows.append((state, ", ".join(f"{n} {why}" for why, n in reasons.items())))
    after = summary.get("after_export") or {}
    if after.get("pushed"):
        rows.append(("pushed to QBO", ", ".join(after["pushed"])))
    rows += [
        ("waiting for an answer", str(len(record.in_flight))),
        ("total differs in QBO", str(len(summary["total_differences"]))),
    ]
    render.key_values("Done", rows)
    for problem in record.problems:
        render.warn(problem_line(problem))


export = _export_command("export")
export_invoices = _export_command("export-invoices")


def register(group: click.Group) -> None:
    group.add_command(export)
    group.add_command(export_invoices)
