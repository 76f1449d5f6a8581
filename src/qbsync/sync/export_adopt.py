"""Invoices QBO already holds that the state does not know (a restored backup, a state file
copied without its ``-wal``): found by their marker before a run sends them again."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from qbsync.qbo.query import quote
from qbsync.state.db import State
from qbsync.sync.customers import qbo_time
from qbsync.sync.export_apply import InvoiceWriter, ToSend, carries_marker, record_of, total_of
from qbsync.sync.invoice_map import MARKER_END

log = logging.getLogger(__name__)

# Local clock (the state's times) against QBO's (MetaData.CreateTime): read a little more.
SKEW = timedelta(minutes=5)


def old_marker(item: ToSend) -> str:
    """The marker versions before the ``;`` end wrote for this invoice."""
    return f"qbsync:{item.mapped.invoice_id} #{item.number}"


def marker_keys(note: str) -> tuple[str, str]:
    """What a memo's marker is, read both ways: up to its first ``;`` (this version's markers),
    and its first line (older versions': the memo was the marker, a person may add lines)."""
    note = note.strip()
    end = note.find(MARKER_END)
    return (note[: end + 1] if end >= 0 else "", note.splitlines()[0] if note else "")


def adopt_from_qbo(
    client: InvoiceWriter,
    state: State,
    to_send: Sequence[ToSend],
    *,
    since: datetime,
    now: datetime | None = None,
) -> tuple[list[ToSend], list[str]]:
    """Invoices about to be sent that QBO already holds, though the state does not know it (a
    restored backup, a state file copied without its ``-wal``): recorded ``exported`` instead.

    One query, paged: every invoice QBO created since ``since`` (the state's last recorded
    export or attempt, less SKEW for the two clocks), matched by its marker. Answers the
    invoices still to send and the ids adopted.
    """
    if not to_send:
        return list(to_send), []
    wanted: dict[str, ToSend] = {}
    for item in to_send:
        wanted[item.mapped.marker] = item
        wanted.setdefault(old_marker(item), item)
    start = qbo_time(since - SKEW)
    sql = f"select * from Invoice where MetaData.CreateTime >= {quote(start)}"  # noqa: S608
    found: dict[str, dict[str, Any]] = {}
    for invoice in client.query(sql):
        for key in marker_keys(str(invoice.get("PrivateNote") or "")):
            match = wanted.get(key)
            if match is not None and carries_marker(str(invoice.get("PrivateNote")), key):
                found.setdefault(match.mapped.invoice_id, invoice)  # the oldest (Id order)
    if not found:
        return list(to_send), []
    moment = now or datetime.now(UTC)
    log.warning(
        "the state was behind QBO (a restored backup, or a state file copied without its -wal?):"
        " %d invoice(s) about to be sent were already in QBO and are recorded as exported: %s",
        len(found),
        ", ".join(sorted(found)[:10]) + (", ..." if len(found) > 10 else ""),
    )
    adopt = [i for i in to_send if i.mapped.invoice_id in found]
    with state.transaction():
        state.exports.mark_exporting(
            [record_of(i, request_id=None, bid=None, run_id=None) for i in adopt], now=moment
        )
        for item in adopt:
            obj = found[item.mapped.invoice_id]
            state.exports.mark_exported(
                item.mapped.invoice_id,
                qbo_id=str(obj["Id"]),
                doc_number=obj.get("DocNumber"),
                qbo_total=total_of(obj),
                now=moment,
            )
    return [i for i in to_send if i.mapped.invoice_id not in found], sorted(found)
