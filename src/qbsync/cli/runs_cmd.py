"""`qbsync runs [RUN_ID]`: the recorded runs, newest first, with their counts and problems; one
run in full. Each run's stored record (sync/runrecord.py, also the older summaries) is rendered
as it was recorded, never worked out again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, json_option

if TYPE_CHECKING:
    from qbsync.state.runs import RunRecord as RunRow
    from qbsync.sync.runrecord import RunRecord

# The figures older summaries (and export's details) carry as whole numbers.
COUNT_KEYS = ("linked", "created", "reactivated", "updated", "exported", "failed", "needs_review")
COUNTS_WIDTH = 18  # the counts column: the table stays within 80 columns (ids under 10,000)


@command("runs")
@click.argument("run_id", required=False, type=click.IntRange(1))
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="How many runs to list, newest first.",
)
@json_option
def runs(run_id: int | None, limit: int, as_json: bool) -> None:
    """List recorded runs (connect-members, export) with their counts and problems.

    With RUN_ID: that run in full, every problem with its fix and every record it touched.

    A run still marked running whose process is gone was interrupted (killed, or the machine
    stopped); the next run of qbsync closes it as interrupted and settles what it left in flight.
    """
    from qbsync.cli import render

    obj = CliContext.get()
    with open_session(obj, qbo=False) as session:
        assert session.state is not None
        if run_id is not None:
            row = session.state.runs.get(run_id)
            if row is None:
                from qbsync.errors import UsageError

                raise UsageError(
                    f"no run {run_id} is recorded",
                    hint=f"`{obj.command_line('runs')}` lists the recorded runs",
                )
            _show_one(obj, row, session.state.runs.intuit_tids(row.id), as_json=as_json)
            return
        records = session.state.runs.last(limit)
        tids = {run.id: session.state.runs.intuit_tids(run.id) for run in records}
    rows = [_listed(run, tids[run.id]) for run in records]
    if as_json:
        render.emit_json({"ok": True, "runs": rows})
        obj.json_printed = True
        return
    if obj.quiet:
        return
    if not rows:
        render.result("No runs recorded yet.")
        return
    render.table(
        None,
        ("id", "command", "started (UTC)", "outcome", "problems", "counts"),
        [
            (
                str(r["id"]),
                str(r["command"]),
                r["started_at"].strftime("%Y-%m-%d %H:%M"),
                str(r["outcome"]),
                str(len(r["problems"])),
                _elide(
                    ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["counts"].items() if v)
                ),
            )
            for r in rows
        ],
    )
    # Intuit's transaction ids (Intuit's support asks for them) under the table, not in it: the
    # table stays within 80 columns.
    with_tids = [r for r in rows if r["intuit_tids"]]
    if with_tids:
        render.result("Intuit transaction ids:")
        for r in with_tids:
            render.result(f"  run {r['id']}: {', '.join(r['intuit_tids'])}")
    if any(r["problems"] for r in rows):
        render.result(f"A run's problems in full: {obj.command_line('runs', 'RUN_ID')}")


def _elide(text: str, width: int = COUNTS_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip(", ") + "..."


def _record(run: RunRow) -> RunRecord:
    from qbsync.sync.runrecord import RunRecord

    return RunRecord.from_json(run.summary, command=run.command, run_id=run.id, outcome=run.outcome)


def _listed(run: RunRow, tids: list[str]) -> dict[str, Any]:
    from qbsync.sync.runrecord import problem_line

    record = _record(run)
    counts = {k: record.details[k] for k in COUNT_KEYS if isinstance(record.details.get(k), int)}
    for state, n in record.counts.items():  # states older summaries had no figure for
        counts.setdefault(state.replace("-", "_"), n)
    own = record.intuit_tids()
    return {
        "id": run.id,
        "command": run.command,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": run.outcome,
        "counts": counts,
        "problems": [problem_line(p) for p in record.problems],
        "intuit_tids": list(dict.fromkeys([*own[:1], *tids])) if own else tids,
    }


def _show_one(obj: CliContext, run: RunRow, tids: list[str], *, as_json: bool) -> None:
    from qbsync.cli import render
    from qbsync.sync.runrecord import problem_line

    record = _record(run)
    listed = _listed(run, tids)
    if as_json:
        render.emit_json({"ok": True, "run": {**listed, "record": record.to_json()}})
        obj.json_printed = True
        return
    rows = [
        ("command", run.command),
        ("started (UTC)", run.started_at.strftime("%Y-%m-%d %H:%M:%S")),
        (
            "finished (UTC)",
            run.finished_at.strftime("%Y-%m-%d %H:%M:%S") if run.finished_at else "-",
        ),
        ("outcome", str(run.outcome)),
        ("counts", ", ".join(f"{k} {v}" for k, v in record.counts.items()) or "-"),
    ]
    if record.error:
        rows.append(("error", record.error))
    if run.outcome == "interrupted":
        left = ", ".join(record.in_flight) or "none recorded"
        rows.append(("in flight", f"{left}; the next run settles them against QBO"))
    if listed["intuit_tids"]:
        rows.append(("Intuit transaction ids", ", ".join(listed["intuit_tids"])))
    render.key_values(f"Run {run.id}", rows)
    if record.problems:
        render.result(f"Problems ({len(record.problems)}):")
        for problem in record.problems:
            render.result(f"  {problem_line(problem)}")
    if record.outcomes:
        render.table(
            None,
            ("record", "state", "detail"),
            [(f"{o.kind} {o.id}", o.result, o.detail or "") for o in record.outcomes],
        )


def register(group: click.Group) -> None:
    group.add_command(runs)
