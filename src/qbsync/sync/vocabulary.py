"""The one vocabulary every view uses: what state a platform invoice or a member is in.

`export`, `status`, `runs`, `invoices`, `report`, the log file and every `--json` name states with
these words and nothing else, so an operator who reads "blocked" in cron mail finds the same
word in `qbsync invoices --status blocked`.

Invoices (each invoice qbsync knows is in exactly one):
- ``waiting``: goes on the next export day.
- ``in-flight``: sent; its outcome is being settled against QBO.
- ``exported``: in QBO, once.
- ``failed``: QBO refused it; sent again by the next export.
- ``refused``: qbsync will not send it until something is fixed (item mapping, currency, a
  number QBO cannot hold, a bad row).
- ``blocked``: its member is not connected (needs review, unmatched, no email, not connected yet).
- ``held``: set aside by the operator (`qbsync hold`); never sent until `qbsync release`.
- ``not-eligible``: created before enablement, a status that is not exported, or its member was
  unlinked by hand: counted and listable, never a problem.
- ``changed``: exported, then changed at the platform.

Members: ``linked``, ``created``, ``manual``, ``needs-review``, ``unmatched``, ``unlinked``,
``no-email``.

A *problem* is anything that needs the operator: an invoice ``failed``, ``refused``, ``blocked``
or ``changed``; an exported invoice whose QBO total differs; a member needing review; a source
that cannot be read. Each carries the command or config line that fixes it (``Problem.fix``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

InvoiceState = Literal[
    "waiting",
    "in-flight",
    "exported",
    "failed",
    "refused",
    "blocked",
    "held",
    "not-eligible",
    "changed",
]
INVOICE_STATES: tuple[InvoiceState, ...] = get_args(InvoiceState)
# The invoice states that need the operator (a total difference on an exported invoice is one too).
PROBLEM_STATES: frozenset[str] = frozenset({"failed", "refused", "blocked", "changed"})

MemberState = Literal[
    "linked", "created", "manual", "needs-review", "unmatched", "unlinked", "no-email"
]
MEMBER_STATES: tuple[MemberState, ...] = get_args(MemberState)

# eligibility.REASON_CODES -> the state an invoice skipped for that reason is in.
SKIP_STATE: dict[str, InvoiceState] = {
    "before_enabled": "not-eligible",
    "status": "not-eligible",
    "member_unlinked": "not-eligible",  # unlinked by hand: the operator's choice, not a problem
    "already_exported": "exported",
    "in_flight": "in-flight",
    "member_unknown": "blocked",
    "member_not_connected": "blocked",
    "member_needs_review": "blocked",
    "held": "held",
}

# What the state database stores (exports.state, links.how, members.status) -> the vocabulary.
EXPORT_ROW_STATE: dict[str, InvoiceState] = {
    "exported": "exported",
    "exporting": "in-flight",
    "failed": "failed",
}
MEMBER_ROW_STATE: dict[str, MemberState] = {
    "auto": "linked",
    "linked": "linked",
    "created": "created",
    "manual": "manual",
    "needs_review": "needs-review",
    "needs-review": "needs-review",
    "unmatched": "unmatched",
    "unlinked": "unlinked",
    "no_email": "no-email",
    "no-email": "no-email",
}


def member_state(stored: str) -> MemberState | str:
    """A stored member status in the vocabulary (an unknown one is passed through unchanged)."""
    return MEMBER_ROW_STATE.get(stored, stored)


@dataclass(frozen=True)
class Problem:
    """Something that needs the operator, with the command or config line that fixes it.

    ``record``: the invoice or member id (None for a problem of the whole run, e.g. a source
    that cannot be read); ``kind``: "invoice" | "member" | "source" | "qbo" | "schedule"...;
    ``state``: the vocabulary word when it is a record's state."""

    what: str
    fix: str
    kind: str = "run"
    record: str | None = None
    state: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "record": self.record,
            "state": self.state,
            "what": self.what,
            "fix": self.fix,
        }
