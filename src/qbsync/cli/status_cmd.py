"""`qbsync status`: is this profile connected, to which company, and for how long still.

Offline by default (reads the config, the token store and the state; no network), so cron and
monitoring can call it often. Offline, it can only say that tokens are *stored* (and not known to
be unusable); ``--check`` proves the connection with a CompanyInfo call, which refreshes the tokens
when needed. It exits 0 when tokens are stored (offline) or the check passed, 1 when the check
could not reach QBO, 2 for a configuration problem (no client secret), 3 when not connected, 4
when another process held the token lock. The report is built by ``qbsync.status.build_status``;
this module reads, renders, and raises the report's problem for cli/main.py to map.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, json_option

if TYPE_CHECKING:
    from qbsync.errors import QbsyncError
    from qbsync.status import CheckResult, StatusReport


@command("status")
@json_option
@click.option("--check", is_flag=True, help="Call QBO (CompanyInfo) to prove the connection works.")
def status_command(as_json: bool, check: bool) -> None:
    """Show the QBO connection: company, token store, token expiry.

    Offline unless --check. Exits 3 when not connected (run `qbsync auth`), 1 when --check
    could not reach QBO (the tokens are kept), 4 when another qbsync process held the token lock.
    """
    from qbsync import status
    from qbsync.auth.credentials import resolve_client_secret
    from qbsync.auth.token_endpoint import utcnow
    from qbsync.config.checks import ENVIRONMENT_ENV
    from qbsync.errors import QbsyncError

    obj = CliContext.get()
    with open_session(obj, qbo=False, state=False) as session:
        config, store = session.config, session.store
        tokens = store.load_tokens()
        meta = status.read_meta(config)
        _fill_enabled_at(config, meta)
        secret_problem: QbsyncError | None = None
        try:
            resolve_client_secret(store)  # cron needs it to refresh: a missing one is exit 2
        except QbsyncError as exc:
            secret_problem = exc
        env_source = ENVIRONMENT_ENV if os.environ.get(ENVIRONMENT_ENV, "").strip() else "config"
        figures, source_error = _figures(config, remote=check)

        def report(result: status.CheckResult | None = None) -> status.StatusReport:
            return status.build_status(
                config,
                store_kind=store.kind,
                store_location=store.location,
                tokens=tokens,
                meta=meta,
                now=utcnow(),
                check=result,
                secret_problem=secret_problem,
                environment_source=env_source,
                figures=figures,
            )

        built = report()
        if check and status.checkable(built):
            result = _check(obj)
            if result.ok:
                tokens = store.load_tokens()  # the check may have refreshed them
            built = report(result)
    # --check proves syncing can work: a source that cannot be read fails it, with the source's
    # own exit code (a missing file or column: 2; the platform down: 1).
    source_fails = check and built.problem is None and source_error is not None
    if as_json:
        from qbsync.cli import render

        doc = _localized(obj, built.to_dict())
        if source_fails and source_error is not None:
            doc.update(ok=False, exit_code=int(source_error.exit_code),
                       error=source_error.message, hint=obj.localize(source_error.hint))  # fmt: skip
        render.emit_json(doc)
        obj.json_printed = True
    else:
        _render_text(obj, built, utcnow())
    if built.problem is not None:
        # The report is out; cli/main.py says the error once more and exits with its code.
        raise built.problem
    if source_fails and source_error is not None:
        raise source_error


def _fill_enabled_at(config: Any, meta: dict[str, str | None]) -> None:
    """A config from before `[export] enabled_at` existed gets the state's (once)."""
    if config.export.enabled_at is not None or not meta.get("realm_id"):
        return
    enabled = meta.get("enabled_at")
    if not enabled:
        return
    from qbsync.config.enabled import write_enabled_at
    from qbsync.errors import ConfigError

    try:
        write_enabled_at(config.path, datetime.fromisoformat(enabled))
    except (ConfigError, ValueError) as exc:
        import logging

        logging.getLogger(__name__).warning("%s", getattr(exc, "message", exc))


def _figures(config: Any, *, remote: bool = False) -> tuple[dict[str, Any], QbsyncError | None]:
    """Members and invoices from the state (no state yet: none), invoices by the ledger; the
    source is read when it is a local file (status stays offline), any source under --check.
    With it, the error a source that could not be read gave (None: read, or not asked)."""
    if not config.state_path.exists():
        return {"members": None, "invoices": None}, None
    from qbsync.state.db import State
    from qbsync.sync.figures import invoice_figures, member_figures, read_source

    read = read_source(config, remote=remote)
    with State.open(config.state_path) as state:
        out = {
            "members": member_figures(state),
            "invoices": invoice_figures(
                state,
                config,
                source_invoices=read.invoices,
                known_members=read.member_ids,
                source_problem=read.problem,
            ),
        }
    if read.problem:
        out["invoices"]["source_problem"] = read.problem
    return out, read.error


def _check(obj: CliContext) -> CheckResult:
    """CompanyInfo through a session of its own: a probe, so one retry, not a sync's five."""
    from qbsync import status
    from qbsync.errors import QbsyncError
    from qbsync.qbo.client import RetryPolicy

    try:
        with open_session(obj, state=False) as session:
            assert session.client is not None
            session.client.session.retry = RetryPolicy(max_attempts=2)
            return status.run_check(session.client, session.config.qbo.endpoints)
    except QbsyncError as exc:  # e.g. the token lock held by another process (exit 4)
        return status.CheckResult(ok=False, error=exc)


