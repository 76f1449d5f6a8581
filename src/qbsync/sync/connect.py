"""connect-members from start to end, for the CLI: read, refresh, settle, plan; then apply."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from qbsync.config import Config
from qbsync.errors import QboError
from qbsync.sources.records import Member, Problem
from qbsync.state.db import State
from qbsync.sync.customers import (
    CustomerReader,
    RefreshResult,
    confirm_own_writes,
    refresh_customers,
)
from qbsync.sync.members_apply import (
    CustomerWriter,
    MemberOutcome,
    Progress,
    apply_member_plan,
    settle_pending_creates,
)
from qbsync.sync.members_plan import MemberPlan, only_for, plan_members

log = logging.getLogger(__name__)


class QboCustomers(CustomerReader, CustomerWriter, Protocol):
    """What connect-members needs of a QboClient."""

    def count(self, sql: str) -> int: ...


@dataclass
class ConnectPlan:
    members: list[Member]
    problems: list[Problem]
    refresh: RefreshResult
    settled: list[str]  # unclear creates of earlier runs, now linked
    plan: MemberPlan


@dataclass
class ConnectResult:
    prepared: ConnectPlan
    outcome: MemberOutcome = field(default_factory=MemberOutcome)

    def summary(self) -> dict[str, Any]:
        plan = self.prepared.plan
        counts = plan.counts()
        done = self.outcome.counts()
        return {
            "members": len(self.prepared.members),
            "source_problems": [str(p) for p in self.prepared.problems],
            "customers_read": self.prepared.refresh.read,
            "customer_read_mode": self.prepared.refresh.mode,
            "linked": done["linked"] + len(self.prepared.settled),
            "created": done["created"],
            "reactivated": done["reactivated"],
            "updated": done["updated"],
            "unchanged": counts.get("linked", 0) + counts.get("manual", 0),
            "needs_review": counts.get("needs_review", 0),
            "unmatched": counts.get("unmatched", 0),
            "no_email": counts.get("no_email", 0),
            "inactive": counts.get("inactive", 0),
            "unlinked": counts.get("unlinked", 0),
            "failed": done["failed"] + counts.get("failed", 0),
            "failures": [str(f) for f in self.outcome.failed]
            + [f"member {v.member.id}: {v.reason}" for v in plan.of("failed")],
        }


def prepare_connect(
    members: list[Member],
    problems: list[Problem],
    *,
    client: QboCustomers,
    state: State,
    config: Config,
    full: bool,
    now: datetime | None = None,
    settle: bool = True,
    only: Collection[str] | None = None,
) -> ConnectPlan:
    """Everything before the first change: refresh the customer cache, settle creates an earlier
    run left unclear (not with ``settle=False``: a dry run links nothing), and plan. Raises
    EmptyCompanyError when QBO looks like the wrong company."""
    refresh = refresh_customers(client, state, full=full, now=now)
    settled = settle_pending_creates(client, state, now=now) if settle else []
    plan = plan_members(
        members,
        state.customers.all(),
        state.members.links(),
        unlinked=state.members.unlinked(),
        pushed=state.members.pushed(),
        config=config.members,
    )
    if only is not None:  # export's connect attempt for new sign-ups: planned among everyone
        plan = only_for(plan, only)
    for _, warning in plan.warnings:  # on the terminal (one line each) and in the log file
        log.warning("%s", warning)
    return ConnectPlan(members, problems, refresh, settled, plan)


def apply_connect(
    prepared: ConnectPlan,
    *,
    client: QboCustomers,
    state: State,
    config: Config,
    run_id: int | None,
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ConnectResult:
    outcome = apply_member_plan(
        prepared.plan,
        client=client,
        state=state,
        config=config.members,
        batch_size=config.qbo.batch_size,
        run_id=run_id,
        progress=progress,
        now=now,
    )
    try:
        confirm_own_writes(client, state, outcome.written)
    except QboError as exc:  # only a saving on the next run's reads: never fail the run for it
        log.info("could not confirm this run's own customer writes: %s", exc.message)
    failed = {f.member_id: str(f) for f in outcome.failed}
    rows = []
    for row in prepared.plan.roster():
        if row.member_id in failed:
            row = replace(row, status="failed", detail=failed[row.member_id])
        elif row.status == "pending_create":
            row = replace(row, status="linked", detail=None)
        rows.append(row)
    state.members.save_roster(rows, now=now())
    return ConnectResult(prepared, outcome)
