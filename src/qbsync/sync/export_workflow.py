"""`export` from start to end, without click: the workflow the CLI (and a future runner over
many profiles) calls with its own confirm and progress callbacks.

Order, and why: the run is started first (so that a source that cannot be read or a refusal
before anything is planned reaches `qbsync runs`); new members are connected (export gives each
one connect attempt); the plan settles what earlier runs left in flight; then confirm, apply,
finish. A failure finishes the run as "error" before it is raised again; Ctrl-C finishes it as
"interrupted", naming the invoices left in flight (the next run settles them).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from qbsync.config import Config
from qbsync.errors import QbsyncError
from qbsync.sources.base import open_source, read_changed
from qbsync.sources.records import Member, Read
from qbsync.state.db import State
from qbsync.sync.after_export import (
    AfterExport,
    add_to_record,
    apply_after,
    plan_after,
    split_invoices,
)
from qbsync.sync.connect import ConnectResult, QboCustomers, apply_connect, prepare_connect
from qbsync.sync.credit_plan import is_credit
from qbsync.sync.export_apply import ExportOutcome
from qbsync.sync.export_record import export_record, finish_status
from qbsync.sync.export_run import (
    ExportPlan,
    QboInvoices,
    apply_export,
    due,
    local_tz,
    members_to_connect,
    plan_export,
    qbo_refs,
)
from qbsync.sync.runrecord import RunRecord, log_finish, log_start, stopped
from qbsync.sync.vocabulary import Problem

Advance = Callable[[int, str], None]

# A placeholder customer id for a member a dry run would connect by creating a customer.
NEW_CUSTOMER = "(new customer)"


class QboForExport(QboInvoices, QboCustomers, Protocol):
    """What export needs of a QboClient: invoices, and customers for its connect step."""


class ExportHooks(Protocol):
    """The front end's part: questions, the plan on screen, progress."""

    def confirm_connect(self, count: int) -> bool:
        """Connect ``count`` new members first? False: their invoices wait (blocked); raise to
        cancel the run."""
        ...

    def show_plan(self, plan: ExportPlan) -> None: ...

    def confirm(self, plan: ExportPlan) -> None:
        """Raise to cancel before anything is sent."""
        ...

    def progress(self, total: int) -> AbstractContextManager[Advance]: ...


@dataclass
class ExportRun:
    record: RunRecord
    plan: ExportPlan | None = None


def read_since(config: Config, enabled_at: datetime | None) -> datetime | None:
    """From when export asks the source for invoices. A CSV file is read whole anyway, so its
    invoices from before enablement are read too: classify keeps them back (never exported) and
    the summary counts them ("12 created before enablement"), as `status` and `invoices` do.
    Other sources (the platform's API, plugins) are asked only for invoices since enablement:
    years of history are not fetched every day."""
    return None if config.source.type == "csv" else enabled_at


def run_export_workflow(
    *,
    config: Config,
    state: State,
    client: QboForExport,
    hooks: ExportHooks,
    if_due: bool,
    as_of: date | None,
    dry_run: bool,
    now: datetime | None = None,
) -> ExportRun:
    when = due(state, config.export, as_of=as_of, now=now)
    if if_due and when.day is None:
        # Not an export day: new invoices wait, but the platform's changes to exported ones
        # (voids, edits, payments) go every day; with none, the run is silent and unrecorded.
        pushed = _after_only(config, state, client, hooks, dry_run, when.today)
        return pushed or ExportRun(_not_due(config, when.today, when.next_day))
    run_id = None if dry_run else state.runs.start("export")
    log_start("export", run_id)
    try:
        run = _export(config, state, client, hooks, when.today, when.day, dry_run, run_id)
    except KeyboardInterrupt:
        if run_id is not None:
            _finish_interrupted(state, run_id)
        raise
    except BaseException as exc:
        if run_id is not None:
            record = stopped("export", run_id, exc)
            state.runs.finish(run_id, record.status, record.to_json())
            log_finish(record)
        raise
    if run_id is not None:
        state.runs.finish(run_id, run.record.status, run.record.to_json())
        log_finish(run.record)
    return run


def _not_due(config: Config, today: date, next_day: date) -> RunRecord:
    """No export day is due: nothing is sent and no run is recorded, but a source that cannot be
    read is still a problem cron must see (it would fail the next export day too)."""
    record = RunRecord(
        "export",
        status="not-due",
        details={"due": False, "today": today.isoformat(), "next_export_day": next_day.isoformat()},
    )
    try:
        open_source(config.source, tz=local_tz(config.export)).members()
    except QbsyncError as exc:
        record.problems.append(
            Problem(
                what=f"the source cannot be read: {exc.message}",
                fix=exc.hint or "check [source] in the config and the platform",
                kind="source",
            )
        )
        record.exit_code = 5
    return record


