"""docs/emulator.md shows the banner `qbsync emulator serve` really prints."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from qbsync.cli.emulator_cmd import _announce
from qbsync.emulator import Emulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def test_the_documented_banner_is_the_printed_one() -> None:
    with Emulator(port=0, limits=True) as emu:
        runner = CliRunner()

        @click.command()
        def show() -> None:
            _announce(emu, time_scale=1.0, limits=True)

        printed = runner.invoke(show).stdout.replace(emu.base_url, "http://127.0.0.1:4116")
    # The banner names the interpreter it runs under; the docs show the repo's venv.
    printed = printed.replace(sys.executable, "/path/to/qbsync/.venv/bin/python")
    doc = DOC.read_text(encoding="utf-8")
    for line in printed.splitlines():
        assert line in doc, f"docs/emulator.md lacks the banner line: {line!r}"
