"""The one builder of `qbsync ...` next-step command lines.

A next step must name the invocation's profile and config: an operator who ran
``qbsync --profile acme status`` must be told ``qbsync --profile acme auth``, not ``qbsync auth``
(which acts on the default profile). ``command_line`` builds such a line; ``localize`` rewrites the
plain ``qbsync <command>`` lines that engine messages carry with the same options (the CLI applies
it once, where it prints an error or a report). ``profile_command_line`` / ``init_command_line``
are the lines config errors quote. The CLI names the current subcommand per run.
"""

from __future__ import annotations

import re
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


# The subcommands that act on a profile (`qbsync emulator ...` and `qbsync demo` do not).
PROFILE_COMMANDS = (
    "init", "auth", "status", "disconnect", "connect-members", "link", "unlink", "links",
    "export", "export-invoices", "runs",
)  # fmt: skip
# Longest first, so that `export-invoices` is not read as `export` followed by "-invoices".
_PLAIN = re.compile(
    r"(?<![\w/.\-])qbsync (?=(?:"
    + "|".join(re.escape(name) for name in sorted(PROFILE_COMMANDS, key=len, reverse=True))
    + r")(?![\w-]))"
)


def global_options(
    profile: str, path: Path | None = None, *, always_profile: bool = False
) -> list[str]:
    """``--config PATH`` (when ``path`` is not the profile's default config) and ``--profile NAME``
    (when it is not the default profile, or ``always_profile``)."""
    parts: list[str] = []
    if path is not None and Path(path).expanduser() != config_path(None, profile):
        parts += ["--config", shlex.quote(str(path))]
    if always_profile or profile != DEFAULT_PROFILE:
        parts += ["--profile", profile]
    return parts


def command_line(profile: str, path: Path | None, *args: str) -> str:
    """``qbsync [--config PATH] [--profile NAME] <args>``."""
    return " ".join(["qbsync", *global_options(profile, path), *args])


def localize(text: str | None, profile: str, path: Path | None) -> str | None:
    """Every plain ``qbsync <profile command>`` in ``text``, with this invocation's options."""
    if text is None:
        return None
    prefix = command_line(profile, path)
    if prefix == "qbsync":
        return text
    return _PLAIN.sub(prefix + " ", text)


def profile_command_line(profile: str, path: Path | None = None) -> str:
    """``qbsync --profile NAME <this subcommand>`` (with ``--config`` when ``path`` is not where
    that profile's config is found by default)."""
    options = global_options(profile, path, always_profile=True)
    return " ".join(["qbsync", *options, _hint_command or "..."])


def init_command_line(path: Path, profile: str) -> str:
    """The `qbsync ... init` command line that writes ``path`` for ``profile``."""
    return command_line(profile, path, "init")


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
