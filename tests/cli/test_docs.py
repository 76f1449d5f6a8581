"""Every command has help text and is documented (README or docs/), as sqlite-utils checks."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from qbsync.cli.main import COMMANDS as REGISTERED
from qbsync.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []

    ctx = click.Context(cli)

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            found.append((*prefix, name))
            if isinstance(command, click.Group):
                walk(command, (*prefix, name))

    walk(cli, ())
    return found


def _docs_text() -> str:
    parts = [(ROOT / "README.md").read_text(encoding="utf-8")]
    parts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(parts)


COMMANDS = _commands()


def test_the_expected_commands_exist() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"init", "auth", "disconnect", "status", "emulator serve", "demo"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda c: " ".join(c))
def test_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    summary = result.stdout.split("\n\n")[1].strip()
    assert len(summary) > 10, f"`qbsync {' '.join(path)}` has no real help text"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda c: " ".join(c))
def test_command_is_documented(path: tuple[str, ...]) -> None:
    assert f"qbsync {' '.join(path)}" in _docs_text(), "document it in README.md or docs/"


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_the_registered_one_line_help_is_the_commands_own(name: str) -> None:
    """`qbsync --help` lists commands from main.COMMANDS without importing them."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    stand_in = click.Command(name, help=REGISTERED[name][1])
    assert stand_in.get_short_help_str(1000) == command.get_short_help_str(1000)
