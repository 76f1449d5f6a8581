"""stdout and stderr that a reader may close early (``qbsync status | head -1``)."""

from __future__ import annotations

import io
import os
import sys
from typing import Any


class _PipeSafeWriter(io.RawIOBase):
    """stdout's (or stderr's) file descriptor, where a reader that went away (``qbsync status |
    head -1``) is not an error: the rest of the output goes to /dev/null and the command finishes
    with its own exit code. The redirect is the pattern the Python docs give for SIGPIPE."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        try:
            return os.write(self._fd, data)
        except BrokenPipeError:
            _to_devnull(self._fd)
            return len(memoryview(data))


def _to_devnull(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def pipe_safe_streams() -> None:
    """Put a ``_PipeSafeWriter`` under ``sys.stdout`` and ``sys.stderr`` (a real process's only:
    with ``2>&1 | head -1`` the error lines go to the same closed pipe)."""
    for name in ("stdout", "stderr"):
        old = getattr(sys, name)
        try:
            fd = old.fileno()
            old.flush()
        except (AttributeError, OSError, ValueError):  # no file descriptor (tests), or closed
            continue
        setattr(
            sys,
            name,
            io.TextIOWrapper(
                io.BufferedWriter(_PipeSafeWriter(fd)),
                encoding=old.encoding,
                errors=old.errors,
                line_buffering=bool(old.line_buffering),
                write_through=bool(getattr(old, "write_through", False)),
            ),
        )
