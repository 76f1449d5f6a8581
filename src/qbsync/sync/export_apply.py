"""Invoice export, applied: settle what an earlier run left in flight, then send in batches.

Exactly once: each invoice of a batch is recorded ``exporting`` (bId, the batch's requestid)
before the batch is sent, and settled as ``exported`` or ``failed`` as each answer lands. An
``exporting`` row found later (a crash, a kill, a lost response) is looked up in QBO (by DocNumber
where one was sent, else by customer and date) and matched by the PrivateNote marker before
anything is sent again; requestid alone is not trusted (qbo-facts.md "Idempotency").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from qbsync.errors import QboError, QboUnclearOutcomeError, QbsyncError
from qbsync.qbo.batch import BatchAnswer, BatchItem
from qbsync.qbo.query import quote
from qbsync.qbo.requestids import attempt_key, bids_for, request_id
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.sync.invoice_map import Mapped

log = logging.getLogger(__name__)

GRACE_ENV = "QBSYNC_SETTLE_GRACE_SECONDS"
# An invoice sent this recently and not (yet) visible in QBO is left in flight rather than sent
# again: QBO may still be working on the killed run's request (its request timeout is 120 s).
DEFAULT_GRACE = timedelta(seconds=150)
Progress = Callable[[int, str], None]


class InvoiceWriter(Protocol):
    def batch(self, items: Sequence[BatchItem], request_id: str) -> dict[str, BatchAnswer]: ...
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


def settle_grace() -> timedelta:
    raw = os.environ.get(GRACE_ENV, "").strip()
    try:
        return timedelta(seconds=float(raw)) if raw else DEFAULT_GRACE
    except ValueError:
        return DEFAULT_GRACE


def _total(obj: Mapping[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(obj["TotalAmt"])) if obj.get("TotalAmt") is not None else None
    except InvalidOperation:
        return None


def carries_marker(note: str, marker: str) -> bool:
    """The memo is the marker, or starts with it and then something a person added (a space, a
    newline, punctuation): never another invoice's (``qbsync:A #1`` is not ``qbsync:A #12`` nor
    ``qbsync:A #1 #5``)."""
    note = note.strip()
    if not note.startswith(marker):
        return False
    rest = note[len(marker) :]
    return not rest or (
        not rest[0].isalnum() and not rest.startswith(" #") and rest[0] not in "-_."
    )


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
                qbo_total=_total(found),
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
        bids[item.mapped.invoice_id]: ExportRecord(
            invoice_id=item.mapped.invoice_id,
            member_id=item.member_id,
            customer_id=item.customer_id,
            state="exporting",
            number=item.number,
            doc_number=item.mapped.doc_number,
            txn_date=str(item.mapped.body["TxnDate"]),
            marker=item.mapped.marker,
            request_id=rid,
            bid=bids[item.mapped.invoice_id],
            source_total=item.mapped.total,
            fingerprint=item.fingerprint,
            run_id=run_id,
            platform_total=item.mapped.platform_total,
        )
        for item in chunk
    }
    state.exports.mark_exporting(records.values(), now=now())
    items = [
        BatchItem(bids[i.mapped.invoice_id], "create", "Invoice", i.mapped.body) for i in chunk
    ]
    try:
        answers = client.batch(items, rid)
    except QboUnclearOutcomeError as exc:
        log.warning("a batch of %d invoices had no clear answer: %s", len(items), exc.message)
        answers = {}
    except QboError as exc:  # refused as a whole (e.g. 400, auth): nothing was created
        for record in records.values():
            state.exports.mark_failed(record.invoice_id, code=exc.code, message=exc.message)
            outcome.failed.append(_with_error(record, exc))
        _record_run(
            state, run_id, [(r.invoice_id, "failed", exc.message) for r in records.values()]
        )
        return
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


def _exported(
    state: State, record: ExportRecord, obj: Mapping[str, Any], at: datetime
) -> ExportRecord:
    total = _total(obj)
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
