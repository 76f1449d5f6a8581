"""How `status` shows times to people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbsync.cli.render import when

NOW = datetime(2026, 11, 24, 22, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(milliseconds=-300), "(just now)"),
        (timedelta(seconds=-5), "(5 s ago)"),
        (timedelta(seconds=59 * 60), "(in 59 min)"),
        (timedelta(hours=-3), "(3 h ago)"),
        (timedelta(days=100), "(in 100 days)"),
        (timedelta(days=-13, hours=-1), "(13 days ago)"),
    ],
)
def test_relative_times(offset: timedelta, expected: str) -> None:
    assert when(NOW + offset, NOW).endswith(expected)


def test_no_time() -> None:
    assert when(None, NOW) == "-"


def test_key_values_into_a_pipe_are_plain_lines_without_trailing_spaces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from qbsync.cli.render import key_values

    key_values("qbsync status", [("Profile", "default"), ("Token store", "file (/d)"), ("X", "")])
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "qbsync status",
        "Profile      default",
        "Token store  file (/d)",
        "X",
    ]
