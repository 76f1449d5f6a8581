"""The record of a run that stopped before it finished (sync/runrecord.stopped): one rule for
export, connect-members and pull."""

from __future__ import annotations

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
