"""`qbsync status`: is this profile connected, to which company, and for how long still.

Offline by default (reads the config, the token store and the state; no network), so cron and
monitoring can call it often. Offline, it can only say that tokens are *stored* (and not known to
be unusable); ``--check`` proves the connection with a CompanyInfo call, which refreshes the tokens
when needed. Exit codes: 0 tokens stored (offline) or the check passed; 1 the check could not
reach QBO (the tokens are not known to be bad); 2 configuration problem (e.g. no client secret);
3 not connected (no tokens, refresh token expired, tokens issued by another environment, or QBO
refused them); 4 another process held the token lock.

``build_status`` is pure (data in, dict out) so later issues can add sync figures to it; the
renderers turn the dict into a table or one JSON object. With ``--json`` exactly one JSON object
is printed on stdout, also when status fails before it has a report (``{"ok": false, ...}``).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import click

from qbsync.auth import probe
from qbsync.auth.credentials import CredentialStore, TokenSet, resolve_client_secret
from qbsync.auth.token_endpoint import utcnow
from qbsync.auth.tokens import (
    ISSUER_META_KEY,
    issuer_mismatch,
    issuer_mismatch_hint,
    refresh_expiry_problem,
    token_manager_for,
)
from qbsync.cli import render
from qbsync.cli.context import CliContext
from qbsync.cli.hints import localize
from qbsync.config import Config
from qbsync.config.checks import ENVIRONMENT_ENV
from qbsync.errors import AuthError, ExitCode, QboUnavailableError, QbsyncError
from qbsync.qbo.client import QboClient, RetryPolicy
from qbsync.state.db import State

# A check is a probe, not a sync: one retry on a network error or 5xx, then report.
CHECK_RETRY = RetryPolicy(max_attempts=2)
# Warn this long before a refresh token dies: enough time to plan a reconnect.
REFRESH_WARNING = timedelta(days=14)


CHECK_KEYS = ("ok", "company_name", "country", "error", "exit_code", "hint")


def check_result(
    company_name: str | None = None,
    country: str | None = None,
    error: QbsyncError | None = None,
) -> dict[str, Any]:
    """The ``check`` object: the same keys whether the check passed or failed."""
    return {
        "ok": error is None,
        "company_name": company_name,
        "country": country,
        "error": error.message if error else None,
        "exit_code": int(error.exit_code) if error else 0,
        "hint": error.hint if error else None,
    }


def build_status(
    config: Config,
    *,
    store_kind: str,
    store_location: str,
    tokens: TokenSet | None,
    meta: dict[str, str | None],
    now: datetime,
    check: dict[str, Any] | None = None,
    secret_problem: QbsyncError | None = None,
    environment_from_env: bool = False,
) -> dict[str, Any]:
    """Everything `status` shows, as plain data with stable keys and ISO date-times.

    ``connected``: true only when ``--check`` got an answer from QBO with the tokens; false when
    they are known to be unusable (none stored, refresh token expired, issued by another
    environment, refused by QBO); null when nothing says either way (offline, or the check could
    not reach QBO). ``tokens_stored`` is the offline fact. ``exit_code`` is what the command
    exits with; ``error``/``hint`` say why when it is not 0.
    """
    endpoints = config.qbo.endpoints
    warnings: list[str] = []
    issued_by = meta.get(ISSUER_META_KEY)
    problem = refresh_expiry_problem(tokens, now) if tokens else None
    problem_hint = "run `qbsync auth`"
    if tokens is not None and problem is None:
        problem = issuer_mismatch(issued_by, endpoints)
        problem_hint = issuer_mismatch_hint()
    reason: str | None = None
    hint: str | None = None
    exit_code = ExitCode.OK
    connected: bool | None = None
    if secret_problem is not None:
        reason, hint = secret_problem.message, secret_problem.hint
        exit_code = ExitCode(secret_problem.exit_code)
    if tokens is None:
        connected = False
        if secret_problem is None:
            reason, hint, exit_code = "no tokens stored", "run `qbsync auth`", ExitCode.AUTH_NEEDED
    elif problem:
        connected = False
        if secret_problem is None:
            reason, hint, exit_code = problem, problem_hint, ExitCode.AUTH_NEEDED
    elif check is not None:
        if check["ok"]:
            connected = True
        else:
            connected = False if check["exit_code"] == ExitCode.AUTH_NEEDED else None
            reason, hint = check["error"], check["hint"]
            exit_code = ExitCode(check["exit_code"])
    if tokens is not None and problem is None:
        for label, moment in (
            ("refresh token", tokens.refresh_expires_at),
            ("refresh token (hard limit)", tokens.refresh_hard_expires_at),
        ):
            if moment is not None and moment - now < REFRESH_WARNING:
                days = max(0, (moment - now).days)
                warnings.append(
                    f"the {label} expires in {days} days ({render.iso(moment)}); "
                    "run `qbsync auth` before then"
                )
    realm_in_state = meta.get("realm_id")
    if tokens is not None and realm_in_state and realm_in_state != tokens.realm_id:
        warnings.append(
            f"the tokens are for company {tokens.realm_id} but the state belongs to "
            f"{realm_in_state}; run `qbsync auth`"
        )
    return {
        "ok": exit_code == ExitCode.OK,
        "exit_code": int(exit_code),
        "error": reason,
        "hint": hint,
        "profile": config.profile,
        "config_path": str(config.path),
        "environment": {
            "name": endpoints.name,
            "api_base": endpoints.api_base,
            "source": ENVIRONMENT_ENV if environment_from_env else "config",
        },
        "tokens_stored": tokens is not None,
        "tokens_issued_by": issued_by,
        "connected": connected,
        "reason": reason,
        "realm_id": tokens.realm_id if tokens else realm_in_state,
        "company_name": meta.get("company_name"),
        "enabled_at": _iso_text(meta.get("enabled_at")),
        "token_store": {"kind": store_kind, "location": store_location},
        "access_token_expires_at": render.iso(tokens.access_expires_at) if tokens else None,
        "refresh_token_expires_at": render.iso(tokens.refresh_expires_at) if tokens else None,
        "refresh_token_hard_expires_at": (
            render.iso(tokens.refresh_hard_expires_at) if tokens else None
        ),
        "warnings": warnings,
        "check": check,
    }


def _iso_text(value: str | None) -> str | None:
    """An ISO date-time from the state, shown to the second like the other times."""
    if not value:
        return None
    try:
        return render.iso(datetime.fromisoformat(value))
    except ValueError:
        return value


def _read_meta(config: Config) -> dict[str, str | None]:
    # Do not create a state database just to look at it.
    if not config.state_path.exists():
        return {}
    state = State.open(config.state_path)
    try:
        keys = ("realm_id", "enabled_at", "company_name", ISSUER_META_KEY)
        return {key: state.get_meta(key) for key in keys}
    finally:
        state.close()


def _check(config: Config, store: CredentialStore) -> tuple[dict[str, Any], QbsyncError | None]:
    """CompanyInfo through the gateway: the check's result, and the error when it failed."""
    try:
        manager = token_manager_for(config, store=store)
        info = QboClient(config.qbo, manager, retry=CHECK_RETRY).company_info()
    except QbsyncError as exc:
        if isinstance(exc, QboUnavailableError) and "hint" not in vars(exc):
            # The class's generic hint would only repeat "could not be reached".
            exc.hint = probe.unreachable_hint(config.qbo.endpoints)
        return check_result(error=exc), exc
    name, country = info.get("CompanyName"), info.get("Country")
    return check_result(str(name) if name else None, str(country) if country else None), None


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


