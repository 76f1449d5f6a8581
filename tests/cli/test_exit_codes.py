"""Fix 7: the exit codes say the same everywhere. errors.EXIT_CODES is the one table; README.md,
docs/auth.md, crontab.example and every command's --help repeat it word for word."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from qbsync.cli.main import cli
from qbsync.errors import EXIT_CODES, ExitCode

ROOT = Path(__file__).resolve().parents[2]
TABLE = {int(row.code): row.meaning for row in EXIT_CODES}


def _markdown_table(path: Path) -> dict[int, str]:
    """The two-column `| code | meaning |` rows of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return {int(c): m.strip() for c, m in re.findall(r"^\| (\d+) \| ([^|]+) \|$", text, re.M)}


def test_the_table_covers_every_exit_code_once() -> None:
    assert [row.code for row in EXIT_CODES] == list(ExitCode)
    assert TABLE[130] == "interrupted (Ctrl-C)" and TABLE[2] == "usage or configuration error"


@pytest.mark.parametrize("doc", ["README.md", "docs/auth.md"])
def test_markdown_tables_say_the_same(doc: str) -> None:
    assert _markdown_table(ROOT / doc) == TABLE


def test_crontab_example_says_the_same() -> None:
    text = (ROOT / "crontab.example").read_text(encoding="utf-8")
    listed = {int(c): m.strip() for c, m in re.findall(r"^#\s+(\d+)  (.+)$", text, re.M)}
    assert listed == TABLE


def _commands() -> list[list[str]]:
    ctx = click.Context(cli)
    found = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += [[name, sub] for sub in command.list_commands(ctx)]
        else:
            found.append([name])
    return found


@pytest.mark.parametrize("path", _commands(), ids=" ".join)
def test_every_commands_help_ends_with_the_same_table(path: list[str]) -> None:
    if path[0] == "emulator":
        pytest.skip("`qbsync emulator serve` runs a server: it has no exit-code contract")
    help_text = CliRunner().invoke(cli, [*path, "--help"]).stdout
    listed = {int(c): m for c, m in re.findall(r"^\s+(\d+)  (\S.*)$", help_text, re.M)}
    assert listed == TABLE, help_text
