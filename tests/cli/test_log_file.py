"""--log-file: never through a planted symlink, never into another user's file, created 0600 in
folders nobody else can write to, and every problem opening it a clear error (exit 2)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qbsync.cli.main import _setup_logging, cli


@pytest.fixture(autouse=True)
def _plain_logging_afterwards(home: Path) -> Iterator[None]:
    try:
        yield
    finally:
        _setup_logging(0)  # drop the file handler a test installed (and close its file)


def _run(log_file: Path) -> Result:
    # `runs` without a config fails (exit 2) after the log file is set up: what matters here is
    # whether the log file was opened, and how.
    return CliRunner().invoke(cli, ["--log-file", str(log_file), "runs"])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_symlink_planted_at_the_log_path_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim" / ".profile"
    victim.parent.mkdir()
    victim.write_text("export PATH=/usr/bin\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "qbsync.log").symlink_to(victim)

    result = _run(shared / "qbsync.log")
    logging.getLogger("qbsync").warning("a line that must not reach the victim's file")

    assert result.exit_code == 2, result.output
    assert "symbolic link" in result.output and "unexpected" not in result.output
    assert victim.read_text() == "export PATH=/usr/bin\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file another user's needs root")
def test_a_log_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.log"
    theirs.write_text("their lines\n")
    os.chown(theirs, 65534, 65534)

    result = _run(theirs)
    logging.getLogger("qbsync").warning("a line that must not reach their file")

    assert result.exit_code == 2, result.output
    assert "belongs to another user" in result.output
    assert theirs.read_text() == "their lines\n"


def test_a_new_log_file_is_0600_and_its_new_folders_private_under_umask_0(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "qbsync" / "run.log"
    old = os.umask(0)
    try:
        _run(log_file)
        logging.getLogger("qbsync").warning("logged line")
    finally:
        os.umask(old)
    assert "logged line" in log_file.read_text()
    assert _mode(log_file) == 0o600
    assert _mode(log_file.parent) == 0o700 and _mode(log_file.parent.parent) == 0o700


def test_an_existing_log_file_of_ours_is_appended_to(tmp_path: Path) -> None:
    log_file = tmp_path / "run.log"
    log_file.write_text("earlier line\n")
    _run(log_file)
    logging.getLogger("qbsync").warning("later line")
    lines = log_file.read_text().splitlines()
    assert lines[0] == "earlier line" and "later line" in lines[-1]


def test_a_log_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    result = _run(tmp_path / "afile" / "logs" / "run.log")
    assert result.exit_code == 2, result.output
    assert "--log-file" in result.output and "unexpected" not in result.output
    assert "Next step:" in result.output


def test_a_folder_at_the_log_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "run.log").mkdir()
    result = _run(tmp_path / "run.log")
    assert result.exit_code == 2, result.output
    assert "--log-file" in result.output and "unexpected" not in result.output