def _issued_elsewhere(status: dict[str, Any]) -> bool:
    """The stored tokens came from another server: their expiry times mean nothing here."""
    issued_by = status.get("tokens_issued_by")
    here = status["environment"]["api_base"]
    return bool(status["tokens_stored"] and issued_by and issued_by.rstrip("/") != here.rstrip("/"))


def _render_text(status: dict[str, Any], now: datetime) -> None:
    elsewhere = _issued_elsewhere(status)

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


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout (for scripts).")
@click.option("--check", is_flag=True, help="Call QBO (CompanyInfo) to prove the connection works.")
def status_command(as_json: bool, check: bool) -> None:
    """Show the QBO connection: company, token store, token expiry.

    \b
    Exit codes:
      0  tokens stored (or, with --check, QBO answered)
      1  --check could not reach QBO (the tokens were kept)
      2  configuration problem (config file, no client secret)
      3  not connected (run `qbsync auth`)
      4  another qbsync process held the token lock during --check
    """
    obj = CliContext.get()
    try:
        _status(obj, as_json, check)
    except _Reported:
        raise
    except QbsyncError as exc:
        exc.message = localize(obj, exc.message) or exc.message
        if exc.hint:
            exc.hint = localize(obj, exc.hint)
        if as_json:  # no report was printed: the error as the one JSON object
            render.emit_json(
                {
                    "ok": False,
                    "error": exc.message,
                    "exit_code": int(exc.exit_code),
                    "hint": exc.hint,
                }
            )
        raise
    except Exception as exc:
        if as_json:
            render.emit_json(
                {
                    "ok": False,
                    "error": f"unexpected {type(exc).__name__}: {exc}",
                    "exit_code": int(ExitCode.UNEXPECTED),
                    "hint": "set QBSYNC_DEBUG=1 for a traceback",
                }
            )
        raise


