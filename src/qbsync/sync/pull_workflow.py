"""The workflow of `qbsync pull` on the one run record (sync/runrecord.py), as export and
connect-members have it: start the run (not for --dry-run), pull (sync/pull_run.py), build the
RunRecord, finish the run with it and write its log lines. cli/pull_cmd.py only renders the record
(terminal, --json, -q, --log-file, `runs RUN_ID`); none of them works anything out again.

The record: one ``Outcome`` per event (``kind`` "invoice", ``action`` the event kind, ``result``
the invoice's QBO state after it, pull_fields.QBO_STATES, or ``edited``), one per event the
platform refused (``action`` "deliver", ``result`` "refused"); the problems (deleted, edited,
voided while pending at the platform, refused by the platform) with their fixes; exit 5 when there
is a problem (not for --dry-run, which records nothing), else 0. Payments are not problems.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from qbsync.sync.pull_run import PullOutcome, PullReader, run_pull
from qbsync.sync.runrecord import Outcome, RunRecord, log_finish, log_start, stopped

if TYPE_CHECKING:
    from qbsync.state.db import State
    from qbsync.state.pulls import PullEvent
    from qbsync.sync.sinks import Sink

COMMAND = "pull"


def run_pull_workflow(
    client: PullReader,
    state: State,
    *,
    sink: Callable[[], Sink] | None,
    pending_at_platform: Callable[[], set[str]],
    dry_run: bool,
) -> tuple[RunRecord, PullOutcome]:
    """One pull, recorded: the run record (what every view renders) and the pull's outcome (its
    events' payloads, for --json)."""
    run_id = None if dry_run else state.runs.start(COMMAND)
    log_start(COMMAND, run_id)
    try:
        outcome = run_pull(
            client,
            state,
            sink=sink,
            pending_at_platform=pending_at_platform,
            dry_run=dry_run,
            run_id=run_id,
        )
    except BaseException as exc:
        if run_id is not None:
            failed = stopped(COMMAND, run_id, exc)
            state.runs.finish(run_id, failed.status, failed.to_json())
            log_finish(failed)
        raise
    record = pull_record(outcome, run_id=run_id, dry_run=dry_run)
    if run_id is not None:
        state.runs.finish(run_id, record.status, record.to_json())
        log_finish(record)
    return record, outcome


def pull_record(outcome: PullOutcome, *, run_id: int | None, dry_run: bool) -> RunRecord:
    """The run record of a pull (pure)."""
    details = {k: v for k, v in outcome.summary().items() if k != "problems"}
    record = RunRecord(COMMAND, run_id, dry_run=dry_run, details=details)
    record.outcomes = [_outcome(e, outcome.states.get(e.invoice_id)) for e in outcome.events]
    record.outcomes += [
        Outcome(
            "invoice",
            event.invoice_id,
            "deliver",
            "refused",
            detail=f"the platform refused the {event.kind} event: {reason}",
            next_step=("qbsync", "pull"),
            number=_text(event.payload.get("number")),
            qbo_id=event.qbo_invoice_id,
        )
        for event, reason in outcome.refused
    ]
    record.problems = list(outcome.problems)
    if record.problems and not dry_run:
        record.status, record.exit_code = "partial", 5
    return record


def _outcome(event: PullEvent, state: str | None) -> Outcome:
    detail = str(event.payload.get("detail") or "")
    said = detail if detail.startswith(event.kind) else f"{event.kind}: {detail}" if detail else ""
    result = "edited" if event.kind == "edited" else state or event.kind
    return Outcome(
        "invoice",
        event.invoice_id,
        event.kind,
        result,
        detail=said or event.kind,
        number=_text(event.payload.get("number")),
        qbo_id=event.qbo_invoice_id,
        amount=_text(event.payload.get("amount")),
    )


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
