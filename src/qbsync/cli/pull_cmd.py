"""`qbsync pull`: what happened in QBO to the exported invoices comes back to the platform.
The engine is qbsync.sync.pull_run (docs/pull.md)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, dry_run_option, json_option, quiet_option

if TYPE_CHECKING:
    from qbsync.sync.pull_run import PullOutcome

log = logging.getLogger("qbsync.pull")
SHOWN = 20


@command("pull")
@quiet_option
@dry_run_option
@json_option
def pull(dry_run: bool, as_json: bool) -> None:
    """Read what changed in QBO since the last pull and tell the platform.

    One CDC call reads the payments, voids, deletions and edits of exported invoices (QBO's
    change data capture; a last pull older than 30 days reads the exported invoices by Id).
    Each change becomes an event (payment, payment-removed, credit, paid, partly-paid, reopened,
    voided, deleted, edited) delivered once to the platform ([pull] sink: a csv file, the
    platform's http API, or a plugin). Run it daily from cron. --dry-run reads and shows the
    events without recording or delivering them. An invoice deleted or edited in QBO, voided
    while the platform has it pending, or an event the platform refused is a problem (exit 5).
    """
    from qbsync.cli import render
    from qbsync.errors import RecordsFailedError
    from qbsync.sources.base import open_source
    from qbsync.sync.export_run import local_tz
    from qbsync.sync.pull_run import run_pull
    from qbsync.sync.sinks import open_sink

    obj = CliContext.get()
    with open_session(obj, run_lock=True) as session:
        state, client, config = session.state, session.client, session.config
        assert state is not None and client is not None

        def pending_at_platform() -> set[str]:
            source = open_source(config.source, tz=local_tz(config.export))
            read = source.invoices(statuses=config.export.statuses, created_since=None)
            return {i.id for i in read.records}

        run_id = None if dry_run else state.runs.start("pull")
        try:
            outcome = run_pull(
                client,
                state,
                sink=None if dry_run else (lambda: open_sink(config.pull, config.source)),
                pending_at_platform=pending_at_platform,
                dry_run=dry_run,
                run_id=run_id,
            )
        except BaseException as exc:
            if run_id is not None:
                state.runs.finish(run_id, "error", {"error": str(exc)})
            raise
        summary = outcome.summary()
        problems = outcome.problems
        result = "partial" if problems else "ok"
        if run_id is not None:
            state.runs.finish(run_id, result, summary)
    if as_json:
        render.emit_json(
            {
                "ok": not problems,
                "dry_run": dry_run,
                "run_id": run_id,
                "summary": summary,
                "events": [e.payload for e in outcome.events],
            }
        )
        obj.json_printed = True
    elif obj.quiet:
        for problem in problems:
            render.warn(f"{problem.what} ({problem.fix})")
    else:
        _show(outcome, dry_run=dry_run)
    if problems and not dry_run:
        raise RecordsFailedError(
            f"{len(problems)} problem(s) came back from QBO or the platform (listed above)",
            hint="payments are recorded; each problem says what to fix",
        )


def _show(outcome: PullOutcome, *, dry_run: bool) -> None:
    from qbsync.cli import render

    summary: dict[str, Any] = outcome.summary()
    kinds = ", ".join(f"{k} {v}" for k, v in summary["events"].items()) or "none"
    rows = [
        ("read", f"{summary['mode']} ({summary['qbo_requests']} QBO request(s))"),
        ("new events", f"{summary['new_events']}: {kinds}"),
    ]
    if not dry_run:
        rows += [("delivered", str(summary["delivered"])), ("waiting", str(summary["waiting"]))]
    render.key_values("Pull (dry run: nothing recorded or delivered)" if dry_run else "Pull", rows)
    shown = [
        (
            e.invoice_id,
            str(e.payload.get("number") or ""),
            e.kind,
            str(e.payload.get("amount") or ""),
            str(e.payload.get("balance") or ""),
            str(e.payload.get("detail") or ""),
        )
        for e in outcome.events[:SHOWN]
    ]
    if shown:
        render.table(None, ("invoice", "number", "event", "amount", "balance", "detail"), shown)
    for problem in outcome.problems:
        render.warn(f"{problem.what} ({problem.fix})")


def register(group: click.Group) -> None:
    group.add_command(pull)
