"""`qbsync runs`: the recorded runs, newest first, with their counts and problems."""

from __future__ import annotations

from typing import Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, json_option
from qbsync.errors import tid_in

COUNT_KEYS = ("linked", "created", "reactivated", "updated", "exported", "failed", "needs_review")


@command("runs")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@json_option
def runs(limit: int, as_json: bool) -> None:
    """List recorded runs (connect-members, export) with their counts and problems.

    A run still marked running whose process is gone was interrupted (killed, or the machine
    stopped); the next run of qbsync closes it as interrupted.
    """
    from qbsync.cli import render

    obj = CliContext.get()
    with open_session(obj, qbo=False) as session:
        assert session.state is not None
        records = session.state.runs.last(limit)
        tids = {run.id: session.state.runs.intuit_tids(run.id) for run in records}
    rows: list[dict[str, Any]] = []
    for run in records:
        summary = run.summary or {}
        problems = list(summary.get("failures", []))
        if "error" in summary:
            problems.insert(0, str(summary["error"]))
        # Intuit's support asks for these: the records' and the run's own error's
        run_tid = tid_in(str(summary.get("error") or ""))
        intuit = list(dict.fromkeys([*([run_tid] if run_tid else []), *tids[run.id]]))
        rows.append(
            {
                "id": run.id,
                "command": run.command,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "outcome": run.outcome,
                "counts": {k: summary[k] for k in COUNT_KEYS if isinstance(summary.get(k), int)},
                "problems": problems,
                "intuit_tids": intuit,
            }
        )
    if as_json:
        render.emit_json({"ok": True, "runs": rows})
        obj.json_printed = True
        return
    if obj.quiet:
        return
    if not rows:
        render.result("No runs recorded yet.")
        return
    # The Intuit transaction ids column only when some run has one (QBO answered an error).
    with_tids = any(r["intuit_tids"] for r in rows)
    headers = ("id", "command", "started (UTC)", "outcome", "counts", "problems")
    render.table(
        None,
        headers + (("Intuit transaction ids",) if with_tids else ()),
        [
            (
                str(r["id"]),
                str(r["command"]),
                r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
                str(r["outcome"]),
                ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["counts"].items() if v),
                "; ".join(r["problems"][:3]) + (" ..." if len(r["problems"]) > 3 else ""),
            )
            + ((_shown_tids(r["intuit_tids"]),) if with_tids else ())
            for r in rows
        ],
    )


def _shown_tids(tids: list[str]) -> str:
    return ", ".join(tids[:3]) + (
        f" (+{len(tids) - 3} more; --json lists all)" if len(tids) > 3 else ""
    )


def register(group: click.Group) -> None:
    group.add_command(runs)
