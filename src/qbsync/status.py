"""What `qbsync status` reports: ``build_status`` (pure: data in, a ``StatusReport`` out), and the
two reads it needs (``read_meta`` offline, ``run_check`` through the QBO gateway).

Offline, only the stored tokens are known: ``connected`` is true only when ``--check`` got an
answer from QBO with them, false when they are known to be unusable (none stored, refresh token
expired, issued by another environment, refused by QBO), and None when nothing says either way.
``figures`` carries the member and invoice figures (``qbsync.sync.figures``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from qbsync.auth.probe import unavailable_hint
from qbsync.auth.tokens import (
    ISSUER_META_KEY,
    issuer_mismatch,
    issuer_mismatch_hint,
    refresh_expiry_problem,
)
from qbsync.errors import AuthError, ExitCode, QboUnavailableError, QbsyncError

if TYPE_CHECKING:
    from qbsync.auth.credentials import TokenSet
    from qbsync.config import Config
    from qbsync.config.endpoints import Endpoints
    from qbsync.qbo.client import QboClient

# Warn this long before a refresh token dies: enough time to plan a reconnect.
REFRESH_WARNING = timedelta(days=14)
META_KEYS = ("realm_id", "enabled_at", "company_name", ISSUER_META_KEY)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 to the second, with its offset (UTC), or None."""
    return value.isoformat(timespec="seconds") if value is not None else None


@dataclass(frozen=True)
class CheckResult:
    """What ``--check`` found: the same fields whether it passed or failed."""

    ok: bool
    company_name: str | None = None
    country: str | None = None
    error: QbsyncError | None = None

    @property
    def exit_code(self) -> int:
        return int(self.error.exit_code) if self.error else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "company_name": self.company_name,
            "country": self.country,
            "error": self.error.message if self.error else None,
            "exit_code": self.exit_code,
            "hint": self.error.hint if self.error else None,
        }


@dataclass(frozen=True)
class StatusReport:
    """Everything `status` shows. ``problem`` is the error the command ends with (None: exit 0);
    ``to_dict`` is the ``--json`` document (stable keys, ISO date-times)."""

    profile: str
    config_path: str
    environment_name: str
    api_base: str
    environment_source: str  # "config" or the environment variable that overrides it
    token_store_kind: str
    token_store_location: str
    tokens: TokenSet | None
    tokens_issued_by: str | None
    connected: bool | None
    realm_id: str | None
    company_name: str | None
    enabled_at: datetime | str | None
    problem: QbsyncError | None
    reason: str | None = None  # the problem without its "not connected: " (the report's words)
    warnings: tuple[str, ...] = ()
    check: CheckResult | None = None
    figures: dict[str, Any] = field(default_factory=dict)  # "members", "invoices"

    @property
    def exit_code(self) -> int:
        return int(self.problem.exit_code) if self.problem else int(ExitCode.OK)

    @property
    def issued_elsewhere(self) -> bool:
        """The stored tokens came from another server: their expiry times mean nothing here."""
        issued = self.tokens_issued_by
        return bool(self.tokens and issued and issued.rstrip("/") != self.api_base.rstrip("/"))

    def to_dict(self) -> dict[str, Any]:
        tokens = self.tokens
        enabled = self.enabled_at
        return {
            "ok": self.problem is None,
            "exit_code": self.exit_code,
            "error": self.reason,
            "hint": self.problem.hint if self.problem else None,
            "profile": self.profile,
            "config_path": self.config_path,
            "environment": {
                "name": self.environment_name,
                "api_base": self.api_base,
                "source": self.environment_source,
            },
            "tokens_stored": tokens is not None,
            "tokens_issued_by": self.tokens_issued_by,
            "connected": self.connected,
            "reason": self.reason,
            "realm_id": self.realm_id,
            "company_name": self.company_name,
            "enabled_at": iso(enabled) if isinstance(enabled, datetime) else enabled,
            "token_store": {"kind": self.token_store_kind, "location": self.token_store_location},
            "access_token_expires_at": iso(tokens.access_expires_at) if tokens else None,
            "refresh_token_expires_at": iso(tokens.refresh_expires_at) if tokens else None,
            "refresh_token_hard_expires_at": iso(tokens.refresh_hard_expires_at)
            if tokens
            else None,
            "warnings": list(self.warnings),
            "check": self.check.to_dict() if self.check else None,
            **self.figures,
        }