class _Reported(QbsyncError):
    """The report is printed; only the exit code (and the Error/Next step lines) remain."""

    def __init__(self, message: str, *, hint: str | None, exit_code: int) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = ExitCode(exit_code)


def _localize_report(obj: CliContext, status: dict[str, Any]) -> None:
    """Every `qbsync ...` next step in the report names this invocation's profile/config."""
    for key in ("error", "hint", "reason"):
        status[key] = localize(obj, status[key])
    status["warnings"] = [localize(obj, w) or w for w in status["warnings"]]
    if status.get("check"):
        for key in ("error", "hint"):
            status["check"][key] = localize(obj, status["check"][key])


def _status(obj: CliContext, as_json: bool, check: bool) -> None:
    config, store = obj.load()
    tokens = store.load_tokens()
    now = utcnow()
    meta = _read_meta(config)
    secret_problem: QbsyncError | None = None
    try:
        resolve_client_secret(store)  # cron needs it to refresh: a missing one is a config error
    except QbsyncError as exc:
        secret_problem = exc
    mismatch = tokens is not None and issuer_mismatch(
        meta.get(ISSUER_META_KEY), config.qbo.endpoints
    )
    checked: dict[str, Any] | None = None
    check_error: QbsyncError | None = None
    if check and tokens is not None and secret_problem is None and not mismatch:
        checked, check_error = _check(config, store)
        if checked["ok"]:
            tokens = store.load_tokens()  # the check may have refreshed them
            if checked.get("company_name"):
                meta["company_name"] = str(checked["company_name"])
    status = build_status(
        config,
        store_kind=store.kind,
        store_location=store.location,
        tokens=tokens,
        meta=meta,
        now=now,
        check=checked,
        secret_problem=secret_problem,
        environment_from_env=bool(os.environ.get(ENVIRONMENT_ENV, "").strip()),
    )
    _localize_report(obj, status)
    if as_json:
        render.emit_json(status)
    else:
        _render_text(status, now)
    if status["exit_code"]:
        # The report is out; the error goes through the one place that maps errors to exit
        # codes (cli/main.py), with the same words as the report.
        error = check_error or secret_problem
        if error is None:
            error = AuthError(f"not connected: {status['reason']}", hint=status["hint"])
        raise _Reported(
            localize(obj, error.message) or error.message,
            hint=localize(obj, error.hint),
            exit_code=status["exit_code"],
        )


def register(group: click.Group) -> None:
    group.add_command(status_command)
