"""Log output on stderr: one plain line per warning by default, the logger's name with -v/-vv."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

from qbsync.errors import UsageError
from qbsync.files import UnsafeFileError, open_private_append
from qbsync.redact import RedactingFilter, RedactingFormatter


class _PlainFormatter(RedactingFormatter):
    """``warning: QBO answered 503; retrying in 2 s``: one plain line, like qbsync's own."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.levelname = record.levelname.lower()
        return super().format(record)


class _PrivateFileHandler(logging.FileHandler):
    """A FileHandler whose file is opened by ``files.open_private_append``: created 0600 in
    folders of at most 0700, never through a symlink, never another user's file. Opened at once
    (a problem is an error before the command runs, not a line logging swallows later)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=True)
        self.stream = self._open()

    def _open(self) -> io.TextIOWrapper:  # FileHandler's hook (also used if it reopens the file)
        path = Path(self.baseFilename)
        try:
            fd = open_private_append(path)
        except UnsafeFileError as exc:
            raise UsageError(
                f"--log-file {path}: {exc}",
                hint="give --log-file a path of your own (e.g. under ~/.local/state), not one "
                "another user can plant a file or link at",
            ) from None
        except OSError as exc:
            raise UsageError(
                f"--log-file {path}: cannot open it: {exc.strerror or exc}",
                hint=f"check that {path.parent} is a folder you can write to (or can be created)",
            ) from None
        return open(fd, "a", encoding="utf-8")  # closed by the handler


def setup_logging(verbose: int, *, quiet: bool = False, log_file: Path | None = None) -> None:
    """stderr: warnings (none with ``quiet``, more with -v); ``log_file``: timestamped lines."""
    level = logging.ERROR if quiet else logging.WARNING
    formatter: logging.Formatter = _PlainFormatter("%(levelname)s: %(message)s")
    if verbose >= 1:  # -v / -vv: which module said it
        level = logging.INFO if verbose == 1 else logging.DEBUG
        formatter = RedactingFormatter("%(levelname)s %(name)s: %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    handler.setLevel(level)
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        to_file = _PrivateFileHandler(log_file)
        to_file.setFormatter(
            RedactingFormatter("%(asctime)s pid %(process)d %(levelname)s %(name)s: %(message)s")
        )
        to_file.addFilter(RedactingFilter())
        to_file.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        handlers.append(to_file)
    root = logging.getLogger("qbsync")
    root.handlers[:] = handlers
    root.setLevel(min(h.level for h in handlers))
    root.propagate = False


def quiet_stderr() -> None:
    """-q: only errors on stderr from now on (the log file, if any, keeps everything)."""
    for handler in logging.getLogger("qbsync").handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(max(handler.level, logging.ERROR))
