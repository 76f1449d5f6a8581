"""`qbsync status`: is this profile connected, to which company, and for how long still.

Offline by default (reads the config, the token store and the state; no network), so cron and
monitoring can call it often. ``--check`` proves the connection with a CompanyInfo call, which
refreshes the tokens when needed. Exit 3 when not connected (no tokens, refresh token expired,
or --check refused), so a monitoring job can alert on it.

``build_status`` is pure (data in, dict out) so later issues can add sync figures to it; the
renderers turn the dict into a table or one JSON object.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from qbsync.cli import render
from qbsync.cli.main import CliContext
from qbsync.config import Config, load_config
from qbsync.credentials import CredentialStore, TokenSet, open_store
from qbsync.errors import AuthError, QbsyncError
from qbsync.oauth import utcnow
from qbsync.qbo import QboClient
from qbsync.state import State
from qbsync.tokens import refresh_expiry_problem, token_manager_for

# Warn this long before a refresh token dies: enough time to plan a reconnect.
REFRESH_WARNING = timedelta(days=14)


def build_status(
    config: Config,
    *,
    store_kind: str,
    store_location: str,
    tokens: TokenSet | None,
    meta: dict[str, str | None],
    now: datetime,
    check: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything `status` shows, as plain data with stable keys and ISO date-times."""
    endpoints = config.qbo.endpoints
    warnings: list[str] = []
    problem = refresh_expiry_problem(tokens, now) if tokens else None
    if tokens is None:
        reason: str | None = "no tokens stored; run `qbsync auth`"
    elif problem:
        reason = f"{problem}; run `qbsync auth`"
    else:
        reason = None
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
    if check is not None and not check.get("ok"):
        reason = reason or str(check.get("error"))
    return {
        "profile": config.profile,
        "config_path": str(config.path),
        "environment": {"name": endpoints.name, "api_base": endpoints.api_base},
        "connected": reason is None,
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
        return {key: state.get_meta(key) for key in ("realm_id", "enabled_at", "company_name")}
    finally:
        state.close()


def _check(config: Config, store: CredentialStore) -> tuple[dict[str, Any], QbsyncError | None]:
    """CompanyInfo through the gateway: the check's result, and the error when it failed."""
    try:
        info = QboClient(config, token_manager_for(config, store=store)).company_info()
    except QbsyncError as exc:
        failed = {"ok": False, "error": exc.message, "exit_code": int(exc.exit_code)}
        return {**failed, "hint": exc.hint}, exc
    ok = {"ok": True, "company_name": info.get("CompanyName"), "country": info.get("Country")}
    return ok, None


def _render_text(status: dict[str, Any], now: datetime) -> None:
    def moment(key: str) -> str:
        value = status.get(key)
        return render.when(datetime.fromisoformat(value), now) if value else "-"

    env = status["environment"]
    store = status["token_store"]
    rows = [
        ("Profile", status["profile"]),
        ("Environment", f"{env['name']} ({env['api_base']})"),
        ("Connected", "yes" if status["connected"] else f"no: {status['reason']}"),
        ("Company", status["company_name"] or "-"),
        ("Realm", status["realm_id"] or "-"),
        ("Enabled at", moment("enabled_at")),
        ("Token store", f"{store['kind']} ({store['location']})"),
        ("Access token expires", moment("access_token_expires_at")),
        ("Refresh token expires", moment("refresh_token_expires_at")),
        ("Refresh hard expiry", moment("refresh_token_hard_expires_at")),
    ]
    check = status.get("check")
    if check is not None:
        rows.append(
            (
                "Check",
                f"OK: {check.get('company_name')}" if check["ok"] else f"failed: {check['error']}",
            )
        )
    render.key_values("qbsync status", rows)
    for warning in status["warnings"]:
        render.warn(warning)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout (for scripts).")
@click.option("--check", is_flag=True, help="Call QBO (CompanyInfo) to prove the connection works.")
def status_command(as_json: bool, check: bool) -> None:
    """Show the QBO connection: company, token store, token expiry. Exit 3 when not connected."""
    obj = CliContext.get()
    config = load_config(obj.config_path, profile=obj.profile, data_dir=obj.data_dir)
    store = open_store(config.token_store, profile=config.profile, data_dir=config.data_dir)
    tokens = store.load_tokens()
    now = utcnow()
    checked, check_error = _check(config, store) if check and tokens is not None else (None, None)
    if checked is not None and checked["ok"]:
        tokens = store.load_tokens()  # the check may have refreshed them
    meta = _read_meta(config)
    if checked is not None and checked.get("company_name"):
        meta["company_name"] = str(checked["company_name"])
    status = build_status(
        config,
        store_kind=store.kind,
        store_location=store.location,
        tokens=tokens,
        meta=meta,
        now=now,
        check=checked,
    )
    if as_json:
        render.emit_json(status)
    else:
        _render_text(status, now)
    if not status["connected"]:
        # The report is out; the error goes through the one place that maps errors to exit
        # codes (cli/main.py): the check's own error, else "not connected" (exit 3).
        raise check_error or AuthError(f"not connected: {status['reason']}")


def register(group: click.Group) -> None:
    group.add_command(status_command)
