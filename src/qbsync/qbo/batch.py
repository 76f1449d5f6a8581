"""Batch requests: the items, checking them before sending, and reading QBO's answer by ``bId``.

A batch is not a transaction (qbo-facts.md "Batch"): each item answers on its own, with its
entity or a ``Fault``. Answers are matched to items by ``bId``, never by position. Three outcomes
per item, each a ``BatchAnswer``:

- done: ``entity`` is the object QBO holds now, ``error`` is None;
- refused: ``error`` is the same qbsync error a single request with that fault gets (faults.py),
  QBO's code kept (6240, 5010, 610...);
- unclear: QBO's answer left the item out, or answered it with neither an object nor a fault, or
  with a server fault: ``error`` is a ``QboUnclearOutcomeError``. The item may or may not have
  been done: look in QBO before sending it again.

A failure of the whole request (timeout, dropped connection, 5xx after the retries) raises
``QboUnclearOutcomeError`` from ``QboClient.batch``: none, some or all items may have been done.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qbsync.errors import (
    QboError,
    QboInvalidRequestError,
    QboUnavailableError,
    QboUnclearOutcomeError,
    QbsyncError,
)
from qbsync.qbo.faults import batch_item_error

log = logging.getLogger(__name__)

BATCH_MAX_ITEMS = 30  # QBO refuses more (code 1040); callers may send fewer (Intuit's page says 10)
BATCH_REQUEST_ID_MAX = 36
BID_MAX = 10
OPERATIONS = ("create", "update")


@dataclass(frozen=True)
class BatchItem:
    """One operation of a batch: ``{"bId": bid, "operation": operation, entity: body}``."""

    bid: str
    operation: str  # "create" | "update"
    entity: str  # "Customer", "Invoice"...
    body: Mapping[str, Any]


@dataclass(frozen=True)
class BatchAnswer:
    """QBO's answer to one item: exactly one of ``entity`` and ``error`` is set."""

    bid: str
    entity: dict[str, Any] | None
    error: QbsyncError | None

    def __post_init__(self) -> None:
        if (self.entity is None) == (self.error is None):
            raise ValueError("a BatchAnswer holds an entity or an error, exactly one")

    @property
    def unclear(self) -> bool:
        """True when the item may or may not have been done."""
        return isinstance(self.error, QboUnclearOutcomeError)


def request_body(items: Sequence[BatchItem], request_id: str) -> dict[str, Any]:
    """The batch request body; refuses (before anything is sent) what QBO would refuse."""
    if isinstance(items, BatchItem) or not 0 < len(items) <= BATCH_MAX_ITEMS:
        count = 1 if isinstance(items, BatchItem) else len(items)
        raise QboInvalidRequestError(
            f"a batch holds 1 to {BATCH_MAX_ITEMS} items (a list of BatchItem), not {count}"
        )
    if not isinstance(request_id, str) or not 0 < len(request_id) <= BATCH_REQUEST_ID_MAX:
        raise QboInvalidRequestError(
            f"a batch requestid must be 1 to {BATCH_REQUEST_ID_MAX} characters"
        )
    seen: set[str] = set()
    body: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, BatchItem):
            raise QboInvalidRequestError(f"batch items are BatchItem, not {type(item).__name__}")
        if not item.bid or len(item.bid) > BID_MAX:
            # QBO: with a requestid, each bId is at most 10 characters (qbo-facts.md)
            raise QboInvalidRequestError(
                f"batch item id {item.bid!r} is empty or longer than {BID_MAX} characters"
            )
        if item.bid in seen:
            raise QboInvalidRequestError(f"batch item id {item.bid!r} is used twice")
        seen.add(item.bid)
        if item.operation not in OPERATIONS:
            raise QboInvalidRequestError(
                f"batch item {item.bid}: operation {item.operation!r} is not one of {OPERATIONS}"
            )
        if not item.entity.isalpha():
            raise QboInvalidRequestError(f"batch item {item.bid}: bad entity {item.entity!r}")
        if item.operation == "update" and (
            not item.body.get("Id") or item.body.get("SyncToken") is None
        ):
            raise QboInvalidRequestError(f"batch item {item.bid}: an update needs Id and SyncToken")
        body.append({"bId": item.bid, "operation": item.operation, item.entity: dict(item.body)})
    return {"BatchItemRequest": body}


def read_answers(
    items: Sequence[BatchItem], response: Mapping[str, Any], *, after_unclear: bool = False
) -> dict[str, BatchAnswer]:
    """QBO's ``BatchItemResponse`` -> one BatchAnswer per item sent, keyed by bId.

    ``after_unclear``: an earlier attempt of this request may have done the work (a lost answer,
    a 5xx), so an item refused now may have been done then (a 6240 caused by our own first try,
    or QBO's 6000 on a replayed requestid): its error is made unclear, code kept.
    """
    sent = {item.bid: item for item in items}
    raw = response.get("BatchItemResponse")
    if not isinstance(raw, list):
        raise QboUnclearOutcomeError(
            "QBO answered a batch without BatchItemResponse; its items may or may not have been done"
        )
    answers: dict[str, BatchAnswer] = {}
    for entry in raw:
        bid = entry.get("bId") if isinstance(entry, Mapping) else None
        if not isinstance(bid, str) or bid not in sent:
            log.warning("QBO's batch answer names an item that was not sent (bId %r); ignored", bid)
            continue
        if bid in answers:
            log.warning("QBO's batch answer names item %s twice; the first answer is kept", bid)
            continue
        answers[bid] = _answer(sent[bid], entry, after_unclear)
    for bid, item in sent.items():
        if bid not in answers:
            answers[bid] = BatchAnswer(
                bid,
                None,
                QboUnclearOutcomeError(
                    f"QBO's batch answer left out item {bid} ({item.operation} {item.entity}):"
                    " it may or may not have been done"
                ),
            )
    return {item.bid: answers[item.bid] for item in items}  # in the order sent


def _answer(item: BatchItem, entry: Mapping[str, Any], after_unclear: bool) -> BatchAnswer:
    error = batch_item_error(entry)
    if error is not None:
        if isinstance(error, QboUnavailableError) or (
            after_unclear and isinstance(error, QboError)
        ):
            error = as_unclear(error)  # a server fault on this item, or maybe done before
        return BatchAnswer(item.bid, None, error)
    entity = next(
        (v for k, v in entry.items() if k.lower() == item.entity.lower() and isinstance(v, dict)),
        None,
    )
    if entity is None:
        return BatchAnswer(
            item.bid,
            None,
            QboUnclearOutcomeError(
                f"QBO answered batch item {item.bid} with neither a {item.entity} nor a fault:"
                " it may or may not have been done"
            ),
        )
    return BatchAnswer(item.bid, entity, None)


def as_unclear(error: QboError) -> QboUnclearOutcomeError:
    """The same failure, said to leave a write's outcome unclear (code, status, detail kept)."""
    if isinstance(error, QboUnclearOutcomeError):
        return error
    unclear = QboUnclearOutcomeError(
        f"{error.message}; QBO may or may not have done it",
        code=error.code,
        status=error.status,
        detail=error.detail,
        element=error.element,
        intuit_tid=error.intuit_tid,
    )
    unclear.__cause__ = error
    return unclear