def _localized(obj: CliContext, doc: dict[str, Any]) -> dict[str, Any]:
    """The report with every `qbsync <command>` naming this invocation's profile/config."""
    doc = dict(doc)
    for key in ("error", "hint", "reason"):
        doc[key] = obj.localize(doc[key])
    doc["warnings"] = [obj.localize(w) or w for w in doc["warnings"]]
    if doc.get("check"):
        doc["check"] = {**doc["check"]}
        for key in ("error", "hint"):
            doc["check"][key] = obj.localize(doc["check"][key])
    return doc


def _state_row(status: dict[str, Any]) -> list[tuple[str, str]]:
    """The honest connection rows: what is known offline, and what a check found."""
    check = status.get("check")
    if check is None and status["exit_code"] and status["connected"] is None:  # no secret
        stored = "yes" if status["tokens_stored"] else "no"
        return [("Tokens stored", stored), ("Problem", f"{status['reason']}")]
    if not status["tokens_stored"]:
        return [("Connected", f"no: {status['reason']}; {status['hint']}")]
    if status["connected"] is False:
        return [("Connected", f"no: {status['reason']}; {status['hint']}")]
    if check is None:
        return [("Tokens stored", "yes (not checked; --check tests them)")]
    if check["ok"]:
        return [("Connected", f"yes (checked: QBO answered for {check['company_name'] or '-'})")]
    return [("Tokens stored", "yes"), ("Check failed", check["error"])]


def _render_text(obj: CliContext, report: StatusReport, now: datetime) -> None:
    from qbsync.cli import render

    status = _localized(obj, report.to_dict())
    elsewhere = report.issued_elsewhere

    def moment(key: str) -> str:
        value = status.get(key)
        return render.when(datetime.fromisoformat(value), now) if value else "-"

    def token_moment(key: str) -> str:
        # "in 59 min" would read as a usable token; JSON keeps the values (stable keys).
        return "- (issued by another server)" if elsewhere else moment(key)

    env = status["environment"]
    store = status["token_store"]
    source = f" (from {env['source']})" if env["source"] != "config" else ""
    rows = [
        ("Profile", status["profile"]),
        ("Environment", f"{env['name']} ({env['api_base']}){source}"),
        *_state_row(status),
        ("Company", status["company_name"] or "-"),
        ("Realm", status["realm_id"] or "-"),
        ("Enabled at", moment("enabled_at")),
        ("Token store", f"{store['kind']} ({store['location']})"),
        ("Access token expires", token_moment("access_token_expires_at")),
        ("Refresh token expires", token_moment("refresh_token_expires_at")),
        ("Refresh hard expiry", token_moment("refresh_token_hard_expires_at")),
    ]
    render.key_values("qbsync status", rows)
    for warning in status["warnings"]:
        render.warn(warning)
    _render_figures(obj, status)


def _when(value: Any) -> str | None:
    from qbsync.auth.token_endpoint import utcnow
    from qbsync.cli import render

    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return render.when(moment, utcnow())


# The vocabulary's words (sync/vocabulary.py), said the way `invoices --status` takes them.
_STATE_LABELS = {"waiting": "waiting (next export day)"}
_NEEDS_SOURCE = ("waiting", "blocked", "not-eligible", "changed")


def _render_figures(obj: CliContext, status: dict[str, Any]) -> None:
    from qbsync.cli import render

    members, invoices = status.get("members"), status.get("invoices")
    if members is not None:
        by = members["by_status"]
        render.key_values(
            "Members",
            [
                ("linked", f"{members['linked']} (auto {by.get('auto', 0)}, created "
                 f"{by.get('created', 0)}, manual {by.get('manual', 0)})"),
                *[(k.replace("_", " "), str(v)) for k, v in sorted(by.items())
                  if k not in ("auto", "created", "manual")],
            ],
        )  # fmt: skip
    if invoices is not None:
        by_state = invoices["by_state"]
        unread = "-" if not invoices["source_read"] else None  # counts that need the source
        source = invoices.get("source_problem")
        render.key_values(
            "Invoices",
            [
                *([("source", f"could not be read: {source}")] if source else []),
                *[(_STATE_LABELS.get(k, k), unread if unread and k in _NEEDS_SOURCE else str(v))
                  for k, v in by_state.items()],
                ("total differs in QBO", str(invoices["total_differences"])),
                ("totals checked against", invoices["totals_checked_against"]),
                ("last export", _when(invoices["last_export_at"]) or "never"),
                ("next export day", invoices["next_export_day"]
                 + (" (due now)" if invoices["due_now"] else "")),
                *([("served ahead (--as-of)", ", ".join(invoices["served_ahead"]))]
                  if invoices.get("served_ahead") else []),
                *_qbo_rows(invoices),
            ],
        )  # fmt: skip
    for part in (members, invoices):
        for problem in (part or {}).get("problems", []):
            render.warn(f"{problem['what']}: {obj.localize(problem['fix'])}")


def _qbo_rows(invoices: dict[str, Any]) -> list[tuple[str, str]]:
    """Exported invoices by QBO state (what `qbsync pull` last recorded) and when it ran."""
    states = invoices.get("qbo_states") or {}
    last = invoices.get("last_pull")
    ran = "never" if last is None else f"{_when(last['at'])} ({last['outcome'] or 'running'})"
    counted = ", ".join(f"{k} {v}" for k, v in states.items() if v)
    return [("in QBO (pull)", counted or "none exported"), ("last pull", ran)]


def register(group: click.Group) -> None:
    group.add_command(status_command)