def build_status(
    config: Config,
    *,
    store_kind: str,
    store_location: str,
    tokens: TokenSet | None,
    meta: dict[str, str | None],
    now: datetime,
    check: CheckResult | None = None,
    secret_problem: QbsyncError | None = None,
    environment_source: str = "config",
    figures: dict[str, Any] | None = None,
) -> StatusReport:
    """The report for what was read (no I/O). The problem, in order: no client secret (cron could
    not refresh), no tokens, tokens unusable here, then what ``--check`` found."""
    endpoints = config.qbo.endpoints
    issued_by = meta.get(ISSUER_META_KEY)
    unusable: tuple[str, str] | None = None  # (why, next step)
    if tokens is not None:
        expired = refresh_expiry_problem(tokens, now)
        mismatch = None if expired else issuer_mismatch(issued_by, endpoints)
        if expired:
            unusable = (expired, "run `qbsync auth`")
        elif mismatch:
            unusable = (mismatch, issuer_mismatch_hint())
    if tokens is None:
        unusable = ("no tokens stored", "run `qbsync auth`")
    connected: bool | None = None
    problem: QbsyncError | None = secret_problem
    if unusable is not None:
        connected = False
        problem = problem or AuthError(f"not connected: {unusable[0]}", hint=unusable[1])
    elif check is not None:
        connected = (
            True if check.ok else (False if check.exit_code == ExitCode.AUTH_NEEDED else None)
        )
        problem = problem or check.error
    if problem is None:
        reason = None
    elif problem is secret_problem or problem is (check.error if check else None):
        reason = problem.message
    else:
        reason = unusable[0] if unusable else problem.message
    warnings: list[str] = []
    if unusable is None and tokens is not None:
        for label, moment in (
            ("refresh token", tokens.refresh_expires_at),
            ("refresh token (hard limit)", tokens.refresh_hard_expires_at),
        ):
            if moment is not None and moment - now < REFRESH_WARNING:
                days = max(0, (moment - now).days)
                warnings.append(
                    f"the {label} expires in {days} days ({iso(moment)}); "
                    "run `qbsync auth` before then"
                )
    realm_in_state = meta.get("realm_id")
    if tokens is not None and realm_in_state and realm_in_state != tokens.realm_id:
        warnings.append(
            f"the tokens are for company {tokens.realm_id} but the state belongs to "
            f"{realm_in_state}; run `qbsync auth`"
        )
    config_enabled = config.export.enabled_at
    state_enabled = _parse_time(meta.get("enabled_at"))
    if not realm_in_state and (tokens is not None or config_enabled is not None):
        warnings.append(
            "the state holds no export history (it is new or empty): syncing waits until "
            "`qbsync state rebuild` restores it from QBO (or `qbsync state rebuild --fresh` "
            "starts over from now)"
        )
    elif isinstance(state_enabled, datetime) and config_enabled not in (None, state_enabled):
        warnings.append(
            f"[export] enabled_at in the config ({iso(config_enabled)}) differs from the "
            f"state's ({iso(state_enabled)}); the state's is used"
        )
    company = (check.company_name if check and check.ok else None) or meta.get("company_name")
    return StatusReport(
        profile=config.profile,
        config_path=str(config.path),
        environment_name=endpoints.name,
        api_base=endpoints.api_base,
        environment_source=environment_source,
        token_store_kind=store_kind,
        token_store_location=store_location,
        tokens=tokens,
        tokens_issued_by=issued_by,
        connected=connected,
        realm_id=tokens.realm_id if tokens else realm_in_state,
        company_name=company,
        enabled_at=state_enabled or config_enabled,
        problem=problem,
        reason=reason,
        warnings=tuple(warnings),
        check=check,
        figures=dict(figures or {}),
    )


def _parse_time(value: str | None) -> datetime | str | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return value


def read_meta(config: Config) -> dict[str, str | None]:
    """What the state records about the connection; {} without creating a state database."""
    if not config.state_path.exists():
        return {}
    from qbsync.state.db import State

    with State.open(config.state_path) as state:
        return {key: state.get_meta(key) for key in META_KEYS}


def checkable(report: StatusReport) -> bool:
    """Whether ``--check`` may send the stored tokens (stored, usable here, secret present):
    ``build_status`` without a check found no problem."""
    return report.problem is None


def run_check(client: QboClient, endpoints: Endpoints) -> CheckResult:
    """CompanyInfo through the gateway. QBO unavailable gets the next step for who failed: an
    emulator that is running but failed (a 500, a hang) is not asked whether it runs."""
    try:
        info = client.company_info()
    except QboUnavailableError as exc:
        hint = None if "hint" in vars(exc) else unavailable_hint(endpoints, exc)
        if hint is None:
            return CheckResult(ok=False, error=exc)
        return CheckResult(
            ok=False, error=QboUnavailableError(exc.message, status=exc.status, hint=hint)
        )
    except QbsyncError as exc:
        return CheckResult(ok=False, error=exc)
    name, country = info.get("CompanyName"), info.get("Country")
    return CheckResult(True, str(name) if name else None, str(country) if country else None)