def _export(
    config: Config,
    state: State,
    client: QboForExport,
    hooks: ExportHooks,
    today: date,
    day: date | None,
    dry_run: bool,
    run_id: int | None,
) -> ExportRun:
    source = open_source(config.source, tz=local_tz(config.export))
    members = source.members()
    # Every invoice, whatever its status (exported ones come back voided, paid, edited).
    since = read_since(config, state.enabled_at)
    read = read_changed(source, None, created_since=since, statuses=config.export.statuses)
    new_invoices, every_invoice = split_invoices(read.records, config)
    invoices = Read(new_invoices, read.problems)
    # Credit notes' members get their connect attempt too (a credit memo needs a customer).
    credits = [i for i in every_invoice if is_credit(i, config)]
    newcomers = members_to_connect([*invoices.records, *credits], members.records, state, config)
    connected: ConnectResult | None = None
    declined: list[str] = []
    assume: dict[str, str] = {}
    if newcomers:  # new sign-ups: one connect attempt, under connect-members' rules
        ids = [m.id for m in newcomers]
        if dry_run or hooks.confirm_connect(len(newcomers)):
            prepared = prepare_connect(
                members.records,
                [],
                client=client,
                state=state,
                config=config,
                full=False,
                only=ids,
                settle=not dry_run,
            )
            if dry_run:  # planned, not written: the preview lists their invoices as they'd go
                wanted = prepared.plan
                assume = {a.member.id: a.customer_id for a in wanted.links}
                assume.update({a.member.id: a.customer_id for a in wanted.reactivations})
                assume.update({a.member.id: NEW_CUSTOMER for a in wanted.creates})
            else:
                connected = apply_connect(
                    prepared, client=client, state=state, config=config, run_id=run_id
                )
        else:
            declined = ids
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
        assume_links=assume,
    )
    # New credit memos go whenever new invoices do (an export day, or `export` asked by hand).
    after = plan_after(every_invoice, state, config, export_day=True)
    plan.after = [*after.actions, *after.credits]
    plan.changed_since_export = []  # reported (or updated) by the after-export step, with what
    hooks.show_plan(plan)
    outcome: ExportOutcome | None = None
    if not dry_run:
        if plan.to_send or after.pushes:
            hooks.confirm(plan)
        with hooks.progress(len(plan.to_send)) as advance:
            outcome = apply_export(
                plan, client=client, state=state, config=config, run_id=run_id, progress=advance
            )
        _apply_after(after, config, state, client, members.records, run_id)
    record = export_record(
        plan, outcome, connect=connected, declined=declined, dry_run=dry_run, run_id=run_id
    )
    add_to_record(record, after, dry_run=dry_run)
    finish_status(record)
    return ExportRun(record, plan)


def _apply_after(
    after: AfterExport,
    config: Config,
    state: State,
    client: QboForExport,
    members: list[Member],
    run_id: int | None,
) -> None:
    if after.actions or after.credits:
        apply_after(
            after,
            client=client,  # type: ignore[arg-type]  # QboClient has every write
            state=state,
            config=config,
            members=members,
            refs=lambda: qbo_refs(client),
            run_id=run_id,
        )


def _after_only(
    config: Config,
    state: State,
    client: QboForExport,
    hooks: ExportHooks,
    dry_run: bool,
    today: date,
) -> ExportRun | None:
    """A day that is not an export day: only the platform's changes to exported invoices."""
    if state.enabled_at is None:
        return None
    try:
        source = open_source(config.source, tz=local_tz(config.export))
        read = read_changed(
            source, None, created_since=state.enabled_at, statuses=config.export.statuses
        )
    except QbsyncError:
        return None  # _not_due reports the source that cannot be read
    after = plan_after(read.records, state, config, export_day=False)
    if not after.actions and not after.credits:
        return None
    plan = ExportPlan(today=today, export_day=None, settled=ExportOutcome())
    plan.after = [*after.actions, *after.credits]
    hooks.show_plan(plan)
    run_id = None if dry_run else state.runs.start("export")
    log_start("export", run_id)
    try:
        if not dry_run:
            if after.pushes:
                hooks.confirm(plan)
            members = (
                source.members().records
                if after.credits or any(a.kind == "update" for a in after.actions)
                else []
            )
            _apply_after(after, config, state, client, members, run_id)
    except BaseException as exc:
        if run_id is not None:
            failed = stopped("export", run_id, exc)
            state.runs.finish(run_id, failed.status, failed.to_json())
            log_finish(failed)
        raise
    record = export_record(plan, None, dry_run=dry_run, run_id=run_id)
    add_to_record(record, after, dry_run=dry_run)
    finish_status(record)
    if run_id is not None:
        state.runs.finish(run_id, record.status, record.to_json())
        log_finish(record)
    return ExportRun(record, plan)


def _finish_interrupted(state: State, run_id: int) -> None:
    """Ctrl-C: the run is recorded as interrupted, with the invoices it left in flight; the
    next export settles them against QBO before sending anything again."""
    in_flight = [r.invoice_id for r in state.exports.all() if r.state == "exporting"]
    record = RunRecord(
        "export",
        run_id,
        "interrupted",
        exit_code=130,
        error="interrupted (Ctrl-C)",
        in_flight=in_flight,
        problems=[
            Problem(
                what=f"invoice {i} was sent when the run was interrupted",
                fix="the next export looks for it in QBO before sending it again",
                kind="invoice",
                record=i,
                state="in-flight",
            )
            for i in in_flight
        ],
    )
    state.runs.finish(run_id, "interrupted", record.to_json())
    log_finish(record)
