"""The record of a run that stopped before it finished (sync/runrecord.stopped): one rule for
export, connect-members and pull."""

from __future__ import annotations

import pytest

from qbsync.errors import QboUnavailableError, UsageError
from qbsync.sync.runrecord import stopped


def test_ctrl_c_is_interrupted_with_exit_130() -> None:
    record = stopped("export", 7, KeyboardInterrupt())
    assert (record.status, record.exit_code, record.id) == ("interrupted", 130, 7)


def test_a_qbsync_error_keeps_its_exit_code_and_message() -> None:
    record = stopped("pull", 3, QboUnavailableError("QBO could not be reached"))
    assert (record.status, record.exit_code) == ("error", QboUnavailableError("x").exit_code)
    assert record.error == "QBO could not be reached"
    assert stopped("connect-members", 1, UsageError("bad")).exit_code == 2


def test_anything_else_is_an_unexpected_error_exit_1() -> None:
    record = stopped("export", 1, ValueError())
    assert (record.status, record.exit_code, record.error) == ("error", 1, "ValueError")


def test_a_problem_line_names_its_command_once() -> None:
    from qbsync.sync.runrecord import problem_line
    from qbsync.sync.vocabulary import Problem

    named = Problem(
        "member m-3 needs review; pick one with `qbsync link m-3 <id>`", "pick: qbsync link m-3"
    )
    assert problem_line(named) == named.what
    other = Problem("invoice i1 refused: item X unmapped", "add X under [export.items]")
    assert problem_line(other) == f"{other.what}; {other.fix}"


def test_the_log_leaves_out_invoices_still_held_but_not_an_undo_holding_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from qbsync.sync.runrecord import Outcome, RunRecord, log_finish

    record = RunRecord("export", 4)
    record.outcomes = [
        Outcome("invoice", "i1", "skip", "held", "held by the operator"),
        Outcome("invoice", "i2", "undo", "held", "QBO invoice 9 voided; undone in run 3"),
    ]
    with caplog.at_level("INFO", logger="qbsync.run"):
        log_finish(record)
    text = caplog.text
    assert "invoice i2" in text and "invoice i1" not in text
