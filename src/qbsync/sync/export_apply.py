"""Invoice export, applied: settle what an earlier run left in flight, then send in batches.

Exactly once: each invoice of a batch is recorded ``exporting`` (bId, the batch's requestid)
before the batch is sent, its ``attempted_at`` stamped again before each retry goes out, and
settled as each answer lands: ``exported``, or ``failed`` only when QBO clearly refused it (an
item Fault, or a 4xx other than 401/408/429 to the first attempt). Anything else once the batch
left this machine (no answer, 5xx, an unreadable 200, a failed token refresh between retries) is
unclear: the row stays ``exporting``. An ``exporting`` row is looked up in QBO (by DocNumber where
one was sent, else by customer and date) and matched by the PrivateNote marker before anything is
sent again; requestid alone is not trusted (qbo-facts.md "Idempotency").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from qbsync.errors import QboError, QboUnavailableError, QbsyncError
from qbsync.qbo.batch import BatchAnswer, BatchItem
from qbsync.qbo.query import quote
from qbsync.qbo.requestids import attempt_key, bids_for, request_id
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.sync.invoice_map import MARKER_END, Mapped

log = logging.getLogger(__name__)

GRACE_ENV = "QBSYNC_SETTLE_GRACE_SECONDS"
# An invoice whose last attempt was sent this recently and is not (yet) visible in QBO is left in
# flight rather than sent again: QBO may still be working on that request (its request timeout is
# 120 s, qbo-facts.md "Limits"), so the grace is never shorter than that against Intuit.
DEFAULT_GRACE = timedelta(seconds=150)
MIN_GRACE = timedelta(seconds=120)
# Statuses that are not a refusal of the request itself: 401 is retried after a refresh, 408 and
# 429 say QBO did not get to it (or may still), so after one of them the outcome is unclear.
_NOT_A_REFUSAL = (401, 408, 429)
Progress = Callable[[int, str], None]


class InvoiceWriter(Protocol):
    def batch(
        self,
        items: Sequence[BatchItem],
        request_id: str,
        *,
        on_attempt: Callable[[], None] | None = None,
    ) -> dict[str, BatchAnswer]: ...
    def query(self, sql: str, *, page_size: int = 1000) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class ToSend:
    mapped: Mapped
    member_id: str
    customer_id: str
    number: str
    fingerprint: str


@dataclass
class ExportOutcome:
    exported: list[ExportRecord] = field(default_factory=list)
    failed: list[ExportRecord] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)  # unclear, left for the next run
    settled: list[str] = field(default_factory=list)  # earlier runs' in-flight, found in QBO
    resend: list[str] = field(default_factory=list)  # earlier runs' in-flight, not in QBO
    adopted: list[str] = field(default_factory=list)  # found in QBO, unknown to a stale state


def settle_grace(*, emulator: bool = False) -> timedelta:
    """How long after its last attempt an unfound invoice waits before it is sent again.

    ``QBSYNC_SETTLE_GRACE_SECONDS`` can lengthen it; against Intuit it is never under QBO's 120 s
    request timeout. Against the emulator (``emulator``: tests, the demo) the value is taken as
    given: its requests end when the test says, and the tests use 0 to resend at once.
    """
    raw = os.environ.get(GRACE_ENV, "").strip()
    try:
        grace = timedelta(seconds=float(raw)) if raw else DEFAULT_GRACE
    except (ValueError, OverflowError):
        grace = DEFAULT_GRACE
    if grace < MIN_GRACE and not emulator:
        log.warning("%s=%s is under QBO's 120 s request timeout; 120 s is used", GRACE_ENV, raw)
        return MIN_GRACE
    return grace


def total_of(obj: Mapping[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(obj["TotalAmt"])) if obj.get("TotalAmt") is not None else None
    except InvalidOperation:
        return None


def carries_marker(note: str, marker: str) -> bool:
    """The memo carries exactly this marker (``marker`` as stored for the row), never another
    invoice's.

    Markers of this version end with ``;`` and never hold one inside (invoice_map.marker): the
    memo starts with the marker, whatever a person added after it. Rows sent by older versions
    stored ``qbsync:<id> #<number>`` with no end, which another invoice's old marker can start
    with (``qbsync:A #1`` / ``qbsync:A #1 x #2``): such a memo must be the marker, or the marker
    and a new line (no marker holds one).
    """
    note = note.strip()
    if marker.endswith(MARKER_END):
        return note.startswith(marker)
    return note == marker or (note.startswith(marker) and note[len(marker)] in "\r\n")


def find_in_qbo(client: InvoiceWriter, record: ExportRecord) -> dict[str, Any] | None:
    """The QBO invoice an ``exporting`` record became, if any: by DocNumber when one was sent,
    else by customer and date; always confirmed by the PrivateNote marker."""
    if record.doc_number:
        sql = f"select * from Invoice where DocNumber = {quote(record.doc_number)}"  # noqa: S608 - quote()
    else:
        sql = (
            f"select * from Invoice where CustomerRef = {quote(record.customer_id)} "  # noqa: S608
            f"and TxnDate = {quote(record.txn_date)}"
        )
    for invoice in client.query(sql):
        if carries_marker(str(invoice.get("PrivateNote") or ""), record.marker):
            return invoice
    return None


def settle_in_flight(
    client: InvoiceWriter,
    state: State,
    *,
    now: datetime | None = None,
    grace: timedelta | None = None,
) -> ExportOutcome:
    """Settle every ``exporting`` row before anything is sent: found in QBO -> exported; not
    found and sent long enough ago -> failed (sent again this run); else left in flight."""
    moment = now or datetime.now(UTC)
    wait = settle_grace() if grace is None else grace
    outcome = ExportOutcome()
    for record in state.exports.in_state("exporting"):
        found = find_in_qbo(client, record)
        if found is not None:
            state.exports.mark_exported(
                record.invoice_id,
                qbo_id=str(found["Id"]),
                doc_number=found.get("DocNumber"),
                qbo_total=total_of(found),
                now=moment,
            )
            outcome.settled.append(record.invoice_id)
        elif record.attempted_at is not None and moment - record.attempted_at < wait:
            outcome.in_flight.append(record.invoice_id)
        else:
            state.exports.mark_failed(
                record.invoice_id,
                code=None,
                message="sent by an earlier run that got no answer, and not in QBO: sent again",
            )
            outcome.resend.append(record.invoice_id)
    return outcome


def record_of(
    item: ToSend, *, request_id: str | None, bid: str | None, run_id: int | None
) -> ExportRecord:
    return ExportRecord(
        invoice_id=item.mapped.invoice_id,
        member_id=item.member_id,
        customer_id=item.customer_id,
        state="exporting",
        number=item.number,
        doc_number=item.mapped.doc_number,
        txn_date=str(item.mapped.body["TxnDate"]),
        marker=item.mapped.marker,
        request_id=request_id,
        bid=bid,
        source_total=item.mapped.total,
        fingerprint=item.fingerprint,
        run_id=run_id,
        platform_total=item.mapped.platform_total,
    )


def export_batches(
    to_send: Sequence[ToSend],
    *,
    client: InvoiceWriter,
    state: State,
    batch_size: int,
    run_id: int | None,
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportOutcome:
    outcome = ExportOutcome()
    for start in range(0, len(to_send), batch_size):
        chunk = list(to_send[start : start + batch_size])
        _send(chunk, client, state, run_id, outcome, now)
        if progress is not None:
            progress(len(chunk), "invoices")
    return outcome


def _send(
    chunk: list[ToSend],
    client: InvoiceWriter,
    state: State,
    run_id: int | None,
    outcome: ExportOutcome,
    now: Callable[[], datetime],
) -> None:
    keys = [item.mapped.invoice_id for item in chunk]
    bids = bids_for(keys)
    # The requestid names this attempt (run and moment), not only the invoices: QBO answers a
    # repeated requestid with the first answer, so a retry of a failed invoice with the same one
    # would get the old fault back. Nothing is ever re-sent without looking in QBO first.
    rid = request_id("invoice-create", [*keys, attempt_key(run_id, now())])
    records = {
        bids[item.mapped.invoice_id]: record_of(
            item, request_id=rid, bid=bids[item.mapped.invoice_id], run_id=run_id
        )
        for item in chunk
    }
    state.exports.mark_exporting(records.values(), now=now())
    items = [
        BatchItem(bids[i.mapped.invoice_id], "create", "Invoice", i.mapped.body) for i in chunk
    ]
    sent = 0

    def stamp() -> None:  # before each attempt goes out: the grace counts from the last one
        nonlocal sent
        state.exports.stamp_attempt(keys, now=now())
        sent += 1

    try:
        answers = client.batch(items, rid, on_attempt=stamp)
    except QbsyncError as exc:
        if not sent or clear_refusal(exc):  # never left this machine, or QBO said no to it
            code = getattr(exc, "code", None)
            for record in records.values():
                state.exports.mark_failed(record.invoice_id, code=code, message=exc.message)
                outcome.failed.append(_with_error(record, exc))
            _record_run(
                state, run_id, [(r.invoice_id, "failed", exc.message) for r in records.values()]
            )
            if not isinstance(exc, QboError):
                raise  # not QBO's answer (a token, a bug): the run stops
            return
        log.warning("a batch of %d invoices had no clear answer: %s", len(items), exc.message)
        if not isinstance(exc, QboError):  # e.g. the token refresh between two attempts
            outcome.in_flight.extend(keys)  # left `exporting`: the next run looks first
            _record_run(state, run_id, [(k, "in_flight", exc.message) for k in keys])
            raise
        answers = {}
    rows: list[tuple[str, str, str | None]] = []
    unclear: list[ExportRecord] = []
    with state.transaction():  # one commit for the batch's clear answers (they arrive together)
        for bid_, record in records.items():
            answer = answers.get(bid_)
            if answer is not None and answer.entity is not None:
                done = _exported(state, record, answer.entity, now())
                outcome.exported.append(done)
                rows.append((record.invoice_id, "exported", f"QBO invoice {done.qbo_id}"))
            elif answer is not None and not answer.unclear and answer.error is not None:
                error = answer.error
                code = getattr(error, "code", None)
                state.exports.mark_failed(record.invoice_id, code=code, message=error.message)
                outcome.failed.append(_with_error(record, error))
                rows.append((record.invoice_id, "failed", error.message))
            else:
                unclear.append(record)
        _record_run(state, run_id, rows)
    rows = []
    for record in unclear:  # look now; if not there yet, the next run looks before resending
        try:
            found = find_in_qbo(client, record)
        except QboError:
            found = None
        if found is not None:
            done = _exported(state, record, found, now())
            outcome.exported.append(done)
            rows.append((record.invoice_id, "exported", f"QBO invoice {done.qbo_id}"))
        else:
            outcome.in_flight.append(record.invoice_id)
            rows.append((record.invoice_id, "in_flight", "no clear answer from QBO"))
    _record_run(state, run_id, rows)


def clear_refusal(error: QbsyncError) -> bool:
    """QBO refused the request itself, so nothing of it was done: a 4xx fault other than
    401/408/429, and no earlier attempt of it could have done the work (client.py turns a fault
    after such an attempt into QboUnclearOutcomeError, a QboUnavailableError). Anything else
    after the batch was sent (a 5xx, no answer, an unreadable 200, a token refresh failing
    between attempts) leaves its outcome unclear."""
    if not isinstance(error, QboError) or isinstance(error, QboUnavailableError):
        return False
    status = error.status
    return status is not None and 400 <= status < 500 and status not in _NOT_A_REFUSAL


def _exported(
    state: State, record: ExportRecord, obj: Mapping[str, Any], at: datetime
) -> ExportRecord:
    total = total_of(obj)
    doc = obj.get("DocNumber")
    state.exports.mark_exported(
        record.invoice_id, qbo_id=str(obj["Id"]), doc_number=doc, qbo_total=total, now=at
    )
    r = record  # positional: dataclasses.replace costs ~25 us, ten thousand times an export
    return ExportRecord(
        r.invoice_id, r.member_id, r.customer_id, "exported", r.number, doc, r.txn_date,
        r.marker, r.request_id, r.bid, r.source_total, r.fingerprint, str(obj["Id"]), total,
        None, None, r.attempted_at, at, r.run_id, r.platform_total,
    )  # fmt: skip


def _with_error(record: ExportRecord, error: QbsyncError) -> ExportRecord:
    return replace(
        record, state="failed", error_code=getattr(error, "code", None), error_message=error.message
    )


def _record_run(
    state: State, run_id: int | None, rows: Iterable[tuple[str, str, str | None]]
) -> None:
    rows = list(rows)
    if run_id is not None and rows:
        state.runs.record(run_id, "invoice", rows)
