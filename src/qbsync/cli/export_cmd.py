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

log = logging.getLogger("qbsync.export")
SHOWN = 10


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
    from qbsync.sync.export_run import due

    obj = CliContext.get()
    with open_session(obj, run_lock=True) as session:
        assert session.state is not None
        when = due(session.state, session.config.export, as_of=as_of)
        if if_due and when.day is None:
            log.info("no export day is due on %s; the next is %s", when.today, when.next_day)
            if as_json:
                render.emit_json(
                    {
                        "ok": True,
                        "due": False,
                        "today": when.today.isoformat(),
                        "next_export_day": when.next_day.isoformat(),
                    }
                )
                obj.json_printed = True
            return
        _export(
            obj, session, when.today, when.day, dry_run=dry_run, yes=yes or if_due, as_json=as_json
        )


def _export(
    obj: CliContext,
    session: Session,
    today: date,
    day: date | None,
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    from qbsync.cli import render
    from qbsync.errors import RecordsFailedError
    from qbsync.sources.base import open_source
    from qbsync.sync.connect import apply_connect, prepare_connect
    from qbsync.sync.export_run import (
        apply_export,
        export_summary,
        local_tz,
        members_to_connect,
        plan_export,
    )

    state, client, config = session.state, session.client, session.config
    assert state is not None and client is not None
    source = open_source(config.source, tz=local_tz(config.export))
    members = source.members()
    invoices = source.invoices(statuses=config.export.statuses, created_since=state.enabled_at)
    run_id = None if dry_run else state.runs.start("export")
    try:
        newcomers = members_to_connect(invoices.records, members.records, state, config)
        if newcomers and not dry_run:  # new sign-ups: one connect attempt, connect-members' rules
            _confirm_connect(obj, len(newcomers), yes=yes)
            prepared = prepare_connect(
                members.records,
                [],
                client=client,
                state=state,
                config=config,
                full=False,
                only=[m.id for m in newcomers],
            )
            apply_connect(prepared, client=client, state=state, config=config, run_id=run_id)
        plan = plan_export(
            invoices.records,
            members.records,
            [*members.problems, *invoices.problems],
            client=client,
            state=state,
            config=config,
            today=today,
            export_day=day,
            settle=not dry_run,
        )
        if not as_json and not obj.quiet:
            _show_plan(plan)
        if dry_run or not plan.to_send:
            outcome = None
            if not dry_run:
                outcome = apply_export(
                    plan, client=client, state=state, config=config, run_id=run_id
                )
        else:
            _confirm(obj, plan, yes=yes)
            with render.Progress(len(plan.to_send), "export", quiet=obj.quiet or as_json) as bar:
                outcome = apply_export(
                    plan,
                    client=client,
                    state=state,
                    config=config,
                    run_id=run_id,
                    progress=bar.advance,
                )
    except BaseException as exc:
        if run_id is not None:
            state.runs.finish(run_id, "error", {"error": str(exc)})
        raise
    summary = export_summary(plan, outcome)
    failed = summary["failed"]
    if day is not None and not dry_run:
        _warn_served_ahead(session, day)
    waiting = 0 if dry_run else len(summary["in_flight"])
    # Nothing done and everything sent unanswered: QBO could not be reached (exit 1); some done
    # and some failed or unanswered: finished, with records listed (exit 5). Never 0 and "ok"
    # with invoices left in flight (QBO answering 503 day after day must be seen).
    done = summary["exported"] + len(summary["settled_from_earlier_runs"])
    unreachable = bool(waiting) and not failed and not done and not summary["adopted_from_qbo"]
    result = "unavailable" if unreachable else "partial" if failed or waiting else "ok"
    if run_id is not None:
        state.runs.finish(run_id, result, summary)
    if as_json:
        render.emit_json({"ok": result == "ok", "dry_run": dry_run, "summary": summary})
        obj.json_printed = True
    elif not obj.quiet or failed or waiting:
        _show_summary(summary, dry_run=dry_run)
    if unreachable:
        from qbsync.errors import QboUnavailableError

        raise QboUnavailableError(
            f"QBO gave no clear answer for {waiting} invoice(s) and nothing was exported; they "
            "stay in flight, and the next export looks for them in QBO before sending them again"
        )
    if (failed or waiting) and not dry_run:
        raise RecordsFailedError(
            f"{failed} invoice(s) failed and {waiting} got no clear answer from QBO (listed "
            "above); the others were exported",
            hint="fix what each failed line says; failed invoices are sent again by the next "
            "export, and those without an answer are looked for in QBO first",
        )


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


def _confirm_connect(obj: CliContext, count: int, *, yes: bool) -> None:
    """Connecting new members may create QBO customers: asked before, like the export itself."""
    if yes:
        return
    from qbsync.errors import UsageError

    if not stdin_is_terminal():
        raise UsageError(
            f"export first connects {count} new member(s) to QBO customers (creating them when "
            "needed) and asks before changing QBO, but there is no terminal to answer; nothing "
            "was changed",
            hint=f"run `{obj.command_line('export', '--if-due')}` from cron, or add --yes",
        )
    click.confirm(
        f"{count} member(s) with invoices to export are not connected yet; connect them to QBO "
        "customers first (creating customers when needed)?",
        abort=True,
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
    click.confirm(
        f"Send {len(plan.to_send)} invoice(s), {plan.total} in all, to QBO?", abort=True, err=True
    )


def _show_plan(plan: ExportPlan) -> None:
    from qbsync.cli import render

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
        ],
    )
    rows = [
        (
            t.mapped.invoice_id,
            t.member_id,
            "export",
            f"{t.mapped.total} to customer {t.customer_id}",
        )
        for t in plan.to_send[:SHOWN]
    ]
    rows += [(r.invoice_id, "", "refused", f"{r.field}: {r.reason}") for r in plan.refused[:SHOWN]]
    rows += [(s.invoice_id, s.member_id, "skipped", s.reason) for s in plan.skipped[:SHOWN]]
    if rows:
        render.table(None, ("invoice", "member", "what", "why"), rows)


def _show_summary(summary: dict[str, Any], *, dry_run: bool) -> None:
    from qbsync.cli import render

    if dry_run:
        render.result("Dry run: nothing was sent.")
        return
    skipped = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary["skipped"].items()) or "0"
    render.key_values(
        "Done",
        [
            ("exported", f"{summary['exported']} invoice(s), {summary['exported_total']}"),
            ("failed", str(summary["failed"])),
            ("skipped", skipped),
            ("waiting for an answer", str(len(summary["in_flight"]))),
            ("total differs in QBO", str(len(summary["total_differences"]))),
        ],
    )
    for failure in summary["failures"]:
        render.warn(f"failed: {failure}")
    for diff in summary["total_differences"]:
        against = (
            f"the platform's total {diff['platform_total']}"
            if diff.get("platform_total") is not None
            else f"qbsync's sum of the lines {diff['source_total']}"
        )
        render.warn(
            f"invoice {diff['invoice']}: QBO's total {diff['qbo_total']} differs from {against}"
        )
    if summary["in_flight"]:
        render.warn(
            f"{len(summary['in_flight'])} invoice(s) got no clear answer from QBO; the next run "
            "looks for them in QBO before sending anything again"
        )


export = _export_command("export")
export_invoices = _export_command("export-invoices")


def register(group: click.Group) -> None:
    group.add_command(export)
    group.add_command(export_invoices)
