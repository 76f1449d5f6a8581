"""`qbsync invoices`: every platform invoice qbsync knows, in its one state (sync/ledger.py);
`qbsync invoices ID`: one invoice's whole history. Reads the source and the state; never QBO."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, json_option
from qbsync.sync.vocabulary import INVOICE_STATES

if TYPE_CHECKING:
    from qbsync.state.exports import ExportRecord
    from qbsync.state.runs import RecordOutcome
    from qbsync.sync.ledger import Ledger, LedgerEntry

# Piped: every field, tab-separated, one invoice a line (grep, awk, a spreadsheet).
FIELDS = ("invoice_id", "number", "member_id", "state", "customer_id", "qbo_id", "doc_number",
          "txn_date", "platform_total", "qbo_total", "difference", "reason", "fix",
          "qbo_state", "qbo_balance")  # fmt: skip
WIDTH = 80


@command("invoices")
@click.argument("invoice", required=False)
@click.option(
    "--status",
    "states",
    multiple=True,
    type=click.Choice(INVOICE_STATES),
    help="Only invoices in this state (repeat for several).",
)
@click.option("--problems", is_flag=True, help="Only invoices that need you; exit 5 if any.")
@click.option("--member", metavar="MEMBER", help="Only this member's invoices (member id).")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only invoices created (else sent) on or after this date (YYYY-MM-DD).",
)
@json_option
def invoices(
    invoice: str | None,
    states: tuple[str, ...],
    problems: bool,
    member: str | None,
    since: datetime | None,
    as_json: bool,
) -> None:
    """List every platform invoice qbsync knows with its state, QBO invoice and totals.

    States: waiting, in-flight, exported, failed, refused, blocked, held, not-eligible,
    changed (docs/export.md). Each invoice that needs you says why and the fix. Reads the
    source and the state, never QBO. When the source cannot be read, what the state holds is
    listed and that is said on stderr. --problems exits 5 when anything needs you (an
    unreadable source too), so a script can use it as a check. With INVOICE (its platform id):
    its whole history (runs, attempts, QBO's answers, Intuit transaction ids).
    """
    from qbsync.cli import render
    from qbsync.sync.figures import load_ledger, read_source

    obj = CliContext.get()
    with open_session(obj, qbo=False) as session:
        assert session.state is not None
        read = read_source(session.config, remote=True)
        ledger = load_ledger(
            session.state,
            session.config,
            source_invoices=read.invoices,
            known_members=read.member_ids,
            source_problem=read.problem,
        )
        if read.problem:
            render.warn(
                f"the source could not be read ({read.problem}); listing what the state holds"
            )
        if invoice is not None:
            _one(obj, session.state, ledger, invoice, as_json=as_json)
            return
    entries = _select(ledger, states, problems, member, since.date() if since else None)
    if as_json:
        # A list of invoice objects, as the operator's-view issue specifies (for jq and
        # spreadsheets: the same fields as `report --csv`); counts and problems are in
        # `status --json`, and an unreadable source is said on stderr above.
        render.emit_json([e.to_dict() for e in entries])
        obj.json_printed = True
    elif not obj.quiet or problems:
        _table(entries)
    if problems and (entries or read.problem):
        from qbsync.errors import RecordsFailedError

        raise RecordsFailedError(
            f"{len(entries)} invoice(s) need you"
            + ("; the source could not be read" if read.problem else ""),
            hint="each line says why and the fix",
        )


def _select(
    ledger: Ledger, states: tuple[str, ...], problems: bool, member: str | None, since: date | None
) -> list[LedgerEntry]:
    out = []
    for entry in ledger.entries:
        if states and entry.state not in states:
            continue
        if problems and not entry.is_problem:
            continue
        if member is not None and entry.member_id != member:
            continue
        if since is not None and not _on_or_after(entry, since):
            continue
        out.append(entry)
    return out


def _on_or_after(entry: LedgerEntry, since: date) -> bool:
    if entry.created_at is not None:
        return entry.created_at.date() >= since
    return bool(entry.txn_date) and str(entry.txn_date) >= since.isoformat()


def _cell(entry: LedgerEntry, name: str) -> str:
    value = entry.to_dict()[name]
    return "" if value is None else str(value)


def elide(text: str, width: int) -> str:
    """``text`` in ``width`` characters: cut with an ellipsis when longer (never wrapped)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _table(entries: list[LedgerEntry]) -> None:
    from qbsync.cli import render
    from qbsync.sync.ledger_qbo import NOT_PULLED

    console = render.stdout_console()
    if not entries:
        render.result("No invoices.")
        return
    if not console.is_terminal:
        lines = ["\t".join(FIELDS)]
        lines += ["\t".join(_cell(e, f).replace("\t", " ") for f in FIELDS) for e in entries]
        from qbsync.redact import redact

        click.echo(redact("\n".join(lines)))
        return
    # A terminal: 80 columns. The figures; QBO's side and the reason; the fix, when one is needed.
    cols = (("invoice", 10), ("number", 8), ("member", 8), ("state", 12), ("TxnDate", 10),
            ("platform", 9), ("QBO", 9), ("diff", 7))  # fmt: skip
    head = " ".join(f"{name:<{w}}" for name, w in cols)
    out = [head.rstrip(), "-" * len(head)]
    for e in entries:
        values = (e.invoice_id, e.number, e.member_id, e.state, _cell(e, "txn_date"),
                  _cell(e, "platform_total"), _cell(e, "qbo_total"), _cell(e, "difference"))  # fmt: skip
        out.append(
            " ".join(f"{elide(v, w):<{w}}" for v, (_, w) in zip(values, cols, strict=True)).rstrip()
        )
        qbo = f"QBO {e.qbo_id}/{e.doc_number or '-'}" if e.qbo_id else ""
        if e.qbo_state in (NOT_PULLED, "deleted"):
            qbo += f" ({e.qbo_state})"
        elif e.qbo_state is not None:  # as `qbsync pull` last recorded it
            qbo += f" ({e.qbo_state}, balance {_cell(e, 'qbo_balance') or '-'})"
        customer = f"customer {e.customer_id}" if e.customer_id else ""
        detail = " · ".join(p for p in (customer, qbo, e.reason) if p)
        if len(detail) > WIDTH - 2 and (customer or qbo) and e.reason:
            # Too long for one line: the reason gets a line of its own rather than being cut.
            out.append("  " + elide(" · ".join(p for p in (customer, qbo) if p), WIDTH - 2))
            detail = e.reason
        out.append("  " + elide(detail, WIDTH - 2))
        if e.fix:
            out.append("  fix: " + elide(e.fix, WIDTH - 7))
    render.result("\n".join(out))


def _one(obj: CliContext, state: Any, ledger: Ledger, invoice_id: str, *, as_json: bool) -> None:
    from qbsync.cli import render
    from qbsync.errors import UsageError

    entry = ledger.get(invoice_id)
    record: ExportRecord | None = state.exports.get(invoice_id)
    history: list[RecordOutcome] = state.runs.history("invoice", invoice_id)
    if entry is None and not history:
        raise UsageError(
            f"invoice {invoice_id} is not known: neither the source nor the state lists it",
            hint="qbsync invoices lists the ids",
        )
    attempt = None
    if record is not None:
        attempt = {
            "attempted_at": record.attempted_at.isoformat() if record.attempted_at else None,
            "request_id": record.request_id,
            "bid": record.bid,
            "marker": record.marker,
            "error_code": record.error_code,
            "error_message": record.error_message,
        }
    runs = [
        {"run_id": h.run_id, "at": h.at.isoformat(), "outcome": h.outcome, "detail": h.detail,
         "intuit_tid": h.intuit_tid}
        for h in history
    ]  # fmt: skip
    if as_json:
        render.emit_json(
            {"ok": True, "invoice": entry.to_dict() if entry else None, "last_attempt": attempt,
             "history": runs}
        )  # fmt: skip
        obj.json_printed = True
        return
    rows: list[tuple[str, str]] = []
    if entry is not None:
        rows += [(f.replace("_", " "), _cell(entry, f) or "-") for f in FIELDS]
        if entry.held_reason:
            rows.append(("held", entry.held_reason))
    if attempt is not None:
        rows += [
            ("last attempt", attempt["attempted_at"] or "-"),
            ("requestid / bId", f"{attempt['request_id'] or '-'} / {attempt['bid'] or '-'}"),
        ]
    render.key_values(f"Invoice {invoice_id}", rows)
    if runs:
        # One line a run record; on a terminal the detail is cut to fit 80 columns.
        terminal = render.stdout_console().is_terminal
        lines = ["History"]
        for r in runs:
            head = f"run {r['run_id']}  {str(r['at'])[:19]}  {r['outcome']}"
            tid = f"  Intuit tid {r['intuit_tid']}" if r["intuit_tid"] else ""
            detail = str(r["detail"] or "")
            if terminal:
                detail = elide(detail, max(WIDTH - len(head) - len(tid) - 4, 10))
            lines.append(f"  {head}  {detail}{tid}".rstrip())
        render.result("\n".join(lines))


def register(group: click.Group) -> None:
    group.add_command(invoices)
