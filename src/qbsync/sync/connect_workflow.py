"""`connect-members` from start to end, without click (see export_workflow.py for the order and
why): start the run, read the source, refresh and settle, plan, confirm, apply, finish."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from qbsync.config import Config
from qbsync.sources.base import open_source
from qbsync.state.db import State
from qbsync.sync.connect import (
    ConnectPlan,
    ConnectResult,
    QboCustomers,
    apply_connect,
    prepare_connect,
)
from qbsync.sync.export_run import local_tz
from qbsync.sync.members_plan import MemberPlan
from qbsync.sync.runrecord import Outcome, RunRecord, log_finish, log_start, stopped
from qbsync.sync.vocabulary import Problem, member_state

Advance = Callable[[int, str], None]


class ConnectHooks(Protocol):
    def show_plan(self, prepared: ConnectPlan) -> None: ...

    def confirm(self, plan: MemberPlan) -> None:
        """Raise to cancel before QBO is changed."""
        ...

    def progress(self, total: int) -> AbstractContextManager[Advance]: ...


@dataclass
class ConnectRun:
    record: RunRecord
    prepared: ConnectPlan | None = None


def run_connect_workflow(
    *,
    config: Config,
    state: State,
    client: QboCustomers,
    hooks: ConnectHooks,
    full: bool,
    dry_run: bool,
) -> ConnectRun:
    run_id = None if dry_run else state.runs.start("connect-members")
    log_start("connect-members", run_id)
    try:
        run = _connect(config, state, client, hooks, full=full, dry_run=dry_run, run_id=run_id)
    except BaseException as exc:
        if run_id is not None:
            record = stopped("connect-members", run_id, exc)
            state.runs.finish(run_id, record.status, record.to_json())
            log_finish(record)
        raise
    if run_id is not None:
        state.runs.finish(run_id, run.record.status, run.record.to_json())
        log_finish(run.record)
    return run


def _connect(
    config: Config,
    state: State,
    client: QboCustomers,
    hooks: ConnectHooks,
    *,
    full: bool,
    dry_run: bool,
    run_id: int | None,
) -> ConnectRun:
    source = open_source(config.source, tz=local_tz(config.export))
    read = source.members()
    prepared = prepare_connect(
        read.records, read.problems, client=client, state=state, config=config, full=full,
        settle=not dry_run,
    )  # fmt: skip
    hooks.show_plan(prepared)
    if dry_run:
        return ConnectRun(connect_record(prepared, None, run_id=None, dry_run=True), prepared)
    plan = prepared.plan
    if plan.changes:
        hooks.confirm(plan)
    # Even with nothing to send, the verdicts, the links settled from an earlier run, stale links
    # and contact baselines are recorded.
    total = len(plan.links) + len(plan.creates) + len(plan.reactivations) + len(plan.updates)
    with hooks.progress(total) as advance:
        result = apply_connect(
            prepared, client=client, state=state, config=config, run_id=run_id, progress=advance
        )
    return ConnectRun(connect_record(prepared, result, run_id=run_id, dry_run=False), prepared)


def connect_record(
    prepared: ConnectPlan, result: ConnectResult | None, *, run_id: int | None, dry_run: bool
) -> RunRecord:
    """Every member's outcome in the vocabulary; problems: failures and members needing review
    (qbsync never guesses between customers sharing an email: `qbsync link` picks one)."""
    plan = prepared.plan
    record = RunRecord("connect-members", run_id, dry_run=dry_run)
    outcomes: list[Outcome] = []
    if result is not None:
        done = result.outcome
        outcomes += [
            Outcome("member", m, "link", "linked") for m in [*done.linked, *prepared.settled]
        ]
        outcomes += [Outcome("member", m, "create", "created") for m in done.created]
        outcomes += [Outcome("member", m, "reactivate", "linked") for m in done.reactivated]
        outcomes += [Outcome("member", m, "update", "linked") for m in done.updated]
        for failure in done.failed:
            outcomes.append(
                Outcome(
                    "member", failure.member_id, "connect", "failed", failure.message, failure.code
                )
            )
            record.problems.append(
                Problem(
                    f"failed: {failure}",
                    "fix what it says, then run qbsync connect-members again",
                    "member",
                    failure.member_id,
                    "failed",
                )
            )
    else:
        outcomes += [Outcome("member", a.member.id, "link", "linked", a.reason) for a in plan.links]
        outcomes += [
            Outcome("member", a.member.id, "create", "created", a.reason) for a in plan.creates
        ]
    for verdict in plan.verdicts:
        if verdict.status in ("linked", "manual", "pending_create", "inactive"):
            continue
        word = "failed" if verdict.status == "failed" else str(member_state(verdict.status))
        extra = f" (candidates: {', '.join(verdict.candidates)})" if verdict.candidates else ""
        argv: tuple[str, ...] = ("qbsync", "link", verdict.member.id)
        outcomes.append(
            Outcome(
                "member", verdict.member.id, "plan", word, verdict.reason + extra, next_step=argv
            )
        )
        if word in ("needs-review", "failed"):
            record.problems.append(
                Problem(
                    f"failed: member {verdict.member.id}: {verdict.reason}{extra}"
                    if word == "failed"
                    else f"member {verdict.member.id} {word}: {verdict.reason}{extra}",
                    f"pick its customer: qbsync link {verdict.member.id}",
                    "member",
                    verdict.member.id,
                    word,
                )
            )
    for problem in prepared.problems:
        record.problems.append(
            Problem(
                f"bad row: {problem}",
                "fix the row at the platform",
                "source",
                problem.record_id,
                "refused",
            )
        )
    record.outcomes = outcomes
    record.details = result.summary() if result is not None else {"plan": plan.counts()}
    if dry_run:
        record.status, record.exit_code = "ok", 0
    elif record.problems:
        record.status, record.exit_code = "partial", 5
    return record
