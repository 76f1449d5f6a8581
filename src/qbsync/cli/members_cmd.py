"""`qbsync connect-members`: parse, show the plan, confirm, apply, summarize (the engine is
qbsync.sync.connect)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import (
    command,
    dry_run_option,
    json_option,
    quiet_option,
    stdin_is_terminal,
    yes_option,
)

if TYPE_CHECKING:
    from qbsync.sync.connect import ConnectPlan
    from qbsync.sync.members_plan import MemberPlan

SHOWN = 10  # rows shown per kind of action (all of them go to --json)


@command("connect-members")
@quiet_option
@dry_run_option
@yes_option
@click.option("--full", is_flag=True, help="Re-read every QBO customer instead of what changed.")
@json_option
def connect_members(dry_run: bool, yes: bool, full: bool, as_json: bool) -> None:
    """Connect every active member to its QBO customer by email.

    A member whose email exactly one QBO customer has is linked to it; a member with no QBO
    customer gets one, made from the member's details; anything ambiguous (several customers with
    the email) is listed for you to settle with `qbsync link`, never guessed. Contact changes at
    the platform (name, company, email, phone, address) are pushed to linked customers.

    Shows the plan first and asks before changing QBO (--yes skips the question; under cron,
    --yes is required). --dry-run stops after the plan.
    """
    from qbsync.sources.base import open_source
    from qbsync.sync.connect import apply_connect, prepare_connect
    from qbsync.sync.export_run import local_tz

    obj = CliContext.get()
    with open_session(obj, run_lock=True) as session:
        assert session.client is not None and session.state is not None
        config = session.config
        source = open_source(config.source, tz=local_tz(config.export))
        read = source.members()
        prepared = prepare_connect(
            read.records,
            read.problems,
            client=session.client,
            state=session.state,
            config=config,
            full=full,
            settle=not dry_run,
        )
        plan = prepared.plan
        if not as_json and not obj.quiet:
            _show_plan(prepared)
        if dry_run:
            _finish_dry_run(obj, prepared, as_json=as_json)
            return
        if plan.changes:
            _confirm(obj, plan, yes=yes)
        # Even with nothing to send, the run is recorded (it closes a killed run as
        # interrupted) and so are the verdicts, the links settled from an earlier run, stale
        # links and contact baselines.
        _apply(obj, session, prepared, as_json=as_json, apply=apply_connect)


def _confirm(obj: CliContext, plan: MemberPlan, *, yes: bool) -> None:
    if yes:
        return
    from qbsync.errors import UsageError

    if not stdin_is_terminal():
        raise UsageError(
            "connect-members changes QBO and asks first, but there is no terminal to answer; "
            "nothing was changed",
            hint=f"run `{obj.command_line('connect-members', '--yes')}` (cron), or run it in a "
            "terminal",
        )
    counts = plan.counts()
    click.confirm(
        f"Link {counts['link']}, create {counts['create']}, reactivate {counts['reactivate']} "
        f"and update {counts['update']} QBO customers?",
        abort=True,
        err=True,
    )


def _apply(
    obj: CliContext, session: Any, prepared: ConnectPlan, *, as_json: bool, apply: Any
) -> None:
    from qbsync.cli import render
    from qbsync.errors import RecordsFailedError

    state = session.state
    plan = prepared.plan
    run_id = state.runs.start("connect-members")
    total = len(plan.links) + len(plan.creates) + len(plan.reactivations) + len(plan.updates)
    try:
        with render.Progress(total, "connect-members", quiet=obj.quiet or as_json) as bar:
            result = apply(
                prepared,
                client=session.client,
                state=state,
                config=session.config,
                run_id=run_id,
                progress=bar.advance,
            )
    except BaseException as exc:
        state.runs.finish(run_id, "error", {"error": str(exc)})
        raise
    summary = result.summary()
    outcome = "partial" if summary["failed"] else "ok"
    state.runs.finish(run_id, outcome, summary)
    if as_json:
        render.emit_json(
            {
                "ok": not summary["failed"],
                "dry_run": False,
                **_document(prepared),
                "summary": summary,
            }
        )
        obj.json_printed = True
    elif plan.changes == 0 and not prepared.settled and not summary["failed"]:
        if not obj.quiet:
            render.result("Nothing to change in QBO.")
    elif not obj.quiet or summary["failed"]:
        _show_summary(summary)
    if summary["failed"]:
        raise RecordsFailedError(
            f"{summary['failed']} member(s) failed (listed above); the rest were done",
            hint=f"fix what each line says, then run `{obj.command_line('connect-members')}` again",
        )


def _finish_dry_run(obj: CliContext, prepared: ConnectPlan, *, as_json: bool) -> None:
    from qbsync.cli import render

    if as_json:
        render.emit_json({"ok": True, "dry_run": True, **_document(prepared)})
        obj.json_printed = True
        return
    if not obj.quiet:
        render.result("Dry run: nothing was changed.")


def _document(prepared: ConnectPlan) -> dict[str, Any]:
    plan = prepared.plan
    rows: list[dict[str, Any]] = [
        {"member": a.member.id, "action": "link", "customer": a.customer_id, "reason": a.reason}
        for a in plan.links
    ]
    rows += [
        {"member": a.member.id, "action": "create", "name": a.display_name, "reason": a.reason}
        for a in plan.creates
    ]
    rows += [
        {
            "member": a.member.id,
            "action": "reactivate",
            "customer": a.customer_id,
            "reason": a.reason,
        }
        for a in plan.reactivations
    ]
    rows += [
        {
            "member": a.member.id,
            "action": "update",
            "customer": a.customer_id,
            "fields": list(a.changed),
        }
        for a in plan.updates
    ]
    rows += [
        {
            "member": v.member.id,
            "action": v.status,
            "reason": v.reason,
            "candidates": list(v.candidates),
        }
        for v in plan.verdicts
        if v.status not in ("linked", "manual")
    ]
    return {
        "plan": plan.counts(),
        "rows": rows,
        "source_problems": [str(p) for p in prepared.problems],
        "warnings": [text for _, text in plan.warnings],
        "customers_read": prepared.refresh.read,
        "settled_from_earlier_runs": prepared.settled,
    }


def _show_plan(prepared: ConnectPlan) -> None:
    from qbsync.cli import render

    plan = prepared.plan
    for problem in prepared.problems:
        render.warn(f"skipped: {problem}")
    counts = plan.counts()
    render.key_values(
        f"Plan for {len(prepared.members)} members "
        f"({prepared.refresh.read} QBO customers read, {prepared.refresh.mode})",
        [
            ("link", str(counts["link"])),
            ("create", str(counts["create"])),
            ("reactivate", str(counts["reactivate"])),
            ("update contacts", str(counts["update"])),
            ("already linked", str(counts.get("linked", 0) + counts.get("manual", 0))),
            ("needs review", str(counts.get("needs_review", 0))),
            ("unmatched", str(counts.get("unmatched", 0))),
            ("no usable email", str(counts.get("no_email", 0))),
            ("inactive", str(counts.get("inactive", 0))),
            ("unlinked by you", str(counts.get("unlinked", 0))),
        ],
    )
    rows: list[tuple[str, str, str]] = []
    rows += [
        (a.member.id, "link", f"customer {a.customer_id}: {a.reason}") for a in plan.links[:SHOWN]
    ]
    rows += [
        (a.member.id, "create", f"{a.display_name!r}: {a.reason}") for a in plan.creates[:SHOWN]
    ]
    rows += [
        (a.member.id, "reactivate", f"customer {a.customer_id}: {a.reason}")
        for a in plan.reactivations[:SHOWN]
    ]
    rows += [
        (a.member.id, "update", f"customer {a.customer_id}: {', '.join(a.changed)}")
        for a in plan.updates[:SHOWN]
    ]
    for status in ("needs_review", "unmatched", "no_email", "failed"):
        for v in plan.of(status)[:SHOWN]:
            extra = f" (candidates: {', '.join(v.candidates)})" if v.candidates else ""
            rows.append((v.member.id, status.replace("_", " "), v.reason + extra))
    if rows:
        render.table(None, ("member", "what", "why"), rows)


def _show_summary(summary: dict[str, Any]) -> None:
    from qbsync.cli import render

    render.key_values(
        "Done",
        [
            (key.replace("_", " "), str(summary[key]))
            for key in (
                "linked",
                "created",
                "reactivated",
                "updated",
                "unchanged",
                "needs_review",
                "unmatched",
                "no_email",
                "failed",
            )
        ],
    )
    for failure in summary["failures"]:
        render.warn(f"failed: {failure}")


def register(group: click.Group) -> None:
    group.add_command(connect_members)
