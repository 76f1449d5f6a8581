"""What `qbsync pull` runs: read what changed in QBO (pull_read), plan states and events
(pull_plan, pure), record them in one transaction, then deliver every undelivered event to the
sink, marking each delivered only after the sink said so (exactly once: docs/pull.md).

Problems (the operator's-view vocabulary, sync/vocabulary.Problem): an exported invoice deleted
or edited in QBO, voided in QBO while the platform still has it pending, an event the platform
refused. Payments are not problems.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbsync.state.db import State
from qbsync.state.pulls import PullEvent
from qbsync.sync.ledger_qbo import QBO_FIX
from qbsync.sync.pull_fields import EVENT_KINDS
from qbsync.sync.pull_plan import Exported, PullPlan, plan_pull
from qbsync.sync.pull_read import PullReader, read_changes
from qbsync.sync.sinks import Sink
from qbsync.sync.vocabulary import Problem

log = logging.getLogger(__name__)
CHUNK = 500  # events per sink call (the csv sink fsyncs once per call)


def own_writes(
    state: State, exported: Mapping[str, Exported]
) -> tuple[frozenset[str], frozenset[str], dict[str, datetime]]:
    """What qbsync itself wrote to QBO after export (state.pushes: the platform's payments,
    voids, `undo`, updates): pull_plan records their effect but never sends them back to the
    platform as events (they came from it). ``exported``: QBO invoice id -> its export."""
    qbo_of = {ex.invoice_id: qbo_id for qbo_id, ex in exported.items()}
    voids: set[str] = set()
    updates: dict[str, datetime] = {}
    for push in state.pushes.all():
        qbo_id = qbo_of.get(push.invoice_id)
        if push.state != "pushed" or qbo_id is None:
            continue
        if push.kind in ("void", "undo"):
            voids.add(qbo_id)
        elif push.kind == "update" and push.done_at is not None:
            updates[qbo_id] = max(push.done_at, updates.get(qbo_id, push.done_at))
    return frozenset(state.pushes.own_payment_ids()), frozenset(voids), updates


@dataclass
class PullOutcome:
    mode: str
    events: list[PullEvent] = field(default_factory=list)  # found by this run
    delivered: int = 0
    refused: list[tuple[PullEvent, str]] = field(default_factory=list)
    waiting: int = 0  # undelivered, left for the next run
    problems: list[Problem] = field(default_factory=list)
    requests: int | None = None
    states: dict[str, str] = field(default_factory=dict)  # invoice id -> QBO state after it

    def summary(self) -> dict[str, Any]:
        kinds = Counter(e.kind for e in self.events)
        return {
            "mode": self.mode,
            "events": {k: kinds[k] for k in EVENT_KINDS if kinds[k]},
            "new_events": len(self.events),
            "delivered": self.delivered,
            "refused": len(self.refused),
            "waiting": self.waiting,
            "problems": [p.to_dict() for p in self.problems],
            "qbo_requests": self.requests,
        }


def exported_invoices(state: State) -> dict[str, Exported]:
    """Only invoices qbsync exported count: exports rows in state exported, by QBO Id."""
    return {
        r.qbo_id: Exported(r.invoice_id, r.number, r.qbo_id, r.qbo_total, r.customer_id)
        for r in state.exports.in_state("exported")
        if r.qbo_id
    }


def run_pull(
    client: PullReader,
    state: State,
    *,
    sink: Callable[[], Sink] | None,
    pending_at_platform: Callable[[], set[str]],
    dry_run: bool,
    run_id: int | None,
) -> PullOutcome:
    """One pull. ``sink`` is opened only when there is something to deliver (None: dry run).
    ``pending_at_platform()``: the platform invoice ids still pending (read only when an
    invoice was voided in QBO)."""
    exported = exported_invoices(state)
    before = getattr(client, "request_count", None)
    if not exported:
        outcome = PullOutcome("nothing-exported")
    else:
        since, pulled_at = state.pulls.watermark()
        recorded = state.pulls.payments(active_only=True)
        first = min((r.txn_date for r in state.exports.in_state("exported")), default=None)
        read = read_changes(
            client,
            since=since,
            pulled_at=pulled_at,
            exported=exported,
            recorded=recorded,
            first_txn_date=first,
        )
        own_payments, own_voids, own_updates = own_writes(state, exported)
        plan = plan_pull(
            read.changes,
            exported,
            state.pulls.invoices(),
            recorded,
            own_payments=own_payments,
            own_voids=own_voids,
            own_updates=own_updates,
        )
        _voided_problems(plan, pending_at_platform)
        known_ids = state.pulls.known_event_ids(e.event_id for e in plan.events)
        fresh = [e for e in plan.events if e.event_id not in known_ids]
        outcome = PullOutcome(read.mode, events=fresh)
        outcome.states = {i.invoice_id: i.state for i in plan.invoices}
        if not dry_run:
            state.pulls.apply(
                invoices=plan.invoices,
                payments=plan.payments,
                events=fresh,
                watermark=read.read_at,
                run_id=run_id,
                sweep_next=read.mode == "cdc+query",
            )
    if isinstance(before, int):
        outcome.requests = int(client.request_count) - before  # type: ignore[attr-defined]
    outcome.problems = [
        Problem(e.problem, _fix(e), kind="invoice", record=e.invoice_id, state=e.kind)
        for e in outcome.events
        if e.problem
    ]
    if not dry_run and sink is not None:
        _deliver(state, sink, outcome)
    if run_id is not None and outcome.events:
        state.runs.record(
            run_id,
            "invoice",
            [(e.invoice_id, e.kind, e.payload.get("detail") or None) for e in outcome.events],
        )
    return outcome


def _fix(event: PullEvent) -> str:
    # The same fixes `invoices`, `status` and `report` give for it (ledger_qbo.QBO_FIX).
    return QBO_FIX.get(
        event.kind, "see the platform's answer; the event is offered again by the next pull"
    )


def _voided_problems(plan: PullPlan, pending_at_platform: Callable[[], set[str]]) -> None:
    voided = [e for e in plan.events if e.kind == "voided"]
    if not voided:
        return
    pending = pending_at_platform()
    for i, event in enumerate(plan.events):
        if event.kind == "voided" and event.invoice_id in pending:
            plan.events[i] = PullEvent(
                event.event_id,
                event.kind,
                event.invoice_id,
                event.qbo_invoice_id,
                event.payload,
                problem=f"invoice {event.invoice_id} (#{event.payload.get('number')}) was voided "
                "in QBO while the platform still has it pending",
            )


def _deliver(state: State, open_sink: Callable[[], Sink], outcome: PullOutcome) -> None:
    pending = state.pulls.pending_events()
    if not pending:
        return
    sink = open_sink()
    try:
        by_id = {e.event_id: e for e in pending}
        for start in range(0, len(pending), CHUNK):
            chunk: Sequence[PullEvent] = pending[start : start + CHUNK]
            answers = sink.deliver([e.payload for e in chunk])
            done = [a.event_id for a in answers if a.outcome == "delivered"]
            state.pulls.mark_delivered(done)
            outcome.delivered += len(done)
            stop = False
            for answer in answers:
                if answer.outcome == "delivered":
                    continue
                state.pulls.mark_failed(answer.event_id, answer.reason or answer.outcome)
                event = by_id[answer.event_id]
                if answer.outcome == "refused":
                    outcome.refused.append((event, answer.reason or ""))
                    outcome.problems.append(
                        Problem(
                            f"the platform refused the {event.kind} event of invoice "
                            f"{event.invoice_id}: {answer.reason}",
                            "fix what the platform says; the next pull offers the event again",
                            kind="invoice",
                            record=event.invoice_id,
                            state="refused",
                        )
                    )
                else:
                    stop = True
            if stop or len(answers) < len(chunk):
                break
    finally:
        sink.close()
    outcome.waiting = len(state.pulls.pending_events())
