"""Next steps name this invocation's --config / --profile: one builder (config/hints.py)."""

from __future__ import annotations

from pathlib import Path

from qbsync.cli.context import CliContext
from qbsync.config.hints import PROFILE_COMMANDS
from qbsync.paths import config_path, profile_data_dir


def ctx(profile: str = "default", config: Path | None = None) -> CliContext:
    return CliContext(
        config_path=config_path(config, profile),
        profile=profile,
        data_dir=profile_data_dir(profile),
        verbose=0,
    )


def test_default_invocation_is_plain() -> None:
    assert ctx().command_line("auth") == "qbsync auth"
    assert ctx().localize("run `qbsync auth`") == "run `qbsync auth`"


def test_profile_is_named() -> None:
    obj = ctx("acme")
    assert obj.command_line("auth", "--print-url") == "qbsync --profile acme auth --print-url"
    assert obj.localize("run `qbsync auth` or `qbsync init --force`") == (
        "run `qbsync --profile acme auth` or `qbsync --profile acme init --force`"
    )
    # not a subcommand that takes a profile, and not a path
    assert obj.localize("qbsync emulator serve; ~/.local/share/qbsync auth") == (
        "qbsync emulator serve; ~/.local/share/qbsync auth"
    )
    assert obj.localize(None) is None


def test_every_profile_command_is_localized_and_no_other() -> None:
    obj = ctx("acme")
    for name in PROFILE_COMMANDS:
        assert obj.localize(f"`qbsync {name} x`") == f"`qbsync --profile acme {name} x`"
    assert "sync" not in PROFILE_COMMANDS  # no such command
    assert obj.localize("`qbsync sync`") == "`qbsync sync`"
    assert obj.localize("`qbsync exporter`") == "`qbsync exporter`"


def test_explicit_config_is_named(tmp_path: Path) -> None:
    path = tmp_path / "my conf.toml"
    assert ctx(config=path).command_line("auth") == f"qbsync --config '{path}' auth"
