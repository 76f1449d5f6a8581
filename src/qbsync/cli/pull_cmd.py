"""`qbsync pull`: what happened in QBO to the exported invoices comes back to the platform.
The engine is qbsync.sync.pull_run (docs/pull.md)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, dry_run_option, json_option, quiet_option

if TYPE_CHECKING:
    from qbsync.sync.pull_run import PullOutcome
    from qbsync.sync.runrecord import RunRecord

log = logging.getLogger("qbsync.pull")


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
    from qbsync.cli.runview import quiet_problems, with_unavailable_hint
    from qbsync.errors import QboUnavailableError, RecordsFailedError
    from qbsync.sources.base import open_source
    from qbsync.sync.export_run import local_tz
    from qbsync.sync.pull_workflow import run_pull_workflow
    from qbsync.sync.sinks import open_sink

    obj = CliContext.get()
    with open_session(obj, run_lock=True) as session:
        state, client, config = session.state, session.client, session.config
        assert state is not None and client is not None

        def pending_at_platform() -> set[str]:
            source = open_source(config.source, tz=local_tz(config.export))
            read = source.invoices(statuses=config.export.statuses, created_since=None)
            return {i.id for i in read.records}

        try:
            record, outcome = run_pull_workflow(
                client,
                state,
                sink=None if dry_run else (lambda: open_sink(config.pull, config.source)),
                pending_at_platform=pending_at_platform,
                dry_run=dry_run,
            )
        except QboUnavailableError as exc:
            raise with_unavailable_hint(config, exc) from None
    if as_json:
        # The run record (the one every view renders) with the events' payloads, for scripts;
        # "summary" is the record's figures with its problems, as before the record existed.
        summary = {**record.details, "problems": [p.to_dict() for p in record.problems]}
        render.emit_json(
            {
                "ok": record.ok,
                "dry_run": dry_run,
                "run_id": record.id,
                "summary": summary,
                "run": record.to_json(),
                "events": [e.payload for e in outcome.events],
            }
        )
        obj.json_printed = True
    elif obj.quiet:
        quiet_problems(record)
    else:
        _show(record, outcome)
    if record.exit_code == 5:
        raise RecordsFailedError(
            f"{len(record.problems)} problem(s) came back from QBO or the platform (listed above)",
            hint="payments are recorded; each problem says what to fix",
        )


def _show(record: RunRecord, outcome: PullOutcome) -> None:
    from qbsync.cli import render
    from qbsync.cli.runview import shown
    from qbsync.sync.runrecord import problem_line

    summary = record.details
    kinds = ", ".join(f"{k} {v}" for k, v in summary["events"].items()) or "none"
    rows = [
        ("read", f"{summary['mode']} ({summary['qbo_requests']} QBO request(s))"),
        ("new events", f"{summary['new_events']}: {kinds}"),
    ]
    if not record.dry_run:
        rows += [
            ("run", str(record.id)),
            ("delivered", str(summary["delivered"])),
            ("waiting", str(summary["waiting"])),
        ]
    title = "Pull (dry run: nothing recorded or delivered)" if record.dry_run else "Pull"
    render.key_values(title, rows)
    events = [
        (
            e.invoice_id,
            str(e.payload.get("number") or ""),
            e.kind,
            str(e.payload.get("amount") or ""),
            str(e.payload.get("balance") or ""),
            str(e.payload.get("detail") or ""),
        )
        for e in outcome.events
    ]
    if events:  # never cut silently: the first rows, then how many more (--json has all)
        render.table(
            None, ("invoice", "number", "event", "amount", "balance", "detail"), shown(events)
        )
    for problem in record.problems:
        render.warn(problem_line(problem))


def register(group: click.Group) -> None:
    group.add_command(pull)
