"""The one vocabulary: every skip reason and stored state maps to a word of it."""

from __future__ import annotations

from qbsync.sync.eligibility import REASON_CODES, SETTLED_STATES
from qbsync.sync.vocabulary import (
    EXPORT_ROW_STATE,
    INVOICE_STATES,
    MEMBER_STATES,
    PROBLEM_STATES,
    SKIP_STATE,
    Problem,
    member_state,
)


def test_every_skip_reason_and_stored_export_state_has_a_word() -> None:
    assert set(SKIP_STATE) == set(REASON_CODES)
    assert set(EXPORT_ROW_STATE) == set(SETTLED_STATES)
    assert set(SKIP_STATE.values()) | set(EXPORT_ROW_STATE.values()) <= set(INVOICE_STATES)
    assert set(INVOICE_STATES) >= PROBLEM_STATES


def test_stored_member_statuses_read_as_the_vocabulary() -> None:
    assert member_state("needs_review") == "needs-review"
    assert member_state("auto") == "linked"
    assert member_state("no_email") == "no-email"
    assert {member_state(s) for s in ("auto", "created", "manual")} <= set(MEMBER_STATES)


def test_a_problem_carries_its_fix() -> None:
    problem = Problem(
        "invoice A refused: item X unmapped", "add X to [export.items]", "invoice", "A"
    )
    assert problem.to_dict()["fix"] == "add X to [export.items]"
    assert problem.to_dict()["record"] == "A"
