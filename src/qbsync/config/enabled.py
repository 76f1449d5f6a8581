"""Writing ``[export] enabled_at`` into an existing config file, keeping everything else.

The config is the operator's file, comments included, so the key is set by editing the text: the
line is put (or replaced) right under the ``[export]`` header, or an ``[export]`` table is
appended. The result is parsed again and must equal the old document plus this one key; when the
file is laid out so that the text edit cannot do that (an inline ``export = {...}`` table, dotted
keys), the document is written again with tomli-w instead (values kept, comments lost). Either
way the file is replaced atomically.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from qbsync.errors import ConfigError
from qbsync.files import atomic_write

TABLE = "export"
KEY = "enabled_at"
_HEADER = re.compile(r"^\s*\[\s*export\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")
_KEY_LINE = re.compile(r"^\s*enabled_at\s*=")


def enabled_at_text(when: datetime) -> str:
    """How the moment is written: ISO 8601 in UTC, to the microsecond the state holds."""
    return when.astimezone(UTC).isoformat()


def write_enabled_at(path: Path, when: datetime) -> None:
    """Set ``[export] enabled_at`` in the config at ``path`` (ConfigError when it cannot)."""
    # A config kept elsewhere behind a symlink (dotfiles) is written where it lives.
    path = Path(path).expanduser().resolve()
    try:
        raw = path.read_bytes()
        mode = os.stat(path).st_mode & 0o777
        doc = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it to record [export] enabled_at: {exc}") from None
    value = enabled_at_text(when)
    wanted = _with_key(doc, value)
    text = _edited(raw.decode("utf-8"), value)
    try:
        ok = tomllib.loads(text) == wanted
    except tomllib.TOMLDecodeError:
        ok = False
    data = text.encode("utf-8") if ok else tomli_w.dumps(wanted).encode("utf-8")
    try:
        atomic_write(path, data, mode=mode or 0o644)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot write [export] enabled_at: {exc.strerror or exc}",
            hint=f'add `enabled_at = "{value}"` under [export] in {path} yourself',
        ) from None


def _with_key(doc: dict[str, Any], value: str) -> dict[str, Any]:
    out = dict(doc)
    table = out.get(TABLE)
    out[TABLE] = {**(table if isinstance(table, dict) else {}), KEY: value}
    return out


def _edited(text: str, value: str) -> str:
    """The text with the key under the ``[export]`` header (an old key line in that table
    removed), or with an ``[export]`` table appended."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    entry = f'{KEY} = "{value}"{newline}'
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if start is None:
        tail = "" if not text or text.endswith(("\n", "\r")) else newline
        return f"{text}{tail}{newline}[{TABLE}]{newline}{entry}"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    kept = [line for line in lines[start + 1 : end] if not _KEY_LINE.match(line)]
    return "".join([*lines[: start + 1], entry, *kept, *lines[end:]])
