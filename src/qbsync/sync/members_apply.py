"""connect-members, applied: links, creates, reactivations and contact updates against QBO.

Every outcome is recorded as it lands, batch by batch. A customer create is first recorded as
pending (with its requestid and bId); a create whose outcome is unclear (timeout, 5xx, a dropped
or lost response, a crash) stays pending and is looked up in QBO by email before it is ever sent
again (``settle_pending_creates``): QBO's requestid replay alone is not trusted
(qbo-facts.md "Idempotency").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from qbsync.config import MembersConfig
from qbsync.errors import QboError, QboStaleObjectError, QboUnclearOutcomeError, QbsyncError
from qbsync.qbo.batch import BatchAnswer, BatchItem
from qbsync.qbo.query import quote
from qbsync.qbo.requestids import attempt_key, bids_for, request_id
from qbsync.sources.records import Member
from qbsync.state.customers import CachedCustomer
from qbsync.state.db import State
from qbsync.state.members import PendingCreate
from qbsync.sync.contacts import contact_snapshot, name_variant, new_customer_body, normalize_email
from qbsync.sync.customers import cached_customer, customers_where
from qbsync.sync.members_plan import CreateAction, MemberPlan, ReactivateAction, UpdateAction

log = logging.getLogger(__name__)

DUPLICATE_NAME = "6240"
Progress = Callable[[int, str], None]  # (records done since the last call, what)


class CustomerWriter(Protocol):
    def batch(self, items: Sequence[BatchItem], request_id: str) -> dict[str, BatchAnswer]: ...
    def query(self, sql: str, *, page_size: int = 1000) -> list[dict[str, Any]]: ...
    def get(self, entity: str, entity_id: str) -> dict[str, Any]: ...
    def update(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Failure:
    member_id: str
    field: str | None
    message: str
    code: str | None = None

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        code = f" [QBO {self.code}]" if self.code else ""
        return f"member {self.member_id}{where}: {self.message}{code}"


@dataclass
class MemberOutcome:
    linked: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    # Customers this run wrote: Id -> the LastUpdatedTime QBO answered (confirm_own_writes).
    written: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "linked": len(self.linked),
            "created": len(self.created),
            "reactivated": len(self.reactivated),
            "updated": len(self.updated),
            "failed": len(self.failed),
        }


class _Recorder:
    """Writes outcomes to the state as each batch lands."""

    def __init__(self, state: State, run_id: int | None, progress: Progress | None) -> None:
        self.state = state
        self.run_id = run_id
        self.progress = progress
        self.outcome = MemberOutcome()

    def done(self, rows: list[tuple[str, str, str | None]], what: str) -> None:
        if self.run_id is not None and rows:
            self.state.runs.record(self.run_id, "member", rows)
        if self.progress is not None and rows:
            self.progress(len(rows), what)

    def fail(
        self, member_id: str, error: QbsyncError | str, *, field: str | None = None
    ) -> tuple[str, str, str | None]:
        if isinstance(error, QbsyncError):
            failure = Failure(member_id, field or _element(error), error.message, _code(error))
        else:
            failure = Failure(member_id, field, error)
        self.outcome.failed.append(failure)
        return (member_id, "failed", str(failure))


def _code(error: QbsyncError | None) -> str | None:
    return getattr(error, "code", None)


def _element(error: QbsyncError) -> str | None:
    return getattr(error, "element", None) or None


def record_link(
    state: State,
    member: Member,
    customer: CachedCustomer,
    how: str,
    at: datetime | None,
    *,
    snapshot: dict[str, str] | None = None,
) -> None:
    """One member's link as it lands: the customer cached, the link, the contact fields pushed
    (the member's, unless given), and no pending create left for it; one transaction."""
    record_links(state, [(member, customer, snapshot)], how, at)


def record_links(
    state: State,
    rows: Sequence[tuple[Member, CachedCustomer, dict[str, str] | None]],
    how: str,
    at: datetime | None,
) -> None:
    """``record_link`` for a whole batch: a few statements, one transaction."""
    if not rows:
        return
    with state.transaction():
        state.customers.upsert(customer for _, customer, _ in rows)
        state.members.link_many(((m.id, c.id, how) for m, c, _ in rows), now=at)
        state.members.set_pushed_many(
            ((m.id, snap or contact_snapshot(m)) for m, _, snap in rows), now=at
        )
        state.members.clear_pending(m.id for m, _, _ in rows)


def find_by_email(client: CustomerWriter, email: str) -> list[dict[str, Any]]:
    """Customers (inactive ones included) whose PrimaryEmailAddr is exactly ``email``."""
    where = f"PrimaryEmailAddr = {quote(email)}"
    return client.query(customers_where(where))


def find_by_name(client: CustomerWriter, name: str) -> list[dict[str, Any]]:
    where = f"DisplayName = {quote(name)}"
    return client.query(customers_where(where))


def settle_pending_creates(
    client: CustomerWriter, state: State, *, now: datetime | None = None
) -> list[str]:
    """Creates left unclear by an earlier run: link the customer QBO made, or forget the create
    (the member is planned again). Member ids linked."""
    linked: list[str] = []
    links, unlinked = state.members.links(), state.members.unlinked()
    for pending in state.members.pending():
        if pending.member_id in unlinked or pending.member_id in links:
            state.members.clear_pending([pending.member_id])  # the operator decided meanwhile
            continue
        found = [c for c in find_by_email(client, pending.email) if c.get("Active", True)]
        if len(found) == 1:
            customer = cached_customer(found[0])
            with state.transaction():
                state.customers.upsert([customer])
                state.members.link(pending.member_id, customer.id, "created", now=now)
                state.members.clear_pending([pending.member_id])
            linked.append(pending.member_id)
            log.info(
                "member %s: the unclear create made customer %s", pending.member_id, customer.id
            )
        else:
            state.members.clear_pending([pending.member_id])
    return linked


def apply_member_plan(
    plan: MemberPlan,
    *,
    client: CustomerWriter,
    state: State,
    config: MembersConfig,
    batch_size: int,
    run_id: int | None = None,
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> MemberOutcome:
    rec = _Recorder(state, run_id, progress)
    if plan.stale_links:
        state.members.drop_links(plan.stale_links)
    if plan.baselines:
        state.members.set_pushed_many(plan.baselines.items(), now=now())
    if plan.links:
        with state.transaction():
            state.members.link_many(
                ((a.member.id, a.customer_id, "auto") for a in plan.links), now=now()
            )
            state.members.set_pushed_many(
                ((a.member.id, contact_snapshot(a.member)) for a in plan.links), now=now()
            )
        rec.outcome.linked.extend(a.member.id for a in plan.links)
        rec.done([(a.member.id, "linked", a.reason) for a in plan.links], "linked")
    for chunk in _chunks(plan.creates, batch_size):
        _create_batch(client, state, chunk, rec, now, retry=True)
    for chunk in _chunks(plan.reactivations, batch_size):
        _reactivate_batch(client, state, chunk, rec, now)
    for chunk in _chunks(plan.updates, batch_size):
        _update_batch(client, state, chunk, rec, now)
    return rec.outcome


def _chunks(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _create_batch(
    client: CustomerWriter,
    state: State,
    actions: list[CreateAction],
    rec: _Recorder,
    now: Callable[[], datetime],
    *,
    retry: bool,
) -> None:
    keys = [f"{a.member.id}\x00{a.display_name}" for a in actions]
    bids = bids_for(keys)
    # This attempt's requestid (a retry after a refusal must not get the old fault replayed);
    # an unclear create is looked up by email before it is ever sent again.
    rid = request_id("customer-create", [*keys, attempt_key(rec.run_id, now())])
    by_bid = {bids[k]: a for k, a in zip(keys, actions, strict=True)}
    items = [BatchItem(b, "create", "Customer", a.body) for b, a in by_bid.items()]
    state.members.add_pending(
        PendingCreate(a.member.id, a.body["PrimaryEmailAddr"]["Address"], rid, b, now())
        for b, a in by_bid.items()
    )
    try:
        answers = client.batch(items, rid)
    except QboUnclearOutcomeError as exc:
        log.warning(
            "a batch of %d customer creates had no clear answer: %s", len(items), exc.message
        )
        answers = {b: BatchAnswer(b, None, exc) for b in by_bid}
    rows: list[tuple[str, str, str | None]] = []
    retries: list[CreateAction] = []
    later: list[tuple[CreateAction, BatchAnswer]] = []  # need a QBO lookup: outside the commit
    made: list[tuple[Member, CachedCustomer, dict[str, str] | None]] = []
    with state.transaction():  # one commit for the batch's clear answers (they arrive together)
        for bid_, action in by_bid.items():
            answer = answers.get(bid_) or BatchAnswer(
                bid_, None, QboUnclearOutcomeError("QBO's batch answer left this create out")
            )
            if answer.entity is not None:
                customer = cached_customer(answer.entity)
                made.append((action.member, customer, action.snapshot))
                rec.outcome.created.append(action.member.id)
                rec.outcome.written[customer.id] = customer.last_updated
                rows.append(
                    (action.member.id, "created", f"customer {customer.id} {customer.display_name}")
                )
            elif answer.unclear or _code(answer.error) == DUPLICATE_NAME:
                later.append((action, answer))
            else:
                assert answer.error is not None
                state.members.clear_pending([action.member.id])  # refused: nothing was created
                rows.append(rec.fail(action.member.id, answer.error))
        record_links(state, made, "created", now())
    for action, answer in later:
        if answer.unclear:
            rows.append(_settle_now(client, state, action, rec, now))
            continue
        state.members.clear_pending([action.member.id])  # QBO refused it: nothing was created
        row = _duplicate_name(client, state, action, rec, now, retries if retry else None)
        if row is not None:
            rows.append(row)
    rec.done(rows, "created")
    if retries:
        _create_batch(client, state, retries, rec, now, retry=False)


def _settle_now(
    client: CustomerWriter,
    state: State,
    action: CreateAction,
    rec: _Recorder,
    now: Callable[[], datetime],
) -> tuple[str, str, str | None]:
    """An unclear create: look for it in QBO at once; when it is not there (yet), keep it
    pending so the next run looks again before sending it."""
    member_id = action.member.id
    try:
        found = find_by_email(client, action.body["PrimaryEmailAddr"]["Address"])
    except QboError:
        found = []
    if len(found) == 1:
        customer = cached_customer(found[0])
        record_link(state, action.member, customer, "created", now())
        rec.outcome.created.append(member_id)
        rec.outcome.written[customer.id] = customer.last_updated
        return (member_id, "created", f"customer {customer.id} (found after an unclear answer)")
    return rec.fail(
        member_id,
        "QBO gave no clear answer to the create and the customer is not in QBO yet; the next "
        "run looks for it again before creating it",
    )


def _duplicate_name(
    client: CustomerWriter,
    state: State,
    action: CreateAction,
    rec: _Recorder,
    now: Callable[[], datetime],
    retries: list[CreateAction] | None,
) -> tuple[str, str, str | None] | None:
    """6240: the name is taken. A customer with that name and the member's email is the
    member's customer; anything else (another customer, a vendor, an employee, a " (deleted)"
    record) gets one retry with a deterministic variant of the name."""
    member = action.member
    email = normalize_email(action.body["PrimaryEmailAddr"]["Address"])
    try:
        holders = [cached_customer(c) for c in find_by_name(client, action.display_name)]
    except QboError:
        holders = []
    mine = [c for c in holders if email in c.emails and c.active]
    if len(mine) == 1:
        record_link(state, member, mine[0], "auto", now())
        rec.outcome.linked.append(member.id)
        return (member.id, "linked", f"customer {mine[0].id} already had the name and the email")
    if retries is None:
        return rec.fail(
            member.id,
            f"the name {action.display_name!r} is taken in QBO (by a customer, vendor or "
            "employee) and so is its variant; set [members] display_name or link by hand",
            field="DisplayName",
        )
    variant = name_variant(action.display_name, member)
    retries.append(CreateAction(member, variant, new_customer_body(member, variant), action.reason))
    return None


def _reactivate_batch(
    client: CustomerWriter,
    state: State,
    actions: list[ReactivateAction],
    rec: _Recorder,
    now: Callable[[], datetime],
) -> None:
    bodies: dict[str, dict[str, Any]] = {}
    for action in actions:
        body = _sparse(state, action.customer_id, {"Active": True})
        if action.restore_name:
            body["DisplayName"] = action.restore_name
        bodies[action.member.id] = body
    results = _send_updates(client, bodies, "customer-reactivate", attempt_key(rec.run_id, now()))
    rows: list[tuple[str, str, str | None]] = []
    for action in actions:
        member_id = action.member.id
        result = results[member_id]
        if isinstance(result, QbsyncError) and _code(result) == DUPLICATE_NAME:
            retry = {k: v for k, v in bodies[member_id].items() if k != "DisplayName"}
            result = _send_updates(
                client, {member_id: retry}, "customer-reactivate", attempt_key(rec.run_id, now())
            )[member_id]
        if isinstance(result, QbsyncError):
            rows.append(rec.fail(member_id, result))
            continue
        customer = cached_customer(result)
        record_link(state, action.member, customer, "auto", now())
        rec.outcome.reactivated.append(member_id)
        rec.outcome.written[customer.id] = customer.last_updated
        rows.append((member_id, "reactivated", f"customer {customer.id} {customer.display_name}"))
    rec.done(rows, "reactivated")


def _update_batch(
    client: CustomerWriter,
    state: State,
    actions: list[UpdateAction],
    rec: _Recorder,
    now: Callable[[], datetime],
) -> None:
    bodies: dict[str, dict[str, Any]] = {}
    for action in actions:
        bodies[action.member.id] = _sparse(state, action.customer_id, action.fields)
    results = _send_updates(client, bodies, "customer-update", attempt_key(rec.run_id, now()))
    rows: list[tuple[str, str, str | None]] = []
    for action in actions:
        member_id = action.member.id
        result = results[member_id]
        if isinstance(result, QboStaleObjectError):  # 5010: edited in QBO meanwhile; once more
            try:
                fresh = client.get("Customer", action.customer_id)
                body = {**bodies[member_id], "SyncToken": str(fresh.get("SyncToken", "0"))}
                result = _send_updates(
                    client, {member_id: body}, "customer-update", attempt_key(rec.run_id, now())
                )[member_id]
            except QbsyncError as exc:
                result = exc
        if isinstance(result, QbsyncError):
            rows.append(rec.fail(member_id, result))
            continue
        customer = cached_customer(result)
        with state.transaction():
            state.customers.upsert([customer])
            state.members.set_pushed(member_id, action.snapshot, now=now())
        rec.outcome.updated.append(member_id)
        rec.outcome.written[customer.id] = customer.last_updated
        rows.append((member_id, "updated", ", ".join(action.changed)))
    rec.done(rows, "updated")


def _sparse(state: State, customer_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A sparse Customer update of ``fields`` with the SyncToken the cache last saw."""
    cached = state.customers.get(customer_id)
    return {
        "Id": customer_id,
        "SyncToken": cached.sync_token if cached else "0",
        "sparse": True,
        **fields,
    }


def _send_updates(
    client: CustomerWriter, bodies: Mapping[str, dict[str, Any]], kind: str, attempt: str
) -> dict[str, dict[str, Any] | QbsyncError]:
    """Sparse Customer updates in one batch; per member the customer QBO holds now, or the error.
    An update is safe to send again (same fields, same SyncToken), so an unclear one is an error
    to report, and the next run pushes it again."""
    # The keys name the content: a later update of the same customer is a new operation.
    keys = [f"{m}\x00{json.dumps(b, sort_keys=True, default=str)}" for m, b in bodies.items()]
    bids = bids_for(keys)
    member_of = {bids[k]: m for k, m in zip(keys, bodies, strict=True)}
    items = [BatchItem(b, "update", "Customer", bodies[m]) for b, m in member_of.items()]
    try:
        answers = client.batch(items, request_id(kind, [*keys, attempt]))
    except QboError as exc:
        return {m: exc for m in bodies}
    out: dict[str, dict[str, Any] | QbsyncError] = {}
    for bid_, member_id in member_of.items():
        answer = answers.get(bid_)
        if answer is None:
            out[member_id] = QboUnclearOutcomeError("QBO's batch answer left this update out")
        elif answer.entity is not None:
            out[member_id] = answer.entity
        else:
            assert answer.error is not None
            out[member_id] = answer.error
    return out
