"""cli/main.py: how a command ends when a prompt is cancelled or interrupted, and the help text."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from qbsync.cli.main import cli


@pytest.fixture
def asking() -> Iterator[None]:
    """A command that asks like auth/disconnect do: a question, then a confirmation."""

    @click.command("ask-test")
    def ask() -> None:
        click.prompt("Name")
        click.confirm("Delete everything?", abort=True)
        Path("changed").write_text("yes")

    @click.command("eof-test")
    def eof() -> None:
        raise EOFError

    @click.command("ctrl-c-test")
    def ctrl_c() -> None:
        def interrupt(prompt: str) -> str:
            raise KeyboardInterrupt

        # what the terminal does on Ctrl-C; CliRunner puts its own function back afterwards
        click.termui.visible_prompt_func = interrupt
        click.prompt("Name")

    cli.add_command(ask)
    cli.add_command(eof)
    cli.add_command(ctrl_c)
    try:
        yield
    finally:
        cli.commands.pop("ask-test", None)
        cli.commands.pop("eof-test", None)
        cli.commands.pop("ctrl-c-test", None)


def _run(args: list[str], input: str | None = None) -> Result:
    return CliRunner().invoke(cli, args, input=input)


def test_no_at_a_confirmation_is_a_clean_cancel(asking: None, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    result = _run(["ask-test"], input="x\nn\n")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["Error: cancelled: nothing was changed."]
    assert "Aborted" not in result.output
    assert not (tmp_path / "changed").exists()


def test_end_of_input_at_a_prompt_is_a_clean_cancel(asking: None) -> None:
    result = _run(["ask-test"], input="")
    assert result.exit_code == 2
    assert "Error: cancelled: a question got no answer (end of input)" in result.stderr
    assert "Next step:" in result.stderr
    assert "Aborted" not in result.output and "unexpected" not in result.stderr


def test_raw_eof_error_is_a_clean_cancel(asking: None) -> None:
    result = _run(["eof-test"])
    assert result.exit_code == 2
    assert "cancelled" in result.stderr and "unexpected" not in result.stderr


def test_ctrl_c_at_a_prompt_stays_130(asking: None) -> None:
    result = _run(["ctrl-c-test"])
    assert result.exit_code == 130
    assert result.stderr.strip() == "Interrupted."


def _headless_env(**extra: str) -> dict[str, str]:
    """The isolated environment of a real `qbsync` process on a box without a keyring."""
    return {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", **extra}


def test_init_with_closed_stdin_exits_2_and_writes_nothing(home: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "qbsync", "init"],
        env=_headless_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Error: cancelled" in proc.stderr and "Aborted" not in proc.stderr
    assert not (home / ".config" / "qbsync" / "config.toml").exists()


def test_help_names_the_real_default_config_file(home: Path) -> None:
    text = " ".join(_run(["--help"]).stdout.split())
    assert "~/.config/qbsync/config.toml" in text
    assert "<profile>.toml" in text and "$XDG_CONFIG_HOME" in text
    assert "user config dir" not in text


def test_help_claims_only_released_commands(home: Path) -> None:
    text = " ".join(_run(["--help"]).stdout.split())
    assert "coming" not in text
    for word in ("init", "auth", "status", "disconnect", "connect-members", "export", "links"):
        assert word in text


def _run_into_closed_pipe(
    home: Path, args: list[str], *, stderr_too: bool = False, **extra_env: str
) -> tuple[int, str]:
    """Run a real `qbsync` whose stdout reader has already gone (`qbsync ... | true`); with
    ``stderr_too``, stderr goes to that pipe as well (`2>&1 | true`) and "" is returned for it."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout fails with EPIPE, deterministically
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "qbsync", *args],
            env=_headless_env(**extra_env),
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=write_end if stderr_too else subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    return proc.returncode, proc.stderr or ""


INIT_FLAGS = ["init", "--client-id", "id-1", "--members", "m.csv", "--token-store", "file", "--yes"]


def test_closed_stdout_after_a_successful_init_exits_0(home: Path) -> None:
    code, stderr = _run_into_closed_pipe(home, INIT_FLAGS, QBSYNC_CLIENT_SECRET="s3cret-value")
    assert code == 0, stderr
    assert "BrokenPipe" not in stderr and "Error" not in stderr
    assert (home / ".config" / "qbsync" / "config.toml").exists()
    assert (home / ".local" / "share" / "qbsync" / "default" / "tokens.json").exists()


def test_closed_stdout_keeps_the_commands_own_exit_code(home: Path) -> None:
    code, _ = _run_into_closed_pipe(home, INIT_FLAGS, QBSYNC_CLIENT_SECRET="s3cret-value")
    assert code == 0
    for args in (["status"], ["status", "--json"], ["status", "--check"]):
        code, stderr = _run_into_closed_pipe(home, args)
        assert code == 3, (args, stderr)  # not connected, as with a reader that stays
        assert "BrokenPipe" not in stderr and "unexpected" not in stderr
        assert "Error: not connected: no tokens stored" in stderr
    code, stderr = _run_into_closed_pipe(home, ["--help"])
    assert (code, stderr) == (0, "")


def test_a_reader_that_closes_early_gets_the_first_lines(home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbsync", *INIT_FLAGS],
        env=_headless_env(QBSYNC_CLIENT_SECRET="s3cret-value"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, stderr
    assert first.startswith(b"Config written:")
    assert "BrokenPipe" not in stderr


def test_closed_pipe_for_stdout_and_stderr_keeps_the_exit_code(home: Path) -> None:
    """`qbsync status 2>&1 | true`: the error lines go to the closed pipe too."""
    code, _ = _run_into_closed_pipe(home, ["status"], stderr_too=True)
    assert code == 2  # no config file: a configuration error, not 1 "unexpected"


@pytest.mark.parametrize(
    ("args", "example"),
    [
        (["status", "--profile", "acme"], "`qbsync --profile NAME status`"),
        (["auth", "--config", "x.toml"], "`qbsync --config PATH auth`"),
        (["status", "-v"], "`qbsync -v status`"),
    ],
)
def test_group_options_after_the_command_say_where_they_go(args: list[str], example: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "put it before the command" in result.stderr
    assert example in result.stderr
