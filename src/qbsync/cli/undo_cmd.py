"""`qbsync undo RUN_ID`: void what an export run sent to QBO, blockers listed first. The engine
is qbsync.sync.undo."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, dry_run_option, json_option, stdin_is_terminal, yes_option

if TYPE_CHECKING:
    from qbsync.sync.undo import UndoPlan


@command("undo")
@click.argument("run_id", type=click.IntRange(1))
@click.option(
    "--customers",
    is_flag=True,
    help="Also make inactive the customers that run created, when they have no other transactions.",
)
@dry_run_option
@yes_option
@json_option
def undo(run_id: int, customers: bool, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Void every invoice export run RUN_ID sent to QBO (never deleted: numbers and the audit
    trail stay).

    Blockers are listed first and left as they are: a payment applied, a date in a closed
    period, an invoice emailed to the customer. Undone invoices are held ("undone in run N"):
    the next export does not send them again until `qbsync release`.
    """
    from qbsync.cli import render
    from qbsync.sync.runrecord import log_finish, log_start, problem_line
    from qbsync.sync.undo import apply_undo, plan_undo

    obj = CliContext.get()
    with open_session(obj, run_lock=True) as session:
        assert session.state is not None and session.client is not None
        state, client = session.state, session.client
        plan = plan_undo(run_id, client=client, state=state, customers=customers)
        if not as_json:
            _show(plan)
        if dry_run or not (plan.items or plan.customers):
            if as_json:
                render.emit_json({"ok": True, "dry_run": dry_run, "plan": _plan_json(plan)})
                obj.json_printed = True
            elif dry_run:
                render.result("Dry run: nothing was voided.")
            return
        if plan.to_void or plan.customers:
            _confirm(obj, plan, yes=yes)
        own = state.runs.start("undo")
        log_start("undo", own)
        try:
            record = apply_undo(plan, client=client, state=state, run_id=own)
        except BaseException:
            state.runs.finish(own, "error", {"undo_of": run_id})
            raise
        state.runs.finish(own, record.status, record.to_json())
        log_finish(record)
    if as_json:
        render.emit_json({"ok": record.ok, "plan": _plan_json(plan), "run": record.to_json()})
        obj.json_printed = True
    else:
        render.key_values(
            "Undone", [("voided", str(record.details["voided"])), ("run", str(record.id))]
        )
        for problem in record.problems:
            render.warn(problem_line(problem))
    if record.problems:
        from qbsync.errors import RecordsFailedError

        raise RecordsFailedError(
            f"{len(record.problems)} invoice(s) or customer(s) were not undone (listed above)",
            hint=f"`{obj.command_line('runs', str(record.id))}` lists them again",
        )


def _plan_json(plan: UndoPlan) -> dict[str, object]:
    return {
        "run": plan.run_id,
        "void": [i.record.invoice_id for i in plan.to_void],
        "blocked": {i.record.invoice_id: i.blocker for i in plan.blocked},
        "already_undone": plan.already,
        "customers": {c.customer_id: c.blocker for c in plan.customers},
    }


def _show(plan: UndoPlan) -> None:
    from qbsync.cli import render

    rows = [
        (i.record.invoice_id, str(i.record.qbo_id), "blocked", str(i.blocker)) for i in plan.blocked
    ]
    rows += [
        (
            i.record.invoice_id,
            str(i.record.qbo_id),
            "void",
            "voided in QBO already: recorded" if i.voided else f"{i.record.expected_total}",
        )
        for i in plan.to_void
    ]
    rows += [(c.member_id, c.customer_id, "customer", c.blocker or "make inactive")
             for c in plan.customers]  # fmt: skip
    render.key_values(
        f"Undo run {plan.run_id}",
        [
            ("to void", str(len(plan.to_void))),
            ("blocked", str(len(plan.blocked))),
            ("undone before", str(len(plan.already))),
        ],
    )
    if rows:
        render.table(None, ("invoice", "QBO id", "what", "detail"), rows)


def _confirm(obj: CliContext, plan: UndoPlan, *, yes: bool) -> None:
    if yes:
        return
    from qbsync.errors import UsageError

    if not stdin_is_terminal():
        raise UsageError(
            "undo voids invoices in QBO and asks first, but there is no terminal to answer; "
            "nothing was voided",
            hint=f"add --yes: `{obj.command_line('undo', str(plan.run_id), '--yes')}`",
        )
    click.confirm(
        f"Void {len(plan.to_void)} QBO invoice(s) of run {plan.run_id}?", abort=True, err=True
    )


def register(group: click.Group) -> None:
    group.add_command(undo)
