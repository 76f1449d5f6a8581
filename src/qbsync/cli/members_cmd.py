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
    from qbsync.sync.runrecord import RunRecord


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
    from qbsync.cli.runview import with_unavailable_hint
    from qbsync.errors import QboUnavailableError
    from qbsync.sync.connect_workflow import run_connect_workflow

    obj = CliContext.get()
    with open_session(obj, run_lock=True) as session:
        assert session.client is not None and session.state is not None
        try:
            run = run_connect_workflow(
                config=session.config,
                state=session.state,
                client=session.client,
                hooks=_Hooks(obj, yes=yes, as_json=as_json),
                full=full,
                dry_run=dry_run,
            )
        except QboUnavailableError as exc:
            raise with_unavailable_hint(session.config, exc) from None
    assert run.prepared is not None
    _render(obj, run.record, run.prepared, as_json=as_json)


class _Hooks:
    def __init__(self, obj: CliContext, *, yes: bool, as_json: bool) -> None:
        self.obj, self.yes, self.as_json = obj, yes, as_json

    def show_plan(self, prepared: ConnectPlan) -> None:
        if not self.as_json and not self.obj.quiet:
            _show_plan(prepared)

    def confirm(self, plan: MemberPlan) -> None:
        _confirm(self.obj, plan, yes=self.yes)

    def progress(self, total: int) -> Any:
        from qbsync.cli.runview import progress

        return progress(self.obj, total, "connect-members", as_json=self.as_json)


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


def _render(obj: CliContext, record: RunRecord, prepared: ConnectPlan, *, as_json: bool) -> None:
    from qbsync.cli import render
    from qbsync.cli.runview import quiet_problems
    from qbsync.errors import RecordsFailedError

    summary = record.details
    if as_json:
        doc: dict[str, Any] = {"ok": record.ok, "dry_run": record.dry_run, **_document(prepared)}
        if not record.dry_run:
            doc["summary"] = summary
        doc["run"] = record.to_json()
        render.emit_json(doc)
        obj.json_printed = True
    elif obj.quiet:
        quiet_problems(record)
    elif record.dry_run:
        render.result("Dry run: nothing was changed.")
    elif prepared.plan.changes == 0 and not prepared.settled and not record.problems:
        render.result("Nothing to change in QBO.")
    else:
        _show_summary(record)
    if record.exit_code == 5:
        raise RecordsFailedError(
            f"{len(record.problems)} problem(s) need you (listed above); the rest were done",
            hint=f"fix what each line says, then run `{obj.command_line('connect-members')}` again",
        )


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
    from qbsync.cli.runview import shown

    rows: list[tuple[str, ...]] = []
    rows += shown(
        [(a.member.id, "link", f"customer {a.customer_id}: {a.reason}") for a in plan.links]
    )
    rows += shown(
        [(a.member.id, "create", f"{a.display_name!r}: {a.reason}") for a in plan.creates]
    )
    rows += shown(
        [
            (a.member.id, "reactivate", f"customer {a.customer_id}: {a.reason}")
            for a in plan.reactivations
        ]
    )
    rows += shown(
        [
            (a.member.id, "update", f"customer {a.customer_id}: {', '.join(a.changed)}")
            for a in plan.updates
        ]
    )
    for status in ("needs_review", "unmatched", "no_email", "failed"):
        rows += shown(
            [
                (
                    v.member.id,
                    status.replace("_", " "),
                    v.reason
                    + (f" (candidates: {', '.join(v.candidates)})" if v.candidates else ""),
                )
                for v in plan.of(status)
            ]
        )
    if rows:
        render.table(None, ("member", "what", "why"), rows)


def _show_summary(record: RunRecord) -> None:
    from qbsync.cli import render
    from qbsync.sync.runrecord import problem_line

    summary = record.details
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
    for problem in record.problems:
        render.warn(problem_line(problem))


def register(group: click.Group) -> None:
    group.add_command(connect_members)
