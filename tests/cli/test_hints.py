"""hints.command_line / localize: next steps name this invocation's --config / --profile."""

from __future__ import annotations

from pathlib import Path

from qbsync.cli.context import CliContext
from qbsync.cli.hints import command_line, localize
from qbsync.paths import config_path, profile_data_dir


def ctx(profile: str = "default", config: Path | None = None) -> CliContext:
    return CliContext(
        config_path=config_path(config, profile),
        profile=profile,
        data_dir=profile_data_dir(profile),
        verbose=0,
    )


def test_default_invocation_is_plain() -> None:
    assert command_line(ctx(), "auth") == "qbsync auth"
    assert localize(ctx(), "run `qbsync auth`") == "run `qbsync auth`"


def test_profile_is_named() -> None:
    obj = ctx("acme")
    assert command_line(obj, "auth", "--print-url") == "qbsync --profile acme auth --print-url"
    assert localize(obj, "run `qbsync auth` or `qbsync init --force`") == (
        "run `qbsync --profile acme auth` or `qbsync --profile acme init --force`"
    )
    # not a subcommand that takes a profile, and not a path
    assert localize(obj, "qbsync emulator serve; ~/.local/share/qbsync auth") == (
        "qbsync emulator serve; ~/.local/share/qbsync auth"
    )
    assert localize(obj, None) is None


def test_explicit_config_is_named(tmp_path: Path) -> None:
    path = tmp_path / "my conf.toml"
    assert command_line(ctx(config=path), "auth") == f"qbsync --config '{path}' auth"
