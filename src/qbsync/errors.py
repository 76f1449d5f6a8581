"""One exception hierarchy for qbsync.

Every error the engine raises on purpose is a ``QbsyncError``. Each class carries the exit code
cron and CI read (see docs/architecture.md) and, where there is one, the next step to suggest.
Only ``qbsync.cli.main`` turns these into a message and an exit code.

Messages must never contain a secret (client secret, access or refresh token): build them from
names, ids and field paths, not from request or response bodies that may hold tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

# How an error's message names Intuit's transaction id (the `intuit_tid` response header), which
# Intuit's support asks for; state/runs.py finds it in recorded messages by this label.
TID_LABEL = "Intuit transaction id"
_TID_IN_TEXT = re.compile(re.escape(TID_LABEL) + r" ([A-Za-z0-9._-]{1,100})")


def tid_in(text: str | None) -> str | None:
    """The Intuit transaction id a message names, if any."""
    found = _TID_IN_TEXT.search(text or "")
    return found.group(1) if found else None


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    AUTH_NEEDED = 3
    LOCKED = 4
    PARTIAL = 5
    INTERRUPTED = 130


@dataclass(frozen=True)
class ExitCodeInfo:
    code: ExitCode
    meaning: str

    @property
    def name(self) -> str:
        return self.code.name


# The one table of exit codes: README.md, docs/auth.md, crontab.example and every command's
# --help epilog say the same (tests/cli/test_exit_codes.py checks them against this).
EXIT_CODES: tuple[ExitCodeInfo, ...] = (
    ExitCodeInfo(ExitCode.OK, "done, or nothing due"),
    ExitCodeInfo(ExitCode.UNEXPECTED, "unexpected error (or QBO could not be reached)"),
    ExitCodeInfo(ExitCode.USAGE, "usage or configuration error"),
    ExitCodeInfo(ExitCode.AUTH_NEEDED, "QBO authorization needed: run `qbsync auth`"),
    ExitCodeInfo(ExitCode.LOCKED, "another qbsync run holds the lock"),
    ExitCodeInfo(ExitCode.PARTIAL, "finished, but some records need you (listed)"),
    ExitCodeInfo(ExitCode.INTERRUPTED, "interrupted (Ctrl-C)"),
)


def exit_codes_epilog() -> str:
    """The exit-code table as the plain lines each command's --help ends with."""
    lines = ["Exit codes:"]
    lines += [f"  {int(row.code):>3}  {row.meaning}" for row in EXIT_CODES]
    return "\n".join(lines)


class QbsyncError(Exception):
    """Base of every expected qbsync failure."""

    exit_code: ExitCode = ExitCode.UNEXPECTED
    hint: str | None = None
    # Intuit's transaction id of the QBO answer behind this error (qbo/faults.py sets it; an
    # AuthError from a 401 has one too), None when there was no answer.
    intuit_tid: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(QbsyncError):
    """The configuration file or a command-line value is missing or wrong (exit 2)."""

    exit_code = ExitCode.USAGE


class UsageError(QbsyncError):
    """The operator asked for something that cannot be done as asked (exit 2)."""

    exit_code = ExitCode.USAGE


class AuthError(QbsyncError):
    """QBO authorization is missing, expired or revoked: the operator must run `qbsync auth` (exit 3)."""

    exit_code = ExitCode.AUTH_NEEDED
    hint = "run `qbsync auth`"


class OAuthFlowError(QbsyncError):
    """The browser/paste authorization flow failed (denied, wrong state, timed out) (exit 3)."""

    exit_code = ExitCode.AUTH_NEEDED


class LockedError(QbsyncError):
    """Another qbsync run holds the lock (exit 4)."""

    exit_code = ExitCode.LOCKED
    hint = "wait for the other qbsync run to finish, then try again"


class StateError(QbsyncError):
    """The local state database is unusable or belongs to another company (exit 2)."""

    exit_code = ExitCode.USAGE


class CredentialStoreError(QbsyncError):
    """The credential store (keyring or token file) could not be read or written (exit 1)."""

    exit_code = ExitCode.UNEXPECTED


class CorruptTokenFileError(CredentialStoreError):
    """The token file is not one qbsync wrote, or its tokens are unreadable (exit 2, like a
    corrupt state database; the token file, unlike the state, may be moved aside)."""

    exit_code = ExitCode.USAGE


class QboError(QbsyncError):
    """QBO answered with a fault, or could not be reached (exit 1 unless a subclass says otherwise).

    ``code`` is QBO's error code as a string ("6240", "5010", "3001"...), ``status`` the HTTP status,
    ``intuit_tid`` Intuit's transaction id of the answer (the message names it too).
    """

    exit_code = ExitCode.UNEXPECTED

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        detail: str | None = None,
        element: str | None = None,
        hint: str | None = None,
        intuit_tid: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status
        self.detail = detail
        self.element = element
        self.intuit_tid = intuit_tid


class QboValidationError(QboError):
    """QBO refused a record (6240 duplicate name, 2500 invalid reference, 610 not found...)."""


class QboStaleObjectError(QboValidationError):
    """Update sent with an out-of-date SyncToken (5010)."""


class QboThrottledError(QboError):
    """QBO answered 429 / 3001 ThrottleExceeded and retries were exhausted."""

    hint = "QBO is throttling this company; try again in a minute"


class QboUnavailableError(QboError):
    """QBO could not be reached or answered 5xx after retries."""

    hint = "try again later; if it keeps failing, check this machine's network and Intuit's status page"


class QboUnclearOutcomeError(QboUnavailableError):
    """A write may or may not have been done: the connection failed or QBO answered 5xx after it
    was sent, or QBO's batch answer left the item out. Look in QBO (by requestid's record keys,
    DocNumber, email...) before creating again; re-sending with the same requestid is the other
    way, but QBO's requestid replay is unreliable (qbo-facts.md "Idempotency")."""

    hint = "the change may or may not have reached QBO; check QBO before sending it again"


class QboInvalidRequestError(QbsyncError, ValueError):
    """qbsync was asked to send a request QBO would refuse (a batch over 30 items, a requestid
    over its limit, a query value with a control character, CDC older than 30 days...).
    Raised before anything is sent; a bug in the caller, not a QBO answer (exit 1)."""

    exit_code = ExitCode.UNEXPECTED


class SourceError(QbsyncError):
    """The membership platform failed as a whole: refused the token, kept answering 5xx, sent
    something that is not its API's JSON (exit 1). Messages name the URL and the HTTP status,
    never the token. A missing file or column is a ``ConfigError`` instead."""

    exit_code = ExitCode.UNEXPECTED
    hint = "check that the membership platform is up and [source] in the config points at it"


class RecordsFailedError(QbsyncError):
    """The run finished, but some records need the operator; they were listed (exit 5)."""

    exit_code = ExitCode.PARTIAL
