"""Next-step command lines that config errors quote: the command to run for another profile, or
the `qbsync init` that writes a config. The CLI names the current subcommand per run."""

from __future__ import annotations

import shlex
from pathlib import Path

from qbsync.paths import DEFAULT_PROFILE, config_path, is_profile_name, user_config_dir

# The subcommand being run ("status"), so that a next step can repeat it for another profile.
# Set by the CLI group for each invocation; None (engine use) gives "qbsync --profile NAME ...".
_hint_command: str | None = None


def set_hint_command(name: str | None) -> None:
    """Name the subcommand that next steps repeat with another profile (the CLI sets it)."""
    global _hint_command
    _hint_command = name


def profile_command_line(profile: str, path: Path | None = None) -> str:
    """``qbsync --profile NAME <this subcommand>`` (with ``--config`` when ``path`` is not where
    that profile's config is found by default)."""
    parts = ["qbsync"]
    if path is not None and Path(path).expanduser() != config_path(None, profile):
        parts += ["--config", shlex.quote(str(path))]
    parts += ["--profile", profile, _hint_command or "..."]
    return " ".join(parts)


def init_command_line(path: Path, profile: str) -> str:
    """The `qbsync ... init` command line that writes ``path`` for ``profile``."""
    parts = ["qbsync"]
    if Path(path).expanduser() != config_path(None, profile):
        parts += ["--config", shlex.quote(str(path))]
    if profile != DEFAULT_PROFILE:
        parts += ["--profile", profile]
    return " ".join([*parts, "init"])


def other_profiles(path: Path, profile: str) -> list[str]:
    """Profiles that have a config file next to ``path`` (only for the default config folder)."""
    folder = Path(path).expanduser().parent
    if folder != user_config_dir():
        return []
    try:
        names = sorted(p.stem for p in folder.glob("*.toml") if p.is_file())
    except OSError:
        return []
    found = [DEFAULT_PROFILE if name == "config" else name for name in names]
    return [name for name in found if name != profile and is_profile_name(name)]
