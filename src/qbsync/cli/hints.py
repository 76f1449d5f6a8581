"""Next steps that name the command for *this* invocation (its --config / --profile).

An operator who ran ``qbsync --profile acme status`` must be told ``qbsync --profile acme auth``,
not ``qbsync auth`` (which would act on the default profile). The engine's errors carry plain
``qbsync auth``-style hints; the commands rewrite them with ``localize`` where they catch or
raise them.
"""

from __future__ import annotations

import re
import shlex

from qbsync.cli.context import CliContext
from qbsync.paths import DEFAULT_PROFILE, config_path

# The subcommands that act on a profile: `qbsync emulator ...` / `qbsync demo` do not.
PROFILE_COMMANDS = ("auth", "disconnect", "status", "init", "sync", "link", "export")
_PLAIN = re.compile(r"(?<![\w/.\-])qbsync (?=(?:" + "|".join(PROFILE_COMMANDS) + r")\b)")


def global_options(obj: CliContext) -> list[str]:
    """``--config PATH`` (only when given explicitly) and ``--profile NAME`` (not the default)."""
    parts: list[str] = []
    if obj.config_path != config_path(None, obj.profile):
        parts += ["--config", shlex.quote(str(obj.config_path))]
    if obj.profile != DEFAULT_PROFILE:
        parts += ["--profile", obj.profile]
    return parts


def command_line(obj: CliContext, *args: str) -> str:
    """``qbsync [--config PATH | --profile NAME] <args>`` for the current invocation."""
    return " ".join(["qbsync", *global_options(obj), *args])


def localize(obj: CliContext, text: str | None) -> str | None:
    """Rewrite every ``qbsync <subcommand>`` in a message or hint for this invocation."""
    if text is None:
        return None
    prefix = " ".join(["qbsync", *global_options(obj)])
    if prefix == "qbsync":
        return text
    return _PLAIN.sub(prefix + " ", text)
