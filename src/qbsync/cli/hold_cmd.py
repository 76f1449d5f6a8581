"""`qbsync hold INVOICE... --reason TEXT` and `qbsync release INVOICE...` (sync/holds.py)."""

from __future__ import annotations

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, json_option


@command("hold")
@click.argument("invoices", nargs=-1, required=True, metavar="INVOICE...")
@click.option("--reason", required=True, metavar="TEXT", help="Why (shown by `invoices`).")
@json_option
def hold(invoices: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Set platform invoices aside: never exported until `qbsync release`, and not a problem.

    INVOICE is the platform's invoice id. An invoice already exported (or sent) cannot be held.
    An id the source does not list is held anyway (it may appear later), and said.
    `qbsync invoices --status held` lists what is held.
    """
    from qbsync.cli import render
    from qbsync.errors import UsageError
    from qbsync.sync.figures import read_source
    from qbsync.sync.holds import hold_invoices

    text = reason.strip()
    if not text:
        raise UsageError("--reason is empty", hint="say why, e.g. --reason 'disputed by member'")
    obj = CliContext.get()
    with open_session(obj, qbo=False, run_lock=True) as session:
        assert session.state is not None
        read = read_source(session.config, remote=True)
        known = None if read.invoices is None else {i.id for i in read.invoices}
        plan = hold_invoices(session.state, list(invoices), text, known=known)
    if as_json:
        render.emit_json(
            {
                "ok": not plan.refused,
                "held": plan.to_hold,
                "refused": plan.refused,
                "unknown": plan.unknown,
                "source_problem": read.problem,
            }
        )
        obj.json_printed = True
    else:
        if plan.to_hold and not obj.quiet:
            render.result(f"Held {len(plan.to_hold)} invoice(s): {', '.join(plan.to_hold)}")
        for invoice_id in plan.unknown:
            render.warn(f"invoice {invoice_id} is not in the source (yet); held anyway")
        if read.problem:
            render.warn(f"the source could not be read ({read.problem}); ids not checked")
    if plan.refused:
        lines = "; ".join(f"invoice {i}: {why}" for i, why in plan.refused.items())
        raise UsageError(f"not held: {lines}")


@command("release")
@click.argument("invoices", nargs=-1, required=True, metavar="INVOICE...")
@json_option
def release(invoices: tuple[str, ...], as_json: bool) -> None:
    """Take back held invoices: the next export day sends them (if still eligible)."""
    from qbsync.cli import render
    from qbsync.sync.holds import release_invoices

    obj = CliContext.get()
    with open_session(obj, qbo=False, run_lock=True) as session:
        assert session.state is not None
        released, not_held = release_invoices(session.state, list(invoices))
    if as_json:
        render.emit_json({"ok": True, "released": released, "not_held": not_held})
        obj.json_printed = True
        return
    if released and not obj.quiet:
        render.result(f"Released {len(released)} invoice(s): {', '.join(released)}")
    for invoice_id in not_held:
        render.warn(f"invoice {invoice_id} was not held")


def register(group: click.Group) -> None:
    group.add_command(hold)
    group.add_command(release)
