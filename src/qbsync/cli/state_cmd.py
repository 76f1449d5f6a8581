"""`qbsync state rebuild`: restore a lost state from QBO, or (``--fresh``) start over from now.
The engine is qbsync.sync.rebuild; this module parses, asks, renders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import EPILOG, dry_run_option, json_option, stdin_is_terminal, yes_option

if TYPE_CHECKING:
    from qbsync.cli.context import Session
    from qbsync.sync.rebuild import RebuildPlan

SHOWN = 10


@click.group("state")
def state_group() -> None:
    """Restore this profile's state (export history, links) from QBO after it was lost."""


@state_group.command("rebuild", epilog=EPILOG)
@click.option(
    "--fresh",
    is_flag=True,
    help="Restore nothing: start over, exporting only invoices created from now on.",
)
@click.option(
    "--enabled-at",
    "enabled_text",
    metavar="TIME",
    default=None,
    help="When the integration was enabled (ISO 8601 with offset), if the config does not say; "
    "written to the config.",
)
@dry_run_option
@yes_option
@json_option
def rebuild(fresh: bool, enabled_text: str | None, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Restore this profile's state (export history, links) from QBO after it was lost.

    Reads the QBO invoices created since the integration was enabled ([export] enabled_at in
    the config) and records each one carrying qbsync's marker (PrivateNote `qbsync:<id>
    #<number>`) as exported, so it is never sent again; each member whose invoices went to a
    customer is linked to it again. Then run `qbsync connect-members` for the other members.

    --fresh restores nothing and moves enabled_at to now: invoices created before are never
    exported. It asks first (--yes skips the question); only for a state without history.
    """
    from qbsync.auth.token_endpoint import utcnow
    from qbsync.errors import UsageError

    given = _parse_time(enabled_text)
    if fresh and given is not None:
        raise UsageError("--fresh starts over from now; --enabled-at does not go with it")
    obj = CliContext.get()
    with open_session(obj, run_lock=True, need_history=False) as session:
        assert session.state is not None and session.tokens is not None
        realm_id = session.tokens.realm_id  # AuthError (exit 3) when not connected
        if fresh:
            _fresh(obj, session, realm_id, utcnow(), dry_run=dry_run, yes=yes, as_json=as_json)
        else:
            _rebuild(obj, session, realm_id, given, dry_run=dry_run, yes=yes, as_json=as_json)


def _parse_time(text: str | None) -> datetime | None:
    from qbsync.errors import UsageError

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise UsageError(
            f"--enabled-at {text!r}: expected a date and time with its offset, e.g. "
            "2026-11-03T10:15:00+00:00"
        )
    return moment


def _rebuild(
    obj: CliContext,
    session: Session,
    realm_id: str,
    given: datetime | None,
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    from qbsync.auth.token_endpoint import utcnow
    from qbsync.errors import UsageError
    from qbsync.sources.base import open_source
    from qbsync.sync.export_run import local_tz
    from qbsync.sync.rebuild import apply_rebuild, plan_rebuild, read_qbo_invoices

    state, config, client = session.state, session.config, session.client
    assert state is not None and client is not None
    bound = state.enabled_at if state.realm_id is not None else None
    enabled = given or bound or config.export.enabled_at
    if enabled is None:
        raise UsageError(
            "neither the config nor the state says when the integration was enabled, so it is "
            "not known which QBO invoices to look at",
            hint="run `qbsync state rebuild --enabled-at TIME` with the moment of the first "
            "`qbsync auth` (e.g. 2026-11-03T10:15:00+00:00), or `qbsync state rebuild --fresh`",
        )
    records: list[Any] = []
    if config.source.type != "csv" or config.source.invoices is not None:
        # The source names each invoice's member (for the links) and its fingerprint.
        source = open_source(config.source, tz=local_tz(config.export))
        read = source.invoices(statuses=config.export.statuses, created_since=None)
        records = list(read.records)
    now = utcnow()
    plan = plan_rebuild(
        read_qbo_invoices(client, enabled),
        records,
        enabled_at=enabled,
        exported=state.exports.states(),
        links=state.members.links().keys(),
        unlinked=state.members.unlinked(),
        now=now,
    )
    if not as_json and not obj.quiet:
        _show_plan(plan)
    if not dry_run:
        _confirm(
            obj,
            f"Record {len(plan.restore)} invoice(s) as exported and restore "
            f"{len(plan.links)} link(s)?",
            yes=yes,
        )
        run_id = state.runs.start("state rebuild")
        try:
            apply_rebuild(plan, state, realm_id=realm_id, run_id=run_id, now=now)
        except BaseException as exc:
            state.runs.finish(run_id, "error", {"error": str(exc)})
            raise
        state.runs.finish(run_id, "ok", plan.summary())
        if given is not None or config.export.enabled_at is None:
            _write_config(config.path, enabled)
    _report(obj, plan.summary(), dry_run=dry_run, as_json=as_json)


def _fresh(
    obj: CliContext,
    session: Session,
    realm_id: str,
    now: datetime,
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    from qbsync.errors import UsageError

    state, config = session.state, session.config
    assert state is not None
    if state.realm_id is not None:
        raise UsageError(
            f"the state {config.state_path} holds its history already (company "
            f"{state.realm_id}); --fresh only starts over a state without history",
            hint="to connect another company from scratch run `qbsync auth --fresh-state`",
        )
    old = config.export.enabled_at
    summary = {
        "fresh": True,
        "enabled_at": now.isoformat(),
        "previous_enabled_at": old.isoformat() if old else None,
    }
    if not dry_run:
        _confirm(
            obj,
            "Start this profile over from now: nothing is restored from QBO, enabled_at moves "
            f"from {old.isoformat() if old else 'unknown'} to {now.isoformat()}, and pending "
            "invoices created before now are never exported. Go on?",
            yes=yes,
        )
        run_id = state.runs.start("state rebuild")
        state.bind_realm(realm_id, now=now, company_name=None)
        state.runs.finish(run_id, "ok", summary)
        _write_config(config.path, now)
    _report(obj, summary, dry_run=dry_run, as_json=as_json)


def _write_config(path: Any, when: datetime) -> None:
    """The operator chose this enabled_at: record it in the config (a warning when it cannot
    be: the state has it, and the next command that opens the state tries again)."""
    from qbsync.cli import render
    from qbsync.config.enabled import write_enabled_at
    from qbsync.errors import ConfigError

    try:
        write_enabled_at(path, when)
    except ConfigError as exc:
        render.warn(exc.message)


def _confirm(obj: CliContext, question: str, *, yes: bool) -> None:
    from qbsync.errors import UsageError

    if yes:
        return
    if not stdin_is_terminal():
        raise UsageError(
            "state rebuild changes the state and asks first, but there is no terminal to "
            "answer; nothing was changed",
            hint=f"run `{obj.command_line('state', 'rebuild', '--yes')}`",
        )
    click.confirm(question, abort=True, err=True)


def _show_plan(plan: RebuildPlan) -> None:
    from qbsync.cli import render

    render.key_values(
        f"Rebuild from QBO invoices created since {plan.enabled_at.isoformat()}",
        [
            ("QBO invoices read", str(plan.read)),
            ("to record as exported", str(len(plan.restore))),
            ("links to restore", str(len(plan.links))),
            ("recorded as exported already", str(len(plan.already_exported))),
            ("linked (or unlinked) already", str(len(plan.kept_links))),
        ],
    )
    for invoice_id in plan.member_unknown[:SHOWN]:
        render.warn(f"invoice {invoice_id}: not in the source now; recorded, no member linked")
    for member_id in plan.link_conflicts[:SHOWN]:
        render.warn(f"member {member_id}: invoices went to several customers; the newest's kept")
    if plan.duplicates:
        render.warn(
            f"{len(plan.duplicates)} QBO invoice(s) carry a marker another invoice carries "
            f"already (QBO Ids {', '.join(plan.duplicates[:SHOWN])}): check them in QBO"
        )


def _report(obj: CliContext, summary: dict[str, Any], *, dry_run: bool, as_json: bool) -> None:
    from qbsync.cli import render

    if as_json:
        render.emit_json({"ok": True, "dry_run": dry_run, "summary": summary})
        obj.json_printed = True
        return
    if obj.quiet:
        return
    if dry_run:
        render.result("Dry run: nothing was changed.")
        return
    if summary.get("fresh"):
        render.result(f"Started over: invoices created from {summary['enabled_at']} are exported.")
        return
    render.result(
        f"Restored {summary['restored']} exported invoice(s) and {summary['links_restored']} "
        f"link(s). Next: `{obj.command_line('connect-members')}` connects the other members."
    )


def register(group: click.Group) -> None:
    group.add_command(state_group)
